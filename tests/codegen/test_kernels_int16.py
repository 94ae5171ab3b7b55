"""utoe's int16 kernels (TFLite's 16x8 quantization: int16 activations, int8
weights, int64 bias), each bit-exact with ai-edge-litert's BUILTIN_REF: a
one-operator model compiled by utoe's integer path (a model with int16
tensors goes there on its own), run on this host with seeded inputs (the
whole int16 range) and compared with the reference on the same inputs."""

import numpy as np
import pytest

from tests.codegen.test_kernels_more import OP, I32, Quantization, TensorType, one_op, q, run, slow_after
from utoe.codegen import generate
from utoe.errors import CodegenError

I16, I8, I64, F32 = TensorType.INT16, TensorType.INT8, TensorType.INT64, TensorType.FLOAT32
RNG = np.random.default_rng(16)


def weights(shape):
    return RNG.integers(-127, 128, size=shape).astype(np.int8)


# ---------------------------------------------------------------- QUANTIZE, DEQUANTIZE

QUANTIZE_CASES = [
    (F32, None, I16, (2e-5, 0)),  # saturates: |x| <= 1 is up to 50000
    (I16, (0.0004, 0), I8, (0.05, -128)),
    (I8, (0.05, 127), I16, (0.0003, 0)),
    (I16, (0.0004, 0), I16, (0.00011, 0)),
]


@pytest.mark.parametrize("tin,qin,tout,qout", slow_after(0, QUANTIZE_CASES))
def test_quantize(tmp_path, tin, qin, tout, qout):
    run(tmp_path, one_op(OP.QUANTIZE, [("x", [3, 17], tin, q(*qin) if qin else None, None)],
                         ([3, 17], tout, q(*qout)), version=2))


@pytest.mark.slow
def test_dequantize(tmp_path):
    run(tmp_path, one_op(OP.DEQUANTIZE, [("x", [3, 17], I16, q(0.0007, 0), None)], ([3, 17], F32, None),
                         version=3))


# ---------------------------------------------------------------- FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D

def fc_model(batch, n_in, n_out, per_channel, bias_type, act=0, in_scale=0.0005, out_scale=0.003):
    w = weights([n_out, n_in])
    scales = list(RNG.uniform(0.002, 0.02, n_out)) if per_channel else [0.01]
    wq = Quantization(scales, [0] * len(scales), 0)
    ins = [("x", [batch, n_in], I16, q(in_scale, 0), None), ("w", [n_out, n_in], I8, wq, w)]
    if bias_type is None:
        ins.append((None, None, None, None, None))
    else:
        dt = np.int64 if bias_type == I64 else np.int32
        ins.append(("b", [n_out], bias_type, Quantization([in_scale * s for s in scales] if per_channel else
                                                          [in_scale * 0.01], [0] * len(scales), 0),
                    RNG.integers(-200000, 200000, n_out).astype(dt)))
    return one_op(OP.FULLY_CONNECTED, ins, ([batch, n_out], I16, q(out_scale, 0)),
                  ("FullyConnectedOptions", {"FusedActivationFunction": act}), version=7)


FC_CASES = [(3, 12, 7, True, I64, 1), (1, 32, 10, False, I64, 0), (2, 20, 5, False, None, 3)]


@pytest.mark.parametrize("batch,n_in,n_out,per_channel,bias,act", slow_after(0, FC_CASES))
def test_fully_connected(tmp_path, batch, n_in, n_out, per_channel, bias, act):
    run(tmp_path, fc_model(batch, n_in, n_out, per_channel, bias, act))


def conv_model(kind, in_shape, k, out_ch, stride, padding, act, mult=1, in_scale=0.0004, out_scale=0.002,
               bias_type=I64):
    c = in_shape[3]
    oc = out_ch if kind == "conv" else c * mult
    wshape = [oc, k, k, c] if kind == "conv" else [1, k, k, oc]
    scales = list(RNG.uniform(0.002, 0.02, oc))
    wq = Quantization(scales, [0] * oc, 0 if kind == "conv" else 3)
    same = padding == 0
    oh = (in_shape[1] + stride - 1) // stride if same else (in_shape[1] - k) // stride + 1
    ow = (in_shape[2] + stride - 1) // stride if same else (in_shape[2] - k) // stride + 1
    dt = np.int64 if bias_type == I64 else np.int32
    b = RNG.integers(-100000, 100000, oc).astype(dt)
    ins = [("x", in_shape, I16, q(in_scale, 0), None), ("w", wshape, I8, wq, weights(wshape)),
           ("b", [oc], bias_type, Quantization([in_scale * s for s in scales], [0] * oc, 0), b)]
    common = {"Padding": padding, "StrideW": stride, "StrideH": stride, "FusedActivationFunction": act,
              "DilationWFactor": 1, "DilationHFactor": 1}
    if kind == "conv":
        return one_op(OP.CONV_2D, ins, ([1, oh, ow, oc], I16, q(out_scale, 0)), ("Conv2DOptions", common), 4)
    return one_op(OP.DEPTHWISE_CONV_2D, ins, ([1, oh, ow, oc], I16, q(out_scale, 0)),
                  ("DepthwiseConv2DOptions", dict(common, DepthMultiplier=mult)), 5)


