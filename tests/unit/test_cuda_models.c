/* The text encoder and the diffusion transformer on the CUDA backend against the CPU
 * backend, from the same fixture weights and inputs: umT5 (the f32 attention path with
 * relative bias, weights placed but for the token table) and the Wan DiT (placed whole,
 * and with --offload's block-at-a-time copies), plus run-to-run determinism on the GPU.
 * Skipped (exit 77) without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/arena.h"
#include "models/t5.h"
#include "models/wan_dit.h"
#include "testlib.h"

/* a device copy of host floats */
static zt_tensor up(zt_backend *gpu, const float *host, int nd, const int64_t *shape) {
    zt_tensor t = zt_tensor_make(ZT_F32, nd, shape, NULL);
    CHECK_OK(gpu->alloc(gpu, zt_tensor_nbytes(&t), &t.data));
    CHECK_OK(gpu->upload(gpu, t.data, host, zt_tensor_nbytes(&t)));
    t.device = gpu->device;
    return t;
}

static void test_t5(zt_backend *cpu, zt_backend *gpu) {
    zt_t5 *tc = NULL, *tg = NULL;
    CHECK_OK(zt_t5_open(&tc, zt_test_data("t5/umt5/hf.safetensors")));
    CHECK_OK(zt_t5_open(&tg, zt_test_data("t5/umt5/hf.safetensors")));
    if (!tc || !tg) return;
    CHECK_OK(zt_t5_place(tg, gpu));
    const zt_t5_info *in = zt_t5_get_info(tc);
    int64_t n = 37, rows = 64, d = in->d_model;
    int32_t ids[37];
    for (int i = 0; i < n; i++) ids[i] = (i * 7919 + 13) % in->vocab;
    float *yc = zt_test_alloc((size_t)(rows * d) * 4), *yg = zt_test_alloc((size_t)(rows * d) * 4);
    zt_arena *ac = NULL, *ag = NULL;
    CHECK_OK(zt_arena_init(&ac, 0, 0));
    CHECK_OK(zt_arena_init_on(&ag, gpu, (size_t)64 << 20));
    zt_tensor oc = zt_tensor_new(ZT_F32, yc, rows, d), og;
    CHECK_OK(zt_t5_encode_padded(tc, cpu, ac, ids, n, &oc));
    CHECK_OK(zt_arena_tensor(ag, &og, ZT_F32, 2, ZT_SHAPE(rows, d)));
    CHECK_OK(zt_t5_encode_padded(tg, gpu, ag, ids, n, &og));
    CHECK_OK(gpu->download(gpu, yg, og.data, zt_tensor_nbytes(&og)));
    zt_test_compare_f32("umt5 on cuda vs cpu (37 tokens padded to 64)", yg, yc, rows * d, 1e-2);
    zt_arena_free(ag);
    zt_arena_free(ac);
    zt_t5_free(tg);
    zt_t5_free(tc);
}

/* One forward pass (t = 700) of a fixture DiT on the GPU, placed whole or offloaded,
 * the feed-forward in chunks of ffn_rows rows (0: the default). state: 0, the embedded
 * text to zt_wan_dit_forward; 1, a text state as the GPU makes it (the text, projected
 * in the pass); 2, one that keeps every block's keys and values, as the host's. */
