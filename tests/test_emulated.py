"""Emulated boards end to end: real cross compilers, real QEMU, utoe's real
TCG plugin. Skipped with the Debian package to install where a tool is
missing."""

import glob
import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import big_activation_model
from tests.scons_helpers import Build
from utoe import boards, icount
from utoe.errors import BuildError, RunError
from utoe.runners.qemu import QemuRunner

TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
         "qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}
missing = [f"{tool} (apt-get install {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason="needs " + ", ".join(missing))

# One board per emulated core family, as issue 4 names them.
BOARDS = ("hifive1b", "nrf52840dk", "stm32f746g-disco", "arduino-zero")
# Boards with the core (and compiler flags) of one above: other names, clocks or memory sizes.
SAME_CORE = {"samr21-xpro": "arduino-zero", "nrf52dk": "nrf52840dk"}


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """LeNet-5 on the host and on the four boards, built once."""
    from tests.conftest import copy_project, shared_model

    shared_model("mnist_0.983_quantized.tflite")
    root = copy_project(tmp_path_factory.mktemp("emu"))
    build = Build(root)
    build.scons("board=native," + ",".join(BOARDS + tuple(SAME_CORE)), "model=lenet5", "trials=2")
    return build


def result(build, board, model="lenet5"):
    with open(build.path("build", board, model, "result.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("board", BOARDS)
def test_lenet5_outputs_equal_native(lenet, board):
    native, emu = result(lenet, "native"), result(lenet, board)
    assert emu["outputs"] == native["outputs"]
    assert emu["validation"]["ok"]
    assert emu["runner"] == "qemu"


@pytest.mark.parametrize("board", BOARDS)
def test_figures_are_labelled_and_consistent(lenet, board):
    r = result(lenet, board)
    b = boards.get(board)
    assert r["latency"]["kind"] == "estimated"
    assert r["instructions"]["kind"] == "emulated"
    per_op = [op["instructions"] for op in r["operators"]]
    assert all(op["instructions"] > 0 for op in r["operators"] if not op["alias_of"])  # an aliasing RESHAPE: 0
    # and executed at least one store per 8 bytes of its output
    meta = _metadata(lenet, "lenet5")
    for op, n in zip(meta["operators"], per_op):
        if not op.get("alias_of"):
            assert n >= op["output_bytes"] / 8, (op["name"], n, op["output_bytes"])
    # the executor's own instructions are few: operators are almost all of it
    assert 0.97 * r["instructions"]["per_inference"] <= sum(per_op) <= r["instructions"]["per_inference"]
    # latency: the board's cycle model (boards/<board>.toml [timing], boards/cores/<core>.toml)
    est = r["instructions"]["estimate"]
    assert est["clock_hz"] == b.clock_hz and est["model"] == "cycles" and est["core"] == b.core
    assert est["core_file"] == f"boards/cores/{b.core}.toml"
    cyc = r["cycles"]
    assert cyc["kind"] == "estimated"
    assert cyc["per_inference"] == cyc["compute"] + cyc["flash_wait"] + cyc["cache_miss"]
    assert cyc["compute"] >= r["instructions"]["per_inference"] * min(est["cycles_per_class"].values())
    # each trial's latency is its cycles over the clock; their mean is the per-inference figure
    trials = r["latency"]["trials_ms"]
    assert sum(trials) / len(trials) == pytest.approx(cyc["per_inference"] / b.clock_hz * 1e3, rel=1e-6)
    assert r["latency"]["median"] == pytest.approx(sorted(trials)[len(trials) // 2] if len(trials) % 2
                                                   else sum(sorted(trials)[len(trials) // 2 - 1:][:2]) / 2)
    op_cycles = [op["cycles"]["cycles"] for op in r["operators"]]
    assert 0.97 * cyc["per_inference"] <= sum(op_cycles) <= cyc["per_inference"]
    assert sum(op["share_pct"] for op in r["operators"]) == pytest.approx(100)
    assert r["fit"]["fits"] and r["fit"]["ram"]["have_bytes"] == b.ram_bytes
    assert r["ram"]["total_bytes"] == r["fit"]["ram"]["need_bytes"] < b.ram_bytes
    assert r["stack_peak_bytes"] and r["stack_peak_bytes"] < 4096


def _metadata(build, model):
    """The codegen's metadata.json of a model built with the default options."""
    for path in sorted(glob.glob(build.path("build", "**", "metadata.json"), recursive=True)):
        with open(path) as f:
            meta = json.load(f)
        if meta["model"] == model:
            return meta
    raise AssertionError(f"no metadata.json of {model} under {build.path('build')}")


@pytest.mark.parametrize("board, twin", sorted(SAME_CORE.items()))
def test_same_core_same_counts(lenet, board, twin):
    """Boards of one core and flags run the same code: the same instruction
    counts, per inference and per operator, whatever their names, memory
    sizes or clocks; the other core family's build executes another number."""
    a, b = result(lenet, board), result(lenet, twin)
    assert a["instructions"]["per_inference"] == b["instructions"]["per_inference"]
    assert [(op["name"], op["instructions"]) for op in a["operators"]] == \
        [(op["name"], op["instructions"]) for op in b["operators"]]
    other = result(lenet, "nrf52840dk" if twin == "arduino-zero" else "arduino-zero")
    assert other["instructions"]["per_inference"] != a["instructions"]["per_inference"]


def test_rerun_does_nothing_and_log_has_protocol(lenet):
    assert lenet.stages("board=hifive1b", "model=lenet5", "trials=2") == []
    log = open(lenet.path("build", "hifive1b", "lenet5", "run.log")).read()
    assert "U-TOE Per-Model Evaluation" in log and "utoe: end status=ok" in log


def test_model_that_does_not_fit_names_both_numbers(lenet, tmp_path):
    """A one-operator model whose 2 x 24 KiB of activations cannot fit the
    HiFive1's 16 KiB of RAM (quick to compile, unlike a real large model)."""
    model = big_activation_model(tmp_path / "wide.tflite", 6144)
    proc = lenet.scons("board=hifive1b", f"model={model}", "trials=1", check=False)
    assert proc.returncode != 0
    err = [line for line in proc.stderr.splitlines() if "utoe: " in line]
    assert len(err) == 1, proc.stderr
    assert "model 'wide' does not fit board 'hifive1b': RAM needs at least 49,152 B (48.0 KiB)" in err[0]
    assert "but the board has 16,384 B" in err[0]
    assert not os.path.exists(lenet.path("build", "hifive1b", "wide", "result.json"))
    assert not os.path.exists(lenet.path("build", "hifive1b", "wide", "firmware.elf"))


def test_board_without_standin_says_so(lenet, monkeypatch):
    monkeypatch.delenv("RIOTBASE", raising=False)  # without RIOT, the board cannot be built at all
    proc = lenet.scons("board=esp32-wroom-32", "model=lenet5", check=False)
    assert proc.returncode != 0
    assert "board 'esp32-wroom-32': it has no QEMU stand-in" in proc.stderr
    assert "runner=serial" in proc.stderr


@pytest.mark.slow  # kws on every board with a stand-in: two minutes
def test_selection_ranks_boards_and_records_misfits(lenet):
    """kws (16 KB of activations) fits most boards but not the 16 KiB
    HiFive1 or the 20 KiB B-L072Z."""
    proc = lenet.scons("board=all", "model=kws_ref_model", "trials=1", "report")
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] and
            (line.split()[0].isdigit() or line.split()[0] == "-")]
    ranked = [r for r in rows if r[0].isdigit()]
    unfit = [r[1] for r in rows if r[0] == "-"]
    assert "hifive1b" in unfit
    assert len(ranked) + len(unfit) == len([b for b in boards.all_boards() if b.type == "mcu" and b.qemu])
    latencies = [float(r[4].rstrip("\u2021")) for r in ranked]
    assert latencies == sorted(latencies)
    assert all(r[-1] == "yes" for r in ranked)
    r = result(lenet, "hifive1b", "kws_ref_model")
    assert r["status"] == "does-not-fit" and r["fit"]["ram"]["have_bytes"] == 16384
    assert r["fit"]["ram"]["need_bytes"] > 16384


# ---- the runner's failures, on small hand-made firmwares ----

HANG = r"""
void reset(void) { for (;;) { __asm__ volatile("nop"); } }
__attribute__((section(".vectors"), used)) static void (*const v[2])(void) = {(void (*)(void))0x20001000, reset};
"""


def _arm_elf(tmp_path, source):
    c = tmp_path / "fw.c"
    c.write_text(source)
    elf = tmp_path / "fw.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-nostdlib", "-nostartfiles", "-O1",
                    "-Wl,--section-start=.vectors=0", "-Wl,-e,reset", str(c), "-o", str(elf)], check=True)
    return str(elf)


def test_hanging_firmware_times_out_with_log_tail(tmp_path):
    runner = QemuRunner(boards.get("mps2-an385"), timeout=2)
    with pytest.raises(RunError, match=r"gave no result within 2 s \(timeout=\); QEMU was killed"):
        runner.run(_arm_elf(tmp_path, HANG), str(tmp_path / "run.log"))
    assert not (tmp_path / "run.log").exists() and not (tmp_path / "icount.json").exists()


def test_crash_is_reported_with_the_fault(tmp_path, lenet):
    """A firmware that faults: the first operator's first instruction is
    replaced by a permanently undefined one (UDF); the platform's handler
    names the exception and the runner fails with the log's tail."""
    from elftools.elf.elffile import ELFFile

    bad = tmp_path / "firmware.elf"
    shutil.copy(lenet.path("build", "nrf52840dk", "lenet5", "firmware.elf"), bad)
    with open(bad, "rb") as f:
        elf = ELFFile(f)
        sym = next(s for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name.startswith("utoe_op_"))
        addr = sym["st_value"] & ~1
        text = next(sec for sec in elf.iter_sections()
                    if sec["sh_addr"] <= addr < sec["sh_addr"] + sec["sh_size"] and sec["sh_type"] == "SHT_PROGBITS")
        offset = text["sh_offset"] + addr - text["sh_addr"]
    with open(bad, "r+b") as f:
        f.seek(offset)
        f.write(b"\xfe\xde")  # udf #254 (Thumb)
    runner = QemuRunner(boards.get("nrf52840dk"), timeout=30)
    with pytest.raises(RunError, match="the firmware faulted") as e:
        runner.run(str(bad), str(tmp_path / "run.log"))
    assert "utoe: fault exception=0x00000003" in str(e.value)  # HardFault (the UsageFault escalated)
    assert "utoe: begin" in str(e.value)  # the tail of the log, up to the fault
    assert not (tmp_path / "run.log").exists()


def test_missing_qemu_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunError, match=r"'qemu-system-riscv32' not found — install the Debian package "
                                       r"'qemu-system-misc'"):
        QemuRunner(boards.get("hifive1b"), 5).command("x.elf", [])


def test_missing_cross_compiler_names_the_package(tmp_path, monkeypatch):
    from utoe import firmware

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BuildError, match=r"compiler 'arm-none-eabi-gcc' not found — install the Debian package "
                                         r"'gcc-arm-none-eabi'"):
        firmware.compiler(boards.get("nrf52840dk"))


def test_plugin_counts_a_known_loop(tmp_path):
    """Counts against a loop whose length is known: n iterations of the
    owner utoe_work cost a fixed number of instructions each, and the helper
    it calls counts for it."""
    src = r"""
__attribute__((noinline)) int helper_add(int a, int b) { return a + b; }
__attribute__((noinline)) int utoe_work(int n) { int s = 0; for (volatile int i = 0; i < n; i++) s = helper_add(s, i); return s; }
static void sh(int op, const void *arg) { register int r0 __asm__("r0") = op; register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory"); }
void reset(void) { utoe_work(N); utoe_work(N); utoe_work(N); unsigned a[2] = {0x20026, 0}; sh(0x20, a); for (;;); }
__attribute__((section(".vectors"), used)) static void (*const v[2])(void) = {(void (*)(void))0x20001000, reset};
"""
    counts = {}
    for n in (100, 200):
        elf = _arm_elf(tmp_path, src.replace("(N)", f"({n})"))
        syms = tmp_path / "syms"
        out = tmp_path / f"counts{n}.json"
        assert icount.write_symbols(elf, str(syms)) >= 1
        subprocess.run(["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-serial", "none",
                        "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", elf,
                        *icount.qemu_args(icount.plugin_path(), str(syms), str(out))], check=True, timeout=30)
        counts[n] = icount.read_counts(str(out))
    w100, w200 = (counts[n]["functions"]["utoe_work"] for n in (100, 200))
    assert w100["calls"] == w200["calls"] == 3
    per_iter = (w200["instructions"] - w100["instructions"]) / (3 * 100)
    assert per_iter == int(per_iter) and per_iter >= 5  # helper_add's body and the loop count for utoe_work
    assert w100["instructions"] == pytest.approx(3 * 100 * per_iter, rel=0.1)
    assert counts[100]["total"] >= sum(f["instructions"] for f in counts[100]["functions"].values()) - 1


def test_malformed_symbols_file_fails_clearly(tmp_path):
    syms = tmp_path / "syms"
    syms.write_text("zz not-a-range\n")
    elf = _arm_elf(tmp_path, HANG)
    proc = subprocess.run(["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none",
                           "-kernel", elf, *icount.qemu_args(icount.plugin_path(), str(syms), str(tmp_path / "o"))],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "bad syms file" in proc.stderr and "line 1" in proc.stderr


def test_report_shows_the_estimate_by_cause(lenet):
    """The text report and the HTML page show where the estimated cycles go:
    per inference and per operator, compute / flash wait / cache misses."""
    from utoe import report, report_html

    r = result(lenet, "hifive1b")
    c = r["cycles"]
    text = report.operator_table(r)
    assert f"estimated cycles per inference: {c['per_inference']:,} = compute" in text
    assert "memory wait %" in text
    for op in r["operators"]:
        if op["cycles"]["cycles"]:
            assert f"{op['cycles']['cycles']:,}" in text
    page = report_html.page([r])
    assert "Flash wait (%)" in page  # the tables' column
    plot = page[page.index('data-plot="operators"'):]
    plot = plot[:plot.index("</svg>")]
    assert "flash wait states" in plot and "cache misses" in plot  # the operator plot's stacked bars' legend
    assert f"{100 * c['flash_wait'] / c['per_inference']:.1f}" in page
