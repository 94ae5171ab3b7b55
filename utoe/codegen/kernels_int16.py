"""int16 activations with int8 weights (TFLite's "16x8" quantization).

The int16 forms of the integer kernels, following TFLite's
reference_integer_ops as ai-edge-litert's BUILTIN_REF interpreter runs them:
int64 accumulators and int64 biases for CONV_2D, DEPTHWISE_CONV_2D (scaled
by MultiplyByQuantizedMultiplier(int64): the multiplier cut to 16 bits, one
rounding) and FULLY_CONNECTED (one rounding with the full 32-bit
multiplier, as BUILTIN_REF computes it), per-channel weights; ADD and SUB on
the general 16-bit path (left shift 15; SUB is ADD with input 2's multiplier
negated, as TFLite's sub.cc does for int16) or, pot_scale_int16 set and
power-of-two scales, the shift-and-saturate one; LOGISTIC and TANH with
TFLite's 256-entry sigmoid table, interpolated; SOFTMAX with its two
513-entry tables (exp, 1 / (1 + x)); the rest (MUL, QUANTIZE,
pools, RELU, RELU6, LEAKY_RELU, ABS, PRELU, MEAN) as their int8 forms on int16's
range. Operators that only move values (RESHAPE, TRANSPOSE,
CONCATENATION, ...) are dtype-generic in kernels.py already: for them int16
is only an entry in ACTIVATION_TYPES.

install() (called at the end of kernels.py) puts these behind the int8
kernels: an operator with an int16 tensor goes to the int16 form."""

import numpy as np

from ..errors import CodegenError
from . import quant

I16, I32, I64 = "int16", "int32", "int64"
Q16 = (-32768, 32767)


def _c(v, dtype):
    return quant._const(v, dtype)


def _clamp16(v, lo=-32768, hi=32767):
    return quant.clamp(v, lo, hi).astype(I16)


def _activations(op, qm):
    return [qm.tensors[i] for i in list(op.inputs) + list(op.outputs) if i >= 0 and qm.tensors[i].data is None]


def _all16(op, qm):
    """A CodegenError unless every non-constant tensor of the operator is int16."""
    types = sorted({t.dtype for t in _activations(op, qm)})
    if types != [I16]:
        raise CodegenError(f"int16 form needs int16 activations in and out, not {'/'.join(types)}")


def _reduced(mult, shift):
    """MultiplyByQuantizedMultiplier(int64)'s parameters: the multiplier cut
    to 16 bits ((M + 2^15) >> 16, or 0x7FFF) and the total right shift 15 - shift."""
    m = np.asarray(mult, np.int64)
    red = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF).astype(np.int32)
    return red, (15 - np.asarray(shift, np.int64)).astype(np.int32)


def _mbqm64(acc, red, total):
    """int32 of (acc * red + 2^(total-1)) >> total, all int64 (common.cc)."""
    red = red.astype(I64) if not isinstance(red, int) else _c(red, I64)
    total = total.astype(I64) if not isinstance(total, int) else _c(total, I64)
    one = _c(1, I64)
    return ((acc * red + (one << (total - one))) >> total).astype(I32)


def _bias(b):
    """16x8 convolutions and FULLY_CONNECTED take an int64 bias (what the
    converter writes). ai-edge-litert 2.3's BUILTIN_REF computes garbage with
    an int32 one (saturated outputs, measured on CONV_2D and FULLY_CONNECTED),
    so no correct kernel matches it: refused."""
    if b is not None and b.dtype != I64:
        raise CodegenError(f"int16 activations with an {b.dtype} bias: the reference interpreter (BUILTIN_REF) "
                           f"misreads it, so no correct kernel matches it (utoe takes int64)")


# ---------------------------------------------------------------- CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED


