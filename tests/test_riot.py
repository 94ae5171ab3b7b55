"""The RIOT path: riot_app built by RIOT's make and run on RIOT's native64
board, built for real boards (a Cortex-M and a RISC-V one) and sized, and the
clear errors when RIOT is missing or does not know a board.

The tests that build use the RIOT tree ./setup.sh installs (third_party/riot,
from the offline kit or git), or $RIOTBASE when set; they are skipped only when
neither exists. The error tests run everywhere."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.scons_helpers import Build
from utoe import boards, elfsize, firmware, riot
from utoe.errors import ConfigError


def _riot_or_skip():
    try:
        return riot.base()  # $RIOTBASE, else the installed tree
    except ConfigError as e:
        pytest.skip(f"no RIOT tree: {e}")


def scons(build, *args, riotbase=None, check=True):
    env = dict(os.environ)
    env.pop("RIOTBASE", None)
    if riotbase:
        env["RIOTBASE"] = riotbase
    proc = subprocess.run([sys.executable, "-m", "SCons", "-Q", f"build={build}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"scons {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def error_line(proc):
    lines = [line for line in proc.stderr.splitlines() if "utoe: " in line]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def fake_riot_tree(tmp_path):
    """A directory shaped like a RIOT tree that knows one board ('nucleo-f401re')."""
    base = tmp_path / "RIOT"
    for d in ("core", "boards/nucleo-f401re"):
        (base / d).mkdir(parents=True)
    for f in ("Makefile.include", "Makefile.base", "boards/nucleo-f401re/Makefile.features"):
        (base / f).write_text("")
    return base


# ---- errors, without RIOT ----

def test_riot_not_installed(tmp_path, project_copy, monkeypatch):
    """Without riotbase=, $RIOTBASE or the tree ./setup.sh installs (a project
    copy has no third_party/), the error says to run ./setup.sh."""
    monkeypatch.delenv("RIOTBASE", raising=False)
    b = Build(project_copy)
    line = error_line(b.scons("board=native64", "model=sinus", check=False))
    assert "board 'native64' with runner=riot-native runs firmware built by RIOT: RIOT is not installed: " \
           "run ./setup.sh" in line
    assert "git clone https://github.com/RIOT-OS/RIOT" in line
    line = error_line(b.scons("board=nrf52840dk", "model=sinus", "runner=serial", check=False))
    assert "board 'nrf52840dk' with runner=serial runs firmware built by RIOT: RIOT is not installed" in line
    assert not os.path.exists(b.path("build", "nrf52840dk"))


def test_riot_base_default_is_the_installed_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("RIOTBASE", raising=False)
    monkeypatch.setattr(riot, "INSTALL_DIR", str(tmp_path / "riot"))
    with pytest.raises(ConfigError, match=r"RIOT is not installed: run \./setup\.sh"):
        riot.base()
    for d in ("core", "boards"):
        (tmp_path / "riot" / "RIOT" / d).mkdir(parents=True)
    for f in ("Makefile.include", "Makefile.base"):
        (tmp_path / "riot" / "RIOT" / f).write_text("")
    assert riot.base() == str(tmp_path / "riot" / "RIOT")
    monkeypatch.setenv("RIOTBASE", str(tmp_path / "other"))  # $RIOTBASE and riotbase= still choose
    with pytest.raises(ConfigError, match="no such directory"):
        riot.base()
    assert riot.base(str(tmp_path / "riot" / "RIOT")) == str(tmp_path / "riot" / "RIOT")


def test_make_environment(tmp_path, fake_riot_tree, monkeypatch):
    """utoe gives RIOT's make the kit's git configuration (packages cloned
    from the kit, offline) and picolibc on RISC-V boards, in the environment:
    FEATURES_REQUIRED on the command line would replace the app's features."""
    monkeypatch.delenv("FEATURES_REQUIRED", raising=False)
    hifive, nrf = boards.get("hifive1b"), boards.get("nrf52840dk")
    assert riot.environment(nrf, str(fake_riot_tree)) == {}  # a plain RIOT tree: git as the user set it
    assert riot.environment(hifive, str(fake_riot_tree)) == {"FEATURES_REQUIRED": "picolibc"}
    assert riot.needs_picolibc(boards.get("sipeed-longan-nano")) and not riot.needs_picolibc(nrf)
    # a kit: <dest>/RIOT beside <dest>/gitconfig and <dest>/pkgs/MANIFEST
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "MANIFEST").write_text("")
    (tmp_path / "gitconfig").write_text(f"# written by riot-kit.sh: RIOT packages from {tmp_path}/pkgs\n")
    assert riot.environment(nrf, str(fake_riot_tree)) == {"GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig")}
    monkeypatch.setenv("FEATURES_REQUIRED", "periph_uart")  # the user's own are kept
    assert riot.environment(hifive, str(fake_riot_tree))["FEATURES_REQUIRED"] == "periph_uart picolibc"


