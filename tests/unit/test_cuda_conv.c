/* conv2d and conv3d on the CUDA backend against the CPU backend. Skipped (exit 77) when
 * the build has no CUDA backend or the machine has no GPU.
 *
 * The CUDA convs gather a column matrix in chunks under a workspace budget
 * (kernels/conv.cu). This test lowers the budget to 1 MiB through ZT_CUDA_CONV_BUDGET
 * (unless the environment already sets it) so that the "chunks" cases below cross
 * several chunk boundaries, which fall mid-row and mid-frame; the small cases fit in
 * one chunk.
 *
 * Tolerances (max abs err / max abs ref): the CPU computes in f32 from the same weights
 * (bf16/f16 weights widened exactly). With f32 weights the GPU multiplies on TF32 tensor
 * cores: both operands rounded to 10 mantissa bits (relative error up to 2^-11 each),
 * so a sum of K random-signed products is off by about 1e-3 of its typical size;
 * 5e-3 of the largest output leaves room. With bf16 weights the activations are
 * rounded to bf16 (8 bits, 2^-9 relative) before the GEMM, a few times coarser: 1e-2.
 * f16 (11 bits) gets the bf16 bound as well.
 *
 * With ZT_CUDA_CONV=implicit in the environment the cases of stride 1 with 1x1 or 3x3
 * spatial taps (but for f32 1x1x1 ones, on the direct path) run as the implicit GEMM on
 * TF32 tensor cores instead, 16-bit weights widened (tools/gpu-check.sh runs this test
 * both ways); the "wide" cases give it whole and partial 96-channel tiles. The bounds
 * above hold (16-bit weights keep the looser one, though activations stay TF32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "testlib.h"

#define TOL_TF32 5e-3
#define TOL_16 1e-2

typedef struct conv_case {
    const char *name;
    int nsp;                      /* 2: conv2d, 3: conv3d */
    int n, cin, cout, t, h, w, np; /* t and np (prev frames) conv3d only */
    int k[3];                     /* kt, kh, kw; conv2d uses kh, kw */
    int stride[3];
    int pad[3][2];
    zt_dtype wt;
    int bias; /* 0: none, else a bias of dtype bt */
    zt_dtype bt;
} conv_case;

/* A new device buffer holding bytes from host. */
static void *dev_upload(zt_backend *gpu, const void *host, size_t bytes) {
    void *d = NULL;
    zt_status s = gpu->alloc(gpu, bytes, &d);
    CHECK(s == ZT_OK, "alloc %zu bytes: %s", bytes, zt_last_error());
    if (s != ZT_OK) return NULL;
    CHECK_OK(gpu->upload(gpu, d, host, bytes));
    return d;
}

/* The device copy of a host tensor (same dtype and shape). */
static zt_tensor dev_tensor(zt_backend *gpu, const zt_tensor *host) {
    zt_tensor t = *host;
    t.data = dev_upload(gpu, host->data, zt_tensor_nbytes(host));
    t.device = 1;
    return t;
}

static void dev_download(zt_backend *gpu, void *host, const zt_tensor *dev) {
    CHECK_OK(gpu->download(gpu, host, dev->data, zt_tensor_nbytes(dev)));
}

/* Host float data rounded to dtype, in a buffer of that dtype (f32: the same values). */
static void *host_as(zt_dtype dt, const float *src, int64_t n) {
    void *p = malloc((size_t)n * zt_dtype_size(dt));
    if (p) zt_convert_from_f32(p, dt, src, n);
    return p;
}

