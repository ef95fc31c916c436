/* rng.c - Philox4x32-10 and Box-Muller normals; see rng.h for the exact construction. */
#include "core/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

void zt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) { /* Random123 bumps the key between rounds, never before the first */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The four normals of block b. */
static void normal_block(const uint32_t key[2], uint64_t b, double z[4]) {
    const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
    uint32_t x[4];
    zt_philox4x32_10(ctr, key, x);
    const double two_pi = 6.283185307179586476925286766559, scale = 0x1p-32;
    double u[4];
    /* +1 keeps log() finite: u is in (0, 1] */
    for (int k = 0; k < 4; k++) u[k] = ((double)x[k] + 1.0) * scale;
    double r0 = sqrt(-2.0 * log(u[0])), r1 = sqrt(-2.0 * log(u[2]));
    z[0] = r0 * cos(two_pi * u[1]);
    z[1] = r0 * sin(two_pi * u[1]);
    z[2] = r1 * cos(two_pi * u[3]);
    z[3] = r1 * sin(two_pi * u[3]);
}

void zt_rng_normal(uint64_t seed, uint64_t offset, float *out, int64_t n) {
    if (n <= 0) return;
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    double z[4];
    int64_t i = 0;
    uint64_t j = offset;
    /* a chunk may start and end mid-block: the partial blocks are computed whole and
     * only their lanes in range are kept, so every value is the same as in one call */
    while (i < n) {
        normal_block(key, j / 4, z);
        for (unsigned lane = (unsigned)(j % 4); lane < 4 && i < n; lane++, i++, j++)
            out[i] = (float)z[lane];
    }
}
