/* test_wan_dit.c - the Wan diffusion transformer against diffusers.
 *
 * Fixtures (tools/dit/make_fixtures.py): a tiny WanTransformer3DModel (dim 64 in 2
 * heads of 32, so the 16 rotary pairs split 6/5/5; ffn 96; 2 layers; patch 1x2x2;
 * 4 channels; text 32) under diffusers' names in f32 and bf16 and under Wan's names
 * in bf16; per case the latents, the timestep(s) and diffusers' velocity with the f32
 * and the bf16-rounded weights: 1 and 3 frames of 4x6 at t = 937, and 3 frames with
 * per-token timesteps (first frame 0, the rest 700). */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "testlib.h"

#define TOL_F32   1e-4
#define TOL_BF16  2e-2
#define MAX_CASES 4

static zt_backend *be;
static zt_arena *arena;

static const char *data_path(const char *file) {
    static char path[512];
    snprintf(path, sizeof path, "%s/dit/%s", ZT_TEST_DATA, file);
    return path;
}

static zt_safetensors *open_cases(void) {
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, data_path("cases.safetensors")));
    return st;
}

static const zt_st_entry *entry(zt_safetensors *st, const char *name) {
    const zt_st_entry *e = zt_safetensors_find(st, name);
    CHECK(e != NULL, "cases lack %s", name);
    return e;
}

/* Tensor `name` of the cases file as f32 (kept until the end) and, when ref is not
 * NULL, as f64 for zt_test_compare. */
static float *read_case(zt_safetensors *st, const char *name, int64_t *n, double **ref) {
    const zt_st_entry *e = entry(st, name);
    if (!e) return NULL;
    float *f = zt_test_alloc((size_t)e->numel * sizeof *f);
    CHECK_OK(zt_safetensors_read_f32(st, e, f, e->numel));
    if (ref) {
        *ref = zt_test_alloc((size_t)e->numel * sizeof **ref);
        for (int64_t i = 0; i < e->numel; i++) (*ref)[i] = f[i];
    }
    *n = e->numel;
    return f;
}

typedef struct outputs {
    float *out[MAX_CASES];
    int64_t size[MAX_CASES];
    int n;
} outputs;

/* The guidance pair (zt_wan_dit_forward_pair, batched at this size) against its two
 * passes run apart, with texts that differ in length and folding (te: every row read;
 * folded: a padded prompt's state), at one t and with the first frame's tokens at 0. */
static void pair_vs_apart(const zt_wan_dit *m, const char *file, const zt_tensor *x, float t,
                          const zt_tensor *te, const zt_wan_dit_text *folded) {
    const zt_wan_dit_info *i = zt_wan_dit_get_info(m);
    int64_t nx = zt_tensor_numel(x), frames = x->shape[1];
    int64_t tokens =
        frames / i->patch[0] * (x->shape[2] / i->patch[1]) * (x->shape[3] / i->patch[2]);
    CHECK(zt_wan_dit_pairs(m, 0, tokens), "%s: %lld tokens should pair", file, (long long)tokens);
    zt_wan_dit_text *full = NULL;
    CHECK_OK(zt_wan_dit_text_init(&full, m, be, te));
    float *tt = zt_test_alloc((size_t)tokens * sizeof *tt);
    for (int64_t k = 0; k < tokens; k++) tt[k] = k < tokens / frames ? 0.0f : t;
    float *out[4];
    for (int k = 0; k < 4; k++) out[k] = zt_test_alloc((size_t)nx * sizeof(float));
    for (int per_token = 0; full && per_token < 2; per_token++) {
        const zt_wan_dit_text *ts[2] = {full, folded};
        zt_tensor v[4];
        for (int k = 0; k < 4; k++) v[k] = zt_tensor_make(ZT_F32, 4, x->shape, out[k]);
        const float *tk = per_token ? tt : NULL;
        CHECK_OK(zt_wan_dit_forward_pair(m, be, arena, x, t, tk, ts, v));
        CHECK_OK(zt_wan_dit_forward_text(m, be, arena, x, t, tk, full, &v[2]));
        CHECK_OK(zt_wan_dit_forward_text(m, be, arena, x, t, tk, folded, &v[3]));
        for (int k = 0; k < 2; k++) {
            char what[640];
            snprintf(what, sizeof what, "%s: guidance pass %d batched vs alone (%s)", file, k,
                     per_token ? "per-token t" : "one t");
            zt_test_compare_f32(what, out[k], out[k + 2], nx, 1e-6);
        }
        CHECK(memcmp(out[0], out[1], (size_t)nx * sizeof(float)),
              "%s: the two texts gave the same velocity", file);
    }
    zt_wan_dit_text_free(full);
}

