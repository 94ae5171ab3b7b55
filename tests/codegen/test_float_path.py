"""The float path (TVM's Relax frontend): its arena, the operators TVM 0.27
got wrong, hybrid (dynamic-range) and mixed float/int8 models.

Each model is written with models/tflite_builder.py, compiled by utoe, built
and run on this host and compared with TFLite's BUILTIN_REF interpreter
(utoe.conformance.check: floats within the reference's tolerance)."""

import os
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from utoe.codegen import generate, lower, planner
from utoe.conformance import check
from utoe.errors import CodegenError

sys.path.insert(0, os.path.join(ROOT, "models"))
try:
    from tflite.BuiltinOperator import BuiltinOperator as OP
    from tflite_builder import Model, Quantization, TensorType
finally:
    sys.path.pop(0)

F32, I8, I32 = TensorType.FLOAT32, TensorType.INT8, TensorType.INT32
SAME, VALID = 0, 1
RELU = 1


class Net:
    """A small TFLite model: t() adds a tensor (constant with data), op() an
    operator; save() writes it with the tensors without data and without a
    producer as inputs."""

    def __init__(self):
        self.m = Model("utoe test: float path")
        self.produced, self.consts, self.live = set(), set(), []

    def t(self, name, shape, ttype=F32, data=None, quant=None):
        t = self.m.tensor(name, shape, ttype, data=data, quantization=quant)
        (self.consts.add if data is not None else self.live.append)(t.index)
        return t

    def op(self, code, ins, outs, options=None, version=1):
        self.m.operator(code, ins, outs, version=version, options=options)
        self.produced.update(o.index for o in outs)
        return outs[0]

    def save(self, path, out):
        ins = [self.m.tensors[i] for i in self.live if i not in self.produced]
        self.m.io(ins, [out])
        self.m.signature("serving_default", {t.name: t for t in ins}, {"y": out})
        path.write_bytes(self.m.serialize())
        return str(path)


def conv_pool_model(path, rng):
    """CONV_2D 3x3 SAME + bias + ReLU, MAX_POOL_2D 3x3/2 SAME, FULLY_CONNECTED,
    SOFTMAX: what TVM gives temporaries (padded copies, a convolution output
    kept before its bias, softmax's row max and sum)."""
    n = Net()
    x = n.t("x", [1, 8, 8, 3])
    c = n.t("c", [1, 8, 8, 6])
    n.op(OP.CONV_2D, [x, n.t("w", [6, 3, 3, 3], data=rng.uniform(-0.5, 0.5, [6, 3, 3, 3]).astype(np.float32)),
                      n.t("b", [6], data=rng.uniform(-0.2, 0.2, 6).astype(np.float32))], [c],
         ("Conv2DOptions", {"Padding": SAME, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": RELU,
                            "DilationWFactor": 1, "DilationHFactor": 1}))
    p = n.t("p", [1, 4, 4, 6])
    n.op(OP.MAX_POOL_2D, [c], [p], ("Pool2DOptions", {"Padding": SAME, "StrideW": 2, "StrideH": 2,
                                                       "FilterWidth": 3, "FilterHeight": 3,
                                                       "FusedActivationFunction": 0}))
    r = n.t("r", [1, 96])
    n.op(OP.RESHAPE, [p, n.t("s", [2], I32, data=np.array([1, 96], np.int32))], [r])
    f = n.t("f", [1, 10])
    n.op(OP.FULLY_CONNECTED, [r, n.t("fw", [10, 96], data=rng.uniform(-0.3, 0.3, [10, 96]).astype(np.float32)),
                              n.t("fb", [10], data=rng.uniform(-0.1, 0.1, 10).astype(np.float32))], [f],
         ("FullyConnectedOptions", {"FusedActivationFunction": 0}))
    y = n.t("y", [1, 10])
    n.op(OP.SOFTMAX, [f], [y], ("SoftmaxOptions", {"Beta": 1.0}))
    return n.save(path, y)


