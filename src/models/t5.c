/* t5.c - the T5 / umT5 encoder as a flat list of ops per layer.
 *
 * Dimensions: L tokens, D = d_model, H heads of K = d_kv (I = H * K), F = d_ff,
 * V = vocab, B = buckets. Activations are [L, D] f32; the residual stream x stays
 * allocated for the whole pass and each layer's temporaries are released after it.
 *
 * Canonical names are Wan's official ones (models_t5_umt5-xxl-enc-bf16.pth); Hugging
 * Face names are rules on top. A shared table (T5) is block 0's in Hugging Face files
 * and a top-level pos_embedding in Wan's T5Encoder(shared_pos=True). */
#include "t5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/ops.h"
#include "../core/place.h"
#include "../core/status.h"
#include "../io/weights.h"

#define T5_EPS          1e-6f
#define T5_MAX_DISTANCE 128

/* Hugging Face (UMT5/T5EncoderModel, T5ForConditionalGeneration, ComfyUI); the
 * embedding is stored as shared.weight or, when the tie was saved the other way,
 * encoder.embed_tokens.weight */
// clang-format off
#define HF_LAYER "encoder.block.{}.layer."
#define HF_BLOCK_RULES                                                                     \
    {"blocks.{}.norm1.weight", HF_LAYER "0.layer_norm.weight"},                            \
    {"blocks.{}.attn.q.weight", HF_LAYER "0.SelfAttention.q.weight"},                      \
    {"blocks.{}.attn.k.weight", HF_LAYER "0.SelfAttention.k.weight"},                      \
    {"blocks.{}.attn.v.weight", HF_LAYER "0.SelfAttention.v.weight"},                      \
    {"blocks.{}.attn.o.weight", HF_LAYER "0.SelfAttention.o.weight"},                      \
    {"blocks.{}.pos_embedding.embedding.weight",                                           \
     HF_LAYER "0.SelfAttention.relative_attention_bias.weight"},                           \
    {"blocks.{}.norm2.weight", HF_LAYER "1.layer_norm.weight"},                            \
    {"blocks.{}.ffn.gate.0.weight", HF_LAYER "1.DenseReluDense.wi_0.weight"},              \
    {"blocks.{}.ffn.fc1.weight", HF_LAYER "1.DenseReluDense.wi_1.weight"},                 \
    {"blocks.{}.ffn.fc2.weight", HF_LAYER "1.DenseReluDense.wo.weight"},                   \
    {"norm.weight", "encoder.final_layer_norm.weight"},                                    \
    {NULL, NULL}
static const zt_naming_rule hf_shared_rules[] = {
    {"token_embedding.weight", "shared.weight"}, HF_BLOCK_RULES};
static const zt_naming_rule hf_embed_rules[] = {
    {"token_embedding.weight", "encoder.embed_tokens.weight"}, HF_BLOCK_RULES};
/* also inside ComfyUI's whole checkpoints, under their text encoder's prefix */
#define HF_NAMINGS(prefix)                                                                 \
    {"huggingface", prefix, hf_shared_rules}, {"huggingface", prefix, hf_embed_rules}
static const zt_naming t5_namings[] = {{"wan", NULL, NULL}, HF_NAMINGS(NULL),
                                       HF_NAMINGS("text_encoders.umt5xxl.transformer."),
                                       HF_NAMINGS("text_encoders.t5xxl.transformer.")};
// clang-format on
#define N_NAMINGS (sizeof t5_namings / sizeof t5_namings[0])

typedef struct t5_layer {
    zt_tensor norm1;    /* [D] */
    zt_tensor q, k, v;  /* [I, D] */
    zt_tensor o;        /* [D, I] */
    zt_tensor norm2;    /* [D] */
    zt_tensor gate;     /* [F, D]: wi_0, through GELU */
    zt_tensor fc1;      /* [F, D]: wi_1 */
    zt_tensor fc2;      /* [D, F]: wo */
    const float *table; /* [B, H] f32: this layer's bucket table or the shared one */
} t5_layer;

