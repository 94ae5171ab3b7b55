"""LeNet-5's RIOT firmware against the U-TOE paper's RAM and flash (issue 14,
item 4; benchmarks/riot_boards.py builds every paper board): the evaluation
runs in RIOT's main thread on the stack utoe sized (riot.STACK_BYTES, no
second thread), RAM at or below the paper's figure, flash at or below it
+ 1 KB where the kernels are utoe's own; and that stack holds the evaluation
with its margin on a RIOT firmware QEMU runs (hifive1b).

Real RIOT builds (the tree ./setup.sh installs, or $RIOTBASE); skipped only
where there is none."""

import os
import re
import select
import shutil
import subprocess
import time

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from benchmarks import riot_boards
from utoe import models, riot
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


@pytest.mark.qemu
def test_main_stack_holds_the_evaluation_under_qemu(tmp_path):
    """RIOT's hifive1b firmware under QEMU (sifive_e, rev B): the evaluation
    on main's stack gives the native build's output checksum and its peak
    (from the stack's top, RIOT's boot included) leaves over 1.5 KB of
    riot.STACK_BYTES unused."""
    from utoe import boards, codegen
    from utoe.diagnose import host_run

    base = _base()
    qemu = shutil.which("qemu-system-riscv32")
    if not qemu:
        pytest.skip("no qemu-system-riscv32 (Debian: qemu-system-misc)")
    sizes, _ = riot_boards.build_sizes(str(tmp_path), "hifive1b", base)
    proc = subprocess.Popen([qemu, "-M", "sifive_e,revb=true", "-nographic", "-monitor", "none", "-serial", "stdio",
                             "-kernel", sizes["elf"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out, sent, deadline = b"", False, time.monotonic() + 120
    try:
        # the whole end line: the console may hand over "utoe: end sta" first
        while not re.search(rb"utoe: end [^\n]*\n", out) and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
            if not sent and b"utoe: ready" in out:
                proc.stdin.write(b"start 1\n")
                proc.stdin.flush()
                sent = True
    finally:
        proc.kill()
        proc.wait()
    text = out.decode(errors="replace")
    assert "utoe: end status=ok" in text, text[-2000:]
    cg = tmp_path / "native-codegen"
    codegen.generate(models.resolve("lenet5").path, str(cg), "lenet5")
    native = host_run(boards.get("native"), str(cg), "lenet5", 1)
    assert f"utoe: checksum fnv1a32=0x{native.checksum:08x}" in text  # the same output bytes as on this host
    peak = int(text.split("utoe: stack peak_bytes=")[1].split()[0])
    assert 0 < peak < riot.STACK_BYTES - 1500, peak