def test_temporaries_scheduled_away(tmp_path, monkeypatch):
    """The planner property on the float path: the arena is the largest sum
    of the model's tensors live at one step (the lower bound), nothing added
    for TVM's operator temporaries, as TFLite Micro's arena has none; with
    TVM's temporaries left as they come (shrink_temporaries off) each is
    sized into the workspace pool and the arena grows. Values stay the
    reference's."""
    model = conv_pool_model(tmp_path / "m.tflite", np.random.default_rng(3))
    meta = generate(model, str(tmp_path / "cg"), "m")
    assert meta["options"]["importer_used"] == "tvm-relax"
    assert [op["workspace_bytes"] for op in meta["operators"]] == [0] * len(meta["operators"])
    mem = meta["memory"]
    assert mem["workspace_pool_bytes"] == 0
    assert mem["arena_bytes"] == planner._align(mem["arena_lower_bound_bytes"])

    with monkeypatch.context() as mp:
        mp.setattr(lower, "shrink_temporaries", lambda prim: prim)
        raw = generate(model, str(tmp_path / "raw"), "m")
    per_op = [op["workspace_bytes"] for op in raw["operators"]]
    assert raw["memory"]["workspace_pool_bytes"] == max(per_op) > 0
    assert raw["memory"]["arena_bytes"] > mem["arena_bytes"]

    outcome = check(model, name="m")
    assert outcome.status == "pass", outcome.detail


def unary_model(path, code, shape, out_shape, extra=(), options=None):
    n = Net()
    x = n.t("x", shape)
    y = n.t("y", out_shape)
    n.op(code, [x] + [n.t(name, list(np.shape(v)), I32, data=v) for name, v in extra], [y], options)
    return n.save(path, y)


@pytest.mark.parametrize("code,shape,out_shape,extra,options", [
    (OP.ABS, [3, 5], [3, 5], (), None),
    (OP.EXPAND_DIMS, [2, 3, 4], [2, 3, 4, 1], [("axis", np.array([-1], np.int32))], ("ExpandDimsOptions", {})),
    pytest.param(OP.EXPAND_DIMS, [2, 3], [1, 2, 3], [("axis", np.array(0, np.int32))], ("ExpandDimsOptions", {}),
                 marks=pytest.mark.slow),
], ids=["abs", "expand_dims-axis-minus1", "expand_dims-axis0-scalar"])
def test_tvm_operators_fixed(tmp_path, code, shape, out_shape, extra, options):
    """float ABS (TVM 0.27 has no C lowering for tirx.fabs) and EXPAND_DIMS
    (its converter calls expand_dims with a signature Relax lacks) compile
    and match the reference."""
    model = unary_model(tmp_path / "m.tflite", code, shape, out_shape, extra, options)
    outcome = check(model, name="m")
    assert outcome.status == "pass", outcome.detail
    assert outcome.importer == "tvm-relax"


# ---------------------------------------------------------------- hybrid FULLY_CONNECTED


def hybrid_fc(n, x, units, rng, scales=(0.01,), bias=True, act=0, name="y", asym=False):
    depth = x.shape[-1]
    w = rng.integers(-127, 128, [units, depth]).astype(np.int8)
    wq = Quantization(list(scales), [0] * len(scales), 0)
    ins = [x, n.t(name + "/w", [units, depth], I8, data=w, quant=wq)]
    if bias:
        ins.append(n.t(name + "/b", [units], data=rng.uniform(-0.2, 0.2, units).astype(np.float32)))
    batch = int(np.prod(x.shape)) // depth
    y = n.t(name, [batch, units])
    return n.op(OP.FULLY_CONNECTED, ins, [y], ("FullyConnectedOptions", {"FusedActivationFunction": act,
                                                                         "AsymmetricQuantizeInputs": asym}),
                version=9 if asym else 3)


