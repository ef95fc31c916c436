/* ptx_ref.h - two PTX instructions as the PTX ISA defines them, for the tests that check
 * CUDA kernels on the CPU (test_conv_tiles, tests/emu): cvt.rna.tf32.f32, and
 * mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 over a warp's fragment registers.
 * Written from the ISA's fragment layout, apart from the kernels' own index functions,
 * so that a kernel reading the wrong register for an element fails against it. Plain C
 * for both compilers. */
#ifndef ZT_PTX_REF_H
#define ZT_PTX_REF_H

#include <stdint.h>
#include <string.h>

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

/* Lane l's accumulators after the product: D[g][2t] c0, D[g][2t + 1] c1, D[g + 8][2t] c2,
 * D[g + 8][2t + 1] c3, each added to its c. */
static inline void ptx_mma_lane(float c[4], int l, const float A[16][8], const float B[8][8]) {
    int g = l / 4, t = l % 4;
    for (int q = 0; q < 4; q++) {
        int r = g + (q / 2) * 8, n = 2 * t + q % 2;
        float s = c[q];
        for (int k = 0; k < 8; k++) s += A[r][k] * B[k][n];
        c[q] = s;
    }
}

#endif