static void run_case(zt_backend *cpu, zt_backend *gpu, zt_test_rng *rng, const conv_case *c) {
    int first = 3 - c->nsp; /* conv2d uses the h, w entries of the params */
    int64_t in[3] = {c->nsp == 3 ? c->t : 1, c->h, c->w};
    int64_t out[3];
    for (int i = 0; i < 3; i++)
        out[i] = zt_conv_out_size(in[i] + (i == 0 ? c->np : 0), c->k[i], c->stride[i],
                                  c->pad[i][0], c->pad[i][1]);

    int nd = c->nsp + 2;
    int64_t xs[5] = {c->n, c->cin}, ws[5] = {c->cout, c->cin}, ys[5] = {c->n, c->cout};
    for (int i = 0; i < c->nsp; i++) {
        xs[2 + i] = in[first + i];
        ws[2 + i] = c->k[first + i];
        ys[2 + i] = out[first + i];
    }
    const int64_t ps[5] = {c->n, c->cin, c->np, c->h, c->w}; /* conv3d's prev */
    zt_tensor hx = zt_tensor_make(ZT_F32, nd, xs, NULL), hw = zt_tensor_make(c->wt, nd, ws, NULL);
    zt_tensor hy = zt_tensor_make(ZT_F32, nd, ys, NULL), hp = zt_tensor_make(ZT_F32, 5, ps, NULL);
    zt_tensor hb = zt_tensor_new(c->bt, NULL, c->cout);
    int64_t nx = zt_tensor_numel(&hx), nw = zt_tensor_numel(&hw), ny = zt_tensor_numel(&hy);
    int64_t np = c->np ? zt_tensor_numel(&hp) : 0;

    float *x = malloc((size_t)nx * sizeof(float)), *wf = malloc((size_t)nw * sizeof(float));
    float *bf = malloc((size_t)c->cout * sizeof(float)), *pv = malloc((size_t)(np + 1) * sizeof(float));
    float *y_cpu = malloc((size_t)ny * sizeof(float)), *y_gpu = malloc((size_t)ny * sizeof(float));
    zt_test_fill_normal(rng, x, nx, 1.0);
    zt_test_fill_normal(rng, wf, nw, 1.0 / sqrt((double)nw / c->cout)); /* unit-ish outputs */
    zt_test_fill_normal(rng, bf, c->cout, 0.5);
    zt_test_fill_normal(rng, pv, np, 1.0);
    void *w = host_as(c->wt, wf, nw), *b = host_as(c->bt, bf, c->cout);
    hx.data = x, hw.data = w, hy.data = y_cpu, hp.data = pv, hb.data = b;

    zt_conv_params p = {.stride = {c->stride[0], c->stride[1], c->stride[2]},
                        .pad = {{c->pad[0][0], c->pad[0][1]},
                                {c->pad[1][0], c->pad[1][1]},
                                {c->pad[2][0], c->pad[2][1]}}};
    if (c->np) p.prev = &hp;
    zt_tensor *bias = c->bias ? &hb : NULL;
    if (c->nsp == 3)
        CHECK_OK(zt_op_conv3d(cpu, &hy, &hx, &hw, bias, &p));
    else
        CHECK_OK(zt_op_conv2d(cpu, &hy, &hx, &hw, bias, &p));

    zt_tensor dx = dev_tensor(gpu, &hx), dw = dev_tensor(gpu, &hw), db = dev_tensor(gpu, &hb);
    zt_tensor dp = c->np ? dev_tensor(gpu, &hp) : hp;
    zt_tensor dy = hy;
    dy.device = 1;
    dy.data = NULL;
    void *dyp = NULL;
    CHECK_OK(gpu->alloc(gpu, (size_t)ny * sizeof(float), &dyp));
    dy.data = dyp;
    if (dx.data && dw.data && db.data && dy.data && (!c->np || dp.data)) {
        /* a poisoned output shows any position the GPU conv fails to write */
        for (int64_t i = 0; i < ny; i++) y_gpu[i] = NAN;
        CHECK_OK(gpu->upload(gpu, dy.data, y_gpu, (size_t)ny * sizeof(float)));
        if (c->np) p.prev = &dp;
        zt_tensor *dbias = c->bias ? &db : NULL;
        if (c->nsp == 3)
            CHECK_OK(zt_op_conv3d(gpu, &dy, &dx, &dw, dbias, &p));
        else
            CHECK_OK(zt_op_conv2d(gpu, &dy, &dx, &dw, dbias, &p));
        dev_download(gpu, y_gpu, &dy);
        int finite = 1;
        for (int64_t i = 0; i < ny; i++)
            if (!isfinite(y_gpu[i])) finite = 0;
        CHECK(finite, "%s: non-finite outputs", c->name);
        char name[160];
        snprintf(name, sizeof name, "cuda vs cpu %s (%s weights, y [%lld, %lld, %lld, %lld, %lld])",
                 c->name, zt_dtype_name(c->wt), (long long)c->n, (long long)c->cout,
                 (long long)out[0], (long long)out[1], (long long)out[2]);
        zt_test_compare_f32(name, y_gpu, y_cpu, ny, c->wt == ZT_F32 ? TOL_TF32 : TOL_16);
    }
    void *bufs[] = {dx.data, dw.data, db.data, c->np ? dp.data : NULL, dy.data};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) gpu->dealloc(gpu, bufs[i]);
    free(x);
    free(wf);
    free(bf);
    free(pv);
    free(y_cpu);
    free(y_gpu);
    free(w);
    free(b);
}