struct zt_t5 {
    zt_weights *w;
    zt_t5_info info;
    zt_tensor emb;  /* [V, D] */
    zt_tensor norm; /* [D] */
    t5_layer *layers;
    float *tables;    /* [layers or 1, B, H] */
    zt_placed placed; /* the weights' copy in a device's memory (zt_t5_place) */
};

/* ---- loading -------------------------------------------------------------------------- */

static zt_status load_layer(zt_t5 *t, int i) {
    const zt_weights *w = t->w;
    int64_t d = t->info.d_model, in = (int64_t)t->info.heads * t->info.d_kv, f = t->info.d_ff;
    t5_layer *l = &t->layers[i];
    ZT_TRY(zt_weights_get_shape(w, &l->norm1, 1, ZT_SHAPE(d), "blocks.%d.norm1.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->q, 2, ZT_SHAPE(in, d), "blocks.%d.attn.q.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->k, 2, ZT_SHAPE(in, d), "blocks.%d.attn.k.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->v, 2, ZT_SHAPE(in, d), "blocks.%d.attn.v.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->o, 2, ZT_SHAPE(d, in), "blocks.%d.attn.o.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->norm2, 1, ZT_SHAPE(d), "blocks.%d.norm2.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->gate, 2, ZT_SHAPE(f, d), "blocks.%d.ffn.gate.0.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->fc1, 2, ZT_SHAPE(f, d), "blocks.%d.ffn.fc1.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &l->fc2, 2, ZT_SHAPE(d, f), "blocks.%d.ffn.fc2.weight", i));
    return ZT_OK;
}

/* The bucket tables: one per layer (umT5) or one shared (T5), read as f32. */
static zt_status load_tables(zt_t5 *t) {
    zt_t5_info *info = &t->info;
    const char *path = zt_weights_path(t->w);
    const char *first = "blocks.0.pos_embedding.embedding.weight";
    int per_layer =
        info->layers > 1 && zt_weights_has(t->w, "blocks.1.pos_embedding.embedding.weight");
    if (!zt_weights_has(t->w, "%s", first)) {
        if (!zt_weights_has(t->w, "pos_embedding.embedding.weight"))
            return zt_fail(ZT_ERR_INPUT,
                           "%s: no relative position table (neither per layer nor shared)", path);
        first = "pos_embedding.embedding.weight";
    }
    for (int i = 1; i < info->layers; i++)
        if (zt_weights_has(t->w, "blocks.%d.pos_embedding.embedding.weight", i) != per_layer)
            return zt_fail(ZT_ERR_INPUT, "%s: layer %d %s a relative position table, layer 1 %s",
                           path, i, per_layer ? "lacks" : "has", per_layer ? "has" : "none");
    zt_tensor tab;
    ZT_TRY(zt_weights_get_shape(t->w, &tab, 2, ZT_SHAPE(-1, -1), "%s", first));
    if (tab.shape[0] < 4 || tab.shape[0] > 1024 || tab.shape[1] < 1 || tab.shape[1] > 4096)
        return zt_fail(ZT_ERR_INPUT,
                       "%s: relative position table (%lld, %lld) is not (buckets, heads)", path,
                       (long long)tab.shape[0], (long long)tab.shape[1]);
    info->buckets = (int)tab.shape[0];
    info->heads = (int)tab.shape[1];
    info->max_distance = T5_MAX_DISTANCE;
    info->per_layer_bias = per_layer;

    int64_t n = per_layer ? info->layers : 1, size = (int64_t)info->buckets * info->heads;
    t->tables = malloc((size_t)(n * size) * sizeof *t->tables);
    if (!t->tables) return zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    for (int i = 0; i < n; i++) {
        const int64_t shape[2] = {info->buckets, info->heads};
        if (per_layer)
            ZT_TRY(zt_weights_get_f32(t->w, t->tables + i * size, 2, shape,
                                      "blocks.%d.pos_embedding.embedding.weight", i));
        else
            ZT_TRY(zt_weights_get_f32(t->w, t->tables, 2, shape, "%s", first));
    }
    for (int i = 0; i < info->layers; i++)
        t->layers[i].table = t->tables + (per_layer ? i : 0) * size;
    return ZT_OK;
}

