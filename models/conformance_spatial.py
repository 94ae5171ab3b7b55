"""Conformance cases: spatial operators (TRANSPOSE_CONV, RESIZE_BILINEAR,
BATCH_MATMUL, MIRROR_PAD), int8 and float32, and second cases of operators
whose int8 kernels are in kernels.py (ARG_MIN, SQUEEZE, REDUCE_MIN,
SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, RELU_N1_TO_1, PAD, STRIDED_SLICE,
GATHER, RESIZE_NEAREST_NEIGHBOR, MEAN). (models/make_conformance.py collects
them.)

TFLite Micro's types (tensorflow/lite/micro/kernels/*.cc): TRANSPOSE_CONV
float32, int8 (int16 x int8 is the int16 family's); RESIZE_BILINEAR float32,
int8; BATCH_MATMUL float32, int8 (int16 elsewhere); MIRROR_PAD float32, int8."""

import numpy as np

from tflite_builder import BuiltinOperator as OP
from tflite_builder import Quantization, TensorType

I8, F32, I32 = TensorType.INT8, TensorType.FLOAT32, TensorType.INT32
SAME, VALID = 0, 1
REFLECT, SYMMETRIC = 0, 1  # MirrorPadMode

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
# (none beyond the first int8 case of each operator, which test_conformance
# runs by default anyway; the kernels' rounding-sensitive default tests are in
# tests/codegen/test_kernels_spatial.py)
DEFAULT = set()
REFUSED = {}

# float32 cases TVM 0.27 cannot take, computed by utoe's own kernels instead
# (codegen._own_kernels), with what TVM says:
OWN = "utoe-integer"
TVM_FAILS = {
    # 'relax.nn.conv2d_transpose' was not lowered to a TVM operator (without a
    # bias: "TVM could not import the model: 'int' object has no attribute 'Type'")
    "TRANSPOSE_CONV": {"3x3-s2-same-bias", "2x2-s2-valid-no-bias", "3x3-s1-same-relu-zp-128"},
    # rank > 2: "TVM could not import the model: 'Type' object has no attribute 'shape'"
    "BATCH_MATMUL": {"broadcast-batch", "adj-x"},
    # "MIRROR_PAD with SYMMETRIC mode is not yet supported."
    "MIRROR_PAD": {"symmetric"},
    # "TVM could not import the model: 'int' object is not iterable"
    "SQUEEZE": {"unit-axes"},
    # 'relax.call_dps_packed' was not lowered to a TVM operator
    "SPACE_TO_BATCH_ND": {"block2-padded"},
    "BATCH_TO_SPACE_ND": {"block2-cropped"},
}
# float32 cases TVM compiles to wrong numbers, so utoe computes them with its
# own kernels (codegen.TVM_WRONG): RESIZE_NEAREST_NEIGHBOR align_corners had
# max abs error 1.96 against BUILTIN_REF (TVM picks other source pixels).
TVM_WRONG = {("RESIZE_NEAREST_NEIGHBOR", "align-corners")}


def _transpose_conv(dtype, in_shape, k, out_ch, stride, padding, bias=True, act=0, in_q=(0.05, 3),
                    out_q=(0.1, -5)):
    """TRANSPOSE_CONV: inputs output_shape, weights [oc, kh, kw, ic], input,
    bias (optional); per-channel int8 weights on axis 0."""
    from make_conformance import _Net, _w_int8, q

    def build(rng):
        net = _Net(f"transpose_conv {dtype}", dtype)
        n, h, w, c = in_shape
        if padding == SAME:
            oh, ow = h * stride, w * stride
        else:
            oh, ow = (h - 1) * stride + k, (w - 1) * stride + k
        shape = net.ints([n, oh, ow, out_ch])
        wshape = [out_ch, k, k, c]
        if dtype == "float32":
            wt = net.const(rng.uniform(-0.5, 0.5, wshape).astype(np.float32), F32)
            b = net.const(rng.uniform(-0.2, 0.2, [out_ch]).astype(np.float32), F32) if bias else -1
        else:
            scales = list(rng.uniform(0.002, 0.02, out_ch))
            wt = net.const(_w_int8(rng, wshape), I8, Quantization(scales, [0] * out_ch, 0))
            b = net.const(rng.integers(-2000, 2000, out_ch).astype(np.int32), I32,
                          Quantization([in_q[0] * s for s in scales], [0] * out_ch, 0)) if bias else -1
        x = net.act(in_shape, q(*in_q))
        y = net.act([n, oh, ow, out_ch], q(*out_q))
        net.m.operator(OP.TRANSPOSE_CONV, [shape, wt, x, b], [y], version=3 if dtype == "int8" else 1,
                       options=("TransposeConvOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride,
                                                         "FusedActivationFunction": act}))
        return net.done([x], [y])

    return build


