"""The per-operator figures of an emulated board are true, and the
executor's tables cost no RAM (issue 10, items 1 and 6).

Item 1: per-operator instruction counts are true when operators share code. kws_ref_model repeats identical blocks (conv_2d_2/4/6/8 and
depthwise_conv_2d_1/3/5/7): GCC's -fipa-icf folded them and the per-symbol
counts charged all four calls to the first copy (conv_2d_4/6/8 showed 1
instruction). Codegen now emits each distinct body once and the plugin
attributes instructions per executor call, so folding cannot move them.

Item 6: the executor keeps no tables in RAM: it calls each operator as a
plain C function with typed pointers (issue 13: no TVM-FFI packed calls, no
DLTensor or argument tables at all), and every operator has its
multiply-accumulates in metadata.json and its instructions per MAC in
result.json and the report.

Real TVM, real arm-none-eabi-gcc, real QEMU and utoe's real TCG plugin."""

import copy
import json
import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, shared_model
from tests.scons_helpers import Build
from utoe import icount
from utoe.elfsize import open_elf
from utoe.errors import RunError
from utoe.measure import MeasureError, _instructions

TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "qemu-system-arm": "qemu-system-arm"}
missing = [f"{tool} (apt-get install {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason="needs " + ", ".join(missing))

BOARD = "mps2-an385"  # Cortex-M3, -O2: the board family the fold was seen on
# utoe's own kernels (kernels=auto would call CMSIS-NN on this core): their
# bodies are the ones that repeat and fold
KERNELS = "kernels=tvm"
TRIALS = 2


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    shared_model("kws_ref_model.tflite")
    build = tmp_path_factory.mktemp("icount") / "build"
    Build(ROOT).scons(f"build={build}", f"board={BOARD}", "model=kws_ref_model", f"trials={TRIALS}", KERNELS)
    pair = build / BOARD / "kws_ref_model+kernels-tvm"
    with open(pair / "result.json") as f:
        result = json.load(f)
    with open(pair / "icount.json") as f:
        counts = json.load(f)
    metadata = next(build.glob("codegen/kws_ref_model*/metadata.json"))
    with open(metadata) as f:
        meta = json.load(f)
    return {"build": build, "pair": pair, "result": result, "counts": counts, "metadata": meta,
            "codegen": metadata.parent}


REPEATED = [["conv_2d_2", "conv_2d_4", "conv_2d_6", "conv_2d_8"],
            ["depthwise_conv_2d_1", "depthwise_conv_2d_3", "depthwise_conv_2d_5", "depthwise_conv_2d_7"]]


def test_identical_operators_get_equal_plausible_counts(kws):
    r, meta = kws["result"], kws["metadata"]
    per_op = {op["name"]: op["instructions"] for op in r["operators"]}
    for names in REPEATED:
        counts = [per_op[n] for n in names]
        # same code on same shapes: equal up to data-dependent branches (requantization clamps)
        assert max(counts) <= 1.001 * min(counts), dict(zip(names, counts))
        assert min(counts) > 100_000, dict(zip(names, counts))  # a 1-instruction thunk is not a convolution
    # a pointwise conv of 64x64 channels over 25x5 positions is 204,800 MACs: at least one instruction each
    assert per_op["conv_2d_4"] >= 25 * 5 * 64 * 64
    whole = r["instructions"]["per_inference"]
    assert 0.99 * whole <= sum(per_op.values()) <= whole
    # metadata says which operators share a body
    groups = {}
    for op in meta["operators"]:
        groups.setdefault(op["function"], []).append(op["name"])
    assert sorted(names for names in groups.values() if len(names) > 1) == REPEATED


def test_identical_bodies_are_emitted_once(kws):
    meta = kws["metadata"]
    ops_c = (kws["codegen"] / "ops.c").read_text()
    defined = icount_definitions(ops_c)
    assert sorted(defined) == sorted({op["function"] for op in meta["operators"] if op["function"]})
    assert len(defined) == 13 - 6 - 1  # 13 operators, two bodies of four copies each, a reshape that aliases
    by_name = {op["name"]: op for op in meta["operators"]}
    assert by_name["conv_2d_6"]["shares_body_with"] == ["conv_2d_2", "conv_2d_4", "conv_2d_8"]
    # and the firmware has one function per body: nothing left for the linker to fold
    with open_elf(str(kws["pair"] / "firmware.elf"), RunError, "") as (elf, symtab):
        ffi = {s.name for s in symtab.iter_symbols() if s.name.startswith("utoe_op_")
               and s["st_info"]["type"] == "STT_FUNC"}
    assert ffi == set(defined)


def icount_definitions(src):
    from utoe.codegen.lower import FUNC_RE

    return ["utoe_op_" + m.group(1) for m in FUNC_RE.finditer(src)]


def test_sequence_follows_the_executor(kws):
    counts, meta = kws["counts"], kws["metadata"]
    ops = [op for op in meta["operators"] if op["function"]]  # reshape_10 aliases: no call
    assert len(ops) == len(meta["operators"]) - 1
    assert len(counts["sequence"]) == TRIALS * len(ops)
    for k, (function, n, _detail) in enumerate(counts["sequence"]):
        assert function == ops[k % len(ops)]["function"]
        assert n > 0


@pytest.mark.parametrize("edit, operator, calls", [
    (lambda seq: seq.pop(), "softmax_12", TRIALS - 1),     # a call lost at the end
    (lambda seq: seq.insert(0, list(seq[0])), "conv_2d_0", TRIALS + 1),  # one call too many
])
def test_measure_refuses_calls_that_differ_from_the_trials(kws, edit, operator, calls):
    counts = copy.deepcopy(kws["counts"])
    edit(counts["sequence"])
    with pytest.raises(MeasureError, match=rf"^icount.json: operator '{operator}' \(#\d+\) was called {calls} "
                                           rf"times, but {TRIALS} trial\(s\) imply {TRIALS}"):
        _instructions(counts, kws["metadata"]["operators"], TRIALS, "icount.json")


# Two identical 'operators' that -fipa-icf folds into one (op_b becomes a
# thunk to op_a), in their own file as TVM's are, and an executor calling them
# in a known order with different work.
FOLDED_OPS = r"""
#define BODY { int s = 0; for (int i = 0; i < n; i++) { s += i * n; s ^= s >> 3; s += (s << 5) / (i + 7); \
    s = s * 31 + (i & 0x55); } for (int i = 0; i < n; i++) s -= (s % (i + 3)) * 5; return s; }
int utoe_op_a(int n) BODY
int utoe_op_b(int n) BODY
"""
FOLDED = r"""
int utoe_op_a(int n);
int utoe_op_b(int n);
volatile int small = 10, big = 1000, sink;
__attribute__((noinline)) int utoe_model_run(void) {
    int a = utoe_op_a(small);
    int b = utoe_op_b(big);
    return a + b + utoe_op_b(small);
}
static void sh(int op, const void *arg) { register int r0 __asm__("r0") = op; register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory"); }
void reset(void) { sink = utoe_model_run(); unsigned a[2] = {0x20026, 0}; sh(0x20, a); for (;;); }
__attribute__((section(".vectors"), used)) static void (*const v[2])(void) = {(void (*)(void))0x20001000, reset};
"""


def test_plugin_attributes_folded_functions_per_call(tmp_path):
    """Whatever the compiler folds, each call of the executor gets its own
    instructions: op_b's body is op_a's (GCC left op_b a one-instruction
    thunk), yet the three calls count 10, 1000 and 10 iterations' worth."""
    c, ops, elf, syms, out = (tmp_path / n for n in ("fw.c", "ops.c", "fw.elf", "syms", "counts.json"))
    c.write_text(FOLDED)
    ops.write_text(FOLDED_OPS)
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-nostdlib", "-nostartfiles", "-O2",
                    "-Wl,--section-start=.vectors=0", "-Wl,-e,reset", str(c), str(ops), "-o", str(elf)], check=True)
    funcs = {name: (start, end) for start, end, name in icount.functions(str(elf))}
    # the premise: op_b is folded into op_a (a 4-byte thunk), as kws_ref_model's convolutions were
    assert funcs["utoe_op_b"][1] - funcs["utoe_op_b"][0] <= 4
    icount.write_symbols(str(elf), str(syms))
    subprocess.run(["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf),
                    *icount.qemu_args(icount.plugin_path(), str(syms), str(out))], check=True, timeout=30)
    doc = icount.read_counts(str(out))
    # per symbol, op_b's two calls are its thunk's two instructions: the bug per-call attribution fixes
    assert doc["functions"]["utoe_op_b"]["instructions"] == 2
    assert [f for f, _, _ in doc["sequence"]] == ["utoe_op_a", "utoe_op_b", "utoe_op_b"]
    small, big, small2 = (n for _, n, _ in doc["sequence"])
    assert small2 == small + 1  # the same work plus the thunk's branch
    assert 90 * small < big < 110 * small  # 100 times the iterations, plus fixed prologues
    # every instruction of the operators is in exactly one call
    assert small + big + small2 == sum(doc["functions"][f]["instructions"] for f in ("utoe_op_a", "utoe_op_b"))


