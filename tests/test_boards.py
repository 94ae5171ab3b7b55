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


def test_unknown_board_suggests(tmp_path):
    with pytest.raises(BoardError, match="unknown board 'hifive1' — did you mean 'hifive1b'"):
        boards.get("hifive1")


def test_board_list_shows_every_board(project_copy):
    out = Build(project_copy).scons("board=list").stdout
    for name in boards.names():
        assert re.search(rf"^{re.escape(name)}\s", out, re.M), name
    assert "mps2-an385" in out and "sifive_e,revb=true" in out
