/* test_plan.c - the memory plan's measurements against real runs.
 *
 * The plan runs each stage's code on the null backend with measuring arenas; a real
 * run on the CPU backend must then use exactly the working memory the plan measured:
 * the arena peak, the VAE's cache bytes and the DiT's per-prompt text states. Checked
 * on the tiny fixtures for the umT5 encoder, the DiT (scalar and per-token timesteps)
 * and both VAEs (decode and encode, several sizes), and the measuring arena is checked
 * to leave its memory untouched. Whole-process figures at real sizes come from
 * tools/plan_check.py. The null backend's model of the CUDA backend's scratch (what
 * the GPU plan adds) is checked op by op against the sizes the kernels allocate. */
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda_sizes.h"
#include "core/arena.h"
#include "core/ops.h"
#include "pipeline/plan.h"
#include "testlib.h"

static zt_backend *be;

static const char *data(const char *rel) {
    static char buf[2][1024];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ZT_TEST_DATA, rel);
    return buf[k];
}

static void fill(float *x, int64_t n) {
    zt_test_rng r = {7};
    zt_test_fill_normal(&r, x, n, 1.0);
}

static void test_vae(const char *file, int64_t h, int64_t w) {
    zt_wan_vae *v = NULL;
    CHECK_OK(zt_wan_vae_open(&v, data(file)));
    if (!v) return;
    const zt_wan_vae_info *in = zt_wan_vae_get_info(v);
    for (int decoder = 1; decoder >= 0; decoder--) {
        int64_t planned = -1;
        CHECK_OK(zt_plan_vae(v, decoder, h, w, &planned));
        zt_arena *a = NULL;
        zt_wan_vae_stream *s = NULL;
        CHECK_OK(zt_arena_init(&a, 0, 0));
        CHECK_OK(zt_wan_vae_stream_init(&s, v, decoder));
        int64_t inputs = 0;
        /* decode: a third chunk shows the peak has settled; encode: one frame, as i2v's
         * picture */
        for (int k = 0; k < (decoder ? 3 : 1); k++) {
            zt_arena_mark m = zt_arena_save(a);
            zt_tensor x, out;
            int64_t n = decoder ? 1 : k == 0 ? 1 : in->stride_t;
            if (decoder) {
                CHECK_OK(zt_arena_tensor(a, &x, ZT_F32, 3, ZT_SHAPE(in->z_dim, h, w)));
            } else {
                CHECK_OK(zt_arena_tensor(a, &x, ZT_F32, 4,
                                         ZT_SHAPE(3, n, h * in->stride_s, w * in->stride_s)));
            }
            fill(x.data, zt_tensor_numel(&x));
            if ((int64_t)zt_tensor_nbytes(&x) > inputs) inputs = (int64_t)zt_tensor_nbytes(&x);
            CHECK_OK(decoder ? zt_wan_vae_decode_chunk(s, be, a, &x, &out)
                             : zt_wan_vae_encode_chunk(s, be, a, &x, &out));
            zt_arena_restore(a, m);
        }
        int64_t real = (int64_t)zt_arena_peak(a) + (int64_t)zt_wan_vae_stream_bytes(s);
        CHECK(planned == real, "%s %s %lldx%lld: planned %lld bytes, used %lld", file,
              decoder ? "decode" : "encode", (long long)h, (long long)w, (long long)planned,
              (long long)real);
        printf("%s %s %lldx%lld latents: planned %lld = used %lld bytes\n", file,
               decoder ? "decode" : "encode", (long long)h, (long long)w, (long long)planned,
               (long long)real);
        zt_wan_vae_stream_free(s);
        zt_arena_free(a);
    }
    zt_wan_vae_free(v);
}

static void test_text(void) {
    zt_t5 *t5 = NULL;
    CHECK_OK(zt_t5_open(&t5, data("pipeline/t5.safetensors")));
    if (!t5) return;
    int64_t n = 37, d = zt_t5_get_info(t5)->d_model, planned = -1;
    CHECK_OK(zt_plan_text(t5, n, &planned, NULL));
    int32_t ids[37];
    for (int i = 0; i < n; i++) ids[i] = 3 + 17 * i;
    ids[n - 1] = 1;
    float *out = zt_test_alloc((size_t)(n * d) * sizeof *out);
    zt_tensor o = zt_tensor_new(ZT_F32, out, n, d);
    zt_arena *a = NULL;
    CHECK_OK(zt_arena_init(&a, 0, 0));
    CHECK_OK(zt_t5_encode(t5, be, a, ids, n, &o));
    CHECK(planned == (int64_t)zt_arena_peak(a), "t5: planned %lld, used %lld", (long long)planned,
          (long long)zt_arena_peak(a));
    zt_arena_free(a);
    zt_t5_free(t5);
}

