"""The build graph is honest (issue 10, items 2, 4 and 5), on real SCons runs
of a project copy with real TVM, compilers and QEMU:

- `-j` is safe: codegen runs in its own process, a parallel build gives the
  results of a serial one, and an internal error is never blamed on the model;
- products are keyed by what defines them: mode=, planner=, importer= variants
  keep their own results (a failing variant deletes nobody else's), and two
  files under one name are an error, never a silent drop;
- board=all is idempotent: a board the model does not fit has its products
  made too (fit.json and placeholders), and its "needs" figure is the link's
  real one."""

import copy
import glob
import json
import os
import re
import shutil

import pytest

from tests.conftest import copy_project, shared_model
from tests.scons_helpers import Build

missing = [t for t in ("riscv64-unknown-elf-gcc", "qemu-system-riscv32") if not shutil.which(t)]


@pytest.fixture
def build(project_copy):
    return Build(project_copy)


def results(build_dir):
    """{'<board>/<pair dir>': result.json content} of a build directory."""
    out = {}
    for path in glob.glob(os.path.join(build_dir, "*", "*", "result.json")):
        with open(path) as f:
            out[os.path.relpath(os.path.dirname(path), build_dir)] = json.load(f)
    return out


def comparable(result):
    """A result without what a host measures with a clock (wall-clock
    latency); everything else must be the same however the build ran."""
    r = copy.deepcopy(result)
    if r.get("latency", {}).get("kind") == "measured":
        del r["latency"]
        for op in r["operators"]:
            del op["latency"], op["share_pct"]
    return r


def load(build, *parts):
    with open(build.path("build", *parts, "result.json")) as f:
        return json.load(f)


def utoe_lines(stderr):
    return [line for line in stderr.splitlines() if "utoe:" in line]


# ---- item 2: -j ------------------------------------------------------------

NATIVE = ("board=native", "model=sine,sinus,lenet5", "trials=2")
DEFAULT_PAIRS = ["native/lenet5", "native/sine", "native/sinus"]


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    """Three models on the host, built serially into build/ of a project copy."""
    shared_model("mnist_0.983_quantized.tflite")
    shared_model("sinus_float.tflite")
    b = Build(copy_project(tmp_path_factory.mktemp("native")))
    b.scons(*NATIVE)
    return b


def test_parallel_build_gives_the_serial_results(native):
    """Three codegens at once (TVM used to fail in SCons's worker threads
    with 'TVM could not import the model: AssertionError')."""
    native.scons("-j4", "build=parallel", *NATIVE)
    par, ser = results(native.path("parallel")), results(native.path("build"))
    assert sorted(par) == DEFAULT_PAIRS
    assert {k: comparable(v) for k, v in par.items()} == {k: comparable(ser[k]) for k in DEFAULT_PAIRS}
    assert all(r["validation"]["ok"] for r in par.values())


def test_internal_error_is_not_blamed_on_the_model(build):
    """A bug in utoe's codegen (injected into the copy) is an internal error:
    one line that says so, the traceback in the codegen directory's log, on
    the terminal only with verbose=1."""
    codegen = build.path("utoe", "codegen", "__init__.py")
    with open(codegen, "a") as f:
        f.write("\n\ndef _generate(*args, **kw):  # injected by the test\n    raise KeyError('injected bug')\n")
    proc = build.scons("board=native", "model=sine", check=False)
    assert proc.returncode == 2
    lines = utoe_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "internal error in codegen of 'sine'" in lines[0] and "KeyError" in lines[0]
    assert "not a fault of the model" in lines[0] and "could not import" not in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    log = build.path("build", "codegen", "sine-greedy-auto", "codegen-error.log")
    assert "build/codegen/sine-greedy-auto/codegen-error.log" in lines[0]
    text = open(log).read()
    assert "Traceback" in text and "injected bug" in text and "codegen/__init__.py" in text
    assert not os.path.exists(build.path("build", "codegen", "sine-greedy-auto", "model.c"))
    verbose = build.scons("board=native", "model=sine", "verbose=1", check=False)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr and "injected bug" in verbose.stderr