def _resize_bilinear(dtype, in_shape, size, ac, hp, qp=(0.05, -3)):
    from make_conformance import _single

    return _single(dtype, OP.RESIZE_BILINEAR, [("act", in_shape, qp), ("ints", size)],
                   ([in_shape[0], size[0], size[1], in_shape[3]], qp),
                   ("ResizeBilinearOptions", {"AlignCorners": ac, "HalfPixelCenters": hp}), version=2)


def _batch_matmul(dtype, a_shape, b_shape, adj_x, adj_y, qa=(0.05, -3), qb=(0.04, 7), qy=(0.1, -128)):
    from make_conformance import _single

    rows = a_shape[-1] if adj_x else a_shape[-2]
    cols = b_shape[-2] if adj_y else b_shape[-1]
    batch = list(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))
    return _single(dtype, OP.BATCH_MATMUL, [("act", a_shape, qa), ("act", b_shape, qb)],
                   (batch + [rows, cols], qy), ("BatchMatMulOptions", {"AdjX": adj_x, "AdjY": adj_y}),
                   version=2)


def _mirror_pad(dtype, shape, pads, mode, qp=(0.05, -3)):
    from make_conformance import _single

    out = [d + a + b for d, (a, b) in zip(shape, pads)]
    return _single(dtype, OP.MIRROR_PAD, [("act", shape, qp), ("ints", pads)], (out, qp),
                   ("MirrorPadOptions", {"Mode": mode}), version=2)


def _spatial(dt, Case):
    return [
        Case("TRANSPOSE_CONV", dt, "3x3-s2-same-bias", _transpose_conv(dt, [1, 4, 4, 3], 3, 4, 2, SAME)),
        Case("TRANSPOSE_CONV", dt, "2x2-s2-valid-no-bias",
             _transpose_conv(dt, [1, 3, 5, 4], 2, 3, 2, VALID, bias=False, in_q=(0.03, -128), out_q=(0.02, 127))),
        Case("TRANSPOSE_CONV", dt, "3x3-s1-same-relu-zp-128",
             _transpose_conv(dt, [2, 5, 4, 2], 3, 5, 1, SAME, act=1, in_q=(0.08, 127), out_q=(0.01, -128))),
        Case("RESIZE_BILINEAR", dt, "half-pixel", _resize_bilinear(dt, [1, 3, 4, 2], [7, 10], False, True)),
        Case("RESIZE_BILINEAR", dt, "align-corners", _resize_bilinear(dt, [2, 4, 3, 3], [7, 5], True, False,
                                                                      (0.1, -128))),
        Case("RESIZE_BILINEAR", dt, "plain-downscale", _resize_bilinear(dt, [1, 7, 9, 2], [3, 4], False, False,
                                                                        (0.02, 127))),
        Case("BATCH_MATMUL", dt, "broadcast-batch", _batch_matmul(dt, [2, 3, 4, 5], [3, 5, 6], False, False)),
        Case("BATCH_MATMUL", dt, "adj-x", _batch_matmul(dt, [2, 5, 4], [1, 5, 3], True, False, (0.1, 127),
                                                         (0.05, -128), (0.3, 20))),
        Case("BATCH_MATMUL", dt, "adj-y-rank2", _batch_matmul(dt, [3, 8], [4, 8], False, True, (0.02, 0),
                                                               (0.03, 5), (0.01, 3))),
        Case("MIRROR_PAD", dt, "reflect", _mirror_pad(dt, [1, 4, 5, 2], [[0, 0], [2, 3], [1, 4], [0, 0]], REFLECT)),
        Case("MIRROR_PAD", dt, "symmetric", _mirror_pad(dt, [3, 4], [[3, 2], [4, 1]], SYMMETRIC, (0.1, 127))),
    ]


