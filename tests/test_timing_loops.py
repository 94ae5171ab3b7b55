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
# the FE310-G002's instruction cache: 16 KiB, 2 ways, 32-byte lines; a flash line buffer of 8 bytes on data
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


def build_and_run(tmp_path, core, caches=(ICACHE, FLASH_BUF, DCACHE, RAM_CACHE)):
    board_name, cc, flags, source, _ = CORES[core]
    board = boards.get(board_name)
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
