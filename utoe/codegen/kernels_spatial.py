"""Spatial operators: TRANSPOSE_CONV, RESIZE_BILINEAR, BATCH_MATMUL, MIRROR_PAD.

Integer kernels with TFLite's reference semantics (see kernels.py)."""

import numpy as np

from ..errors import CodegenError
from . import quant
from .kernels import I32, Kernel, _const_data, _per_channel_multipliers

_F32 = np.float32


def _transpose_pad(out_size, filt, stride, padding):
    """transpose_conv.cc: ComputePaddingHeightWidth on the *output* size (as
    if the output were a convolution's input): the padding before."""
    if padding == 0:  # SAME
        n = (out_size + stride - 1) // stride
    else:
        n = (out_size + stride - filt) // stride
    return max((n - 1) * stride + filt - out_size, 0) // 2


def transpose_conv(op, qm):
    """TRANSPOSE_CONV (reference_integer_ops::TransposeConv, int8 with
    per-channel int8 weights [oc, kh, kw, ic]): each output sums the input
    pixels whose scatter lands on it, (x - zx) * w, plus the bias, requantized
    per channel by in_scale * w_scale / out_scale, clamped to the fused
    activation. Inputs: output shape (constant), weights, input, bias.

    float32 (reference_ops::TransposeConv): the same sums in float32, plus
    the bias, clamped to the fused activation; used when TVM's frontend
    cannot take the model (codegen._own_kernels)."""
    from tvm import te, tirx

    w, x = qm.tensors[op.inputs[1]], qm.tensors[op.inputs[2]]
    b = qm.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    y = qm.tensors[op.outputs[0]]
    shape = [int(v) for v in np.asarray(_const_data(op, qm, 0, "output shape")).reshape(-1)]
    if w.data is None:
        raise CodegenError("TRANSPOSE_CONV with non-constant weights")
    if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[3] != x.shape[3]:
        raise CodegenError(f"TRANSPOSE_CONV of input {list(x.shape)} with weights {list(w.shape)}")
    if tuple(shape) != tuple(y.shape) or shape[0] != x.shape[0] or shape[3] != w.shape[0]:
        raise CodegenError(f"TRANSPOSE_CONV output shape {shape} (tensor {list(y.shape)})")
    o = op.options
    if x.dtype == "float32":
        return _transpose_conv_f32(op, qm, x, w, b, y)
    if not (x.dtype == y.dtype == w.dtype == "int8" and w.quantized):
        raise CodegenError(f"TRANSPOSE_CONV of {x.dtype} input, {w.dtype} weights, {y.dtype} output")
    if any(int(z) != 0 for z in w.zero_points):
        raise CodegenError("TRANSPOSE_CONV with weights of a nonzero zero point")
    if b is not None and b.dtype != "int32":
        raise CodegenError(f"TRANSPOSE_CONV with a {b.dtype} bias")
    n, h, wd, c = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = w.shape[1], w.shape[2]
    sh, sw, pt, pl = _transpose_geometry(op, x, w, y)
    mult, shift = _per_channel_multipliers(x.scale, w.scales, y.scale, oc)
    lo, hi = quant.activation_range(o.get("FusedActivationFunction", 0), y.scale, y.zero_point)
    in_zp, out_zp = x.zero_point, y.zero_point
    args = [("tensor", x.index), ("tensor", w.index)]
    if b is not None:
        args.append(("tensor", b.index))
    args += [("param", "multiplier", mult), ("param", "shift", shift)]

    def compute(X, W, *rest):
        B = rest[0] if b is not None else None
        M, S = rest[-2], rest[-1]
        rh, rw, rc = te.reduce_axis((0, kh), "kh"), te.reduce_axis((0, kw), "kw"), te.reduce_axis((0, c), "ic")

        def tconv(nn, yy, xx, k):
            # the input pixel (iy, ix) scatters tap (ky, kx) to iy * s - pad + ky
            ty, tx = yy + pt - rh, xx + pl - rw
            iy, ix = tirx.floordiv(ty, sh), tirx.floordiv(tx, sw)
            hit = tirx.all(ty >= 0, tx >= 0, tirx.floormod(ty, sh) == 0, tirx.floormod(tx, sw) == 0,
                           iy < h, ix < wd)
            v = tirx.if_then_else(hit, X[nn, iy, ix, rc].astype(I32) - in_zp, 0)
            return te.sum(v * W[k, rh, rw, rc].astype(I32), axis=[rh, rw, rc])

        acc = te.compute((n, oh, ow, oc), tconv, name="acc")

        def out(nn, yy, xx, k):
            v = acc[nn, yy, xx, k] if B is None else acc[nn, yy, xx, k] + B[k]
            v = quant.multiply_by_quantized_multiplier(v, M[k], S[k]) + quant._const(out_zp, I32)
            return quant.clamp(v, lo, hi).astype("int8")

        return te.compute((n, oh, ow, oc), out, name="out")

    return Kernel(args, tuple(y.shape), "int8", compute)


