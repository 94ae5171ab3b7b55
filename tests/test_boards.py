"""Boards are data: every file loads, the paper's boards are all there, and a
malformed file fails naming the file and the field."""

import re

import pytest

from tests.scons_helpers import Build
from utoe import boards
from utoe.errors import BoardError

PAPER_BOARDS = ("b-l072z-lrwan1", "samr21-xpro", "samr30-xpro", "samr34-xpro", "arduino-zero", "rpi-pico",
                "openmote-b", "iotlab-m3", "nucleo-wl55jc", "nrf52dk", "nrf52840dk", "b-l475e-iot01a",
                "stm32f746g-disco", "esp32-wroom-32", "esp32c3-devkit", "sipeed-longan-nano", "hifive1b")


def test_every_board_file_loads_and_the_paper_boards_are_there():
    loaded = {b.name: b for b in boards.all_boards()}
    assert set(PAPER_BOARDS) <= set(loaded)
    for name in PAPER_BOARDS:
        b = loaded[name]
        assert b.riot_board == name and b.clock_hz and b.ram_bytes and b.flash_bytes
        if b.qemu:  # the stand-in holds the board's memory
            for region in ("flash", "ram"):
                assert b.memory[region]["length"] <= b.qemu[region]["length"]


def test_paper_clocks_match_the_paper():
    import os

    from tests.conftest import SHARED_MODELS

    path = os.path.join(os.path.dirname(SHARED_MODELS), "reference", "utoe_paper_results.md")
    if not os.path.exists(path):
        pytest.skip(f"{path} absent (../shared/reference)")
    with open(path) as f:
        text = f.read()
    for name, mhz in re.findall(r"^\| ([\w-]+) \| .+? @ (\d+) MHz \|", text, re.M):
        assert boards.get(name).clock_hz == int(mhz) * 1_000_000, name


GOOD = (boards.BOARDS_DIR + "/nrf52840dk.toml")


def _write(tmp_path, text, name="nrf52840dk"):
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('core = "cortex-m4"\n', ""), "missing required field 'core'"),
    (lambda t: t.replace("clock_hz = 64000000", 'clock_hz = "64 MHz"'), "field 'clock_hz' must be int"),
    (lambda t: t.replace("clock_hz =", "clok_hz ="), "unknown field 'clok_hz' — did you mean 'clock_hz'?"),
    (lambda t: t.replace('core = "cortex-m4"', 'core = "cortex-m5"'), "field 'core' is 'cortex-m5'; one of"),
    (lambda t: t.replace("ram_bytes = 262144", "ram_bytes = 262145"),
     "field 'ram_bytes' is 262145 but memory.ram.length is 262144"),
    (lambda t: t.replace("ram = { origin = 0x20000000, length = 0x00400000 }",
                         "ram = { origin = 0x20000000, length = 0x00010000 }"),
     "the board's ram (262144 bytes) does not fit its stand-in 'mps2-an386'"),
    (lambda t: t.replace("[qemu]\n", "[qemu]\nmachin = 1\n"), "[qemu]: unknown field 'machin'"),
    (lambda t: t + "\n[[", "not valid TOML"),
])
def test_malformed_board_names_the_field(tmp_path, edit, message):
    with open(GOOD) as f:
        text = f.read()
    d = _write(tmp_path, edit(text))
    with pytest.raises(BoardError) as e:
        boards.get("nrf52840dk", directory=str(d))
    assert "nrf52840dk.toml" in str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize("name, edit, message", [
    # the stand-in's ISA: an M4F build on the Cortex-M3 of mps2-an385
    ("nrf52840dk", lambda t: t.replace('machine = "mps2-an386"', 'machine = "mps2-an385"'),
     "machine 'mps2-an385' (Cortex-M3) cannot run a cortex-m4 build: a stand-in needs the same ISA or a superset; "
     "use mps2-an386 or mps2-an500"),
    ("nrf52840dk", lambda t: t.replace('machine = "mps2-an386"', 'machine = "mps2-an368"'),
     "[qemu] field 'machine': unknown stand-in machine 'mps2-an368' — did you mean 'mps2-an386'"),
    ("nrf52840dk", lambda t: t.replace('system = "qemu-system-arm"', 'system = "qemu-system-riscv32"'),
     "[qemu] field 'system' is 'qemu-system-riscv32' but machine 'mps2-an386' is qemu-system-arm's"),
    # a board whose memory exceeds its stand-in's: the Longan Nano's 32 KiB on sifive_e's 16 KiB DTIM
    ("sipeed-longan-nano", lambda t: t[:t.index("[qemu]")] + _qemu_table("sifive_e"),
     "the board's ram (32768 bytes) does not fit its stand-in 'sifive_e,revb=true' (ram 16384 bytes)"),
    ("nrf52840dk", lambda t: t.replace('arch = "armv7e-m+fp"', 'arch = "armv7-m"'),
     "field 'arch' is 'armv7-m' but a cortex-m4 core is armv7e-m or armv7e-m+fp"),
    ("nrf52840dk", lambda t: t.replace('platform = "cortex-m"', 'platform = "riscv"'),
     "field 'platform' is 'riscv' but arch 'armv7e-m+fp' builds for platform 'cortex-m'"),
    ("nrf52840dk", lambda t: t.replace('"-mcpu=cortex-m4"', '"-mcpu=cortex-m3"'),
     "field 'toolchain.cflags' lacks '-mcpu=cortex-m4'"),
    ("nrf52840dk", lambda t: t.replace('"-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"', '"-mfloat-abi=soft"'),
     "field 'toolchain.cflags' must have '-mfloat-abi=hard' and an -mfpu for arch 'armv7e-m+fp'"),
    ("hifive1b", lambda t: t.replace('"-march=rv32imac"', '"-march=rv32imc"'),
     "field 'toolchain.cflags' lacks '-march=rv32imac'"),
    ("nrf52840dk", lambda t: t.replace('"serial", "iotlab"]', '"serial", "iotlob"]'),
     "field 'runners': unknown runner 'iotlob' — did you mean 'iotlab'"),
    ("nrf52840dk", lambda t: t.replace('iotlab_arch = "nrf52840dk:multi"\n', ""),
     "field 'runners' has 'iotlab' but field 'iotlab_arch' is missing"),
    ("nrf52840dk", lambda t: t.replace('runners = ["qemu", ', "runners = ["),
     "field 'runners' lacks 'qemu' but the board has a [qemu] stand-in"),
    ("nrf52840dk", lambda t: t.replace("flash_bytes = 1048576\n", ""),
     "missing field 'flash_bytes', required for a board of type 'mcu'"),
    ("nrf52840dk", lambda t: t.replace("length = 0x00100000", "length = 0x00100000, size = 1"),
     "[memory] flash: unknown field 'size'"),
    ("nrf52840dk", lambda t: t.replace("tick_hz = 25000000", "tick_hz = 0"),
     "field 'tick_hz' is 0; it must be positive"),
    ("mps2-an385", lambda t: t[:t.index("[qemu]")].replace('runners = ["qemu"]', 'runners = ["serial"]'),
     "missing table [qemu], required for a board of type 'qemu'"),
])
def test_inconsistent_board_names_the_field(tmp_path, name, edit, message):
    with open(f"{boards.BOARDS_DIR}/{name}.toml") as f:
        text = f.read()
    d = _write(tmp_path, edit(text), name)
    with pytest.raises(BoardError) as e:
        boards.get(name, directory=str(d))
    assert f"{name}.toml" in str(e.value)
    assert message in str(e.value)