# ---- item 4: products keyed by what defines them -----------------------------

def test_variants_keep_their_own_results(native):
    build = native
    sine = ("board=native", "model=sine", "trials=2")
    build.scons(*sine, "mode=per-operator")
    build.scons(*sine, "planner=none")
    default = load(build, "native", "sine")
    per_op = load(build, "native", "sine+per-operator")
    no_reuse = load(build, "native", "sine+planner-none")
    assert default["mode"] == "per-model" and all(op["latency"] is None for op in default["operators"])
    assert per_op["mode"] == "per-operator" and all(op["latency"] is not None for op in per_op["operators"])
    assert default["options"] == {"planner": "greedy", "importer": "auto", "importer_used": "tvm-relax",
                                  "kernels": "tvm"}
    assert no_reuse["options"]["planner"] == "none"
    # planner=none is another product: without reuse the arena holds every tensor at once
    assert no_reuse["ram"]["model"]["arena"] > default["ram"]["model"]["arena"]
    # a variant that fails (TVM's frontend takes no quantized TRANSPOSE) deletes only its own result
    lenet = ("board=native", "model=lenet5", "trials=2")
    assert load(build, "native", "lenet5")["options"]["importer_used"] == "utoe-integer"
    before = open(build.path("build", "native", "lenet5", "result.json")).read()
    proc = build.scons(*lenet, "importer=tvm", check=False)
    assert proc.returncode == 2 and "cannot import quantized operator(s)" in proc.stderr
    assert open(build.path("build", "native", "lenet5", "result.json")).read() == before
    assert not os.path.exists(build.path("build", "native", "lenet5+importer-tvm", "result.json"))
    assert build.stages(*NATIVE) == []  # and nothing else was touched


def test_two_files_with_one_name_are_an_error(build, tmp_path):
    for d, src in (("a", build.path("models", "sine.tflite")), ("b", shared_model("sinus_float.tflite"))):
        os.makedirs(tmp_path / d)
        shutil.copy(src, tmp_path / d / "net.tflite")
    a, b = str(tmp_path / "a" / "net.tflite"), str(tmp_path / "b" / "net.tflite")
    proc = build.scons("board=native", f"model={a},{b}", check=False)
    assert proc.returncode == 2
    lines = utoe_lines(proc.stderr)
    assert len(lines) == 1 and a in lines[0] and b in lines[0] and "'net'" in lines[0], proc.stderr
    assert not os.path.exists(build.path("build", "native", "net"))
    # the same file by its zoo name and by its path is one model, built once
    stages = build.stages("board=native", "model=sine,models/sine.tflite")
    assert [s for s, _ in stages].count("codegen") == 1 and [s for s, _ in stages].count("measure") == 1


# ---- item 5: board=all is idempotent; misfits report the real need -----------

def tiny_board(root, name, ram):
    """hifive1b with `ram` bytes of RAM (its QEMU stand-in is unchanged)."""
    text = open(os.path.join(root, "boards", "hifive1b.toml")).read()
    text = text.replace('name = "hifive1b"', f'name = "{name}"').replace("ram_bytes = 16384", f"ram_bytes = {ram}")
    text = text.replace('description = "', f'description = "test board, {ram} B of RAM: ', 1)
    text = text.replace("ram = { origin = 0x80000000, length = 0x00004000 }",
                        f"ram = {{ origin = 0x80000000, length = {ram} }}", 1)  # [memory], not [qemu]
    with open(os.path.join(root, "boards", f"{name}.toml"), "w") as f:
        f.write(text)


SELECT = ("board=all", "model=sinus", "trials=1")


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    """sinus on every board, -j4, with two boards it does not fit: 136 B of
    RAM (more than its 128 B arena, less than data + bss: the link overflows) and 512 B (data + bss fit, the least
    stack does not: the linker's stack assertion)."""
    if missing:
        pytest.skip("needs " + ", ".join(missing))
    shared_model("sinus_float.tflite")
    root = copy_project(tmp_path_factory.mktemp("select"))
    tiny_board(root, "tiny-overflow", 136)
    tiny_board(root, "tiny-stack", 512)
    b = Build(root)
    first = b.scons("-j4", *SELECT, "report")
    return b, first