static void dit_gpu(zt_backend *gpu, const char *file, int offload, int64_t ffn_rows, int state,
                    const float *x, const float *ctx, float *v, int64_t C, int64_t F, int64_t H,
                    int64_t W, int64_t L, int64_t td) {
    zt_wan_dit *m = NULL;
    CHECK_OK(zt_wan_dit_open(&m, zt_test_data(file)));
    if (!m) return;
    CHECK_OK(offload ? zt_wan_dit_place_offload(m, gpu) : zt_wan_dit_place(m, gpu));
    zt_wan_dit_set_ffn_rows(m, ffn_rows);
    const zt_wan_dit_info *di = zt_wan_dit_get_info(m);
    zt_arena *a = NULL;
    CHECK_OK(zt_arena_init_on(&a, gpu, (size_t)128 << 20));
    zt_tensor dx = up(gpu, x, 4, ZT_SHAPE(C, F, H, W)), dc = up(gpu, ctx, 2, ZT_SHAPE(L, td));
    zt_tensor dv, emb;
    CHECK_OK(zt_arena_tensor(a, &dv, ZT_F32, 4, ZT_SHAPE(C, F, H, W)));
    CHECK_OK(zt_arena_tensor(a, &emb, ZT_F32, 2, ZT_SHAPE(L, di->dim)));
    CHECK_OK(zt_wan_dit_embed_text(m, gpu, a, &dc, &emb));
    zt_wan_dit_text *ts = NULL;
    zt_wan_dit_set_text_keys(m, state == 2 ? ZT_DIT_TEXT_KEEP : ZT_DIT_TEXT_AUTO);
    if (state) CHECK_OK(zt_wan_dit_text_init(&ts, m, gpu, &emb));
    if (!state)
        CHECK_OK(zt_wan_dit_forward(m, gpu, a, &dx, 700.0f, NULL, &emb, &dv));
    else if (ts)
        CHECK_OK(zt_wan_dit_forward_text(m, gpu, a, &dx, 700.0f, NULL, ts, &dv));
    zt_wan_dit_text_free(ts);
    CHECK_OK(gpu->download(gpu, v, dv.data, zt_tensor_nbytes(&dv)));
    gpu->dealloc(gpu, dx.data);
    gpu->dealloc(gpu, dc.data);
    zt_arena_free(a);
    zt_wan_dit_free(m);
}

/* --offload past two blocks (zoetrope-tiny has four): the blocks take turns in two
 * device buffers, each copied in on a second stream while the one before it runs. The
 * pass must equal the placed one bit for bit; the emulated card (tests/cudaemu) runs
 * this with its streams' work deferred (ZT_EMU_DEFER), where a copy ordered wrongly
 * against the kernels shows. */
static void test_dit_offload(zt_backend *gpu, zt_test_rng *rng) {
    const char *file = "../../models/zoetrope-tiny/transformer.safetensors";
    zt_wan_dit *m = NULL;
    CHECK_OK(zt_wan_dit_open(&m, zt_test_data(file)));
    if (!m) return;
    const zt_wan_dit_info *di = zt_wan_dit_get_info(m);
    CHECK(di->layers > 2, "zoetrope-tiny has %d blocks: one buffer, not two", di->layers);
    int64_t C = di->in_channels, F = 2 * di->patch[0], H = 4 * di->patch[1], W = 6 * di->patch[2];
    int64_t L = 7, td = di->text_dim, n = C * F * H * W;
    int layers = di->layers;
    zt_wan_dit_free(m); /* and di with it */
    float *x = zt_test_alloc((size_t)n * 4), *ctx = zt_test_alloc((size_t)(L * td) * 4);
    float *vp = zt_test_alloc((size_t)n * 4), *vo = zt_test_alloc((size_t)n * 4);
    zt_test_fill_normal(rng, x, n, 1.0);
    zt_test_fill_normal(rng, ctx, L * td, 0.2);
    dit_gpu(gpu, file, 0, 0, 1, x, ctx, vp, C, F, H, W, L, td);
    dit_gpu(gpu, file, 1, 0, 1, x, ctx, vo, C, F, H, W, L, td);
    CHECK(!memcmp(vp, vo, (size_t)n * 4),
          "zoetrope-tiny: the offloaded forward pass differs from the placed one");
    printf("  zoetrope-tiny dit on cuda, %d blocks offloaded vs placed: %s\n", layers,
           memcmp(vp, vo, (size_t)n * 4) ? "differ" : "bit-identical");
}

