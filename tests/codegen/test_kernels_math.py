"""utoe's integer kernels for elementwise math (utoe/codegen/kernels_math.py),
each bit-exact with TFLite's BUILTIN_REF interpreter: one-operator int8
models compiled by utoe's integer path, run on this host with seeded inputs
(tests/codegen/test_kernels_more.py's run), compared element by element.
The tables and fixed-point helpers are also checked over every int8 input
against the interpreter directly, which needs no build: those run by
default, the compiled ones under -m slow (the matrix's DEFAULT cases in
models/conformance_math.py compile each kernel by default)."""

import os
import sys

import numpy as np
import pytest

from tests.codegen.test_kernels_more import I8, OP, one_op, q, run, slow_after
from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "models"))
try:
    from tflite_builder import TensorType
finally:
    sys.path.pop(0)

ALL = np.arange(-128, 128, dtype=np.int8)


def interpret(data, *arrays, resolver="BUILTIN_REF"):
    """The model's output from ai-edge-litert's interpreter on these inputs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, experimental_op_resolver_type=getattr(OpResolverType, resolver),
                     num_threads=1)
    it.allocate_tensors()
    for d, a in zip(it.get_input_details(), arrays):
        it.set_tensor(d["index"], a.reshape(d["shape"]))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


class _T:
    """A tensor as utoe's reader describes it, for the kernel functions."""

    def __init__(self, index, shape, scale=None, zp=None, dtype="int8", data=None):
        self.index, self.shape, self.dtype, self.data, self.name = index, tuple(shape), dtype, data, f"t{index}"
        self.scale, self.zero_point, self.quantized = scale, zp, scale is not None
        self.scales, self.zero_points = [scale], [zp]


class _Op:
    def __init__(self, name, inputs, outputs, options=None):
        self.name, self.inputs, self.outputs, self.options, self.index = name, inputs, outputs, options or {}, 0


class _QM:
    def __init__(self, tensors):
        self.tensors = tensors


def table_of(kernel_fn, name, in_q, out_q):
    """The 256-entry table a table kernel computes, in input order -128..127."""
    qm = _QM([_T(0, (256,), *in_q), _T(1, (256,), *out_q)])
    k = kernel_fn(_Op(name, [0], [1]), qm)
    lut = k.args[1][2]
    return lut[ALL.astype(np.int32) & 255]


# ---------------------------------------------------------------- RSQRT

RSQRT_Q = [((0.05, -128), (0.02, -128)), ((0.3, -128), (0.01, 0)), ((0.01, -100), (0.5, 127)),
           ((0.0001, -128), (0.9, 0)), ((0.02, 127), (0.1, 0)), ((1.0, -128), (0.004, -128))]


@pytest.mark.parametrize("in_q,out_q", RSQRT_Q)
def test_rsqrt_table_every_input(in_q, out_q):
    """Every int8 input at or above the zero point (TFLite fails below it)."""
    from utoe.codegen.kernels_math import rsqrt

    ok = ALL[ALL >= in_q[1]]
    ref = interpret(one_op(OP.RSQRT, [("x", [ok.size], I8, q(*in_q), None)], ([ok.size], I8, q(*out_q)), version=2),
                    ok)
    got = table_of(rsqrt, "RSQRT", in_q, out_q)[ALL >= in_q[1]]
    assert np.array_equal(got, ref), np.flatnonzero(got != ref)


@pytest.mark.slow  # the matrix's rsqrt-int8-zp-128 runs by default
def test_rsqrt_compiled(tmp_path):
    # zero point -128: every generated input is valid
    run(tmp_path, one_op(OP.RSQRT, [("x", (3, 40), I8, q(0.04, -128), None)], ((3, 40), I8, q(0.03, -128)),
                         version=2))


# ---------------------------------------------------------------- ELU
# BUILTIN_REF has no ELU kernel: TFLite's builtin (optimized) ELU computes
# int8 with the same table (EluPrepare's LUTPopulate, EvalUsingLookupTable).

