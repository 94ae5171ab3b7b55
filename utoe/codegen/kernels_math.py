"""Elementwise math on int8 (RSQRT, ELU, DIV, L2_NORMALIZATION, LOG_SOFTMAX).

Integer kernels with TFLite's reference semantics (see kernels.py). The
float32 forms of these and of EXP, LOG, SQRT, SQUARE, SIN, COS, FLOOR, CEIL,
ROUND and L2_POOL_2D go through TVM's frontend; TFLite Micro has no int8 form
of those, and utoe none either (refused by name: no integer kernel).

Where TFLite's arithmetic is a function of one int8 value it is evaluated
here, in Python, for each of the 256 values into a table (gemmlowp's
fixed-point helpers below, int32 semantics); where it depends on a row's sum
(L2_NORMALIZATION, LOG_SOFTMAX) the same helpers are written as TIR
expressions (the _t* functions), each intermediate a staged compute
("stage_*", "row_*": integer._schedule computes them inside the output's
loops) rather than a Let: TVM's NarrowDataType pass fails on int64
arithmetic over int32 Let variables ("Detected bound ... conflicts with
memorization")."""

import ctypes
import ctypes.util

import numpy as np

from ..errors import CodegenError
from . import quant

I32 = "int32"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# ---------------------------------------------------------------- gemmlowp in Python (int32)


def _w32(v):
    """v wrapped to int32, as two's complement arithmetic does."""
    return (int(v) + 2**31) % 2**32 - 2**31


