#!/usr/bin/env python3
"""numpy reference for src/core/rng.c: Philox4x32-10 and Zoetrope's Gaussian noise stream.

philox4x32_10(ctr, key) follows Random123's philox4x32_R(10, ...) and is checked here
against Random123's published known-answer vectors (tests/kat_vectors). numpy's own
Philox bit generator is Philox4x64, so it cannot serve as a cross-check.
philox_normal(seed, offset, n) is the construction documented in src/core/rng.h.

Run as a script it checks the KAT vectors and writes tests/data/rng/normal.json:
  {"cases": [{"seed": "0x...", "offset": "0x...", "values": [...]}, ...]}
with seed and offset as hex strings (JSON integers stop at 2^63) and the samples
rounded to float32 as the C code returns them. The KAT vectors themselves are also
written out in tests/unit/test_rng.c.

    python tools/rng_reference.py [out_dir]
"""
import json
import os
import sys

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF

# Random123 tests/kat_vectors, the "philox4x32 10" lines: counter[4] key[2] -> out[4]
KAT = [
    ([0x00000000, 0x00000000, 0x00000000, 0x00000000], [0x00000000, 0x00000000],
     [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff],
     [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
]


def philox4x32_10(ctr, key):
    """Vectorised over the leading axis: ctr (n, 4) and key (2,) of uint32-valued ints."""
    c = np.asarray(ctr, dtype=np.uint64).reshape(-1, 4) & MASK
    k0, k1 = np.uint64(key[0] & MASK), np.uint64(key[1] & MASK)
    c0, c1, c2, c3 = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    m = np.uint64(MASK)
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(W0)) & m
            k1 = (k1 + np.uint64(W1)) & m
        p0 = np.uint64(M0) * c0  # exact: both factors < 2^32
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & m,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & m)
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def philox_normal(seed, offset, n):
    """float32 samples offset .. offset+n-1 of stream seed (src/core/rng.h)."""
    key = (seed & MASK, (seed >> 32) & MASK)
    j = (np.uint64(offset) + np.arange(n, dtype=np.uint64))  # wraps like the C code
    b = j // np.uint64(4)
    lane = (j % np.uint64(4)).astype(np.int64)
    ctr = np.stack([b & np.uint64(MASK), b >> np.uint64(32), np.zeros_like(b),
                    np.zeros_like(b)], axis=1)
    x = philox4x32_10(ctr, key)
    u = (x.astype(np.float64) + 1.0) * 2.0 ** -32  # (0, 1]
    r0 = np.sqrt(-2.0 * np.log(u[:, 0]))
    r1 = np.sqrt(-2.0 * np.log(u[:, 2]))
    t1, t3 = 2.0 * np.pi * u[:, 1], 2.0 * np.pi * u[:, 3]
    z = np.stack([r0 * np.cos(t1), r0 * np.sin(t1), r1 * np.cos(t3), r1 * np.sin(t3)],
                 axis=1)
    return z[np.arange(n), lane].astype(np.float32)


def check_kat():
    for ctr, key, want in KAT:
        got = [int(v) for v in philox4x32_10([ctr], key)[0]]
        assert got == want, (ctr, key, [hex(v) for v in got], [hex(v) for v in want])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data",
                                                              "rng")
    check_kat()
    # chunked evaluation must equal the slice of one big call
    big = philox_normal(42, 0, 4000)
    assert np.array_equal(philox_normal(42, 1001, 300), big[1001:1301])
    cases = []
    for seed in (0, 0x0123456789ABCDEF):
        for offset, n in ((0, 256), (1001, 258)):
            vals = philox_normal(seed, offset, n)
            cases.append((seed, offset, vals))
    # the top of the counter range: the high counter word and 64-bit wrap-around
    cases.append((7, (1 << 64) - 6, philox_normal(7, (1 << 64) - 6, 12)))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "normal.json"), "w") as f:
        f.write('{"cases": [\n')
        for k, (seed, offset, vals) in enumerate(cases):
            f.write(' {"seed": "0x%x", "offset": "0x%x",\n  "values": %s}%s\n'
                    % (seed, offset, json.dumps([float(v) for v in vals]),
                       "," if k + 1 < len(cases) else ""))
        f.write("]}\n")
    print("KAT ok; wrote %s/normal.json (%d cases)" % (out, len(cases)))


if __name__ == "__main__":
    main()
