"""TFLite's integer arithmetic, in Python (for parameters computed at codegen
time) and as TVM expressions (for the kernels), so generated code computes
what TFLite's reference kernels compute, bit for bit."""

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def tflite_round(x):
    """std::round: halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real):
    """TFLite's QuantizeMultiplier(double) -> (int32 multiplier, shift)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    assert q_fixed <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def activation_range(act, scale, zero_point, qmin=-128, qmax=127):
    """CalculateActivationRangeQuantized: the clamp of a fused activation.
    act: 0 NONE, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6. Rounds f / scale in float32."""

    def q(f):
        return zero_point + int(tflite_round(float(np.float32(f) / np.float32(scale))))

    if act == 0:
        return qmin, qmax
    if act == 1:
        return max(qmin, q(0.0)), qmax
    if act == 3:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == 2:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"fused activation {act}")


# ---- TVM expressions ----


def _const(v, dtype):
    import tvm

    return tvm.tirx.const(v, dtype)


def rounding_doubling_high_mul(a, b):
    """SaturatingRoundingDoublingHighMul(int32 a, int32 b) as TIR.

    Expressions passed in are copied where used: keep a and b simple (buffer
    loads), staging bigger expressions in their own compute blocks."""
    from tvm import tirx

    b = _as_i32(b)
    ab = a.astype("int64") * b.astype("int64")
    # TFLite's trunc((ab + nudge) / 2^31), nudge 2^30 for ab >= 0 and
    # 1 - 2^30 below, is floor((ab + 2^30) / 2^31) for either sign: one add
    # and an arithmetic shift instead of a select and a signed division
    high = ((ab + _const(1 << 30, "int64")) >> _const(31, "int64")).astype("int32")
    if isinstance(b, int) or getattr(b, "value", None) is not None:
        value = b if isinstance(b, int) else int(b.value)
        if value != INT32_MIN:  # a == b == INT32_MIN is the only overflow
            return high
    # (a == INT32_MIN and b == INT32_MIN), not a == b: TVM's simplifier would
    # solve a == b for a's variables and overflow int32 literals
    overflow = tirx.all(a == _const(INT32_MIN, "int32"), b == _const(INT32_MIN, "int32"))
    return tirx.Select(overflow, _const(INT32_MAX, "int32"), high)


def rounding_divide_by_pot(x, exponent):
    """RoundingDivideByPOT(int32 x, exponent) as TIR (exponent: int or expr)."""
    from tvm import tirx

    if isinstance(exponent, int):
        if exponent == 0:
            return x
        exponent = _const(exponent, "int32")
    mask = (_const(1, "int32") << exponent) - _const(1, "int32")
    remainder = x & mask
    threshold = (mask >> _const(1, "int32")) + tirx.Select(x < _const(0, "int32"), _const(1, "int32"),
                                                          _const(0, "int32"))
    return (x >> exponent) + tirx.Select(remainder > threshold, _const(1, "int32"), _const(0, "int32"))


def multiply_by_quantized_multiplier(x, multiplier, shift, single_rounding=False):
    """MultiplyByQuantizedMultiplier(int32 x, M, shift): M and shift are
    Python ints (per tensor) or int32 expressions (per channel).

    TFLite has two roundings of this product, and its CPU runtime (the
    reference utoe validates against) uses both: convolutions, depthwise
    convolutions and ADD round twice (SaturatingRoundingDoublingHighMul, then
    RoundingDivideByPOT), FULLY_CONNECTED rounds once, (x * M + 2^(30 - shift))
    >> (31 - shift). They differ by 1 LSB on ties; measured on ad01_int8
    (dense) and ResNet-8 (conv, add): each op is bit-exact only with its own."""
    if single_rounding:
        prod = x.astype("int64") * _as_i32(multiplier).astype("int64")
        if isinstance(shift, int):
            total = 31 - shift
            return ((prod + _const(1 << (total - 1), "int64")) >> _const(total, "int64")).astype("int32")
        total = (_const(31, "int32") - shift).astype("int64")
        return ((prod + (_const(1, "int64") << (total - _const(1, "int64")))) >> total).astype("int32")
    from tvm import tirx

    if isinstance(shift, int):
        left, right = max(shift, 0), max(-shift, 0)
        xl = x * _const(1 << left, "int32") if left else x
        return rounding_divide_by_pot(rounding_doubling_high_mul(xl, _as_i32(multiplier)), right)
    zero = _const(0, "int32")
    left = tirx.max(shift, zero)
    right = tirx.max(zero - shift, zero)
    xl = x * (_const(1, "int32") << left)
    return rounding_divide_by_pot(rounding_doubling_high_mul(xl, _as_i32(multiplier)), right)


def _as_i32(v):
    return _const(v, "int32") if isinstance(v, int) else v


def clamp(x, lo, hi):
    from tvm import tirx

    return tirx.max(tirx.min(x, _const(hi, "int32")), _const(lo, "int32"))
