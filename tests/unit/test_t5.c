/* test_t5.c - the T5 / umT5 encoders against transformers.
 *
 * Fixtures (tools/t5/make_fixtures.py): a tiny UMT5EncoderModel (a table per layer)
 * under Hugging Face names in f32 and bf16 and under Wan's official names as a bf16
 * .pth; a tiny T5EncoderModel (one shared table); per length (1, 7, 40, 150) the ids
 * and transformers' last hidden states; a batch padded with an attention mask; the
 * bucket of every relative position in -400..400. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "io/safetensors.h"
#include "models/t5.h"
#include "testlib.h"

#define TOL_F32   1e-4
#define TOL_BF16  2e-2
#define MAX_CASES 8

static zt_backend *be;
static zt_arena *arena;

static const zt_st_entry *entry(zt_safetensors *st, const char *name) {
    const zt_st_entry *e = zt_safetensors_find(st, name);
    CHECK(e != NULL, "%s lacks %s", zt_safetensors_path(st), name);
    return e;
}

/* Tensor `name` of a cases file as f64 (for zt_test_compare); NULL when absent. */
static double *read_ref(zt_safetensors *st, const char *name, int64_t *n) {
    const zt_st_entry *e = entry(st, name);
    if (!e) return NULL;
    float *f = malloc((size_t)e->numel * sizeof *f);
    double *r = zt_test_alloc((size_t)e->numel * sizeof *r);
    CHECK_OK(zt_safetensors_read_f32(st, e, f, e->numel));
    for (int64_t i = 0; i < e->numel; i++) r[i] = f[i];
    free(f);
    *n = e->numel;
    return r;
}

static zt_safetensors *open_cases(const char *model) {
    char path[512];
    snprintf(path, sizeof path, "%s/t5/%s/cases.safetensors", ZT_TEST_DATA, model);
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, path));
    return st;
}

/* transformers' buckets for every relative position in -400..400. */
static void test_buckets(void) {
    zt_safetensors *st = open_cases("umt5");
    if (!st) return;
    const zt_st_entry *e = entry(st, "buckets");
    const char *lo = zt_safetensors_metadata_get(st, "bucket_min");
    if (e && lo) {
        const int32_t *b = zt_safetensors_data(st, e);
        int bad = 0;
        for (int64_t i = 0; i < e->numel; i++) {
            int64_t rel = atoi(lo) + i;
            int got = zt_t5_bucket(rel, 32, 128);
            bad += got != b[i];
            if (got != b[i] && bad < 5)
                fprintf(stderr, "rel %lld: bucket %d, transformers %d\n", (long long)rel, got,
                        b[i]);
        }
        CHECK(bad == 0, "%d of %lld buckets differ", bad, (long long)e->numel);
    }
    zt_safetensors_close(st);
}

typedef struct outputs {
    float *out[MAX_CASES];
    int64_t size[MAX_CASES];
    int n;
} outputs;

/* The path of a fixture file (static buffer: valid until the next call). */
static const char *data_path(const char *model, const char *file) {
    static char path[512];
    snprintf(path, sizeof path, "%s/t5/%s/%s", ZT_TEST_DATA, model, file);
    return path;
}

/* Encode every case of `model`'s cases file with the weights at path, comparing
 * against the reference `ref` ("f32" or "bf16"); keeps the outputs in outs. */