/* Run every case with the model at path against the reference `ref` ("f32" or
 * "bf16") within tol; keeps the outputs. */
static void run_cases(const char *model_path, const char *naming, const char *ref, double tol,
                      outputs *outs) {
    char path[512];
    snprintf(path, sizeof path, "%s", model_path); /* data_path's buffer is reused */
    const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    zt_wan_dit *m = NULL;
    CHECK_OK(zt_wan_dit_open(&m, path));
    zt_safetensors *st = open_cases();
    if (!m || !st) {
        zt_wan_dit_free(m);
        zt_safetensors_close(st);
        return;
    }
    const zt_wan_dit_info *i = zt_wan_dit_get_info(m);
    CHECK(i->dim == 64 && i->heads == 2 && i->head_dim == 32 && i->ffn == 96 && i->layers == 2 &&
              i->in_channels == 4 && i->out_channels == 4 && i->text_dim == 32 &&
              i->freq_dim == 256 && i->patch[0] == 1 && i->patch[1] == 2 && i->patch[2] == 2 &&
              !strcmp(i->naming, naming),
          "%s: dim %d, %d heads of %d, ffn %d, %d layers, channels %d/%d, text %d, freq %d, "
          "patch %dx%dx%d, %s names",
          path, i->dim, i->heads, i->head_dim, i->ffn, i->layers, i->in_channels, i->out_channels,
          i->text_dim, i->freq_dim, i->patch[0], i->patch[1], i->patch[2], i->naming);

    /* the text once, through text_embedding */
    int64_t nt = 0, ne = 0;
    double *te_ref = NULL;
    float *ctx = read_case(st, "text", &nt, NULL);
    read_case(st, "text_emb.f32", &ne, &te_ref);
    if (!ctx || nt % i->text_dim || ne != nt / i->text_dim * i->dim) goto done;
    int64_t l = nt / i->text_dim;
    float *text = zt_test_alloc((size_t)ne * sizeof *text);
    zt_tensor tc = zt_tensor_new(ZT_F32, ctx, l, i->text_dim);
    zt_tensor te = zt_tensor_new(ZT_F32, text, l, i->dim);
    CHECK_OK(zt_wan_dit_embed_text(m, be, arena, &tc, &te));
    char what[768];
    if (tol == TOL_F32 && !strcmp(ref, "f32")) {
        snprintf(what, sizeof what, "%s: text embedding vs diffusers", file);
        zt_test_compare(what, text, te_ref, ne, TOL_F32);
    }

    const char *names = zt_safetensors_metadata_get(st, "cases");
    CHECK(names != NULL, "no case list");
    outs->n = 0;
    for (const char *p = names; p && *p && outs->n < MAX_CASES; outs->n++) {
        char c[32], name[64];
        size_t len = strcspn(p, ",");
        snprintf(c, sizeof c, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        int64_t nx = 0, ntt = 0, nref = 0;
        double *r = NULL;
        snprintf(name, sizeof name, "x.%s", c);
        const zt_st_entry *xe = entry(st, name);
        float *x = read_case(st, name, &nx, NULL);
        snprintf(name, sizeof name, "t.%s", c);
        float *t = read_case(st, name, &ntt, NULL);
        snprintf(name, sizeof name, "%s.%s", ref, c);
        read_case(st, name, &nref, &r);
        if (!xe || !x || !t || !r || xe->ndim != 4 || nref != nx) continue;
        zt_tensor xt = zt_tensor_make(ZT_F32, 4, xe->shape, x);
        float *got = zt_test_alloc((size_t)nref * sizeof *got);
        zt_tensor vt = zt_tensor_make(ZT_F32, 4, xe->shape, got); /* Ci = Co here */
        CHECK_OK(zt_wan_dit_forward(m, be, arena, &xt, t[0], ntt > 1 ? t : NULL, &te, &vt));
        snprintf(what, sizeof what, "%s, case %s (%lld frames, %s) vs diffusers (%s weights)", file,
                 c, (long long)xe->shape[1], ntt > 1 ? "per-token t" : "one t", ref);
        zt_test_compare(what, got, r, nref, tol);
        /* the per-prompt text state (cross-attention keys and values made once) gives
         * the same bits as computing them in every call */
        zt_wan_dit_text *ts = NULL;
        float *got_ts = zt_test_alloc((size_t)nref * sizeof *got_ts);
        zt_tensor vts = zt_tensor_make(ZT_F32, 4, xe->shape, got_ts);
        CHECK_OK(zt_wan_dit_text_init(&ts, m, be, &te));
        CHECK_OK(zt_wan_dit_forward_text(m, be, arena, &xt, t[0], ntt > 1 ? t : NULL, ts, &vts));
        CHECK(!memcmp(got, got_ts, (size_t)nref * sizeof *got), "%s: the text state changes "
              "the velocity", what);
        zt_wan_dit_text_free(ts);
        /* a GPU's state (the text, projected again in each pass), here on the CPU: the
         * same bits too */
        zt_wan_dit_set_text_keys(m, ZT_DIT_TEXT_PROJECT);
        CHECK_OK(zt_wan_dit_text_init(&ts, m, be, &te));
        zt_wan_dit_set_text_keys(m, ZT_DIT_TEXT_AUTO);
        memset(got_ts, 0, (size_t)nref * sizeof *got_ts);
        CHECK_OK(zt_wan_dit_forward_text(m, be, arena, &xt, t[0], ntt > 1 ? t : NULL, ts, &vts));
        CHECK(!memcmp(got, got_ts, (size_t)nref * sizeof *got), "%s: the projecting text "
              "state changes the velocity", what);
        zt_wan_dit_text_free(ts);
        /* the feed-forward in chunks of 5 rows (an uneven last one): the same velocity */
        if (tol == TOL_F32) {
            float *chunked = zt_test_alloc((size_t)nref * sizeof *chunked);
            double *want = malloc((size_t)nref * sizeof *want);
            zt_tensor vc = zt_tensor_make(ZT_F32, 4, xe->shape, chunked);
            zt_wan_dit_set_ffn_rows(m, 5);
            CHECK_OK(zt_wan_dit_forward(m, be, arena, &xt, t[0], ntt > 1 ? t : NULL, &te, &vc));
            zt_wan_dit_set_ffn_rows(m, 0);
            for (int64_t k = 0; want && k < nref; k++) want[k] = got[k];
            snprintf(what, sizeof what, "%s, case %s: feed-forward in 5-row chunks vs whole",
                     file, c);
            if (want) zt_test_compare(what, chunked, want, nref, 1e-6);
            free(want);
        }
        outs->out[outs->n] = got;
        outs->size[outs->n] = nref;
    }
    /* A padded prompt, as Wan pads one: the first 3 context rows, then zeros out to 40.
     * The text state folds the zero rows' keys into one carrying log 37 (fold_padding);
     * its velocity must be the one from all 40 keys, to rounding. */
    if (l >= 3 && names) {
        int64_t lp = 40, nx = 0, ntt = 0;
        char c[32], name[64];
        snprintf(c, sizeof c, "%.*s", (int)strcspn(names, ","), names);
        snprintf(name, sizeof name, "x.%s", c);
        const zt_st_entry *xe = entry(st, name);
        float *x = read_case(st, name, &nx, NULL);
        snprintf(name, sizeof name, "t.%s", c);
        float *t = read_case(st, name, &ntt, NULL);
        float *pctx = calloc((size_t)(lp * i->text_dim), sizeof(float));
        float *ptext = zt_test_alloc((size_t)(lp * i->dim) * sizeof(float));
        float *full = zt_test_alloc((size_t)nx * sizeof(float));
        float *fold = zt_test_alloc((size_t)nx * sizeof(float));
        double *want = malloc((size_t)nx * sizeof(double));
        if (xe && x && t && pctx && want) {
            memcpy(pctx, ctx, (size_t)(3 * i->text_dim) * sizeof(float));
            zt_tensor pc = zt_tensor_new(ZT_F32, pctx, lp, i->text_dim);
            zt_tensor pe = zt_tensor_new(ZT_F32, ptext, lp, i->dim);
            zt_tensor xt = zt_tensor_make(ZT_F32, 4, xe->shape, x);
            zt_tensor vf = zt_tensor_make(ZT_F32, 4, xe->shape, full);
            zt_tensor vp = zt_tensor_make(ZT_F32, 4, xe->shape, fold);
            CHECK_OK(zt_wan_dit_embed_text(m, be, arena, &pc, &pe));
            CHECK_OK(zt_wan_dit_forward(m, be, arena, &xt, t[0], NULL, &pe, &vf));
            zt_wan_dit_text *ts = NULL;
            CHECK_OK(zt_wan_dit_text_init(&ts, m, be, &pe));
            CHECK(zt_wan_dit_text_keys(ts) == 4, "%s: the padded text reads %lld keys, want 4",
                  file, (long long)zt_wan_dit_text_keys(ts));
            CHECK_OK(zt_wan_dit_forward_text(m, be, arena, &xt, t[0], NULL, ts, &vp));
            for (int64_t k = 0; k < nx; k++) want[k] = full[k];
            snprintf(what, sizeof what, "%s: padding folded into one key vs all 40 keys", file);
            zt_test_compare(what, fold, want, nx, 1e-5);
            pair_vs_apart(m, file, &xt, t[0], &te, ts);
            /* the same with projecting states (a GPU's), folded as the CPU folds: the
             * velocities of the kept state's bits, and the pair's passes as apart */
            zt_wan_dit_text *tp = NULL;
            float *proj = zt_test_alloc((size_t)nx * sizeof(float));
            zt_tensor vq = zt_tensor_make(ZT_F32, 4, xe->shape, proj);
            zt_wan_dit_set_text_keys(m, ZT_DIT_TEXT_PROJECT);
            CHECK_OK(zt_wan_dit_text_init(&tp, m, be, &pe));
            CHECK(zt_wan_dit_text_keys(tp) == 4, "%s: the projecting state reads %lld keys, "
                  "want 4", file, (long long)zt_wan_dit_text_keys(tp));
            CHECK_OK(zt_wan_dit_forward_text(m, be, arena, &xt, t[0], NULL, tp, &vq));
            CHECK(!memcmp(proj, fold, (size_t)nx * sizeof *proj), "%s: the projecting padded "
                  "state's velocity differs from the kept one's", file);
            if (tp) pair_vs_apart(m, file, &xt, t[0], &te, tp);
            zt_wan_dit_set_text_keys(m, ZT_DIT_TEXT_AUTO);
            zt_wan_dit_text_free(tp);
            zt_wan_dit_text_free(ts);
        }
        free(pctx);
        free(want);
    }
    CHECK(zt_arena_used(arena) == 0, "forward left %zu bytes in the arena", zt_arena_used(arena));
done:
    zt_safetensors_close(st);
    zt_wan_dit_free(m);
}

typedef struct dit_edit {
    const char *name;
    int swap;
} dit_edit;

static int dit_edit_fn(void *ctx, zt_test_st_tensor *t) {
    const dit_edit *e = ctx;
    if (!e->name || strcmp(t->name, e->name)) return 1;
    if (!e->swap) return 0;
    if (t->ndim >= 2) {
        int64_t a = t->shape[0];
        t->shape[0] = t->shape[1];
        t->shape[1] = a;
    }
    return 1;
}

/* Copy the safetensors file src to dst with every name behind prefix, the metadata
 * kept unless drop_meta, and tensor `name` (when not NULL) edited: its first two dims
 * swapped when swap, else dropped. */
static void copy_edited(const char *src, const char *dst, const char *prefix, int drop_meta,
                        const char *name, int swap) {
    dit_edit e = {name, swap};
    zt_test_copy_safetensors(src, dst, prefix, drop_meta, dit_edit_fn, &e);
}

static void same_outputs(const char *a, const outputs *x, const char *b, const outputs *y) {
    CHECK(x->n == y->n && x->n > 0, "%s: %d cases, %s: %d", a, x->n, b, y->n);
    for (int c = 0; c < x->n && c < y->n; c++)
        CHECK(x->out[c] && y->out[c] && x->size[c] == y->size[c] &&
                  !memcmp(x->out[c], y->out[c], (size_t)x->size[c] * sizeof(float)),
              "%s and %s give different results in case %d", a, b, c);
}

static void test_models(void) {
    outputs f32 = {0}, hf16 = {0}, hf16_vs32 = {0}, wan16 = {0}, comfy = {0};
    run_cases(data_path("diffusers.safetensors"), "diffusers", "f32", TOL_F32, &f32);
    /* bf16 weights: the same numbers as diffusers run with them, and near the f32 model */
    run_cases(data_path("diffusers_bf16.safetensors"), "diffusers", "bf16", TOL_F32, &hf16);
    run_cases(data_path("diffusers_bf16.safetensors"), "diffusers", "f32", TOL_BF16, &hf16_vs32);
    run_cases(data_path("wan_bf16.safetensors"), "wan", "bf16", TOL_F32, &wan16);
    same_outputs("diffusers_bf16.safetensors", &hf16, "wan_bf16.safetensors", &wan16);
    char dst[512];
    snprintf(dst, sizeof dst, "%s/comfy_bf16.safetensors", zt_test_tmpdir());
    copy_edited(data_path("wan_bf16.safetensors"), dst, "model.diffusion_model.", 0, NULL, 0);
    run_cases(dst, "comfyui", "bf16", TOL_F32, &comfy);
    same_outputs("wan_bf16.safetensors", &wan16, "the same under ComfyUI's prefix", &comfy);
}

static void test_bad_files(void) {
    const char *src = data_path("wan_bf16.safetensors");
    char dst[512];
    zt_wan_dit *m = NULL;
    snprintf(dst, sizeof dst, "%s/missing.safetensors", zt_test_tmpdir());
    copy_edited(src, dst, "", 0, "blocks.1.cross_attn.norm_k.weight", 0);
    CHECK_FAILS(zt_wan_dit_open(&m, dst), ZT_ERR_INPUT, "blocks.1.cross_attn.norm_k.weight");
    CHECK(m == NULL, "a failed open returns no model");
    snprintf(dst, sizeof dst, "%s/shape.safetensors", zt_test_tmpdir());
    copy_edited(src, dst, "", 0, "blocks.1.ffn.2.weight", 1);
    CHECK_FAILS(zt_wan_dit_open(&m, dst), ZT_ERR_INPUT, "(96, 64)");
    snprintf(dst, sizeof dst, "%s/no_heads.safetensors", zt_test_tmpdir());
    copy_edited(src, dst, "", 1, NULL, 0);
    CHECK_FAILS(zt_wan_dit_open(&m, dst), ZT_ERR_INPUT, "num_heads");
    snprintf(dst, sizeof dst, "%s/not_a_dit.safetensors", zt_test_tmpdir());
    copy_edited(src, dst, "", 0, "head.head.weight", 0);
    CHECK_FAILS(zt_wan_dit_open(&m, dst), ZT_ERR_INPUT, "head.head.weight");
    zt_wan_dit_free(NULL);

    /* calls with the wrong shapes are refused before any work */
    CHECK_OK(zt_wan_dit_open(&m, src));
    if (!m) return;
    float *buf = zt_test_alloc(4 * 3 * 4 * 6 * sizeof *buf),
          *out = zt_test_alloc(sizeof buf[0] * 4 * 3 * 4 * 6);
    float *text = zt_test_alloc(7 * 64 * sizeof *text);
    zt_tensor te = zt_tensor_new(ZT_F32, text, 7, 64);
    zt_tensor odd = zt_tensor_new(ZT_F32, buf, 4, 3, 4, 5);
    zt_tensor vo = zt_tensor_new(ZT_F32, out, 4, 3, 4, 5);
    CHECK_FAILS(zt_wan_dit_forward(m, be, arena, &odd, 1.0f, NULL, &te, &vo), ZT_ERR_USAGE,
                "multiples of 1, 2, 2");
    zt_tensor x = zt_tensor_new(ZT_F32, buf, 4, 3, 4, 6),
              v = zt_tensor_new(ZT_F32, out, 4, 3, 4, 6);
    zt_tensor small = zt_tensor_new(ZT_F32, out, 4, 1, 4, 6);
    CHECK_FAILS(zt_wan_dit_forward(m, be, arena, &x, 1.0f, NULL, &te, &small), ZT_ERR_USAGE,
                "[4, 3, 4, 6]");
    zt_tensor raw = zt_tensor_new(ZT_F32, text, 7, 32);
    CHECK_FAILS(zt_wan_dit_forward(m, be, arena, &x, 1.0f, NULL, &raw, &v), ZT_ERR_USAGE,
                "[L, 64]");
    CHECK_FAILS(zt_wan_dit_embed_text(m, be, arena, &te, &te), ZT_ERR_USAGE, "[L, 32]");
    CHECK(zt_arena_used(arena) == 0, "failed calls left %zu bytes", zt_arena_used(arena));
    zt_wan_dit_free(m);
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be, 0));
    CHECK_OK(zt_arena_init(&arena, 0, 0));
    if (!be || !arena) return zt_test_finish();
    test_models();
    test_bad_files();
    zt_arena_free(arena);
    zt_backend_free(be);
    return zt_test_finish();
}
