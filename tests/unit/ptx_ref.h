/* ptx_ref.h - PTX instructions as the PTX ISA defines them, for the tests that check
 * CUDA kernels on the CPU (test_conv_tiles, tests/emu): cvt.rna.tf32.f32,
 * mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 and m16n8k16 with bf16 inputs over a
 * warp's fragment registers, and ldmatrix.sync.aligned.m8n8.x4 (plain and .trans).
 * Written from the ISA's fragment layout, apart from the kernels' own index functions,
 * so that a kernel reading the wrong register for an element fails against it. Plain C
 * for both compilers. */
#ifndef ZT_PTX_REF_H
#define ZT_PTX_REF_H

#include <stdint.h>
#include <string.h>

#include "core/half.h" /* bf16 */

/* cvt.rna.tf32.f32: to nearest, ties away from zero, 10 mantissa bits kept */
static inline float ptx_tf32(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&v, &u, 4);
    return v;
}

/* The m16n8k8 operands from the 32 lanes' registers, lane = 4 g + t:
 * A[g][t] a0, A[g + 8][t] a1, A[g][t + 4] a2, A[g + 8][t + 4] a3; B[t][g] b0, B[t + 4][g] b1. */
static inline void ptx_mma_operands(const float a[32][4], const float b[32][2], float A[16][8],
                                    float B[8][8]) {
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        A[g][t] = a[l][0];
        A[g + 8][t] = a[l][1];
        A[g][t + 4] = a[l][2];
        A[g + 8][t + 4] = a[l][3];
        B[t][g] = b[l][0];
        B[t + 4][g] = b[l][1];
    }
}

/* Lane l's accumulators after the product of A [16][K] (row-major) and B [K][8]:
 * D[g][2t] c0, D[g][2t + 1] c1, D[g + 8][2t] c2, D[g + 8][2t + 1] c3, each added to its c. */
static inline void ptx_mma_lane_k(float c[4], int l, const float *A, const float *B, int K) {
    int g = l / 4, t = l % 4;
    for (int q = 0; q < 4; q++) {
        int r = g + (q / 2) * 8, n = 2 * t + q % 2;
        float s = c[q];
        for (int k = 0; k < K; k++) s += A[r * K + k] * B[k * 8 + n];
        c[q] = s;
    }
}
static inline void ptx_mma_lane(float c[4], int l, const float A[16][8], const float B[8][8]) {
    ptx_mma_lane_k(c, l, &A[0][0], &B[0][0], 8);
}

/* The m16n8k16 bf16 operands from the 32 lanes' registers, lane = 4 g + t, two bf16 a
 * register (the low half the lower column or row): a0 A[g][2t, 2t + 1], a1 A[g + 8][..],
 * a2 A[g][2t + 8, 2t + 9], a3 A[g + 8][2t + 8, ..]; b0 B[2t, 2t + 1][g],
 * b1 B[2t + 8, 2t + 9][g]. The accumulators are m16n8k8's. */
static inline void ptx_mma16_operands(const uint32_t a[32][4], const uint32_t b[32][2],
                                      float A[16][16], float B[16][8]) {
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        for (int h = 0; h < 2; h++) {
            A[g][2 * t + h] = zt_bf16_to_f32((uint16_t)(a[l][0] >> (16 * h)));
            A[g + 8][2 * t + h] = zt_bf16_to_f32((uint16_t)(a[l][1] >> (16 * h)));
            A[g][2 * t + 8 + h] = zt_bf16_to_f32((uint16_t)(a[l][2] >> (16 * h)));
            A[g + 8][2 * t + 8 + h] = zt_bf16_to_f32((uint16_t)(a[l][3] >> (16 * h)));
            B[2 * t + h][g] = zt_bf16_to_f32((uint16_t)(b[l][0] >> (16 * h)));
            B[2 * t + 8 + h][g] = zt_bf16_to_f32((uint16_t)(b[l][1] >> (16 * h)));
        }
    }
}
static inline void ptx_mma16_lane(float c[4], int l, const float A[16][16], const float B[16][8]) {
    ptx_mma_lane_k(c, l, &A[0][0], &B[0][0], 16);
}

/* ldmatrix .m8n8 .b16, one matrix of the .x4: rows[r] is the address row r's lane (8i + r
 * for matrix i) gave, 8 b16 each. Lane l's register: elements (l/4, 2(l%4)) and
 * (l/4, 2(l%4) + 1), the first in the low half; with .trans (2(l%4), l/4) and
 * (2(l%4) + 1, l/4). */
static inline uint32_t ptx_ldmatrix(const uint16_t *const rows[8], int l, int trans) {
    int r = l / 4, c = 2 * (l % 4);
    uint16_t lo = trans ? rows[c][r] : rows[r][c], hi = trans ? rows[c + 1][r] : rows[r][c + 1];
    return (uint32_t)lo | (uint32_t)hi << 16;
}

#endif