# ---------------------------------------------------------------- item 6

def _symbols_by_section(elf_path, prefixes):
    """{symbol name: section name} for the ELF's data objects named with prefixes."""
    with open_elf(elf_path, RunError, "") as (elf, symtab):
        out = {}
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] == "STT_OBJECT" and sym.name.startswith(prefixes):
                shndx = sym["st_shndx"]
                out[sym.name] = elf.get_section(shndx).name if isinstance(shndx, int) else shndx
        return out


def test_executor_calls_operators_directly_with_no_tables(kws):
    """No packed-call overhead (issue 13, item 3): the operators are plain C
    functions taking one typed pointer per tensor, the executor calls them
    directly, and no TVM-FFI entry, DLTensor or argument table is left in the
    C or the firmware."""
    meta = kws["metadata"]
    model_c = (kws["codegen"] / "model.c").read_text()
    ops_c = (kws["codegen"] / "ops.c").read_text()
    for text in (model_c, ops_c):
        assert "__tvm_ffi" not in text and "TVMFFIAny" not in text and "DLTensor" not in text
    # conv_2d_0's call: input from the arena, weights/bias/multipliers/shifts from flash, output to the arena
    # (arena pointers through void *: no -Wcast-align, an error in RIOT's Cortex-M builds)
    assert re.search(r"utoe_op_conv_2d_0\(\(int8_t \*\)\(void \*\)&utoe_arena\[\d+\], \(int8_t \*\)utoe_param_p\d+, "
                     r"\(int32_t \*\)utoe_param_p\d+, \(int32_t \*\)utoe_param_p\d+, \(int32_t \*\)utoe_param_p\d+, "
                     r"\(int8_t \*\)\(void \*\)&utoe_arena\[\d+\]\)", model_c), model_c
    assert re.search(r"^int32_t utoe_op_conv_2d_0\(int8_t\* \w+, int8_t\* \w+, int32_t\* \w+, int32_t\* \w+, "
                     r"int32_t\* \w+, int8_t\* restrict \w+\) \{$", ops_c, re.M)
    where = _symbols_by_section(str(kws["pair"] / "firmware.elf"), ("utoe_tensor_", "utoe_args_", "utoe_shape_"))
    assert where == {}
    # the model's RAM is its arena: nothing else of the model's is in .data or .bss
    ram = kws["result"]["ram"]
    assert ram["model"]["other"] == 0
    assert ram["model"]["arena"] == meta["memory"]["arena_bytes"]
    assert kws["result"]["validation"]["ok"] and kws["result"]["validation"]["exact"]


