"""Conformance cases: int16 activations with int8 weights (TFLite's 16x8
quantization: int16 activations with zero point 0, int8 weights, int64 bias).
(models/make_conformance.py collects them.)"""

import numpy as np

from tflite_builder import BuiltinOperator as OP
from tflite_builder import Model, Quantization, TensorType

I16, I8, I32, I64, F32 = TensorType.INT16, TensorType.INT8, TensorType.INT32, TensorType.INT64, TensorType.FLOAT32
SAME, VALID = 0, 1

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = {"concatenation-int16-axis1"}
_NO = "no integer kernel for these types"
REFUSED = {
    # TFLite Micro runs these on int16; utoe has no int16 form of them yet (SUM: utoe refuses SUM of
    # every type, for BUILTIN_REF's int8 SUM)
    "sum-int16-axis1": "SUM (operator #0: int16, const int32 -> int16): ",
    # (BUILTIN_REF does not run int16 SQUARED_DIFFERENCE either: "only supports FLOAT32 and INT32")
    "squared_difference-int16-same-shape": "SQUARED_DIFFERENCE (operator #0: int16, int16 -> int16): " + _NO,
    # ai-edge-litert 2.3's BUILTIN_REF computes garbage with an int32 bias on int16 activations
    "conv_2d-int16-int32-bias": "int16 activations with an int32 bias: the reference interpreter (BUILTIN_REF)",
    # pot_scale_int16 with power-of-two scales where both inputs need rescaling: TFLite refuses it too
    "add-int16-pot-scales-both-shifted": "TFLite's power-of-two path takes one input rescaled down",
    # BUILTIN_REF reads PRELU's alpha as int8 whatever its type
    "prelu-int16-int16-alpha": "int16 PRELU with an int16 alpha: the reference interpreter (BUILTIN_REF) reads",
    # no int16 form yet (int8 and float32 only): the line names the operator and its int16 types
    "transpose_conv-int16-2x2-s2": "TRANSPOSE_CONV (operator #0: const int32, int16, const int8 -> int16)",
    "batch_matmul-int16-2x3x4-by-4x5": "BATCH_MATMUL (operator #0: int16, int16 -> int16)",
    # a 16x8 model with one operator utoe cannot do is refused whole, before any build
    "fully_connected-int16-then-hard-swish": "HARD_SWISH (operator #1: int16 -> int16): " + _NO,
}


def q(scale, zp=0):
    return Quantization([scale], [zp])


class _Net:
    def __init__(self, what):
        self.m = Model(f"utoe conformance: {what} int16")
        self.n = 0

    def act(self, shape, scale, ttype=I16, zp=0):
        self.n += 1
        return self.m.tensor(f"x{self.n}", list(shape), ttype, quantization=q(scale, zp) if scale else None)

    def const(self, arr, ttype, qp=None):
        self.n += 1
        return self.m.tensor(f"c{self.n}", list(np.shape(arr)), ttype, data=arr, quantization=qp)

    def ints(self, values):
        return self.const(np.asarray(values, np.int32), I32)


def _op(code, inputs, outs, options=None, version=1, n_live=None):
    """One operator on int16 tensors. inputs: [("act", shape, scale) | ("ints", values) |
    ("q16" | "q8", shape, scale) (an int16 | int8 constant) | ("w8", shape) (per-channel int8
    weights) | ("bool", shape) (a bool input)]; outs: [(shape, scale)]."""

    def build(rng):
        net = _Net(code)
        ins, live = [], []
        for kind, *rest in inputs:
            if kind == "act":
                t = net.act(rest[0], rest[1])
                live.append(t)
            elif kind == "ints":
                t = net.ints(rest[0])
            elif kind == "bool":
                t = net.m.tensor(f"m{len(ins)}", rest[0], TensorType.BOOL)
                live.append(t)
            elif kind == "w8":  # per-channel int8 weights along axis 0
                scales = list(rng.uniform(0.002, 0.02, rest[0][0]))
                t = net.const(rng.integers(-127, 128, rest[0]).astype(np.int8), I8,
                              Quantization(scales, [0] * len(scales), 0))
            elif kind == "q8":
                t = net.const(rng.integers(-128, 128, rest[0]).astype(np.int8), I8, q(rest[1]))
            else:
                t = net.const(rng.integers(-32768, 32768, rest[0]).astype(np.int16), I16, q(rest[1]))
            ins.append(t)
        ys = [net.act(shape, scale) for shape, scale in outs]
        net.m.operator(code, ins, ys, version=version, options=options)
        net.m.io(live, ys)
        return net.m

    return build