static void run_cases(const char *model, const char *path, const char *ref, double tol,
                      const zt_t5_info *want, outputs *outs) {
    const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    zt_t5 *t5 = NULL;
    CHECK_OK(zt_t5_open(&t5, path));
    zt_safetensors *st = open_cases(model);
    if (!t5 || !st) {
        zt_t5_free(t5);
        zt_safetensors_close(st);
        return;
    }
    const zt_t5_info *i = zt_t5_get_info(t5);
    CHECK(i->layers == want->layers && i->d_model == want->d_model && i->heads == want->heads &&
              i->d_kv == want->d_kv && i->d_ff == want->d_ff && i->vocab == want->vocab &&
              i->buckets == 32 && i->max_distance == 128 &&
              i->per_layer_bias == want->per_layer_bias && !strcmp(i->naming, want->naming),
          "%s: %d layers, d %d, %d heads of %d, ff %d, vocab %d, %d buckets, per-layer %d, %s",
          path, i->layers, i->d_model, i->heads, i->d_kv, i->d_ff, i->vocab, i->buckets,
          i->per_layer_bias, i->naming);

    const char *lengths = zt_safetensors_metadata_get(st, "lengths");
    CHECK(lengths != NULL, "no length list");
    outs->n = 0;
    for (const char *p = lengths; p && *p && outs->n < MAX_CASES; outs->n++) {
        int64_t len = strtoll(p, NULL, 10), nref = 0;
        p += strcspn(p, ",");
        p += *p == ',';
        char name[64], what[256];
        snprintf(name, sizeof name, "ids.%lld", (long long)len);
        const zt_st_entry *e = entry(st, name);
        snprintf(name, sizeof name, "%s.%lld", ref, (long long)len);
        double *r = read_ref(st, name, &nref);
        if (!e || !r || e->numel != len || nref != len * i->d_model) continue;
        float *got = zt_test_alloc((size_t)nref * sizeof *got);
        zt_tensor out = zt_tensor_new(ZT_F32, got, len, i->d_model);
        CHECK_OK(zt_t5_encode(t5, be, arena, zt_safetensors_data(st, e), len, &out));
        snprintf(what, sizeof what, "%s %s, %lld tokens vs transformers (%s weights)", model, file,
                 (long long)len, ref);
        zt_test_compare(what, got, r, nref, tol);
        outs->out[outs->n] = got;
        outs->size[outs->n] = nref;
    }
    CHECK(zt_arena_used(arena) == 0, "encode left %zu bytes in the arena", zt_arena_used(arena));
    zt_safetensors_close(st);
    zt_t5_free(t5);
}

typedef struct t5_edit {
    const char *name, *rename;
    int64_t r0, r1;
} t5_edit;

static int t5_edit_fn(void *ctx, zt_test_st_tensor *t) {
    const t5_edit *e = ctx;
    if (!e->name || strcmp(t->name, e->name)) return 1;
    if (e->r0 > 0) {
        t->ndim = 2;
        t->shape[0] = e->r0;
        t->shape[1] = e->r1;
        return 1;
    }
    if (!e->rename) return 0;
    snprintf(t->name, sizeof t->name, "%s", e->rename);
    return 1;
}

/* Copy the safetensors file src to dst with every name behind prefix and tensor
 * `name` (when not NULL) edited: given shape (r0, r1) over the same data when r0 > 0,
 * else renamed to `rename`, else dropped. */
static void copy_edited(const char *src, const char *dst, const char *prefix, const char *name,
                        const char *rename, int64_t r0, int64_t r1) {
    t5_edit e = {name, rename, r0, r1};
    zt_test_copy_safetensors(src, dst, prefix, 1, t5_edit_fn, &e);
}

static void same_outputs(const char *a, const outputs *x, const char *b, const outputs *y) {
    CHECK(x->n == y->n && x->n > 0, "%s: %d cases, %s: %d", a, x->n, b, y->n);
    for (int c = 0; c < x->n && c < y->n; c++)
        CHECK(x->out[c] && y->out[c] && x->size[c] == y->size[c] &&
                  !memcmp(x->out[c], y->out[c], (size_t)x->size[c] * sizeof(float)),
              "%s and %s give different results in case %d", a, b, c);
}

