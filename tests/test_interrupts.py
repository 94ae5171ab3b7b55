"""Signals during a run, sent to real process groups: SCons and QEMU stopped
by Ctrl-C (SIGINT to the group), SIGTERM, or SCons SIGKILLed alone. What must
hold: no run.log or result.json that looks complete is left, no emulator
outlives SCons, and a plain rerun (no rerun=1) finishes with a valid result."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import SHARED_MODELS, copy_project

pytestmark = pytest.mark.qemu
BOARD, MODEL = "nrf52840dk", "lenet5"
LONG = "trials=4000"  # minutes under QEMU: still running when the signal comes


def _pids(match):
    """Processes whose argv (list of bytes) satisfies match."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and match(argv):
            pids.append(int(pid))
    return pids


def _qemu_pids(elf):
    return _pids(lambda argv: b"qemu-system" in argv[0] and any(a.endswith(elf.encode()) for a in argv))


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("interrupts"))  # one codegen for all cases


def _start(project, *args):
    env = dict(os.environ, PYTHONPATH=str(project), UTOE_SHARED_MODELS=SHARED_MODELS)
    return subprocess.Popen([sys.executable, "-m", "SCons", "-Q", *args], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_qemu(proc, elf, limit=240):
    t0 = time.time()
    while time.time() - t0 < limit:
        pids = _qemu_pids(elf)
        if pids:
            time.sleep(1.0)  # well inside the run
            return pids
        if proc.poll() is not None:
            raise AssertionError(f"scons ended before QEMU started:\n{proc.stdout.read()}\n{proc.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("QEMU never started")


def _gone(pids, limit=10):
    t0 = time.time()
    while time.time() - t0 < limit:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGINT to the group, -j2", "SIGINT to QEMU",
                                 "SIGTERM to the group", "SIGKILL to scons"])
def test_a_signal_during_a_qemu_run_leaves_nothing_that_looks_done(project, how):
    pair = project / "build" / BOARD / MODEL
    elf = f"{BOARD}/{MODEL}/firmware.elf"
    proc = _start(project, f"board={BOARD}", f"model={MODEL}", LONG, *(["-j2"] if "-j2" in how else []))
    pids = _wait_for_qemu(proc, elf)
    if how == "SIGKILL to scons":
        os.kill(proc.pid, signal.SIGKILL)
    elif how == "SIGINT to QEMU":
        for pid in pids:
            os.kill(pid, signal.SIGINT)
    else:
        os.killpg(proc.pid, signal.SIGINT if how.startswith("SIGINT") else signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, out + err
    assert _gone(pids), f"QEMU {pids} outlived scons ({how})"
    assert not (pair / "run.log").exists(), (pair / "run.log").read_text()[-500:]
    assert not (pair / "result.json").exists()
    assert "Traceback" not in out + err
    # a plain rerun runs again (nothing was recorded as built) and finishes valid
    env = dict(os.environ, PYTHONPATH=str(project), UTOE_SHARED_MODELS=SHARED_MODELS)
    done = subprocess.run([sys.executable, "-m", "SCons", "-Q", f"board={BOARD}", f"model={MODEL}", "trials=2"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((pair / "result.json").read_text())
    assert result["trials"] == 2 and result["validation"]["ok"]


def _codegen_pids(name):
    return _pids(lambda argv: b"utoe.codegen" in argv and name.encode() in argv)


@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGINT to the group, -j2", "SIGKILL to scons"])
def test_a_signal_during_codegen_takes_effect_at_once(project, how):
    """vww_mbv1 through TVM's Relax path (importer=tvm) keeps TVM busy for
    ~3 s after its import (utoe's integer path now compiles it in ~1 s):
    Ctrl-C ends it at once (not when TVM returns), says nothing about an
    internal error, and a SIGKILLed SCons leaves no TVM process writing into
    the build tree."""
    model = "vww_mbv1"
    proc = _start(project, "board=native", f"model={model}", "importer=tvm", *(["-j2"] if "-j2" in how else []))
    t0 = time.time()
    while not _codegen_pids(model):
        assert proc.poll() is None and time.time() - t0 < 60, "the codegen process never started"
        time.sleep(0.05)
    time.sleep(1.5)  # past TVM's import, inside its compile
    pids = _codegen_pids(model)
    t0 = time.time()
    if how == "SIGKILL to scons":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert _gone(pids, limit=3), f"the codegen process {pids} outlived scons ({how})"
    assert time.time() - t0 < 5, f"took {time.time() - t0:.1f} s to stop"
    cg = list((project / "build" / "codegen").glob(f"{model}-*"))
    assert all(not (d / "metadata.json").exists() and not (d / "codegen-error.log").exists() for d in cg)
    assert "internal error" not in out + err and "Traceback" not in out + err