def _weights(rng, shape):
    return rng.integers(-127, 128, size=shape).astype(np.int8)


def _fc(batch, n_in, n_out, act, per_channel=False, bias=True, in_s=0.0005, out_s=0.003, then_hard_swish=False):
    def build(rng):
        net = _Net("fc")
        x = net.act([batch, n_in], in_s)
        scales = list(rng.uniform(0.002, 0.02, n_out)) if per_channel else [0.01]
        w = net.const(_weights(rng, [n_out, n_in]), I8, Quantization(scales, [0] * len(scales), 0))
        b = net.const(rng.integers(-300000, 300000, n_out).astype(np.int64), I64,
                      Quantization([in_s * s for s in scales], [0] * len(scales), 0)) if bias else -1
        y = net.act([batch, n_out], out_s)
        net.m.operator(OP.FULLY_CONNECTED, [x, w, b], [y], version=7,
                       options=("FullyConnectedOptions", {"FusedActivationFunction": act}))
        if then_hard_swish:  # TFLite Micro has no int16 HARD_SWISH either
            z = net.act([batch, n_out], out_s)
            net.m.operator(OP.HARD_SWISH, [y], [z])
            y = z
        net.m.io([x], [y])
        return net.m

    return build


def _conv(kind, in_shape, k, out_ch, stride, padding, act, mult=1, in_s=0.0004, out_s=0.002, bias_type=I64):
    def build(rng):
        net = _Net(kind)
        c = in_shape[3]
        oc = out_ch if kind == "conv" else c * mult
        wshape = [oc, k, k, c] if kind == "conv" else [1, k, k, oc]
        scales = list(rng.uniform(0.002, 0.02, oc))
        x = net.act(in_shape, in_s)
        w = net.const(_weights(rng, wshape), I8, Quantization(scales, [0] * oc, 0 if kind == "conv" else 3))
        dt = np.int64 if bias_type == I64 else np.int32
        b = net.const(rng.integers(-100000, 100000, oc).astype(dt), bias_type,
                      Quantization([in_s * s for s in scales], [0] * oc, 0))
        oh = (in_shape[1] + stride - 1) // stride if padding == SAME else (in_shape[1] - k) // stride + 1
        ow = (in_shape[2] + stride - 1) // stride if padding == SAME else (in_shape[2] - k) // stride + 1
        y = net.act([1, oh, ow, oc], out_s)
        common = {"Padding": padding, "StrideW": stride, "StrideH": stride, "FusedActivationFunction": act,
                  "DilationWFactor": 1, "DilationHFactor": 1}
        if kind == "conv":
            net.m.operator(OP.CONV_2D, [x, w, b], [y], version=4, options=("Conv2DOptions", common))
        else:
            net.m.operator(OP.DEPTHWISE_CONV_2D, [x, w, b], [y], version=5,
                           options=("DepthwiseConv2DOptions", dict(common, DepthMultiplier=mult)))
        net.m.io([x], [y])
        return net.m

    return build


def _binary(code, table, a_shape, b_shape, sa, sb, sy, act=0, pot=False):
    out = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    opts = {"FusedActivationFunction": act}
    if code in (OP.ADD, OP.SUB) and not pot:
        opts["PotScaleInt16"] = False  # as the converter writes 16x8 models
    return _op(code, [("act", a_shape, sa), ("act", b_shape, sb)], [(out, sy)], (table, opts), version=3)


def _quantize(shape, tin, sin, tout, sout, zin=0, zout=0, code=OP.QUANTIZE):
    def build(rng):
        net = _Net("quantize")
        x = net.act(shape, sin, tin, zin)
        y = net.act(shape, sout, tout, zout)
        net.m.operator(code, [x], [y], version=2 if code == OP.QUANTIZE else 3)
        net.m.io([x], [y])
        return net.m

    return build


def _pool(kind, shape, k, stride, padding, act=0, s=0.0003):
    oh = (shape[1] + stride - 1) // stride if padding == SAME else (shape[1] - k) // stride + 1
    ow = (shape[2] + stride - 1) // stride if padding == SAME else (shape[2] - k) // stride + 1
    return _op(OP.AVERAGE_POOL_2D if kind == "avg" else OP.MAX_POOL_2D, [("act", shape, s)],
               [([1, oh, ow, shape[3]], s)], ("Pool2DOptions", {
                   "Padding": padding, "StrideW": stride, "StrideH": stride, "FilterWidth": k, "FilterHeight": k,
                   "FusedActivationFunction": act}), version=3)