ELU_Q = [((0.05, -128), (0.02, -128)), ((0.3, -128), (0.01, 0)), ((0.01, -100), (0.5, 127)),
         ((0.1, 0), (0.004, 127)), ((0.03, 5), (0.03, 5))]


@pytest.mark.parametrize("in_q,out_q", ELU_Q)
def test_elu_table_every_input(in_q, out_q):
    from utoe.codegen.kernels_math import elu

    ref = interpret(one_op(OP.ELU, [("x", [256], I8, q(*in_q), None)], ([256], I8, q(*out_q))), ALL,
                    resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES")
    got = table_of(elu, "ELU", in_q, out_q)
    assert np.array_equal(got, ref), np.flatnonzero(got != ref)


# ---------------------------------------------------------------- DIV


def div_model(a_shape, b, a_q, b_q, y_q, act=0, b_shape=None):
    """DIV of an activation by a constant divisor b (TFLite fails on a divisor
    at its zero point, which random inputs would hit), or by a second
    activation of b_shape when b is None."""
    ins = [("a", a_shape, I8, q(*a_q), None)]
    if b is None:
        ins.append(("b", b_shape, I8, q(*b_q), None))
        shape = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    else:
        ins.append(("b", list(b.shape), I8, q(*b_q), b))
        shape = list(np.broadcast_shapes(tuple(a_shape), b.shape))
    return one_op(OP.DIV, ins, (shape, I8, q(*y_q)), ("DivOptions", {"FusedActivationFunction": act}), version=2)


DIV_PAIRS = [((0.05, -128), (0.02, 127), (0.1, 0)), ((0.1, 3), (0.05, -128), (0.01, -128)),
             ((0.02, 127), (0.5, -128), (0.002, 127)), ((0.3, -7), (0.01, 10), (3.0, 5)),
             ((0.002, -128), (0.5, 127), (0.1, 0))]


@pytest.mark.parametrize("a_q,b_q,y_q", slow_after(1, DIV_PAIRS))
def test_div_every_pair_emulated(a_q, b_q, y_q):
    """The Python emulation the kernel's tables come from, over all 65,536
    pairs but the divisor's zero point, against BUILTIN_REF."""
    from utoe.codegen import kernels_math as km

    A, B = (g.reshape(-1) for g in np.meshgrid(ALL, ALL, indexing="ij"))
    keep = B != b_q[1]
    A, B = A[keep], B[keep]
    ref = interpret(div_model([A.size], None, a_q, b_q, y_q, b_shape=[A.size]), A, B)
    got = km.div_reference(A, B, a_q, b_q, y_q)
    assert np.array_equal(got, ref), np.flatnonzero(got != ref)[:10]


DIV_CASES = [
    ((2, 3, 8), (8,), (0.05, -128), (0.02, 127), (0.1, 0), 0),
    ((1, 4, 4, 3), (1, 1, 1, 3), (0.1, 3), (0.05, -128), (0.01, -128), 1),
    ((5, 7), (5, 7), (0.02, 127), (0.5, -128), (0.002, 127), 0),
]


@pytest.mark.parametrize("a_shape,b_shape,a_q,b_q,y_q,act", slow_after(0, DIV_CASES))
def test_div_compiled(tmp_path, a_shape, b_shape, a_q, b_q, y_q, act):
    rng = np.random.default_rng(7)
    b = rng.integers(-128, 128, b_shape).astype(np.int8)
    b[b == b_q[1]] += 1 if b_q[1] < 127 else -1
    run(tmp_path, div_model(list(a_shape), b, a_q, b_q, y_q, act))


# ---------------------------------------------------------------- L2_NORMALIZATION

L2_Q = [(0.05, -128), (0.1, 127), (0.02, 3)]


@pytest.mark.parametrize("in_q", L2_Q)
def test_l2norm_emulated_rows(in_q):
    """The Python emulation (GetInvSqrtQuantizedMultiplierExp included) on
    rows whose sums of squares span 0 to 2^24, against BUILTIN_REF."""
    from utoe.codegen.kernels_math import l2norm_reference

    rng = np.random.default_rng(3)
    depth = 300
    x = rng.integers(-128, 128, (40, depth)).astype(np.int8)
    for r in range(40):  # rows from nearly all at the zero point to spread out
        keep = rng.random(depth) < (r / 40) ** 3
        x[r, ~keep] = in_q[1]
    x[0, :] = in_q[1]  # a sum of 0
    x[1, :] = in_q[1]
    x[1, 5] = in_q[1] + (1 if in_q[1] < 127 else -1)  # a sum of 1
    ref = interpret(one_op(OP.L2_NORMALIZATION, [("x", list(x.shape), I8, q(*in_q), None)],
                           (list(x.shape), I8, q(1 / 128, 0)), ("L2NormOptions", {}), version=2), x)
    got = l2norm_reference(x, in_q[1])
    assert np.array_equal(got, ref), np.argwhere(got != ref)[:5]


L2_CASES = [((2, 3, 16), (0.05, -128)), ((1, 1, 1, 40), (0.1, 127)), ((4, 3), (0.02, 3)), ((2, 700), (0.3, -1))]


@pytest.mark.parametrize("shape,in_q", slow_after(0, L2_CASES))
def test_l2norm_compiled(tmp_path, shape, in_q):
    run(tmp_path, one_op(OP.L2_NORMALIZATION, [("x", shape, I8, q(*in_q), None)], (shape, I8, q(1 / 128, 0)),
                         ("L2NormOptions", {}), version=2))


# ---------------------------------------------------------------- LOG_SOFTMAX

LS_SCALES = [(0.05, -128), (0.1, 127), (0.5, 3), (0.01, 0), (2.0, -5), (0.002, 10)]


def log_softmax_model(shape, in_q):
    return one_op(OP.LOG_SOFTMAX, [("x", list(shape), I8, q(*in_q), None)], (list(shape), I8, q(16 / 256, 127)),
                  ("LogSoftmaxOptions", {}), version=2)


@pytest.mark.parametrize("in_q", LS_SCALES)
def test_log_softmax_emulated_rows(in_q):
    """The Python emulation (exp_on_negative_values, the fixed-point log)
    on rows from spread out to all equal, against BUILTIN_REF."""
    from utoe.codegen.kernels_math import log_softmax_reference

    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (30, 17)).astype(np.int8)
    x[:10] = rng.integers(100, 128, (10, 17))
    x[10:15] = rng.integers(-3, 3, (5, 17)) + 60
    x[15, :] = 5
    ref = interpret(log_softmax_model(x.shape, in_q), x)
    got = log_softmax_reference(x, in_q[0])
    assert np.array_equal(got, ref), np.argwhere(got != ref)[:5]