int main(void) {
    if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    /* 1 MiB of column buffer; read once, at the first CUDA conv */
    setenv("ZT_CUDA_CONV_BUDGET", "1048576", 0);
    zt_backend *cpu, *gpu;
    CHECK_OK(zt_backend_cpu_init(&cpu, 2));
    CHECK_OK(zt_backend_cuda_init(&gpu, 0));
    if (zt_test_failures) return zt_test_finish();

    const zt_dtype F32 = ZT_F32, BF16 = ZT_BF16, F16 = ZT_F16;
    /* name, nsp, n, cin, cout, t, h, w, np, k, stride, pad, wt, bias, bt */
    const conv_case cases[] = {
        /* the Wan VAE's causal 3x3x3: time padding {2, 0}, same-size h, w */
        {"3d 3x3x3 causal", 3, 1, 3, 5, 4, 7, 9, 0, {3, 3, 3}, {1, 1, 1},
         {{2, 0}, {1, 1}, {1, 1}}, F32, 1, F32},
        {"3d 3x3x3 causal", 3, 1, 3, 5, 4, 7, 9, 0, {3, 3, 3}, {1, 1, 1},
         {{2, 0}, {1, 1}, {1, 1}}, BF16, 1, BF16},
        {"3d 3x3x3 causal N=2 no bias", 3, 2, 3, 5, 3, 7, 9, 0, {3, 3, 3}, {1, 1, 1},
         {{2, 0}, {1, 1}, {1, 1}}, F16, 0, F32},
        /* causal cache: 2 frames of prev stand in for the time padding */
        {"3d prev P=2", 3, 1, 4, 6, 3, 7, 9, 2, {3, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, F32, 1, F32},
        {"3d prev P=2", 3, 1, 4, 6, 3, 7, 9, 2, {3, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, BF16, 1, F32},
        /* one cached frame plus one frame of padding, N=2 */
        {"3d prev P=1 pad 1 N=2", 3, 2, 3, 5, 2, 6, 5, 1, {3, 3, 3}, {1, 1, 1},
         {{1, 0}, {1, 1}, {1, 1}}, BF16, 1, BF16},
        /* the VAE's spatial downsampling: pad (0, 1), stride 2 */
        {"3d 1x3x3 stride 2 pad (0,1)", 3, 1, 5, 3, 3, 9, 11, 0, {1, 3, 3}, {1, 2, 2},
         {{0, 0}, {0, 1}, {0, 1}}, F32, 1, F32},
        {"3d 1x3x3 stride 2 pad (0,1)", 3, 1, 5, 3, 3, 9, 11, 0, {1, 3, 3}, {1, 2, 2},
         {{0, 0}, {0, 1}, {0, 1}}, BF16, 1, F32},
        /* the VAE's time downsampling: kernel (3,1,1), time stride 2, one cached frame */
        {"3d 3x1x1 time stride 2 prev P=1", 3, 1, 4, 4, 5, 5, 7, 1, {3, 1, 1}, {2, 1, 1},
         {{0, 0}, {0, 0}, {0, 0}}, F32, 1, F32},
        {"3d 3x1x1 time stride 2", 3, 2, 4, 4, 5, 5, 7, 0, {3, 1, 1}, {2, 1, 1},
         {{0, 0}, {0, 0}, {0, 0}}, BF16, 1, BF16},
        /* 1x1x1: f32 weights take the direct path (x is the column matrix) */
        {"3d 1x1x1 N=2", 3, 2, 6, 5, 3, 5, 7, 0, {1, 1, 1}, {1, 1, 1},
         {{0, 0}, {0, 0}, {0, 0}}, F32, 1, F32},
        {"3d 1x1x1 N=2", 3, 2, 6, 5, 3, 5, 7, 0, {1, 1, 1}, {1, 1, 1},
         {{0, 0}, {0, 0}, {0, 0}}, BF16, 1, F16},
        {"3d 1x1x1 prev P=2", 3, 1, 6, 5, 2, 5, 7, 2, {1, 1, 1}, {1, 1, 1},
         {{0, 0}, {0, 0}, {0, 0}}, F32, 1, F32},
        /* conv2d */
        {"2d 3x3 pad 1 N=2", 2, 2, 3, 5, 0, 7, 9, 0, {1, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, F32, 1, F32},
        {"2d 3x3 pad 1 N=2", 2, 2, 3, 5, 0, 7, 9, 0, {1, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, BF16, 1, BF16},
        {"2d 3x3 stride 2 pad (0,1)", 2, 1, 4, 6, 0, 9, 12, 0, {1, 3, 3}, {1, 2, 2},
         {{0, 0}, {0, 1}, {0, 1}}, F32, 1, F32},
        {"2d 3x3 stride 2 pad (0,1)", 2, 1, 4, 6, 0, 9, 12, 0, {1, 3, 3}, {1, 2, 2},
         {{0, 0}, {0, 1}, {0, 1}}, BF16, 0, F32},
        {"2d 1x1", 2, 1, 7, 3, 0, 6, 5, 0, {1, 1, 1}, {1, 1, 1},
         {{0, 0}, {0, 0}, {0, 0}}, F32, 1, BF16},
        /* chunks: K = 16 * 27 = 432, S = 5 * 19 * 27 = 2565 positions per item. The
         * 1 MiB budget holds up to 600 positions at f32 (5 chunks of 520 per item) and
         * 1208 at bf16 (3 chunks of 856); the prev case has 1539 positions (2 chunks
         * of 776). Chunk edges fall mid-row. The CPU runs these through Winograd. */
        {"3d 3x3x3 causal chunks N=2", 3, 2, 16, 24, 5, 19, 27, 0, {3, 3, 3}, {1, 1, 1},
         {{2, 0}, {1, 1}, {1, 1}}, F32, 1, F32},
        {"3d 3x3x3 causal chunks N=2", 3, 2, 16, 24, 5, 19, 27, 0, {3, 3, 3}, {1, 1, 1},
         {{2, 0}, {1, 1}, {1, 1}}, BF16, 1, BF16},
        {"3d 3x3x3 prev P=2 chunks", 3, 1, 16, 24, 3, 19, 27, 2, {3, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, BF16, 1, F32},
        /* wide: 64+ output channels, partial 16x16 position tiles and 96-channel tiles,
         * input channels past one 8-channel stage */
        {"3d 3x3x3 causal wide", 3, 1, 11, 100, 3, 19, 21, 0, {3, 3, 3}, {1, 1, 1},
         {{2, 0}, {1, 1}, {1, 1}}, F32, 1, F32},
        {"3d 3x3x3 prev P=2 wide N=2", 3, 2, 9, 64, 2, 17, 18, 2, {3, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, F32, 1, BF16},
        {"3d 3x3x3 prev P=1 pad 1 wide", 3, 1, 40, 96, 3, 40, 50, 1, {3, 3, 3}, {1, 1, 1},
         {{1, 0}, {1, 1}, {1, 1}}, F32, 1, F32},
        {"3d 3x1x1 causal wide", 3, 1, 10, 68, 4, 9, 20, 0, {3, 1, 1}, {1, 1, 1},
         {{2, 0}, {0, 0}, {0, 0}}, F32, 0, F32},
        {"2d 3x3 pad 1 wide N=2", 2, 2, 13, 192, 0, 33, 17, 0, {1, 3, 3}, {1, 1, 1},
         {{0, 0}, {1, 1}, {1, 1}}, F32, 1, F16},
    };
    zt_test_rng rng = {20250};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(cpu, gpu, &rng, &cases[i]);

    zt_backend_free(gpu);
    zt_backend_free(cpu);
    return zt_test_finish();
}
