"""The `utoe` command: a thin wrapper over SCons run from any directory."""

import json
import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT


def _utoe(project, cwd, *args):
    env = dict(os.environ, PYTHONPATH=str(project))
    return subprocess.run([sys.executable, "-c", "import sys; from utoe.cli import main; sys.exit(main())", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_relative_model_and_build_paths_mean_the_callers_directory(project_copy, tmp_path):
    work = tmp_path / "elsewhere"
    (work / "nets").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "models", "sine.tflite"), work / "nets" / "mysine.tflite")
    proc = _utoe(project_copy, work, "board=native", "model=nets/mysine.tflite", "build=out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = work / "out" / "native" / "mysine" / "result.json"
    assert result.is_file(), sorted(str(p) for p in work.rglob("*"))[:20]
    assert json.loads(result.read_text())["model"] == "mysine"
    assert not (project_copy / "out").exists()  # nothing landed in the checkout


def test_a_zoo_name_stays_a_zoo_name(project_copy, tmp_path):
    proc = _utoe(project_copy, tmp_path, "board=NATIVE", "model=sine")
    assert proc.returncode == 2
    assert "did you mean 'native'" in proc.stderr


def _catches(pid, sig):
    """Whether process pid has a handler for sig (/proc's SigCgt mask)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(mask >> (sig - 1) & 1)


def test_ctrl_c_while_scons_starts_is_no_traceback(project_copy, tmp_path):
    """Ctrl-C (SIGINT to the process group) 0 to 280 ms after utoe's code
    starts, while SCons imports itself and reads the SConstruct: one line,
    never a KeyboardInterrupt traceback. (Python's own start-up, before
    utoe's code runs, is outside utoe's reach.)"""
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(project_copy))
    found = []
    for k in range(24):
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from utoe.cli import main; sys.exit(main())",
                                 "board=native", "model=sine", f"build={tmp_path / 'b'}"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        # from the moment utoe's code has its handlers (SIGTERM caught: Python
        # alone does not catch it), k * 10 ms into SCons's import and start-up
        t0 = time.time()
        while not _catches(proc.pid, signal.SIGTERM) and proc.poll() is None and time.time() - t0 < 30:
            time.sleep(0.002)
        time.sleep(0.012 * k)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(timeout=120)
        if "Traceback" in out + err:
            found.append(err[-400:])
    assert found == []


def test_an_interrupt_python_cannot_raise_is_still_one_line():
    """A Ctrl-C landing in a callback Python cannot raise from (importlib's
    module-lock weakref while SCons imports: seen once under load) reaches
    utoe's unraisable hook: one line and exit 2, not "Exception ignored ...
    Traceback" and a lost interrupt."""
    import subprocess
    import sys

    code = ("import types, sys\nfrom utoe import cli\n"
            "cli._unraisable(types.SimpleNamespace(exc_type=KeyboardInterrupt, exc_value=KeyboardInterrupt(), "
            "exc_traceback=None, err_msg=None, object=None))\nprint('not reached')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "utoe: interrupted (SIGINT) while starting SCons; nothing was built"
