/* The CUDA backend against the CPU backend, op by op. Skipped (exit 77) when the build
 * has no CUDA backend or the machine has no GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "testlib.h"

/* a host buffer's copy in device memory, as a tensor of the given shape */
static zt_tensor up(zt_backend *gpu, zt_dtype dt, const void *host, int nd, const int64_t *shape) {
    zt_tensor t = zt_tensor_make(dt, nd, shape, NULL);
    CHECK_OK(gpu->alloc(gpu, zt_tensor_nbytes(&t), &t.data));
    CHECK_OK(gpu->upload(gpu, t.data, host, zt_tensor_nbytes(&t)));
    t.device = 1;
    return t;
}

static void down(zt_backend *gpu, float *host, zt_tensor *t) {
    CHECK_OK(gpu->download(gpu, host, t->data, zt_tensor_nbytes(t)));
    gpu->dealloc(gpu, t->data);
}

/* n fp8 e4m3 values from the normal values in f: magnitudes 2^-6 .. 2^-2 times 1 + m/8
 * (zt_convert_from_f32 makes no fp8) */
static void to_f8(uint8_t *w, const float *f, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(f[i]) * 1000.0f;
        int e = 1 + (int)fmodf(a, 5.0f), m = (int)fmodf(a * 7.0f, 8.0f);
        w[i] = (uint8_t)((f[i] < 0 ? 0x80 : 0) | e << 3 | m);
    }
}

/* y = x w^T + b (gelu: then the tanh GELU) with f32, bf16, f16 and fp8 weights (and
 * biases), odd sizes. 16-bit weights round x to their dtype on the GPU (as PyTorch
 * does), so those compare within 1e-2; fp8 ones are widened to bf16 there (exactly),
 * and so compare as bf16's. Where sizes are multiples of 8, 16-bit products take
 * cuBLASLt with the bias and GELU in its epilogue, the others cuBLAS and our kernels.
 * The CPU has no fused linear_gelu: there it is the two ops. */
static void test_linear(zt_backend *cpu, zt_backend *gpu, zt_test_rng *rng, int gelu) {
    static const int64_t sizes[][3] = {
        {1, 7, 5}, {77, 129, 33}, {300, 256, 1536}, {260, 1536, 2048}};
    static const zt_dtype dts[] = {ZT_F32, ZT_BF16, ZT_F16, ZT_F8_E4M3};
    zt_status (*op)(zt_backend *, zt_tensor *, const zt_tensor *, const zt_tensor *,
                    const zt_tensor *) = gelu ? zt_op_linear_gelu : zt_op_linear;
    for (size_t si = 0; si < 4; si++)
        for (size_t di = 0; di < 4; di++) {
            int64_t m = sizes[si][0], k = sizes[si][1], n = sizes[si][2];
            zt_dtype dt = dts[di];
            float *x = zt_test_alloc(m * k * 4), *wf = zt_test_alloc(n * k * 4);
            float *bf = zt_test_alloc(n * 4), *yc = zt_test_alloc(m * n * 4);
            float *yg = zt_test_alloc(m * n * 4);
            void *w = zt_test_alloc(n * k * 4), *b = zt_test_alloc(n * 4);
            zt_test_fill_normal(rng, x, m * k, 1.0);
            zt_test_fill_normal(rng, wf, n * k, 0.05);
            zt_test_fill_normal(rng, bf, n, 0.5);
            if (dt == ZT_F8_E4M3) {
                to_f8(w, wf, n * k);
                to_f8(b, bf, n);
            } else {
                zt_convert_from_f32(w, dt, wf, n * k);
                zt_convert_from_f32(b, dt, bf, n);
            }
            zt_tensor tx = zt_tensor_new(ZT_F32, x, m, k), ty = zt_tensor_new(ZT_F32, yc, m, n);
            zt_tensor tw = zt_tensor_new(dt, w, n, k), tb = zt_tensor_new(dt, b, n);
            CHECK_OK(op(cpu, &ty, &tx, &tw, &tb));
            zt_tensor gx = up(gpu, ZT_F32, x, 2, ZT_SHAPE(m, k)),
                      gw = up(gpu, dt, w, 2, ZT_SHAPE(n, k));
            zt_tensor gb = up(gpu, dt, b, 1, ZT_SHAPE(n)),
                      gy = up(gpu, ZT_F32, yg, 2, ZT_SHAPE(m, n));
            CHECK_OK(op(gpu, &gy, &gx, &gw, si == 1 ? NULL : &gb));
            if (si == 1) CHECK_OK(op(cpu, &ty, &tx, &tw, NULL));
            down(gpu, yg, &gy);
            gpu->dealloc(gpu, gx.data);
            gpu->dealloc(gpu, gw.data);
            gpu->dealloc(gpu, gb.data);
            char name[96];
            snprintf(name, sizeof name, "cuda vs cpu linear%s %lldx%lldx%lld %s",
                     gelu ? "_gelu" : "", (long long)m, (long long)k, (long long)n,
                     zt_dtype_name(dt));
            zt_test_compare_f32(name, yg, yc, m * n, dt == ZT_F32 ? 1e-5 : 1e-2);
        }
}

