/* half.h - scalar conversions between f32 and the 16- and 8-bit float formats
 * weights are stored in. Round to nearest even, NaN kept quiet. */
#ifndef ZT_HALF_H
#define ZT_HALF_H

#include <stdint.h>
#include <string.h>

static inline float zt_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t zt_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float zt_bf16_to_f32(uint16_t h) { return zt_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t zt_f32_to_bf16(float f) {
    uint32_t u = zt_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float zt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return zt_bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return zt_bits_to_f32(sign);
        /* subnormal: value = man * 2^-24 exactly representable in f32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return zt_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t zt_f32_to_f16(float f) {
    uint32_t u = zt_f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (a < 0x38800000u) {
        /* subnormal or zero: round a * 2^24 to an integer, nearest even */
        float v = zt_bits_to_f32(a) * 16777216.0f;
        uint32_t m = (uint32_t)v;
        float r = v - (float)m;
        if (r > 0.5f || (r == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t e = ((a >> 23) - 112u) << 10;
    uint32_t m = (a >> 13) & 0x3ffu;
    uint32_t rest = a & 0x1fffu;
    uint32_t h = e | m;
    if (rest > 0x1000u || (rest == 0x1000u && (m & 1u))) h++;
    return (uint16_t)(sign | h);
}

/* float8 e4m3fn (no infinities, 0x7f/0xff are NaN) */
static inline float zt_f8e4m3_to_f32(uint8_t b) {
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t exp = (b >> 3) & 0xfu;
    uint32_t man = b & 0x7u;
    if (exp == 0xf && man == 0x7) return zt_bits_to_f32(sign | 0x7fc00000u);
    if (exp == 0) {
        float v = (float)man * 0.001953125f; /* 2^-9 */
        return sign ? -v : v;
    }
    return zt_bits_to_f32(sign | ((exp + 120u) << 23) | (man << 20));
}

/* float8 e5m2 (IEEE-like, a truncated f16) */
static inline float zt_f8e5m2_to_f32(uint8_t b) { return zt_f16_to_f32((uint16_t)(b << 8)); }

#endif