def test_macs_follow_the_layer_formula(kws):
    ops = {op["name"]: op for op in kws["metadata"]["operators"]}
    # kws_ref_model: 49x10 MFCCs, a 10x4 stride-2 conv to 25x5x64, then 3x3 depthwise and 1x1 pointwise blocks
    assert ops["conv_2d_0"]["macs"] == 25 * 5 * 64 * (10 * 4 * 1)
    assert ops["depthwise_conv_2d_3"]["macs"] == 25 * 5 * 64 * (3 * 3)
    assert ops["conv_2d_6"]["macs"] == 25 * 5 * 64 * 64
    assert ops["fully_connected_11"]["macs"] == 64 * 12
    assert ops["average_pool_2d_9"]["macs"] == ops["softmax_12"]["macs"] == ops["reshape_10"]["macs"] == 0


def test_instructions_per_mac_in_result_and_report(kws):
    from utoe.report import operator_table

    r = kws["result"]
    for op in r["operators"]:
        if op["macs"]:
            assert op["instructions_per_mac"] == op["instructions"] / op["macs"]
        else:
            assert op["instructions_per_mac"] is None
    table = operator_table(r)
    assert "instr/MAC" in table.splitlines()[0]
    row = next(line for line in table.splitlines() if line.startswith("conv_2d_6 "))
    conv = next(op for op in r["operators"] if op["name"] == "conv_2d_6")
    # ... instructions, instr/MAC, cycles, memory wait %, kernels
    assert row.split()[-4] == f"{conv['instructions_per_mac']:.2f}" and row.split()[-1] == "tvm"
    assert row.split()[-3] == f"{conv['cycles']['cycles']:,}"
    softmax = next(line for line in table.splitlines() if line.startswith("softmax_12 ")).split()
    assert softmax[-4] == "-" and softmax[-1] == "tvm"