static void test_models(void) {
    const zt_t5_info umt5_hf = {3, 64, 4, 16, 64, 256, 32, 128, 1, "huggingface"};
    const zt_t5_info umt5_wan = {3, 64, 4, 16, 64, 256, 32, 128, 1, "wan"};
    const zt_t5_info t5_hf = {2, 32, 4, 8, 48, 256, 32, 128, 0, "huggingface"};
    const zt_t5_info t5_wan = {2, 32, 4, 8, 48, 256, 32, 128, 0, "wan"};
    outputs f32 = {0}, pre = {0}, hf16 = {0}, wan16 = {0}, t5 = {0}, t5wan = {0};
    run_cases("umt5", data_path("umt5", "hf.safetensors"), "f32", TOL_F32, &umt5_hf, &f32);
    run_cases("umt5", data_path("umt5", "hf_bf16.safetensors"), "bf16", TOL_BF16, &umt5_hf, &hf16);
    run_cases("umt5", data_path("umt5", "wan_bf16.pth"), "bf16", TOL_BF16, &umt5_wan, &wan16);
    /* the same numbers under other namings give identical results */
    same_outputs("hf_bf16.safetensors", &hf16, "wan_bf16.pth", &wan16);
    char dst[512];
    snprintf(dst, sizeof dst, "%s/comfy_checkpoint.safetensors", zt_test_tmpdir());
    copy_edited(data_path("umt5", "hf.safetensors"), dst, "text_encoders.umt5xxl.transformer.",
                NULL, NULL, 0, 0);
    run_cases("umt5", dst, "f32", TOL_F32, &umt5_hf, &pre);
    same_outputs("hf.safetensors", &f32, "the same under a checkpoint's prefix", &pre);
    /* and how far bf16 weights take the output from the f32 model */
    for (int c = 0; c < f32.n && c < hf16.n; c++) {
        double *r = zt_test_alloc((size_t)f32.size[c] * sizeof *r);
        for (int64_t i = 0; i < f32.size[c]; i++) r[i] = f32.out[c][i];
        char what[96];
        snprintf(what, sizeof what, "umt5 bf16 weights vs f32 weights, case %d", c);
        zt_test_compare(what, hf16.out[c], r, f32.size[c], TOL_BF16);
    }
    /* T5: the shared table in block 0 (Hugging Face) or at the top level (Wan) */
    run_cases("t5", data_path("t5", "hf.safetensors"), "f32", TOL_F32, &t5_hf, &t5);
    run_cases("t5", data_path("t5", "wan.pth"), "f32", TOL_F32, &t5_wan, &t5wan);
    same_outputs("t5 hf.safetensors", &t5, "t5 wan.pth", &t5wan);
}

/* A batch padded to 160 tokens with an attention mask in transformers equals encoding
 * the real tokens alone; encode_padded zeros the rest. */
static void test_padded(void) {
    zt_t5 *t5 = NULL;
    CHECK_OK(zt_t5_open(&t5, data_path("umt5", "hf.safetensors")));
    zt_safetensors *st = open_cases("umt5");
    const zt_st_entry *ids = st ? entry(st, "padded_ids") : NULL;
    const zt_st_entry *lens = st ? entry(st, "padded_len") : NULL;
    if (t5 && ids && lens && ids->ndim == 2) {
        const int32_t *id = zt_safetensors_data(st, ids), *len = zt_safetensors_data(st, lens);
        int64_t d = zt_t5_get_info(t5)->d_model, rows = 512;
        float *got = zt_test_alloc((size_t)(rows * d) * sizeof *got);
        float *plain = zt_test_alloc((size_t)(rows * d) * sizeof *plain);
        for (int64_t b = 0; b < ids->shape[0]; b++) {
            const int32_t *row = id + b * ids->shape[1];
            int64_t n = len[b], nref = 0;
            char name[32], what[128];
            snprintf(name, sizeof name, "padded.%lld", (long long)b);
            double *r = read_ref(st, name, &nref);
            if (!r || nref != n * d) continue;
            memset(got, 0xff, (size_t)(rows * d) * sizeof *got); /* NaNs: must be overwritten */
            zt_tensor out = zt_tensor_new(ZT_F32, got, rows, d);
            CHECK_OK(zt_t5_encode_padded(t5, be, arena, row, n, &out));
            snprintf(what, sizeof what,
                     "umt5 padded batch row %lld (%lld tokens) vs transformers with attention_mask",
                     (long long)b, (long long)n);
            zt_test_compare(what, got, r, nref, TOL_F32);
            int64_t nonzero = 0;
            for (int64_t i = n * d; i < rows * d; i++) nonzero += got[i] != 0.0f;
            CHECK(nonzero == 0, "%lld padding values are not zero", (long long)nonzero);
            zt_tensor po = zt_tensor_new(ZT_F32, plain, n, d);
            CHECK_OK(zt_t5_encode(t5, be, arena, row, n, &po));
            CHECK(!memcmp(plain, got, (size_t)(n * d) * sizeof *got),
                  "encode_padded and encode differ for %lld tokens", (long long)n);
        }
    }
    zt_safetensors_close(st);
    zt_t5_free(t5);
}

