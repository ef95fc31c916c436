/* Attention on the CUDA backend against the CPU backend: the bf16 tensor-core path
 * (D = 64, 128) and the f32 general path (other D, rel_bias), with odd lengths, B > 1,
 * Lq != Lk, strided q/k/v views, key masks (one batch fully masked), one larger case,
 * and run-to-run determinism. The D = 128 bf16 cases run again on backends made with
 * ZT_CUDA_ATTN=mma and =overlap: on Hopper the first run took the wgmma kernel
 * (attention_sm90.cu), so all three kernels are checked there. Skipped (exit 77)
 * without a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "testlib.h"

/* Tolerance of the f32 path: same arithmetic as the CPU up to summation order. */
#define TOL_F32 1e-5
/* Tolerance of the bf16 path, as max |err| / max |ref| at unit-variance inputs. q, k,
 * v and the probabilities P are rounded to bf16 (8 significant bits: relative error
 * up to 2^-9 = 0.2% each); a score scale * q.k ~ N(0, 1) then carries an absolute
 * error of a few 1e-3, which moves exp(score) by as much relatively, and P and v add
 * 0.2% each. These errors are independent across keys and average out in the
 * weighted sum, so the measured error sits near 3e-3 to 8e-3; 2e-2 leaves room for
 * unlucky rows (few keys, one dominant weight) while still catching a wrong mask,
 * tile or stride, which give errors of order 1. */
#define TOL_BF16 2e-2

static zt_test_rng rng = {2024};
static const char *kernel_tag = ""; /* appended to the check names */

enum { CONTIG, PACKED_QKV, HEADS_FIRST, MISALIGNED };
enum { NO_MASK, SOME_MASKED, BATCH1_ALL_MASKED };

typedef struct attn_case {
    const char *name;
    int64_t b, lq, lk, h, d;
    int layout, mask, bias;
} attn_case;

/* A host buffer copied into freshly allocated device memory. */
static void *to_device(zt_backend *gpu, const void *host, size_t bytes) {
    void *d = NULL;
    CHECK_OK(gpu->alloc(gpu, bytes, &d));
    if (d) CHECK_OK(gpu->upload(gpu, d, host, bytes));
    return d;
}

/* The same view over the device copy of the buffer that host view t points into. */
static zt_tensor device_view(const zt_tensor *t, const float *host_base, void *dev_base) {
    zt_tensor g = *t;
    g.data = (float *)dev_base + ((const float *)t->data - host_base);
    g.device = 1;
    return g;
}

/* q, k, v [B, L, H, D] over buf, laid out as the case says; buf holds `*n` floats */
static float *make_inputs(const attn_case *c, zt_tensor *q, zt_tensor *k, zt_tensor *v,
                          int64_t *n) {
    int64_t B = c->b, H = c->h, D = c->d, Lq = c->lq, Lk = c->lk;
    float *buf;
    if (c->layout == PACKED_QKV) { /* [B, L, 3, H, D]: a fused projection's output */
        *n = B * Lq * 3 * H * D;
        buf = malloc((size_t)*n * sizeof(float));
        zt_tensor *t[3] = {q, k, v};
        for (int part = 0; part < 3; part++) {
            *t[part] = zt_tensor_new(ZT_F32, buf + part * H * D, B, Lq, H, D);
            t[part]->stride[0] = Lq * 3 * H * D;
            t[part]->stride[1] = 3 * H * D;
            t[part]->stride[2] = D;
        }
    } else {
        /* MISALIGNED: everything one float off, so rows are not 16-byte aligned */
        int64_t off = c->layout == MISALIGNED, nq = B * Lq * H * D, nk = B * Lk * H * D;
        *n = off + nq + 2 * nk;
        buf = malloc((size_t)*n * sizeof(float));
        *q = zt_tensor_new(ZT_F32, buf + off, B, Lq, H, D);
        *k = zt_tensor_new(ZT_F32, buf + off + nq, B, Lk, H, D);
        *v = zt_tensor_new(ZT_F32, buf + off + nq + nk, B, Lk, H, D);
        if (c->layout == HEADS_FIRST) { /* [B, H, L, D] storage */
            zt_tensor *t[3] = {q, k, v};
            for (int i = 0; i < 3; i++) {
                int64_t l = t[i]->shape[1];
                t[i]->stride[0] = H * l * D;
                t[i]->stride[1] = D;
                t[i]->stride[2] = l * D;
            }
        }
    }
    zt_test_fill_normal(&rng, buf, *n, 1.0);
    return buf;
}

