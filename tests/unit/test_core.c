/* Core pieces: float formats, tensor views, the arena, the thread pool, status text. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/half.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "testlib.h"

/* f16 value by the IEEE definition, for checking the bit-level conversion */
static double f16_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    double v;
    if (exp == 31) return man ? NAN : (sign ? -INFINITY : INFINITY);
    if (exp == 0) v = ldexp(man, -24);
    else v = ldexp(1024 + man, exp - 25);
    return sign ? -v : v;
}

static void test_half(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        double want = f16_value((uint16_t)h);
        float got = zt_f16_to_f32((uint16_t)h);
        if (isnan(want) ? !isnan(got) : (double)got != want) bad++;
        /* every f16 survives a round trip (NaNs stay NaN) */
        uint16_t back = zt_f32_to_f16(got);
        if (isnan(want) ? !isnan(zt_f16_to_f32(back)) : back != h) bad++;
    }
    CHECK(bad == 0, "%d f16 values convert wrongly", bad);

    /* rounding to nearest even, checked against exhaustive search over f16 values */
    zt_test_rng rng = {7};
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        float x = (float)(zt_test_rand_normal(&rng) * ldexp(1.0, (int)(zt_test_rand_u64(&rng) % 40) - 25));
        uint16_t h = zt_f32_to_f16(x);
        double v = f16_value(h), err = fabs(v - x);
        /* the neighbours must not be closer */
        for (int d = -1; d <= 1; d += 2) {
            uint16_t n = (uint16_t)(h + d);
            if ((n & 0x7c00) == 0x7c00 || ((h & 0x7fff) == 0 && d < 0)) continue;
            double e2 = fabs(f16_value(n) - x);
            if (e2 < err || (e2 == err && (h & 1))) bad++;
        }
        if (fabs(x) > 65504 + 16 && !isinf(v)) bad++;
    }
    CHECK(bad == 0, "%d f16 roundings are not nearest-even", bad);

    bad = 0;
    for (int i = 0; i < 200000; i++) {
        float x = (float)(zt_test_rand_normal(&rng) * 1000);
        uint16_t b = zt_f32_to_bf16(x);
        double v = zt_bf16_to_f32(b), err = fabs(v - x);
        double up = zt_bf16_to_f32((uint16_t)(b + 1)), down = zt_bf16_to_f32((uint16_t)(b - 1));
        if (fabs(up - x) < err || fabs(down - x) < err) bad++;
        if ((fabs(up - x) == err || fabs(down - x) == err) && (b & 1)) bad++;
    }
    CHECK(bad == 0, "%d bf16 roundings are not nearest-even", bad);
    CHECK(isnan(zt_bf16_to_f32(zt_f32_to_bf16(NAN))), "bf16 NaN lost");
    CHECK(zt_f8e4m3_to_f32(0x7e) == 448.0f, "e4m3 max is %g", zt_f8e4m3_to_f32(0x7e));
    CHECK(zt_f8e4m3_to_f32(0x01) == 0.001953125f, "e4m3 min subnormal");
    CHECK(zt_f8e4m3_to_f32(0x38) == 1.0f, "e4m3 one");
    CHECK(isnan(zt_f8e4m3_to_f32(0xff)), "e4m3 NaN");
    CHECK(zt_f8e5m2_to_f32(0x3c) == 1.0f, "e5m2 one");
}

static void test_tensor(void) {
    float data[2 * 3 * 4];
    for (int i = 0; i < 24; i++) data[i] = (float)i;
    zt_tensor t = zt_tensor_new(ZT_F32, data, 2, 3, 4);
    CHECK(zt_tensor_numel(&t) == 24 && zt_tensor_is_contiguous(&t), "make");
    CHECK(t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1, "strides");

    zt_tensor v;
    CHECK_OK(zt_tensor_narrow(&v, &t, 1, 1, 2));
    CHECK(v.shape[1] == 2 && *(float *)v.data == 4.0f && !zt_tensor_is_contiguous(&v), "narrow");
    CHECK(*(float *)zt_tensor_ptr(&v, (int64_t[]){1, 1, 3}) == 23.0f, "narrow ptr");

    zt_tensor p;
    CHECK_OK(zt_tensor_permute(&p, &t, (int[]){2, 0, 1}));
    CHECK(p.shape[0] == 4 && p.shape[1] == 2 && p.shape[2] == 3, "permute shape");
    CHECK(*(float *)zt_tensor_ptr(&p, (int64_t[]){3, 1, 2}) == 1 * 12 + 2 * 4 + 3, "permute ptr");

    zt_tensor s;
    CHECK_OK(zt_tensor_select(&s, &t, 0, 1));
    CHECK(s.ndim == 2 && *(float *)zt_tensor_ptr(&s, (int64_t[]){2, 1}) == 21.0f, "select");

    zt_tensor r;
    CHECK_OK(zt_tensor_reshape(&r, &t, 2, ZT_SHAPE(-1, 6)));
    CHECK(r.shape[0] == 4 && r.shape[1] == 6, "reshape infer");
    CHECK_FAILS(zt_tensor_reshape(&r, &t, 2, ZT_SHAPE(5, 5)), ZT_ERR_RUNTIME, "24 elements");
    CHECK_FAILS(zt_tensor_reshape(&r, &v, 1, ZT_SHAPE(16)), ZT_ERR_RUNTIME, "not contiguous");
    CHECK_FAILS(zt_tensor_narrow(&r, &t, 2, 3, 2), ZT_ERR_RUNTIME, "outside");

    zt_tensor u;
    CHECK_OK(zt_tensor_unsqueeze(&u, &t, 1));
    CHECK(u.ndim == 4 && u.shape[1] == 1 && zt_tensor_is_contiguous(&u), "unsqueeze");

    char buf[64];
    CHECK(!strcmp(zt_tensor_shape_str(&t, buf, sizeof buf), "(2, 3, 4)"), "shape str %s", buf);
    zt_dtype dt;
    CHECK(zt_dtype_parse("BF16", &dt) == 0 && dt == ZT_BF16, "dtype parse");
    CHECK(zt_dtype_parse("Q4_K", &dt) != 0, "dtype parse unknown");
    CHECK(zt_dtype_size(ZT_F8_E4M3) == 1 && zt_dtype_size(ZT_I64) == 8, "dtype sizes");

    float src[5] = {1.5f, -2.25f, 3e-8f, 65504.0f, -0.0f}, back[5];
    uint16_t h[5];
    zt_convert_from_f32(h, ZT_F16, src, 5);
    zt_convert_to_f32(back, h, ZT_F16, 5);
    CHECK(back[0] == 1.5f && back[1] == -2.25f && back[3] == 65504.0f, "f16 row conversion");
}

