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
