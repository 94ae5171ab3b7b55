"""Integer kernels with TFLite's reference semantics, written in TVM's tensor
expression language: TVM generates their C. One function per TFLite
operator type; each returns a Kernel: its arguments (model tensors and new
constant parameters such as per-channel multipliers) and the output's
compute. The arithmetic follows tflite/kernels/internal/reference/integer_ops
so results are bit-exact with TFLite's reference kernels."""

import ctypes
import ctypes.util
from dataclasses import dataclass, field

import numpy as np

from ..errors import CodegenError
from . import quant

I32 = "int32"


@dataclass
class Kernel:
    args: list  # inputs: ("tensor", index) | ("param", name hint, ndarray) | ("view", index, shape)
    out_shape: tuple
    out_dtype: str
    compute: object  # f(*placeholders) -> te.Tensor
    notes: dict = field(default_factory=dict)
    output: int = 0  # which of the operator's outputs this kernel writes


def _pad_before(in_size, filt, stride, dilation, out_size, padding):
    if padding == 1:  # VALID
        return 0
    eff = (filt - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2


def _per_channel_multipliers(in_scale, w_scales, out_scale, channels):
    ws = list(w_scales) if len(w_scales) > 1 else [w_scales[0]] * channels
    mult, shift = zip(*(quant.quantize_multiplier(float(in_scale) * float(s) / float(out_scale)) for s in ws))
    return np.array(mult, np.int32), np.array(shift, np.int32)


def _requant_out(acc, bias, mult, shift, out_zp, lo, hi, single_rounding=False):
    v = acc if bias is None else acc + bias
    v = quant.multiply_by_quantized_multiplier(v, mult, shift, single_rounding) + quant._const(out_zp, I32)
    return quant.clamp(v, lo, hi).astype("int8")


def conv_sum(op, qm, depthwise, acc_dtype, fold_zp=False):
    """The accumulator of CONV_2D / DEPTHWISE_CONV_2D as TFLite's reference
    sums it: (x - zx) * w over the window (padding contributes nothing), in
    acc_dtype (int32 for int8 activations, int64 for int16). Returns
    make(X, W) -> the te stage "acc" of the output's shape.

    fold_zp: sum x * w instead, a padded tap reading zx, so the sum is
    TFLite's plus zx * (the sum of the channel's weights) whatever the
    padding; the caller subtracts that constant (folded_bias). The window
    test is marked likely, so TVM's LoopPartition splits the output loops
    into an interior without any test and the border."""
    from tvm import te, tirx

    x, w, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    o = op.options
    n, h, wd, c = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = (w.shape[1], w.shape[2])
    sh, sw, dh, dw = o["StrideH"], o["StrideW"], o.get("DilationHFactor", 1), o.get("DilationWFactor", 1)
    pt = _pad_before(h, kh, sh, dh, oh, o["Padding"])
    pl = _pad_before(wd, kw, sw, dw, ow, o["Padding"])
    dm = o.get("DepthMultiplier", 1) if depthwise else 1
    in_zp = tirx.const(x.zero_point, acc_dtype)
    zero = tirx.const(0, acc_dtype)
    padded = pt > 0 or pl > 0 or (oh - 1) * sh + (kh - 1) * dh + 1 - pt > h or \
        (ow - 1) * sw + (kw - 1) * dw + 1 - pl > wd

    def make(X, W):
        rh = te.reduce_axis((0, kh), "kh")
        rw = te.reduce_axis((0, kw), "kw")

        def tap(nn, yy, xx, ch):
            ih = yy * sh - pt + rh * dh
            iw = xx * sw - pl + rw * dw
            v = X[nn, ih, iw, ch].astype(acc_dtype)
            if not fold_zp:
                v = v - in_zp
            if not padded:
                return v
            inside = tirx.all(*(tirx.likely(t) for t in (ih >= 0, ih < h, iw >= 0, iw < wd)))
            return tirx.if_then_else(inside, v, in_zp if fold_zp else zero)

        if depthwise:
            return te.compute((n, oh, ow, oc), lambda nn, yy, xx, k: te.sum(
                tap(nn, yy, xx, k // dm) * W[0, rh, rw, k].astype(acc_dtype), axis=[rh, rw]), name="acc")
        rc = te.reduce_axis((0, c), "ic")
        return te.compute((n, oh, ow, oc), lambda nn, yy, xx, k: te.sum(
            tap(nn, yy, xx, rc) * W[k, rh, rw, rc].astype(acc_dtype), axis=[rh, rw, rc]), name="acc")

    return make


def folded_bias(bias, weights, in_zp, out_channels, depthwise):
    """bias - in_zp * (sum of each output channel's weights), int32: the
    constant conv_sum(fold_zp=True) and a fully connected sum of x * w carry
    beyond TFLite's sum of (x - zx) * w. bias: an int32 array or None."""
    w = np.asarray(weights, np.int64)
    sums = w.reshape(-1, out_channels).sum(axis=0) if depthwise else w.reshape(out_channels, -1).sum(axis=1)
    b = np.zeros(out_channels, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    folded = b - int(in_zp) * sums
    if folded.min() < quant.INT32_MIN or folded.max() > quant.INT32_MAX:
        return None
    return folded.astype(np.int32)


def requant_call(acc, mult, shift, out_zp, lo, hi, single_rounding=False):
    """utoe_kernels.h's utoe_requant: TFLite's double-rounding
    MultiplyByQuantizedMultiplier plus out_zp, clamped, computed once per
    output (TVM would print the expression out several times)."""
    from tvm import tirx

    c = lambda v: v if not isinstance(v, int) else tirx.const(v, I32)  # noqa: E731
    name = "utoe_requant1" if single_rounding else "utoe_requant"
    return tirx.call_pure_extern(I32, name, acc, c(mult), c(shift), c(int(out_zp)), c(int(lo)),
                                 c(int(hi)))


def conv2d(op, qm, depthwise=False):
    from tvm import te

    x, w = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]]
    b = qm.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = qm.tensors[op.outputs[0]]
    oc = y.shape[3]
    mult, shift = _per_channel_multipliers(x.scale, w.scales, y.scale, oc)
    lo, hi = quant.activation_range(op.options["FusedActivationFunction"], y.scale, y.zero_point)
    folded = None
    if w.data is not None and (b is None or b.data is not None):
        folded = folded_bias(None if b is None else b.data, w.data, x.zero_point, oc, depthwise)
    args = [("tensor", x.index), ("tensor", w.index)]
    if folded is not None:
        args.append(("param", "bias", folded))
    elif b is not None:
        args.append(("tensor", b.index))
    has_bias = folded is not None or b is not None
    args += [("param", "multiplier", mult), ("param", "shift", shift)]
    make_acc = conv_sum(op, qm, depthwise, I32, fold_zp=folded is not None)

    def compute(X, W, *rest):
        B = rest[0] if has_bias else None
        M, S = rest[-2], rest[-1]
        acc = make_acc(X, W)
        return te.compute(y.shape, lambda nn, yy, xx, k: requant_call(
            acc[nn, yy, xx, k] + B[k] if B is not None else acc[nn, yy, xx, k], M[k], S[k], y.zero_point, lo,
            hi).astype("int8"), name="out")

    return Kernel(args, y.shape, "int8", compute, notes={"unroll": True} if depthwise else _blocking(oc))


def _blocking(channels):
    """integer._schedule's note: output channels computed `block` at a time
    (the input read once for them), when they divide evenly. 8 accumulators
    fit RV32's registers and, with GCC's allocation, Cortex-M4's: measured
    faster than 4 on both (kws, vww, resnet8, ad01, rnnoise)."""
    for f in (8, 4, 2):
        if channels % f == 0:
            return {"block": f}
    return {}


def depthwise_conv2d(op, qm):
    return conv2d(op, qm, depthwise=True)


def fully_connected(op, qm):
    from tvm import te

    x, w = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]]
    b = qm.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = qm.tensors[op.outputs[0]]
    oc, ic = w.shape
    batch = int(np.prod(x.shape)) // ic
    in_zp, out_zp, w_zp = x.zero_point, y.zero_point, int(w.zero_points[0])
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point)
    if len(w.scales) > 1:
        mult, shift = _per_channel_multipliers(x.scale, w.scales, y.scale, oc)
        per_channel = [("param", "multiplier", mult), ("param", "shift", shift)]
    else:
        m, s = quant.quantize_multiplier(float(x.scale) * float(w.scales[0]) / float(y.scale))
        per_channel = []
    # weights int8 with zero point 0 (TFLite's int8 FULLY_CONNECTED): the
    # sum of x * w plus a bias with zx * (the row's weight sum) taken off
    folded = None
    if w_zp == 0 and w.data is not None and (b is None or b.data is not None):
        folded = folded_bias(None if b is None else b.data, w.data, in_zp, oc, False)
    args = [("view", x.index, (batch, ic)), ("tensor", w.index)]
    if folded is not None:
        args.append(("param", "bias", folded))
    elif b is not None:
        args.append(("tensor", b.index))
    has_bias = folded is not None or b is not None
    args += per_channel

    def compute(X, W, *rest):
        B = rest[0] if has_bias else None
        rk = te.reduce_axis((0, ic), "k")
        if folded is not None:
            acc = te.compute((batch, oc), lambda i, j: te.sum(X[i, rk].astype(I32) * W[j, rk].astype(I32), axis=rk),
                             name="acc")
        else:
            acc = te.compute((batch, oc), lambda i, j: te.sum(
                (X[i, rk].astype(I32) - in_zp) * (W[j, rk].astype(I32) - w_zp), axis=rk), name="acc")

        def out(i, j):
            v = acc[i, j] + B[j] if B is not None else acc[i, j]
            mj, sj = (rest[-2][j], rest[-1][j]) if per_channel else (m, s)
            return requant_call(v, mj, sj, out_zp, lo, hi, single_rounding=True).astype("int8")

        return te.compute((batch, oc), out, name="out")

    return Kernel(args, (batch, oc), "int8", compute, notes=_blocking(oc))


