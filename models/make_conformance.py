"""Single-operator TFLite models: the conformance matrix (issue 12).

One model per operator x type x case (shapes, strides, padding,
broadcasting, per-channel/per-tensor weights, zero points at the extremes,
saturation), written with the project's own flatbuffer writer. utoe compiles
each, runs it on the host and compares it with TFLite's BUILTIN_REF
interpreter (utoe/conformance.py; tests/test_conformance.py;
benchmarks/conformance.py; the table in docs/operators.md).

    python models/make_conformance.py OUT_DIR [--only OP[,OP...]]

Every case is deterministic: fixed seeds, numpy's PCG64 only, so the same
case always gives the same bytes. Quantization parameters are chosen, not
calibrated: what matters is that the arithmetic is exercised (rounding,
saturation, zero points at -128 and 127), not that a network is accurate.
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from tflite_builder import BuiltinOperator as OP  # noqa: E402
from tflite_builder import Model, Quantization, TensorType  # noqa: E402

I8, F32, I32 = TensorType.INT8, TensorType.FLOAT32, TensorType.INT32
NONE, RELU, RELU6 = 0, 1, 3  # ActivationFunctionType
SAME, VALID = 0, 1  # Padding


class Case:
    """One single-operator model: `op` (TFLite's builtin name), `dtype`
    (int8 or float32 activations), `name` (unique in the matrix), `build`
    (a function of a numpy Generator returning a Model), `importer` (the
    path expected to compile it when not the usual one: utoe's integer
    importer for int8/int16 activations, TVM for the rest)."""

    def __init__(self, op, dtype, name, build, importer=None):
        self.op, self.dtype, self.name, self.build, self.importer = op, dtype, name, build, importer

    @property
    def id(self):
        return f"{self.op.lower()}-{self.dtype}-{self.name}"

    def serialize(self):
        seed = sum(self.id.encode()) * 7919 % 2**31
        return self.build(np.random.default_rng(seed)).serialize()


def q(scale, zp):
    return Quantization([scale], [zp])


class _Net:
    """A Model under construction with helpers for activations and constants."""

    def __init__(self, case_id, dtype):
        self.m = Model(f"utoe conformance: {case_id}")
        self.dtype = dtype
        self.n = 0

    def _name(self, what):
        self.n += 1
        return f"{what}{self.n}"

    def act(self, shape, qp=None):
        if self.dtype == "float32":
            return self.m.tensor(self._name("x"), shape, F32)
        return self.m.tensor(self._name("x"), shape, I8, quantization=qp)

    def const(self, arr, ttype, qp=None):
        return self.m.tensor(self._name("c"), list(arr.shape), ttype, data=arr, quantization=qp)

    def ints(self, values):
        arr = np.asarray(values, np.int32)
        return self.m.tensor(self._name("c"), list(arr.shape), I32, data=arr)

    def done(self, inputs, outputs):
        self.m.io(inputs, outputs)
        return self.m


def _w_int8(rng, shape):
    return rng.integers(-127, 128, size=shape).astype(np.int8)


def _conv(kind, dtype, in_shape, k, out_ch, stride, padding, act, in_q=(0.05, 3), out_q=(0.1, -5),
          per_channel=True, mult=1):
    """CONV_2D (kind 'conv') or DEPTHWISE_CONV_2D (kind 'dw')."""

    def build(rng):
        net = _Net(f"{kind} {dtype}", dtype)
        c = in_shape[3]
        oc = out_ch if kind == "conv" else c * mult
        wshape = [oc, k, k, c] if kind == "conv" else [1, k, k, oc]
        x = net.act(in_shape, q(*in_q))
        oh = (in_shape[1] + stride - 1) // stride if padding == SAME else (in_shape[1] - k) // stride + 1
        ow = (in_shape[2] + stride - 1) // stride if padding == SAME else (in_shape[2] - k) // stride + 1
        y = net.act([1, oh, ow, oc], q(*out_q))
        if dtype == "float32":
            w = net.const(rng.uniform(-0.5, 0.5, wshape).astype(np.float32), F32)
            b = net.const(rng.uniform(-0.2, 0.2, [oc]).astype(np.float32), F32)
        else:
            axis = 0 if kind == "conv" else 3
            scales = list(rng.uniform(0.002, 0.02, oc)) if per_channel else [0.01]
            wq = Quantization(scales, [0] * len(scales), axis)
            w = net.const(_w_int8(rng, wshape), I8, wq)
            bscales = [in_q[0] * s for s in (scales if per_channel else scales * oc)]
            b = net.const(rng.integers(-2000, 2000, oc).astype(np.int32), I32,
                          Quantization(bscales, [0] * oc, 0))
        if kind == "conv":
            net.m.operator(OP.CONV_2D, [x, w, b], [y], version=3 if dtype == "int8" else 1,
                           options=("Conv2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride,
                                                      "FusedActivationFunction": act, "DilationWFactor": 1,
                                                      "DilationHFactor": 1}))
        else:
            net.m.operator(OP.DEPTHWISE_CONV_2D, [x, w, b], [y], version=3 if dtype == "int8" else 1,
                           options=("DepthwiseConv2DOptions", {
                               "Padding": padding, "StrideW": stride, "StrideH": stride, "DepthMultiplier": mult,
                               "FusedActivationFunction": act, "DilationWFactor": 1, "DilationHFactor": 1}))
        return net.done([x], [y])

    return build


def _fc(dtype, batch, n_in, n_out, act, bias=True, in_q=(0.05, -128), out_q=(0.2, 10)):
    def build(rng):
        net = _Net(f"fc {dtype}", dtype)
        x = net.act([batch, n_in], q(*in_q))
        y = net.act([batch, n_out], q(*out_q))
        if dtype == "float32":
            w = net.const(rng.uniform(-0.5, 0.5, [n_out, n_in]).astype(np.float32), F32)
            b = net.const(rng.uniform(-0.2, 0.2, [n_out]).astype(np.float32), F32) if bias else -1
        else:
            w = net.const(_w_int8(rng, [n_out, n_in]), I8, q(0.01, 0))
            b = net.const(rng.integers(-3000, 3000, n_out).astype(np.int32), I32, q(in_q[0] * 0.01, 0)) \
                if bias else -1
        net.m.operator(OP.FULLY_CONNECTED, [x, w, b], [y], version=4 if dtype == "int8" else 1,
                       options=("FullyConnectedOptions", {"FusedActivationFunction": act}))
        return net.done([x], [y])

    return build


def _fc_hybrid(n_in, n_out):
    """Dynamic-range FULLY_CONNECTED: int8 weights, float32 activations
    (MLPerf Tiny's "float32" KWS is built this way)."""

    def build(rng):
        net = _Net("fc hybrid", "float32")
        x = net.act([1, n_in])
        w = net.const(_w_int8(rng, [n_out, n_in]), I8, q(0.01, 0))
        b = net.const(rng.uniform(-0.2, 0.2, [n_out]).astype(np.float32), F32)
        y = net.act([1, n_out])
        net.m.operator(OP.FULLY_CONNECTED, [x, w, b], [y], version=3,
                       options=("FullyConnectedOptions", {"FusedActivationFunction": NONE}))
        return net.done([x], [y])

    return build


def _pool(dtype, kind, in_shape, k, stride, padding, qp=(0.1, -7)):
    def build(rng):
        net = _Net(f"pool {dtype}", dtype)
        x = net.act(in_shape, q(*qp))
        oh = (in_shape[1] + stride - 1) // stride if padding == SAME else (in_shape[1] - k) // stride + 1
        ow = (in_shape[2] + stride - 1) // stride if padding == SAME else (in_shape[2] - k) // stride + 1
        y = net.act([1, oh, ow, in_shape[3]], q(*qp))
        net.m.operator(OP.AVERAGE_POOL_2D if kind == "avg" else OP.MAX_POOL_2D, [x], [y],
                       version=2 if dtype == "int8" else 1,
                       options=("Pool2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride,
                                                  "FilterWidth": k, "FilterHeight": k,
                                                  "FusedActivationFunction": NONE}))
        return net.done([x], [y])

    return build


def _binary(dtype, code, table, a_shape, b_shape, a_q, b_q, y_q, act=NONE, b_const=False):
    def build(rng):
        net = _Net(f"binary {dtype}", dtype)
        a = net.act(a_shape, q(*a_q))
        if b_const:
            arr = rng.uniform(-1, 1, b_shape).astype(np.float32) if dtype == "float32" \
                else rng.integers(-128, 128, b_shape).astype(np.int8)
            b = net.const(arr, F32 if dtype == "float32" else I8, None if dtype == "float32" else q(*b_q))
        else:
            b = net.act(b_shape, q(*b_q))
        out_shape = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
        y = net.act(out_shape, q(*y_q))
        net.m.operator(code, [a, b], [y], version=2 if dtype == "int8" else 1,
                       options=(table, {"FusedActivationFunction": act}))
        return net.done([a] if b_const else [a, b], [y])

    return build


def _unary(dtype, code, shape, in_q, out_q, options=None, version=2):
    def build(rng):
        net = _Net(f"unary {dtype}", dtype)
        x = net.act(shape, q(*in_q))
        y = net.act(shape, q(*out_q))
        net.m.operator(code, [x], [y], version=version if dtype == "int8" else 1, options=options)
        return net.done([x], [y])

    return build


def _concat(dtype, shapes, axis, qp=(0.07, 2)):
    def build(rng):
        net = _Net(f"concat {dtype}", dtype)
        xs = [net.act(s, q(*qp)) for s in shapes]
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        y = net.act(out, q(*qp))
        net.m.operator(OP.CONCATENATION, xs, [y], version=2 if dtype == "int8" else 1,
                       options=("ConcatenationOptions", {"Axis": axis, "FusedActivationFunction": NONE}))
        return net.done(xs, [y])

    return build


def _reshape(dtype, in_shape, out_shape, qp=(0.1, 0)):
    def build(rng):
        net = _Net(f"reshape {dtype}", dtype)
        x = net.act(in_shape, q(*qp))
        s = net.ints(out_shape)
        y = net.act(out_shape, q(*qp))
        net.m.operator(OP.RESHAPE, [x, s], [y])  # the shape tensor says it (NewShape is a vector)
        return net.done([x], [y])

    return build


def _transpose(dtype, in_shape, perm, qp=(0.1, 0)):
    def build(rng):
        net = _Net(f"transpose {dtype}", dtype)
        x = net.act(in_shape, q(*qp))
        p = net.ints(perm)
        y = net.act([in_shape[i] for i in perm], q(*qp))
        net.m.operator(OP.TRANSPOSE, [x, p], [y], version=2 if dtype == "int8" else 1)
        return net.done([x], [y])

    return build


def _split(dtype, in_shape, axis, num, qp=(0.1, 0)):
    def build(rng):
        net = _Net(f"split {dtype}", dtype)
        a = net.ints(axis)
        x = net.act(in_shape, q(*qp))
        part = list(in_shape)
        part[axis] //= num
        ys = [net.act(part, q(*qp)) for _ in range(num)]
        net.m.operator(OP.SPLIT, [a, x], ys, version=2 if dtype == "int8" else 1,
                       options=("SplitOptions", {"NumSplits": num}))
        return net.done([x], ys)

    return build


def _split_v(dtype, in_shape, axis, sizes, qp=(0.1, 0)):
    def build(rng):
        net = _Net(f"split_v {dtype}", dtype)
        x = net.act(in_shape, q(*qp))
        s = net.ints(sizes)
        a = net.ints(axis)
        ys = []
        for size in sizes:
            part = list(in_shape)
            part[axis] = size
            ys.append(net.act(part, q(*qp)))
        net.m.operator(OP.SPLIT_V, [x, s, a], ys, version=2 if dtype == "int8" else 1,
                       options=("SplitVOptions", {"NumSplits": len(sizes)}))
        return net.done([x], ys)

    return build


def _pack(dtype, shape, count, axis, qp=(0.1, 0)):
    def build(rng):
        net = _Net(f"pack {dtype}", dtype)
        xs = [net.act(shape, q(*qp)) for _ in range(count)]
        out = list(shape)
        out.insert(axis, count)
        y = net.act(out, q(*qp))
        net.m.operator(OP.PACK, xs, [y], version=2 if dtype == "int8" else 1,
                       options=("PackOptions", {"ValuesCount": count, "Axis": axis}))
        return net.done(xs, [y])

    return build


def _unpack(dtype, shape, axis, qp=(0.1, 0)):
    def build(rng):
        net = _Net(f"unpack {dtype}", dtype)
        x = net.act(shape, q(*qp))
        part = [d for i, d in enumerate(shape) if i != axis]
        ys = [net.act(part, q(*qp)) for _ in range(shape[axis])]
        net.m.operator(OP.UNPACK, [x], ys, version=2 if dtype == "int8" else 1,
                       options=("UnpackOptions", {"Num": shape[axis], "Axis": axis}))
        return net.done([x], ys)

    return build


def _quantize(shape, in_type, in_q, out_q):
    def build(rng):
        net = _Net("quantize", "int8")
        if in_type == "float32":
            x = net.m.tensor("x", shape, F32)
        else:
            x = net.m.tensor("x", shape, I8, quantization=q(*in_q))
        y = net.m.tensor("y", shape, I8, quantization=q(*out_q))
        net.m.operator(OP.QUANTIZE, [x], [y], version=2)
        return net.done([x], [y])

    return build


def _dequantize(shape, in_q):
    def build(rng):
        net = _Net("dequantize", "int8")
        x = net.m.tensor("x", shape, I8, quantization=q(*in_q))
        y = net.m.tensor("y", shape, F32)
        net.m.operator(OP.DEQUANTIZE, [x], [y], version=2)
        return net.done([x], [y])

    return build


def _single(dtype, code, inputs, out, options=None, version=1, version_f32=1):
    """One operator from a spec. inputs: [("act", shape, (scale, zp)) | ("ints", values) |
    ("q8", shape, (scale, zp)) (an int8 constant, float32 in a float case)];
    out: (shape, (scale, zp)) or (shape, "int32"|"int64") for an index output."""

    def build(rng):
        net = _Net(f"{code} {dtype}", dtype)
        ins, live = [], []
        for kind, *rest in inputs:
            if kind == "act":
                t = net.act(rest[0], q(*rest[1]))
                live.append(t)
            elif kind == "ints":
                t = net.ints(rest[0])
            else:
                shape, qp = rest
                t = net.const(rng.uniform(-1, 1, shape).astype(np.float32), F32) if dtype == "float32" else \
                    net.const(rng.integers(-128, 128, shape).astype(np.int8), I8, q(*qp))
            ins.append(t)
        shape, oq = out
        if oq in ("int32", "int64"):
            y = net.m.tensor("y", shape, I32 if oq == "int32" else TensorType.INT64)
        else:
            y = net.act(shape, q(*oq))
        net.m.operator(code, ins, [y], version=version if dtype == "int8" else version_f32, options=options)
        return net.done(live, [y])

    return build


def _more(dt):
    """Operators beyond the zoo's (issue 12), int8 and float32 alike."""
    qa, qb = (0.05, -3), (0.08, 10)
    return [
        Case("PAD", dt, "nhwc-1-2", _single(dt, OP.PAD, [("act", [1, 4, 4, 3], qa),
                                                          ("ints", [[0, 0], [1, 2], [2, 1], [0, 0]])],
                                              ([1, 7, 7, 3], qa), version=2)),
        Case("PADV2", dt, "const-zp", _single(dt, OP.PADV2, [("act", [2, 5], qa), ("ints", [[1, 0], [0, 3]]),
                                                               ("q8", [], qa)], ([3, 8], qa), version=2)),
        Case("MEAN", dt, "hw-keepdims", _single(dt, OP.MEAN, [("act", [1, 5, 6, 4], qa), ("ints", [1, 2])],
                                                  ([1, 1, 1, 4], qb), ("ReducerOptions", {"KeepDims": True}),
                                                  version=2)),
        Case("REDUCE_MAX", dt, "axis1", _single(dt, OP.REDUCE_MAX, [("act", [3, 7, 2], qa), ("ints", [1])],
                                                  ([3, 2], qa), ("ReducerOptions", {"KeepDims": False}),
                                                  version=2)),
        Case("STRIDED_SLICE", dt, "stride2-masks", _single(
            dt, OP.STRIDED_SLICE, [("act", [1, 8, 6, 3], qa), ("ints", [0, 1, 0, 0]), ("ints", [1, 8, 6, 2]),
                                   ("ints", [1, 2, 2, 1])], ([1, 4, 3, 2], qa),
            ("StridedSliceOptions", {"BeginMask": 1, "EndMask": 1}), version=2)),
        Case("SLICE", dt, "2d", _single(dt, OP.SLICE, [("act", [4, 6], qa), ("ints", [1, 2]), ("ints", [2, -1])],
                                          ([2, 4], qa), version=2)),
        Case("RELU", dt, "requantize", _single(dt, OP.RELU, [("act", [4, 8], (0.05, -20))], ([4, 8], (0.03, -128)),
                                                 version=2)),
        Case("RELU6", dt, "requantize", _single(dt, OP.RELU6, [("act", [4, 8], (0.06, 0))], ([4, 8], (0.025, -128)),
                                                  version=2)),
        Case("LEAKY_RELU", dt, "alpha-0.2", _single(dt, OP.LEAKY_RELU, [("act", [4, 8], (0.05, 3))],
                                                      ([4, 8], (0.04, -10)), ("LeakyReluOptions", {"Alpha": 0.2}),
                                                      version=2)),
        Case("HARD_SWISH", dt, "4x16", _single(dt, OP.HARD_SWISH, [("act", [4, 16], (0.05, -5))],
                                                 ([4, 16], (0.03, -100)))),
        Case("MAXIMUM", dt, "broadcast", _single(dt, OP.MAXIMUM, [("act", [2, 3, 4], qa), ("act", [4], qa)],
                                                   ([2, 3, 4], qa), ("MaximumMinimumOptions", {}), version=2)),
        Case("MINIMUM", dt, "same-shape", _single(dt, OP.MINIMUM, [("act", [2, 6], qa), ("act", [2, 6], qa)],
                                                    ([2, 6], qa), ("MaximumMinimumOptions", {}), version=2)),
        Case("PRELU", dt, "channel-alpha", _single(dt, OP.PRELU, [("act", [1, 3, 3, 4], qa), ("q8", [4], (0.01, 0))],
                                                     ([1, 3, 3, 4], qb))),
        Case("GATHER", dt, "axis0", _single(dt, OP.GATHER, [("act", [6, 4], qa), ("ints", [3, 0, 5, 3])], ([4, 4], qa),
                                              ("GatherOptions", {"Axis": 0}), version=2)),
        Case("EXPAND_DIMS", dt, "axis1", _single(dt, OP.EXPAND_DIMS, [("act", [3, 4], qa), ("ints", [1])],
                                                   ([3, 1, 4], qa))),
        Case("DEPTH_TO_SPACE", dt, "block2", _single(dt, OP.DEPTH_TO_SPACE, [("act", [1, 3, 4, 8], qa)],
                                                       ([1, 6, 8, 2], qa), ("DepthToSpaceOptions", {"BlockSize": 2}))),
        Case("SPACE_TO_DEPTH", dt, "block2", _single(dt, OP.SPACE_TO_DEPTH, [("act", [1, 4, 6, 2], qa)],
                                                       ([1, 2, 3, 8], qa), ("SpaceToDepthOptions", {"BlockSize": 2}),
                                                       version=2)),
        Case("RESIZE_NEAREST_NEIGHBOR", dt, "2x", _single(
            dt, OP.RESIZE_NEAREST_NEIGHBOR, [("act", [1, 3, 4, 2], qa), ("ints", [6, 8])], ([1, 6, 8, 2], qa),
            ("ResizeNearestNeighborOptions", {"AlignCorners": False, "HalfPixelCenters": False}), version=2)),
        Case("ARG_MAX", dt, "last-axis", _single(dt, OP.ARG_MAX, [("act", [3, 10], qa), ("ints", [1])], ([3], "int32"),
                                                   ("ArgMaxOptions", {"OutputType": TensorType.INT32}), version=2)),
        Case("ABS", dt, "requantize", _single(dt, OP.ABS, [("act", [4, 8], (0.05, 3))], ([4, 8], (0.04, -128)),
                                                version=2)),
        Case("SQUARED_DIFFERENCE", dt, "same-shape", _single(
            dt, OP.SQUARED_DIFFERENCE, [("act", [2, 6], qa), ("act", [2, 6], qb)], ([2, 6], (0.2, -128)))),
        Case("SUM", dt, "axis1", _single(dt, OP.SUM, [("act", [3, 5], qa), ("ints", [1])], ([3], qb),
                                           ("ReducerOptions", {"KeepDims": False}), version=2)),
    ]


def cases():
    """Every case of the matrix, in a fixed order."""
    out = []
    for dt in ("int8", "float32"):
        out += [
            Case("CONV_2D", dt, "3x3-s1-same-per-channel", _conv("conv", dt, [1, 8, 8, 3], 3, 4, 1, SAME, NONE)),
            Case("CONV_2D", dt, "3x3-s2-valid-relu6", _conv("conv", dt, [1, 9, 9, 4], 3, 5, 2, VALID, RELU6)),
            Case("CONV_2D", dt, "1x1-zp-128-per-tensor", _conv("conv", dt, [1, 5, 5, 8], 1, 6, 1, SAME, RELU,
                                                               in_q=(0.02, -128), out_q=(0.05, 127),
                                                               per_channel=False)),
            Case("DEPTHWISE_CONV_2D", dt, "3x3-s1-same", _conv("dw", dt, [1, 8, 8, 4], 3, 0, 1, SAME, NONE)),
            Case("DEPTHWISE_CONV_2D", dt, "3x3-s2-valid-mult2-relu",
                 _conv("dw", dt, [1, 9, 9, 3], 3, 0, 2, VALID, RELU, mult=2)),
            Case("FULLY_CONNECTED", dt, "16-to-10", _fc(dt, 1, 16, 10, NONE)),
            Case("FULLY_CONNECTED", dt, "batch3-relu-no-bias", _fc(dt, 3, 12, 7, RELU, bias=False,
                                                                   out_q=(0.05, -128))),
            Case("AVERAGE_POOL_2D", dt, "2x2-s2-valid", _pool(dt, "avg", [1, 8, 8, 3], 2, 2, VALID)),
            Case("AVERAGE_POOL_2D", dt, "3x3-s1-same", _pool(dt, "avg", [1, 6, 6, 2], 3, 1, SAME)),
            Case("MAX_POOL_2D", dt, "2x2-s2-valid", _pool(dt, "max", [1, 8, 8, 3], 2, 2, VALID)),
            Case("MAX_POOL_2D", dt, "3x3-s2-same", _pool(dt, "max", [1, 7, 7, 2], 3, 2, SAME)),
            Case("ADD", dt, "same-shape", _binary(dt, OP.ADD, "AddOptions", [1, 4, 4, 3], [1, 4, 4, 3],
                                                  (0.05, 3), (0.1, -20), (0.12, 5))),
            Case("ADD", dt, "broadcast-channel-relu", _binary(dt, OP.ADD, "AddOptions", [1, 4, 4, 3], [1, 1, 1, 3],
                                                              (0.05, -128), (0.02, 127), (0.06, -128), act=RELU)),
            Case("SUB", dt, "same-shape", _binary(dt, OP.SUB, "SubOptions", [2, 5], [2, 5],
                                                  (0.05, 3), (0.1, -20), (0.12, 5))),
            Case("MUL", dt, "same-shape", _binary(dt, OP.MUL, "MulOptions", [1, 3, 3, 4], [1, 3, 3, 4],
                                                  (0.05, 3), (0.1, -20), (0.2, 5))),
            Case("MUL", dt, "const-broadcast", _binary(dt, OP.MUL, "MulOptions", [1, 3, 3, 4], [4],
                                                       (0.05, 3), (0.01, 0), (0.002, -3), b_const=True)),
            Case("LOGISTIC", dt, "4x8", _unary(dt, OP.LOGISTIC, [4, 8], (0.06, -10), (1 / 256, -128))),
            Case("TANH", dt, "4x8", _unary(dt, OP.TANH, [4, 8], (0.03, 5), (1 / 128, 0))),
            Case("SOFTMAX", dt, "2x10", _unary(dt, OP.SOFTMAX, [2, 10], (0.1, 20), (1 / 256, -128),
                                               options=("SoftmaxOptions", {"Beta": 1.0}))),
            Case("CONCATENATION", dt, "axis3", _concat(dt, [[1, 2, 2, 3], [1, 2, 2, 5]], 3)),
            Case("CONCATENATION", dt, "axis1-three", _concat(dt, [[2, 1, 4], [2, 3, 4], [2, 2, 4]], 1)),
            Case("RESHAPE", dt, "4d-to-2d", _reshape(dt, [1, 2, 3, 4], [1, 24])),
            Case("TRANSPOSE", dt, "nhwc-to-nchw", _transpose(dt, [1, 2, 3, 4], [0, 3, 1, 2])),
            Case("SPLIT", dt, "axis3-in-2", _split(dt, [1, 2, 2, 6], 3, 2)),
            Case("SPLIT_V", dt, "axis1-2-3", _split_v(dt, [2, 5, 3], 1, [2, 3])),
            Case("PACK", dt, "three-axis0", _pack(dt, [2, 3], 3, 0)),
            Case("UNPACK", dt, "axis1", _unpack(dt, [2, 3, 4], 1)),
        ] + _more(dt)
    out += [
        Case("QUANTIZE", "int8", "from-float32", _quantize([2, 16], "float32", None, (0.05, -3))),
        Case("QUANTIZE", "int8", "requantize-int8", _quantize([2, 16], "int8", (0.05, -3), (0.11, 100))),
        Case("DEQUANTIZE", "int8", "to-float32", _dequantize([2, 16], (0.05, -3))),
        Case("FULLY_CONNECTED", "hybrid", "16-to-10", _fc_hybrid(16, 10)),
    ]
    for family in families():
        out += family.cases()
    return out


FAMILIES = ("conformance_logic", "conformance_math", "conformance_spatial", "conformance_recurrent",
            "conformance_int16", "conformance_int32", "conformance_misc",
            "conformance_control")


def families():
    """The case modules of the later operator families (models/conformance_*.py):
    each has cases(), DEFAULT (ids the default tests run) and REFUSED."""
    import importlib

    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    return [importlib.import_module(name) for name in FAMILIES]


def write(out_dir, only=None):
    """Write every case (or those of the operators in `only`) to out_dir;
    returns [(Case, path)]."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for case in cases():
        if only and case.op not in only:
            continue
        path = os.path.join(out_dir, case.id + ".tflite")
        with open(path, "wb") as f:
            f.write(case.serialize())
        written.append((case, path))
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--only", default="", help="operators, comma-separated (TFLite names)")
    args = ap.parse_args()
    for case, path in write(args.out_dir, {s.strip().upper() for s in args.only.split(",") if s.strip()}):
        print(path)


if __name__ == "__main__":
    main()