LS_CASES = [((3, 10), (0.1, 127)), ((1, 2, 2, 33), (0.05, -128)), ((4, 5), (2.0, -5)), ((2, 300), (0.002, 10))]


@pytest.mark.parametrize("shape,in_q", slow_after(0, LS_CASES))
def test_log_softmax_compiled(tmp_path, shape, in_q):
    run(tmp_path, log_softmax_model(shape, in_q))


@pytest.mark.slow
def test_div_broadcast_both_ways(tmp_path):
    """a (2, 1, 4) by a constant (3, 1): each input repeats along the other's axis."""
    b = np.array([[5], [-60], [127]], np.int8)
    run(tmp_path, div_model([2, 1, 4], b, (0.04, 10), (0.03, -7), (0.05, -20)))


# ---------------------------------------------------------------- refusals


def test_refused_before_any_build(tmp_path):
    """What TFLite itself rejects or utoe does not compute: one line naming
    the operator, its index, its types and the model, before anything is built."""
    from utoe.codegen import generate
    from utoe.errors import CodegenError

    l2 = [("x", (2, 8), I8, q(0.05, 0), None)]
    cases = {
        # TFLite requires L2_NORMALIZATION's output at (1/128, 0), LOG_SOFTMAX's at (16/256, 127)
        "l2": (one_op(OP.L2_NORMALIZATION, l2, ((2, 8), I8, q(0.01, 0)), ("L2NormOptions", {}), version=2),
               "L2_NORMALIZATION (operator #0: int8 -> int8): L2_NORMALIZATION output quantized"),
        "logsm": (one_op(OP.LOG_SOFTMAX, l2, ((2, 8), I8, q(0.1, 0)), ("LogSoftmaxOptions", {}), version=2),
                  "LOG_SOFTMAX (operator #0: int8 -> int8): LOG_SOFTMAX output quantized"),
        # TFLite Micro has these on float32 only, and utoe no int8 kernel
        "exp": (one_op(OP.EXP, l2, ((2, 8), I8, q(0.05, 0)), version=2),
                "EXP (operator #0: int8 -> int8): no integer kernel yet"),
        "div16": (one_op(OP.DIV, [("a", (2, 8), TensorType.INT16, q(0.05, 0), None),
                                  ("b", (2, 8), TensorType.INT16, q(0.05, 0), None)],
                         ((2, 8), TensorType.INT16, q(0.05, 0)), ("DivOptions", {}), version=2),
                  "DIV (operator #0: int16, int16 -> int16): no integer kernel for these types"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(data)
        out = tmp_path / f"out-{name}"
        with pytest.raises(CodegenError) as e:
            generate(str(path), str(out), name, {"importer": "utoe"})
        line = str(e.value)
        assert "\n" not in line and line.startswith(f"{path}: ") and expected in line, line
        assert not out.exists() or os.listdir(out) == []


# ---------------------------------------------------------------- without a BUILTIN_REF kernel
# ai-edge-litert's BUILTIN_REF has no ELU, CEIL or ROUND (so the matrix has
# no case for them): utoe's output against TFLite's builtin kernels instead.


def run_against_builtin(tmp_path, data, seeds=(1, 2)):
    from utoe import boards
    from utoe.codegen import generate
    from utoe.diagnose import host_run
    from utoe.inputs import DTYPES, generate_inputs

    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    meta = generate(str(path), str(tmp_path / "cg"), "m")
    specs = [(t["dtype"], tuple(t["shape"])) for t in meta["inputs"]]
    for seed in seeds:
        got = np.frombuffer(host_run(boards.get("native"), str(tmp_path / "cg"), "m", seed).outputs[0][1],
                            dtype=DTYPES[meta["outputs"][0]["dtype"]])
        ref = interpret(data, *generate_inputs(specs, seed), resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES")
        ref = ref.reshape(-1)
        if got.dtype.kind == "f":
            assert np.all(np.abs(got - ref) <= 1e-6 + 1e-5 * np.abs(ref)), (got, ref)
        else:
            assert np.array_equal(got, ref), np.flatnonzero(got != ref)
    return meta


@pytest.mark.slow
def test_elu_int8_compiled_against_builtin(tmp_path):
    meta = run_against_builtin(tmp_path, one_op(OP.ELU, [("x", (4, 40), I8, q(0.05, -10), None)],
                                                ((4, 40), I8, q(0.03, 127))))
    assert meta["options"]["importer_used"] == "utoe-integer"


@pytest.mark.slow
@pytest.mark.parametrize("code", [OP.ELU, OP.CEIL, OP.ROUND])
def test_float_without_reference_kernel(tmp_path, code):
    f32 = TensorType.FLOAT32
    meta = run_against_builtin(tmp_path, one_op(code, [("x", (3, 16), f32, None, None)], ((3, 16), f32, None)))
    assert meta["options"]["importer_used"] == "tvm-relax"
