"""The serial runner end to end over a pseudo-terminal: pyserial opens the
pty's device as it would open /dev/ttyACM0, and tests/fake_board.py plays the
board on the other side, running the real host-built harness for every start
and scripting what a wire does (boot noise, a reset that swallows the first
start, a dropped or garbled line, silence). The logs it brings back go
through utoe's measure stage and validation like any run's."""

import json
import os
import pty
import subprocess
import sys
import time
import tty

import pytest
import serial

from tests.conftest import ROOT
from utoe import boards, measure, reference
from utoe.errors import RunError
from utoe.protocol import parse_log
from utoe.runners import RUNNERS, get

FAKE_BOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_board.py")
TRIALS = 5


@pytest.fixture(scope="module")
def host_build(sinus_native):
    """sinus built for this host by the real build (the session's, trials=5):
    the firmware the fake board runs."""
    assert sinus_native.result["trials"] == TRIALS
    return sinus_native.build


class FakeBoard:
    """tests/fake_board.py on the master side of a new pty; `port` is the slave device."""

    def __init__(self, firmware, tmp_path, *flags):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo of what the board writes before pyserial configures the port
        self.port = os.ttyname(self.slave)
        self.journal = tmp_path / "journal.txt"
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_BOARD, "--fd", str(self.master), "--firmware", firmware,
             "--journal", str(self.journal), *flags], pass_fds=(self.master,))
        os.close(self.master)

    def starts(self):
        return self.journal.read_text().split("\n")[:-1] if self.journal.exists() else []

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        os.close(self.slave)


@pytest.fixture
def fake_board(host_build, tmp_path):
    made = []

    def make(*flags):
        made.append(FakeBoard(str(host_build / "native" / "sinus" / "firmware.elf"), tmp_path, *flags))
        return made[-1]

    yield make
    for b in made:
        b.close()


def serial_runner(port, timeout=30, **opts):
    return get("serial", boards.get("nrf52840dk"), timeout, {"port": port, "flash": "no", **opts})


def measure_log(host_build, log_path, tmp_path):
    """The measure stage on a serial run's log, with output validation."""
    pair = host_build / "native" / "sinus"
    (meta,) = host_build.glob("**/metadata.json")
    config = {"board": "native", "model": "sinus", "runner": "serial", "mode": "per-model", "trials": TRIALS,
              "seed": 1, "kinds": RUNNERS["serial"].kinds}
    return measure.measure_files(str(meta), str(pair / "sizes.json"), str(log_path), config,
                                 str(tmp_path / "result.json"), validate=reference.validate)


def test_noise_and_a_dropped_line_are_survived(fake_board, host_build, tmp_path):
    """Boot garbage before the protocol, output in 7-byte pieces, and the
    first run's fifth line lost: the runner starts the run once more and the
    second run's log is complete, measured and validated."""
    board = fake_board("--noise", "--drop", "5", "--chunk", "7")
    log_path = tmp_path / "run.log"
    log = serial_runner(board.port).run("unused.elf", str(log_path))
    assert log_path.read_text() == log
    run = parse_log(log)
    run.check()
    assert [t[0] for t in run.trials] == list(range(TRIALS))
    assert log.startswith("utoe-runner: attempt 1: trial line(s) [1] missing")
    assert "This is RIOT" not in log  # noise before the acknowledgement is not the run's
    ids = [line.split()[1] for line in board.starts()]
    assert len(ids) == 2 and ids[0] != ids[1], board.starts()  # a fresh run id per attempt
    result = measure_log(host_build, log_path, tmp_path)
    assert result["validation"]["ok"]
    assert (result["latency"]["kind"], result["ram"]["kind"], result["flash"]["kind"]) == ("measured",) * 3
    assert len(result["latency"]["trials_ms"]) == TRIALS


def test_garbled_line_is_retried(fake_board, host_build, tmp_path):
    board = fake_board("--garble", "3")
    log = serial_runner(board.port).run("unused.elf", str(tmp_path / "run.log"))
    parse_log(log).check()
    assert log.startswith("utoe-runner: attempt 1:")
    assert len(board.starts()) == 2


def test_a_start_lost_in_reset_is_sent_again(fake_board, tmp_path):
    """The board is still in reset when the port opens and swallows the first
    start; its 'ready' line makes the runner start it again."""
    board = fake_board("--boot", "1.0", "--noise")
    t0 = time.monotonic()
    log = serial_runner(board.port).run("unused.elf", str(tmp_path / "run.log"))
    parse_log(log).check()
    assert "utoe-runner:" not in log  # nothing was lost from the run itself
    assert 1.0 <= time.monotonic() - t0 < 10
    assert len(board.starts()) == 1  # the first start never reached it


def test_a_silent_board_is_started_anyway(fake_board, tmp_path):
    """No 'ready' at all (printed before the port opened, and the first start
    lost in reset): after two quiet seconds the runner sends the start again."""
    board = fake_board("--boot", "0.5", "--quiet-boot")
    log = serial_runner(board.port).run("unused.elf", str(tmp_path / "run.log"))
    parse_log(log).check()
    assert len(board.starts()) == 1


def test_a_line_lost_twice_fails_with_the_tail(fake_board, tmp_path):
    board = fake_board("--drop-every", "5")
    log_path = tmp_path / "run.log"
    with pytest.raises(RunError) as e:
        serial_runner(board.port).run("unused.elf", str(log_path))
    msg = str(e.value)
    assert "board 'nrf52840dk' (serial runner): the log lost a line in 2 runs in a row" in msg
    assert "trial line(s) [1] missing" in msg
    assert "utoe: end status=ok" in msg  # the tail: what the console last said
    assert not log_path.exists()
    # two attempts (two run ids); on a loaded machine one start may be sent twice
    # (the board's 'ready' came after our start), which the same run id makes harmless
    assert len(set(board.starts())) == 2