/* linears (three products of one input, which the GPU rounds to 16 bits once) and
 * ffn_gelu (the hidden layer kept in 16 bits between the two products on the GPU)
 * against the CPU, which runs them as plain linear layers; sizes with multiples of 8
 * take cuBLASLt's epilogues, the odd ones the fallbacks. */
static void test_linears_ffn(zt_backend *cpu, zt_backend *gpu, zt_test_rng *rng) {
    static const int64_t sizes[][4] = {{260, 1536, 2048, 512}, {77, 129, 33, 17}}; /* m k i n */
    static const zt_dtype dts[] = {ZT_BF16, ZT_F16, ZT_F32};
    for (size_t si = 0; si < 2; si++)
        for (size_t di = 0; di < 3; di++) {
            int64_t m = sizes[si][0], k = sizes[si][1], hi = sizes[si][2], n = sizes[si][3];
            zt_dtype dt = dts[di];
            /* w[0..2]: [hi, k] (linears, and ffn's first), w[3]: [n, hi] (ffn's second) */
            int64_t wn[4] = {hi * k, hi * k, hi * k, n * hi}, bn[4] = {hi, hi, hi, n};
            float *x = zt_test_alloc(m * k * 4);
            zt_test_fill_normal(rng, x, m * k, 1.0);
            void *w[4], *b[4];
            zt_tensor tw[4], tb[4], gw[4], gb[4];
            for (int i = 0; i < 4; i++) {
                float *f = zt_test_alloc(wn[i] * 4), *fb = zt_test_alloc(bn[i] * 4);
                zt_test_fill_normal(rng, f, wn[i], 0.05);
                zt_test_fill_normal(rng, fb, bn[i], 0.5);
                w[i] = zt_test_alloc(wn[i] * 4);
                b[i] = zt_test_alloc(bn[i] * 4);
                zt_convert_from_f32(w[i], dt, f, wn[i]);
                zt_convert_from_f32(b[i], dt, fb, bn[i]);
                int64_t rows = i < 3 ? hi : n, cols = i < 3 ? k : hi;
                tw[i] = zt_tensor_new(dt, w[i], rows, cols);
                tb[i] = zt_tensor_new(dt, b[i], rows);
                gw[i] = up(gpu, dt, w[i], 2, ZT_SHAPE(rows, cols));
                gb[i] = up(gpu, dt, b[i], 1, ZT_SHAPE(rows));
            }
            zt_tensor tx = zt_tensor_new(ZT_F32, x, m, k), gx = up(gpu, ZT_F32, x, 2, ZT_SHAPE(m, k));
            char name[112];
            /* linears */
            float *yc[3], *yg[3];
            zt_tensor ty[3], gy[3], *pty[3], *pgy[3];
            const zt_tensor *ptw[3], *ptb[3], *pgw[3], *pgb[3];
            for (int i = 0; i < 3; i++) {
                yc[i] = zt_test_alloc(m * hi * 4);
                yg[i] = zt_test_alloc(m * hi * 4);
                ty[i] = zt_tensor_new(ZT_F32, yc[i], m, hi);
                gy[i] = up(gpu, ZT_F32, yg[i], 2, ZT_SHAPE(m, hi));
                pty[i] = &ty[i], pgy[i] = &gy[i];
                ptw[i] = &tw[i], ptb[i] = &tb[i], pgw[i] = &gw[i];
                pgb[i] = i == 1 ? NULL : &gb[i]; /* one without a bias */
                if (i == 1) ptb[i] = NULL;
            }
            CHECK_OK(zt_op_linears(cpu, 3, pty, &tx, ptw, ptb));
            CHECK_OK(zt_op_linears(gpu, 3, pgy, &gx, pgw, pgb));
            for (int i = 0; i < 3; i++) {
                down(gpu, yg[i], &gy[i]);
                snprintf(name, sizeof name, "cuda vs cpu linears[%d] %lldx%lldx%lld %s", i,
                         (long long)m, (long long)k, (long long)hi, zt_dtype_name(dt));
                zt_test_compare_f32(name, yg[i], yc[i], m * hi, dt == ZT_F32 ? 1e-5 : 1e-2);
            }
            /* ffn_gelu */
            float *hc = zt_test_alloc(m * hi * 4), *yfc = zt_test_alloc(m * n * 4);
            float *yfg = zt_test_alloc(m * n * 4);
            zt_tensor th = zt_tensor_new(ZT_F32, hc, m, hi), tyf = zt_tensor_new(ZT_F32, yfc, m, n);
            zt_tensor gh = up(gpu, ZT_F32, hc, 2, ZT_SHAPE(m, hi));
            zt_tensor gyf = up(gpu, ZT_F32, yfg, 2, ZT_SHAPE(m, n));
            CHECK_OK(zt_op_ffn_gelu(cpu, &tyf, &tx, &th, &tw[0], &tb[0], &tw[3], &tb[3]));
            CHECK_OK(zt_op_ffn_gelu(gpu, &gyf, &gx, &gh, &gw[0], &gb[0], &gw[3], &gb[3]));
            down(gpu, yfg, &gyf);
            gpu->dealloc(gpu, gh.data);
            snprintf(name, sizeof name, "cuda vs cpu ffn_gelu %lldx%lldx%lldx%lld %s", (long long)m,
                     (long long)k, (long long)hi, (long long)n, zt_dtype_name(dt));
            zt_test_compare_f32(name, yfg, yfc, m * n, dt == ZT_F32 ? 1e-5 : 1e-2);
            gpu->dealloc(gpu, gx.data);
            for (int i = 0; i < 4; i++) {
                gpu->dealloc(gpu, gw[i].data);
                gpu->dealloc(gpu, gb[i].data);
            }
        }
}