CONV_CASES = [("conv", [1, 6, 6, 3], 3, 4, 1, 0, 0, 1), ("conv", [1, 7, 7, 4], 3, 5, 2, 1, 3, 1),
              ("dw", [1, 6, 6, 4], 3, 0, 1, 0, 0, 1), ("dw", [1, 7, 7, 3], 3, 0, 2, 1, 1, 2)]


@pytest.mark.parametrize("kind,shape,k,oc,stride,padding,act,mult", slow_after(0, CONV_CASES))
def test_conv(tmp_path, kind, shape, k, oc, stride, padding, act, mult):
    run(tmp_path, conv_model(kind, shape, k, oc, stride, padding, act, mult))


@pytest.mark.parametrize("kind", ["fc", "conv"])
def test_int32_bias_refused(tmp_path, kind):
    """BUILTIN_REF misreads an int32 bias on int16 activations: refused by name, before any build."""
    path = tmp_path / "m.tflite"
    path.write_bytes(fc_model(2, 16, 6, False, I32) if kind == "fc" else
                     conv_model("conv", [1, 5, 5, 3], 3, 4, 1, 0, 0, bias_type=I32))
    with pytest.raises(CodegenError, match=r"(FULLY_CONNECTED|CONV_2D) \(operator #0: int16, const int8, const int32 "
                                           r"-> int16\): int16 activations with an int32 bias"):
        generate(str(path), str(tmp_path / "cg"), "m")


# ---------------------------------------------------------------- ADD, SUB, MUL

def binary(code, table, a_shape, b_shape, qa, qb, qy, act=0):
    y_shape = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    opts = {"FusedActivationFunction": act}
    if code in (OP.ADD, OP.SUB):
        opts["PotScaleInt16"] = False  # as the converter writes 16x8 models
    return one_op(code, [("a", a_shape, I16, q(*qa), None), ("b", b_shape, I16, q(*qb), None)],
                  (y_shape, I16, q(*qy)), (table, opts), version=3)


BINARY_CASES = [
    (OP.SUB, "SubOptions", [2, 3, 8], [8], (0.0004, 0), (0.0007, 0), (0.0005, 0), 0),  # saturates
    (OP.ADD, "AddOptions", [2, 3, 8], [2, 3, 8], (0.0004, 0), (0.0007, 0), (0.0009, 0), 0),
    (OP.MUL, "MulOptions", [2, 3, 8], [2, 3, 8], (0.004, 0), (0.003, 0), (0.3, 0), 0),
    (OP.ADD, "AddOptions", [1, 4, 4, 3], [1, 1, 1, 3], (0.0004, 0), (0.0002, 0), (0.0003, 0), 1),
    (OP.MUL, "MulOptions", [1, 4, 4, 3], [3], (0.004, 0), (0.003, 0), (0.1, 0), 3),
]


@pytest.mark.parametrize("code,table,a,b,qa,qb,qy,act", slow_after(1, BINARY_CASES))
def test_binary(tmp_path, code, table, a, b, qa, qb, qy, act):
    run(tmp_path, binary(code, table, a, b, qa, qb, qy, act))


# ---------------------------------------------------------------- refusals


def test_no_int16_form_refused_before_build(tmp_path):
    """HARD_SWISH has no int16 form: the one-line refusal names it and its types."""
    path = tmp_path / "m.tflite"
    path.write_bytes(one_op(OP.HARD_SWISH, [("x", [2, 10], I16, q(0.001, 0), None)], ([2, 10], I16, q(0.001, 0))))
    with pytest.raises(CodegenError, match=r"HARD_SWISH \(operator #0: int16 -> int16\): no integer kernel"):
        generate(str(path), str(tmp_path / "cg"), "m")


def test_add_pot_scales_refused(tmp_path):
    """pot_scale_int16 set (the schema's default), power-of-two scales, both inputs rescaled: TFLite refuses it."""
    path = tmp_path / "m.tflite"
    path.write_bytes(one_op(OP.ADD, [("a", [4], I16, q(2**-10, 0), None), ("b", [4], I16, q(2**-9, 0), None)],
                            ([4], I16, q(2**-8, 0)), ("AddOptions", {"FusedActivationFunction": 0}), version=3))
    with pytest.raises(CodegenError, match=r"ADD \(operator #0: int16, int16 -> int16\): .*power-of-two"):
        generate(str(path), str(tmp_path / "cg"), "m")