def test_reshape_aliases_its_input(kws):
    """reshape_10 (average pool 1x1x64 to 1x64) copies nothing: it has no
    function, executes no instruction, and its output is its input's bytes
    in the arena (the planner gives the two one place and one lifetime)."""
    from utoe.codegen.planner import check, lifetimes, plan as plan_of

    ops = {op["name"]: op for op in kws["metadata"]["operators"]}
    assert ops["reshape_10"]["function"] is None and ops["reshape_10"]["alias_of"]
    assert ops["average_pool_2d_9"]["function"] is not None and ops["average_pool_2d_9"]["alias_of"] is None
    r = {op["name"]: op for op in kws["result"]["operators"]}
    assert r["reshape_10"]["instructions"] == 0
    model_c = (kws["codegen"] / "model.c").read_text()
    assert "reshape_10: aliases its input" in model_c and "utoe_op_reshape" not in model_c
    # the arena map: the pool's output and the reshape's output at one offset
    pool_out, reshape_out = ops["average_pool_2d_9"]["outputs"][0], ops["reshape_10"]["outputs"][0]
    offsets = {}
    for line in model_c.split("Offsets by tensor:")[1].split("*/")[0].splitlines():
        parts = line.split()
        if len(parts) >= 4:
            offsets[parts[-1]] = int(parts[1])
    assert offsets[pool_out] == offsets[reshape_out]
    assert kws["result"]["validation"]["exact"]


def test_planner_keeps_an_aliased_buffer_for_both_lifetimes():
    """A reshape's input x is dead after the reshape, but its bytes live on
    as y: the planner must not give x's bytes to z, which is written while y
    is still read."""
    from utoe.codegen.graph import Graph, Op, Tensor, mark_aliases
    from utoe.codegen.planner import check, plan

    g = Graph()
    for i, kind in enumerate(["input", "intermediate", "intermediate", "intermediate", "output"]):
        g.tensors.append(Tensor(i, f"t{i}", "int8", (64,), kind))
    g.inputs, g.outputs = [0], [4]
    g.ops = [Op(0, "conv_2d_0", [0, 1], 1),   # t1 = f(t0)
             Op(1, "reshape_1", [1, 2], 1),   # t2 = reshape(t1): t1's bytes
             Op(2, "relu_2", [2, 3], 1),      # t3 = f(t2)
             Op(3, "add_3", [2, 3, 4], 1)]    # t4 = t2 + t3: t2 (so t1's bytes) still read
    mark_aliases(g)
    assert [op.alias for op in g.ops] == [False, True, False, False]
    p = plan(g)
    assert p.offsets[1] == p.offsets[2]
    assert len({p.offsets[1], p.offsets[3], p.offsets[4]}) == 3  # t1/t2, t3, t4 are live together at step 3
    assert check(g, p)