def test_board_all_twice_does_no_work(selection):
    b, first = selection
    assert "tiny-stack" in first.stdout and "tiny-overflow" in first.stdout
    assert b.stages(*SELECT) == []
    assert b.scons("-q", *SELECT, check=False).returncode == 0  # SCons agrees: everything is up to date
    fit = json.load(open(b.path("build", "tiny-stack", "sinus", "fit.json")))
    assert fit["linked"] is False and fit["figures"]["ram"]["have_bytes"] == 512
    assert json.load(open(b.path("build", "hifive1b", "sinus", "fit.json")))["linked"] is True
    assert os.path.getsize(b.path("build", "tiny-stack", "sinus", "firmware.elf")) == 0  # no firmware to flash


def test_misfit_needs_are_the_links_own(selection):
    """The need is data + bss as linked (the same binary fits hifive1b, whose
    result measures it) plus the least stack, not the board's RAM + 1."""
    b, _ = selection
    from utoe.firmware import MIN_STACK_BYTES

    static = load(b, "hifive1b", "sinus")["ram"]["static_bytes"]
    # the map's data + bss: __bss_end - ORIGIN(RAM), with the sections' alignment padding
    with open(b.path("build", "hifive1b", "sinus", "obj", "firmware.map")) as f:
        linked = int(re.search(r"^\s+0x([0-9a-f]+)\s+__bss_end = \.", f.read(), re.M).group(1), 16) - 0x80000000
    assert static <= linked <= static + 16
    stack = load(b, "tiny-stack", "sinus")
    assert stack["status"] == "does-not-fit"
    assert stack["fit"]["ram"] == {"need_bytes": linked + MIN_STACK_BYTES, "have_bytes": 512}
    assert f"data + bss {linked:,} B" in stack["fit"]["message"]
    over = load(b, "tiny-overflow", "sinus")
    assert over["fit"]["ram"] == {"need_bytes": linked, "have_bytes": 136}
    assert "(data + bss, before any stack)" in over["fit"]["message"], over["fit"]["message"]


def test_misfit_recorded_by_board_all_fails_when_the_board_is_named(selection):
    b, _ = selection
    proc = b.scons("board=tiny-stack", "model=sinus", "trials=1", check=False)
    assert proc.returncode == 2
    lines = utoe_lines(proc.stderr)
    assert len(lines) == 1 and "does not fit board 'tiny-stack'" in lines[0], proc.stderr
    assert b.scons(*SELECT).returncode == 0


@pytest.mark.slow
def test_board_all_parallel_gives_the_serial_results(selection):
    b, _ = selection
    b.scons("build=serial", *SELECT)
    par, ser = results(b.path("build")), results(b.path("serial"))
    assert len(par) >= 18 and sorted(par) == sorted(ser)
    assert par == ser  # emulated boards: every figure is deterministic


def test_stack_misfit_without_a_link_map_says_the_need_is_unknown():
    """RIOT's links (no map of utoe's): the linker said only that the least
    stack does not fit; the need is unknown (null), not the board's RAM + 1,
    and the selection table shows no made-up shortfall."""
    from utoe import boards, fit
    from utoe.report import _short

    board = boards.get("hifive1b")
    stderr = ("/usr/bin/riscv64-unknown-elf-ld: utoe: the board's RAM leaves less than 1024 bytes for the stack\n"
              "collect2: error: ld returned 1 exit status\n")
    with pytest.raises(fit.FitError) as e:
        fit.from_linker(board, stderr, "lenet5", map_text=None)
    assert e.value.figures == {"ram": {"need_bytes": None, "have_bytes": 16384}}
    assert "unknown" in str(e.value) and "16,384 B" in str(e.value)
    assert _short(e.value.figures["ram"]) == "-"