def pool2d(op, qm, kind, out_dtype="int8"):
    """AVERAGE_POOL_2D and MAX_POOL_2D (reference_integer_ops AveragePool /
    MaxPool, and their int16 forms): int32 window sums or maxima, the
    average rounded half away from zero over the in-bounds count."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    o = op.options
    n, h, wd, c = x.shape
    _, oh, ow, _ = y.shape
    kh, kw, sh, sw = o["FilterHeight"], o["FilterWidth"], o["StrideH"], o["StrideW"]
    pt = _pad_before(h, kh, sh, 1, oh, o["Padding"])
    pl = _pad_before(wd, kw, sw, 1, ow, o["Padding"])
    info = np.iinfo(out_dtype)
    lo, hi = quant.activation_range(o["FusedActivationFunction"], y.scale, y.zero_point, int(info.min),
                                    int(info.max))
    if x.scale != y.scale or x.zero_point != y.zero_point:
        raise CodegenError(f"{kind} pool with different input and output quantization")

    def compute(X):
        rh = te.reduce_axis((0, kh), "kh")
        rw = te.reduce_axis((0, kw), "kw")

        def window(yy, xx):
            ih, iw = yy * sh - pt + rh, xx * sw - pl + rw
            return ih, iw, tirx.all(ih >= 0, ih < h, iw >= 0, iw < wd)

        if kind == "max":
            def f(nn, yy, xx, k):
                ih, iw, inside = window(yy, xx)
                low = int(info.min)
                return te.max(tirx.if_then_else(inside, X[nn, ih, iw, k].astype(I32), low), axis=[rh, rw])

            acc = te.compute((n, oh, ow, c), f, name="acc")
            return te.compute(y.shape, lambda *i: quant.clamp(acc[i], lo, hi).astype(out_dtype), name="out")

        def f(nn, yy, xx, k):
            ih, iw, inside = window(yy, xx)
            return te.sum(tirx.if_then_else(inside, X[nn, ih, iw, k].astype(I32), 0), axis=[rh, rw])

        acc = te.compute((n, oh, ow, c), f, name="acc")

        def avg(nn, yy, xx, k):
            y0, x0 = yy * sh - pt, xx * sw - pl
            cnt_h = tirx.min(kh, h - y0) - tirx.max(0, 0 - y0)
            cnt_w = tirx.min(kw, wd - x0) - tirx.max(0, 0 - x0)
            cnt = (cnt_h * cnt_w).astype(I32)
            a = acc[nn, yy, xx, k]
            half = tirx.truncdiv(cnt, 2)
            v = tirx.Select(a > 0, tirx.truncdiv(a + half, cnt), tirx.truncdiv(a - half, cnt))
            return quant.clamp(v, lo, hi).astype(out_dtype)

        return te.compute(y.shape, avg, name="out")

    return Kernel([("tensor", x.index)], y.shape, out_dtype, compute)


def _elementwise_args(op, qm):
    """(a, b, y, size, args, index_b): b may be a scalar broadcast to a's shape."""
    a, b, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    sa, sb = int(np.prod(a.shape)), int(np.prod(b.shape))
    args = [("view", a.index, (sa,)), ("view", b.index, (sb,))]
    return a, b, y, size, args, _flat_broadcast(op, a, y), _flat_broadcast(op, b, y)


def _flat_broadcast(op, t, y):
    """at(X, i): the element of t (a flat view) that numpy broadcasting pairs
    with the output's flat index i."""
    size, st = int(np.prod(y.shape)), int(np.prod(t.shape))
    if st == size:  # broadcasting only repeats: as many elements means the same layout
        return lambda X, i: X[i]
    if st == 1:
        return lambda X, i: X[0]
    shape = tuple(y.shape)
    ts = _broadcast_shape(op, t, shape)
    terms = []  # (output stride, extent, t's stride) of each axis t does not broadcast along
    out_stride, t_stride = 1, 1
    for n, d in zip(reversed(shape), reversed(ts)):
        if d != 1:
            terms.append((out_stride, n, t_stride))
        out_stride *= n
        t_stride *= d

    def at(X, i):
        from tvm import tirx

        offset = 0
        for os_, n, ts_ in terms:
            offset = offset + tirx.floormod(tirx.floordiv(i, os_), n) * ts_
        return X[offset]

    return at


