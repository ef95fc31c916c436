/* Counter-based noise: Philox4x32-10 against Random123's known-answer vectors; the
 * Gaussian stream against tools/rng_reference.py's numpy values
 * (tests/data/rng/normal.json, two seeds at offsets 0 and 1001, and the 64-bit counter
 * wrap); chunked generation equal to one call bit for bit; mean and variance of 1e6
 * samples; different seeds give different streams. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "testlib.h"

static void test_kat(void) {
    /* Random123 tests/kat_vectors, "philox4x32 10": counter[4] key[2] -> out[4] */
    static const uint32_t kat[3][10] = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6627e8d5,
         0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        zt_philox4x32_10(kat[t], kat[t] + 4, out);
        CHECK(!memcmp(out, kat[t] + 6, sizeof out), "KAT %d: %08x %08x %08x %08x", t, out[0],
              out[1], out[2], out[3]);
    }
}

static void test_reference(void) {
    json_error_t err;
    json_t *doc = json_load_file(ZT_TEST_DATA "/rng/normal.json", 0, &err);
    CHECK(doc != NULL, "normal.json: %s (line %d); run tools/rng_reference.py", err.text, err.line);
    if (!doc) return;
    json_t *cases = json_object_get(doc, "cases");
    CHECK(json_array_size(cases) >= 5, "cases: %zu", json_array_size(cases));
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c), *vals = json_object_get(cs, "values");
        uint64_t seed = strtoull(json_string_value(json_object_get(cs, "seed")), NULL, 16);
        uint64_t offset = strtoull(json_string_value(json_object_get(cs, "offset")), NULL, 16);
        int64_t n = (int64_t)json_array_size(vals);
        float *got = zt_test_alloc((size_t)n * sizeof *got);
        zt_rng_normal(seed, offset, got, n);
        double max_err = 0;
        int64_t bits_same = 0;
        for (int64_t i = 0; i < n; i++) {
            double want = json_real_value(json_array_get(vals, (size_t)i));
            max_err = fmax(max_err, fabs((double)got[i] - want));
            bits_same += (float)want == got[i];
        }
        printf("seed %#llx offset %#llx: %lld values, max abs err vs numpy %.3g, %lld/%lld "
               "identical\n",
               (unsigned long long)seed, (unsigned long long)offset, (long long)n, max_err,
               (long long)bits_same, (long long)n);
        CHECK(n > 0 && max_err <= 1e-6, "case %zu: max abs err %g", c, max_err);
    }
    json_decref(doc);
}

/* Every chunking of [0, N) from any offset gives the bits of one call. */
static void test_chunks(void) {
    enum { N = 1000 };
    float *whole = zt_test_alloc(N * sizeof(float)), *part = zt_test_alloc(N * sizeof(float));
    const uint64_t seed = 0xfeedfacecafebeefull;
    zt_rng_normal(seed, 0, whole, N);
    int bad = 0;
    for (int64_t start = 0; start < 12; start++)
        for (int64_t len = 0; len < 11; len++) {
            zt_rng_normal(seed, (uint64_t)start, part, len);
            bad += memcmp(part, whole + start, (size_t)len * sizeof(float)) != 0;
        }
    /* irregular chunks covering the whole range */
    static const int64_t sizes[] = {1, 3, 7, 2, 5, 64, 129, 4, 1, 333};
    int64_t at = 0;
    for (int k = 0; at < N; k = (k + 1) % 10) {
        int64_t len = sizes[k] < N - at ? sizes[k] : N - at;
        zt_rng_normal(seed, (uint64_t)at, part + at, len);
        at += len;
    }
    bad += memcmp(part, whole, N * sizeof(float)) != 0;
    CHECK(bad == 0, "%d chunkings differ from one call", bad);
    zt_rng_normal(seed, 5, part, -3); /* writes nothing */
}

static void test_moments(void) {
    const int64_t n = 1000000;
    float *x = zt_test_alloc((size_t)n * sizeof *x);
    zt_rng_normal(1234, 0, x, n);
    double s = 0, s2 = 0, s4 = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        finite &= isfinite(x[i]) != 0;
    }
    double mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        s2 += d * d;
        s4 += d * d * d * d;
    }
    double var = s2 / (double)(n - 1), kurt = s4 / (double)n / (var * var);
    printf("1e6 samples: mean %.5f var %.5f kurtosis %.4f\n", mean, var, kurt);
    /* the bounds are > 4 standard errors (1e-3 for the mean, 1.4e-3 for the variance) */
    CHECK(finite, "non-finite sample");
    CHECK(fabs(mean) < 0.005, "mean %g", mean);
    CHECK(fabs(var - 1) < 0.01, "variance %g", var);
    CHECK(fabs(kurt - 3) < 0.05, "kurtosis %g", kurt);
}

static void test_seeds_differ(void) {
    enum { N = 64 };
    float a[N], b[N], c[N];
    zt_rng_normal(1, 0, a, N);
    zt_rng_normal(2, 0, b, N);
    zt_rng_normal(1ull << 32, 0, c, N); /* the high half of the seed matters too */
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < N; i++) {
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    CHECK(same_ab == 0 && same_ac == 0, "seeds share %d / %d values", same_ab, same_ac);
}

int main(void) {
    test_kat();
    test_reference();
    test_chunks();
    test_moments();
    test_seeds_differ();
    return zt_test_finish();
}