def _transpose_geometry(op, x, w, y):
    o = op.options
    oh, ow = y.shape[1], y.shape[2]
    sh, sw = o.get("StrideH", 1), o.get("StrideW", 1)
    return (sh, sw, _transpose_pad(oh, w.shape[1], sh, o.get("Padding", 0)),
            _transpose_pad(ow, w.shape[2], sw, o.get("Padding", 0)))


def _float_activation(v, act):
    """CalculateActivationRange(float) applied to v."""
    from tvm import tirx

    ranges = {0: (None, None), 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}
    if act not in ranges:
        raise CodegenError(f"fused activation {act}")
    lo, hi = ranges[act]
    if lo is not None:
        v = tirx.max(v, tirx.const(lo, "float32"))
    if hi is not None:
        v = tirx.min(v, tirx.const(hi, "float32"))
    return v


def _transpose_conv_f32(op, qm, x, w, b, y):
    from tvm import te, tirx

    if not (w.dtype == y.dtype == "float32" and (b is None or b.dtype == "float32")):
        raise CodegenError(f"TRANSPOSE_CONV of float32 input, {w.dtype} weights, {y.dtype} output "
                           "(utoe takes float32 throughout)")
    act = op.options.get("FusedActivationFunction", 0)
    n, h, wd, c = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = w.shape[1], w.shape[2]
    sh, sw, pt, pl = _transpose_geometry(op, x, w, y)
    args = [("tensor", x.index), ("tensor", w.index)] + ([("tensor", b.index)] if b is not None else [])

    def compute(X, W, *rest):
        rh, rw, rc = te.reduce_axis((0, kh), "kh"), te.reduce_axis((0, kw), "kw"), te.reduce_axis((0, c), "ic")

        def tconv(nn, yy, xx, k):
            # the reference scatters input rows (and columns) in ascending
            # order, so taps arrive last-first: summed in that order, bit-exact
            ky, kx = kh - 1 - rh, kw - 1 - rw
            ty, tx = yy + pt - ky, xx + pl - kx
            iy, ix = tirx.floordiv(ty, sh), tirx.floordiv(tx, sw)
            hit = tirx.all(ty >= 0, tx >= 0, tirx.floormod(ty, sh) == 0, tirx.floormod(tx, sw) == 0,
                           iy < h, ix < wd)
            v = tirx.if_then_else(hit, X[nn, iy, ix, rc], tirx.const(0.0, "float32"))
            return te.sum(v * W[k, ky, kx, rc], axis=[rh, rw, rc])

        acc = te.compute((n, oh, ow, oc), tconv, name="acc")
        return te.compute((n, oh, ow, oc), lambda nn, yy, xx, k: _float_activation(
            acc[nn, yy, xx, k] + rest[0][k] if rest else acc[nn, yy, xx, k], act), name="out")

    return Kernel(args, tuple(y.shape), "float32", compute)