static zt_status t5_load(zt_t5 *t) {
    zt_t5_info *info = &t->info;
    const char *probes[] = {"token_embedding.weight", "blocks.0.attn.q.weight", "norm.weight"};
    size_t chosen;
    ZT_TRY(zt_weights_detect_naming(t->w, t5_namings, N_NAMINGS, probes, 3, &chosen));
    ZT_TRY(zt_weights_set_naming(t->w, &t5_namings[chosen]));
    info->naming = t5_namings[chosen].name;
    const char *path = zt_weights_path(t->w);
    /* ComfyUI's *_scaled fp8 files need per-tensor scales this loader does not apply */
    if (zt_weights_find(t->w, "scaled_fp8", NULL))
        return zt_fail(
            ZT_ERR_UNSUPPORTED,
            "%s: scaled fp8 weights are not supported; use the fp16, bf16 or plain fp8 file", path);

    ZT_TRY(zt_weights_get_shape(t->w, &t->emb, 2, ZT_SHAPE(-1, -1), "token_embedding.weight"));
    if (t->emb.shape[0] > INT32_MAX || t->emb.shape[1] > 65536)
        return zt_fail(ZT_ERR_INPUT, "%s: token embedding (%lld, %lld) is too large", path,
                       (long long)t->emb.shape[0], (long long)t->emb.shape[1]);
    info->vocab = (int)t->emb.shape[0];
    info->d_model = (int)t->emb.shape[1];
    ZT_TRY(zt_weights_get_shape(t->w, &t->norm, 1, ZT_SHAPE(info->d_model), "norm.weight"));

    while (info->layers < 1024 && zt_weights_has(t->w, "blocks.%d.attn.q.weight", info->layers))
        info->layers++;
    t->layers = calloc((size_t)info->layers, sizeof *t->layers);
    if (!t->layers) return zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    ZT_TRY(load_tables(t));

    /* head size and feed-forward width from layer 0; every layer is checked against them */
    zt_tensor q, gate;
    ZT_TRY(
        zt_weights_get_shape(t->w, &q, 2, ZT_SHAPE(-1, info->d_model), "blocks.0.attn.q.weight"));
    if (q.shape[0] % info->heads != 0)
        return zt_fail(ZT_ERR_INPUT,
                       "%s: attention width %lld does not split into %d heads (the relative "
                       "position table's second dim)",
                       path, (long long)q.shape[0], info->heads);
    info->d_kv = (int)(q.shape[0] / info->heads);
    ZT_TRY(zt_weights_get_shape(t->w, &gate, 2, ZT_SHAPE(-1, info->d_model),
                                "blocks.0.ffn.gate.0.weight"));
    info->d_ff = (int)gate.shape[0];
    for (int i = 0; i < info->layers; i++) ZT_TRY(load_layer(t, i));
    return ZT_OK;
}

zt_status zt_t5_open(zt_t5 **out, const char *path) {
    *out = NULL;
    zt_t5 *t = calloc(1, sizeof *t);
    if (!t) return zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    zt_status rc = zt_weights_open(&t->w, path);
    if (rc == ZT_OK) rc = t5_load(t);
    if (rc != ZT_OK) {
        zt_t5_free(t);
        return rc;
    }
    const zt_t5_info *i = &t->info;
    ZT_LOGD("%s: %s encoder, %s names, %d layers, d_model %d, %d heads of %d, d_ff %d, vocab %d",
            path, i->per_layer_bias ? "umT5" : "T5", i->naming, i->layers, i->d_model, i->heads,
            i->d_kv, i->d_ff, i->vocab);
    *out = t;
    return ZT_OK;
}