static void test_dit(zt_backend *cpu, zt_backend *gpu, zt_test_rng *rng) {
    zt_wan_dit *m = NULL;
    CHECK_OK(zt_wan_dit_open(&m, zt_test_data("dit/diffusers.safetensors")));
    if (!m) return;
    const zt_wan_dit_info *di = zt_wan_dit_get_info(m);
    int64_t C = di->in_channels, F = 2 * di->patch[0], H = 6 * di->patch[1], W = 10 * di->patch[2];
    int64_t L = 19, td = di->text_dim, n = C * F * H * W;
    float *x = zt_test_alloc((size_t)n * 4), *ctx = zt_test_alloc((size_t)(L * td) * 4);
    float *vc = zt_test_alloc((size_t)n * 4), *vg = zt_test_alloc((size_t)n * 4);
    float *vg2 = zt_test_alloc((size_t)n * 4), *vo = zt_test_alloc((size_t)n * 4);
    float *emb = zt_test_alloc((size_t)(L * di->dim) * 4);
    zt_test_fill_normal(rng, x, n, 1.0);
    zt_test_fill_normal(rng, ctx, L * td, 0.2);
    zt_arena *a = NULL;
    CHECK_OK(zt_arena_init(&a, 0, 0));
    zt_tensor tx = zt_tensor_new(ZT_F32, x, C, F, H, W), tv = zt_tensor_new(ZT_F32, vc, C, F, H, W);
    zt_tensor tc = zt_tensor_new(ZT_F32, ctx, L, td), te = zt_tensor_new(ZT_F32, emb, L, di->dim);
    CHECK_OK(zt_wan_dit_embed_text(m, cpu, a, &tc, &te));
    CHECK_OK(zt_wan_dit_forward(m, cpu, a, &tx, 700.0f, NULL, &te, &tv));
    zt_arena_free(a);
    zt_wan_dit_free(m);
    const char *f32 = "dit/diffusers.safetensors", *bf16 = "dit/diffusers_bf16.safetensors";
    dit_gpu(gpu, f32, 0, 0, 0, x, ctx, vg, C, F, H, W, L, td);
    dit_gpu(gpu, f32, 0, 0, 0, x, ctx, vg2, C, F, H, W, L, td);
    dit_gpu(gpu, f32, 1, 0, 0, x, ctx, vo, C, F, H, W, L, td);
    zt_test_compare_f32("wan dit on cuda vs cpu", vg, vc, n, 1e-2);
    CHECK(!memcmp(vg, vg2, (size_t)n * 4), "two GPU forward passes differ");
    CHECK(!memcmp(vg, vo, (size_t)n * 4), "the offloaded forward pass differs from the placed one");
    /* text states: the same products on the same rows (cuBLAS may pick another kernel
     * for another pointer's alignment, hence a tolerance, not bits) */
    dit_gpu(gpu, f32, 0, 0, 1, x, ctx, vo, C, F, H, W, L, td);
    zt_test_compare_f32("wan dit on cuda, projecting text state vs none", vo, vg, n, 1e-6);
    dit_gpu(gpu, f32, 0, 0, 2, x, ctx, vo, C, F, H, W, L, td);
    zt_test_compare_f32("wan dit on cuda, keeping text state vs none", vo, vg, n, 1e-6);
    /* the feed-forward in chunks of 7 of the 120 rows (views at row offsets, an uneven
     * last chunk), with f32 weights and with bf16 (cuBLASLt's fused path) */
    dit_gpu(gpu, f32, 0, 7, 0, x, ctx, vo, C, F, H, W, L, td);
    zt_test_compare_f32("wan dit on cuda, feed-forward in 7-row chunks vs whole", vo, vg, n, 1e-5);
    dit_gpu(gpu, bf16, 0, 0, 0, x, ctx, vg, C, F, H, W, L, td);
    dit_gpu(gpu, bf16, 0, 7, 0, x, ctx, vo, C, F, H, W, L, td);
    zt_test_compare_f32("wan dit on cuda (bf16), feed-forward in 7-row chunks vs whole", vo, vg, n,
                        2e-3);
}

int main(void) {
    if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    zt_backend *cpu = NULL, *gpu = NULL;
    CHECK_OK(zt_backend_cpu_init(&cpu, 2));
    CHECK_OK(zt_backend_cuda_init(&gpu, 0));
    if (zt_test_failures) return zt_test_finish();
    zt_test_rng rng = {5};
    test_t5(cpu, gpu);
    test_dit(cpu, gpu, &rng);
    test_dit_offload(gpu, &rng);
    zt_backend_free(gpu);
    zt_backend_free(cpu);
    return zt_test_finish();
}