def cases():
    from make_conformance import Case

    d = "int16"
    s = 0.0005
    return [
        Case("QUANTIZE", d, "from-float32-saturating", _quantize([2, 16], F32, None, I16, 2e-5)),
        Case("QUANTIZE", d, "to-int8-zp-128", _quantize([2, 16], I16, 0.0004, I8, 0.05, zout=-128)),
        Case("QUANTIZE", d, "from-int8-zp127", _quantize([2, 16], I8, 0.05, I16, 0.0003, zin=127)),
        Case("QUANTIZE", d, "requantize-int16", _quantize([2, 16], I16, 0.0004, I16, 0.00011)),
        Case("DEQUANTIZE", d, "to-float32", _quantize([2, 16], I16, 0.0007, F32, None, code=OP.DEQUANTIZE)),
        Case("FULLY_CONNECTED", d, "16-to-10", _fc(1, 16, 10, 0)),
        Case("FULLY_CONNECTED", d, "batch3-per-channel-relu", _fc(3, 12, 7, 1, per_channel=True)),
        Case("FULLY_CONNECTED", d, "no-bias-relu6", _fc(2, 20, 5, 3, bias=False)),
        Case("FULLY_CONNECTED", d, "then-hard-swish", _fc(1, 16, 10, 0, then_hard_swish=True)),
        Case("CONV_2D", d, "3x3-s1-same-per-channel", _conv("conv", [1, 8, 8, 3], 3, 4, 1, SAME, 0)),
        Case("CONV_2D", d, "3x3-s2-valid-relu6", _conv("conv", [1, 9, 9, 4], 3, 5, 2, VALID, 3, out_s=0.0002)),
        Case("CONV_2D", d, "int32-bias", _conv("conv", [1, 5, 5, 3], 3, 4, 1, SAME, 0, bias_type=I32)),
        Case("DEPTHWISE_CONV_2D", d, "3x3-s1-same", _conv("dw", [1, 8, 8, 4], 3, 0, 1, SAME, 0)),
        Case("DEPTHWISE_CONV_2D", d, "3x3-s2-valid-mult2-relu", _conv("dw", [1, 9, 9, 3], 3, 0, 2, VALID, 1, mult=2)),
        Case("ADD", d, "same-shape", _binary(OP.ADD, "AddOptions", [1, 4, 4, 3], [1, 4, 4, 3], s, 0.0007, 0.0009)),
        Case("ADD", d, "broadcast-channel-relu", _binary(OP.ADD, "AddOptions", [1, 4, 4, 3], [1, 1, 1, 3], 0.0004,
                                                         0.0002, 0.0003, act=1)),
        Case("ADD", d, "pot-scales-relu", _binary(OP.ADD, "AddOptions", [4, 8], [4, 8], 2**-10, 2**-8, 2**-8,
                                                  act=1, pot=True)),
        Case("ADD", d, "pot-scales-both-shifted", _binary(OP.ADD, "AddOptions", [4, 4], [4, 4], 2**-10, 2**-9,
                                                          2**-8, pot=True)),
        Case("SUB", d, "pot-scales", _binary(OP.SUB, "SubOptions", [4, 8], [4, 8], 2**-7, 2**-11, 2**-7, pot=True)),
        Case("SUB", d, "broadcast-saturating", _binary(OP.SUB, "SubOptions", [2, 3, 8], [8], 0.0004, 0.0007, 0.0005)),
        Case("MUL", d, "same-shape", _binary(OP.MUL, "MulOptions", [1, 3, 3, 4], [1, 3, 3, 4], 0.004, 0.003, 0.3)),
        Case("MUL", d, "broadcast-relu6", _binary(OP.MUL, "MulOptions", [1, 3, 3, 4], [4], 0.004, 0.003, 0.1, act=3)),
        Case("AVERAGE_POOL_2D", d, "2x2-s2-valid", _pool("avg", [1, 8, 8, 3], 2, 2, VALID)),
        Case("AVERAGE_POOL_2D", d, "3x3-s1-same", _pool("avg", [1, 6, 6, 2], 3, 1, SAME)),
        Case("MAX_POOL_2D", d, "3x3-s2-same", _pool("max", [1, 7, 7, 2], 3, 2, SAME)),
        Case("RELU", d, "requantize", _op(OP.RELU, [("act", [4, 8], s)], [([4, 8], 0.0003)], version=3)),
        Case("RELU6", d, "requantize", _op(OP.RELU6, [("act", [4, 8], s)], [([4, 8], 0.0002)], version=3)),
        Case("LEAKY_RELU", d, "alpha-0.2", _op(OP.LEAKY_RELU, [("act", [4, 8], s)], [([4, 8], 0.0004)],
                                               ("LeakyReluOptions", {"Alpha": 0.2}), version=2)),
        Case("ABS", d, "requantize", _op(OP.ABS, [("act", [4, 8], s)], [([4, 8], 0.0003)], version=3)),
        Case("MAXIMUM", d, "broadcast", _op(OP.MAXIMUM, [("act", [2, 3, 4], s), ("act", [4], s)], [([2, 3, 4], s)],
                                            ("MaximumMinimumOptions", {}), version=4)),
        Case("MINIMUM", d, "same-shape", _op(OP.MINIMUM, [("act", [2, 6], s), ("act", [2, 6], s)], [([2, 6], s)],
                                             ("MaximumMinimumOptions", {}), version=4)),
        Case("RESHAPE", d, "4d-to-2d", _op(OP.RESHAPE, [("act", [1, 2, 3, 4], s), ("ints", [1, 24])], [([1, 24], s)])),
        Case("SQUEEZE", d, "all-ones", _op(OP.SQUEEZE, [("act", [1, 3, 4], s)], [([3, 4], s)],
                                        ("SqueezeOptions", {}))),
        Case("EXPAND_DIMS", d, "axis1", _op(OP.EXPAND_DIMS, [("act", [3, 4], s), ("ints", [1])], [([3, 1, 4], s)])),
        Case("TRANSPOSE", d, "nhwc-to-nchw", _op(OP.TRANSPOSE, [("act", [1, 2, 3, 4], s), ("ints", [0, 3, 1, 2])],
                                                 [([1, 4, 2, 3], s)], version=6)),
        Case("CONCATENATION", d, "axis1", _op(OP.CONCATENATION, [("act", [2, 3], s), ("act", [2, 4], s)],
                                              [([2, 7], s)], ("ConcatenationOptions", {
                                                  "Axis": 1, "FusedActivationFunction": 0}), version=3)),
        Case("PACK", d, "axis1", _op(OP.PACK, [("act", [2, 3], s), ("act", [2, 3], s)], [([2, 2, 3], s)],
                                     ("PackOptions", {"ValuesCount": 2, "Axis": 1}), version=3)),
        Case("UNPACK", d, "axis0", _op(OP.UNPACK, [("act", [3, 4], s)], [([4], s)] * 3,
                                       ("UnpackOptions", {"Num": 3, "Axis": 0}), version=3)),
        Case("SPLIT", d, "axis1-in-2", _op(OP.SPLIT, [("ints", 1), ("act", [2, 6], s)], [([2, 3], s)] * 2,
                                           ("SplitOptions", {"NumSplits": 2}), version=4)),
        Case("SPLIT_V", d, "axis0-1-2", _op(OP.SPLIT_V, [("act", [3, 4], s), ("ints", [1, 2]), ("ints", 0)],
                                            [([1, 4], s), ([2, 4], s)], ("SplitVOptions", {"NumSplits": 2}),
                                            version=2)),
        Case("STRIDED_SLICE", d, "stride2", _op(OP.STRIDED_SLICE, [("act", [6, 4], s), ("ints", [0, 1]),
                                                                   ("ints", [6, 4]), ("ints", [2, 2])],
                                                [([3, 2], s)], ("StridedSliceOptions", {}), version=4)),
        Case("SLICE", d, "2d", _op(OP.SLICE, [("act", [4, 6], s), ("ints", [1, 2]), ("ints", [2, -1])],
                                   [([2, 4], s)], version=4)),
        Case("PAD", d, "2d", _op(OP.PAD, [("act", [2, 3], s), ("ints", [[1, 1], [0, 1]])], [([4, 4], s)], version=4)),
        Case("PADV2", d, "2d-value", _op(OP.PADV2, [("act", [2, 3], s), ("ints", [[0, 1], [2, 0]]), ("q16", [], s)],
                                         [([3, 5], s)], version=4)),
        Case("REDUCE_MAX", d, "axis1", _op(OP.REDUCE_MAX, [("act", [3, 7, 2], s), ("ints", [1])], [([3, 2], s)],
                                           ("ReducerOptions", {"KeepDims": False}), version=3)),
        Case("REDUCE_MIN", d, "axis0-keepdims", _op(OP.REDUCE_MIN, [("act", [3, 5], s), ("ints", [0])],
                                                    [([1, 5], s)], ("ReducerOptions", {"KeepDims": True}),
                                                    version=3)),
        Case("RESIZE_NEAREST_NEIGHBOR", d, "2x", _op(
            OP.RESIZE_NEAREST_NEIGHBOR, [("act", [1, 3, 4, 2], s), ("ints", [6, 8])], [([1, 6, 8, 2], s)],
            ("ResizeNearestNeighborOptions", {"AlignCorners": False, "HalfPixelCenters": False}), version=4)),
        Case("LOGISTIC", d, "4x8-pot-scale", _op(OP.LOGISTIC, [("act", [4, 8], 2**-12)], [([4, 8], 2**-15)],
                                                  version=3)),
        Case("LOGISTIC", d, "4x8-saturating", _op(OP.LOGISTIC, [("act", [4, 8], 0.01)], [([4, 8], 2**-15)],
                                                   version=3)),
        Case("TANH", d, "4x8-pot-scale-shift1", _op(OP.TANH, [("act", [4, 8], 2**-11)], [([4, 8], 2**-15)],
                                                     version=3)),
        Case("TANH", d, "4x8-general-scale", _op(OP.TANH, [("act", [4, 8], 0.0003)], [([4, 8], 2**-15)], version=3)),
        Case("MEAN", d, "hw-keepdims", _op(OP.MEAN, [("act", [1, 5, 6, 4], s), ("ints", [1, 2])],
                                           [([1, 1, 1, 4], 0.0003)], ("ReducerOptions", {"KeepDims": True}),
                                           version=3)),
        Case("MEAN", d, "last-axis-saturating", _op(OP.MEAN, [("act", [3, 5, 4], s), ("ints", [-1])],
                                                    [([3, 5], 0.00001)], ("ReducerOptions", {"KeepDims": False}),
                                                    version=3)),
        Case("SOFTMAX", d, "2x10", _op(OP.SOFTMAX, [("act", [2, 10], 0.001)], [([2, 10], 1 / 32768)],
                                       ("SoftmaxOptions", {"Beta": 1.0}), version=3)),
        Case("SOFTMAX", d, "3x16-beta-0.5", _op(OP.SOFTMAX, [("act", [3, 16], 0.0003)], [([3, 16], 1 / 32768)],
                                                ("SoftmaxOptions", {"Beta": 0.5}), version=3)),
        Case("PRELU", d, "channel-alpha-int8", _op(OP.PRELU, [("act", [1, 3, 3, 4], s), ("q8", [4], 0.01)],
                                                   [([1, 3, 3, 4], 0.0004)])),
        Case("PRELU", d, "scalar-alpha-int8-saturating", _op(OP.PRELU, [("act", [2, 3, 4], s), ("q8", [], 0.05)],
                                                             [([2, 3, 4], 0.0001)])),
        Case("PRELU", d, "int16-alpha", _op(OP.PRELU, [("act", [1, 3, 3, 4], s), ("q16", [4], 0.0001)],
                                            [([1, 3, 3, 4], 0.0004)])),
        # TFLite Micro's int16 operators without an int16 form in utoe: refused by name
        Case("SUM", d, "axis1", _op(OP.SUM, [("act", [3, 5], s), ("ints", [1])], [([3], 0.002)],
                                    ("ReducerOptions", {"KeepDims": False}), version=2)),
        Case("SQUARED_DIFFERENCE", d, "same-shape", _op(OP.SQUARED_DIFFERENCE, [("act", [2, 6], s),
                                                                                ("act", [2, 6], 0.0007)],
                                                        [([2, 6], 0.002)])),
        Case("TRANSPOSE_CONV", d, "2x2-s2", _op(OP.TRANSPOSE_CONV, [("ints", [1, 6, 6, 3]), ("act", [1, 3, 3, 4], s),
                                                                  ("w8", [3, 2, 2, 4])], [([1, 6, 6, 3], 0.002)],
                                               ("TransposeConvOptions", {"Padding": SAME, "StrideW": 2,
                                                                         "StrideH": 2}), version=3)),
        Case("BATCH_MATMUL", d, "2x3x4-by-4x5", _op(OP.BATCH_MATMUL, [("act", [2, 3, 4], s), ("act", [4, 5], s)],
                                                    [([2, 3, 5], 0.002)], ("BatchMatMulOptions", {}), version=3)),
        Case("SELECT_V2", d, "broadcast", _op(OP.SELECT_V2, [("bool", [2, 1]), ("act", [2, 4], s), ("act", [4], s)],
                                              [([2, 4], s)], version=2)),
    ]