/* paired: both guidance passes through zt_wan_dit_forward_pair, batched on the CPU at
 * this size, against a plan made for it. how: 0, the host's text states (every block's
 * keys, the random text folding nothing); 1, the same where the padding folds (rows from
 * 5 on equal: a prompt of 5 tokens, 6 keys); 2, a GPU's states (the text, projected in
 * each pass), on the CPU with ZT_DIT_TEXT_PROJECT against a plan made for a device,
 * whose passes are not paired. */
static void test_denoise(int per_token, int paired, int how) {
    zt_wan_dit *m = NULL;
    CHECK_OK(zt_wan_dit_open(&m, data("pipeline/dit22.safetensors")));
    if (!m) return;
    const zt_wan_dit_info *di = zt_wan_dit_get_info(m);
    int64_t T = 3, h = 4, w = 6, L = 512, keys = how == 1 ? 6 : L, planned = -1;
    zt_plan_dit run = {.T = T, .h = h, .w = w, .per_token = per_token, .prompts = 2};
    run.paired = paired;
    run.device = how == 2;
    run.keys[0] = run.keys[1] = how == 1 ? keys : 0;
    CHECK_OK(zt_plan_denoise(m, &run, &planned, NULL));
    if (how == 2) zt_wan_dit_set_text_keys(m, ZT_DIT_TEXT_PROJECT);
    int64_t n = di->in_channels * T * h * w, tokens = T * (h / 2) * (w / 2);
    CHECK(zt_wan_dit_pairs(m, 0, tokens), "dit: a pair of %lld tokens should be batched",
          (long long)tokens);
    float *x = zt_test_alloc((size_t)n * sizeof *x), *v = zt_test_alloc((size_t)n * sizeof *v);
    float *v2 = zt_test_alloc((size_t)n * sizeof *v2);
    float *text = zt_test_alloc((size_t)(L * di->dim) * sizeof *text);
    float *tt = zt_test_alloc((size_t)tokens * sizeof *tt);
    fill(x, n);
    fill(text, L * di->dim);
    for (int64_t r = 5; how == 1 && r < L; r++)
        memcpy(text + r * di->dim, text + 5 * di->dim, (size_t)di->dim * sizeof *text);
    for (int64_t k = 0; k < tokens; k++) tt[k] = k < tokens / T ? 0.0f : 500.0f;
    zt_tensor xt = zt_tensor_new(ZT_F32, x, di->in_channels, T, h, w);
    zt_tensor vt[2] = {zt_tensor_new(ZT_F32, v, di->out_channels, T, h, w),
                       zt_tensor_new(ZT_F32, v2, di->out_channels, T, h, w)};
    zt_tensor te = zt_tensor_new(ZT_F32, text, L, di->dim);
    const zt_wan_dit_text *ts[2] = {NULL, NULL};
    zt_wan_dit_text *t0 = NULL, *t1 = NULL;
    zt_arena *a = NULL;
    CHECK_OK(zt_arena_init(&a, 0, 0));
    CHECK_OK(zt_wan_dit_text_init(&t0, m, be, &te));
    CHECK_OK(zt_wan_dit_text_init(&t1, m, be, &te));
    CHECK(zt_wan_dit_text_keys(t0) == keys, "dit: the text reads %lld keys, want %lld",
          (long long)zt_wan_dit_text_keys(t0), (long long)keys);
    ts[0] = t0;
    ts[1] = t1;
    const float *tk = per_token ? tt : NULL;
    if (paired)
        CHECK_OK(zt_wan_dit_forward_pair(m, be, a, &xt, 500.0f, tk, ts, vt));
    else
        CHECK_OK(zt_wan_dit_forward_text(m, be, a, &xt, 500.0f, tk, t0, &vt[0]));
    /* two prompts' states: every block's keys and values, [keys, dim] each; or the text */
    int64_t rows = how == 2 ? L : (int64_t)di->layers * 2 * keys;
    int64_t states = 2 * rows * di->dim * (int64_t)sizeof(float);
    int64_t real = (int64_t)zt_arena_peak(a) + states;
    CHECK(planned == real, "dit%s%s %d: planned %lld, used %lld (arena %zu + states %lld)",
          per_token ? " per-token" : "", paired ? " paired" : "", how, (long long)planned,
          (long long)real, zt_arena_peak(a), (long long)states);
    zt_wan_dit_text_free(t0);
    zt_wan_dit_text_free(t1);
    zt_arena_free(a);
    zt_wan_dit_free(m);
}

/* Measuring hands out memory without touching it: a 1 GiB zeroed tensor costs no
 * resident memory. */