/* The tensors placement copies (malloc'd list of *n), or NULL out of memory. */
static zt_tensor **placed_tensors(zt_t5 *t, size_t *n) {
    size_t cap = 1 + (size_t)t->info.layers * 9;
    zt_tensor **list = malloc(cap * sizeof *list);
    *n = 0;
    if (!list) return NULL;
    list[(*n)++] = &t->norm; /* the token table stays on the host: embed() reads its rows */
    for (int i = 0; i < t->info.layers; i++) {
        t5_layer *ly = &t->layers[i];
        zt_tensor *ts[9] = {&ly->norm1, &ly->q,    &ly->k,   &ly->v,  &ly->o,
                            &ly->norm2, &ly->gate, &ly->fc1, &ly->fc2}; /* 9 per layer: cap */
        for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) list[(*n)++] = ts[k];
    }
    return list;
}

zt_status zt_t5_place(zt_t5 *t, zt_backend *be) {
    if (t->placed.be) return zt_fail(ZT_ERR_USAGE, "t5: weights are already placed");
    size_t n;
    zt_tensor **list = placed_tensors(t, &n);
    if (!list) return zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    zt_status s = zt_place_tensors(&t->placed, be, list, n);
    free(list);
    return s;
}

zt_status zt_t5_device_bytes(const zt_t5 *t, int64_t *bytes) {
    size_t n;
    *bytes = 0;
    zt_tensor **list = placed_tensors((zt_t5 *)t, &n); /* the list only reads them */
    if (!list) return zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    *bytes = (int64_t)zt_place_bytes(list, n);
    free(list);
    return ZT_OK;
}

void zt_t5_free(zt_t5 *t) {
    if (!t) return;
    zt_placed_free(&t->placed);
    zt_weights_close(t->w);
    free(t->layers);
    free(t->tables);
    free(t);
}

const zt_t5_info *zt_t5_get_info(const zt_t5 *t) {
    return &t->info;
}

/* ---- forward -------------------------------------------------------------------------- */

int zt_t5_bucket(int64_t rel, int buckets, int max_distance) {
    int half = buckets / 2, exact = half / 2;
    int bucket = rel > 0 ? half : 0;
    int64_t a = rel < 0 ? -rel : rel;
    if (a < exact) return bucket + (int)a;
    /* in f32 step by step as torch does, so the edges between buckets fall where
     * transformers puts them */
    float r = logf((float)a / (float)exact) / (float)log((double)max_distance / exact);
    int large = exact + (int)(r * (float)(half - exact));
    return bucket + (large < half - 1 ? large : half - 1);
}

/* rel_bias [H, 2L - 1] for zt_op_attention from a [B, H] table: entry t is the bias of
 * a key t - (L - 1) positions from its query. */
static void fill_rel_bias(float *rb, const float *table, const int32_t *bucket, int64_t l,
                          int heads) {
    int64_t m = 2 * l - 1;
    for (int h = 0; h < heads; h++)
        for (int64_t t = 0; t < m; t++) rb[h * m + t] = table[(int64_t)bucket[t] * heads + h];
}

/* Everything but the final norm, on x [L, D] holding the embeddings. bucket [2L - 1] and
 * rb [H, 2L - 1] are host memory (the attention op takes its bias from the host). */
