"""os=riot under QEMU: on the boards whose chip QEMU emulates (hifive1b:
sifive_e,revb=true; microbit: microbit), the RIOT firmware itself, as it
would be flashed, runs under QEMU through the live-console protocol, with
utoe's instruction-count plugin; its outputs are bit-exact against the
reference, its instructions counted per operator, its latency estimated
from them. The bare-metal build of the same board keeps its own pair.

The end-to-end tests use real RIOT (the tree ./setup.sh installs, or
$RIOTBASE) and real QEMU; the configuration tests run everywhere."""

import json
import os
import sys

import pytest

from tests.test_riot import _riot_or_skip, error_line, fake_riot_tree, scons  # noqa: F401 (a fixture)
from utoe import boards, config, riot
from utoe.errors import ConfigError, RunError


def _result(build, board, variant="+os-riot", model="lenet5"):
    with open(os.path.join(build, board, model + variant, "result.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def riot_qemu_build(tmp_path_factory):
    """lenet5 through RIOT (the default where a RIOT tree is there) on
    hifive1b and microbit, and bare-metal on hifive1b beside it, in one
    build tree."""
    _riot_or_skip()
    build = str(tmp_path_factory.mktemp("riot-qemu") / "build")
    scons(build, "board=hifive1b,microbit", "model=lenet5", riotbase=riot.base())
    scons(build, "board=hifive1b", "model=lenet5", "os=baremetal")
    return build


@pytest.mark.riot
@pytest.mark.parametrize("board", ["hifive1b", "microbit"])
def test_riot_firmware_runs_under_qemu(riot_qemu_build, board):
    r = _result(riot_qemu_build, board)
    assert r["status"] == "ok" and r["runner"] == "qemu-riot"
    assert r["firmware"] == {"os": "riot", "run": {"os": "riot", "machine": boards.get(board).qemu["machine"],
                                                   "emulates": "chip"}}
    assert r["validation"]["exact"] and r["validation"]["ok"] and r["validation"]["reference"] == "tflite-builtin-ref"
    # RIOT's time is not the board's under QEMU (sifive_e: ~305x fast): latency from the counts
    assert r["latency"]["kind"] == "estimated" and r["instructions"]["kind"] == "emulated"
    assert r["ram"]["kind"] == r["flash"]["kind"] == "measured"
    assert r["instructions"]["per_inference"] > 1_000_000
    ops = [o for o in r["operators"] if o.get("alias_of") is None]
    assert ops and all(o["instructions"] > 0 for o in ops)
    assert sum(o["instructions"] for o in r["operators"]) <= r["instructions"]["per_inference"]
    assert r["tools"]["riot"] and r["tools"]["machine"] == boards.get(board).qemu["machine"]
    # RIOT's sizes, on the board's memory map: lenet5 fits its 16 KiB of RAM
    b = boards.get(board)
    assert r["ram"]["stack_in_static"] and r["ram"]["total_bytes"] < b.ram_bytes == 16384
    assert r["flash"]["model"]["weights"] > 40_000
    # the evaluation runs on RIOT's main stack, sized riot.STACK_BYTES: its peak (from the stack's top,
    # RIOT's boot included) leaves over 1.5 KB unused
    assert 0 < r["stack_peak_bytes"] < riot.STACK_BYTES - 1500, r["stack_peak_bytes"]
    with open(os.path.join(riot_qemu_build, board, "lenet5+os-riot", "riot.json")) as f:
        info = json.load(f)
    assert info["riot_board"] == board
    # microbit: QEMU's nRF51 lacks RTC1, so the QEMU build moves ztimer_msec off it; hifive1b needs nothing
    assert info["env"].get("USEMODULE") == ("ztimer_no_periph_rtt" if board == "microbit" else None)


@pytest.mark.riot
def test_riot_and_baremetal_keep_their_own_pairs(riot_qemu_build):
    bare, rt = _result(riot_qemu_build, "hifive1b", ""), _result(riot_qemu_build, "hifive1b")
    assert bare["runner"] == "qemu" and "riot" not in bare["tools"] and bare["firmware"]["os"] == "baremetal"
    assert bare["checksum"] == rt["checksum"] and bare["validation"]["exact"]
    assert not os.path.exists(os.path.join(riot_qemu_build, "hifive1b", "lenet5", "riot.json"))


@pytest.mark.riot
def test_a_qemu_exit_before_the_end_is_a_failure(riot_qemu_build, monkeypatch, tmp_path):
    """QEMU 7.2 exits 0 on SIGINT/SIGTERM: an emulator that goes away
    mid-run (here: one that boots, says ready, and exits 0) is a failed run,
    with no log and no counts left."""
    from utoe.runners.qemu_riot import QemuRiotRunner

    elf = os.path.join(riot_qemu_build, "hifive1b", "lenet5+os-riot", "firmware.elf")
    pair = tmp_path / "pair"
    pair.mkdir()
    for name in ("firmware.elf", "riot.json"):
        (pair / name).write_bytes(open(os.path.join(os.path.dirname(elf), name), "rb").read())
    fake = [sys.executable, "-c", "import sys, time; print('utoe: ready board=hifive1b model=lenet5', flush=True); "
            "sys.stdin.readline(); print('utoe: start run=', flush=True); sys.exit(0)"]
    monkeypatch.setattr(QemuRiotRunner, "command", lambda self, elf_path, plugin_args: fake)
    runner = QemuRiotRunner(boards.get("hifive1b"), 20)
    with pytest.raises(RunError, match="exited with status 0 before the run completed"):
        runner.run(str(pair / "firmware.elf"), str(pair / "run.log"))
    assert not (pair / "run.log").exists() and not (pair / "icount.json").exists()


@pytest.mark.riot
def test_riot_on_a_stand_in_is_sized_and_the_bare_metal_build_runs(tmp_path):
    """nrf52dk's QEMU machine (mps2-an386) is a stand-in: RIOT's firmware is
    built and sized (measured, the board's memory map), the latency is the
    bare-metal build's on the stand-in (instructions emulated, latency
    estimated), and result.json says which firmware is which."""
    _riot_or_skip()
    build = str(tmp_path / "build")
    scons(build, "board=nrf52dk", "model=lenet5", "os=riot")
    r = _result(build, "nrf52dk")
    pair = os.path.join(build, "nrf52dk", "lenet5+os-riot")
    assert r["runner"] == "qemu" and r["validation"]["exact"] and r["tools"]["riot"]
    assert r["firmware"] == {"os": "riot", "run": {"os": "baremetal", "machine": "mps2-an386", "emulates": "stand-in"}}
    assert r["latency"]["kind"] == "estimated" and r["instructions"]["kind"] == "emulated"
    assert r["ram"]["kind"] == r["flash"]["kind"] == "measured" and r["ram"]["stack_in_static"]
    with open(os.path.join(pair, "sizes.json")) as f:
        sizes = json.load(f)
    assert r["flash"]["total_bytes"] == sizes["flash"]["text"] + sizes["flash"]["rodata"] + sizes["flash"]["data"]
    assert os.path.isfile(os.path.join(pair, "riot.json"))  # the sized firmware is RIOT's
    assert os.path.isfile(os.path.join(pair, "standin", "icount.json"))  # the run, the bare-metal one's
    assert not os.path.exists(os.path.join(pair, "standin", "riot.json"))


@pytest.mark.riot
def test_selection_says_which_firmware_each_figure_is_from(riot_qemu_build):
    from utoe import report

    rs = [_result(riot_qemu_build, "microbit"), _result(riot_qemu_build, "hifive1b", "")]
    info = {b: {"core": boards.get(b).core, "clock_hz": boards.get(b).clock_hz} for b in ("microbit", "hifive1b")}
    notes = report.selection_table(rs, info).splitlines()
    assert "Memory and storage of RIOT's firmware (os=riot; its stacks are in .bss) on: microbit" in notes
    assert "bare-metal firmware on: hifive1b" in notes
    assert any(n.startswith("Instructions of RIOT's firmware itself, run on QEMU's emulation of the board's chip, "
                            "on: microbit;") for n in notes)
    # without os=riot, the table is what it was
    assert "RIOT" not in report.selection_table(rs[1:], info)


@pytest.mark.riot
def test_board_all_through_riot_plans_riot_builds(tmp_path):
    """board=all os=riot (planned with -n, nothing built): every board the
    RIOT tree has gets a '+os-riot' pair, the one it lacks (esp32c3-devkit)
    is evaluated bare-metal and says so."""
    _riot_or_skip()
    build = str(tmp_path / "build")
    proc = scons(build, "-n", "board=all", "model=sinus", "os=riot")
    assert "utoe: esp32c3-devkit: evaluated bare-metal (os=riot: board 'esp32c3-devkit': RIOT at" in proc.stdout
    assert "firmware microbit/sinus+os-riot" in proc.stdout and "firmware nrf52dk/sinus+os-riot" in proc.stdout
    assert "run      nrf52dk/sinus+os-riot (qemu)" in proc.stdout
    assert "run      hifive1b/sinus+os-riot (qemu-riot)" in proc.stdout
    assert "esp32c3-devkit/sinus+os-riot" not in proc.stdout


# ---- configuration, everywhere ----

def test_os_selects_the_runner_and_the_pair(monkeypatch, fake_riot_tree):
    monkeypatch.setenv("RIOTBASE", str(fake_riot_tree))
    monkeypatch.setattr(riot, "check_board", lambda base, board: board.riot_board)
    # with a RIOT tree, RIOT's firmware is the default, as U-TOE evaluates
    assert config.settings("hifive1b", "lenet5").os == "riot"
    bare = config.settings("hifive1b", "lenet5", os_name="baremetal")
    assert bare.os == "baremetal" and bare.runner == "qemu"
    assert bare.pair_dir("b") == "b/hifive1b/lenet5" and bare.riotbase is None
    rt = config.settings("microbit", "lenet5", os_name="riot")
    assert rt.runner == "qemu-riot" and rt.os == "riot" and rt.riotbase == str(fake_riot_tree)
    assert rt.pair_dir("b") == "b/microbit/lenet5+os-riot"
    assert config.settings("microbit", "lenet5", os_name="riot", mode="per-operator").pair_dir("b") == \
        "b/microbit/lenet5+per-operator+os-riot"
    # a stand-in is not the board's chip: RIOT's firmware is built and sized, the bare-metal one runs
    standin = config.settings("nrf52dk", "lenet5", os_name="riot")
    assert standin.runner == "qemu" and standin.stand_in_run() and standin.riotbase == str(fake_riot_tree)
    assert standin.pair_dir("b") == "b/nrf52dk/lenet5+os-riot"
    assert standin.bare_metal().riotbase is None and not standin.bare_metal().stand_in_run()
    assert not rt.stand_in_run() and not bare.stand_in_run()
    # the host and QEMU's own machines have no RIOT build: os=riot leaves them bare-metal (board lists mix them)
    for name in ("native", "sifive_e"):
        s = config.settings(name, "sinus", os_name="riot")
        assert s.os == "baremetal" and s.riotbase is None and s.pair_dir("b") == f"b/{name}/sinus"
    # a real board runs RIOT anyway: no '+os-' part
    serial = config.settings("hifive1b", "lenet5", runner="serial")
    assert serial.os == "riot" and serial.pair_dir("b") == "b/hifive1b/lenet5@serial"


def test_os_errors():
    with pytest.raises(ConfigError, match=r"os=linux: choose one of riot, baremetal"):
        config.settings("hifive1b", "lenet5", os_name="linux")
    with pytest.raises(ConfigError, match=r"os=baremetal: runner=serial runs firmware built by RIOT"):
        config.settings("hifive1b", "lenet5", os_name="baremetal", runner="serial")


def test_os_riot_without_riot(tmp_path, project_copy, monkeypatch):
    """A project copy has no third_party/: os=riot says RIOT is missing, in one line."""
    from tests.scons_helpers import Build

    monkeypatch.delenv("RIOTBASE", raising=False)
    line = error_line(Build(project_copy).scons("board=microbit", "model=lenet5", "os=riot", check=False))
    assert "board 'microbit' with os=riot runs firmware built by RIOT under QEMU: RIOT is not installed" in line


def test_microbit_board():
    b = boards.get("microbit")
    assert b.core == "cortex-m0" and b.ram_bytes == 16384 and b.flash_bytes == 262144 and b.clock_hz == 16_000_000
    assert b.qemu["machine"] == "microbit" and b.qemu["chip"] and b.riot_board == "microbit"
    assert b.qemu["riot_modules"] == ["ztimer_no_periph_rtt"]