def _kernels_more(dt, Case):
    """Cases for operators with int8 kernels in kernels.py (and a second case
    for some already in the matrix)."""
    from make_conformance import _single

    qa, qz, qx = (0.05, -3), (0.05, -128), (0.1, 127)
    return [
        Case("ARG_MIN", dt, "axis1-int64", _single(
            dt, OP.ARG_MIN, [("act", [3, 9, 2], qa), ("ints", [1])], ([3, 2], "int64"),
            ("ArgMinOptions", {"OutputType": TensorType.INT64}), version=2)),
        Case("SQUEEZE", dt, "unit-axes", _single(dt, OP.SQUEEZE, [("act", [1, 4, 1, 3], qa)], ([4, 3], qa),
                                                ("SqueezeOptions", {}))),
        Case("REDUCE_MIN", dt, "axes-0-2-keepdims", _single(
            dt, OP.REDUCE_MIN, [("act", [3, 4, 5], qz), ("ints", [0, -1])], ([1, 4, 1], qz),
            ("ReducerOptions", {"KeepDims": True}), version=2)),
        Case("SPACE_TO_BATCH_ND", dt, "block2-padded", _single(
            dt, OP.SPACE_TO_BATCH_ND, [("act", [1, 5, 6, 2], qz), ("ints", [2, 2]), ("ints", [[1, 0], [1, 1]])],
            ([4, 3, 4, 2], qz), ("SpaceToBatchNDOptions", {}), version=2)),
        Case("BATCH_TO_SPACE_ND", dt, "block2-cropped", _single(
            dt, OP.BATCH_TO_SPACE_ND, [("act", [4, 3, 4, 2], qx), ("ints", [2, 2]), ("ints", [[1, 0], [0, 2]])],
            ([1, 5, 6, 2], qx), ("BatchToSpaceNDOptions", {}), version=2)),
        Case("RELU_N1_TO_1", dt, "requantize", _single(dt, OP.RELU_N1_TO_1, [("act", [4, 8], (0.02, -10))],
                                                       ([4, 8], (1 / 128, -1)), version=1)),
        Case("PAD", dt, "zp-128", _single(dt, OP.PAD, [("act", [2, 3, 4], qz), ("ints", [[1, 1], [0, 2], [3, 0]])],
                                          ([4, 5, 7], qz), version=2)),
        Case("STRIDED_SLICE", dt, "negative-stride-shrink", _single(
            dt, OP.STRIDED_SLICE, [("act", [4, 7, 3], qx), ("ints", [2, -1, 0]), ("ints", [0, 0, 3]),
                                   ("ints", [1, -2, 1])], ([3, 3], qx),
            ("StridedSliceOptions", {"BeginMask": 0, "EndMask": 0, "ShrinkAxisMask": 1}), version=2)),
        Case("GATHER", dt, "axis1", _single(dt, OP.GATHER, [("act", [3, 5, 2], qz), ("ints", [[4, 0], [2, 2]])],
                                            ([3, 2, 2, 2], qz), ("GatherOptions", {"Axis": 1}), version=2)),
        Case("RESIZE_NEAREST_NEIGHBOR", dt, "align-corners", _single(
            dt, OP.RESIZE_NEAREST_NEIGHBOR, [("act", [1, 4, 3, 2], qx), ("ints", [7, 5])], ([1, 7, 5, 2], qx),
            ("ResizeNearestNeighborOptions", {"AlignCorners": True, "HalfPixelCenters": False}), version=3)),
        Case("RESIZE_NEAREST_NEIGHBOR", dt, "half-pixel", _single(
            dt, OP.RESIZE_NEAREST_NEIGHBOR, [("act", [2, 5, 4, 1], qz), ("ints", [3, 7])], ([2, 3, 7, 1], qz),
            ("ResizeNearestNeighborOptions", {"AlignCorners": False, "HalfPixelCenters": True}), version=3)),
        Case("MEAN", dt, "one-axis-no-keepdims", _single(
            dt, OP.MEAN, [("act", [2, 6, 3], qz), ("ints", [1])], ([2, 3], (0.02, 127)),
            ("ReducerOptions", {"KeepDims": False}), version=2)),
    ]


def cases():
    from make_conformance import Case

    out = []
    for dt in ("int8", "float32"):
        for c in _spatial(dt, Case) + _kernels_more(dt, Case):
            if dt == "float32":
                if c.name in TVM_FAILS.get(c.op, ()) or (c.op, c.name) in TVM_WRONG:
                    c.importer = OWN
            out.append(c)
    return out