static zt_status layers(const zt_t5 *t, zt_backend *be, zt_arena *arena, zt_tensor *x,
                        int32_t *bucket, float *rb) {
    const zt_t5_info *info = &t->info;
    int64_t l = x->shape[0], d = info->d_model, h = info->heads, k = info->d_kv;
    int64_t f = info->d_ff, m = 2 * l - 1;
    for (int64_t i = 0; i < m; i++)
        bucket[i] = zt_t5_bucket(i - (l - 1), info->buckets, info->max_distance);
    zt_attn_params ap = {.scale = 1.0f, .key_valid = NULL, .rel_bias = rb}; /* T5: unscaled */

    for (int i = 0; i < info->layers; i++) {
        const t5_layer *ly = &t->layers[i];
        if (i == 0 || info->per_layer_bias) fill_rel_bias(rb, ly->table, bucket, l, (int)h);
        zt_arena_mark mark = zt_arena_save(arena);
        zt_tensor hn, q, kk, v, a, y, g, u;
        ZT_TRY(zt_arena_tensor(arena, &hn, ZT_F32, 2, ZT_SHAPE(l, d)));
        ZT_TRY(zt_arena_tensor(arena, &q, ZT_F32, 4, ZT_SHAPE(1, l, h, k)));
        ZT_TRY(zt_arena_tensor(arena, &kk, ZT_F32, 4, ZT_SHAPE(1, l, h, k)));
        ZT_TRY(zt_arena_tensor(arena, &v, ZT_F32, 4, ZT_SHAPE(1, l, h, k)));
        ZT_TRY(zt_arena_tensor(arena, &a, ZT_F32, 4, ZT_SHAPE(1, l, h, k)));
        ZT_TRY(zt_arena_tensor(arena, &y, ZT_F32, 2, ZT_SHAPE(l, d)));
        /* the projections see the same memory as [L, I] */
        zt_tensor q2 = zt_tensor_new(ZT_F32, q.data, l, h * k);
        zt_tensor k2 = zt_tensor_new(ZT_F32, kk.data, l, h * k);
        zt_tensor v2 = zt_tensor_new(ZT_F32, v.data, l, h * k);
        zt_tensor a2 = zt_tensor_new(ZT_F32, a.data, l, h * k);

        /* self-attention */
        ZT_TRY(zt_op_rms_norm(be, &hn, x, &ly->norm1, T5_EPS)); /* [L, D] */
        ZT_TRY(zt_op_linear(be, &q2, &hn, &ly->q, NULL));       /* [L, I] */
        ZT_TRY(zt_op_linear(be, &k2, &hn, &ly->k, NULL));
        ZT_TRY(zt_op_linear(be, &v2, &hn, &ly->v, NULL));
        ZT_TRY(zt_op_attention(be, &a, &q, &kk, &v, &ap)); /* [1, L, H, K] */
        ZT_TRY(zt_op_linear(be, &y, &a2, &ly->o, NULL));   /* [L, D] */
        ZT_TRY(zt_op_add(be, x, x, &y));

        /* gated GELU feed-forward: fc2(gelu(gate(h)) * fc1(h)) */
        ZT_TRY(zt_arena_tensor(arena, &g, ZT_F32, 2, ZT_SHAPE(l, f)));
        ZT_TRY(zt_arena_tensor(arena, &u, ZT_F32, 2, ZT_SHAPE(l, f)));
        ZT_TRY(zt_op_rms_norm(be, &hn, x, &ly->norm2, T5_EPS)); /* [L, D] */
        ZT_TRY(zt_op_linear(be, &g, &hn, &ly->gate, NULL));     /* [L, F] */
        ZT_TRY(zt_op_gelu_tanh(be, &g, &g));
        ZT_TRY(zt_op_linear(be, &u, &hn, &ly->fc1, NULL)); /* [L, F] */
        ZT_TRY(zt_op_mul(be, &g, &g, &u));
        ZT_TRY(zt_op_linear(be, &y, &g, &ly->fc2, NULL)); /* [L, D] */
        ZT_TRY(zt_op_add(be, x, x, &y));
        zt_arena_restore(arena, mark);
    }
    return ZT_OK;
}

static zt_status run_layers(const zt_t5 *t, zt_backend *be, zt_arena *arena, zt_tensor *x) {
    int64_t m = 2 * x->shape[0] - 1;
    int32_t *bucket = malloc((size_t)m * sizeof *bucket);
    float *rb = malloc((size_t)(t->info.heads * m) * sizeof *rb);
    zt_status s = bucket && rb ? layers(t, be, arena, x, bucket, rb)
                               : zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    free(bucket);
    free(rb);
    return s;
}