POT_CASES = [(OP.ADD, "AddOptions", 2**-10, 2**-8, 2**-8, 1), (OP.SUB, "SubOptions", 2**-7, 2**-11, 2**-7, 0),
             (OP.SUB, "SubOptions", 2**-12, 2**-9, 2**-9, 0)]


@pytest.mark.parametrize("code,table,sa,sb,sy,act", slow_after(0, POT_CASES))
def test_add_sub_pot_scales(tmp_path, code, table, sa, sb, sy, act):
    """pot_scale_int16 set and power-of-two scales: one input shifted down, a saturating int16 sum."""
    run(tmp_path, one_op(code, [("a", [4, 8], I16, q(sa, 0), None), ("b", [4, 8], I16, q(sb, 0), None)],
                         ([4, 8], I16, q(sy, 0)), (table, {"FusedActivationFunction": act}), version=3))


# ---------------------------------------------------------------- pools, RELU, RELU6, LEAKY_RELU, ABS

def pool(kind, shape, k, stride, padding, qp=(0.0003, 0), act=0):
    same = padding == 0
    oh = (shape[1] + stride - 1) // stride if same else (shape[1] - k) // stride + 1
    ow = (shape[2] + stride - 1) // stride if same else (shape[2] - k) // stride + 1
    return one_op(OP.AVERAGE_POOL_2D if kind == "avg" else OP.MAX_POOL_2D, [("x", shape, I16, q(*qp), None)],
                  ([1, oh, ow, shape[3]], I16, q(*qp)),
                  ("Pool2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride, "FilterWidth": k,
                                     "FilterHeight": k, "FusedActivationFunction": act}), version=3)


POOL_CASES = [("avg", [1, 6, 6, 2], 3, 1, 0, 0), ("max", [1, 7, 7, 2], 3, 2, 0, 0), ("avg", [1, 8, 8, 3], 2, 2, 1, 3),
              ("max", [1, 8, 8, 3], 2, 2, 1, 1)]


@pytest.mark.parametrize("kind,shape,k,stride,padding,act", slow_after(0, POOL_CASES))
def test_pool(tmp_path, kind, shape, k, stride, padding, act):
    run(tmp_path, pool(kind, shape, k, stride, padding, act=act))


UNARY_CASES = [
    (OP.RELU, (0.0005, 0), (0.0003, 0), None),  # saturates
    (OP.RELU6, (0.0005, 0), (0.0002, 0), None),  # 6 / 0.0002 > 32767: the int16 end is the limit
    (OP.RELU6, (0.0003, 0), (0.00005, 0), None),  # 6 / 0.00005 = 120000 also clamps
    (OP.LEAKY_RELU, (0.0005, 0), (0.0004, 0), ("LeakyReluOptions", {"Alpha": 0.2})),
    (OP.ABS, (0.0005, 0), (0.0003, 0), None),
    (OP.ABS, (0.0005, 0), (0.0005, 0), None),  # same scale: no requantization
]


@pytest.mark.parametrize("code,qin,qout,options", slow_after(0, UNARY_CASES))
def test_unary(tmp_path, code, qin, qout, options):
    run(tmp_path, one_op(code, [("x", [4, 16], I16, q(*qin), None)], ([4, 16], I16, q(*qout)), options,
                         version=2 if code == OP.LEAKY_RELU else 3))


# ---------------------------------------------------------------- LOGISTIC, TANH, MEAN

LUT_CASES = [(OP.LOGISTIC, 0.0003), (OP.TANH, 2**-12), (OP.LOGISTIC, 2**-12), (OP.LOGISTIC, 2**-11),
             (OP.TANH, 2**-11), (OP.TANH, 2**-10), (OP.LOGISTIC, 0.01), (OP.TANH, 0.0003)]


@pytest.mark.parametrize("code,scale", slow_after(1, LUT_CASES))
def test_logistic_tanh(tmp_path, code, scale):
    """Input scales: powers of two TFLite takes as such (2^-12, 2^-11), others by multiplier; 0.01 saturates."""
    run(tmp_path, one_op(code, [("x", [4, 32], I16, q(scale, 0), None)], ([4, 32], I16, q(2**-15, 0)), version=3))


MEAN_CASES = [((1, 5, 6, 4), [1, 2], True, 0.0005, 0.0003), ((3, 5, 4), [-1], False, 0.0005, 0.00001),
              ((4, 6), [0, 1], False, 0.0004, 0.0004)]