static void run_case(zt_backend *cpu, zt_backend *gpu, const attn_case *c) {
    int64_t B = c->b, H = c->h, D = c->d, Lq = c->lq, Lk = c->lk;
    zt_tensor q, k, v;
    int64_t n;
    float *buf = make_inputs(c, &q, &k, &v, &n);
    int64_t no = B * Lq * H * D;
    float *o_cpu = malloc((size_t)no * sizeof(float)), *o_gpu = malloc((size_t)no * sizeof(float));
    float *o_gpu2 = malloc((size_t)no * sizeof(float));
    uint8_t *valid = NULL;
    float *bias = NULL;
    zt_attn_params p = {.scale = 1.0f / sqrtf((float)D)};
    if (c->mask != NO_MASK) {
        valid = malloc((size_t)(B * Lk));
        for (int64_t i = 0; i < B * Lk; i++) valid[i] = zt_test_rand_uniform(&rng) < 0.7;
        for (int64_t j = Lk * 3 / 4; j < Lk; j++) valid[j] = 0; /* padded tail of batch 0 */
        if (c->mask == BATCH1_ALL_MASKED && B > 1) memset(valid + Lk, 0, (size_t)Lk);
        p.key_valid = valid;
    }
    if (c->bias) {
        bias = malloc((size_t)(H * (Lq + Lk - 1)) * sizeof(float));
        zt_test_fill_normal(&rng, bias, H * (Lq + Lk - 1), 1.0);
        p.rel_bias = bias;
    }

    zt_tensor o = zt_tensor_new(ZT_F32, o_cpu, B, Lq, H, D);
    CHECK_OK(zt_op_attention(cpu, &o, &q, &k, &v, &p));

    void *dbuf = to_device(gpu, buf, (size_t)n * sizeof(float)), *dout = NULL;
    CHECK_OK(gpu->alloc(gpu, (size_t)no * sizeof(float), &dout));
    if (dbuf && dout) {
        zt_tensor gq = device_view(&q, buf, dbuf), gk = device_view(&k, buf, dbuf);
        zt_tensor gv = device_view(&v, buf, dbuf);
        zt_tensor go = zt_tensor_new(ZT_F32, dout, B, Lq, H, D);
        go.device = 1;
        CHECK_OK(zt_op_attention(gpu, &go, &gq, &gk, &gv, &p));
        CHECK_OK(gpu->download(gpu, o_gpu, dout, (size_t)no * sizeof(float)));
        int fast = (D == 64 || D == 128) && !c->bias;
        char name[160];
        snprintf(name, sizeof name, "cuda attention %s (B%lld Lq%lld Lk%lld H%lld D%lld, %s)%s",
                 c->name, (long long)B, (long long)Lq, (long long)Lk, (long long)H, (long long)D,
                 fast ? "bf16" : "f32", kernel_tag);
        double err = zt_test_compare_f32(name, o_gpu, o_cpu, no, fast ? TOL_BF16 : TOL_F32);
        CHECK(err == err, "%s: NaN in the output", name);
        /* a second run must give the same bits: no atomics, fixed tiles */
        CHECK_OK(gpu->upload(gpu, dout, o_cpu, (size_t)no * sizeof(float))); /* clobber */
        CHECK_OK(zt_op_attention(gpu, &go, &gq, &gk, &gv, &p));
        CHECK_OK(gpu->download(gpu, o_gpu2, dout, (size_t)no * sizeof(float)));
        CHECK(memcmp(o_gpu, o_gpu2, (size_t)no * sizeof(float)) == 0,
              "%s: two runs differ", name);
        if (c->mask == BATCH1_ALL_MASKED && B > 1) { /* no key: zeros, as on the CPU */
            int zero = 1;
            for (int64_t i = Lq * H * D; i < 2 * Lq * H * D; i++) zero &= o_gpu[i] == 0.0f;
            CHECK(zero, "%s: fully masked batch is not zero", name);
        }
    }
    gpu->dealloc(gpu, dbuf);
    gpu->dealloc(gpu, dout);
    free(buf);
    free(o_cpu);
    free(o_gpu);
    free(o_gpu2);
    free(valid);
    free(bias);
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

    static const attn_case cases[] = {
        /* bf16 tensor-core path */
        {"d128 basic", 1, 128, 128, 2, 128, CONTIG, NO_MASK, 0},
        {"d64 odd lengths", 2, 77, 131, 3, 64, CONTIG, NO_MASK, 0},
        {"d128 odd lengths", 2, 1000, 513, 2, 128, CONTIG, NO_MASK, 0},
        {"d128 one query", 1, 1, 300, 2, 128, CONTIG, NO_MASK, 0},
        {"d128 one key", 1, 70, 1, 2, 128, CONTIG, NO_MASK, 0},
        {"d128 packed qkv", 2, 333, 333, 3, 128, PACKED_QKV, NO_MASK, 0},
        {"d64 heads first", 2, 200, 150, 2, 64, HEADS_FIRST, NO_MASK, 0},
        {"d128 misaligned", 1, 129, 65, 2, 128, MISALIGNED, NO_MASK, 0},
        {"d64 masked", 2, 77, 131, 3, 64, CONTIG, SOME_MASKED, 0},
        {"d128 batch fully masked", 2, 150, 200, 2, 128, CONTIG, BATCH1_ALL_MASKED, 0},
        {"d128 cross", 1, 520, 64, 2, 128, CONTIG, SOME_MASKED, 0},
        {"d128 large", 1, 4096, 4096, 4, 128, CONTIG, NO_MASK, 0},
        {"d128 masked many tiles", 2, 260, 1000, 3, 128, CONTIG, SOME_MASKED, 0},
        /* f32 general path */
        {"d40", 2, 77, 131, 3, 40, CONTIG, NO_MASK, 0},
        {"d80 packed qkv masked", 2, 100, 100, 2, 80, PACKED_QKV, SOME_MASKED, 0},
        {"d80 heads first", 1, 1000, 513, 2, 80, HEADS_FIRST, NO_MASK, 0},
        {"d64 rel_bias", 2, 77, 131, 3, 64, CONTIG, SOME_MASKED, 1},
        {"d64 rel_bias batch fully masked", 2, 40, 33, 2, 64, CONTIG, BATCH1_ALL_MASKED, 1},
        {"d256", 1, 65, 70, 2, 256, CONTIG, NO_MASK, 0},
        /* the Wan VAEs' mid-block attention: one head of 384 (2.1) or 1024 (2.2) */
        {"d384 packed qkv (Wan2.1 VAE)", 1, 300, 300, 1, 384, PACKED_QKV, NO_MASK, 0},
        {"d1024 (Wan2.2 VAE)", 1, 97, 97, 1, 1024, CONTIG, NO_MASK, 0},
        {"d700 masked", 2, 45, 61, 1, 700, CONTIG, SOME_MASKED, 0},
    };
    const size_t n_cases = sizeof cases / sizeof cases[0];
    /* the emulated card (tests/cudaemu) runs a warp's tensor-core op in microseconds:
     * the large case and the Hopper kernels' reruns are for real cards */
    int emulated = zt_test_emulated();
    for (size_t i = 0; i < n_cases; i++) {
        if (emulated && cases[i].lq * cases[i].lk * cases[i].h > (1 << 22)) {
            printf("  %s: skipped on the emulated card (ZT_TEST_EMU)\n", cases[i].name);
            continue;
        }
        run_case(cpu, gpu, &cases[i]);
    }
    zt_backend_free(gpu);
    if (emulated) {
        zt_backend_free(cpu);
        return zt_test_finish();
    }

    /* the other D = 128 kernels: sm_80's, which Hopper's default skips, and the Hopper
     * kernel's second schedule (elsewhere both runs take the sm_80 kernel) */
    static const char *kernels[][2] = {{"mma", " mma kernel"}, {"overlap", " overlap kernel"}};
    for (int kn = 0; kn < 2; kn++) {
        setenv("ZT_CUDA_ATTN", kernels[kn][0], 1);
        CHECK_OK(zt_backend_cuda_init(&gpu, 0));
        unsetenv("ZT_CUDA_ATTN");
        kernel_tag = kernels[kn][1];
        for (size_t i = 0; gpu && i < n_cases; i++)
            if (cases[i].d == 128 && !cases[i].bias) run_case(cpu, gpu, &cases[i]);
        if (gpu) zt_backend_free(gpu);
    }
    zt_backend_free(cpu);
    return zt_test_finish();
}