/* c = op(a) op(b), every transposition, batched with a broadcast operand */
static void test_matmul(zt_backend *cpu, zt_backend *gpu, zt_test_rng *rng) {
    int64_t bt = 3, m = 37, k = 65, n = 19;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bcast = 0; bcast < 2; bcast++) {
                int64_t ab = bt, bb = bcast ? 1 : bt;
                float *a = zt_test_alloc(ab * m * k * 4), *b = zt_test_alloc(bb * k * n * 4);
                float *cc = zt_test_alloc(bt * m * n * 4), *cg = zt_test_alloc(bt * m * n * 4);
                zt_test_fill_normal(rng, a, ab * m * k, 1.0);
                zt_test_fill_normal(rng, b, bb * k * n, 1.0);
                const int64_t *sa = ta ? ZT_SHAPE(ab, k, m) : ZT_SHAPE(ab, m, k);
                const int64_t *sb = tb ? ZT_SHAPE(bb, n, k) : ZT_SHAPE(bb, k, n);
                zt_tensor xa = zt_tensor_make(ZT_F32, 3, sa, a),
                          xb = zt_tensor_make(ZT_F32, 3, sb, b);
                zt_tensor xc = zt_tensor_new(ZT_F32, cc, bt, m, n);
                CHECK_OK(zt_op_matmul(cpu, &xc, &xa, &xb, ta, tb));
                zt_tensor ga = up(gpu, ZT_F32, a, 3, sa), gb = up(gpu, ZT_F32, b, 3, sb);
                zt_tensor gc = up(gpu, ZT_F32, cg, 3, ZT_SHAPE(bt, m, n));
                CHECK_OK(zt_op_matmul(gpu, &gc, &ga, &gb, ta, tb));
                down(gpu, cg, &gc);
                gpu->dealloc(gpu, ga.data);
                gpu->dealloc(gpu, gb.data);
                char name[64];
                snprintf(name, sizeof name, "cuda vs cpu matmul ta=%d tb=%d bcast=%d", ta, tb,
                         bcast);
                zt_test_compare_f32(name, cg, cc, bt * m * n, 1e-5);
            }
}

/* f16 weights and activations past f16's range (the CPU keeps them in f32): the GPU's
 * 16-bit copy of x saturates instead of becoming inf, so the product stays finite, both
 * where x is 16-byte aligned (the vectorized copy) and where not (one value a thread),
 * and the rows within range still match the CPU. */
