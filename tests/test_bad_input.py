"""Bad input: one clear error naming the culprit, a non-zero exit, and no
result.json left behind (not even an older one)."""

import os
import shutil

import pytest

from tests.conftest import unsupported_op_model
from tests.scons_helpers import Build


@pytest.fixture
def build(project_copy):
    return Build(project_copy)


def error_lines(proc):
    return [line for line in (proc.stderr + proc.stdout).splitlines() if "utoe: " in line]


def fails(build, *args):
    proc = build.scons(*args, check=False)
    assert proc.returncode != 0, proc.stdout
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_missing_model_file(build, tmp_path):
    line = fails(build, "board=native", f"model={tmp_path}/nope.tflite")
    assert f"model file not found: {tmp_path}/nope.tflite" in line


def test_not_tflite(build, tmp_path):
    bad = tmp_path / "notes.tflite"
    bad.write_text("hello, I am a text file\n")
    line = fails(build, "board=native", f"model={bad}")
    assert "notes.tflite: not a TFLite model" in line


def test_unknown_board_suggests(build):
    line = fails(build, "board=natve", "model=sine")
    assert "unknown board 'natve'" in line and "did you mean 'native'" in line


def test_unknown_variable(build):
    line = fails(build, "board=native", "model=sine", "trails=3")
    assert "unknown variable 'trails'" in line and "'trials'" in line


def test_unknown_model_suggests(build):
    line = fails(build, "board=native", "model=sinuss")
    assert "unknown model 'sinuss'" in line and "'sinus'" in line


def test_unimportable_operator_named_and_old_result_removed(build, tmp_path):
    unsupported = unsupported_op_model(tmp_path / "lsh.tflite")
    model = tmp_path / "m.tflite"
    shutil.copy(build.path("models", "sine.tflite"), model)
    build.scons("board=native", f"model={model}")
    result = build.path("build", "native", "m", "result.json")
    assert os.path.exists(result)
    shutil.copy(unsupported, model)  # same name, now a model neither importer takes
    line = fails(build, "board=native", f"model={model}", "report")
    assert "LSH_PROJECTION (operator #0, output tensor 'lsh')" in line and "m.tflite" in line
    assert "integer path has no kernel yet for LSH_PROJECTION" in line
    assert not os.path.exists(result)
    assert not os.path.exists(build.path("build", "report", "report.json"))


@pytest.mark.parametrize("value,expected", [("010", 10), ("7", 7)])
def test_counts_are_decimal(value, expected):
    from utoe import config

    assert config.settings("native", "sine", trials=value).trials == expected


@pytest.mark.parametrize("value", ["0x10", "1O", "-3", "1e3", "１"])
def test_counts_that_are_not_decimal_are_refused(value):
    from utoe import config
    from utoe.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"trials={value}: expected a non-negative decimal integer"):
        config.settings("native", "sine", trials=value)