def conv2d(op, qm, depthwise=False):
    """reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel, int16
    input, int8 weights, int64 (or int32) bias: an int64 sum of
    (x - zx) * w, plus bias, scaled by the 16-bit reduced multiplier."""
    from tvm import te

    from .kernels import Kernel, _per_channel_multipliers, conv_sum

    _all16(op, qm)
    x, w = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]]
    b = qm.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = qm.tensors[op.outputs[0]]
    if w.dtype != "int8":
        raise CodegenError(f"int16 convolution with {w.dtype} weights (utoe takes int8)")
    oc = y.shape[3]
    _bias(b)
    red, total = _reduced(*_per_channel_multipliers(x.scale, w.scales, y.scale, oc))
    lo, hi = quant.activation_range(op.options["FusedActivationFunction"], y.scale, y.zero_point, *Q16)
    args = [("tensor", x.index), ("tensor", w.index)]
    if b is not None:
        args.append(("tensor", b.index))
    args += [("param", "multiplier", red), ("param", "shift", total)]
    make_acc = conv_sum(op, qm, depthwise, I64)

    def compute(X, W, *rest):
        B = rest[0] if b is not None else None
        M, S = rest[-2], rest[-1]
        acc = make_acc(X, W)

        def out(nn, yy, xx, k):
            v = acc[nn, yy, xx, k] + (B[k].astype(I64) if B is not None else _c(0, I64))
            return _clamp16(_mbqm64(v, M[k], S[k]) + y.zero_point, lo, hi)

        return te.compute(y.shape, out, name="out")

    return Kernel(args, y.shape, I16, compute)


def fully_connected(op, qm):
    """reference_integer_ops::FullyConnected(PerChannel), int16 input, int8
    weights, int64 (or int32) bias."""
    from tvm import te

    from .kernels import Kernel, _per_channel_multipliers

    _all16(op, qm)
    x, w = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]]
    b = qm.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = qm.tensors[op.outputs[0]]
    if w.dtype != "int8":
        raise CodegenError(f"int16 FULLY_CONNECTED with {w.dtype} weights (utoe takes int8)")
    oc, ic = w.shape
    batch = int(np.prod(x.shape)) // ic
    in_zp, out_zp = x.zero_point, y.zero_point
    w_zp = int(w.zero_points[0]) if len(w.scales) == 1 else 0  # per-channel weights: offset 0
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point, *Q16)
    _bias(b)
    mult, shift = _per_channel_multipliers(x.scale, w.scales, y.scale, oc)
    args = [("view", x.index, (batch, ic)), ("tensor", w.index)]
    if b is not None:
        args.append(("tensor", b.index))
    args += [("param", "multiplier", mult), ("param", "shift", shift)]

    def compute(X, W, *rest):
        B = rest[0] if b is not None else None
        M, S = rest[-2], rest[-1]
        rk = te.reduce_axis((0, ic), "k")
        acc = te.compute((batch, oc), lambda i, j: te.sum(
            (W[j, rk].astype(I64) - _c(w_zp, I64)) * (X[i, rk].astype(I64) - _c(in_zp, I64)), axis=rk), name="acc")

        def out(i, j):
            v = acc[i, j] + (B[j].astype(I64) if B is not None else _c(0, I64))
            # BUILTIN_REF rounds an int16 FULLY_CONNECTED once with the full 32-bit multiplier,
            # (acc * M + 2^(30 - shift)) >> (31 - shift) on the int64 sum (as int8's), not with
            # MultiplyByQuantizedMultiplier(int64)'s 16-bit one: measured, per tensor and per channel
            prod = v * M[j].astype(I64)
            total = (_c(31, I32) - S[j]).astype(I64)
            return _clamp16((prod + (_c(1, I64) << (total - _c(1, I64))) >> total).astype(I32) + out_zp, lo, hi)

        return te.compute((batch, oc), out, name="out")

    return Kernel(args, (batch, oc), I16, compute)


# ---------------------------------------------------------------- ADD, SUB, MUL


