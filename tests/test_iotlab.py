"""The IoT-LAB runner against a loopback testbed (tests/iotlab_server.py): real
HTTP through iotlabcli, a real websocket for the node's serial line, the real
host-built harness answering on the node. Every path must leave no
experiment running that the runner started."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import ROOT
from tests.iotlab_server import NODE, PASSWORD, USER, LoopbackTestbed
from utoe import boards
from utoe.errors import ConfigError, RunError
from utoe.protocol import parse_log
from utoe.runners import get, iotlab


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    build = tmp_path_factory.mktemp("iotlab-build")
    subprocess.run([sys.executable, "-m", "SCons", "-Q", f"build={build}", "board=native", "model=sinus",
                    "trials=3"], cwd=ROOT, check=True, capture_output=True, timeout=600)
    return str(build / "native" / "sinus" / "firmware.elf")


@pytest.fixture
def testbed(firmware, tmp_path, monkeypatch):
    bed = LoopbackTestbed(firmware)
    rc = tmp_path / "iotlabrc"
    import base64
    rc.write_text(f"{USER}:{base64.b64encode(PASSWORD.encode()).decode()}")
    monkeypatch.setenv("IOTLAB_PASSWORD_FILE", str(rc))
    monkeypatch.setattr("iotlabcli.auth.RC_FILE", str(rc))
    monkeypatch.setenv("IOTLAB_API_URL", bed.api_url)
    monkeypatch.setenv("UTOE_IOTLAB_WS_URL", bed.ws_url)
    monkeypatch.setattr(iotlab.IotlabRunner, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(iotlab.IotlabRunner, "WAIT_SECONDS", 1.5)
    bed.rc = rc
    yield bed
    iotlab.EXPERIMENTS.stop_all()
    bed.close()


def runner(timeout=20, board="iotlab-m3", **opts):
    return get("iotlab", boards.get(board), timeout, opts)


def test_evaluation_flashes_reads_and_stops(testbed, firmware, tmp_path):
    log = runner().run(firmware, str(tmp_path / "run.log"))
    parse_log(log).check()
    assert (tmp_path / "run.log").read_text() == log
    exp_id, nodes, image = testbed.flashed[0]
    assert nodes == [NODE] and image == open(firmware, "rb").read()
    assert ("GET", "/api/nodes?archi=m3%3Aat86rf231&state=Alive") in testbed.requests
    assert testbed.experiments[exp_id]["arch"] == "m3:at86rf231"
    assert testbed.experiments[exp_id]["site"] == "grenoble"  # the site with the most alive m3 nodes
    assert ("WS", f"/ws/grenoble/{exp_id}/m3-7/serial/raw") in testbed.requests
    assert testbed.stops() == []  # kept for the process's next evaluations...
    iotlab.EXPERIMENTS.stop_all()
    assert testbed.stops() == [f"/api/experiments/{exp_id}"]  # ...and stopped at its end


def test_two_evaluations_share_one_experiment(testbed, firmware, tmp_path):
    runner().run(firmware, str(tmp_path / "a.log"))
    runner().run(firmware, str(tmp_path / "b.log"))
    submits = [p for m, p in testbed.requests if m == "POST" and p == "/api/experiments"]
    assert len(submits) == 1 and len(testbed.flashed) == 2
    iotlab.EXPERIMENTS.stop_all()
    iotlab.EXPERIMENTS.stop_all()
    assert len(testbed.stops()) == 1


def test_site_and_duration_are_asked_for(testbed, firmware, tmp_path):
    runner(iotlab_site="lille", iotlab_duration="7").run(firmware, str(tmp_path / "run.log"))
    exp = testbed.experiments[testbed.flashed[0][0]]
    assert exp["site"] == "lille" and exp["duration"] == 7
    assert not any(p.startswith("/api/nodes") for _, p in testbed.requests)


def test_failed_flash_stops_the_experiment(testbed, firmware, tmp_path):
    testbed.flash_fails = True
    with pytest.raises(RunError) as e:
        runner().run(firmware, str(tmp_path / "run.log"))
    assert f"flashing {NODE} in experiment 1000 failed" in str(e.value)
    assert testbed.stops() == ["/api/experiments/1000"]
    assert not (tmp_path / "run.log").exists()


def test_silent_node_times_out_and_stops(testbed, firmware, tmp_path):
    testbed.mute = True
    with pytest.raises(RunError) as e:
        runner(timeout=3).run(firmware, str(tmp_path / "run.log"))
    assert "no complete result within 3 s" in str(e.value)
    assert "This is RIOT! (Version: 2026.01-fake)" in str(e.value)  # the serial line's tail
    assert testbed.stops() == ["/api/experiments/1000"]


def test_no_free_node_stops_the_submission(testbed, firmware, tmp_path):
    testbed.state_after_submit = "Waiting"  # OAR never finds a node
    with pytest.raises(RunError) as e:
        runner().run(firmware, str(tmp_path / "run.log"))
    assert "IoT-LAB: no m3:at86rf231 node free at grenoble for experiment 1000" in str(e.value)
    assert "the experiment was stopped" in str(e.value)
    assert testbed.stops() == ["/api/experiments/1000"] and testbed.flashed == []


def test_refused_submission_is_explained(testbed, firmware, tmp_path):
    testbed.refuse_submit = True
    with pytest.raises(RunError) as e:
        runner(iotlab_site="grenoble").run(firmware, str(tmp_path / "run.log"))
    assert "submitting an experiment for a m3:at86rf231 node at grenoble failed (HTTP 500)" in str(e.value)
    assert "no resources matching" in str(e.value)
    assert testbed.experiments == {}


def test_sigint_to_a_running_process_stops_the_experiment(testbed, firmware, tmp_path):
    """A real Ctrl-C (SIGINT) to a process evaluating on a silent node."""
    testbed.mute = True
    # Ctrl-C as a terminal delivers it to a foreground process: Python's own
    # SIGINT handling, even when this suite runs as a background job (which
    # starts its children with SIGINT ignored)
    script = textwrap.dedent(f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from utoe import boards
        from utoe.runners import get
        get("iotlab", boards.get("iotlab-m3"), 60, {{}}).run({firmware!r}, {str(tmp_path / 'run.log')!r})
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(m == "WS" for m, _ in testbed.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(m == "WS" for m, _ in testbed.requests), proc.stderr
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert testbed.stops() == ["/api/experiments/1000"]


def test_given_experiment_is_used_and_left_running(testbed, firmware, tmp_path):
    testbed.experiments[77] = {"state": "Running", "arch": "m3:at86rf231", "site": "grenoble", "duration": 60,
                               "nodes": ["m3-3.grenoble.iot-lab.info", NODE]}
    log = runner(iotlab_exp="77", iotlab_node="m3-7").run(firmware, str(tmp_path / "run.log"))
    parse_log(log).check()
    assert testbed.flashed[0][:2] == (77, [NODE])
    iotlab.EXPERIMENTS.stop_all()
    assert testbed.stops() == [] and not any(p == "/api/experiments" for _, p in testbed.requests)
    with pytest.raises(RunError) as e:
        runner(iotlab_exp="77", iotlab_node="m3-99").run(firmware, str(tmp_path / "run.log"))
    assert "iotlab_node=m3-99 is not in experiment 77" in str(e.value)
    assert testbed.stops() == []


def test_missing_credentials_reach_no_server(testbed, firmware, tmp_path):
    os.unlink(testbed.rc)
    with pytest.raises(ConfigError) as e:
        runner().run(firmware, str(tmp_path / "run.log"))
    assert "IoT-LAB credentials missing" in str(e.value) and "iotlab-auth -u <login>" in str(e.value)
    assert testbed.requests == []


def test_wrong_password_is_named(testbed, firmware, tmp_path):
    import base64
    testbed.rc.write_text(f"{USER}:{base64.b64encode(b'wrong').decode()}")
    with pytest.raises(RunError) as e:
        runner(iotlab_site="grenoble").run(firmware, str(tmp_path / "run.log"))
    assert "IoT-LAB refused the credentials" in str(e.value)
    assert testbed.experiments == {}


def test_board_not_on_iotlab(testbed, firmware, tmp_path):
    with pytest.raises(ConfigError) as e:
        runner(board="rpi-pico").run(firmware, str(tmp_path / "run.log"))
    assert "board 'rpi-pico' is not on IoT-LAB" in str(e.value)
    assert testbed.requests == []
