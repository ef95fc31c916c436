/* vmath.h - float math written so GCC vectorizes the loops around it (libm's expf is
 * a scalar call it will not vectorize without -ffast-math). */
#ifndef ZT_VMATH_H
#define ZT_VMATH_H

#include <stdint.h>

#include "../../core/half.h"

/* Float bits as an int32 key that orders like the values (negative floats have their
 * magnitude bits flipped); the map is its own inverse. */
static inline int32_t zt_order_key(int32_t s) { return s ^ ((s >> 31) & 0x7fffffff); }

/* x clamped to [lo, hi] as integer min/max on order keys: GCC will not if-convert
 * float selects here (it may not speculate trapping float ops), but integer min/max
 * are single vector ops. NaN becomes lo or hi; callers that must keep it carry x. */
static inline float zt_clamp_bits(float x, float lo, float hi) {
    int32_t k = zt_order_key((int32_t)zt_f32_to_bits(x));
    int32_t kl = zt_order_key((int32_t)zt_f32_to_bits(lo));
    int32_t kh = zt_order_key((int32_t)zt_f32_to_bits(hi));
    k = k < kl ? kl : k;
    k = k > kh ? kh : k;
    return zt_bits_to_f32((uint32_t)zt_order_key(k));
}

/* exp(x) for x in [-87, 88.7]: Cody-Waite range reduction and the Cephes polynomial,
 * about 2 ulp. */
static inline float zt_exp_core(float x) {
    /* adding 1.5 * 2^23 rounds to an integer that then sits in the low mantissa bits */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^(n-1) * 2 keeps the exponent field in range for n = 128 */
    uint32_t e = (zt_f32_to_bits(t) - 0x4b400000u + 126u) << 23;
    return p * zt_bits_to_f32(e) * 2.0f;
}

/* exp(x) with x clamped to [-87, 88.7]: inside SiLU and GELU, which keep NaN by
 * multiplying with x, the clamp is harmless. */
static inline float zt_exp_clamped(float x) { return zt_exp_core(zt_clamp_bits(x, -87.0f, 88.7f)); }

/* exp(x) for x <= 0, as scores minus their max: below -87 (and -inf, a masked key)
 * it gives exactly 0. The test is on the bits: as unsigned integers a negative float's
 * bits grow with its magnitude. */
static inline float zt_exp_neg(float x) {
    const uint32_t min_bits = 0xc2ae0000u; /* -87.0f */
    uint32_t xb = zt_f32_to_bits(x);
    uint32_t keep = 0u - (uint32_t)(xb <= min_bits);
    float y = zt_exp_core(zt_bits_to_f32(xb < min_bits ? xb : min_bits));
    return zt_bits_to_f32(zt_f32_to_bits(y) & keep);
}

#endif