def add(op, qm, sign=1):
    """ADD and SUB, int16 (add.cc / sub.cc with pot_scale_int16 false, or
    scales that are not powers of two): the int8 arithmetic with left shift
    15. SUB negates input 2's multiplier and adds (sub.cc: "use add kernel
    for 16-bit sub"), which rounds unlike subtracting."""
    from tvm import te

    from .kernels import Kernel, _elementwise_args, _rescaled_pair

    _all16(op, qm)
    a, b, y, size, args, at_a, at_b = _elementwise_args(op, qm)
    if op.options.get("PotScaleInt16", True) and all(_pot(t) for t in (a, b, y)):
        return _add_pot(op, qm, sign)
    left = 15
    twice_max = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
    m1, s1 = quant.quantize_multiplier(float(a.scale) / twice_max)
    m2, s2 = quant.quantize_multiplier(float(b.scale) / twice_max)
    if sign < 0:
        m2 = -m2
    mo, so = quant.quantize_multiplier(twice_max / float(np.float32((1 << left) * np.float32(y.scale))))
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point, *Q16)

    def compute(A, B):
        sa, sb = _rescaled_pair(A, B, at_a, at_b, a, b, size, left, (m1, s1), (m2, s2))
        return te.compute((size,), lambda i: _clamp16(
            quant.multiply_by_quantized_multiplier(sa[i] + sb[i], mo, so) + y.zero_point, lo, hi), name="out")

    return Kernel(args, (size,), I16, compute)


def _add_pot(op, qm, sign):
    """ADD and SUB on int16 with pot_scale_int16 set (the schema's default)
    and power-of-two scales, zero points 0 (reference_ops::Add(int16, pot)
    / Sub16): the input whose scale is not the output's is divided by its
    power of two (RoundingDivideByPOT), then the two are added (subtracted)
    saturating to int16."""
    from tvm import te

    from .kernels import Kernel, _elementwise_args

    a, b, y, size, args, at_a, at_b = _elementwise_args(op, qm)
    la, lb, ly = (_checked_log2(t.scale)[0] for t in (a, b, y))
    sa, sb = la - ly, lb - ly
    if not (sa == 0 or sb == 0) or sa > 0 or sb > 0:
        raise CodegenError(f"int16 {op.name} with power-of-two scales 2^{la}, 2^{lb} -> 2^{ly} (TFLite's "
                           f"power-of-two path takes one input rescaled down, the other at the output's scale)")
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point, *Q16)

    def compute(A, B):
        def f(i):
            va = quant.rounding_divide_by_pot(at_a(A, i).astype(I32), -sa)
            vb = quant.rounding_divide_by_pot(at_b(B, i).astype(I32), -sb)
            total = quant.clamp(va + vb if sign > 0 else va - vb, -32768, 32767)  # SaturatingAdd / Sub on int16
            return _clamp16(total, lo, hi)

        return te.compute((size,), f, name="out")

    return Kernel(args, (size,), I16, compute)


def _pot(t):
    if not t.quantized or t.zero_point != 0:
        return False
    m, e = np.frexp(np.float64(t.scale))
    return m == 0.5


def mul(op, qm):
    """MUL, int16 (reference_integer_ops::Mul): (a - za) * (b - zb) in int32,
    requantized by sa * sb / sy."""
    from tvm import te

    from .kernels import Kernel, _elementwise_args

    _all16(op, qm)
    a, b, y, size, args, at_a, at_b = _elementwise_args(op, qm)
    m, s = quant.quantize_multiplier(float(a.scale) * float(b.scale) / float(y.scale))
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point, *Q16)

    def compute(A, B):
        prod = te.compute((size,), lambda i: (at_a(A, i).astype(I32) - a.zero_point) * (
            at_b(B, i).astype(I32) - b.zero_point), name="stage_a")
        return te.compute((size,), lambda i: _clamp16(
            quant.multiply_by_quantized_multiplier(prod[i], m, s) + y.zero_point, lo, hi), name="out")

    return Kernel(args, (size,), I16, compute)


# ---------------------------------------------------------------- QUANTIZE, DEQUANTIZE