static void test_measuring_untouched(void) {
    zt_arena *a = NULL;
    CHECK_OK(zt_arena_init(&a, 0, 0));
    int64_t before = zt_plan_rss_now();
    zt_arena_set_measuring(1);
    zt_tensor t;
    CHECK_OK(zt_arena_zeros(a, &t, ZT_F32, 1, ZT_SHAPE((int64_t)1 << 28)));
    zt_arena_set_measuring(0);
    int64_t after = zt_plan_rss_now();
    CHECK(zt_arena_peak(a) == (size_t)1 << 30, "peak %zu", zt_arena_peak(a));
    CHECK(after - before < (16 << 20), "measuring touched %lld bytes", (long long)(after - before));
    zt_arena_free(a);
}

static int64_t round256(int64_t n) {
    return (n + 255) / 256 * 256;
}

/* Each op family on a null backend standing in for a GPU: the scratch it reports is
 * the sum of the slots the CUDA ops would grow, each to its largest request. */
static void test_cuda_scratch(void) {
    zt_backend *nb = NULL;
    CHECK_OK(zt_backend_null_init(&nb));
    if (!nb) return;
    zt_backend_null_model_cuda(nb);
    static float buf[1 << 16];
    const int64_t M = 10, K = 40, N = 24, lt = (int64_t)ZT_CUDA_LT_WORKSPACE;
    /* nothing reads the data: distinct pointers for the alias checks are enough */
    zt_tensor x = zt_tensor_new(ZT_F32, buf, M, K), y = zt_tensor_new(ZT_F32, buf + 4096, M, N);
    zt_tensor w = zt_tensor_new(ZT_BF16, buf, N, K), w32 = zt_tensor_new(ZT_F32, buf, N, K);
    zt_tensor b = zt_tensor_new(ZT_F32, buf, N), bh = zt_tensor_new(ZT_BF16, buf, N);
    /* f32 weights: nothing; 16-bit without a bias: the input's copy alone */
    CHECK_OK(zt_op_linear(nb, &y, &x, &w32, &b));
    CHECK(nb->scratch_bytes(nb) == 0, "f32 linear: %zu bytes of scratch", nb->scratch_bytes(nb));
    CHECK_OK(zt_op_linear(nb, &y, &x, &w, NULL));
    int64_t want = round256(M * K * 2);
    CHECK((int64_t)nb->scratch_bytes(nb) == want, "bf16 linear: %zu, want %lld",
          nb->scratch_bytes(nb), (long long)want);
    /* a bias: cuBLASLt's workspace, and the f32 bias as it is (a bf16 one converted) */
    CHECK_OK(zt_op_linear(nb, &y, &x, &w, &b));
    want += lt;
    CHECK((int64_t)nb->scratch_bytes(nb) == want, "bf16 linear + bias: %zu, want %lld",
          nb->scratch_bytes(nb), (long long)want);
    CHECK_OK(zt_op_linear(nb, &y, &x, &w, &bh));
    want += round256(N * 4);
    CHECK((int64_t)nb->scratch_bytes(nb) == want, "bf16 bias converted: %zu, want %lld",
          nb->scratch_bytes(nb), (long long)want);
    /* attention, head dim 128: the packed bf16 q, k, v in slot 0 (which grows to it) */
    const int64_t L = 300, H = 2, D = 128;
    zt_tensor q = zt_tensor_new(ZT_F32, buf, 1, L, H, D), o = q;
    zt_attn_params ap = {.scale = 0.1f};
    o.data = buf + 8192;
    CHECK_OK(zt_op_attention(nb, &o, &q, &q, &q, &ap));
    int64_t pack = round256(zt_cuda_pack_bytes(H, L, L, D, 128, 128));
    want += pack - round256(M * K * 2);
    CHECK((int64_t)nb->scratch_bytes(nb) == want && pack == round256(2 * (384 + 768) * D * 2),
          "attention: %zu, want %lld", nb->scratch_bytes(nb), (long long)want);
    /* a 3x3x3 convolution: one column chunk within the budget; slot 0 keeps the larger */
    zt_tensor cx = zt_tensor_new(ZT_F32, buf, 1, 4, 3, 10, 12);
    zt_tensor cw = zt_tensor_new(ZT_F32, buf, 5, 4, 3, 3, 3);
    zt_tensor cy = zt_tensor_new(ZT_F32, buf + 8192, 1, 5, 1, 8, 10);
    zt_conv_params cp = {.stride = {1, 1, 1}};
    CHECK_OK(zt_op_conv3d(nb, &cy, &cx, &cw, NULL, &cp));
    CHECK((int64_t)nb->scratch_bytes(nb) == want, "small conv: %zu, want %lld (no growth)",
          nb->scratch_bytes(nb), (long long)want);
    int64_t chunk = zt_cuda_conv_chunk(80, 4 * 27, 4, ZT_CUDA_CONV_BUDGET_DEFAULT);
    CHECK(chunk == 80, "conv chunk %lld of 80 positions", (long long)chunk);
    CHECK(zt_cuda_conv_chunk(1000, 1000, 4, 4000 * 96) == 96 &&
              zt_cuda_conv_chunk(1000, 1000, 4, 4000 * 100) == 96 &&
              zt_cuda_conv_chunk(1000, 1000, 4, 4000 * 7) == 7,
          "conv chunks: %lld %lld %lld", (long long)zt_cuda_conv_chunk(1000, 1000, 4, 4000 * 96),
          (long long)zt_cuda_conv_chunk(1000, 1000, 4, 4000 * 100),
          (long long)zt_cuda_conv_chunk(1000, 1000, 4, 4000 * 7));
    zt_backend_free(nb);
    printf("cuda scratch model: linear, bias, attention and convolution sizes\n");
}

