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


def _exp_on_negative_values(a):
    """gemmlowp::exp_on_negative_values of an F5 raw value -> F0 raw."""
    quarter = 1 << 24
    amq = _w32((a & (quarter - 1)) - quarter)
    x = _w32(sat_pot(amq, 5) + (1 << 28))  # Rescale<0>, then + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = sat_pot(_w32(srdhm(_w32(sat_pot(x4, -2) + x3), 715827883) + x2), -1)
    result = _w32(1895147668 + srdhm(1895147668, _w32(x + poly)))
    remainder = _w32(amq - a)
    for shift, mult in ((24, 1672461947), (25, 1302514674), (26, 790015084), (27, 290630308), (28, 39332535),
                        (29, 720401), (30, 242)):
        if remainder & (1 << shift):
            result = srdhm(result, mult)
    return INT32_MAX if a == 0 else result


def _sat_add(a, b):
    return max(INT32_MIN, min(INT32_MAX, a + b))


def _log_x_ge_1(z):
    """log_x_for_x_greater_than_or_equal_to_1<5>(F12 raw z) -> F5 raw."""
    log_2, ssh, sh = 1488522236, 1805811301, 1518500250
    a_n, a_d, a_i, a_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = rdbpot(1 << 29, 6)
    hp1 = clz32(z)
    r_a = sat_pot(srdhm(sat_pot(z, hp1 - 1), sh), 1)
    za_adj = _sat_add(sat_pot(12 - hp1, 25), shifted_quarter)
    zb_head = clz32(srdhm(z, sh)) - 1
    r_b = sat_pot(z, zb_head)
    zb_adj = _sat_add(sat_pot(12 - zb_head, 25), -shifted_quarter)
    r, adj = min(r_a, r_b), max(za_adj, zb_adj)
    p = rounding_half_sum(r, ssh)
    q = _w32(2 * _w32(r - ssh))
    sq = srdhm(q, q)
    num = _w32(srdhm(q, r) + srdhm(srdhm(q, sq), a_n))
    den = _w32(srdhm(p, _w32(a_i + q + srdhm(a_d, sq))) + srdhm(a_f, q))
    recip = one_over_one_plus_x(den)
    return sat_pot(_w32(srdhm(adj, log_2) + srdhm(rdbpot(num, 6), recip)), 1)


def log_softmax_params(in_scale):
    """PreprocessLogSoftmaxScalingExp(beta 1, in_scale, 5 integer bits) and
    CalculateInputRadius: (multiplier, left shift, reverse multiplier,
    reverse shift, diff_min)."""
    real = min(1.0 * float(np.float32(in_scale)) * (1 << 26), (1 << 31) - 1.0)
    m, shift = quant.quantize_multiplier(real)
    rm, rs = quant.quantize_multiplier((1 << (31 - shift)) / float(m))
    radius = int(np.floor(1.0 * 31 * (1 << 26) / (1 << shift)))
    return m, shift, rm, rs, -radius


def log_softmax_tables(in_scale):
    """Per input difference d = x - row max in [-255, 0] (at d + 255): its
    Q5.26 value and its exp in Q12.19 (0 below diff_min)."""
    m, shift, _, _, diff_min = log_softmax_params(in_scale)
    q5 = np.array([mbqm(d, m, shift) for d in range(-255, 1)], np.int32)
    ex = np.array([rdbpot(_exp_on_negative_values(int(v)), 12) if d >= diff_min else 0
                   for d, v in zip(range(-255, 1), q5)], np.int32)
    return q5, ex


def log_softmax_reference(x, in_scale):
    """reference_integer_ops::LogSoftmax in Python: rows of int8 -> int8."""
    _, _, rm, rs, diff_min = log_softmax_params(in_scale)
    q5, ex = log_softmax_tables(in_scale)
    x = np.asarray(x, np.int32).reshape(-1, np.shape(x)[-1])
    out = np.zeros(x.shape, np.int8)
    for r, row in enumerate(x):
        d = row - row.max()
        log = _log_x_ge_1(int(ex[d + 255].sum()))
        adj = max(diff_min - 1, mbqm(_w32(log + INT32_MIN), rm, rs))
        out[r] = [max(-128, min(127, rdbpot(_w32(int(q5[v + 255]) - log), 22) + 127)) if v > adj else -128
                  for v in d]
    return out


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


