/* rng.h - counter-based random numbers: Philox4x32-10 and the Gaussian noise stream.
 *
 * Sample i of a stream is a pure function of (seed, i), so noise is the same bits for
 * any chunking, thread count or backend, and a run can regenerate any slice of it.
 *
 * The construction of zt_rng_normal, exactly (tools/rng_reference.py is the same in
 * numpy and writes the fixture tests/unit/test_rng.c compares against):
 *
 *   key   = (seed & 0xffffffff, seed >> 32)
 *   j     = offset + i                       (uint64, wraps)
 *   b     = j / 4, lane = j % 4
 *   x     = philox4x32_10(ctr = (b & 0xffffffff, b >> 32, 0, 0), key)
 *   u[k]  = (x[k] + 1) * 2^-32               (double, in (0, 1], never 0)
 *   r0    = sqrt(-2 ln u[0]),  r1 = sqrt(-2 ln u[2])
 *   z     = (r0 cos(2 pi u[1]), r0 sin(2 pi u[1]), r1 cos(2 pi u[3]), r1 sin(2 pi u[3]))
 *   out[i] = (float)z[lane]                  (Box-Muller in double, rounded once)
 *
 * This is Zoetrope's own stream: it does not reproduce torch.randn's numbers. */
#ifndef ZT_RNG_H
#define ZT_RNG_H

#include <stdint.h>

/* The Random123 Philox4x32 bijection with 10 rounds (Salmon et al., SC'11): the same
 * words as Random123's philox4x32_R(10, ctr, key) and its kat_vectors. */
void zt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* out[0..n) = standard normal samples offset .. offset+n-1 of stream seed (see above).
 * n <= 0 writes nothing. Thread-safe; no state. */
void zt_rng_normal(uint64_t seed, uint64_t offset, float *out, int64_t n);

#endif