def test_riotbase_not_a_riot_tree(tmp_path):
    line = error_line(scons(tmp_path, "board=native64", f"riotbase={tmp_path}/nowhere", check=False))
    assert f"RIOTBASE={tmp_path}/nowhere: no such directory" in line
    (tmp_path / "notriot").mkdir()
    line = error_line(scons(tmp_path, "board=native64", riotbase=str(tmp_path / "notriot"), check=False))
    assert (f"RIOTBASE={tmp_path}/notriot is not a RIOT tree (it has no Makefile.include, Makefile.base, "
            "core, boards)") in line


def test_board_riot_does_not_know(tmp_path, fake_riot_tree):
    line = error_line(scons(tmp_path, "board=nrf52840dk", "runner=serial", f"riotbase={fake_riot_tree}",
                            check=False))
    assert f"board 'nrf52840dk': RIOT at {fake_riot_tree} has no board 'nrf52840dk'" in line
    assert "field 'riot_board' in" in line and "boards/nrf52840dk.toml" in line


def test_runner_options_belong_to_their_runner(tmp_path):
    line = error_line(scons(tmp_path, "board=mps2-an386", "model=sinus", "port=/dev/ttyACM0", check=False))
    assert "port= applies to runner=serial, not runner=qemu" in line


def test_an_offline_vendor_fetch_is_explained(tmp_path, fake_riot_tree):
    """RIOT clones vendor code while building some boards; offline, the
    build fails with git's message, and utoe says what it means. The tree's
    make fails the way RIOT's does without a network."""
    (fake_riot_tree / "boards" / "nrf52840dk").mkdir()
    (fake_riot_tree / "boards" / "nrf52840dk" / "Makefile.features").write_text("")
    (fake_riot_tree / "Makefile.include").write_text(
        "all:\n\t@echo \"fatal: unable to access 'https://github.com/NordicSemiconductor/nrfx/': "
        "Could not resolve host: github.com\"; exit 2\n")
    proc = scons(tmp_path, "board=nrf52840dk", "model=sinus", "runner=serial", f"riotbase={fake_riot_tree}",
                 check=False)
    assert proc.returncode != 0
    assert "building RIOT's 'nrf52840dk' firmware failed (exit 2)" in proc.stderr
    assert "Could not resolve host: github.com" in proc.stderr
    assert "RIOT fetches this board's vendor code from the internet while building" in proc.stderr
    pair = tmp_path / "nrf52840dk" / "sinus@serial"
    assert not (pair / "firmware.elf").exists() and not (pair / "result.json").exists()


# ---- native64, with RIOT ----