static void test_f16_saturation(zt_backend *cpu, zt_backend *gpu, zt_test_rng *rng) {
    const int64_t m = 9, k = 64, n = 24;
    float *xb = zt_test_alloc((m * k + 1) * 4), *wf = zt_test_alloc(n * k * 4);
    float *yc = zt_test_alloc(m * n * 4), *yg = zt_test_alloc(m * n * 4);
    uint16_t *w = zt_test_alloc(n * k * 2);
    float *x = xb + 1;
    zt_test_fill_normal(rng, xb, m * k + 1, 1.0);
    zt_test_fill_normal(rng, wf, n * k, 0.05);
    zt_convert_from_f32(w, ZT_F16, wf, n * k);
    for (int64_t i = 0; i < k; i += 5) x[4 * k + i] = i % 2 ? 1e5f : -3e5f; /* row 4 */
    zt_tensor tx = zt_tensor_new(ZT_F32, x, m, k), ty = zt_tensor_new(ZT_F32, yc, m, n);
    zt_tensor tw = zt_tensor_new(ZT_F16, w, n, k), gw = up(gpu, ZT_F16, w, 2, ZT_SHAPE(n, k));
    CHECK_OK(zt_op_linear(cpu, &ty, &tx, &tw, NULL));
    for (int off = 0; off < 2; off++) { /* x at the start of an allocation, or a float in */
        zt_tensor gb = up(gpu, ZT_F32, off ? xb : x, 1, ZT_SHAPE(m * k + off));
        zt_tensor gx = zt_tensor_new(ZT_F32, (float *)gb.data + off, m, k);
        gx.device = 1;
        zt_tensor gy = up(gpu, ZT_F32, yg, 2, ZT_SHAPE(m, n));
        CHECK_OK(zt_op_linear(gpu, &gy, &gx, &gw, NULL));
        down(gpu, yg, &gy);
        gpu->dealloc(gpu, gb.data);
        int finite = 1;
        for (int64_t i = 0; i < m * n; i++) finite &= isfinite(yg[i]);
        CHECK(finite, "f16 linear, activations past f16's range (offset %d): not finite", off);
        for (int64_t i = 4 * n; i < 5 * n; i++) yg[i] = yc[i]; /* row 4 saturated */
        zt_test_compare_f32(off ? "cuda vs cpu f16 linear, unaligned x, rows in range"
                                : "cuda vs cpu f16 linear, rows in range",
                            yg, yc, m * n, 1e-2);
    }
    gpu->dealloc(gpu, gw.data);
}

int main(void) {
    if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    zt_backend *cpu, *gpu;
    CHECK_OK(zt_backend_cpu_init(&cpu, 2));
    CHECK_OK(zt_backend_cuda_init(&gpu, 0));
    if (zt_test_failures) return zt_test_finish();

    zt_test_rng rng = {11};
    const int64_t n = 100003; /* odd on purpose */
    float *x = malloc(n * sizeof *x), *y_cpu = malloc(n * sizeof *y_cpu),
          *y_gpu = malloc(n * sizeof *y_gpu);
    double *ref = malloc(n * sizeof *ref);
    zt_test_fill_normal(&rng, x, n, 3.0);
    void *dx, *dy;
    CHECK_OK(gpu->alloc(gpu, n * sizeof(float), &dx));
    CHECK_OK(gpu->alloc(gpu, n * sizeof(float), &dy));
    CHECK_OK(gpu->upload(gpu, dx, x, n * sizeof(float)));
    static const struct {
        zt_unary_op op;
        const char *name;
        float a, b;
    } ops[] = {
        {ZT_UNARY_SILU, "silu", 0, 0},          {ZT_UNARY_GELU_TANH, "gelu_tanh", 0, 0},
        {ZT_UNARY_GELU_ERF, "gelu_erf", 0, 0},  {ZT_UNARY_SCALE, "scale", 0.5f, 1.0f},
        {ZT_UNARY_CLAMP, "clamp", -1.0f, 1.0f}, {ZT_UNARY_TANH, "tanh", 0, 0},
        {ZT_UNARY_SIGMOID, "sigmoid", 0, 0},
    };
    zt_tensor tx = zt_tensor_new(ZT_F32, x, n), tyc = zt_tensor_new(ZT_F32, y_cpu, n);
    zt_tensor gx = zt_tensor_new(ZT_F32, dx, n), gy = zt_tensor_new(ZT_F32, dy, n);
    gx.device = gy.device = 1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        CHECK_OK(zt_op_unary(cpu, &tyc, &tx, ops[i].op, ops[i].a, ops[i].b));
        CHECK_OK(zt_op_unary(gpu, &gy, &gx, ops[i].op, ops[i].a, ops[i].b));
        CHECK_OK(gpu->download(gpu, y_gpu, dy, n * sizeof(float)));
        for (int64_t j = 0; j < n; j++) ref[j] = y_cpu[j];
        char name[64];
        snprintf(name, sizeof name, "cuda vs cpu %s", ops[i].name);
        zt_test_compare(name, y_gpu, ref, n, 1e-5);
    }
    gpu->dealloc(gpu, dx);
    gpu->dealloc(gpu, dy);
    test_linear(cpu, gpu, &rng, 0);
    test_linear(cpu, gpu, &rng, 1);
    test_linears_ffn(cpu, gpu, &rng);
    test_f16_saturation(cpu, gpu, &rng);
    test_matmul(cpu, gpu, &rng);
    size_t live = 1, peak = 0, total = 0;
    CHECK_OK(zt_backend_cuda_memory(gpu, &live, &peak, &total));
    CHECK(peak >= 2 * n * sizeof(float) && total > peak, "peak %zu, total %zu", peak, total);
    zt_backend_free(gpu);
    zt_backend_free(cpu);
    free(x);
    free(y_cpu);
    free(y_gpu);
    free(ref);
    return zt_test_finish();
}