static void expect_bad(const char *path, zt_status status, const char *needle) {
    zt_t5 *t5 = NULL;
    CHECK_FAILS(zt_t5_open(&t5, path), status, needle);
    CHECK(t5 == NULL, "%s opened", path);
    zt_t5_free(t5);
}

static void test_bad_files(void) {
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s", data_path("umt5", "hf.safetensors"));
    const char *tmp = zt_test_tmpdir();
    const char *wo = "encoder.block.1.layer.1.DenseReluDense.wo.weight";
    const char *o = "encoder.block.2.layer.0.SelfAttention.o.weight";
    const char *bias2 = "encoder.block.2.layer.0.SelfAttention.relative_attention_bias.weight";

    /* the copy itself opens: the edits below are what fails */
    snprintf(dst, sizeof dst, "%s/copy.safetensors", tmp);
    copy_edited(src, dst, "", NULL, NULL, 0, 0);
    zt_t5 *t5 = NULL;
    CHECK_OK(zt_t5_open(&t5, dst));
    zt_t5_free(t5);

    snprintf(dst, sizeof dst, "%s/missing.safetensors", tmp);
    copy_edited(src, dst, "", wo, NULL, 0, 0);
    expect_bad(dst, ZT_ERR_INPUT, "missing tensor 'encoder.block.1.layer.1.DenseReluDense.wo");

    snprintf(dst, sizeof dst, "%s/shape.safetensors", tmp);
    copy_edited(src, dst, "", o, NULL, 32, 128);
    expect_bad(dst, ZT_ERR_INPUT, "SelfAttention.o.weight' has shape (32, 128), expected (64, 64)");

    snprintf(dst, sizeof dst, "%s/table.safetensors", tmp);
    copy_edited(src, dst, "", bias2, NULL, 0, 0);
    expect_bad(dst, ZT_ERR_INPUT, "layer 2 lacks a relative position table");

    /* ComfyUI's scaled fp8 files carry a "scaled_fp8" marker */
    snprintf(dst, sizeof dst, "%s/scaled.safetensors", tmp);
    copy_edited(src, dst, "", wo, "scaled_fp8", 0, 0);
    expect_bad(dst, ZT_ERR_UNSUPPORTED, "scaled fp8 weights are not supported");

    snprintf(dst, sizeof dst, "%s/safetensors/small.safetensors", ZT_TEST_DATA);
    expect_bad(dst, ZT_ERR_INPUT, "match no known naming");
    snprintf(dst, sizeof dst, "%s/vae/wan21/original.safetensors", ZT_TEST_DATA);
    expect_bad(dst, ZT_ERR_INPUT, "match no known naming");
    snprintf(dst, sizeof dst, "%s/nonexistent.safetensors", tmp);
    expect_bad(dst, ZT_ERR_INPUT, "cannot open");

    /* bad calls: an id outside the vocabulary, an output of the wrong size */
    CHECK_OK(zt_t5_open(&t5, src));
    if (!t5) return;
    float buf[4 * 64];
    int32_t ids[4] = {5, 6, 256, 1};
    zt_tensor out = zt_tensor_new(ZT_F32, buf, 4, 64);
    CHECK_FAILS(zt_t5_encode(t5, be, arena, ids, 4, &out), ZT_ERR_INPUT,
                "token id 256 at position 2");
    ids[2] = 7;
    zt_tensor small = zt_tensor_new(ZT_F32, buf, 3, 64);
    CHECK_FAILS(zt_t5_encode(t5, be, arena, ids, 4, &small), ZT_ERR_USAGE, "[4, 64]");
    CHECK_FAILS(zt_t5_encode_padded(t5, be, arena, ids, 4, &small), ZT_ERR_USAGE, "[>= 4, 64]");
    CHECK(zt_arena_used(arena) == 0, "failed encodes left %zu bytes", zt_arena_used(arena));
    zt_t5_free(t5);
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be, 0));
    CHECK_OK(zt_arena_init(&arena, 0, 0));
    if (!be || !arena) return zt_test_finish();
    test_buckets();
    test_models();
    test_padded();
    test_bad_files();
    zt_arena_free(arena);
    zt_backend_free(be);
    return zt_test_finish();
}