def _bilinear_table(out_size, in_size, align_corners, half_pixel):
    """ComputeInterpolationValuesInteger for each output index: rows of
    (lower, upper, scaled value - 1024 * lower), C's truncating division."""
    scale = ((1 << 10) * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    rows = []
    for v in range(out_size):
        s = v * scale + scale // 2 - (1 << 9) if half_pixel else v * scale
        lower = max(int(s / 1024) if s < 0 else s // 1024, 0)  # C division truncates toward zero
        up = s + 1023
        upper = min(-(-up // 1024) if up < 0 else up // 1024, in_size - 1)
        rows.append((lower, upper, s - 1024 * lower))
    return np.array(rows, np.int32)


def resize_bilinear(op, qm):
    """RESIZE_BILINEAR (reference_ops::ResizeBilinearInteger, int8, NHWC,
    constant size): per output row and column the two input neighbours and a
    10-bit weight (tables computed here), the four products summed in int64
    (20 fraction bits), rounded half away from zero: (v +- 2^19) / 2^20, as
    ai-edge-litert's build (without TFLITE_SINGLE_ROUNDING) does. Values are
    not requantized."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = [int(v) for v in np.asarray(_const_data(op, qm, 1, "size")).reshape(-1)]
    if len(x.shape) != 4 or len(size) != 2 or min(size) < 1:
        raise CodegenError(f"RESIZE_BILINEAR of shape {list(x.shape)} to {size}")
    if x.scale != y.scale or x.zero_point != y.zero_point:
        raise CodegenError(f"{op.name} with different input and output quantization")
    ac, hp = bool(op.options.get("AlignCorners", False)), bool(op.options.get("HalfPixelCenters", False))
    if ac and hp:
        raise CodegenError("RESIZE_BILINEAR with both align_corners and half_pixel_centers")
    n, h, w, c = x.shape
    want = (n, size[0], size[1], c)
    if tuple(y.shape) != want:
        raise CodegenError(f"output shape {list(y.shape)}, expected {list(want)}")
    rows, cols = _bilinear_table(size[0], h, ac, hp), _bilinear_table(size[1], w, ac, hp)

    def compute(X, R, C):
        def f(b, i, j, d):
            y0, y1, fy = R[i, 0], R[i, 1], R[i, 2].astype("int64")
            x0, x1, fx = C[j, 0], C[j, 1], C[j, 2].astype("int64")
            one = tirx.const(1 << 10, "int64")

            def at(yy, xx):
                return X[b, yy, xx, d].astype("int64")

            v = (at(y0, x0) * (one - fy) * (one - fx) + at(y1, x0) * fy * (one - fx)
                 + at(y0, x1) * (one - fy) * fx + at(y1, x1) * fy * fx)
            half = tirx.Select(v > tirx.const(0, "int64"), tirx.const(1 << 19, "int64"),
                               tirx.const(-(1 << 19), "int64"))
            return tirx.truncdiv(v + half, tirx.const(1 << 20, "int64")).astype("int8")

        return te.compute(want, f, name="out")

    return Kernel([("tensor", x.index), ("param", "rows", rows), ("param", "cols", cols)], want, "int8", compute)


def batch_matmul(op, qm):
    """BATCH_MATMUL (reference_ops::BatchMatMul, int8): out[..., i, j] =
    sum_k (a[..., i, k] - za) (b[..., k, j] - zb), adj_x / adj_y transposing
    the last two axes of a / b, batch axes broadcast numpy-style (ranks 2 to
    5), requantized by float32(sa * sb) / sy (GetQuantizedConvolutionMultipler).
    float32: the same sums in float32, used when TVM's frontend cannot take
    the model (codegen._own_kernels)."""
    from tvm import te

    a, b, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    adj_x, adj_y = bool(op.options.get("AdjX", False)), bool(op.options.get("AdjY", False))
    if not (2 <= len(a.shape) <= 5 and 2 <= len(b.shape) <= 5):
        raise CodegenError(f"BATCH_MATMUL of ranks {len(a.shape)} and {len(b.shape)} (2 to 5)")
    floats = a.dtype == b.dtype == y.dtype == "float32"
    if not floats and not (a.dtype == b.dtype == y.dtype == "int8" and a.quantized and b.quantized
                           and y.quantized):
        raise CodegenError(f"BATCH_MATMUL of {a.dtype} and {b.dtype} to {y.dtype} (utoe takes int8 or float32 "
                           "throughout)")
    rank = max(len(a.shape), len(b.shape))
    sa = (1,) * (rank - len(a.shape)) + tuple(a.shape)
    sb = (1,) * (rank - len(b.shape)) + tuple(b.shape)
    batch = []
    for da, db in zip(sa[:-2], sb[:-2]):
        if da != db and 1 not in (da, db):
            raise CodegenError(f"BATCH_MATMUL cannot broadcast {list(a.shape)} with {list(b.shape)}")
        batch.append(max(da, db))
    rows, depth = (sa[-1], sa[-2]) if adj_x else (sa[-2], sa[-1])
    depth_b, cols = (sb[-1], sb[-2]) if adj_y else (sb[-2], sb[-1])
    if depth != depth_b:
        raise CodegenError(f"BATCH_MATMUL of {list(a.shape)} and {list(b.shape)} (adj_x {adj_x}, adj_y {adj_y}): "
                           f"depths {depth} and {depth_b}")
    shape = tuple(batch) + (rows, cols)
    if tuple(y.shape) != shape:
        raise CodegenError(f"output shape {list(y.shape)}, expected {list(shape)}")
    if floats:
        m = s = za = zb = None
    else:
        m, s = quant.quantize_multiplier(float(_F32(_F32(a.scale) * _F32(b.scale))) / float(_F32(y.scale)))
        za, zb = a.zero_point, b.zero_point

    def compute(A, B):
        r = te.reduce_axis((0, depth), "k")

        def f(*idx):
            bi, i, j = idx[:-2], idx[-2], idx[-1]
            ba = tuple(0 if d == 1 else v for d, v in zip(sa[:-2], bi))
            bb = tuple(0 if d == 1 else v for d, v in zip(sb[:-2], bi))
            va = A[ba + ((r, i) if adj_x else (i, r))]
            vb = B[bb + ((j, r) if adj_y else (r, j))]
            if floats:
                return te.sum(va * vb, axis=r)
            return te.sum((va.astype(I32) - za) * (vb.astype(I32) - zb), axis=r)

        acc = te.compute(shape, f, name="acc")
        if floats:
            return te.compute(shape, lambda *i: acc(*i), name="out")
        return te.compute(shape, lambda *i: quant.clamp(quant.multiply_by_quantized_multiplier(
            acc(*i), m, s) + y.zero_point, -128, 127).astype("int8"), name="out")

    return Kernel([("view", a.index, sa), ("view", b.index, sb)], shape, y.dtype, compute)


def mirror_pad(op, qm):
    """MIRROR_PAD (mirror_pad.cc): REFLECT (the edge not repeated) or
    SYMMETRIC (repeated) padding; constant paddings (int32 or int64), the
    source index of each output index per axis precomputed into tables.
    Values are copied (float32 too), never requantized."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    pads = np.asarray(_const_data(op, qm, 1, "paddings"), np.int64).reshape(-1, 2)
    mode = int(op.options.get("Mode", 0))
    rank = len(x.shape)
    if len(pads) != rank or rank == 0:
        raise CodegenError(f"paddings for {len(pads)} dimensions on a rank-{rank} input")
    if x.quantized and y.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
        raise CodegenError(f"{op.name} with different input and output quantization")
    want = tuple(int(d + p[0] + p[1]) for d, p in zip(x.shape, pads))
    if tuple(y.shape) != want:
        raise CodegenError(f"output shape {list(y.shape)}, expected {list(want)}")
    limit = 0 if mode == 1 else 1  # REFLECT pads at most dim - 1, SYMMETRIC at most dim
    if pads.min() < 0 or any(p.max() > d - limit for d, p in zip(x.shape, pads)):
        raise CodegenError(f"MIRROR_PAD {'SYMMETRIC' if mode == 1 else 'REFLECT'} paddings "
                           f"{pads.tolist()} on shape {list(x.shape)}")
    np_mode = "symmetric" if mode == 1 else "reflect"
    tables = [np.pad(np.arange(d, dtype=np.int32), [tuple(int(v) for v in p)], mode=np_mode)
              for d, p in zip(x.shape, pads)]

    def compute(X, *T):
        return te.compute(want, lambda *i: X(*[t[k] for t, k in zip(T, i)]), name="out")

    args = [("tensor", x.index)] + [("param", f"src{k}", t) for k, t in enumerate(tables)]
    return Kernel(args, want, y.dtype, compute)


KERNELS = {
    "TRANSPOSE_CONV": transpose_conv,
    "RESIZE_BILINEAR": resize_bilinear,
    "BATCH_MATMUL": batch_matmul,
    "MIRROR_PAD": mirror_pad,
}
# Copies are type-generic: float32 models use these kernels when TVM's
# frontend cannot import the operator (codegen._own_kernels).
_COPY = ({"int8", "float32"}, {"int8", "float32"})
# TRANSPOSE_CONV and BATCH_MATMUL compute float32 too (for TVM's gaps); the
# copies SQUEEZE, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND (kernels.py) are
# type-generic: TVM 0.27 fails on their float32 forms.
ACTIVATION_TYPES = {op: _COPY for op in ("MIRROR_PAD", "TRANSPOSE_CONV", "BATCH_MATMUL", "SQUEEZE",
                                         "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")}
REFUSED = {}