def quantize(op, qm):
    """QUANTIZE to or from int16: float32 -> int16 (round(x / scale) + zp in
    float32, AffineQuantize), and the requantizations int16 <-> int8 and
    int16 -> int16 (reference_ops::Requantize)."""
    from tvm import te

    from .kernels import Kernel, _roundf

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    lo, hi = (-32768, 32767) if y.dtype == I16 else (-128, 127)
    if x.dtype == "float32":
        scale = float(np.float32(y.scale))

        def f(X):
            return te.compute((size,), lambda i: quant.clamp(
                _roundf(X[i] / _c(scale, "float32")).astype(I32) + y.zero_point, lo, hi).astype(y.dtype), name="out")
    else:
        m, s = quant.quantize_multiplier(float(x.scale) / float(y.scale))

        def f(X):
            return te.compute((size,), lambda i: quant.clamp(quant.multiply_by_quantized_multiplier(
                X[i].astype(I32) - x.zero_point, m, s) + y.zero_point, lo, hi).astype(y.dtype), name="out")
    return Kernel([("view", x.index, (size,))], (size,), y.dtype, f)


# ---------------------------------------------------------------- pools, RELU, RELU6, LEAKY_RELU, ABS, PRELU


def pool2d(op, qm, kind):
    """AVERAGE_POOL_2D and MAX_POOL_2D, int16 (AveragePool16 / MaxPool16):
    as int8's, on int16's range."""
    from . import kernels

    _all16(op, qm)
    return kernels.pool2d(op, qm, kind, I16)


def _unary(op, qm, f):
    from tvm import te

    from .kernels import Kernel

    _all16(op, qm)
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))

    def compute(X):
        v = te.compute((size,), lambda i: X[i].astype(I32) - x.zero_point, name="stage_a")
        return te.compute((size,), lambda i: f(v[i]), name="out")

    return Kernel([("view", x.index, (size,))], (size,), I16, compute)


def relu(op, qm, lo_real, hi_real):
    """RELU, RELU6 (QuantizedReluX<int16_t>): requantize by in_scale /
    out_scale (float32), clamp to the quantized limits."""
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    m, s = quant.quantize_multiplier(float(np.float32(x.scale) / np.float32(y.scale)))

    def q(f):
        return y.zero_point + int(quant.tflite_round(float(np.float32(f) / np.float32(y.scale))))

    lo = max(-32768, q(lo_real))
    hi = 32767 if hi_real is None else min(32767, q(hi_real))
    return _unary(op, qm, lambda v: _clamp16(quant.multiply_by_quantized_multiplier(v, m, s) + y.zero_point, lo, hi))


def leaky_relu(op, qm):
    """LEAKY_RELU (QuantizeLeakyRelu<int16_t>)."""
    from tvm import tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    f32 = np.float32
    alpha = f32(op.options.get("Alpha", 0.2))
    ma, sa = quant.quantize_multiplier(float(f32(f32(x.scale) * alpha) / f32(y.scale)))
    mi, si = quant.quantize_multiplier(float(f32(x.scale) / f32(y.scale)))

    def f(v):
        pos = quant.multiply_by_quantized_multiplier(v, mi, si)
        neg = quant.multiply_by_quantized_multiplier(v, ma, sa)
        return _clamp16(tirx.Select(v >= 0, pos, neg) + y.zero_point)

    return _unary(op, qm, f)


def abs_(op, qm):
    """ABS (elementwise.cc AbsEvalQuantized<int16_t>)."""
    from tvm import tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    rescale = np.float32(x.scale) != np.float32(y.scale)
    m, s = quant.quantize_multiplier(float(np.float32(x.scale) / np.float32(y.scale))) if rescale else (0, 0)

    def f(v):
        w = tirx.abs(v)
        w = quant.multiply_by_quantized_multiplier(w, m, s) if rescale else w
        return _clamp16(w + y.zero_point)

    return _unary(op, qm, f)


def prelu(op, qm):
    """PRELU on int16 (reference_ops::BroadcastPrelu4DSlow, as int8's in
    kernels.prelu): x - zx >= 0 requantized by in_scale / out_scale, below
    it (x - zx) * (alpha - za) by in_scale * alpha_scale / out_scale; alpha
    is a weight, int8 in 16x8 models (BUILTIN_REF reads alpha as int8
    whatever its type: an int16 alpha is refused), broadcast numpy-style."""
    from . import kernels

    _all16(op, qm)
    al = qm.tensors[op.inputs[1]]
    if al.dtype != "int8":
        raise CodegenError(f"int16 PRELU with an {al.dtype} alpha: the reference interpreter (BUILTIN_REF) reads "
                           f"alpha as int8 bytes, so no correct kernel matches it (utoe takes int8, as 16x8 "
                           f"models have)")
    return kernels.prelu(op, qm, I16)