def ties_model(path, rng, batch=2, depth=12, units=7, scales=(0.01,), act=0):
    """x (in [-1, 1)) -> floor(8x) + 0.5, with 127 appended to every row:
    each row's range is 127, so TFLite's hybrid kernel quantizes with the
    factor 1 and every value is a tie (-7.5 ... 7.5) that rounds away from
    zero; the second row is all zeros before the 127 when zero_row."""
    n = Net()
    x = n.t("x", [batch, depth])
    m = n.t("m", [batch, depth])
    n.op(OP.MUL, [x, n.t("eight", [1], data=np.array([8], np.float32))], [m], ("MulOptions", {}))
    f = n.t("f", [batch, depth])
    n.op(OP.FLOOR, [m], [f])
    h = n.t("h", [batch, depth])
    n.op(OP.ADD, [f, n.t("half", [1], data=np.array([0.5], np.float32))], [h], ("AddOptions", {}))
    c = n.t("c", [batch, depth + 1])
    n.op(OP.CONCATENATION, [h, n.t("top", [batch, 1], data=np.full([batch, 1], 127, np.float32))], [c],
         ("ConcatenationOptions", {"Axis": 1}))
    y = hybrid_fc(n, c, units, rng, scales, act=act)
    return n.save(path, y)


def masked_model(path, rng, scales=(0.02,), asym=False):
    """3 rows of x times a mask whose middle row is zero (TFLite: range 0,
    scale 1, output = bias), then a hybrid FULLY_CONNECTED with ReLU."""
    n = Net()
    x = n.t("x", [3, 16])
    mask = np.ones([3, 16], np.float32)
    mask[1] = 0
    m = n.t("m", [3, 16])
    n.op(OP.MUL, [x, n.t("mask", [3, 16], data=mask)], [m], ("MulOptions", {}))
    y = hybrid_fc(n, m, 10, rng, scales, act=RELU, asym=asym)
    return n.save(path, y)


def plain_model(path, rng, batch=1, depth=16, units=10, scales=(0.01,), bias=True, asym=False, shift=0.0):
    """x, or x + shift (all positive, say: a zero point far from 0 when the
    input is quantized asymmetrically), into a hybrid FULLY_CONNECTED."""
    n = Net()
    x = n.t("x", [batch, depth])
    if shift:
        xs = n.t("xs", [batch, depth])
        n.op(OP.ADD, [x, n.t("shift", [1], data=np.array([shift], np.float32))], [xs], ("AddOptions", {}))
        x = xs
    return n.save(path, hybrid_fc(n, x, units, rng, scales, bias=bias, asym=asym))


