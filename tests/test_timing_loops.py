"""The QEMU plugin's instruction classes, memory regions and caches
("utoe.icount/3") on hand-written loops whose counts are known exactly
(tests/loops/*.S): real cross assemblers, real QEMU, the real plugin.

One firmware per core runs every loop once; each loop is an owner function
(utoe_*), so its counts are its own. Skipped with the Debian package to
install where a tool is missing."""

import os
import shutil
import subprocess

import pytest

from utoe import boards, icount
from utoe.runners.qemu import QemuRunner

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
         "qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}
missing = [f"{tool} (apt-get install {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason="needs " + ", ".join(missing))

N_CHAIN = 1000  # loads: more than a translation block holds (and across 1 KiB pages), so chains cross blocks
N_BRANCH = 300
N_FLASH = 256
LINE = 32
# straight code of 2 K + 10 bytes (16-bit instructions): 8 KiB (256 lines) and 24 KiB (768 lines)
K_SMALL = (8192 - 10) // 2
K_BIG = (24576 - 10) // 2
# a 16 KiB, 2-way cache of 32-byte lines for the plugin tests (the FE310-G002's own, 64-byte lines, is in
# boards/hifive1b.toml); a flash line buffer of 8 bytes on data
ICACHE = icount.Cache("icache", "i", 16384, 2, LINE, "flash")
FLASH_BUF = icount.Cache("fbuf", "d", 8, 1, 8, "flash")
# small data caches: 4 sets of 2 ways on the flash table, and on RAM (stores do not go through)
DCACHE = icount.Cache("dc", "d", 64, 2, 8, "flash")
RAM_CACHE = icount.Cache("dram", "d", 64, 2, 8, "ram")

# (board whose stand-in runs it, compiler, flags, source, has the Thumb-2 / RV loops)
CORES = {
    "m0plus": ("arduino-zero", "arm-none-eabi-gcc", ["-mcpu=cortex-m0plus", "-mthumb"], "arm.S", False),
    "m4": ("mps2-an386", "arm-none-eabi-gcc",
           ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-DARMV7M"], "arm.S", True),
    "rv32": ("hifive1b", "riscv64-unknown-elf-gcc", ["-march=rv32imac", "-misa-spec=2.2", "-mabi=ilp32",
                                                      "-Wl,-Ttext=0x20010000"], "riscv.S", True),
}


def build_and_run(tmp_path, core, caches=(ICACHE, FLASH_BUF, DCACHE, RAM_CACHE), board=None):
    board_name, cc, flags, source, _ = CORES[core]
    board = board or boards.get(board_name)
    elf, syms, out = (str(tmp_path / n) for n in ("loops.elf", "syms", "icount.json"))
    sizes = [f"-D{k}={v}" for k, v in (("N_CHAIN", N_CHAIN), ("N_BRANCH", N_BRANCH), ("N_FLASH", N_FLASH),
                                       ("K_SMALL", K_SMALL), ("K_BIG", K_BIG))]
    link = ["-Wl,--section-start=.vectors=0"] if cc.startswith("arm") else []
    subprocess.run([cc, *flags, *sizes, "-nostdlib", "-nostartfiles", *link, "-Wl,-e,utoe_main",
                    os.path.join(HERE, "loops", source), "-o", elf], check=True)
    icount.write_symbols(elf, syms)
    args = icount.qemu_args(icount.plugin_path(), syms, out, icount.board_regions(board), caches)
    subprocess.run(QemuRunner(board, 30).command(elf, args), check=True, timeout=60, capture_output=True)
    doc = icount.read_counts(out)
    doc["sizes"] = {name: end - start for start, end, name in icount.functions(elf)}
    return doc


@pytest.fixture(scope="module", params=sorted(CORES))
def run(request, tmp_path_factory):
    return request.param, build_and_run(tmp_path_factory.mktemp(request.param), request.param)


def detail(doc, name):
    return doc["functions"][name]["detail"]


def classes(doc, name):
    """The function's nonzero classes."""
    return {k: v for k, v in detail(doc, name)["classes"].items() if v}


def test_every_instruction_has_one_class(run):
    _, doc = run
    exclusive = [c for c in icount.CLASSES if not c.endswith("_regs") and c != "load_use"]
    for name, f in doc["functions"].items():
        assert sum(f["detail"]["classes"][c] for c in exclusive) == f["instructions"], name
        assert sum(f["detail"]["fetch"].values()) == f["instructions"], name
    total = doc["total_detail"]
    assert sum(total["classes"][c] for c in exclusive) == doc["total"]
    assert list(total["classes"]) == list(icount.CLASSES)
    assert list(total["fetch"]) == ["flash", "ram", "other"]
    assert list(total["caches"]) == ["icache", "fbuf", "dc", "dram"]


def test_load_use_chain(run):
    """N loads, each one's address the previous one's result: N - 1 load-use
    pairs (the chain spans several translation blocks: the pairs across
    their boundaries count too), N loads from RAM, one store."""
    _, doc = run
    assert classes(doc, "utoe_chain") == {"store": 1, "load": N_CHAIN, "load_use": N_CHAIN - 1, "alu": 1, "jump": 1}
    d = detail(doc, "utoe_chain")
    assert d["load"] == {"flash": 0, "ram": N_CHAIN, "other": 0}
    assert d["store"] == {"flash": 0, "ram": 1, "other": 0}
    assert d["fetch"]["flash"] == N_CHAIN + 3
    assert d["caches"]["fbuf"] == {"accesses": 0, "misses": 0, "seq_misses": 0}  # RAM loads: not through flash's
    # the loads through a RAM cache: the first misses (the store before it is write-through, no-allocate)
    assert d["caches"]["dram"] == {"accesses": N_CHAIN, "misses": 1, "seq_misses": 0}


def test_data_cache_is_lru(run):
    """Lines X, Y, X, Z, X of one set of a 2-way cache: LRU keeps X when Z
    comes (Y leaves): 3 misses, where FIFO would have 4."""
    _, doc = run
    assert classes(doc, "utoe_lru") == {"load": 5, "jump": 1}
    assert detail(doc, "utoe_lru")["caches"]["dc"] == {"accesses": 5, "misses": 3, "seq_misses": 0}


def test_taken_branch_loop(run):
    """N iterations of a decrement and a conditional branch back: taken
    N - 1 times, not taken once; the return is a jump."""
    _, doc = run
    assert classes(doc, "utoe_branches") == {"alu": N_BRANCH, "branch_taken": N_BRANCH - 1, "branch_not_taken": 1,
                                             "jump": 1}
    assert doc["functions"]["utoe_branches"]["instructions"] == 2 * N_BRANCH + 1


def test_flash_data_read_loop(run):
    """N word loads from a const table in flash: N flash loads, none from
    RAM; through an 8-byte line buffer, one miss per two words, each but the
    first right after the previous one."""
    core, doc = run
    c = classes(doc, "utoe_flash_read")
    assert c == {"alu": 3 * N_FLASH + 1, "load": N_FLASH, "branch_taken": N_FLASH - 1, "branch_not_taken": 1,
                 "jump": 1}
    d = detail(doc, "utoe_flash_read")
    assert d["load"] == {"flash": N_FLASH, "ram": 0, "other": 0}
    assert d["store"] == {"flash": 0, "ram": 0, "other": 0}
    assert d["caches"]["fbuf"] == {"accesses": N_FLASH, "misses": N_FLASH // 2, "seq_misses": N_FLASH // 2 - 1}


def _straight(doc, name, k):
    lines = doc["sizes"][name] // LINE
    assert doc["sizes"][name] == 2 * k + 10 == lines * LINE  # the premise: whole lines, 16-bit instructions
    assert classes(doc, name) == {"alu": 2 * k + 2, "branch_taken": 1, "branch_not_taken": 1, "jump": 2}
    cache = detail(doc, name)["caches"]["icache"]
    assert cache["accesses"] == doc["functions"][name]["instructions"] == 2 * k + 6
    return lines, cache


def test_code_larger_than_the_icache_misses_on_both_passes(run):
    """24 KiB of straight code run twice through a 16 KiB 2-way LRU cache:
    every set holds three of its lines, so every line misses on both passes;
    the misses are sequential but for each pass's first."""
    core, doc = run
    if not CORES[core][4]:
        pytest.skip("ARMv6-M has no branch to reach back 24 KiB: the cache loops run on the M4 and RISC-V")
    lines, cache = _straight(doc, "utoe_big", K_BIG)
    assert lines == 768
    assert cache["misses"] == 2 * lines
    assert cache["seq_misses"] == 2 * lines - 2


def test_code_smaller_than_the_icache_misses_once(run):
    core, doc = run
    if not CORES[core][4]:
        pytest.skip("the cache loops run on the M4 and RISC-V")
    lines, cache = _straight(doc, "utoe_small", K_SMALL)
    assert lines == 256
    assert cache["misses"] == lines
    assert cache["seq_misses"] == lines - 1


def test_instruction_mix(run):
    core, doc = run
    if not CORES[core][4]:
        pytest.skip("the mix is Thumb-2 / RV32IM")
    expected = {
        "m4": {"store_multiple": 3, "store_multiple_regs": 4 + 2 + 2, "mul": 2, "mac": 3, "alu": 1, "div": 2,
               "load_multiple": 3, "load_multiple_regs": 2 + 3 + 2 + 4, "fpu": 2, "load": 1, "load_use": 1,
               "jump": 1},
        "rv32": {"alu": 4, "mul": 3, "div": 2, "store": 2, "load": 2, "load_use": 1, "other": 1, "jump": 1},
    }[core]
    assert classes(doc, "utoe_mix") == expected


def test_sequence_and_totals_carry_the_detail(run):
    """Every owner's detail sums to the file's total_detail."""
    _, doc = run
    total = doc["total_detail"]
    for part in ("classes", "fetch", "load", "store"):
        for key in total[part]:
            assert total[part][key] == sum(f["detail"][part][key] for f in doc["functions"].values()), (part, key)
    for name in total["caches"]:
        for key, n in total["caches"][name].items():
            assert n == sum(f["detail"]["caches"][name][key] for f in doc["functions"].values())


@pytest.mark.parametrize("bad, message", [
    ("regions=flash:10-0", "bad region"),
    ("regions=flash:0-10,,other:10-20", "bad region"),
    ("cache=c:x:16:1:16:flash", "bad cache"),
    ("cache=c:i:24:2:8:flash", "bad cache"),  # 24 is no multiple of 2 x 8
    ("cache=c:i:16:1:16:nowhere", "a cache's region is none of regions="),
])
def test_bad_plugin_arguments_fail_clearly(tmp_path, bad, message):
    syms = tmp_path / "syms"
    syms.write_text("")
    regions = "" if bad.startswith("regions=") else "regions=flash:0-400000,"
    proc = subprocess.run(["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-kernel",
                           "/dev/null", "-plugin", f"{icount.plugin_path()},syms={syms},out={tmp_path / 'o'},"
                           f"{regions}{bad}"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_plugin_options():
    regions = {"flash": (0x20010000, 0x20400000), "ram": (0x80000000, 0x80004000)}
    assert icount.plugin_options(regions, [ICACHE]) == [
        "regions=flash:20010000-20400000,ram:80000000-80004000", "cache=icache:i:16384:2:32:flash"]
    args = icount.qemu_args("p.so", "s", "o", regions, [ICACHE])
    assert args[1] == "p.so,syms=s,out=o,regions=flash:20010000-20400000,,ram:80000000-80004000," \
                      "cache=icache:i:16384:2:32:flash"
    with pytest.raises(ValueError):
        icount.plugin_options(regions, [icount.Cache("c", "i", 16, 1, 16, "rom")])
    assert icount.board_regions(boards.get("hifive1b")) == regions


# ---------------------------------------------------------------- cycles
# The same loops on real boards' memory models (their [timing] caches and
# line buffers, simulated by the plugin), turned into cycles by utoe.estimate.
# The expected figures are written out here from the cores' Technical
# Reference Manuals and the MCUs' manuals, independently of boards/: a
# change to a core or board file, or to the model, that moves them fails.
REAL = {"m0plus": "arduino-zero", "m4": "nrf52840dk", "rv32": "hifive1b"}


@pytest.fixture(scope="module", params=sorted(REAL))
def real(request, tmp_path_factory):
    return request.param, *_real_run(tmp_path_factory, request.param, REAL[request.param])


def _real_run(tmp_path_factory, core, board_name):
    from utoe import estimate

    board = boards.get(board_name)
    doc = build_and_run(tmp_path_factory.mktemp(f"real-{board_name}"), core, caches=icount.board_caches(board),
                        board=board)
    return doc, estimate.model(board)


def cycles(doc, name, est):
    from utoe import estimate

    return estimate.cycles(detail(doc, name), est, name)


def test_cycles_of_a_taken_branch_loop(real):
    """N x (SUBS + B<cc>) then BX LR / ret. Cortex-M0+ (DDI 0484C Table 3-1):
    ALU 1, B<cc> 2 taken / 1 not, BX 2; its code runs from the SAM D21's
    NVM through the NVM cache (DS40001882: 1 cycle per miss at 1 wait
    state). Cortex-M4 (DDI 0439B Table 3-1): ALU 1, B<cc> 1+P = 3 taken / 1
    not, BX 3; the nRF52840 reads its flash a 32-bit word at a time with 2
    wait states, no cache counted. E31 (FE310-G002 manual 3.2-3.3): 1 cycle
    each, predicted; the 16 KiB I-cache misses cost a 64-byte QSPI fill
    (SiFive's bsp/sifive-hifive1-revb/core.dts: i-cache-block-size 64),
    (3 CS delays + 8 + 24 + 64 x 8) SCK x 8 = 4,376 cycles (the CS delays:
    sifive-blocks SPIMedia sckcs/intercs/cssck, 1 SCK each at reset)."""
    core, doc, est = real
    n = N_BRANCH
    compute = {"m0plus": n + 2 * (n - 1) + 1 + 2, "m4": n + 3 * (n - 1) + 1 + 3, "rv32": n + (n - 1) + 1 + 1}[core]
    c = cycles(doc, "utoe_branches", est)
    caches = detail(doc, "utoe_branches")["caches"]
    assert c["compute"] == compute
    if core == "m4":  # every new word of code is a flash read with 2 wait states
        assert c["flash_wait"] == 2 * caches["flash_i"]["misses"] and c["cache_miss"] == 0
        assert caches["flash_i"]["misses"] == 2  # the loop's word (aligned) once, then BX LR's
    else:
        per_miss = {"m0plus": 1, "rv32": 4376}[core]
        assert c["cache_miss"] == per_miss * caches["icache"]["misses"] and c["flash_wait"] == 0
        assert 0 < caches["icache"]["misses"] <= 2
    assert c["cycles"] == c["compute"] + c["flash_wait"] + c["cache_miss"]


def test_cycles_of_a_load_use_chain(real):
    """N loads from RAM, each the next one's address, one store, one ALU op
    and a return. M0+: LDR 2, STR 2, BX 2 (no extra stall: Table 3-1's 2
    cycles deliver the data). M4: LDR 2 (not pipelined: each depends on the
    previous), STR 1, BX 3. E31: LW 1 + a 2-cycle load-use stall (a
    two-cycle result latency, 3.3), jalr 1. RAM has no wait states on any."""
    core, doc, est = real
    n = N_CHAIN
    compute = {"m0plus": 2 * n + 2 + 1 + 2, "m4": 2 * n + 1 + 1 + 3, "rv32": n + 2 * (n - 1) + 1 + 1 + 1}[core]
    c = cycles(doc, "utoe_chain", est)
    assert c["compute"] == compute


def test_cycles_of_a_flash_data_read_loop(real):
    """N word loads from a const table in flash. The FE310 has no data cache:
    each load is a QSPI read at the controller's reset settings (a new
    command: (3 CS delays + 8 + 24 + 8) SCK x 8 = 344 cycles, sifive-blocks
    SPIFlashMap / SPIMedia / SPIControl.init; loads 4 bytes apart never
    continue the previous read). The SAM D21's NVM cache serves data too: a
    miss per 8-byte line, 1 cycle each. The nRF52840: a flash read per word,
    2 wait states each."""
    core, doc, est = real
    n = N_FLASH
    c = cycles(doc, "utoe_flash_read", est)
    caches = detail(doc, "utoe_flash_read")["caches"]
    fetch = caches["flash_i"]["misses"] * 2 if core == "m4" else \
        caches["icache"]["misses"] * {"m0plus": 1, "rv32": 4376}[core]
    data = {"m0plus": n // 2 * 1, "m4": n * 2, "rv32": n * 344}[core]
    assert c["cache_miss"] + c["flash_wait"] == fetch + data
    if core == "m0plus":
        assert caches["dcache"]["misses"] == n // 2


def test_cycles_of_code_larger_than_the_fe310_icache(real):
    """24 KiB of straight code, twice, through the FE310's 16 KiB 2-way
    I-cache of 64-byte lines (128 sets; SiFive's
    bsp/sifive-hifive1-revb/core.dts): 384 lines, three to a set, so all
    miss on both passes, 768 line fills of (3 + 8 + 24 + 64 x 8) SCK x 8 =
    4,376 cycles; 8 KiB twice: 128 lines, one fill each."""
    core, doc, est = real
    if core != "rv32":
        pytest.skip("the FE310's cache")
    big, small = cycles(doc, "utoe_big", est), cycles(doc, "utoe_small", est)
    assert big["cache_miss"] == 768 * 4376 and small["cache_miss"] == 128 * 4376
    assert big["compute"] == 2 * K_BIG + 2 + 1 + 1 + 2 and big["flash_wait"] == 0


def test_cycles_with_the_stm32_prefetch(tmp_path_factory):
    """The STM32L072 at 32 MHz (b-l072z-lrwan1): 1 flash wait state, 32-bit
    reads, prefetch on (RM0367, as RIOT sets FLASH_ACR). The prefetch hides
    the wait of a fetch from the word after the previous one, never a data
    read's: the flash-read loop's N loads from the table pay N wait states
    (loads 4 bytes apart are sequential words, but the prefetcher serves the
    instruction side only), and its code pays one per non-sequential word
    fetched (the loop's branch back)."""
    doc, est = _real_run(tmp_path_factory, "m0plus", "b-l072z-lrwan1")
    c = cycles(doc, "utoe_flash_read", est)
    caches = detail(doc, "utoe_flash_read")["caches"]
    fetch = caches["flash_i"]["misses"] - caches["flash_i"]["seq_misses"]
    assert caches["flash_d"]["misses"] == N_FLASH and fetch >= N_FLASH - 1
    assert c["flash_wait"] == N_FLASH * 1 + fetch * 1 and c["cache_miss"] == 0
    # the taken-branch loop stays in its (aligned) word: one read entering it; BX LR is in the next word (prefetched)
    b = cycles(doc, "utoe_branches", est)
    assert b["compute"] == N_BRANCH + 2 * (N_BRANCH - 1) + 1 + 2 and b["flash_wait"] == 1
