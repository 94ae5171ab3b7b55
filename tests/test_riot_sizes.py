"""LeNet-5's RIOT firmware against the U-TOE paper's RAM and flash (issue 14,
item 4; benchmarks/riot_boards.py builds every paper board): the evaluation
runs in RIOT's main thread on the stack utoe sized (riot.STACK_BYTES, no
second thread), RAM at or below the paper's figure, flash at or below it
+ 1 KB where the kernels are utoe's own. That the stack holds the evaluation
with its margin is checked on the RIOT firmwares QEMU runs
(tests/test_riot_qemu.py, hifive1b and microbit).

Real RIOT builds (the tree ./setup.sh installs, or $RIOTBASE); skipped only
where there is none."""

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from benchmarks import riot_boards
from utoe import riot
from utoe.errors import ConfigError

pytestmark = pytest.mark.riot


def _base():
    try:
        return riot.base()
    except ConfigError as e:
        pytest.skip(f"no RIOT tree: {e}")


def _symbols(elf, *names):
    with open(elf, "rb") as f:
        tab = next(s for s in ELFFile(f).iter_sections() if isinstance(s, SymbolTableSection))
        return {n: [sym["st_size"] for sym in tab.get_symbol_by_name(n) or []] for n in names}


def test_main_stack_is_utoe_s_and_ram_flash_within_the_paper(tmp_path):
    """nrf52840dk (Cortex-M4F, CMSIS-NN by default) and rpi-pico (Cortex-M0+,
    utoe's own kernels, RIOT's 16 KiB .pico-debug reservation)."""
    base = _base()
    paper = riot_boards.paper_lenet5()
    for board in ("nrf52840dk", "rpi-pico"):
        sizes, info = riot_boards.build_sizes(str(tmp_path), board, base)
        syms = _symbols(sizes["elf"], "main_stack", "eval_stack")
        assert syms == {"main_stack": [riot.STACK_BYTES], "eval_stack": []}, board  # one stack, the size utoe set
        s = riot_boards.split(sizes)
        pram = round(paper[board]["memory_kb"] * riot_boards.KB)
        pflash = round(paper[board]["storage_kb"] * riot_boards.KB)
        assert s["ram_bytes"] <= pram, (board, s["ram_bytes"], pram)
        assert s["ram_model"]["arena"] > 0 and s["ram_riot"] > riot.STACK_BYTES
        if board == "rpi-pico":
            assert riot_boards.reserved(sizes["elf"]) == {".pico-debug": 16384}
            assert s["flash_bytes"] <= pflash + riot_boards.FLASH_SLACK
        else:  # CMSIS-NN's code: the flash the paper lacks (benchmarks/riot_boards.py builds kernels=tvm too)
            assert s["flash_model"]["code"] > 5000
