"""The timing model's data (issue 15): every real board with a QEMU stand-in
has a [timing] section and a cores file with every instruction class, loading
exposes them as board.timing, and a malformed section or cores file fails
naming the file and the field."""

import os
import re
import shutil

import pytest

from utoe import boards
from utoe.errors import BoardError

# The paper's boards with a stand-in (esp32-wroom-32 has none: Debian's QEMU has no ESP32).
TIMED = ("arduino-zero", "samr21-xpro", "samr30-xpro", "samr34-xpro", "b-l072z-lrwan1", "rpi-pico", "openmote-b",
         "iotlab-m3", "nucleo-wl55jc", "nrf52dk", "nrf52840dk", "b-l475e-iot01a", "stm32f746g-disco", "hifive1b",
         "sipeed-longan-nano", "esp32c3-devkit", "microbit")


def test_every_shipped_board_loads_and_real_boards_with_a_stand_in_have_timing():
    loaded = {b.name: b for b in boards.all_boards()}
    for b in loaded.values():
        if b.type == "mcu" and b.qemu:
            assert b.timing is not None, b.name
    for name in TIMED:
        t = loaded[name].timing
        assert t["cycles"] == loaded[name].core
        assert set(t["cycles_per_class"]) == set(boards.CYCLE_CLASSES), name
        assert t["core_file"] == f"boards/cores/{t['cycles']}.toml"
        assert os.path.exists(os.path.join(os.path.dirname(boards.BOARDS_DIR), t["core_file"]))
        assert isinstance(t["flash_prefetch"], bool) and t["flash_line_bytes"] > 0
    assert loaded["esp32-wroom-32"].timing is None and loaded["native"].timing is None


def test_every_cores_file_has_a_source_and_every_class():
    names = sorted(f[:-5] for f in os.listdir(boards.CORES_DIR) if f.endswith(".toml"))
    used = {b.timing["cycles"] for b in boards.all_boards() if b.timing}
    assert used <= set(names)
    for name in names:
        core = boards.load_core(name)
        assert core["source"].strip(), name
        assert list(core["cycles"]) == list(boards.CYCLE_CLASSES) or set(core["cycles"]) == set(boards.CYCLE_CLASSES)


def test_board_figures_carry_a_comment():
    """In a real board's [timing], every wait-state, line and miss figure has
    its source (or 'NOT SOURCED') in a comment on its line."""
    for name in TIMED:
        with open(os.path.join(boards.BOARDS_DIR, f"{name}.toml")) as f:
            text = f.read()
        timing = text[text.index("[timing]"):]
        for line in timing.splitlines():
            if re.match(r"(flash_wait_states|flash_line_bytes|flash_prefetch|miss_cycles|"
                        r"flash_sequential_wait_states)\s*=", line):
                assert "#" in line, (name, line)


