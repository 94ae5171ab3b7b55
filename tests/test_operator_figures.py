"""Per-operator instruction counts are true when operators share code (issue
10, item 1). kws_ref_model repeats identical blocks (conv_2d_2/4/6/8 and
depthwise_conv_2d_1/3/5/7): GCC's -fipa-icf folded them and the per-symbol
counts charged all four calls to the first copy (conv_2d_4/6/8 showed 1
instruction). Codegen now emits each distinct body once and the plugin
attributes instructions per executor call, so folding cannot move them.

Real TVM, real arm-none-eabi-gcc, real QEMU and utoe's real TCG plugin."""

import copy
import json
import os
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
TRIALS = 2


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    shared_model("kws_ref_model.tflite")
    build = tmp_path_factory.mktemp("icount") / "build"
    Build(ROOT).scons(f"build={build}", f"board={BOARD}", "model=kws_ref_model", f"trials={TRIALS}")
    pair = build / BOARD / "kws_ref_model"
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
    assert sorted(defined) == sorted({op["function"] for op in meta["operators"]})
    assert len(defined) == 13 - 6  # 13 operators, two bodies of four copies each
    by_name = {op["name"]: op for op in meta["operators"]}
    assert by_name["conv_2d_6"]["shares_body_with"] == ["conv_2d_2", "conv_2d_4", "conv_2d_8"]
    # and the firmware has one function per body: nothing left for the linker to fold
    with open_elf(str(kws["pair"] / "firmware.elf"), RunError, "") as (elf, symtab):
        ffi = {s.name for s in symtab.iter_symbols() if s.name.startswith("__tvm_ffi_")
               and s["st_info"]["type"] == "STT_FUNC"}
    assert ffi == set(defined)


def icount_definitions(src):
    from utoe.codegen.lower import FUNC_RE

    return ["__tvm_ffi_" + m.group(1) for m in FUNC_RE.finditer(src)]


def test_sequence_follows_the_executor(kws):
    counts, meta = kws["counts"], kws["metadata"]
    ops = meta["operators"]
    assert len(counts["sequence"]) == TRIALS * len(ops)
    for k, (function, n) in enumerate(counts["sequence"]):
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
int __tvm_ffi_op_a(int n) BODY
int __tvm_ffi_op_b(int n) BODY
"""
FOLDED = r"""
int __tvm_ffi_op_a(int n);
int __tvm_ffi_op_b(int n);
volatile int small = 10, big = 1000, sink;
__attribute__((noinline)) int utoe_model_run(void) {
    int a = __tvm_ffi_op_a(small);
    int b = __tvm_ffi_op_b(big);
    return a + b + __tvm_ffi_op_b(small);
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
    assert funcs["__tvm_ffi_op_b"][1] - funcs["__tvm_ffi_op_b"][0] <= 4
    icount.write_symbols(str(elf), str(syms))
    subprocess.run(["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf),
                    *icount.qemu_args(icount.plugin_path(), str(syms), str(out))], check=True, timeout=30)
    doc = icount.read_counts(str(out))
    # per symbol, op_b's two calls are its thunk's two instructions: the bug per-call attribution fixes
    assert doc["functions"]["__tvm_ffi_op_b"]["instructions"] == 2
    assert [f for f, _ in doc["sequence"]] == ["__tvm_ffi_op_a", "__tvm_ffi_op_b", "__tvm_ffi_op_b"]
    small, big, small2 = (n for _, n in doc["sequence"])
    assert small2 == small + 1  # the same work plus the thunk's branch
    assert 90 * small < big < 110 * small  # 100 times the iterations, plus fixed prologues
    # every instruction of the operators is in exactly one call
    assert small + big + small2 == sum(doc["functions"][f]["instructions"] for f in ("__tvm_ffi_op_a", "__tvm_ffi_op_b"))