HYBRID = [
    ("ties", lambda p, r: ties_model(p, r)),
    pytest.param("ties-per-channel-relu", lambda p, r: ties_model(p, r, batch=3, scales=tuple(
        np.linspace(0.004, 0.03, 7)), act=RELU), marks=pytest.mark.slow),
    pytest.param("zero-row-relu", lambda p, r: masked_model(p, r), marks=pytest.mark.slow),
    pytest.param("plain-batch4-no-bias", lambda p, r: plain_model(p, r, batch=4, depth=20, units=5, bias=False),
                 marks=pytest.mark.slow),
    ("asymmetric-inputs-batch3", lambda p, r: plain_model(p, r, batch=3, depth=24, units=6, asym=True)),
    pytest.param("asymmetric-positive-per-channel", lambda p, r: plain_model(
        p, r, batch=2, units=4, scales=(0.01, 0.02, 0.005, 0.03), asym=True, shift=1.5), marks=pytest.mark.slow),
    pytest.param("asymmetric-zero-row-relu", lambda p, r: masked_model(p, r, asym=True), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,build", HYBRID)
def test_hybrid_fully_connected(tmp_path, name, build):
    """Dynamic-range FULLY_CONNECTED (int8 weights, float32 activations) is
    compiled on the float path as TFLite's kernel computes it: the input
    quantized per row (symmetric, round half away from zero), an exact
    integer product, then scaled, so it matches BUILTIN_REF."""
    model = build(tmp_path / "m.tflite", np.random.default_rng(7))
    outcome = check(model, name="m")
    assert outcome.status == "pass", outcome.detail
    assert outcome.importer == "tvm-relax"


def test_other_hybrid_operator_refused(tmp_path):
    """A hybrid CONV_2D is refused by name before anything is built."""
    n = Net()
    x = n.t("x", [1, 4, 4, 2])
    y = n.t("y", [1, 4, 4, 3])
    n.op(OP.CONV_2D, [x, n.t("w", [3, 1, 1, 2], I8, data=np.ones([3, 1, 1, 2], np.int8),
                             quant=Quantization([0.1], [0], 0)),
                      n.t("b", [3], data=np.zeros(3, np.float32))], [y],
         ("Conv2DOptions", {"Padding": SAME, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": 0,
                            "DilationWFactor": 1, "DilationHFactor": 1}), version=2)
    model = n.save(tmp_path / "conv.tflite", y)
    with pytest.raises(CodegenError) as e:
        generate(model, str(tmp_path / "cg"), "m")
    text = str(e.value)
    assert "CONV_2D (operator #0: float32, const int8, const float32 -> float32)" in text
    assert "hybrid" in text and model in text
    assert not os.path.exists(tmp_path / "cg" / "ops.c")


def test_mixed_float_int8_model(tmp_path):
    """Float in and out, int8 inside (QUANTIZE, int8 FULLY_CONNECTED with
    ReLU, DEQUANTIZE), as TFLite's converter writes a model with float
    I/O: utoe's integer path, matching the reference."""
    rng = np.random.default_rng(5)
    n = Net()
    x = n.t("x", [2, 16])
    qx = n.t("qx", [2, 16], I8, quant=Quantization([1 / 127], [0]))
    n.op(OP.QUANTIZE, [x], [qx])
    qy = n.t("qy", [2, 8], I8, quant=Quantization([0.05], [-128]))
    n.op(OP.FULLY_CONNECTED, [qx, n.t("w", [8, 16], I8, data=rng.integers(-127, 128, [8, 16]).astype(np.int8),
                                      quant=Quantization([0.01], [0])),
                              n.t("b", [8], I32, data=rng.integers(-500, 500, 8).astype(np.int32),
                                  quant=Quantization([0.01 / 127], [0]))], [qy],
         ("FullyConnectedOptions", {"FusedActivationFunction": RELU}), version=4)
    y = n.t("y", [2, 8])
    n.op(OP.DEQUANTIZE, [qy], [y], version=2)
    model = n.save(tmp_path / "mixed.tflite", y)
    outcome = check(model, name="m")
    assert outcome.status == "pass", outcome.detail
    assert outcome.importer == "utoe-integer"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5.onnx", "lenet5.pt2", "sine.tflite"])
def test_zoo_float_arena_is_the_lower_bound(tmp_path, name):
    """On the zoo's float models no operator keeps a temporary: the arena is
    the planner's lower bound over the model's tensors (as TFLite Micro's:
    benchmarks/float_arena.py gives the figures)."""
    meta = generate(os.path.join(ROOT, "models", name), str(tmp_path), "m")
    assert meta["memory"]["workspace_pool_bytes"] == 0
    assert meta["memory"]["arena_bytes"] == planner._align(meta["memory"]["arena_lower_bound_bytes"])


@pytest.mark.slow
def test_weights_dequantized_once(tmp_path):
    """int8 weights DEQUANTIZEd to float32 at the model's start (weight-only
    quantization), then a float FULLY_CONNECTED: the float path."""
    rng = np.random.default_rng(11)
    n = Net()
    x = n.t("x", [2, 12])
    wf = n.t("wf", [6, 12])
    n.op(OP.DEQUANTIZE, [n.t("wq", [6, 12], I8, data=rng.integers(-127, 128, [6, 12]).astype(np.int8),
                             quant=Quantization([0.02], [0]))], [wf], version=2)
    y = n.t("y", [2, 6])
    n.op(OP.FULLY_CONNECTED, [x, wf, n.t("b", [6], data=rng.uniform(-0.2, 0.2, 6).astype(np.float32))], [y],
         ("FullyConnectedOptions", {"FusedActivationFunction": 0}))
    outcome = check(n.save(tmp_path / "m.tflite", y), name="m")
    assert outcome.status == "pass", outcome.detail
    assert outcome.importer == "tvm-relax"
