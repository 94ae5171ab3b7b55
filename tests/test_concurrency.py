"""Two real SCons invocations on one build tree (two terminals, an editor
building on save): the second waits for the first and both succeed with the
same result, or, with wait=no, the second fails at once naming the tree."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import SHARED_MODELS
from tests.scons_helpers import Build

ARGS = ("board=native", "model=sine", "trials=3")


def _start(root, *args):
    env = dict(os.environ, PYTHONPATH=str(root), UTOE_SHARED_MODELS=SHARED_MODELS, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "SCons", "-Q", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_stage(proc):
    """Block until the invocation prints its first stage line (it is building)."""
    line = proc.stdout.readline()
    assert line.split()[:1] == ["codegen"], line + proc.stderr.read()
    return line


@pytest.fixture
def first(project_copy):
    """A first invocation, started on a fresh tree and seen building."""
    proc = _start(project_copy, *ARGS)
    first_line = _first_stage(proc)
    yield proc, first_line
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_a_second_invocation_waits_then_both_succeed(project_copy, first):
    proc_a, line_a = first
    proc_b = _start(project_copy, *ARGS)
    out_b, err_b = proc_b.communicate(timeout=600)
    out_a, err_a = proc_a.communicate(timeout=600)
    out_a = line_a + out_a
    assert proc_a.returncode == 0, out_a + err_a
    assert proc_b.returncode == 0, out_b + err_b
    assert f"utoe: build tree build/ is in use by another utoe (pid {proc_a.pid}); waiting (wait=no to fail at " \
           "once)" in err_b.splitlines(), err_b
    assert "Traceback" not in out_a + err_a + out_b + err_b
    # the second found the first's products current: it built nothing and the result is the first's
    assert [line for line in out_b.splitlines() if line.split()[:1] in (["codegen"], ["run"], ["measure"])] == []
    result = json.loads(open(os.path.join(project_copy, "build", "native", "sine", "result.json")).read())
    assert result["trials"] == 3 and result["validation"]["ok"]
    # and SCons agrees nothing is left to do
    assert Build(project_copy).scons("-q", *ARGS, "build/native/sine/result.json", check=False).returncode == 0


def test_wait_no_fails_at_once_naming_the_tree(project_copy, first):
    proc_a, line_a = first
    t0 = time.time()
    proc_b = _start(project_copy, *ARGS, "wait=no")
    out_b, err_b = proc_b.communicate(timeout=120)
    elapsed = time.time() - t0
    assert proc_a.poll() is None, "the first invocation ended before the second was refused"
    out_a, err_a = proc_a.communicate(timeout=600)
    assert proc_a.returncode == 0, line_a + out_a + err_a
    assert proc_b.returncode == 2, out_b + err_b
    assert err_b.strip().splitlines() == [
        f"utoe: error: build tree build/ is in use by another utoe (pid {proc_a.pid}); wait=no: not waiting"], err_b
    assert out_b.strip() == ""
    assert elapsed < 60


def test_another_build_tree_does_not_wait(project_copy, first, tmp_path):
    proc_a, _ = first
    other = tmp_path / "other-build"
    proc_b = _start(project_copy, *ARGS, f"build={other}", "wait=no")
    out_b, err_b = proc_b.communicate(timeout=600)
    proc_a.communicate(timeout=600)
    assert proc_b.returncode == 0, out_b + err_b
    assert (other / "native" / "sine" / "result.json").exists()