static void test_arena(void) {
    zt_arena *a;
    CHECK_OK(zt_arena_init(&a, 1 << 20, 0));
    void *p1 = zt_arena_alloc(a, 100);
    CHECK(p1 && ((uintptr_t)p1 & 63) == 0, "aligned");
    CHECK(zt_arena_used(a) == 128, "used %zu", zt_arena_used(a));
    zt_arena_mark m = zt_arena_save(a);
    void *big = zt_arena_alloc(a, 3 << 20); /* bigger than a block */
    CHECK(big != NULL, "big alloc");
    memset(big, 1, 3 << 20);
    CHECK(zt_arena_peak(a) == 128 + (3 << 20), "peak %zu", zt_arena_peak(a));
    zt_arena_restore(a, m);
    CHECK(zt_arena_used(a) == 128, "restore");
    void *p2 = zt_arena_alloc(a, 64);
    CHECK(p2 == (char *)p1 + 128, "reuse after restore");
    CHECK(zt_arena_peak(a) == 128 + (3 << 20), "peak kept");
    zt_arena_reset_peak(a);
    CHECK(zt_arena_peak(a) == 192, "peak reset %zu", zt_arena_peak(a));

    zt_tensor t;
    CHECK_OK(zt_arena_zeros(a, &t, ZT_F32, 2, ZT_SHAPE(3, 5)));
    int zero = 1;
    for (int i = 0; i < 15; i++) zero &= ((float *)t.data)[i] == 0.0f;
    CHECK(zero, "zeros");
    CHECK_FAILS(zt_arena_tensor(a, &t, ZT_F32, 2, ZT_SHAPE(INT64_MAX / 2, 4)), ZT_ERR_NOMEM,
                "impossible");
    zt_arena_free(a);

    CHECK_OK(zt_arena_init(&a, 0, 1000));
    CHECK(zt_arena_alloc(a, 900) != NULL, "under limit");
    CHECK(zt_arena_alloc(a, 200) == NULL, "over limit");
    CHECK(zt_test_contains(zt_last_error(), "limit"), "limit message: %s", zt_last_error());
    zt_arena_free(a);
    zt_arena_free(NULL);
}

typedef struct pool_ctx {
    atomic_int hits[1000];
    atomic_int max_thread;
} pool_ctx;

static void pool_task(void *ctx, int64_t i, int thread) {
    pool_ctx *c = ctx;
    atomic_fetch_add(&c->hits[i], 1);
    int m = atomic_load(&c->max_thread);
    while (thread > m && !atomic_compare_exchange_weak(&c->max_thread, &m, thread)) {}
}

static void test_pool(void) {
    for (int threads = 1; threads <= 4; threads++) {
        zt_pool *p;
        CHECK_OK(zt_pool_init(&p, threads));
        CHECK(zt_pool_size(p) == threads, "size");
        for (int rep = 0; rep < 50; rep++) {
            static pool_ctx c;
            memset(&c, 0, sizeof c);
            int n = 1 + rep * 19 % 1000;
            zt_pool_run(p, pool_task, &c, n);
            int ok = 1;
            for (int i = 0; i < 1000; i++) ok &= atomic_load(&c.hits[i]) == (i < n ? 1 : 0);
            CHECK(ok, "every task once (threads %d, n %d)", threads, n);
            CHECK(atomic_load(&c.max_thread) < threads, "thread index range");
        }
        void *s = zt_pool_scratch(p, threads - 1, 1000);
        CHECK(s != NULL && zt_pool_scratch_bytes(p) >= 1000, "scratch");
        zt_pool_free(p);
    }
    zt_pool_free(NULL);
}

static void test_status(void) {
    zt_status s = zt_fail(ZT_ERR_INPUT, "x.safetensors: tensor '%s' bad\nsecond line", "w");
    CHECK(s == ZT_ERR_INPUT, "code");
    CHECK(!strchr(zt_last_error(), '\n'), "one line");
    zt_fail_wrap(s, "loading: ");
    CHECK(!strncmp(zt_last_error(), "loading: x.safetensors", 22), "wrap: %s", zt_last_error());
    CHECK(zt_status_exit_code(ZT_ERR_USAGE) == 1 && zt_status_exit_code(ZT_ERR_INPUT) == 2 &&
              zt_status_exit_code(ZT_ERR_IO) == 2 && zt_status_exit_code(ZT_ERR_NOMEM) == 3 &&
              zt_status_exit_code(ZT_ERR_INTERRUPTED) == 130 && zt_status_exit_code(ZT_OK) == 0,
          "exit codes");
    CHECK(!strcmp(zt_version(), "0.1.0") || strlen(zt_version()) > 0, "version");
}

int main(void) {
    test_half();
    test_tensor();
    test_arena();
    test_pool();
    test_status();
    return zt_test_finish();
}