@pytest.mark.riot
def test_native64_end_to_end(tmp_path):
    base = _riot_or_skip()
    proc = scons(tmp_path, "board=native64", "model=sinus", "trials=5", "timeout=60", "report", riotbase=base)
    assert "firmware native64/sinus" in proc.stdout and "run      native64/sinus (riot-native)" in proc.stdout
    pair = tmp_path / "native64" / "sinus"
    r = json.loads((pair / "result.json").read_text())
    assert r["runner"] == "riot-native" and r["status"] == "ok"
    assert r["validation"]["ok"] and r["validation"]["exact"]
    assert r["tick_hz"] == 1000000 and len(r["latency"]["trials_ms"]) == 5
    # RIOT's stacks are in .bss: the harness thread's peak is inside the static figure
    assert r["ram"]["stack_in_static"] and r["ram"]["total_bytes"] == r["ram"]["static_bytes"]
    # main's stack from its top, RIOT's boot included, within its size (native: RIOT's default, 8 KiB or more, + utoe's)
    assert 0 < r["ram"]["stack_peak_bytes"] < 8192 + riot.NATIVE_STACK_BYTES
    assert r["tools"]["riot"] == riot.short_identity(base)
    info = json.loads((pair / "riot.json").read_text())
    assert info["riot_board"] == "native64" and info["make"]["RIOTBASE"] == base
    assert "native64" in (tmp_path / "report" / "summary.md").read_text()
    # nothing changed: nothing is redone
    again = scons(tmp_path, "board=native64", "model=sinus", "trials=5", "timeout=60", riotbase=base)
    assert "firmware" not in again.stdout and "run " not in again.stdout


@pytest.mark.riot
def test_native64_rebuilds_on_app_and_model_changes_only(tmp_path, project_copy):
    base = _riot_or_skip()
    b = Build(project_copy)
    args = ("board=native64", "model=sinus", "trials=2", "timeout=60", f"riotbase={base}")
    b.scons(*args)
    assert b.stages(*args) == []
    mk = project_copy / "riot_app" / "Makefile"
    text = mk.read_text()
    mk.write_text(text + "\n# a comment: RIOT's make runs again, the same ELF comes out, nothing after it runs\n")
    assert [s for s, _ in b.stages(*args)] == ["firmware"]
    mk.write_text(text.replace("include $(RIOTBASE)/Makefile.include",
                               "UTOE_STACK_BYTES := 8192\ninclude $(RIOTBASE)/Makefile.include"))
    assert [s for s, _ in b.stages(*args)] == ["firmware", "sizes", "run", "measure"]
    assert [s for s, _ in b.stages(*args, "mode=per-operator")][:2] == ["app", "firmware"]
    r = json.loads(open(b.path("build", "native64", "sinus+per-operator", "result.json")).read())
    assert r["mode"] == "per-operator" and all(op["latency"] is not None for op in r["operators"])


@pytest.mark.riot
def test_a_board_riot_does_not_know_with_real_riot(tmp_path, project_copy):
    base = _riot_or_skip()
    f = project_copy / "boards" / "nrf52840dk.toml"
    f.write_text(f.read_text().replace('riot_board = "nrf52840dk"', 'riot_board = "nrf52840-dk"'))
    proc = Build(project_copy).scons("board=nrf52840dk", "runner=serial", f"riotbase={base}", check=False)
    line = error_line(proc)
    assert "has no board 'nrf52840-dk'" in line and "did you mean" in line and "'nrf52840dk'" in line


# ---- size classification, without RIOT ----

def _section(flags, addr, size=16, nobits=False):
    return {"sh_flags": flags, "sh_addr": addr, "sh_size": size, "sh_type": "SHT_NOBITS" if nobits else "SHT_PROGBITS"}


def test_sections_are_classified_by_region_then_flags():
    """What each linker script makes of a section: hifive1b's map (flash at
    0x20010000, RAM at 0x80000000); RIOT's RISC-V .rodata is writable in flash."""
    A, W, X = 0x2, 0x1, 0x4  # SHF_ALLOC, SHF_WRITE, SHF_EXECINSTR
    regions = firmware.link_regions(boards.get("hifive1b"), True)
    classify = elfsize._classify
    assert classify(_section(A | W, 0x20014390), regions) == "rodata"  # RIOT RISC-V .rodata
    assert classify(_section(A | W, 0x20014390)) == "data"  # no map: writable is RAM
    assert classify(_section(A | X, 0x20010080), regions) == "text"
    assert classify(_section(A | W, 0x80000000), regions) == "data"
    assert classify(_section(A | W, 0x80000070, nobits=True), regions) == "bss"
    assert classify(_section(A, 0x80000000), regions) == "data"  # read-only but in RAM: it takes RAM
    assert classify(_section(W, 0)) is None and classify(_section(A, 0x20010000, size=0), regions) is None
    # bare metal: the stand-in's origins; native64 and the host: no map
    assert firmware.link_regions(boards.get("nrf52840dk"), False)["ram"]["origin"] == 0x20000000
    assert firmware.link_regions(boards.get("native64"), True) is None
    assert firmware.link_regions(boards.get("native"), False) is None