def _tdiv(a, b):
    """C's integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _w32(_tdiv(ab + nudge, 1 << 31))


def rdbpot(x, e):
    """RoundingDivideByPOT."""
    if e == 0:
        return x
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def sat_pot(x, e):
    """SaturatingRoundingMultiplyByPOT<e>."""
    if e > 0:
        thr = (1 << (31 - e)) - 1
        if x > thr:
            return INT32_MAX
        if x < -thr:
            return INT32_MIN
        return _w32(x << e)
    return rdbpot(x, -e)


def mbqm(x, m, shift):
    """MultiplyByQuantizedMultiplier (double rounding, as TFLite's CPU build)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot(srdhm(_w32(x * (1 << left)), m), right)


def clz32(x):
    return 32 - (x & 0xFFFFFFFF).bit_length()


def clrsb32(x):
    """CountLeadingSignBits (GCC's __builtin_clrsb; 31 for 0)."""
    return 31 if x == 0 else (clz32(x) if x >= 0 else clz32(~x)) - 1


def inv_sqrt(value, reverse_shift=-1):
    """GetInvSqrtQuantizedMultiplierExp -> (multiplier, shift)."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    left = (clz32(value) - 1) // 2 - 1
    shift -= left
    value <<= 2 * left
    fin = value >> 1
    half_in = rdbpot(fin, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28
    for _ in range(5):
        x3 = sat_pot(srdhm(srdhm(x, x), x), 6)
        x = sat_pot(_w32(srdhm(half_three, x) - srdhm(half_in, x3)), 3)
    x = srdhm(x, 1518500250)
    if shift < 0:
        x = _w32(x << -shift)
        shift = 0
    return x, shift * reverse_shift


def rounding_half_sum(a, b):
    s = a + b
    return _tdiv(s + (1 if s >= 0 else -1), 2)


def one_over_one_plus_x(a):
    """gemmlowp::one_over_one_plus_x_for_x_in_0_1 (F0 raw in and out)."""
    half = rounding_half_sum(a, INT32_MAX)
    x = _w32(1515870810 + srdhm(half, -1010580540))
    for _ in range(3):
        omx = _w32((1 << 29) - srdhm(half, x))
        x = _w32(x + sat_pot(srdhm(x, omx), 2))
    return sat_pot(x, 1)  # ExactMulByPot<-1> keeps the raw value: F2 -> F1, then Rescale<0>


def reciprocal(x, integer_digits=31):
    """GetReciprocal -> (F0 raw of 1 / x scaled, num_bits_over_unit)."""
    hpo = clz32(x)
    shifted = _w32(((x << hpo) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x(shifted), integer_digits - hpo


# ---------------------------------------------------------------- table operators


def _table_kernel(op, qm, table):
    from . import kernels

    return kernels._table(op, qm, np.asarray(table, np.int8))


def _io(op, qm):
    return qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]


def rsqrt(op, qm):
    """RSQRT (elementwise.cc RsqrtEvalQuantizedInt8): 1 / sqrt(x - zx) by
    GetInvSqrtQuantizedMultiplierExp, shifted up 20 bits and requantized by
    1 / (sqrtf(in_scale) * out_scale); x == zx gives 127. TFLite fails on
    x < zx ("only defined for positive values"); those entries are 127 too."""
    x, y = _io(op, qm)
    f32 = np.float32
    m, s = quant.quantize_multiplier(1.0 / float(f32(np.sqrt(f32(x.scale))) * f32(y.scale)))
    table = np.zeros(256, np.int8)
    for v in range(-128, 128):
        value = v - x.zero_point
        if value <= 0:
            out = 127
        else:
            im, ish = inv_sqrt(value)
            data = mbqm(1, im, ish + 20)
            out = max(-128, min(127, mbqm(data, m, s - 20) + y.zero_point))
        table[v & 255] = out
    return _table_kernel(op, qm, table)


def _libm(name):
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    f = getattr(libm, name)
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return f


def lut_populate(x, y, transform):
    """LUTPopulate<int8_t> / PopulateLookupTable: float32 throughout."""
    f32 = np.float32
    inverse = f32(1) / f32(y.scale)
    table = np.zeros(256, np.int8)
    for v in range(-128, 128):
        deq = f32(f32(x.scale) * f32(v - x.zero_point))
        t = f32(transform(deq))
        rescaled = f32(quant.tflite_round(float(f32(t * inverse))))
        q = int(f32(rescaled + f32(y.zero_point)))
        table[v & 255] = max(min(127, q), -128)
    return table


def elu(op, qm):
    """ELU (activations.cc EluPrepare, int8): a table of x < 0 ? expm1f(x) : x
    (LUTPopulate, float32)."""
    x, y = _io(op, qm)
    expm1f = _libm("expm1f")
    return _table_kernel(op, qm, lut_populate(x, y, lambda d: expm1f(float(d)) if d < 0 else d))


def div_reference(a, b, a_q, b_q, y_q, lo=-128, hi=127):
    """DIV's int8 arithmetic in Python (the spec div's TIR follows), for
    arrays of numerators and divisors; quantizations (scale, zero point)."""
    f32 = np.float32
    om, osh = quant.quantize_multiplier(float(f32(f32(a_q[0]) / f32(f32(b_q[0]) * f32(y_q[0])))))
    out = []
    for va, vb in zip(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)):
        v1, v2 = int(va) - a_q[1], int(vb) - b_q[1]
        if v2 < 0:
            v1, v2 = -v1, -v2
        inv, rs = reciprocal(v2)
        h = clrsb32(v1)
        p = srdhm(srdhm(_w32(v1 << h), inv), om)
        e = h + rs - osh
        r = rdbpot(p, e) if e < 32 else (p >> (e & 31)) + (1 if p >= 0 else 0)
        out.append(max(lo, min(hi, r + y_q[1])))
    return np.array(out, np.int8)


# ---------------------------------------------------------------- TIR helpers


def _c(v, dtype=I32):
    return quant._const(v, dtype)


def _t_rdbpot(x, e):
    """RoundingDivideByPOT(int32 x, int32 expression e), 0 <= e; for e >= 32
    what TFLite's (1ll << e) - 1 mask and x86's shift (count mod 32) give:
    x >> (e & 31), plus 1 unless x < 0 (the reference computes that)."""
    from tvm import tirx

    mask = tirx.Select(e >= _c(31), _c(INT32_MAX), (_c(1) << tirx.min(e, _c(30))) - _c(1))
    low = (x >> e) + tirx.Select((x & mask) > (mask >> _c(1)) + tirx.Select(x < _c(0), _c(1), _c(0)),
                                 _c(1), _c(0))
    high = (x >> (e & _c(31))) + tirx.Select(x >= _c(0), _c(1), _c(0))
    return tirx.Select(e < _c(32), low, high)


def div(op, qm):
    """DIV (reference_ops::DivElementwise / BroadcastDivSlowQuantized, int8):
    numerator times the divisor's reciprocal (GetReciprocal) with the
    numerator's headroom shifted out, requantized by s1 / (s2 * so) (a
    float32 quotient). The reciprocal and its shift depend only on the
    divisor's byte and the headroom only on the numerator: tables computed
    here; TFLite fails on a divisor equal to its zero point (a division by
    zero), which these tables map to 0."""
    from tvm import te

    from . import kernels

    a, b, y, size, args, at_a, at_b = kernels._elementwise_args(op, qm)
    f32 = np.float32
    om, osh = quant.quantize_multiplier(float(f32(f32(a.scale) / f32(f32(b.scale) * f32(y.scale)))))
    if osh > 21:
        raise CodegenError(f"DIV with an output multiplier of 2^{osh} (utoe takes up to 2^21)")
    lo, hi = quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point)
    inv, rs, sign = np.zeros(256, np.int32), np.zeros(256, np.int32), np.ones(256, np.int32)
    for v in range(-128, 128):
        v2 = v - b.zero_point
        if v2 != 0:
            inv[v & 255], rs[v & 255] = reciprocal(abs(v2))
            sign[v & 255] = -1 if v2 < 0 else 1
    head = np.array([clrsb32(v) for v in range(-255, 256)], np.int32)  # headroom of numerator v at v + 255
    args = args + [("param", "reciprocal", inv), ("param", "recip_shift", rs), ("param", "sign", sign),
                   ("param", "headroom", head)]

    def compute(A, B, INV, RS, SIGN, HEAD):
        # the numerator, sign-flipped with the divisor (a staged load: a Let
        # variable cannot index a buffer)
        v1 = te.compute((size,), lambda i: (at_a(A, i).astype(I32) - _c(a.zero_point)) * SIGN[
            at_b(B, i).astype(I32) & _c(255)], name="stage_a")

        def bi(i):
            return at_b(B, i).astype(I32) & _c(255)

        def h(i):
            return HEAD[v1[i] + _c(255)]

        uq = te.compute((size,), lambda i: quant.rounding_doubling_high_mul(
            (v1[i].astype("int64") << h(i).astype("int64")).astype(I32), INV[bi(i)]), name="stage_b")
        p = te.compute((size,), lambda i: quant.rounding_doubling_high_mul(uq[i], om), name="stage_c")

        def f(i):
            r = _t_rdbpot(p[i], h(i) + RS[bi(i)] - _c(osh))
            return quant.clamp(r + _c(y.zero_point), lo, hi).astype("int8")

        return te.compute((size,), f, name="out")

    return kernels.Kernel(args, (size,), "int8", compute)


def l2norm_reference(x, zp):
    """reference_integer_ops::L2Normalization in Python: rows of int8 -> int8."""
    x = np.asarray(x, np.int64).reshape(-1, np.shape(x)[-1]) - zp
    out = np.zeros(x.shape, np.int8)
    for r, row in enumerate(x):
        m, sh = inv_sqrt(int((row * row).sum()))
        out[r] = [max(-128, min(127, mbqm(int(v), m, sh + 7))) for v in row]
    return out


def _t_sat_pot(x, e):
    """SaturatingRoundingMultiplyByPOT<e> of a load (e a Python int)."""
    from tvm import tirx

    if e <= 0:
        return quant.rounding_divide_by_pot(x, -e)
    thr = (1 << (31 - e)) - 1
    return tirx.Select(x > _c(thr), _c(INT32_MAX), tirx.Select(x < _c(-thr), _c(INT32_MIN), x << _c(e)))


def _t_inv_sqrt(value, shape, name):
    """GetInvSqrtQuantizedMultiplierExp(value(*idx)) as staged computes of
    `shape` named name_*: returns (multiplier, left shift) tensors. value is
    a tensor of int32 >= 0 below 2^31."""
    from tvm import te, tirx

    srdhm = quant.rounding_doubling_high_mul

    def stage(what, f):
        return te.compute(shape, f, name=f"{name}_{what}")

    big = stage("big", lambda *i: tirx.Select(value(*i) >= _c(1 << 29), _c(1), _c(0)))
    v = stage("v", lambda *i: value(*i) >> (big(*i) * _c(2)))
    # value << 2 * left lands in [2^27, 2^29): left counts the even powers above it
    left = stage("left", lambda *i: sum((tirx.Select(v(*i) < _c(1 << (29 - 2 * k)), _c(1), _c(0))
                                         for k in range(1, 15)), _c(0)))
    half_in = stage("half", lambda *i: quant.rounding_divide_by_pot((v(*i) << (left(*i) * _c(2))) >> _c(1), 1))
    def newton(it, x):
        sq = stage(f"sq{it}", lambda *i: srdhm(x(*i), x(*i)))
        x3 = stage(f"x3{it}", lambda *i: _t_sat_pot(srdhm(sq(*i), x(*i)), 6))
        a = stage(f"a{it}", lambda *i: srdhm(_c((1 << 28) + (1 << 27)), x(*i)))
        b = stage(f"b{it}", lambda *i: srdhm(half_in(*i), x3(*i)))
        return stage(f"x{it}", lambda *i: _t_sat_pot(a(*i) - b(*i), 3))

    x = lambda *i: _c(1 << 28)  # noqa: E731 - F3's one, the first guess
    for it in range(5):  # TFLite's five Newton-Raphson steps
        x = newton(it, x)
    shift = stage("shift", lambda *i: _c(11) + big(*i) - left(*i))
    fin = x
    mult = stage("mult", lambda *i: tirx.Select(
        value(*i) <= _c(1), _c(INT32_MAX),
        tirx.Select(shift(*i) < _c(0), srdhm(fin(*i), 1518500250) << (_c(0) - shift(*i)),
                    srdhm(fin(*i), 1518500250))))
    lshift = stage("lshift", lambda *i: tirx.Select(value(*i) <= _c(1), _c(0),
                                                     _c(0) - tirx.max(shift(*i), _c(0))))
    return mult, lshift


def l2_normalization(op, qm):
    """L2_NORMALIZATION (reference_integer_ops::L2Normalization, int8): each
    row's sum of squares (x - zx)^2, its inverse square root by TFLite's
    Newton-Raphson fixed point (GetInvSqrtQuantizedMultiplierExp, as row
    stages), each value multiplied by it into the output's fixed scale 1/128."""
    from tvm import te

    x, y = _io(op, qm)
    if op.options.get("FusedActivationFunction", 0):
        raise CodegenError("L2_NORMALIZATION with a fused activation")
    if float(np.float32(y.scale)) != 1 / 128 or y.zero_point != 0:
        raise CodegenError(f"L2_NORMALIZATION output quantized ({y.scale}, {y.zero_point}): TFLite requires "
                           "(1/128, 0)")
    depth = x.shape[-1]
    rows = int(np.prod(x.shape)) // depth
    if depth * 255 * 255 >= 2**31:
        raise CodegenError(f"L2_NORMALIZATION over {depth} values (the int32 sum of squares overflows)")

    def compute(X):
        r = te.reduce_axis((0, depth), "j")
        acc = te.compute((rows,), lambda i: te.sum((X[i, r].astype(I32) - _c(x.zero_point)) * (
            X[i, r].astype(I32) - _c(x.zero_point)), axis=r), name="row_sum")
        mult, shift = _t_inv_sqrt(acc, (rows,), "row_isqrt")

        def f(i, j):
            v = X[i, j].astype(I32) - _c(x.zero_point)
            return quant.clamp(quant.multiply_by_quantized_multiplier(v, mult[i], shift[i] + _c(7)),
                               -128, 127).astype("int8")

        return te.compute((rows, depth), f, name="out")

    from . import kernels

    return kernels.Kernel([("view", x.index, (rows, depth))], (rows, depth), "int8", compute)


KERNELS = {
    "L2_NORMALIZATION": l2_normalization,
    "RSQRT": rsqrt,
    "ELU": elu,
    "DIV": div,
}
ACTIVATION_TYPES = {}
REFUSED = {}