def _rescaled_pair(A, B, at_a, at_b, a, b, size, left, mult_a, mult_b):
    """TFLite's first step of a two-input integer op (ADD, SUB,
    SQUARED_DIFFERENCE): each input minus its zero point, shifted left by
    `left` and rescaled by its own multiplier, as two staged computes."""
    from tvm import te

    def scaled(X, at, zp, m, s):
        return lambda i: quant.multiply_by_quantized_multiplier((at(X, i).astype(I32) - zp) * (1 << left), m, s)

    return (te.compute((size,), scaled(A, at_a, a.zero_point, *mult_a), name="stage_a"),
            te.compute((size,), scaled(B, at_b, b.zero_point, *mult_b), name="stage_b"))


def add(op, qm, sign=1):
    """ADD and SUB: TFLite's left-shifted, twice-rescaled integer sum."""
    from tvm import te

    a, b, y, size, args, at_a, at_b = _elementwise_args(op, qm)
    left = 20
    twice_max = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
    m1, s1 = quant.quantize_multiplier(float(a.scale) / twice_max)
    m2, s2 = quant.quantize_multiplier(float(b.scale) / twice_max)
    mo, so = quant.quantize_multiplier(twice_max / float(np.float32((1 << left) * np.float32(y.scale))))
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point)

    def compute(A, B):
        sa, sb = _rescaled_pair(A, B, at_a, at_b, a, b, size, left, (m1, s1), (m2, s2))

        def f(i):
            total = sa[i] + sb[i] if sign > 0 else sa[i] - sb[i]
            raw = quant.multiply_by_quantized_multiplier(total, mo, so)
            return quant.clamp(raw + y.zero_point, lo, hi).astype("int8")

        return te.compute((size,), f, name="out")

    return Kernel(args, (size,), "int8", compute)


def mul(op, qm):
    """MUL: (a - za) * (b - zb) requantized by sa * sb / sy."""
    from tvm import te

    a, b, y, size, args, at_a, at_b = _elementwise_args(op, qm)
    m, s = quant.quantize_multiplier(float(a.scale) * float(b.scale) / float(y.scale))
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point)

    def compute(A, B):
        prod = te.compute((size,), lambda i: (at_a(A, i).astype(I32) - a.zero_point) * (
            at_b(B, i).astype(I32) - b.zero_point), name="stage_a")
        return te.compute((size,), lambda i: quant.clamp(
            quant.multiply_by_quantized_multiplier(prod[i], m, s) + y.zero_point, lo, hi).astype("int8"), name="out")

    return Kernel(args, (size,), "int8", compute)


def _lut(op, qm, func):
    """LOGISTIC and TANH on int8: TFLite's 256-entry table (LUTPopulate),
    computed here in float32 with the C library's expf/tanhf."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    f = getattr(libm, func)
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    f32 = np.float32
    inverse = f32(1) / f32(y.scale)
    table = np.zeros(256, np.int8)
    for val in range(-128, 128):
        deq = f32(f32(x.scale) * f32(val - x.zero_point))
        if func == "expf":
            t = f32(f32(1) / (f32(1) + f32(f(float(-deq)))))
        else:
            t = f32(f(float(deq)))
        rescaled = f32(quant.tflite_round(float(f32(t * inverse))))
        q = int(f32(rescaled + f32(y.zero_point)))
        table[val & 255] = max(min(127, q), -128)
    size = int(np.prod(y.shape))

    def compute(X, T):
        return te.compute((size,), lambda i: T[X[i].astype(I32) & 255], name="out")

    return Kernel([("view", x.index, (size,)), ("param", "lut", table)], (size,), "int8", compute)


def _copy_slices(op, qm, pieces, axis, out_index, mode="slice"):
    """One output assembled from pieces [(tensor index, position along axis)]
    of the inputs. mode "slice": the piece starts at that offset of the axis
    (SPLIT, SPLIT_V, CONCATENATION); "unstack": the input has the axis, the
    output not (UNPACK); "stack": the output has the axis, the inputs not
    (PACK). Quantization must match, as TFLite requires for int8."""
    from tvm import te, tirx

    y = qm.tensors[op.outputs[out_index]]
    for idx, _ in pieces:
        x = qm.tensors[idx]
        if x.quantized and y.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
            raise CodegenError(f"{op.name} with requantization between inputs and output")
    gather = len(pieces) > 1 or mode == "stack"

    def compute(*X):
        def f(*idx):
            if mode == "unstack":
                src = list(idx)
                src.insert(axis, pieces[0][1])
                return X[0](*src)
            if mode == "slice" and not gather:
                src = list(idx)
                src[axis] = src[axis] + pieces[0][1]
                return X[0](*src)
            value = None  # later pieces override earlier ones from their start on
            for k in range(len(pieces)):
                start = pieces[k][1]
                src = list(idx)
                if mode == "stack":
                    src.pop(axis)
                    cond = idx[axis] == start
                else:
                    src[axis] = src[axis] - start
                    cond = idx[axis] >= start
                load = X[k](*src)
                value = load if value is None else tirx.if_then_else(cond, load, value)
            return value

        return te.compute(y.shape, f, name="out")

    return Kernel([("tensor", idx) for idx, _ in pieces], y.shape, y.dtype, compute, output=out_index)


def _axis(value, rank):
    return int(value) + rank if int(value) < 0 else int(value)


def split(op, qm):
    axis_t, x = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]]
    axis = _axis(axis_t.data.reshape(-1)[0], len(x.shape))
    size = x.shape[axis] // len(op.outputs)
    return [_copy_slices(op, qm, [(x.index, k * size)], axis, k) for k in range(len(op.outputs))]


def split_v(op, qm):
    x, sizes_t, axis_t = (qm.tensors[i] for i in op.inputs[:3])
    axis = _axis(axis_t.data.reshape(-1)[0], len(x.shape))
    offsets = np.concatenate([[0], np.cumsum([qm.tensors[o].shape[axis] for o in op.outputs])[:-1]])
    del sizes_t
    return [_copy_slices(op, qm, [(x.index, int(off))], axis, k) for k, off in enumerate(offsets)]


def unpack(op, qm):
    x = qm.tensors[op.inputs[0]]
    axis = _axis(op.options.get("Axis", 0), len(x.shape))
    return [_copy_slices(op, qm, [(x.index, k)], axis, k, mode="unstack") for k in range(len(op.outputs))]


def pack(op, qm):
    y = qm.tensors[op.outputs[0]]
    axis = _axis(op.options.get("Axis", 0), len(y.shape))
    return _copy_slices(op, qm, [(idx, k) for k, idx in enumerate(op.inputs)], axis, 0, mode="stack")


def concatenation(op, qm):
    y = qm.tensors[op.outputs[0]]
    if op.options.get("FusedActivationFunction", 0):
        raise CodegenError("CONCATENATION with a fused activation")
    axis = _axis(op.options.get("Axis", 0), len(y.shape))
    pieces, at = [], 0
    for idx in op.inputs:
        pieces.append((idx, at))
        at += qm.tensors[idx].shape[axis]
    return _copy_slices(op, qm, pieces, axis, 0)


def reshape(op, qm):
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    return Kernel([("view", x.index, (size,))], (size,), y.dtype,
                  lambda X: te.compute((size,), lambda i: X[i], name="out"))


def transpose(op, qm):
    from tvm import te

    x, perm_t, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    if perm_t.data is None:
        raise CodegenError("TRANSPOSE with a non-constant permutation")
    perm = [int(p) for p in perm_t.data]

    def compute(X):
        def f(*idx):
            src = [None] * len(perm)
            for out_axis, in_axis in enumerate(perm):
                src[in_axis] = idx[out_axis]
            return X[tuple(src)]

        return te.compute(y.shape, f, name="out")

    return Kernel([("tensor", x.index)], y.shape, y.dtype, compute)


def _roundf(v):
    from tvm import tirx

    return tirx.call_pure_extern("float32", "roundf", v)


def quantize(op, qm):
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    if x.dtype == "float32":
        scale = np.float32(y.scale)

        def f(X):
            return te.compute((size,), lambda i: quant.clamp(
                _roundf(X[i] / quant._const(float(scale), "float32")).astype(I32) + y.zero_point, -128, 127
            ).astype("int8"), name="out")
    else:
        m, s = quant.quantize_multiplier(float(x.scale) / float(y.scale))

        def f(X):
            return te.compute((size,), lambda i: quant.clamp(quant.multiply_by_quantized_multiplier(
                X[i].astype(I32) - x.zero_point, m, s) + y.zero_point, -128, 127).astype("int8"), name="out")
    return Kernel([("view", x.index, (size,))], (size,), "int8", f)


def dequantize(op, qm):
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    scale = float(x.scale)

    def f(X):
        # reference_ops::Dequantize: double scale * (val - zero point), then float
        return te.compute((size,), lambda i: (quant._const(scale, "float64") * (
            X[i].astype(I32) - x.zero_point).astype("float64")).astype("float32"), name="out")

    return Kernel([("view", x.index, (size,))], (size,), "float32", f)


def _expf_table(input_scale, beta):
    """TFLite's PopulateSoftmaxLookupTable: table[255 - v] = expf(-scale*beta*v), in float32."""
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.expf.restype = ctypes.c_float
    libm.expf.argtypes = [ctypes.c_float]
    scale = np.float32(-np.float32(input_scale) * np.float32(beta))
    table = np.zeros(256, np.float32)
    for v in range(256):
        table[255 - v] = libm.expf(float(np.float32(scale * np.float32(v))))
    return table