def _qemu_table(machine_board):
    with open(f"{boards.BOARDS_DIR}/{machine_board}.toml") as f:
        text = f.read()
    return text[text.index("[qemu]"):]


def test_stand_ins_are_the_machines_own_boards():
    """Each board's [qemu] table is, region for region, the one of the QEMU
    machine's own board file (type "qemu"), and runs the board's core; a
    machine that is the board's own chip and nothing else's (microbit) is
    its board's, with the board's memory map."""
    machines = {b.qemu["machine"]: b for b in boards.all_boards() if b.type == "qemu"}
    for b in boards.all_boards():
        q = boards.stand_in(b)
        if q is None:
            continue
        if q.get("chip") and q["machine"] not in machines:
            assert q["flash"] == b.memory["flash"] and q["ram"] == b.memory["ram"], b.name
            machines[q["machine"]] = b
        assert q["machine"] in machines, (b.name, q["machine"])
        own = machines[q["machine"]].qemu
        for key in ("system", "debian_package", "flash", "ram", "tick_hz"):
            assert q[key] == own[key], (b.name, key)
        assert q.get("args", []) == own.get("args", []), b.name
        assert b.core in boards.STAND_INS[q["machine"].split(",")[0]][2]
        assert "qemu" in b.runners
    assert boards.stand_in("esp32-wroom-32") is None
    assert boards.stand_in("hifive1b")["machine"] == "sifive_e,revb=true"
    assert boards.stand_in("stm32f746g-disco")["machine"] == "mps2-an500"


def _mtree(system, machine, args):
    """(start, end) of every RAM/ROM region QEMU's monitor shows for a machine."""
    import shutil
    import subprocess

    if not shutil.which(system):
        pytest.skip(f"{system} not installed")
    proc = subprocess.run([system, "-M", machine, *args, "-display", "none", "-S", "-monitor", "stdio",
                           "-serial", "null"], input="info mtree -f\nquit\n", capture_output=True, text=True,
                          timeout=30)
    return [(int(a, 16), int(b, 16)) for a, b in
            re.findall(r"^\s*([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, (?:ram|rom|romd)\)", proc.stdout, re.M)]


@pytest.mark.qemu
@pytest.mark.parametrize("machine_board", ["mps2-an385", "mps2-an386", "mps2-an500", "sifive_e", "virt-rv32"])
def test_stand_in_regions_are_memory_of_the_machine(machine_board):
    q = boards.stand_in(machine_board)
    regions = _mtree(q["system"], q["machine"], q.get("args", []))
    for name in ("flash", "ram"):
        start, end = q[name]["origin"], q[name]["origin"] + q[name]["length"] - 1
        assert any(a <= start and end <= b for a, b in regions), (machine_board, name, hex(start), regions)


def test_unknown_board_suggests(tmp_path):
    with pytest.raises(BoardError, match="unknown board 'hifive1' — did you mean 'hifive1b'"):
        boards.get("hifive1")


def test_board_list_shows_every_board(project_copy):
    out = Build(project_copy).scons("board=list").stdout
    for name in boards.names():
        assert re.search(rf"^{re.escape(name)}\s", out, re.M), name
    assert "mps2-an385" in out and "sifive_e,revb=true" in out