# ---------------------------------------------------------------- LOGISTIC, TANH, MEAN, SOFTMAX

# common.h sigmoid_table_uint16: sigmoid(i / 24) in 0.16 format, for LOGISTIC and TANH on int16
SIGMOID_TABLE = (
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
)


def _checked_log2(x):
    """CheckedLog2(float): (rounded log2, whether x is a power of two within 1e-3), in float32."""
    f32 = np.float32
    lg = f32(f32(np.log(f32(x))) * f32(f32(1.0) / f32(np.log(f32(2.0)))))
    r = f32(np.round(lg))
    return int(r), bool(abs(f32(lg - r)) < f32(1e-3))


def logistic_tanh(op, qm, kind):
    """LOGISTIC and TANH on int16 (reference_integer_ops::Logistic / Tanh, as
    BUILTIN_REF runs them): the input rescaled to 3 * 4096 per unit (a
    power-of-two scale with shift 0 or 1 by 3 << shift, any other by a 15-bit
    multiplier and right shift, activations.cc's Prepare), then the 256-entry
    sigmoid table, interpolated linearly; tanh(x) = 2 sigmoid(2x) - 1 reads
    it at twice the resolution. Output scale 2^-15, zero points 0."""
    from tvm import te, tirx

    from .kernels import Kernel

    _all16(op, qm)
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    if x.zero_point != 0 or y.zero_point != 0:
        raise CodegenError(f"int16 {op.name} with zero points {x.zero_point}, {y.zero_point} (TFLite requires 0)")
    log2_out, pot_out = _checked_log2(y.scale)
    if not pot_out or log2_out != -15:
        raise CodegenError(f"int16 {op.name} with output scale {y.scale:g} (TFLite requires 2^-15)")
    log2_in, pot = _checked_log2(x.scale)
    shift = 12 + log2_in
    mult = 0
    if not (pot and shift in (0, 1)):
        m = float(x.scale) * 4096.0 * 3.0
        shift = 0
        while m <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            m *= 2.0
        mult = int(m)
    if mult == 0:
        mult, shift = 3 << shift, 0
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    size = int(np.prod(y.shape))
    table = np.array(SIGMOID_TABLE, np.int32)
    bits = 9 if kind == "logistic" else 8

    def compute(X, T):
        v = te.compute((size,), lambda i: (X[i].astype(I32) * mult + rnd) >> shift, name="stage_a")

        def f(i):
            a = tirx.abs(v[i])
            uh = a >> bits
            ut = a & ((1 << bits) - 1)
            lo = T[tirx.min(uh, 254)]
            hi = T[tirx.min(uh, 254) + 1]
            if kind == "logistic":
                r = tirx.Select(uh >= 255, _c(0x7FFF << 10, I32), (lo << 9) + ut * (hi - lo))
                r = tirx.Select(v[i] >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
                return (r >> 10).astype(I16)
            r = tirx.Select(uh >= 255, _c(0xFFFF << 8, I32), (lo << 8) + ut * (hi - lo))
            r = tirx.Select(v[i] >= 0, r - (1 << 23) + (1 << 7), (1 << 23) - r + (1 << 7) - 1)
            return (r >> 8).astype(I16)

        return te.compute((size,), f, name="out")

    return Kernel([("view", x.index, (size,)), ("param", "sigmoid_table", table)], (size,), I16, compute)


def mean(op, qm):
    """MEAN on int16 (QuantizedMeanOrSum<int16_t>, as int8's in kernels.reduce):
    the int32 sum minus zero point x count, times in_scale / (out_scale x
    count) folded into one multiplier, clamped to int16."""
    from . import kernels

    _all16(op, qm)
    return kernels.reduce(op, qm, "mean")


def _lut_int16(transform, input_scale, input_zp, output_scale, output_zp):
    """common.h LUTPopulateInt16<float>: 513 entries, float32 arithmetic as
    the C++ computes it (the transform with the C library's expf)."""
    f32 = np.float32

    def rnd(v):
        return f32(quant.tflite_round(float(v)))

    input_min = f32(f32(input_scale) * f32(-32768 - input_zp))
    input_max = f32(f32(input_scale) * f32(32767 - input_zp))
    output_min = f32(f32(output_scale) * f32(-32768 - output_zp))
    output_max = f32(f32(output_scale) * f32(32767 - output_zp))
    step = f32(f32(input_max - input_min) / f32(512))
    half_step = f32(step / f32(2))
    inv = f32(f32(65536) / f32(output_max - output_min))
    lut = np.zeros(513, np.int16)
    for i in range(512):
        at = f32(input_min + f32(f32(i) * step))
        val = transform(at)
        val_mid = transform(f32(at + half_step))
        val_next = transform(f32(input_min + f32(f32(i + 1) * step)))
        sample = rnd(f32(val * inv))
        mid_interp = rnd(f32(f32(f32(val_next * inv) + rnd(f32(val * inv))) / f32(2)))
        mid = rnd(f32(val_mid * inv))
        bias = rnd(f32(f32(mid_interp - mid) / f32(2)))
        lut[i] = int(min(max(f32(sample - bias), f32(-32768)), f32(32767)))
    lut[512] = int(min(max(rnd(f32(transform(input_max) * inv)), f32(-32768)), f32(32767)))
    return lut


def _lut_lookup(T, v):
    """common.h LUTLookup(int16 value, 513-entry lut): 9 bits of index, 7 of interpolation."""
    index = (v >> 7) + 256
    base = T[index].astype(I32)
    slope = T[index + 1].astype(I32) - base
    return (base + ((slope * (v & 0x7F) + 64) >> 7)).astype(I16)


def softmax(op, qm):
    """SOFTMAX on int16 (reference_ops::SoftmaxInt16, activations.cc's
    Prepare): x - max(row) rescaled so [-65535, 0] is [-10, 0], exp from a
    513-entry interpolated table, the row's sum normalized by its leading
    zeros, 1 / (1 + x) from a second table, each exp times that reciprocal,
    rounded, in [0, 32767]. Zero points 0, output scale 2^-15."""
    import ctypes
    import ctypes.util

    from tvm import te, tirx

    from .kernels import Kernel

    _all16(op, qm)
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    if x.zero_point != 0 or y.zero_point != 0 or abs(float(y.scale) - 1 / 32768) > 1e-5:
        raise CodegenError(f"int16 SOFTMAX with output scale {y.scale:g} and zero points {x.zero_point}, "
                           f"{y.zero_point} (TFLite requires 2^-15 and 0)")
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    f32 = np.float32
    rng = 65535
    exp_lut = _lut_int16(lambda v: f32(libm.expf(float(v))), f32(f32(10.0) / f32(rng)), 32767,
                         f32(f32(2.0) / f32(rng)), 0)
    recip_lut = _lut_int16(lambda v: f32(f32(1.0) / f32(f32(1.0) + v)), f32(f32(1.0) / f32(rng)), -32768,
                           f32(f32(2.0) / f32(rng)), 0)
    beta = f32(op.options.get("Beta", 1.0))
    im, ish = quant.quantize_multiplier(float(f32(f32(x.scale) * beta)) / (10.0 / 65535.0))
    depth = x.shape[-1]
    rows = int(np.prod(x.shape)) // depth

    def compute(X, E, R, M):
        def exp(i, c, mx):
            # the multiplier is a parameter, not a literal: with a constant one, TVM 0.27's simplifier
            # folds (x - max) * 2^shift * M into one int64 product whose constant it wraps to int32
            # (2 * 2111030213 became -72906870), flipping the rounding nudge's sign
            scaled = quant.multiply_by_quantized_multiplier(X[i, c].astype(I32) - mx, M[0], ish) + 32767
            return _lut_lookup(E, quant.clamp(scaled, -32768, 32767))

        r = te.reduce_axis((0, depth), "j")
        mx = te.compute((rows,), lambda i: te.max(X[i, r].astype(I32), axis=r), name="acc_max")
        r2 = te.reduce_axis((0, depth), "j2")
        total = te.compute((rows,), lambda i: te.sum(exp(i, r2, mx[i]).astype(I32), axis=r2), name="acc_sum")

        def out(i, c):
            s = total[i]
            # CountLeadingZeros(uint32 sum), sum > 0
            h = sum((tirx.Select(s.astype(I64) < _c(1 << k, I64), _c(1, I32), _c(0, I32)) for k in range(1, 32)),
                    _c(0, I32))
            shifted = ((s.astype(I64) << (h - 1).astype(I64)) + _c(1 << 13, I64)) >> _c(14, I64)
            sym = quant.clamp(shifted.astype(I32) - ((1 << 15) + (1 << 16)), -32768, 32767)
            recip = _lut_lookup(R, sym)
            right = (_c(31, I32) - h).astype(I64)
            prod = exp(i, c, mx[i]).astype(I64) * recip.astype(I64) + (_c(1, I64) << (right - _c(1, I64)))
            return quant.clamp((prod >> right).astype(I32), 0, 32767).astype(I16)

        return te.compute((rows, depth), out, name="out")

    return Kernel([("view", x.index, (rows, depth)), ("param", "exp_lut", exp_lut), ("param", "recip_lut", recip_lut),
                   ("param", "multiplier", np.array([im], np.int32))], (rows, depth), I16, compute)


# ---------------------------------------------------------------- install


def _is16(op, qm):
    return any(qm.tensors[i].dtype == I16 for i in list(op.inputs) + list(op.outputs) if i >= 0)


def _dispatch(int8_form, int16_form):
    def kernel(op, qm):
        return (int16_form if _is16(op, qm) else int8_form)(op, qm)

    kernel.__doc__ = int16_form.__doc__
    return kernel


def _same_type(generic):
    """A dtype-generic operator (it copies values): int16 only with int16."""
    def kernel(op, qm):
        if _is16(op, qm):
            _all16(op, qm)
        return generic(op, qm)

    kernel.__doc__ = generic.__doc__
    return kernel


# TFLite Micro's int16 operators utoe has an int16 form of, and those that only copy
GENERIC = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PACK", "UNPACK", "SPLIT", "SPLIT_V",
           "STRIDED_SLICE", "SLICE", "PAD", "PADV2", "MAXIMUM", "MINIMUM", "REDUCE_MAX", "REDUCE_MIN",
           "RESIZE_NEAREST_NEIGHBOR")