def softmax(op, qm):
    """TFLite's int8 softmax as its CPU build computes it (float exp table)."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    depth = x.shape[-1]
    rows = int(np.prod(x.shape)) // depth
    table = _expf_table(x.scale, op.options.get("Beta", 1.0))
    out_scale = float(np.float32(y.scale))

    def compute(X, T):
        r = te.reduce_axis((0, depth), "j")
        mx = te.compute((rows,), lambda i: te.max(X[i, r].astype(I32), axis=r), name="acc_max")
        r2 = te.reduce_axis((0, depth), "j2")
        # table_offset[x] = table[255 - max + x]
        sm = te.compute((rows,), lambda i: te.sum(T[255 - mx[i] + X[i, r2].astype(I32)], axis=r2), name="acc_sum")

        def out(i, j):
            inv = quant._const(1.0, "float32") / (sm[i] * quant._const(out_scale, "float32"))
            prob = T[255 - mx[i] + X[i, j].astype(I32)] * inv
            return quant.clamp(_roundf(prob).astype(I32) + y.zero_point, -128, 127).astype("int8")

        return te.compute((rows, depth), out, name="out")

    del tirx
    return Kernel([("view", x.index, (rows, depth)), ("param", "exp_table", table)], (rows, depth), "int8", compute)


def _const_data(op, qm, k, what):
    """The constant contents of the operator's input k, or a CodegenError."""
    t = qm.tensors[op.inputs[k]]
    if t.data is None:
        raise CodegenError(f"{op.name} with a non-constant {what} (tensor '{t.name}')")
    return t.data


