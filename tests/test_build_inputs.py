"""Every input of a stage is declared, nothing else is (issue 10, item 3).

Real SCons builds of a project copy (sine, on native and on the hifive1b
stand-in under QEMU): what each edit redoes, read from the lines SCons prints
(`compile  <pair>: <file>` per object, `firmware` for the link, ...), and the
tool versions result.json records, checked against the tools themselves."""

import json
import os
import shutil
import stat
import subprocess
from importlib.metadata import version

import pytest

import utoe
from tests.conftest import copy_project
from tests.scons_helpers import Build
from utoe import riot

BOARDS = ("native", "hifive1b")
ARGS = ("board=" + ",".join(BOARDS), "model=sine", "trials=2")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A project copy with sine built for both boards (built once per module)."""
    b = Build(copy_project(tmp_path_factory.mktemp("inputs")))
    b.scons("-j2", *ARGS)  # objects of both boards compiled in parallel
    return b


@pytest.fixture
def build(built, tmp_path):
    """A private copy of the built project: SCons must find it up to date."""
    root = tmp_path / "utoe"
    shutil.copytree(built.root, root, symlinks=True)
    b = Build(root)
    assert b.stages(*ARGS) == []
    return b


def names(stages):
    return [s for s, _ in stages]


def run(build, *args):
    """(stage lines, {pair: [compiled file, ...]}) of a real scons run."""
    out = build.scons(*(args or ARGS)).stdout
    stages = [tuple(line.split(None, 1)) for line in out.splitlines()
              if line.split(None, 1)[:1] and line.split()[0] in ("codegen", "app", "firmware", "sizes", "run",
                                                                  "measure")]
    compiled = {}
    for line in out.splitlines():
        if line.startswith("compile "):
            pair, src = line.split(None, 1)[1].split(": ")
            compiled.setdefault(pair, []).append(src)
    return stages, {k: sorted(v) for k, v in compiled.items()}


def result(build, board):
    with open(build.path("build", board, "sine", "result.json")) as f:
        return json.load(f)


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, (path, old)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def first_line(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()


def test_board_description_is_not_a_build_input(build):
    for board in BOARDS:
        edit(build.path("boards", f"{board}.toml"), 'description = "', 'description = "Renamed: ')
    assert run(build) == ([], {})


def test_qemu_section_edit_reruns_only_the_run(build):
    log = build.path("build", "hifive1b", "sine", "run.log")
    before = os.path.getmtime(log)
    edit(build.path("boards", "hifive1b.toml"), 'system = "qemu-system-riscv32"',
         'system = "qemu-system-riscv32"\nargs = ["-no-reboot"]')
    stages, compiled = run(build)
    assert stages == [("run", "hifive1b/sine (qemu)"), ("measure", "hifive1b/sine")]
    assert compiled == {}
    assert os.path.getmtime(log) > before
    assert result(build, "hifive1b")["tools"]["machine"] == "sifive_e,revb=true -no-reboot"


def test_utoe_version_rebuilds_every_stage(build):
    edit(build.path("utoe", "__init__.py"), f'__version__ = "{utoe.__version__}"', '__version__ = "9.9.9-test"')
    stages, compiled = run(build)
    for board in BOARDS:
        assert sorted(s for s, label in stages if label.startswith(f"{board}/")) == \
            ["app", "firmware", "measure", "run", "sizes"]
        assert result(build, board)["tools"]["utoe"] == "9.9.9-test"
    assert ("codegen", "sine") in stages
    assert compiled["native/sine"] == ["cmsis_nn.c", "cmsis_nn_sr.c", "host.c", "model.c", "ops.c", "utoe_eval.c", "weights.c"]


def test_board_memory_edit_relinks_without_recompiling(build):
    """The board's RAM is the linker script's business (and the fit's), not
    the compiler's: the objects stay, the firmware is linked again."""
    edit(build.path("boards", "hifive1b.toml"), "ram_bytes = 16384", "ram_bytes = 12288")
    edit(build.path("boards", "hifive1b.toml"), "ram = { origin = 0x80000000, length = 0x00004000 }",
         "ram = { origin = 0x80000000, length = 0x00003000 }")  # [memory]; [qemu] keeps the machine's
    stages, compiled = run(build)
    assert compiled == {}
    assert [s for s, label in stages if label.startswith("hifive1b/")][:2] == ["app", "firmware"]
    assert not any(label.startswith("native/") for _, label in stages)
    assert result(build, "hifive1b")["fit"]["ram"]["have_bytes"] == 12288


def test_riot_c_is_not_an_input_of_a_bare_metal_or_host_build(build):
    with open(build.path("utoe", "c", "platform", "riot.c"), "a") as f:
        f.write("\n/* a RIOT-only edit */\nint utoe_riot_only_edit;\n")
    assert run(build) == ([], {})


def test_header_edit_recompiles_only_its_includers(build):
    objs = {b: {o: os.path.getmtime(build.path("build", b, "sine", "obj", o))
                for o in os.listdir(build.path("build", b, "sine", "obj"))} for b in BOARDS}
    with open(build.path("utoe", "c", "utoe_platform.h"), "a") as f:
        f.write("\n#define UTOE_TEST_UNUSED_MACRO 1\n")
    stages, compiled = run(build)
    # utoe_platform.h: the harness and the platform glue include it, the model's C does not
    assert compiled == {"native/sine": ["host.c", "utoe_eval.c"],
                        "hifive1b/sine": ["baremetal.c", "riscv.c", "utoe_eval.c"]}
    # an unused macro leaves the objects as they were: nothing is linked again
    assert stages == []
    for b in BOARDS:
        for o in ("model.o", "ops.o", "weights.o"):
            assert os.path.getmtime(build.path("build", b, "sine", "obj", o)) == objs[b][o]


def test_compiler_version_is_an_input(build, tmp_path, monkeypatch):
    """The same compiler name, another version (a wrapper reporting one):
    the host firmware is compiled again and the result says which gcc."""
    real = shutil.which("gcc")
    wrapper = tmp_path / "bin" / "gcc"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "gcc (wrapped) 99.1.0"; exit 0; fi\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    stages, compiled = run(build)
    assert compiled == {"native/sine": ["cmsis_nn.c", "cmsis_nn_sr.c", "host.c", "model.c", "ops.c", "utoe_eval.c", "weights.c"]}
    assert not any(label.startswith("hifive1b/") for _, label in stages)  # its compiler did not change
    assert result(build, "native")["tools"]["gcc"] == "gcc (wrapped) 99.1.0"


def test_result_records_the_tools_it_was_made_with(built):
    for board in BOARDS:
        tools = result(built, board)["tools"]
        assert tools["utoe"] == utoe.__version__
        assert tools["litert"] == version("ai-edge-litert")
        assert tools["tflite-micro"] == version("tflite-micro")
        assert tools["tvm"].startswith(version("apache-tvm").split(".post")[0])
    assert result(built, "native")["tools"]["gcc"] == first_line("gcc", "--version")
    emulated = result(built, "hifive1b")["tools"]
    assert emulated["gcc"] == first_line("riscv64-unknown-elf-gcc", "--version")
    assert emulated["qemu"] == first_line("qemu-system-riscv32", "--version")
    assert emulated["machine"] == "sifive_e,revb=true"
    assert "qemu" not in result(built, "native")["tools"]


def test_riot_identity_sees_uncommitted_edits(tmp_path):
    tree = tmp_path / "RIOT"
    (tree / "core").mkdir(parents=True)
    (tree / "core" / "thread.c").write_text("int x;\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(tree), *cmd], check=True, env=env)
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True,
                            env=env).stdout.strip()
    clean = riot.identity(str(tree))
    assert clean == f"{tree}@{commit}"
    (tree / "core" / "thread.c").write_text("int y;\n")
    edited = riot.identity(str(tree))
    assert edited.startswith(f"{tree}@{commit}+edits-") and edited != clean
    (tree / "core" / "thread.c").write_text("int x;\n")
    assert riot.identity(str(tree)) == clean
    (tree / "core" / "new.c").write_text("int z;\n")  # untracked files count too
    assert riot.identity(str(tree)) not in (clean, edited)


def test_riot_identity_without_git_sees_edits(tmp_path):
    """The vendored RIOT kit has no .git: its VERSION and its files identify it."""
    tree = tmp_path / "RIOT"
    (tree / "core").mkdir(parents=True)
    (tree / "VERSION").write_text("RIOT_VERSION ?= 2026.10-devel-371\n")  # as in the vendored kit
    src = tree / "core" / "thread.c"
    src.write_text("int x;\n")
    before = riot.identity(str(tree))
    assert before.startswith(f"{tree}@2026.10-devel-371+tree-")
    (tree / "build" / "pkg").mkdir(parents=True)  # RIOT's own package downloads are no edit
    (tree / "build" / "pkg" / "a.c").write_text("")
    assert riot.identity(str(tree)) == before
    src.write_text("int xy;\n")
    assert riot.identity(str(tree)) != before


def small_board(build, name, ram):
    """hifive1b with less RAM, as a board file of the project copy."""
    with open(build.path("boards", "hifive1b.toml")) as f:
        text = f.read()
    text = text.replace('name = "hifive1b"', f'name = "{name}"').replace("ram_bytes = 16384", f"ram_bytes = {ram}")
    text = text.replace("ram = { origin = 0x80000000, length = 0x00004000 }",
                        f"ram = {{ origin = 0x80000000, length = {ram:#x} }}", 1)  # [memory], not [qemu]
    with open(build.path("boards", f"{name}.toml"), "w") as f:
        f.write(text)


def test_misfit_is_found_before_compiling(build):
    small_board(build, "tiny", 64)  # sine's activation arena is 128 B
    proc = build.scons("board=tiny", "model=sine", check=False)
    assert proc.returncode != 0
    err = [line for line in proc.stderr.splitlines() if "utoe: " in line]
    assert len(err) == 1 and "model 'sine' does not fit board 'tiny': RAM needs at least 128 B" in err[0], \
        proc.stderr
    assert "compile " not in proc.stdout and "Traceback" not in proc.stderr
    assert not os.path.exists(build.path("build", "tiny", "sine", "obj"))


def test_link_overflow_is_a_fit_error_and_leaves_no_firmware(build):
    small_board(build, "tiny", 2048)
    build.scons("board=tiny", "model=sine", "trials=2")
    pair = build.path("build", "tiny", "sine")
    assert os.path.exists(os.path.join(pair, "firmware.elf"))
    small_board(build, "tiny", 1024)  # the arena fits, data + bss + the least stack do not
    proc = build.scons("board=tiny", "model=sine", "trials=2", check=False)
    assert proc.returncode != 0
    err = [line for line in proc.stderr.splitlines() if "utoe: " in line]
    assert len(err) == 1 and "model 'sine' does not fit board 'tiny': RAM needs" in err[0], proc.stderr
    for product in ("firmware.elf", "firmware.elf.tmp", "result.json"):
        assert not os.path.exists(os.path.join(pair, product)), product


def test_a_failed_compile_leaves_no_result(build):
    """An object that does not compile fails the build naming the file, and
    the result of the previous build is removed, not left looking current."""
    with open(build.path("utoe", "c", "platform", "host.c"), "a") as f:
        f.write("\nthis is not C;\n")
    proc = build.scons(*ARGS, check=False)
    assert proc.returncode != 0
    assert "host.c" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(build.path("build", "native", "sine", "result.json"))
    assert os.path.exists(build.path("build", "hifive1b", "sine", "result.json"))  # host.c is not its