def _copy(tmp_path, name="nrf52840dk", cores=False):
    d = tmp_path / "boards"
    d.mkdir()
    shutil.copy(os.path.join(boards.BOARDS_DIR, f"{name}.toml"), d)
    if cores:
        shutil.copytree(boards.CORES_DIR, d / "cores")
    return d


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old, new, message", [
    # no [timing] at all
    (None, None, "missing table [timing], required for a board with a [qemu] stand-in"),
    ("flash_wait_states = 2", 'flash_wait_states = "2"', "[timing]: field 'flash_wait_states' must be int, not str"),
    ("flash_prefetch = false", "flash_prefetch = 0", "[timing]: field 'flash_prefetch' must be bool, not int"),
    ("flash_line_bytes = 4", "flash_line_bytes = 0", "[timing]: field 'flash_line_bytes' is 0; it must be positive"),
    ("flash_wait_states = 2", "flash_wait_states = -1", "field 'flash_wait_states' is -1; it must be zero or positive"),
    ("ram_wait_states = 0", "ram_waitstates = 0", "[timing]: unknown field 'ram_waitstates' — did you mean "
                                                  "'ram_wait_states'"),
    ("ram_wait_states = 0", "", "[timing]: missing required field 'ram_wait_states'"),
    ('cycles = "cortex-m4"', 'cycles = "cortex-m3"', "[timing]: field 'cycles' is 'cortex-m3' but the board's core "
                                                     "is 'cortex-m4'"),
    ("ram_wait_states = 0", "ram_wait_states = 0\n[timing.icache]\nsize_bytes = 1000\nways = 2\nline_bytes = 32\n"
                            "miss_cycles = 5",
     "[timing.icache]: size_bytes 1000 is not a multiple of ways × line_bytes"),
    ("ram_wait_states = 0", "ram_wait_states = 0\n[timing.dcache]\nsize_bytes = 1024\nways = 2\nline_bytes = 32",
     "[timing.dcache]: missing required field 'miss_cycles'"),
])
def test_a_malformed_timing_section_names_the_file_and_field(tmp_path, old, new, message):
    d = _copy(tmp_path)
    path = d / "nrf52840dk.toml"
    if old is None:
        text = path.read_text()
        path.write_text(text[:text.index("\n[timing]")] + "\n")
    else:
        _edit(path, old, new)
    with pytest.raises(BoardError) as e:
        boards.get("nrf52840dk", directory=str(d))
    assert "nrf52840dk.toml" in str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize("old, new, message", [
    ("\nfpu = 1", "\nfpu = 1\nsimd = 1", "[cycles]: unknown instruction class 'simd'"),
    ("\nmac = 1", "\nmla = 1", "[cycles]: unknown instruction class 'mla' — did you mean 'mul' or 'mac'"),
    ("\nfpu = 1", "\n", "[cycles]: missing required field 'fpu'"),
    ("\nalu = 1", '\nalu = "1"', "[cycles]: field 'alu' must be a number, not str"),
    ("\nalu = 1", "\nalu = true", "[cycles]: field 'alu' must be a number, not bool"),
    ("\nload_use = 0", "\nload_use = -1", "[cycles]: field 'load_use' is -1; it must be a finite number, not negative"),
    ("\ndiv = 12", "\ndiv = nan", "[cycles]: field 'div' is nan; it must be a finite number"),
    ('source = "', 'sauce = "', "unknown field 'sauce' — did you mean 'source'?"),
])
def test_a_malformed_cores_file_names_both_files_and_the_class(tmp_path, old, new, message):
    d = _copy(tmp_path, cores=True)
    _edit(d / "cores" / "cortex-m4.toml", old, new)
    with pytest.raises(BoardError) as e:
        boards.get("nrf52840dk", directory=str(d))
    assert "nrf52840dk.toml [timing] field 'cycles'" in str(e.value)
    assert "cortex-m4.toml" in str(e.value)
    assert message in str(e.value)


def test_a_missing_cores_file_is_named(tmp_path):
    d = _copy(tmp_path, cores=True)
    os.remove(d / "cores" / "cortex-m4.toml")
    with pytest.raises(BoardError, match=r"nrf52840dk\.toml \[timing\] field 'cycles': .*cortex-m4\.toml: "
                                         r"no such cores file"):
        boards.get("nrf52840dk", directory=str(d))


def test_timing_merges_the_cores_cycles():
    b = boards.get("hifive1b")
    assert b.timing["cycles_per_class"] == boards.load_core("sifive-e31")["cycles"]
    assert b.timing["core_file"] == "boards/cores/sifive-e31.toml"
    # 64-byte lines: freedom-e-sdk bsp/sifive-hifive1-revb/core.dts; a fill (3 + 8 + 24 + 64 x 8) SCK x 8 = 4376
    # (3 SCK of CS delays: sifive-blocks SPIMedia / SPIControl.init)
    assert b.timing["icache"] == {"size_bytes": 16384, "ways": 2, "line_bytes": 64, "miss_cycles": 4376}
    assert "dcache" not in b.timing  # the FE310 has none: flash data loads go to QSPI every time
    # the dicts are copies: editing one board's timing leaves the next load alone
    b.timing["icache"]["ways"] = 99
    assert boards.get("hifive1b").timing["icache"]["ways"] == 2


def test_a_qemu_machine_needs_timing_too(tmp_path):
    """A QEMU machine's own board is estimated like any other: no [timing], no board."""
    d = _copy(tmp_path, "mps2-an385")
    path = d / "mps2-an385.toml"
    text = path.read_text()
    path.write_text(text[:text.index("\n# The QEMU machine itself")] + "\n")
    with pytest.raises(BoardError, match=r"mps2-an385.toml: missing table \[timing\]"):
        boards.get("mps2-an385", directory=str(d))


def test_a_board_directory_with_its_own_cores_uses_them(tmp_path):
    """A board directory with a cores/ of its own (a test's copy) takes its
    cores files from there, named by their absolute path."""
    d = _copy(tmp_path, cores=True)
    _edit(d / "cores" / "cortex-m4.toml", "\nalu = 1", "\nalu = 2")
    t = boards.get("nrf52840dk", directory=str(d)).timing
    assert t["cycles_per_class"]["alu"] == 2
    assert t["core_file"] == str(d / "cores" / "cortex-m4.toml")
