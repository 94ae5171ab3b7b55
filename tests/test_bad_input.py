"""Bad input: one clear error naming the culprit, a non-zero exit, and no
result.json left behind (not even an older one)."""

import json
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


@pytest.mark.parametrize("arg, said", [
    ("kernels=cmsisnn", "Invalid value for enum variable 'kernels': 'cmsisnn'. Valid values are: ('auto', 'tvm', "
                        "'cmsis-nn')"),
    ("verbose=maybe", "Error converting option: 'verbose'; Invalid value for boolean variable: 'maybe'"),
])
def test_a_value_a_variable_does_not_take_is_one_line(build, arg, said):
    """SCons's own checks of choice and yes/no variables (kernels=, planner=,
    mode=, importer=, verbose=, wait=) end in utoe's one line, not in SCons's
    error with the SConstruct line that raised it."""
    proc = build.scons("board=native", "model=sine", arg, check=False)
    assert proc.returncode == 2 and "File " not in proc.stderr, proc.stderr
    assert fails(build, "board=native", "model=sine", arg) == f"utoe: error: {said}"


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


def huge_arena_model(path, rows=100_000_000, columns=12):
    """A real, 300-byte TFLite model (one RELU) whose input has 100,000,000
    rows: a 9.6 GB activation arena (input and output, 4.8 GB each)."""
    import sys

    from tests.conftest import ROOT

    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from tflite.BuiltinOperator import BuiltinOperator
        from tflite_builder import Model, TensorType
    finally:
        sys.path.pop(0)
    m = Model("utoe test: an arena no host holds")
    x = m.tensor("x", [rows, columns], TensorType.FLOAT32)
    y = m.tensor("y", [rows, columns], TensorType.FLOAT32)
    m.operator(BuiltinOperator.RELU, [x], [y])
    m.io([x], [y])
    with open(path, "wb") as f:
        f.write(m.serialize())
    return str(path)