/* The embedding rows of ids into x [L, D] (converting just those rows), on the host and
 * uploaded when x lives on a device. */
static zt_status embed(const zt_t5 *t, zt_backend *be, zt_tensor *x, const int32_t *ids,
                       int64_t n) {
    int64_t d = t->info.d_model;
    size_t row = (size_t)d * zt_dtype_size(t->emb.dtype);
    float *h = x->device ? malloc((size_t)(n * d) * sizeof *h) : x->data;
    if (!h) return zt_fail(ZT_ERR_NOMEM, "t5: out of memory");
    zt_status s = ZT_OK;
    for (int64_t i = 0; i < n && s == ZT_OK; i++) {
        if (ids[i] < 0 || ids[i] >= t->info.vocab) {
            /* a tokenizer that does not belong to this encoder: a bad pair of files */
            s = zt_fail(ZT_ERR_INPUT,
                        "t5: token id %d at position %lld is outside the vocabulary of %d",
                        (int)ids[i], (long long)i, t->info.vocab);
            break;
        }
        zt_convert_to_f32(h + i * d, (const char *)t->emb.data + ids[i] * row, t->emb.dtype, d);
    }
    if (x->device) {
        if (s == ZT_OK) s = be->upload(be, x->data, h, (size_t)(n * d) * sizeof *h);
        if (s == ZT_OK) s = be->sync(be); /* h goes now */
        free(h);
    }
    return s;
}

static zt_status encode(const zt_t5 *t, zt_backend *be, zt_arena *arena, const int32_t *ids,
                        int64_t n, zt_tensor *out) {
    zt_tensor x;
    ZT_TRY(zt_arena_tensor(arena, &x, ZT_F32, 2, ZT_SHAPE(n, t->info.d_model))); /* [L, D] */
    ZT_TRY(embed(t, be, &x, ids, n));
    ZT_TRY(run_layers(t, be, arena, &x));
    return zt_op_rms_norm(be, out, &x, &t->norm, T5_EPS);
}

static zt_status check_out(const zt_t5 *t, const zt_tensor *out, int64_t n, int padded) {
    if (n < 1 || !out || out->dtype != ZT_F32 || out->ndim != 2 || !zt_tensor_is_contiguous(out) ||
        out->shape[1] != t->info.d_model || (padded ? out->shape[0] < n : out->shape[0] != n))
        return zt_fail(ZT_ERR_USAGE,
                       "t5: output for %lld tokens should be a contiguous f32 [%s%lld, %d] tensor",
                       (long long)n, padded ? ">= " : "", (long long)n, t->info.d_model);
    return ZT_OK;
}

zt_status zt_t5_encode(const zt_t5 *t, zt_backend *be, zt_arena *arena, const int32_t *ids,
                       int64_t n, zt_tensor *out) {
    ZT_TRY(check_out(t, out, n, 0));
    zt_arena_mark mark = zt_arena_save(arena);
    zt_status rc = encode(t, be, arena, ids, n, out);
    zt_arena_restore(arena, mark);
    return rc;
}

zt_status zt_t5_encode_padded(const zt_t5 *t, zt_backend *be, zt_arena *arena, const int32_t *ids,
                              int64_t n, zt_tensor *out) {
    ZT_TRY(check_out(t, out, n, 1));
    zt_arena_mark mark = zt_arena_save(arena);
    zt_tensor y;
    zt_status rc = zt_arena_tensor(arena, &y, ZT_F32, 2, ZT_SHAPE(n, t->info.d_model));
    if (rc == ZT_OK) rc = encode(t, be, arena, ids, n, &y);
    const int64_t pad[2][2] = {{0, out->shape[0] - n}, {0, 0}};
    if (rc == ZT_OK) rc = zt_op_pad(be, out, &y, pad, 0.0f); /* [rows, D], zeros after n */
    zt_arena_restore(arena, mark);
    return rc;
}