FORMS = {
    "CONV_2D": conv2d,
    "DEPTHWISE_CONV_2D": lambda op, qm: conv2d(op, qm, depthwise=True),
    "FULLY_CONNECTED": fully_connected,
    "ADD": add,
    "SUB": lambda op, qm: add(op, qm, sign=-1),
    "MUL": mul,
    "QUANTIZE": quantize,
    "AVERAGE_POOL_2D": lambda op, qm: pool2d(op, qm, "avg"),
    "MAX_POOL_2D": lambda op, qm: pool2d(op, qm, "max"),
    "RELU": lambda op, qm: relu(op, qm, 0.0, None),
    "RELU6": lambda op, qm: relu(op, qm, 0.0, 6.0),
    "LEAKY_RELU": leaky_relu,
    "ABS": abs_,
    "PRELU": prelu,
    "LOGISTIC": lambda op, qm: logistic_tanh(op, qm, "logistic"),
    "TANH": lambda op, qm: logistic_tanh(op, qm, "tanh"),
    "MEAN": mean,
    "SOFTMAX": softmax,
}


def install(kernels, activation_types, default):
    """Put the int16 forms behind kernels' int8 ones and add int16 to the
    types those operators take."""
    for name, form in FORMS.items():
        kernels[name] = _dispatch(kernels[name], form)
    for name in GENERIC:
        kernels[name] = _same_type(kernels[name])
    for name in list(FORMS) + list(GENERIC):
        ins, outs = activation_types.get(name, default)
        activation_types[name] = (set(ins) | {I16}, set(outs) | {I16})
    ins, outs = activation_types["DEQUANTIZE"]  # the int8 kernel is dtype-generic on its input
    activation_types["DEQUANTIZE"] = (set(ins) | {I16}, set(outs))
