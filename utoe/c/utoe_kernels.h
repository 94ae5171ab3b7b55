/* Helpers utoe's integer kernels call from the C TVM generates (ops.c):
 * TFLite's fixed-point requantization written once, so each output computes
 * it once instead of the copies TVM's expression printer spells out.
 * Bit-exact with tflite/kernels/internal/common.h (reference kernels). */
#ifndef UTOE_KERNELS_H
#define UTOE_KERNELS_H

#include <stdint.h>

/* MultiplyByQuantizedMultiplier (double rounding: SaturatingRoundingDoublingHighMul
 * then RoundingDivideByPOT), as CONV_2D and DEPTHWISE_CONV_2D compute it.
 * multiplier is QuantizeMultiplier's, in [2^30, 2^31) or 0: never INT32_MIN,
 * so the high multiply's one saturating case cannot occur.
 * The high multiply, trunc((ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31), equals
 * floor((ab + 2^30) / 2^31) for either sign of ab: one 64-bit add and shift. */
static inline int32_t utoe_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * (int64_t)multiplier;
    int32_t high = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    int32_t mask = (int32_t)((1u << right) - 1u);
    int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

/* utoe_mbqm(acc, multiplier, shift) + zero point, clamped to [lo, hi].
 * Not inlined: a convolution calls it for a block of 8 outputs in each of
 * LoopPartition's pieces; inlined, those copies made resnet8's code 8x its
 * size and spilled the block's accumulators (measured: the call is also
 * fewer instructions, kws on virt-rv32 12.7 -> 10.5 M). */
static __attribute__((noinline, unused)) int32_t utoe_requant(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                   int32_t lo, int32_t hi)
{
    int32_t v = utoe_mbqm(acc, multiplier, shift) + zero_point;
    v = v < hi ? v : hi;
    return v > lo ? v : lo;
}

/* MultiplyByQuantizedMultiplier with one rounding, (x * M + 2^(30 - shift)) >> (31 - shift),
 * as FULLY_CONNECTED computes it, plus zero point, clamped to [lo, hi]. */
static inline int32_t utoe_requant1(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                    int32_t lo, int32_t hi)
{
    int32_t total = 31 - shift;
    int64_t prod = (int64_t)acc * (int64_t)multiplier;
    int32_t v = (int32_t)((prod + ((int64_t)1 << (total - 1))) >> total) + zero_point;
    v = v < hi ? v : hi;
    return v > lo ? v : lo;
}

#endif