def _t_w32(v64):
    """An int64 expression wrapped to int32 (as int32 arithmetic wraps)."""
    return v64.astype(I32)


def _t_clz(v):
    """CountLeadingZeros of a positive int32 load."""
    from tvm import tirx

    return sum((tirx.Select(v < _c(1 << k), _c(1), _c(0)) for k in range(31)), _c(1))


def _t_sat_pot_param(x, e):
    """SaturatingRoundingMultiplyByPOTParam: x << e (e >= 0 an expression), saturated."""
    from tvm import tirx

    thr = ((_c(1, "int64") << (_c(31) - e).astype("int64")) - _c(1, "int64")).astype(I32)
    return tirx.Select(e == _c(0), x, tirx.Select(x > thr, _c(INT32_MAX), tirx.Select(
        x < _c(0) - thr, _c(INT32_MIN), x << e)))


def _t_add(a, b):
    return _t_w32(a.astype("int64") + b.astype("int64"))


def _t_one_over_one_plus_x(a, stage, name):
    """one_over_one_plus_x_for_x_in_0_1 of tensor a as stages."""
    from tvm import tirx

    srdhm = quant.rounding_doubling_high_mul

    def half_sum(i):
        s64 = a(i).astype("int64") + _c(INT32_MAX, "int64")
        return tirx.truncdiv(s64 + tirx.Select(s64 >= _c(0, "int64"), _c(1, "int64"), _c(-1, "int64")),
                             _c(2, "int64")).astype(I32)

    half = stage(f"{name}h", half_sum)

    def step(it, prev):  # x + x * (1 - half * x), Newton-Raphson for 1 / half, in F2
        omx = stage(f"{name}o{it}", lambda i: _t_w32(_c(1 << 29, "int64") - srdhm(half(i), prev(i)).astype("int64")))
        m = stage(f"{name}m{it}", lambda i: srdhm(prev(i), omx(i)))
        return stage(f"{name}x{it}", lambda i: _t_add(prev(i), _t_sat_pot(m(i), 2)))

    x = stage(f"{name}x", lambda i: _t_add(_c(1515870810), srdhm(half(i), -1010580540)))  # 48/17 - 32/17 half
    for it in range(3):
        x = step(it, x)
    return stage(f"{name}r", lambda i: _t_sat_pot(x(i), 1))


def _t_log(z, shape, name):
    """log_x_for_x_greater_than_or_equal_to_1<5>(F12 raw z(i)) as stages of
    shape (1-D) named name_*."""
    from tvm import te, tirx

    srdhm = quant.rounding_doubling_high_mul
    log_2, ssh, sh = 1488522236, 1805811301, 1518500250
    a_n, a_d, a_i, a_f = 117049297, 127690142, 1057819769, 638450708
    quarter = 1 << 23  # Rescale<6>(1/4)

    def stage(what, f):
        return te.compute(shape, f, name=f"{name}_{what}")

    def sat(v64):
        return tirx.max(tirx.min(v64, _c(INT32_MAX, "int64")), _c(INT32_MIN, "int64")).astype(I32)

    hp1 = stage("hp1", lambda i: _t_clz(z(i)))
    ra_tmp = stage("ratmp", lambda i: _t_sat_pot_param(z(i), hp1(i) - _c(1)))
    ra_m = stage("ram", lambda i: srdhm(ra_tmp(i), sh))
    r_a = stage("ra", lambda i: _t_sat_pot(ra_m(i), 1))
    za_adj = stage("zaadj", lambda i: sat(((_c(12) - hp1(i)) << _c(25)).astype("int64") + _c(quarter, "int64")))
    zb = stage("zb", lambda i: srdhm(z(i), sh))
    zb_head = stage("zbh", lambda i: _t_clz(zb(i)) - _c(1))
    r_b = stage("rb", lambda i: _t_sat_pot_param(z(i), zb_head(i)))
    zb_adj = stage("zbadj", lambda i: sat(((_c(12) - zb_head(i)) << _c(25)).astype("int64") - _c(quarter, "int64")))
    r = stage("r", lambda i: tirx.min(r_a(i), r_b(i)))
    adj = stage("adj", lambda i: tirx.max(za_adj(i), zb_adj(i)))

    def half_sum(i):
        s64 = r(i).astype("int64") + _c(ssh, "int64")
        return tirx.truncdiv(s64 + tirx.Select(s64 >= _c(0, "int64"), _c(1, "int64"), _c(-1, "int64")),
                             _c(2, "int64")).astype(I32)

    p = stage("p", half_sum)
    q = stage("q", lambda i: _t_w32((r(i).astype("int64") - _c(ssh, "int64")) * _c(2, "int64")))
    sq = stage("sq", lambda i: srdhm(q(i), q(i)))
    qsq = stage("qsq", lambda i: srdhm(q(i), sq(i)))
    num = stage("num", lambda i: _t_add(srdhm(q(i), r(i)), srdhm(qsq(i), a_n)))
    inner = stage("inner", lambda i: _t_add(_t_add(_c(a_i), q(i)), srdhm(sq(i), a_d)))
    den = stage("den", lambda i: _t_add(srdhm(p(i), inner(i)), srdhm(q(i), a_f)))
    recip = _t_one_over_one_plus_x(den, stage, "rc")
    scaled = stage("nums", lambda i: quant.rounding_divide_by_pot(num(i), 6))
    total = stage("tot", lambda i: _t_add(srdhm(adj(i), log_2), srdhm(scaled(i), recip(i))))
    return stage("log", lambda i: _t_sat_pot(total(i), 1))