# ---- real boards: RIOT's firmware built for the chip and sized (no run) ----

def _riot_sizes(tmp_path, board):
    """Build lenet5 for the board through RIOT (the firmware and its sizes,
    nothing run): (sizes.json, riot.json, the model's metadata)."""
    base = _riot_or_skip()
    pair = tmp_path / board / "lenet5@serial"
    scons(tmp_path, f"board={board}", "model=lenet5", "runner=serial", f"riotbase={base}", str(pair / "sizes.json"))
    (meta_dir,) = (tmp_path / "codegen").iterdir()  # the one model's codegen
    return (json.loads((pair / "sizes.json").read_text()), json.loads((pair / "riot.json").read_text()),
            json.loads((meta_dir / "metadata.json").read_text()), pair / "firmware.elf")


def _ram(sizes):
    return sizes["ram"]["data"] + sizes["ram"]["bss"]


def _flash(sizes):
    return sizes["flash"]["text"] + sizes["flash"]["rodata"] + sizes["flash"]["data"]


@pytest.mark.riot
def test_cortex_m_riot_build_and_sizes(tmp_path):
    """nrf52840dk (Cortex-M4F): the harness and the model compile under RIOT's
    -Werror (the stack painter once failed -Warray-bounds there, the
    executor's arena casts -Wcast-align), and RIOT's script, which puts
    .rodata inside .text, still shows the weights: by symbol."""
    sizes, info, meta, elf = _riot_sizes(tmp_path, "nrf52840dk")
    board = boards.get("nrf52840dk")
    assert "FEATURES_REQUIRED" not in info["env"]
    assert sizes["flash"]["model"]["weights"] == meta["weights_bytes"] > 0
    assert sizes["flash"]["model"]["code"] > 0
    assert sizes["ram"]["model"]["arena"] == meta["memory"]["arena_bytes"] and sizes["ram"]["model"]["other"] == 0
    assert 0 < _ram(sizes) < board.ram_bytes and meta["weights_bytes"] < _flash(sizes) < board.flash_bytes
    # RIOT's threads' stacks (the harness's included) are in .bss
    assert sizes["ram"]["bss"] > riot.STACK_BYTES


@pytest.mark.riot
def test_riscv_riot_build_and_sizes(tmp_path):
    """hifive1b (FE310, RV32IMAC): built with picolibc (set by utoe in make's
    environment); RIOT's RISC-V script makes .rodata writable, but it lies in
    flash: the weights are flash, not RAM, and lenet5 fits the 16 KiB."""
    sizes, info, meta, elf = _riot_sizes(tmp_path, "hifive1b")
    board = boards.get("hifive1b")
    assert info["env"]["FEATURES_REQUIRED"] == "picolibc"
    assert sizes["flash"]["model"]["weights"] == meta["weights_bytes"] > 0
    assert sizes["ram"]["model"]["other"] == 0 and sizes["ram"]["data"] < meta["weights_bytes"]
    assert sizes["ram"]["model"]["arena"] == meta["memory"]["arena_bytes"]
    assert _ram(sizes) < board.ram_bytes == 16384
    assert meta["weights_bytes"] < _flash(sizes) < board.flash_bytes
    # read by flags alone (no memory map), the writable .rodata would be RAM: the map is what tells
    by_flags = elfsize.sizes(str(elf))
    assert _ram(by_flags) > _ram(sizes) + meta["weights_bytes"] - 1024
    assert elfsize.sizes(str(elf), firmware.link_regions(board, True)) == dict(sizes, elf=str(elf))