@pytest.mark.parametrize("shape,axes,keep,sin,sout", slow_after(0, MEAN_CASES))
def test_mean(tmp_path, shape, axes, keep, sin, sout):
    from tests.codegen.test_kernels_more import reduced

    a = np.array(axes, np.int32)
    run(tmp_path, one_op(OP.MEAN, [("x", shape, I16, q(sin, 0), None), ("axis", a.shape, I32, None, a)],
                         (reduced(shape, axes, keep), I16, q(sout, 0)), ("ReducerOptions", {"KeepDims": keep}),
                         version=3))


def test_16x8_model_as_the_converter_writes_it(tmp_path):
    """A float32-in, float32-out network quantized 16x8 as TFLite's converter
    does it: QUANTIZE to int16, CONV_2D and FULLY_CONNECTED with int8
    per-channel weights and int64 biases, ADD, RESHAPE, DEQUANTIZE; bit-exact
    at every int16 operator and the float output."""
    from tests.codegen.test_kernels_more import Model

    m = Model("utoe test: 16x8 chain")
    rng = np.random.default_rng(3)
    x = m.tensor("x", [1, 6, 6, 2], F32)
    xq = m.tensor("xq", [1, 6, 6, 2], I16, quantization=q(1 / 32767, 0))
    m.operator(OP.QUANTIZE, [x], [xq], version=2)
    ws = list(rng.uniform(0.003, 0.01, 4))
    w = m.tensor("w", [4, 3, 3, 2], I8, data=weights([4, 3, 3, 2]), quantization=Quantization(ws, [0] * 4, 0))
    b = m.tensor("b", [4], I64, data=rng.integers(-50000, 50000, 4).astype(np.int64),
                 quantization=Quantization([s / 32767 for s in ws], [0] * 4, 0))
    c = m.tensor("c", [1, 6, 6, 4], I16, quantization=q(0.0001, 0))
    m.operator(OP.CONV_2D, [xq, w, b], [c], version=4, options=("Conv2DOptions", {
        "Padding": 0, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": 1, "DilationWFactor": 1,
        "DilationHFactor": 1}))
    a = m.tensor("a", [1, 6, 6, 4], I16, quantization=q(0.00015, 0))
    m.operator(OP.ADD, [c, c], [a], version=3, options=("AddOptions", {"FusedActivationFunction": 0,
                                                                         "PotScaleInt16": False}))
    shape = m.tensor("shape", [2], I32, data=np.array([1, 144], np.int32))
    r = m.tensor("r", [1, 144], I16, quantization=q(0.00015, 0))
    m.operator(OP.RESHAPE, [a, shape], [r])
    fw = m.tensor("fw", [5, 144], I8, data=weights([5, 144]), quantization=Quantization([0.004] * 5, [0] * 5, 0))
    fb = m.tensor("fb", [5], I64, data=rng.integers(-5000, 5000, 5).astype(np.int64),
                  quantization=Quantization([0.00015 * 0.004] * 5, [0] * 5, 0))
    f = m.tensor("f", [1, 5], I16, quantization=q(0.0002, 0))
    m.operator(OP.FULLY_CONNECTED, [r, fw, fb], [f], version=7,
               options=("FullyConnectedOptions", {"FusedActivationFunction": 0}))
    y = m.tensor("y", [1, 5], F32)
    m.operator(OP.DEQUANTIZE, [f], [y], version=3)
    m.io([x], [y])
    m.signature("serving_default", {"x": x}, {"y": y})
    meta = run(tmp_path, m.serialize())
    assert [t["dtype"] for t in meta["outputs"]] == ["float32"]


SOFTMAX_CASES = [((2, 10), 0.001, 1.0), ((3, 1, 16), 0.0003, 1.0), ((4, 7), 0.002, 0.5), ((1, 40), 0.00005, 1.0)]


@pytest.mark.parametrize("shape,scale,beta", slow_after(0, SOFTMAX_CASES))
def test_softmax(tmp_path, shape, scale, beta):
    """Input scales from 0.00005 (exp's table over a small range) to 0.002 (most of a row underflows)."""
    run(tmp_path, one_op(OP.SOFTMAX, [("x", list(shape), I16, q(scale, 0), None)],
                         (list(shape), I16, q(1 / 32768, 0)), ("SoftmaxOptions", {"Beta": beta}), version=3))


PRELU_CASES = [((1, 3, 3, 4), (4,), 0.0005, 0.01, 0.0004), ((2, 3, 4), (), 0.0005, 0.05, 0.0001)]


@pytest.mark.parametrize("shape,ashape,sx,sa,sy", slow_after(0, PRELU_CASES))
def test_prelu(tmp_path, shape, ashape, sx, sa, sy):
    alpha = RNG.integers(-128, 128, ashape).astype(np.int8)  # a weight: int8 in 16x8 models
    run(tmp_path, one_op(OP.PRELU, [("x", list(shape), I16, q(sx, 0), None), ("a", list(ashape), I8, q(sa, 0), alpha)],
                         (list(shape), I16, q(sy, 0))))