def test_arena_larger_than_the_host_is_refused_before_compiling(build, tmp_path):
    """Before: compiled (with 32-bit size overflow warnings), linked, then
    run until the timeout. Now: refused by the fit check before any C is
    compiled, in one line naming the model, the arena and the host's limit."""
    from utoe import fit

    model = huge_arena_model(tmp_path / "huge.tflite")
    proc = build.scons("board=native", f"model={model}", "timeout=20", check=False, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    have = fit.host_limit()[0]
    assert (f"model 'huge' ({model}) cannot run on board 'native' (this host): its activation arena alone "
            f"needs 9,600,000,000 B (8.9 GiB) but a host arena is limited to {have:,} B") in lines[0]
    pair = build.path("build", "native", "huge")
    assert not os.path.exists(os.path.join(pair, "obj")), "nothing may be compiled"
    assert not os.path.exists(os.path.join(pair, "run.log"))
    assert not os.path.exists(os.path.join(pair, "result.json"))


def test_host_limit_is_physical_ram_under_a_cap():
    from utoe import fit

    have, why = fit.host_limit()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert have == min(ram, 4 * 1024 ** 3) == min(ram, fit.HOST_ARENA_CAP)
    assert why


@pytest.mark.parametrize("board", ["native", "native64", "hifive1b", "nrf52840dk", "stm32f746g-disco"])
def test_every_board_refuses_a_huge_arena_before_compiling(board):
    """The fit precheck covers MCU boards (their RAM) and hosted ones (the
    host's limit) alike, with a UtoeError (not a traceback) naming both sizes."""
    from utoe import boards, fit
    from utoe.errors import UtoeError

    metadata = {"model": "huge", "source": {"path": "huge.tflite"}, "weights_bytes": 0,
                "memory": {"arena_bytes": 9_600_000_000, "workspace_pool_bytes": 0, "workspace_in_arena": True}}
    with pytest.raises(fit.FitError, match=r"needs (at least )?9,600,000,000 B \(8\.9 GiB\)") as e:
        fit.precheck(boards.get(board), metadata)
    assert isinstance(e.value, UtoeError) and "huge" in str(e.value)
    assert e.value.figures["ram"]["need_bytes"] == 9_600_000_000


# ---- unreadable model files, bad build directories: refused while the
# ---- SConstruct is read, in one line, exit status 2, no traceback

def _scons_unprivileged(build, *args):
    """scons as a user file permissions apply to. Tests may run as root,
    whom chmod 000 does not stop: then without the capabilities that let
    root past them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), via setpriv."""
    import subprocess
    import sys

    from tests.conftest import SHARED_MODELS

    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("running as root, whom chmod 000 does not stop, and no setpriv (util-linux) to drop "
                        "CAP_DAC_OVERRIDE")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    env = dict(os.environ, PYTHONPATH=build.root, UTOE_SHARED_MODELS=SHARED_MODELS)
    return subprocess.run(prefix + [sys.executable, "-m", "SCons", "-Q", *args], cwd=build.root,
                          capture_output=True, text=True, timeout=120, env=env)


def _one_clean_line(proc):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and 'File "' not in out, out
    lines = error_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("utoe: "), out
    return lines[0]


def test_unreadable_model_file(build, tmp_path):
    model = tmp_path / "locked.tflite"
    shutil.copy(build.path("models", "sine.tflite"), model)
    model.chmod(0)
    try:
        proc = _scons_unprivileged(build, "board=native", f"model={model}")
    finally:
        model.chmod(0o644)
    line = _one_clean_line(proc)
    assert f"{model}: cannot read the model file (Permission denied)" in line


def test_model_in_a_directory_one_may_not_search(build, tmp_path):
    """os.path.exists() is False there too: not 'file not found', but why."""
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(build.path("models", "sine.tflite"), locked / "m.tflite")
    locked.chmod(0)
    try:
        proc = _scons_unprivileged(build, "board=native", f"model={locked}/m.tflite")
    finally:
        locked.chmod(0o755)
    line = _one_clean_line(proc)
    assert f"{locked}/m.tflite: cannot reach the model file (Permission denied; check the permissions of " \
           f"{locked})" in line


def test_model_path_that_is_a_directory(build, tmp_path):
    d = tmp_path / "net.tflite"
    d.mkdir()
    line = _one_clean_line(build.scons("board=native", f"model={d}", check=False))
    assert f"model path is a directory, not a model file: {d}" in line


@pytest.mark.parametrize("value,message", [
    ("", "build= is empty: give the build directory (default: build)"),
    ("   ", "build= is empty"),
    ("{file}", "build={file}: {file} is a file, not a directory"),
    ("{file}/sub", "build={file}/sub: cannot create the build directory {file}/sub (Not a directory)"),
    (".", "build=.: {root} is the checkout; the build products need a directory of their own"),
    ("..", "build=..: {parent} is above the checkout"),
])
def test_bad_build_directory(build, tmp_path, value, message):
    f = tmp_path / "notes.txt"
    f.write_text("a file, not a directory\n")
    subs = {"file": str(f), "root": build.root, "parent": os.path.dirname(build.root)}
    proc = build.scons("board=native", "model=sine", "build=" + value.format(**subs), check=False)
    line = _one_clean_line(proc)
    assert message.format(**subs) in line, line
    assert f.read_text() == "a file, not a directory\n"
    assert not os.path.exists(os.path.join(build.root, "native"))


def _versioned(project_copy, tmp_path, case_id, version):
    """A conformance case (or RELU_N1_TO_1, which TFLite Micro does not
    have) with its operator's version set to `version`."""
    import sys

    import numpy as np

    sys.path.insert(0, os.path.join(str(project_copy), "models"))
    try:
        import make_conformance
    finally:
        sys.path.pop(0)
    if case_id == "relu_n1_to_1":
        build = make_conformance._single("int8", make_conformance.OP.RELU_N1_TO_1, [("act", [4, 8], (0.05, 3))],
                                         ([4, 8], (0.01, -3)))
    else:
        build = next(c for c in make_conformance.cases() if c.id == case_id).build
    model = build(np.random.default_rng(1))
    model.opcodes[0][1] = version
    path = tmp_path / f"v{version}.tflite"
    path.write_bytes(model.serialize())
    return path


def test_a_model_no_reference_can_run_keeps_its_figures_unvalidated(project_copy, tmp_path):
    """An operator version newer than ai-edge-litert knows, of an operator
    TFLite Micro (the second reference) does not have: utoe compiles and runs
    it; the result keeps its figures with validation unavailable and both
    reasons, and the user reads one line, not the interpreters' text."""
    path = _versioned(project_copy, tmp_path, "relu_n1_to_1", 99)
    build = Build(project_copy)
    proc = build.scons("board=native", f"model={path}")
    result = json.load(open(build.path("build", "native", "v99", "result.json")))
    v = result["validation"]
    assert v["ok"] is None and v["reference"] == "tflite-builtin-ref"
    assert "RELU_N1_TO_1' version '99'" in v["unavailable"] and str(path) in v["unavailable"]
    assert "tflite-micro cannot either" in v["unavailable"]
    assert result["latency"]["mean"] > 0 and result["ram"]["static_bytes"] > 0
    warnings = [line for line in proc.stdout.splitlines() if "not validated" in line]
    assert len(warnings) == 1 and "native/v99" in warnings[0], proc.stdout
    assert "Registration failed" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_tflite_micro_validates_what_builtin_ref_cannot_load(project_copy, tmp_path):
    """FULLY_CONNECTED version 99: BUILTIN_REF refuses it, TFLite Micro's
    interpreter (which does not check versions) runs it, and the outputs are
    compared with TFLite Micro's, saying so."""
    from utoe.conformance import check

    path = _versioned(project_copy, tmp_path, "fully_connected-int8-16-to-10", 99)
    o = check(str(path), name="m")
    assert o.status == "pass" and o.exact, o
    assert o.extra["reference"] == "tflite-micro"
    assert "version '99'" in o.extra["primary_unavailable"]