def log_softmax(op, qm):
    """LOG_SOFTMAX (reference_integer_ops::LogSoftmax, int8): per row, the
    max, the sum of exp(x - max) in Q12 (a table over the 256 differences:
    gemmlowp's exp_on_negative_values, evaluated here), its log by TFLite's
    fixed-point log_x_for_x_greater_than_or_equal_to_1 (row stages), then
    each output (x - max) in Q5 minus that log, into the fixed output
    quantization (16/256, 127)."""
    from tvm import te, tirx

    from . import kernels

    x, y = _io(op, qm)
    if float(np.float32(y.scale)) != 16 / 256 or y.zero_point != 127:
        raise CodegenError(f"LOG_SOFTMAX output quantized ({y.scale}, {y.zero_point}): TFLite requires (16/256, 127)")
    depth = x.shape[-1]
    rows = int(np.prod(x.shape)) // depth
    if depth > 4096:
        raise CodegenError(f"LOG_SOFTMAX over {depth} values (TFLite's Q12 sum holds 4096)")
    _, _, rm, rs, diff_min = log_softmax_params(x.scale)
    q5, ex = log_softmax_tables(x.scale)

    def compute(X, Q5, EX):
        r = te.reduce_axis((0, depth), "j")
        mx = te.compute((rows,), lambda i: te.max(X[i, r].astype(I32), axis=r), name="acc_max")
        r2 = te.reduce_axis((0, depth), "j2")
        sm = te.compute((rows,), lambda i: te.sum(EX[X[i, r2].astype(I32) - mx[i] + _c(255)], axis=r2),
                        name="row_sum")
        log = _t_log(sm, (rows,), "row_log")
        adj = te.compute((rows,), lambda i: tirx.max(_c(diff_min - 1), quant.multiply_by_quantized_multiplier(
            log[i] + _c(INT32_MIN), rm, rs)), name="row_adj")

        def f(i, j):
            d = X[i, j].astype(I32) - mx[i]
            v = quant.rounding_divide_by_pot(Q5[d + _c(255)] - log[i], 22) + _c(127)
            return tirx.Select(d > adj[i], quant.clamp(v, -128, 127), _c(-128)).astype("int8")

        return te.compute((rows, depth), f, name="out")

    return kernels.Kernel([("view", x.index, (rows, depth)), ("param", "q5", q5), ("param", "exp_q12", ex)],
                          (rows, depth), "int8", compute)


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
    "LOG_SOFTMAX": log_softmax,
    "L2_NORMALIZATION": l2_normalization,
    "RSQRT": rsqrt,
    "ELU": elu,
    "DIV": div,
}
ACTIVATION_TYPES = {}
REFUSED = {}