def test_timeout_quotes_the_console(fake_board, tmp_path):
    board = fake_board("--noise", "--mute")
    log_path = tmp_path / "run.log"
    t0 = time.monotonic()
    with pytest.raises(RunError) as e:
        serial_runner(board.port, timeout=3).run("unused.elf", str(log_path))
    assert 3 <= time.monotonic() - t0 < 6
    msg = str(e.value)
    assert "no complete result within 3 s (timeout=), waiting for the board to acknowledge the start" in msg
    assert "This is RIOT! (Version: 2026.01-fake)" in msg
    assert not log_path.exists()
    assert len(board.starts()) >= 2  # it kept asking while the board was silent


def test_absent_port_names_it(tmp_path):
    with pytest.raises(RunError) as e:
        serial_runner("/dev/ttyUTOE-absent").run("unused.elf", str(tmp_path / "run.log"))
    assert "board 'nrf52840dk': serial port /dev/ttyUTOE-absent does not exist (port=); present:" in str(e.value)


def test_busy_port_says_who_holds_it(fake_board, tmp_path):
    board = fake_board()
    holder = serial.Serial(board.port, exclusive=True)  # a terminal left open on the port
    try:
        with pytest.raises(RunError) as e:
            serial_runner(board.port).run("unused.elf", str(tmp_path / "run.log"))
        assert f"serial port {board.port} is busy: another program holds it" in str(e.value)
        assert board.starts() == []
    finally:
        holder.close()
    # once the other program lets go, the same board runs
    parse_log(serial_runner(board.port).run("unused.elf", str(tmp_path / "run.log"))).check()


def test_flash_needs_a_riot_build(tmp_path):
    """flash=yes (the default) flashes with RIOT's programmer: a firmware not
    built with RIOT is refused before the port is touched."""
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(RunError) as e:
        get("serial", boards.get("nrf52840dk"), 5, {"port": "/dev/ttyUTOE-absent"}).run(str(elf), str(tmp_path / "l"))
    assert f"{elf} was not built with RIOT (no {tmp_path / 'riot.json'})" in str(e.value)


def test_bad_flash_option(tmp_path):
    with pytest.raises(Exception) as e:
        serial_runner("/dev/null", flash="maybe").run("unused.elf", str(tmp_path / "l"))
    assert "flash=maybe: yes or no" in str(e.value)


RUN_GRAPH = """
import json
env = Environment(tools=["utoe_run"])
always = {}
board = {"host": "native", "qemu": "nrf52840dk", "riot-native": "native64", "serial": "nrf52840dk",
         "iotlab": "nrf52840dk"}
for runner in %r:
    for rerun in (False, True):
        nodes = env.Clone(UTOE_RERUN=rerun).UtoeRun(f"{runner}-{rerun}/run.log", "firmware.elf", UTOE_RUNNER=runner,
                                                    UTOE_BOARD=board[runner], UTOE_TIMEOUT="60",
                                                    UTOE_RUNNER_OPTIONS="{}")
        always[f"{runner} rerun={int(rerun)}"] = bool(nodes[0].always_build)
print("ALWAYS " + json.dumps(always))
Exit(0)
"""


def test_results_of_a_real_board_are_not_cached(tmp_path):
    """utoe's run stage in a real SCons graph: a run on a real board (serial,
    IoT-LAB) is redone at every build, a host or emulator run only when its
    inputs change or rerun=1 asks."""
    names = ["host", "qemu", "riot-native", "serial", "iotlab"]
    (tmp_path / "SConstruct").write_text(RUN_GRAPH % (names,))
    proc = subprocess.run([sys.executable, "-m", "SCons", "-Q", f"--site-dir={ROOT}/site_scons"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    always = json.loads(proc.stdout.split("ALWAYS ", 1)[1].splitlines()[0])
    for name in names:
        real_board = name in ("serial", "iotlab")
        assert always[f"{name} rerun=0"] is real_board, name
        assert always[f"{name} rerun=1"] is True, name


PORT_GRAPH = """
env = Environment(tools=["utoe_run"])
env.UtoeRun("serial/run.log", "firmware.elf", UTOE_RUNNER="serial", UTOE_BOARD="nrf52840dk", UTOE_TIMEOUT="5",
            UTOE_LABEL="nrf52840dk/x", UTOE_RUNNER_OPTIONS='{"port": "/dev/utoe-no-such-port", "flash": "no"}')
"""


def test_the_run_stage_hands_the_runner_its_options(tmp_path):
    """port= and flash= given to scons reach the serial runner of the run stage."""
    (tmp_path / "SConstruct").write_text(PORT_GRAPH)
    (tmp_path / "firmware.elf").write_bytes(b"\x7fELF")
    (tmp_path / "fit.json").write_text('{"schema": "utoe.fit/1", "board": "nrf52840dk", "linked": true}')
    proc = subprocess.run([sys.executable, "-m", "SCons", "-Q", f"--site-dir={ROOT}/site_scons"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode != 0
    assert "serial port /dev/utoe-no-such-port does not exist" in proc.stderr, proc.stderr
    assert not (tmp_path / "serial" / "run.log").exists()