/* ZT_CUDA_CONV=implicit: the convolutions the implicit GEMM takes (float weights,
 * stride 1, 1x1 or 3x3 spatial taps) hold an f32 copy of the weights (output channels
 * padded to 4) and an f32 bias instead of a column chunk; the others keep their
 * columns. */
static void test_cuda_scratch_implicit(void) {
    static float buf[1 << 16];
    zt_tensor cx = zt_tensor_new(ZT_F32, buf, 1, 64, 3, 10, 12);
    zt_tensor cy = zt_tensor_new(ZT_F32, buf + 8192, 1, 42, 1, 8, 10);
    zt_tensor cy2 = zt_tensor_new(ZT_F32, buf + 8192, 1, 42, 1, 4, 5);
    zt_tensor cy3 = zt_tensor_new(ZT_F32, buf + 8192, 1, 42, 3, 5, 6);
    zt_tensor w32 = zt_tensor_new(ZT_F32, buf, 42, 64, 3, 3, 3);
    zt_tensor w16 = zt_tensor_new(ZT_BF16, buf, 42, 64, 3, 3, 3);
    zt_tensor p16 = zt_tensor_new(ZT_BF16, buf, 42, 64, 1, 2, 2);
    zt_conv_params unit = {.stride = {1, 1, 1}}, two = {.stride = {1, 2, 2}};
    struct {
        const char *name;
        zt_tensor *y, *w;
        zt_conv_params *p;
        int64_t want;
    } cases[] = {
        /* 64 * 27 weights for each of 44 channels, then 42 f32 biases */
        {"f32 3x3x3", &cy, &w32, &unit, round256((64 * 27 * 44 + 42) * 4)},
        {"bf16 3x3x3", &cy, &w16, &unit, round256((64 * 27 * 44 + 42) * 4)},
        /* stride 2: 20 positions of f32 columns */
        {"f32 3x3x3 stride 2", &cy2, &w32, &two, round256(20 * 64 * 27 * 4)},
        /* 2x2 taps (a patch embedding): 90 positions of 64 * 4 bf16 columns */
        {"bf16 1x2x2 stride 2", &cy3, &p16, &two, round256(90 * 64 * 4 * 2)},
    };
    setenv("ZT_CUDA_CONV", "implicit", 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zt_backend *nb = NULL;
        CHECK_OK(zt_backend_null_init(&nb));
        if (!nb) break;
        zt_backend_null_model_cuda(nb);
        CHECK_OK(zt_op_conv3d(nb, cases[i].y, &cx, cases[i].w, NULL, cases[i].p));
        CHECK((int64_t)nb->scratch_bytes(nb) == cases[i].want, "implicit, %s: %zu, want %lld",
              cases[i].name, nb->scratch_bytes(nb), (long long)cases[i].want);
        zt_backend_free(nb);
    }
    unsetenv("ZT_CUDA_CONV");
    printf("cuda scratch model: ZT_CUDA_CONV=implicit convolutions\n");
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be, 2));
    if (!be) return zt_test_finish();
    test_vae("vae/wan21/diffusers.safetensors", 4, 6);
    test_vae("vae/wan21/diffusers.safetensors", 5, 3);
    test_vae("vae/wan22/diffusers.safetensors", 2, 3);
    test_text();
    for (int how = 0; how < 2; how++) {
        test_denoise(0, 0, how);
        test_denoise(1, 0, how);
        test_denoise(0, 1, how);
        test_denoise(1, 1, how);
    }
    test_denoise(0, 0, 2);
    test_denoise(1, 0, 2);
    test_measuring_untouched();
    test_cuda_scratch();
    test_cuda_scratch_implicit();
    zt_backend_free(be);
    return zt_test_finish();
}