def pad(op, qm):
    """PAD and PADV2 (reference_ops::Pad): a copy of the input inside a
    border of the pad value: the output's zero point for PAD, PADV2's
    constant (its raw int8, which TFLite requires to share the output's
    quantization) otherwise. Values are copied, never requantized."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    paddings = np.asarray(_const_data(op, qm, 1, "paddings"), np.int64).reshape(-1, 2)
    if len(paddings) != len(x.shape):
        raise CodegenError(f"paddings for {len(paddings)} dimensions on a rank-{len(x.shape)} input")
    value = y.zero_point if y.quantized else 0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        c = qm.tensors[op.inputs[2]]
        if c.quantized and y.quantized and (c.scale != y.scale or c.zero_point != y.zero_point):
            raise CodegenError("PADV2 with a constant quantized unlike the output")
        value = int(np.asarray(_const_data(op, qm, 2, "pad value")).reshape(-1)[0])
    before = [int(p[0]) for p in paddings]

    def compute(X):
        def f(*idx):
            src = [i - b for i, b in zip(idx, before)]
            inside = tirx.all(*[tirx.all(s >= 0, s < n) for s, n in zip(src, x.shape)]) if src else True
            return tirx.if_then_else(inside, X(*src), tirx.const(value, y.dtype))

        return te.compute(y.shape, f, name="out")

    return Kernel([("tensor", x.index)], y.shape, y.dtype, compute)


def reduce(op, qm, kind):
    """MEAN and SUM (reference_ops::QuantizedMeanOrSum: the int32 sum of the
    reduced values, minus zero point x count, times in_scale / out_scale; for
    MEAN that multiplier absorbs 1 / count: (M << s) / count with
    s = min(floor(log2 count), 32, 31 + shift), shift - s), REDUCE_MAX and
    REDUCE_MIN (the raw values, same quantization in and out). Any axes,
    negative or repeated, keep_dims or not."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    rank = len(x.shape)
    axes = sorted({_axis(a, rank) for a in np.asarray(_const_data(op, qm, 1, "axis")).reshape(-1)})
    keep = bool(op.options.get("KeepDims", False))
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    kept = [d for d in range(rank) if d not in axes]
    out_shape = tuple(1 if d in axes else x.shape[d] for d in range(rank)) if keep else tuple(x.shape[d] for d in kept)
    if int(np.prod(out_shape)) != int(np.prod(y.shape)):
        raise CodegenError(f"output shape {y.shape} is not the input's {x.shape} reduced over axes {axes}")
    if kind in ("max", "min"):
        if x.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
            raise CodegenError(f"{op.name} with different input and output quantization")
    else:
        mult, shift = quant.quantize_multiplier(float(x.scale) / float(y.scale))
        if kind == "mean" and count > 0:
            s = min(count.bit_length() - 1, 32, 31 + shift)
            mult, shift = int((mult << s) // count), shift - s
        zp_total = x.zero_point * count
    out_shape = out_shape or (1,)  # all axes reduced, no dims kept: a scalar

    def compute(X):
        red = [te.reduce_axis((0, x.shape[a]), f"r{a}") for a in axes]

        def src(idx):
            out_at = iter(idx if not keep else [idx[d] for d in kept])
            it = iter(red)
            return tuple(next(it) if d in axes else next(out_at) for d in range(rank))

        def at(*idx):
            v = X[src(idx)].astype(I32)
            if kind == "max":
                return te.max(v, axis=red) if red else v
            if kind == "min":
                return te.min(v, axis=red) if red else v
            return te.sum(v, axis=red) if red else v

        acc = te.compute(out_shape, at, name="acc")
        if kind in ("max", "min"):
            return te.compute(out_shape, lambda *i: acc[i].astype(y.dtype), name="out")
        info = np.iinfo(y.dtype)  # int8, or int16 (kernels_int16.mean)
        return te.compute(out_shape, lambda *i: quant.clamp(quant.multiply_by_quantized_multiplier(
            acc[i] - zp_total, mult, shift) + y.zero_point, int(info.min), int(info.max)).astype(y.dtype),
            name="out")

    return Kernel([("tensor", x.index)], out_shape, y.dtype, compute)


def _strided_copy(op, qm, axes):
    """The output element at index o reads the input at start + o * stride
    along each axis; axes: [(start, stride, count, kept)] per input axis, an
    axis not kept (a shrunk one) reads at start only. Values are copied."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    out_shape = tuple(n for _, _, n, kept in axes if kept)
    same_rank = len(y.shape) == len(out_shape)
    if int(np.prod(out_shape)) != int(np.prod(y.shape)) or (same_rank and tuple(y.shape) != out_shape):
        raise CodegenError(f"output shape {y.shape}, but the slice of {x.shape} is {out_shape}")
    if x.quantized and y.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
        raise CodegenError(f"{op.name} with different input and output quantization")
    shape = out_shape or (1,)

    def compute(X):
        def f(*idx):
            it = iter(idx if out_shape else ())
            src = [start + next(it) * stride if kept else start for start, stride, _, kept in axes]
            return X(*src) if src else X(0)

        return te.compute(shape, f, name="out")

    return Kernel([("tensor", x.index)], shape, y.dtype, compute)


def strided_slice(op, qm):
    """STRIDED_SLICE (strided_slice_logic.h): begin, end, strides constant;
    begin_mask, end_mask, shrink_axis_mask and offset; no ellipsis or new
    axes. Clamping follows Python's slice.indices, as TFLite's does."""
    x = qm.tensors[op.inputs[0]]
    begin, end, strides = (np.asarray(_const_data(op, qm, k, what), np.int64).reshape(-1)
                           for k, what in ((1, "begin"), (2, "end"), (3, "strides")))
    o = op.options
    if o.get("EllipsisMask", 0) or o.get("NewAxisMask", 0):
        raise CodegenError("STRIDED_SLICE with an ellipsis or new-axis mask")
    rank = len(x.shape)
    if not len(begin) == len(end) == len(strides) <= rank:
        raise CodegenError(f"STRIDED_SLICE with begin/end/strides of lengths {len(begin)}/{len(end)}/{len(strides)} "
                           f"on a rank-{rank} input")
    axes = []
    for d in range(rank):
        dim = x.shape[d]
        if d >= len(begin):
            axes.append((0, 1, dim, True))
            continue
        stride = int(strides[d])
        if stride == 0:
            raise CodegenError("STRIDED_SLICE with a zero stride")
        b = None if o.get("BeginMask", 0) >> d & 1 else int(begin[d])
        if o.get("ShrinkAxisMask", 0) >> d & 1:
            start = (b or 0) + (dim if (b or 0) < 0 else 0)
            if not 0 <= start < dim:
                raise CodegenError(f"STRIDED_SLICE shrinks axis {d} at {b}, outside its {dim} elements")
            axes.append((start, 1, 1, False))
            continue
        e = None if o.get("EndMask", 0) >> d & 1 else int(end[d])
        if o.get("Offset", False) and e is not None:
            e = (b or 0) + e
        start, stop, step = slice(b, e, stride).indices(dim)
        axes.append((start, step, len(range(start, stop, step)), True))
    return _strided_copy(op, qm, axes)


def slice_(op, qm):
    """SLICE: begin and size constant, size -1 for the rest of the axis."""
    x = qm.tensors[op.inputs[0]]
    begin = np.asarray(_const_data(op, qm, 1, "begin"), np.int64).reshape(-1)
    size = np.asarray(_const_data(op, qm, 2, "size"), np.int64).reshape(-1)
    if not len(begin) == len(size) == len(x.shape):
        raise CodegenError(f"SLICE with begin/size of lengths {len(begin)}/{len(size)} on a rank-{len(x.shape)} input")
    axes = []
    for d, dim in enumerate(x.shape):
        b, n = int(begin[d]), int(size[d])
        n = dim - b if n == -1 else n
        if b < 0 or n < 0 or b + n > dim:
            raise CodegenError(f"SLICE of {n} elements from {b} on axis {d} of {dim}")
        axes.append((b, 1, n, True))
    return _strided_copy(op, qm, axes)


def relu(op, qm, lo_real, hi_real):
    """RELU, RELU6, RELU_N1_TO_1 (activations.cc QuantizedReluX): requantize
    by in_scale / out_scale (a float32 quotient), then clamp to the range's
    quantized ends, each round(limit / out_scale) in float32."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    m, s = quant.quantize_multiplier(float(np.float32(x.scale) / np.float32(y.scale)))

    def q(f):
        return y.zero_point + int(quant.tflite_round(float(np.float32(f) / np.float32(y.scale))))

    lo = max(-128, q(lo_real))
    hi = 127 if hi_real is None else min(127, q(hi_real))

    def compute(X):
        return te.compute((size,), lambda i: quant.clamp(quant.multiply_by_quantized_multiplier(
            X[i].astype(I32) - x.zero_point, m, s) + y.zero_point, lo, hi).astype("int8"), name="out")

    return Kernel([("view", x.index, (size,))], (size,), "int8", compute)


def leaky_relu(op, qm):
    """LEAKY_RELU (reference_ops::QuantizeLeakyRelu): two multipliers,
    in_scale / out_scale for x >= zero point and in_scale * alpha / out_scale
    below, each a float32 expression as TFLite's Prepare computes it."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    f32 = np.float32
    alpha = f32(op.options.get("Alpha", 0.2))
    ma, sa = quant.quantize_multiplier(float(f32(f32(x.scale) * alpha) / f32(y.scale)))
    mi, si = quant.quantize_multiplier(float(f32(x.scale) / f32(y.scale)))

    def compute(X):
        v = te.compute((size,), lambda i: X[i].astype(I32) - x.zero_point, name="stage_a")

        def f(i):
            pos = quant.multiply_by_quantized_multiplier(v[i], mi, si)
            neg = quant.multiply_by_quantized_multiplier(v[i], ma, sa)
            return quant.clamp(tirx.Select(v[i] >= 0, pos, neg) + y.zero_point, -128, 127).astype("int8")

        return te.compute((size,), f, name="out")

    return Kernel([("view", x.index, (size,))], (size,), "int8", compute)


def maximum_minimum(op, qm, kind):
    """MAXIMUM and MINIMUM (reference_ops::MaximumMinimumBroadcastSlow): the
    raw values compared, numpy broadcasting; TFLite does not requantize."""
    from tvm import te, tirx

    a, b, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    for t in (a, b):
        if t.quantized and y.quantized and (t.scale != y.scale or t.zero_point != y.zero_point):
            raise CodegenError(f"{op.name} with different input and output quantization")
    shape = tuple(y.shape) or (1,)
    sa, sb = (_broadcast_shape(op, t, shape) for t in (a, b))

    def compute(A, B):
        def load(X, ts, idx):
            return X(*[0 if d == 1 else i for d, i in zip(ts, idx)])

        pick = tirx.max if kind == "max" else tirx.min
        return te.compute(shape, lambda *idx: pick(load(A, sa, idx), load(B, sb, idx)), name="out")

    return Kernel([("view", a.index, sa), ("view", b.index, sb)], shape, y.dtype, compute)


def _table(op, qm, table):
    """An int8 -> int8 operator as a 256-entry table indexed by the input's
    byte (table[v & 255] for input v), computed at codegen time."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))

    def compute(X, T):
        return te.compute((size,), lambda i: T[X[i].astype(I32) & 255], name="out")

    return Kernel([("view", x.index, (size,)), ("param", "lut", np.asarray(table, np.int8))], (size,), "int8", compute)


def _i16(v):
    """v wrapped to int16, as a C assignment to int16_t does."""
    return (int(v) + 32768) % 65536 - 32768


def _srdhm16(a, b):
    """gemmlowp::SaturatingRoundingDoublingHighMul on int16."""
    if a == b == -32768:
        return 32767
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _i16(_cdiv(ab + nudge, 1 << 15))


def _cdiv(a, b):
    """C's integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _rdbpot(x, exponent):
    """gemmlowp::RoundingDivideByPOT on an integer."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _sat_left_shift16(v, amount):
    return max(-32768, min(32767, v * (1 << amount)))


def _downscale16(m):
    """DownScaleInt32ToInt16Multiplier."""
    if m >= (2**31 - 1) - (1 << 15):
        return 32767
    return (m + (1 << 15)) >> 16


def hard_swish(op, qm):
    """HARD_SWISH (reference_ops::HardSwish, int8): TFLite's int16
    fixed-point pipeline, with HardSwishPrepare's float32 multipliers cut to
    16 bits, evaluated here for each of the 256 inputs into a table."""
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    f32 = np.float32
    hires = f32(f32(1.0 / 128.0) * f32(x.scale))
    om, oe = quant.quantize_multiplier(float(f32(hires / f32(y.scale))))
    rm, re_ = quant.quantize_multiplier(float(f32(hires / f32(3.0 / 32768.0))))
    if oe > 0:
        raise CodegenError("HARD_SWISH with an output multiplier above 1 (TFLite refuses it too)")
    om16, rm16 = _downscale16(om), _downscale16(rm)
    table = np.zeros(256, np.int8)
    for v in range(-128, 128):
        iv = _i16(v - x.zero_point)
        hires_v = _i16(iv * (1 << 7))
        pre_out = _srdhm16(hires_v, om16)
        r = hires_v
        if re_ > 0:
            r = _sat_left_shift16(r, re_ - 1)
        r = _srdhm16(r, rm16)
        if re_ > 0:
            r = _sat_left_shift16(r, 1)
        if re_ < 0:
            r = _rdbpot(r, -re_)
        r = _i16((r + (1 << 15)) >> 1)
        pre = 32767 if r == pre_out == -32768 else _i16(_cdiv(r * pre_out, 1 << 15))
        out = _i16(_rdbpot(pre, -oe) + y.zero_point)
        table[v & 255] = max(-128, min(127, out))
    return _table(op, qm, table)


def gather(op, qm):
    """GATHER (reference_ops::Gather): slices of the int8 params along axis,
    picked by constant int32/int64 indices; batch_dims 0. Non-constant
    indices are refused: TFLite fails on an out-of-range index at run time,
    which a kernel without error reporting cannot do."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    indices = np.asarray(_const_data(op, qm, 1, "indices"))
    if op.options.get("BatchDims", 0):
        raise CodegenError("GATHER with batch_dims")
    axis = _axis(op.options.get("Axis", 0), len(x.shape))
    if indices.size and (indices.min() < 0 or indices.max() >= x.shape[axis]):
        raise CodegenError(f"GATHER index outside axis {axis}'s {x.shape[axis]} elements")
    ri = indices.ndim
    out_shape = tuple(x.shape[:axis]) + tuple(indices.shape) + tuple(x.shape[axis + 1:])
    if int(np.prod(out_shape)) != int(np.prod(y.shape)):
        raise CodegenError(f"output shape {y.shape}, but gathering gives {out_shape}")
    shape = out_shape or (1,)
    flat = np.ascontiguousarray(indices.reshape(-1).astype(np.int32))

    def compute(X, IDX):
        def f(*o):
            if not out_shape:
                o = ()
            pos = 0
            for k in range(ri):  # row-major position in the indices tensor
                pos = pos * indices.shape[k] + o[axis + k]
            src = tuple(o[:axis]) + (IDX[pos],) + tuple(o[axis + ri:])
            return X(*src)

        return te.compute(shape, f, name="out")

    return Kernel([("tensor", x.index), ("param", "indices", flat)], shape, y.dtype, compute)


def prelu(op, qm, out_dtype="int8"):
    """PRELU (reference_ops::BroadcastPrelu4DSlow, int8 or int16 output): x -
    zx >= 0 is requantized by in_scale / out_scale, below it (x - zx) *
    (alpha - za) by in_scale * alpha_scale / out_scale (float32 quotients,
    as PreluPrepare computes them); alpha broadcasts against the input,
    numpy-style."""
    from tvm import te, tirx

    x, al, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    if not al.quantized or len(al.scales) > 1:
        raise CodegenError("PRELU with an alpha that is not per-tensor quantized")
    f32 = np.float32
    m1, s1 = quant.quantize_multiplier(float(f32(x.scale) / f32(y.scale)))
    m2, s2 = quant.quantize_multiplier(float(f32(f32(x.scale) * f32(al.scale)) / f32(y.scale)))
    shape = tuple(y.shape) or (1,)
    sx, sa = (_broadcast_shape(op, t, shape) for t in (x, al))

    def compute(X, A):
        def load(T, ts, idx):
            return T(*[0 if d == 1 else i for d, i in zip(ts, idx)])

        v = te.compute(shape, lambda *i: load(X, sx, i).astype(I32) - x.zero_point, name="stage_a")
        p = te.compute(shape, lambda *i: v(*i) * (load(A, sa, i).astype(I32) - al.zero_point), name="stage_b")

        def f(*i):
            pos = quant.multiply_by_quantized_multiplier(v(*i), m1, s1)
            neg = quant.multiply_by_quantized_multiplier(p(*i), m2, s2)
            info = np.iinfo(out_dtype)
            return quant.clamp(tirx.Select(v(*i) >= 0, pos, neg) + y.zero_point, int(info.min),
                               int(info.max)).astype(out_dtype)

        return te.compute(shape, f, name="out")

    return Kernel([("view", x.index, sx), ("view", al.index, sa)], shape, out_dtype, compute)


def _broadcast_shape(op, t, shape):
    """t's shape left-padded with 1s to shape's rank; a CodegenError unless
    it broadcasts to shape."""
    ts = (1,) * (len(shape) - len(t.shape)) + tuple(t.shape)
    if len(ts) != len(shape) or any(d not in (1, n) for d, n in zip(ts, shape)):
        raise CodegenError(f"{op.name} cannot broadcast {t.shape} to {shape}")
    return ts


def depth_space(op, qm, to_space):
    """DEPTH_TO_SPACE and SPACE_TO_DEPTH (NHWC, reference_ops): a copy with
    the block's pixels moved to or from the channels, TFLite's order."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    bs = int(op.options.get("BlockSize", 0))
    if bs < 1 or len(x.shape) != 4:
        raise CodegenError(f"{op.name} with block size {bs} on shape {x.shape}")
    if x.quantized and y.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
        raise CodegenError(f"{op.name} with different input and output quantization")
    n, h, w, c = x.shape
    want = (n, h * bs, w * bs, c // (bs * bs)) if to_space else (n, h // bs, w // bs, c * bs * bs)
    if tuple(y.shape) != want:
        raise CodegenError(f"output shape {y.shape}, expected {want}")
    oc, ic = want[3], c

    def compute(X):
        if to_space:
            f = lambda b, i, j, d: X[b, i // bs, j // bs, ((i % bs) * bs + j % bs) * oc + d]  # noqa: E731
        else:
            f = lambda b, i, j, d: X[b, i * bs + (d // ic) // bs, j * bs + (d // ic) % bs, d % ic]  # noqa: E731
        return te.compute(want, f, name="out")

    return Kernel([("tensor", x.index)], want, y.dtype, compute)


def _nearest(out_size, in_size, align_corners, half_pixel):
    """reference_ops::GetNearestNeighbor for each output index, in float32."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5 if half_pixel else 0.0)
    out = []
    for v in range(out_size):
        scaled = f32(f32(f32(v) + offset) * scale)
        k = int(quant.tflite_round(float(scaled))) if align_corners else int(np.floor(scaled))
        k = min(k, in_size - 1)
        out.append(max(0, k) if half_pixel else k)
    return np.array(out, np.int32)


def resize_nearest(op, qm):
    """RESIZE_NEAREST_NEIGHBOR (NHWC, constant size): each output row and
    column reads the input's at TFLite's float32 nearest index, precomputed
    into two tables; values are copied."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = [int(v) for v in np.asarray(_const_data(op, qm, 1, "size")).reshape(-1)]
    if len(x.shape) != 4 or len(size) != 2:
        raise CodegenError(f"RESIZE_NEAREST_NEIGHBOR of shape {x.shape} to {size}")
    if x.quantized and y.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
        raise CodegenError(f"{op.name} with different input and output quantization")
    n, h, w, c = x.shape
    want = (n, size[0], size[1], c)
    if tuple(y.shape) != want:
        raise CodegenError(f"output shape {y.shape}, expected {want}")
    ac, hp = bool(op.options.get("AlignCorners", False)), bool(op.options.get("HalfPixelCenters", False))
    rows, cols = _nearest(size[0], h, ac, hp), _nearest(size[1], w, ac, hp)

    def compute(X, R, C):
        return te.compute(want, lambda b, i, j, d: X[b, R[i], C[j], d], name="out")

    return Kernel([("tensor", x.index), ("param", "rows", rows), ("param", "cols", cols)], want, y.dtype, compute)


def arg_min_max(op, qm, kind):
    """ARG_MAX and ARG_MIN (reference_ops::ArgMinMax): the first index of the
    largest (smallest) value along the constant axis, as int32 or int64. One
    max-reduction over a key that packs the value above the reversed index,
    so ties go to the first index as TFLite's strict comparison does."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    axis = _axis(np.asarray(_const_data(op, qm, 1, "axis")).reshape(-1)[0], len(x.shape))
    dim = x.shape[axis]
    if dim >= 1 << 16:
        raise CodegenError(f"{op.name} over {dim} elements (at most 65535)")
    out_shape = tuple(d for k, d in enumerate(x.shape) if k != axis)
    if int(np.prod(out_shape)) != int(np.prod(y.shape)):
        raise CodegenError(f"output shape {y.shape}, expected {out_shape}")
    shape = out_shape or (1,)

    def compute(X):
        r = te.reduce_axis((0, dim), "r")

        def key(*o):
            o = o if out_shape else ()
            src = tuple(o[:axis]) + (r,) + tuple(o[axis:])
            v = X[src].astype(I32) + 128 if kind == "max" else 127 - X[src].astype(I32)
            return te.max(v * (1 << 16) + (65535 - r), axis=r)

        acc = te.compute(shape, key, name="acc")
        return te.compute(shape, lambda *o: (65535 - (acc(*o) & 65535)).astype(y.dtype), name="out")

    return Kernel([("tensor", x.index)], shape, y.dtype, compute)


def space_batch(op, qm, to_batch):
    """SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (4-D NHWC, constant block
    shape and paddings/crops), TFLite's batch order (the block offset is the
    outer part of the batch index); SPACE_TO_BATCH_ND pads with the output's
    zero point. Converters emit the pair around dilated convolutions."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    block = [int(v) for v in np.asarray(_const_data(op, qm, 1, "block shape")).reshape(-1)]
    pads = np.asarray(_const_data(op, qm, 2, "paddings" if to_batch else "crops"), np.int64).reshape(-1, 2)
    if len(x.shape) != 4 or len(block) != 2 or pads.shape != (2, 2):
        raise CodegenError(f"{op.name} on shape {x.shape} with block {block} (utoe takes 4-D NHWC)")
    if x.quantized and y.quantized and (x.scale != y.scale or x.zero_point != y.zero_point):
        raise CodegenError(f"{op.name} with different input and output quantization")
    bh, bw = block
    n, h, w, c = x.shape
    top, left = int(pads[0][0]), int(pads[1][0])
    if to_batch:
        want = (n * bh * bw, (h + int(pads[0].sum())) // bh, (w + int(pads[1].sum())) // bw, c)
    else:
        want = (n // (bh * bw), h * bh - int(pads[0].sum()), w * bw - int(pads[1].sum()), c)
    if tuple(y.shape) != want:
        raise CodegenError(f"output shape {y.shape}, expected {want}")
    fill = y.zero_point if y.quantized else 0

    def compute(X):
        if to_batch:
            def f(ob, oh, ow, d):
                offset = ob // n
                ih, iw = oh * bh + offset // bw - top, ow * bw + offset % bw - left
                inside = tirx.all(ih >= 0, ih < h, iw >= 0, iw < w)
                return tirx.if_then_else(inside, X[ob % n, ih, iw, d], tirx.const(fill, y.dtype))
        else:
            def f(b, oh, ow, d):
                hh, ww = oh + top, ow + left
                return X[((hh % bh) * bw + ww % bw) * want[0] + b, hh // bh, ww // bw, d]

        return te.compute(want, f, name="out")

    return Kernel([("tensor", x.index)], want, y.dtype, compute)


def abs_(op, qm):
    """ABS (elementwise.cc, int8): |x - zx|, requantized by in_scale / out_scale
    (a float32 quotient) only when the scales differ, plus zy, clamped."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    rescale = np.float32(x.scale) != np.float32(y.scale)
    m, s = quant.quantize_multiplier(float(np.float32(x.scale) / np.float32(y.scale))) if rescale else (0, 0)

    def compute(X):
        v = te.compute((size,), lambda i: tirx.abs(X[i].astype(I32) - x.zero_point), name="stage_a")

        def f(i):
            w = quant.multiply_by_quantized_multiplier(v[i], m, s) if rescale else v[i]
            return quant.clamp(w + y.zero_point, -128, 127).astype("int8")

        return te.compute((size,), f, name="out")

    return Kernel([("view", x.index, (size,))], (size,), "int8", compute)


def squared_difference(op, qm):
    """SQUARED_DIFFERENCE (squared_difference.cc, int8): both inputs shifted
    left 7 and rescaled to twice the larger input scale, their difference
    squared, requantized by (2 max scale)^2 / (2^14 out_scale); numpy
    broadcasting."""
    from tvm import te

    a, b, y, size, args, at_a, at_b = _elementwise_args(op, qm)
    left = 7
    twice = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
    m1, s1 = quant.quantize_multiplier(float(a.scale) / twice)
    m2, s2 = quant.quantize_multiplier(float(b.scale) / twice)
    mo, so = quant.quantize_multiplier(twice * twice / float(np.float32((1 << (2 * left)) * np.float32(y.scale))))

    def compute(A, B):
        sa, sb = _rescaled_pair(A, B, at_a, at_b, a, b, size, left, (m1, s1), (m2, s2))

        def f(i):
            d = sa[i] - sb[i]
            return quant.clamp(quant.multiply_by_quantized_multiplier(d * d, mo, so) + y.zero_point,
                               -128, 127).astype("int8")

        return te.compute((size,), f, name="out")

    return Kernel(args, (size,), "int8", compute)


KERNELS = {
    "CONV_2D": conv2d,
    "DEPTHWISE_CONV_2D": depthwise_conv2d,
    "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": lambda op, qm: pool2d(op, qm, "avg"),
    "MAX_POOL_2D": lambda op, qm: pool2d(op, qm, "max"),
    "ADD": add,
    "SUB": lambda op, qm: add(op, qm, sign=-1),
    "MUL": mul,
    "LOGISTIC": lambda op, qm: _lut(op, qm, "expf"),
    "TANH": lambda op, qm: _lut(op, qm, "tanhf"),
    "SPLIT": split,
    "SPLIT_V": split_v,
    "UNPACK": unpack,
    "PACK": pack,
    "CONCATENATION": concatenation,
    "RESHAPE": reshape,
    "TRANSPOSE": transpose,
    "QUANTIZE": quantize,
    "DEQUANTIZE": dequantize,
    "SOFTMAX": softmax,
    "PAD": pad,
    "PADV2": pad,
    "MEAN": lambda op, qm: reduce(op, qm, "mean"),
    "SUM": lambda op, qm: reduce(op, qm, "sum"),
    "REDUCE_MAX": lambda op, qm: reduce(op, qm, "max"),
    "REDUCE_MIN": lambda op, qm: reduce(op, qm, "min"),
    "STRIDED_SLICE": strided_slice,
    "SLICE": slice_,
    "RELU": lambda op, qm: relu(op, qm, 0.0, None),
    "RELU6": lambda op, qm: relu(op, qm, 0.0, 6.0),
    "RELU_N1_TO_1": lambda op, qm: relu(op, qm, -1.0, 1.0),
    "LEAKY_RELU": leaky_relu,
    "MAXIMUM": lambda op, qm: maximum_minimum(op, qm, "max"),
    "MINIMUM": lambda op, qm: maximum_minimum(op, qm, "min"),
    "HARD_SWISH": hard_swish,
    "GATHER": gather,
    "PRELU": prelu,
    "SQUEEZE": reshape,
    "EXPAND_DIMS": reshape,
    "DEPTH_TO_SPACE": lambda op, qm: depth_space(op, qm, True),
    "SPACE_TO_DEPTH": lambda op, qm: depth_space(op, qm, False),
    "RESIZE_NEAREST_NEIGHBOR": resize_nearest,
    "ARG_MAX": lambda op, qm: arg_min_max(op, qm, "max"),
    "ARG_MIN": lambda op, qm: arg_min_max(op, qm, "min"),
    "SPACE_TO_BATCH_ND": lambda op, qm: space_batch(op, qm, True),
    "BATCH_TO_SPACE_ND": lambda op, qm: space_batch(op, qm, False),
    "ABS": abs_,
    "SQUARED_DIFFERENCE": squared_difference,
}

# The types of an operator's non-constant inputs and outputs each kernel
# takes ({input types}, {output types}); int8 in and out unless listed.
ACTIVATION_TYPES = {
    "QUANTIZE": ({"float32", "int8"}, {"int8"}),
    "DEQUANTIZE": ({"int8"}, {"float32"}),
    "ARG_MAX": ({"int8"}, {"int32", "int64"}),
    "ARG_MIN": ({"int8"}, {"int32", "int64"}),
}
INT8 = ({"int8"}, {"int8"})

# Operators utoe refuses although it could compute them, and why.
REFUSED = {
    # ai-edge-litert 2.3's reference SUM (reduce.cc QuantizedMeanOrSum,
    # kReference) reads int8 tensors as uint8: its outputs are not TFLite's
    # arithmetic, so no correct kernel validates against them.
    "SUM": "the reference interpreter (BUILTIN_REF) computes int8 SUM on the bytes read as uint8, so no correct "
           "kernel matches it",
}


# Operator families in their own modules (they use the helpers above): each
# exports KERNELS and may export ACTIVATION_TYPES and REFUSED, merged here.
from . import kernels_logic, kernels_math, kernels_misc, kernels_recurrent, kernels_spatial  # noqa: E402

for _family in (kernels_logic, kernels_math, kernels_misc, kernels_recurrent, kernels_spatial):
    KERNELS.update(_family.KERNELS)
    ACTIVATION_TYPES.update(getattr(_family, "ACTIVATION_TYPES", {}))
    REFUSED.update(getattr(_family, "REFUSED", {}))
for _family in (kernels_logic, kernels_math, kernels_misc, kernels_recurrent, kernels_spatial):
    for _op, (_ins, _outs) in getattr(_family, "EXTRA_TYPES", {}).items():
        _base = ACTIVATION_TYPES.get(_op, INT8)
        ACTIVATION_TYPES[_op] = (_base[0] | _ins, _base[1] | _outs)

# int16 activations with int8 weights (TFLite's 16x8): the int16 forms sit behind the int8 kernels
from . import kernels_int16  # noqa: E402

kernels_int16.install(KERNELS, ACTIVATION_TYPES, INT8)
