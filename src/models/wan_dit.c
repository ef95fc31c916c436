/* wan_dit.c - the Wan diffusion transformer as a flat list of ops per block.
 *
 * Dimensions: latents [Ci, F, H, W]; patches pt x ph x pw give a grid f x h x w of
 * N tokens (frame, row, column order); D = dim in NH heads of K; I = ffn width;
 * L text rows of T = text_dim; E = freq_dim; P = Co * pt * ph * pw head outputs per
 * token. Timesteps come in R runs of consecutive tokens sharing one value (1 run for
 * a scalar t, 2 for Wan2.2's first-frame t = 0), so modulation is per run: [R, 6, D]
 * instead of diffusers' [N, 6, D].
 *
 * Canonical names are Wan's original ones; diffusers' are rules on top (its norm2 is
 * Wan's norm3, the cross-attention norm), ComfyUI's a prefix. */
#include "wan_dit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/ops.h"
#include "../core/place.h"
#include "../core/status.h"
#include "../io/weights.h"

#define DIT_EPS        1e-6f
#define DIT_THETA      10000.0
#define DIT_HEAD_DIM   128 /* every released Wan DiT */
#define DIT_MAX_LAYERS 1024
/* The feed-forward runs over at most this many rows at a time (zt_wan_dit_set_ffn_rows):
 * its hidden layer is the largest activation (ffn = 5.8 D), whole at 480x832x81 (32760
 * rows) 1.17 GB in f32 a pass. Rows are independent: chunks change only the rounding of
 * the products (which kernel a row count picks). 8192 rows still fill a GPU's products. */
#define DIT_FFN_ROWS 8192

// clang-format off
#define ATTN_RULES(wan, hf)                                                                \
    {"blocks.{}." wan ".q.weight", "blocks.{}." hf ".to_q.weight"},                        \
    {"blocks.{}." wan ".q.bias", "blocks.{}." hf ".to_q.bias"},                            \
    {"blocks.{}." wan ".k.weight", "blocks.{}." hf ".to_k.weight"},                        \
    {"blocks.{}." wan ".k.bias", "blocks.{}." hf ".to_k.bias"},                            \
    {"blocks.{}." wan ".v.weight", "blocks.{}." hf ".to_v.weight"},                        \
    {"blocks.{}." wan ".v.bias", "blocks.{}." hf ".to_v.bias"},                            \
    {"blocks.{}." wan ".o.weight", "blocks.{}." hf ".to_out.0.weight"},                    \
    {"blocks.{}." wan ".o.bias", "blocks.{}." hf ".to_out.0.bias"},                        \
    {"blocks.{}." wan ".norm_q.weight", "blocks.{}." hf ".norm_q.weight"},                 \
    {"blocks.{}." wan ".norm_k.weight", "blocks.{}." hf ".norm_k.weight"}
/* diffusers' convert_wan_transformer_to_diffusers, inverted */
static const zt_naming_rule diffusers_rules[] = {
    {"text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight"},
    {"text_embedding.0.bias", "condition_embedder.text_embedder.linear_1.bias"},
    {"text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight"},
    {"text_embedding.2.bias", "condition_embedder.text_embedder.linear_2.bias"},
    {"time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight"},
    {"time_embedding.0.bias", "condition_embedder.time_embedder.linear_1.bias"},
    {"time_embedding.2.weight", "condition_embedder.time_embedder.linear_2.weight"},
    {"time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias"},
    {"time_projection.1.weight", "condition_embedder.time_proj.weight"},
    {"time_projection.1.bias", "condition_embedder.time_proj.bias"},
    ATTN_RULES("self_attn", "attn1"),
    ATTN_RULES("cross_attn", "attn2"),
    {"blocks.{}.cross_attn.k_img.weight", "blocks.{}.attn2.add_k_proj.weight"},
    {"blocks.{}.norm3.weight", "blocks.{}.norm2.weight"},
    {"blocks.{}.norm3.bias", "blocks.{}.norm2.bias"},
    {"blocks.{}.ffn.0.weight", "blocks.{}.ffn.net.0.proj.weight"},
    {"blocks.{}.ffn.0.bias", "blocks.{}.ffn.net.0.proj.bias"},
    {"blocks.{}.ffn.2.weight", "blocks.{}.ffn.net.2.weight"},
    {"blocks.{}.ffn.2.bias", "blocks.{}.ffn.net.2.bias"},
    {"blocks.{}.modulation", "blocks.{}.scale_shift_table"},
    {"head.head.weight", "proj_out.weight"},
    {"head.head.bias", "proj_out.bias"},
    {"head.modulation", "scale_shift_table"},
    {NULL, NULL}};
static const zt_naming dit_namings[] = {{"wan", NULL, NULL},
                                        {"diffusers", NULL, diffusers_rules},
                                        {"comfyui", "model.diffusion_model.", NULL}};
// clang-format on
#define N_NAMINGS (sizeof dit_namings / sizeof dit_namings[0])

typedef struct dit_attn {
    zt_tensor q, k, v, o;     /* [D, D] */
    zt_tensor qb, kb, vb, ob; /* [D] */
    zt_tensor norm_q, norm_k; /* [D]: RMS norms across all heads */
} dit_attn;

typedef struct dit_block {
    dit_attn self, cross;
    zt_tensor norm3_w, norm3_b; /* [D]: the cross-attention LayerNorm */
    zt_tensor ffn0, ffn0_b;     /* [I, D], [I] */
    zt_tensor ffn2, ffn2_b;     /* [D, I], [D] */
    zt_tensor modulation; /* [6, D] f32: shift, scale, gate (attn), shift, scale, gate (ffn) */
} dit_block;

struct zt_wan_dit {
    zt_weights *w;
    zt_wan_dit_info info;
    zt_tensor patch_w, patch_b; /* [D, Ci, pt, ph, pw], [D] */
    zt_tensor text0, text0_b;   /* [D, T], [D] */
    zt_tensor text2, text2_b;   /* [D, D], [D] */
    zt_tensor time0, time0_b;   /* [D, E], [D] */
    zt_tensor time2, time2_b;   /* [D, D], [D] */
    zt_tensor proj, proj_b;     /* [6D, D], [6D] */
    zt_tensor head, head_b;     /* [P, D], [P] */
    zt_tensor head_mod;         /* [2, D] f32: shift, scale */
    dit_block *blocks;
    float *tables;           /* the f32 modulation tables: [layers, 6, D] then [2, D] */
    zt_placed placed;        /* the weights' copy in a device's memory (zt_wan_dit_place) */
    struct dit_offload *off; /* zt_wan_dit_place_offload: two blocks on the device at a time */
    int64_t ffn_rows;        /* the feed-forward's chunk (zt_wan_dit_set_ffn_rows) */
    zt_dit_text_keys keys;   /* what text states hold (zt_wan_dit_set_text_keys) */
};

/* --offload: the blocks stay in host memory and take turns in two block-sized device
 * buffers: while block i runs from one, block i + 1 (after the last, the first, which the
 * next pass starts with) is copied into the other, which block i - 1 has finished with
 * (upload_ahead starts a copy after the work queued before it). A model of two blocks or
 * fewer gets one buffer, since two would hold it whole. */
typedef struct dit_offload {
    zt_backend *be;
    void *buf[2];
    int nbuf;
    size_t bytes;      /* of each buffer */
    int loaded[2];     /* the block each buffer holds (or is being copied), or -1 */
    int last;          /* the buffer the previous block ran from */
    dit_block slot[2]; /* m->blocks[loaded[k]] pointing into buf[k] */
} dit_offload;

/* ---- loading -------------------------------------------------------------------------- */

static zt_status load_linear(const zt_weights *w, zt_tensor *wt, zt_tensor *b, int64_t out,
                             int64_t in, const char *name) {
    ZT_TRY(zt_weights_get_shape(w, wt, 2, ZT_SHAPE(out, in), "%s.weight", name));
    return zt_weights_get_shape(w, b, 1, ZT_SHAPE(out), "%s.bias", name);
}

static zt_status load_attn(const zt_weights *w, dit_attn *a, int i, const char *which, int64_t d) {
    char name[128];
    const char *parts[4] = {"q", "k", "v", "o"};
    zt_tensor *wt[4] = {&a->q, &a->k, &a->v, &a->o}, *b[4] = {&a->qb, &a->kb, &a->vb, &a->ob};
    for (int p = 0; p < 4; p++) {
        snprintf(name, sizeof name, "blocks.%d.%s.%s", i, which, parts[p]);
        ZT_TRY(load_linear(w, wt[p], b[p], d, d, name));
    }
    ZT_TRY(zt_weights_get_shape(w, &a->norm_q, 1, ZT_SHAPE(d), "blocks.%d.%s.norm_q.weight", i,
                                which));
    return zt_weights_get_shape(w, &a->norm_k, 1, ZT_SHAPE(d), "blocks.%d.%s.norm_k.weight", i,
                                which);
}

static zt_status load_block(zt_wan_dit *m, int i) {
    const zt_weights *w = m->w;
    int64_t d = m->info.dim, f = m->info.ffn;
    dit_block *b = &m->blocks[i];
    char name[64];
    ZT_TRY(load_attn(w, &b->self, i, "self_attn", d));
    ZT_TRY(load_attn(w, &b->cross, i, "cross_attn", d));
    ZT_TRY(zt_weights_get_shape(w, &b->norm3_w, 1, ZT_SHAPE(d), "blocks.%d.norm3.weight", i));
    ZT_TRY(zt_weights_get_shape(w, &b->norm3_b, 1, ZT_SHAPE(d), "blocks.%d.norm3.bias", i));
    snprintf(name, sizeof name, "blocks.%d.ffn.0", i);
    ZT_TRY(load_linear(w, &b->ffn0, &b->ffn0_b, f, d, name));
    snprintf(name, sizeof name, "blocks.%d.ffn.2", i);
    ZT_TRY(load_linear(w, &b->ffn2, &b->ffn2_b, d, f, name));
    float *table = m->tables + (int64_t)i * 6 * d;
    ZT_TRY(zt_weights_get_f32(w, table, 3, ZT_SHAPE(1, 6, d), "blocks.%d.modulation", i));
    b->modulation = zt_tensor_new(ZT_F32, table, 6, d);
    return ZT_OK;
}

/* The head count: "num_heads" in a file's metadata, else heads of 128. */
static zt_status find_heads(zt_wan_dit *m) {
    zt_wan_dit_info *info = &m->info;
    const char *path = zt_weights_path(m->w), *meta = NULL;
    for (size_t i = 0; i < zt_weights_file_count(m->w); i++) {
        const zt_safetensors *st = zt_weights_file(m->w, i);
        const char *ff = st ? zt_safetensors_metadata_get(st, "zoetrope_i2v") : NULL;
        if (ff && !strcmp(ff, "first_frame")) info->first_frame = 1;
        if (st && !meta) meta = zt_safetensors_metadata_get(st, "num_heads");
    }
    if (meta) {
        char *end;
        long h = strtol(meta, &end, 10);
        if (*end || h < 1 || info->dim % h || (info->dim / h) % 2)
            return zt_fail(ZT_ERR_INPUT,
                           "%s: metadata num_heads '%s' does not split dim %d into heads of an "
                           "even size",
                           path, meta, info->dim);
        info->heads = (int)h;
    } else {
        if (info->dim % DIT_HEAD_DIM)
            return zt_fail(ZT_ERR_INPUT,
                           "%s: dim %d is not a multiple of Wan's head size %d and no num_heads "
                           "metadata says how many heads there are",
                           path, info->dim, DIT_HEAD_DIM);
        info->heads = info->dim / DIT_HEAD_DIM;
    }
    info->head_dim = info->dim / info->heads;
    return ZT_OK;
}

static zt_status dit_load(zt_wan_dit *m) {
    zt_wan_dit_info *info = &m->info;
    const zt_weights *w = m->w;
    const char *probes[] = {"patch_embedding.weight", "blocks.0.self_attn.q.weight",
                            "head.head.weight"};
    size_t chosen;
    ZT_TRY(zt_weights_detect_naming(m->w, dit_namings, N_NAMINGS, probes, 3, &chosen));
    ZT_TRY(zt_weights_set_naming(m->w, &dit_namings[chosen]));
    info->naming = dit_namings[chosen].name;
    const char *path = zt_weights_path(w);
    if (zt_weights_has(w, "blocks.0.cross_attn.k_img.weight") ||
        zt_weights_has(w, "img_emb.proj.0.weight"))
        return zt_fail(ZT_ERR_UNSUPPORTED,
                       "%s: image-conditioned (I2V) models are not supported; use a T2V or TI2V "
                       "model",
                       path);
    if (zt_weights_find(w, "scaled_fp8", NULL))
        return zt_fail(ZT_ERR_UNSUPPORTED,
                       "%s: scaled fp8 weights are not supported; use the fp16, bf16 or plain "
                       "fp8 file",
                       path);

    ZT_TRY(zt_weights_get_shape(w, &m->patch_w, 5, ZT_SHAPE(-1, -1, -1, -1, -1),
                                "patch_embedding.weight"));
    const int64_t *ps = m->patch_w.shape;
    if (ps[0] > 65536 || ps[1] > 4096 || ps[2] > 16 || ps[3] > 16 || ps[4] > 16)
        return zt_fail(ZT_ERR_INPUT,
                       "%s: patch embedding (%lld, %lld, %lld, %lld, %lld) is not "
                       "(dim, channels, patch)",
                       path, (long long)ps[0], (long long)ps[1], (long long)ps[2], (long long)ps[3],
                       (long long)ps[4]);
    info->dim = (int)ps[0];
    info->in_channels = (int)ps[1];
    for (int k = 0; k < 3; k++) info->patch[k] = (int)ps[2 + k];
    int64_t d = info->dim, patch = (int64_t)info->patch[0] * info->patch[1] * info->patch[2];
    ZT_TRY(zt_weights_get_shape(w, &m->patch_b, 1, ZT_SHAPE(d), "patch_embedding.bias"));
    ZT_TRY(find_heads(m));

    zt_tensor t0, te0, f0, hd;
    ZT_TRY(zt_weights_get_shape(w, &te0, 2, ZT_SHAPE(d, -1), "text_embedding.0.weight"));
    ZT_TRY(zt_weights_get_shape(w, &t0, 2, ZT_SHAPE(d, -1), "time_embedding.0.weight"));
    ZT_TRY(zt_weights_get_shape(w, &f0, 2, ZT_SHAPE(-1, d), "blocks.0.ffn.0.weight"));
    ZT_TRY(zt_weights_get_shape(w, &hd, 2, ZT_SHAPE(-1, d), "head.head.weight"));
    if (t0.shape[1] % 2 || hd.shape[0] % patch || f0.shape[0] > (int64_t)1 << 20 ||
        te0.shape[1] > (int64_t)1 << 20 || t0.shape[1] > 65536)
        return zt_fail(ZT_ERR_INPUT,
                       "%s: text width %lld, timestep width %lld (even), ffn %lld or head "
                       "outputs %lld (a multiple of the patch size %lld) are off",
                       path, (long long)te0.shape[1], (long long)t0.shape[1],
                       (long long)f0.shape[0], (long long)hd.shape[0], (long long)patch);
    info->text_dim = (int)te0.shape[1];
    info->freq_dim = (int)t0.shape[1];
    info->ffn = (int)f0.shape[0];
    info->out_channels = (int)(hd.shape[0] / patch);
    while (info->layers < DIT_MAX_LAYERS &&
           zt_weights_has(w, "blocks.%d.self_attn.q.weight", info->layers))
        info->layers++;

    ZT_TRY(load_linear(w, &m->text0, &m->text0_b, d, info->text_dim, "text_embedding.0"));
    ZT_TRY(load_linear(w, &m->text2, &m->text2_b, d, d, "text_embedding.2"));
    ZT_TRY(load_linear(w, &m->time0, &m->time0_b, d, info->freq_dim, "time_embedding.0"));
    ZT_TRY(load_linear(w, &m->time2, &m->time2_b, d, d, "time_embedding.2"));
    ZT_TRY(load_linear(w, &m->proj, &m->proj_b, 6 * d, d, "time_projection.1"));
    ZT_TRY(load_linear(w, &m->head, &m->head_b, hd.shape[0], d, "head.head"));

    m->blocks = calloc((size_t)info->layers, sizeof *m->blocks);
    m->tables = malloc((size_t)((6 * info->layers + 2) * d) * sizeof *m->tables);
    if (!m->blocks || !m->tables) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    float *head_mod = m->tables + (int64_t)6 * info->layers * d;
    ZT_TRY(zt_weights_get_f32(w, head_mod, 3, ZT_SHAPE(1, 2, d), "head.modulation"));
    m->head_mod = zt_tensor_new(ZT_F32, head_mod, 2, d);
    for (int i = 0; i < info->layers; i++) ZT_TRY(load_block(m, i));
    return ZT_OK;
}

zt_status zt_wan_dit_open(zt_wan_dit **out, const char *path) {
    *out = NULL;
    zt_wan_dit *m = calloc(1, sizeof *m);
    if (!m) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    m->ffn_rows = DIT_FFN_ROWS;
    zt_status rc = zt_weights_open(&m->w, path);
    if (rc == ZT_OK) rc = dit_load(m);
    if (rc != ZT_OK) {
        zt_wan_dit_free(m);
        return rc;
    }
    const zt_wan_dit_info *i = &m->info;
    ZT_LOGD("%s: Wan DiT, %s names, %d layers, dim %d in %d heads of %d, ffn %d, channels %d -> "
            "%d, text %d, patch %dx%dx%d",
            path, i->naming, i->layers, i->dim, i->heads, i->head_dim, i->ffn, i->in_channels,
            i->out_channels, i->text_dim, i->patch[0], i->patch[1], i->patch[2]);
    *out = m;
    return ZT_OK;
}

/* The 27 weight tensors of a block, in a fixed order. */
static int block_tensors(dit_block *b, zt_tensor **out) {
    int n = 0;
    dit_attn *at[2] = {&b->self, &b->cross};
    for (int j = 0; j < 2; j++) {
        zt_tensor *ts[] = {&at[j]->q,  &at[j]->k,  &at[j]->v,  &at[j]->o,      &at[j]->qb,
                           &at[j]->kb, &at[j]->vb, &at[j]->ob, &at[j]->norm_q, &at[j]->norm_k};
        for (size_t k = 0; k < 10; k++) out[n++] = ts[k];
    }
    zt_tensor *rest[] = {&b->norm3_w, &b->norm3_b, &b->ffn0,      &b->ffn0_b,
                         &b->ffn2,    &b->ffn2_b,  &b->modulation};
    for (size_t k = 0; k < 7; k++) out[n++] = rest[k];
    return n;
}

#define BLOCK_TENSORS 27
#define TOP_TENSORS   15
#define OFFLOAD_ALIGN 256

static size_t align_offload(size_t n) {
    return (n + OFFLOAD_ALIGN - 1) & ~(size_t)(OFFLOAD_ALIGN - 1);
}

/* The tensors outside the blocks, which --offload keeps on the device too. */
static int top_tensors(zt_wan_dit *m, zt_tensor **out) {
    zt_tensor *top[TOP_TENSORS] = {&m->patch_w, &m->patch_b, &m->text0,  &m->text0_b,
                                   &m->text2,   &m->text2_b, &m->time0,  &m->time0_b,
                                   &m->time2,   &m->time2_b, &m->proj,   &m->proj_b,
                                   &m->head,    &m->head_b,  &m->head_mod};
    for (int i = 0; i < TOP_TENSORS; i++) out[i] = top[i];
    return TOP_TENSORS;
}

/* --offload's device buffers, each: one block's tensors (every block has the same shapes) */
static size_t offload_bytes(const zt_wan_dit *m) {
    zt_tensor *ts[BLOCK_TENSORS];
    block_tensors((dit_block *)&m->blocks[0], ts);
    size_t bytes = 0;
    for (int k = 0; k < BLOCK_TENSORS; k++) bytes += align_offload(zt_tensor_nbytes(ts[k]));
    return bytes;
}

static int offload_buffers(const zt_wan_dit *m) {
    return m->info.layers > 2 ? 2 : 1;
}

/* Start copying block i into buffer k (upload_ahead, or where the backend lacks it
 * plain uploads in order with the work). */
static zt_status offload_fetch(const zt_wan_dit *m, int i, int k) {
    dit_offload *o = m->off;
    zt_tensor *src[BLOCK_TENSORS], *dst[BLOCK_TENSORS];
    zt_upload_part parts[BLOCK_TENSORS];
    o->loaded[k] = -1; /* until the copy is queued: a failure leaves no stale claim */
    o->slot[k] = m->blocks[i];
    block_tensors((dit_block *)&m->blocks[i], src);
    block_tensors(&o->slot[k], dst);
    size_t off = 0;
    for (int t = 0; t < BLOCK_TENSORS; t++) {
        size_t bytes = zt_tensor_nbytes(src[t]);
        dst[t]->data = (char *)o->buf[k] + off;
        dst[t]->device = o->be->device;
        parts[t] = (zt_upload_part){dst[t]->data, src[t]->data, bytes};
        off += align_offload(bytes);
    }
    zt_backend *be = o->be;
    if (be->upload_ahead)
        ZT_TRY(be->upload_ahead(be, k, parts, BLOCK_TENSORS));
    else
        for (int t = 0; t < BLOCK_TENSORS; t++)
            ZT_TRY(be->upload(be, parts[t].dst, parts[t].src, parts[t].bytes));
    o->loaded[k] = i;
    return ZT_OK;
}

/* The block to run as block i: itself, or with --offload its copy in a device buffer,
 * the next block's copy started in the other. */
static zt_status block_at(const zt_wan_dit *m, int i, const dit_block **out) {
    dit_offload *o = m->off;
    if (!o) {
        *out = &m->blocks[i];
        return ZT_OK;
    }
    int k = o->loaded[0] == i ? 0 : o->loaded[1] == i ? 1 : -1;
    if (k < 0) { /* not fetched ahead (the first block of a run): into the other buffer */
        k = (o->last + 1) % o->nbuf;
        ZT_TRY(offload_fetch(m, i, k));
    }
    if (o->be->upload_wait) ZT_TRY(o->be->upload_wait(o->be, k));
    int next = (i + 1) % m->info.layers;
    if (o->nbuf == 2 && o->loaded[k ^ 1] != next && next != i)
        ZT_TRY(offload_fetch(m, next, k ^ 1));
    o->last = k;
    *out = &o->slot[k];
    return ZT_OK;
}

zt_status zt_wan_dit_place_offload(zt_wan_dit *m, zt_backend *be) {
    if (m->placed.be || m->off) return zt_fail(ZT_ERR_USAGE, "wan dit: weights are already placed");
    if (!be->device) return ZT_OK;
    zt_tensor *top[TOP_TENSORS];
    top_tensors(m, top);
    ZT_TRY(zt_place_tensors(&m->placed, be, top, TOP_TENSORS));
    dit_offload *o = calloc(1, sizeof *o);
    if (!o) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    o->be = be;
    o->bytes = offload_bytes(m);
    o->nbuf = offload_buffers(m);
    o->loaded[0] = o->loaded[1] = -1;
    o->last = o->nbuf - 1;
    m->off = o;
    for (int k = 0; k < o->nbuf; k++) {
        zt_status s = be->alloc(be, o->bytes, &o->buf[k]);
        if (s != ZT_OK) return zt_fail_wrap(s, "wan dit: the offload buffers: ");
    }
    return ZT_OK;
}

zt_status zt_wan_dit_place(zt_wan_dit *m, zt_backend *be) {
    if (m->placed.be || m->off) return zt_fail(ZT_ERR_USAGE, "wan dit: weights are already placed");
    int layers = m->info.layers;
    size_t cap = 15 + (size_t)layers * 27, n = 0;
    zt_tensor **list = malloc(cap * sizeof *list);
    if (!list) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    n += (size_t)top_tensors(m, list);
    for (int i = 0; i < layers; i++) n += (size_t)block_tensors(&m->blocks[i], list + n);
    zt_status s = zt_place_tensors(&m->placed, be, list, n);
    free(list);
    return s;
}

int64_t zt_wan_dit_offload_staging_bytes(const zt_wan_dit *m) {
    return offload_buffers(m) * (int64_t)offload_bytes(m);
}

int64_t zt_wan_dit_device_bytes(const zt_wan_dit *m, int offload) {
    zt_wan_dit *mm = (zt_wan_dit *)m; /* the lists only read the tensors */
    zt_tensor *top[TOP_TENSORS], *ts[BLOCK_TENSORS];
    int64_t bytes = (int64_t)zt_place_bytes(top, (size_t)top_tensors(mm, top));
    if (offload) return bytes + offload_buffers(m) * (int64_t)offload_bytes(m);
    for (int i = 0; i < m->info.layers; i++)
        bytes += (int64_t)zt_place_bytes(ts, (size_t)block_tensors(&mm->blocks[i], ts));
    return bytes;
}

void zt_wan_dit_set_ffn_rows(zt_wan_dit *m, int64_t rows) {
    m->ffn_rows = rows > 0 ? rows : DIT_FFN_ROWS;
}

void zt_wan_dit_set_text_keys(zt_wan_dit *m, zt_dit_text_keys how) {
    m->keys = how;
}

void zt_wan_dit_free(zt_wan_dit *m) {
    if (!m) return;
    if (m->off) {
        zt_backend *be = m->off->be;
        if (be->sync) be->sync(be); /* a copy ahead may still be writing a buffer */
        for (int k = 0; k < m->off->nbuf; k++) be->dealloc(be, m->off->buf[k]);
        free(m->off);
    }
    zt_placed_free(&m->placed);
    zt_weights_close(m->w);
    free(m->blocks);
    free(m->tables);
    free(m);
}

const zt_wan_dit_info *zt_wan_dit_get_info(const zt_wan_dit *m) {
    return &m->info;
}

/* ---- forward -------------------------------------------------------------------------- */

static int is_f32_contig(const zt_tensor *t) {
    return t && t->dtype == ZT_F32 && zt_tensor_is_contiguous(t);
}

zt_status zt_wan_dit_embed_text(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                                const zt_tensor *ctx, zt_tensor *out) {
    int64_t d = m->info.dim, td = m->info.text_dim;
    if (!is_f32_contig(ctx) || ctx->ndim != 2 || ctx->shape[1] != td || ctx->shape[0] < 1 ||
        !is_f32_contig(out) || out->ndim != 2 || out->shape[0] != ctx->shape[0] ||
        out->shape[1] != d)
        return zt_fail(ZT_ERR_USAGE,
                       "wan dit: text embedding takes a contiguous f32 [L, %lld] context into "
                       "[L, %lld]",
                       (long long)td, (long long)d);
    int64_t l = ctx->shape[0];
    zt_arena_mark mark = zt_arena_save(arena);
    zt_tensor h;
    zt_status rc = zt_arena_tensor(arena, &h, ZT_F32, 2, ZT_SHAPE(l, d));
    if (rc == ZT_OK) rc = zt_op_linear(be, &h, ctx, &m->text0, &m->text0_b); /* [L, D] */
    if (rc == ZT_OK) rc = zt_op_gelu_tanh(be, &h, &h);
    if (rc == ZT_OK) rc = zt_op_linear(be, out, &h, &m->text2, &m->text2_b); /* [L, D] */
    zt_arena_restore(arena, mark);
    return rc;
}

/* Runs of consecutive tokens sharing a timestep: run r covers tokens [start[r],
 * start[r + 1]) at time value[r]. */
typedef struct dit_runs {
    int64_t n;
    int64_t *start; /* [n + 1] */
    double *value;  /* [n] */
    int64_t passes; /* the passes stacked in the rows (classifier-free guidance: 2) */
    int64_t tokens; /* N: rows per pass, each pass's runs the same */
} dit_runs;

/* Host memory (the arena may be a device's); free with free(r->start). */
static zt_status find_runs(dit_runs *r, float t, const float *tt, int64_t n) {
    int64_t count = 1;
    for (int64_t i = 1; tt && i < n; i++) count += tt[i] != tt[i - 1];
    r->n = count;
    r->start = malloc((size_t)(count + 1) * sizeof *r->start + (size_t)count * sizeof *r->value);
    if (!r->start) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    r->value = (double *)(r->start + count + 1);
    r->start[0] = 0;
    r->value[0] = tt ? tt[0] : t;
    for (int64_t i = 1, k = 0; tt && i < n; i++)
        if (tt[i] != tt[i - 1]) {
            r->start[++k] = i;
            r->value[k] = tt[i];
        }
    r->start[count] = n;
    r->passes = 1;
    r->tokens = n;
    return ZT_OK;
}

/* Rows [r0, r1) of a contiguous [rows, cols] f32 tensor. */
static zt_tensor rows_of(const zt_tensor *t, int64_t r0, int64_t r1) {
    int64_t cols = t->shape[t->ndim - 1];
    zt_tensor v = zt_tensor_new(ZT_F32, (float *)t->data + r0 * cols, r1 - r0, cols);
    v.device = t->device;
    return v;
}

/* Row k of run r's modulation: mod [R, S, D] -> [D]. */
static zt_tensor mod_row(const zt_tensor *mod, int64_t r, int k) {
    int64_t s = mod->shape[1], d = mod->shape[2];
    zt_tensor v = zt_tensor_new(ZT_F32, (float *)mod->data + (r * s + k) * d, d);
    v.device = mod->device;
    return v;
}

/* h = LN(x) * (1 + mod[r, scale]) + mod[r, shift] over each run's tokens, in every pass
 * (the norm is row by row, so it splits with the runs). */
static zt_status norm_modulate_runs(zt_backend *be, zt_tensor *h, const zt_tensor *x,
                                    const dit_runs *runs, const zt_tensor *mod, int shift,
                                    int scale) {
    int64_t np = runs->n == 1 ? 1 : runs->passes, span = runs->n == 1 ? runs->passes : 1;
    for (int64_t p = 0; p < np; p++)
        for (int64_t r = 0; r < runs->n; r++) {
            int64_t r0 = p * runs->tokens + runs->start[r];
            int64_t r1 = r0 + span * (runs->start[r + 1] - runs->start[r]);
            zt_tensor hr = rows_of(h, r0, r1), xr = rows_of(x, r0, r1);
            zt_tensor sh = mod_row(mod, r, shift), sc = mod_row(mod, r, scale);
            ZT_TRY(zt_op_norm_modulate(be, &hr, &xr, &sh, &sc, DIT_EPS));
        }
    return ZT_OK;
}

/* x += y * mod[r, gate] over each run's tokens, in every pass. */
static zt_status gated_add_runs(zt_backend *be, zt_tensor *x, const zt_tensor *y,
                                const dit_runs *runs, const zt_tensor *mod, int gate) {
    int64_t np = runs->n == 1 ? 1 : runs->passes, span = runs->n == 1 ? runs->passes : 1;
    for (int64_t p = 0; p < np; p++)
        for (int64_t r = 0; r < runs->n; r++) {
            int64_t r0 = p * runs->tokens + runs->start[r];
            int64_t r1 = r0 + span * (runs->start[r + 1] - runs->start[r]);
            zt_tensor xr = rows_of(x, r0, r1), yr = rows_of(y, r0, r1);
            zt_tensor g = mod_row(mod, r, gate);
            ZT_TRY(zt_op_gated_add(be, &xr, &yr, &g));
        }
    return ZT_OK;
}

/* Wan's sinusoidal_embedding_1d in float64, [cos | sin] into st [R, E], computed on
 * the host and uploaded when st lives on a device. */
static zt_status timestep_embedding(zt_backend *be, zt_tensor *st, const dit_runs *runs, int e) {
    int half = e / 2;
    size_t bytes = zt_tensor_nbytes(st);
    float *s = st->device ? malloc(bytes) : st->data;
    if (!s) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    for (int64_t r = 0; r < runs->n; r++)
        for (int i = 0; i < half; i++) {
            double a = runs->value[r] * pow(DIT_THETA, -(double)i / half);
            s[r * e + i] = (float)cos(a);
            s[r * e + half + i] = (float)sin(a);
        }
    if (!st->device) return ZT_OK;
    zt_status rc = be->upload(be, st->data, s, bytes);
    free(s);
    return rc;
}

/* Scratch shared by every block. */
typedef struct dit_scratch {
    zt_tensor hn, y;      /* [B N, D]: B passes' rows one after the other; y in q's memory */
    zt_tensor q, k, v, o; /* [B, N, NH, K]; o in hn's memory */
    zt_tensor g;          /* [<= ffn_rows, I]: one chunk's hidden layer, in k and v if it fits */
    zt_tensor mod;        /* [R, 6, D] */
} dit_scratch;

/* A [B rows, D] view of a [B, rows, NH, K] tensor, for the projections. */
static zt_tensor flat(const zt_tensor *t) {
    zt_tensor v = zt_tensor_new(ZT_F32, t->data, t->shape[0] * t->shape[1],
                                t->shape[2] * t->shape[3]);
    v.device = t->device;
    return v;
}

/* Pass p of a [B, N, NH, K] tensor: [1, N, NH, K]. */
static zt_tensor pass_of(const zt_tensor *t, int64_t p) {
    int64_t per = t->shape[1] * t->shape[2] * t->shape[3];
    zt_tensor v = zt_tensor_new(ZT_F32, (float *)t->data + p * per, 1, t->shape[1], t->shape[2],
                                t->shape[3]);
    v.device = t->device;
    return v;
}

/* The cross-attention keys (RMS-normed) and values of the text for one block: ck, cv
 * [1, L, NH, K]. */
static zt_status cross_kv(zt_backend *be, const dit_block *b, const zt_tensor *text, zt_tensor *ck4,
                          zt_tensor *cv4) {
    zt_tensor ck = flat(ck4), cv = flat(cv4);
    ZT_TRY(zt_op_linear(be, &ck, text, &b->cross.k, &b->cross.kb)); /* [L, D] */
    ZT_TRY(zt_op_rms_norm(be, &ck, &ck, &b->cross.norm_k, DIT_EPS));
    return zt_op_linear(be, &cv, text, &b->cross.v, &b->cross.vb);
}

/* Pass p reads the keys and values ck[p], cv[p] with cap[p]: projected here from
 * text[p], or where that is NULL, already there (a kept text state's). */
static zt_status run_block(zt_backend *be, const dit_block *b, zt_tensor *x,
                           const zt_tensor *const *text, zt_tensor *ck, zt_tensor *cv,
                           const zt_tensor *e0, const dit_runs *runs, const zt_rope_params *rp,
                           const zt_attn_params *ap, const zt_attn_params *cap, dit_scratch *s) {
    zt_tensor q = flat(&s->q), k = flat(&s->k), v = flat(&s->v), o = flat(&s->o);
    ZT_TRY(zt_op_add(be, &s->mod, e0, &b->modulation)); /* [R, 6, D] */

    /* self-attention: x += gate * attn(LN(x) * (1 + scale) + shift) */
    ZT_TRY(norm_modulate_runs(be, &s->hn, x, runs, &s->mod, 0, 1)); /* [N, D] */
    zt_tensor *qkv[3] = {&q, &k, &v}; /* [N, D] each */
    const zt_tensor *wqkv[3] = {&b->self.q, &b->self.k, &b->self.v};
    const zt_tensor *bqkv[3] = {&b->self.qb, &b->self.kb, &b->self.vb};
    ZT_TRY(zt_op_linears(be, 3, qkv, &s->hn, wqkv, bqkv));
    ZT_TRY(zt_op_rms_norm(be, &q, &q, &b->self.norm_q, DIT_EPS));
    ZT_TRY(zt_op_rms_norm(be, &k, &k, &b->self.norm_k, DIT_EPS));
    ZT_TRY(zt_op_rope3d(be, &s->q, rp)); /* [B, N, NH, K] */
    ZT_TRY(zt_op_rope3d(be, &s->k, rp));
    ZT_TRY(zt_op_attention(be, &s->o, &s->q, &s->k, &s->v, ap));
    ZT_TRY(zt_op_linear(be, &s->y, &o, &b->self.o, &b->self.ob)); /* [B N, D] */
    ZT_TRY(gated_add_runs(be, x, &s->y, runs, &s->mod, 2));

    /* cross-attention to the text: x += attn(LN3(x), text), no modulation */
    ZT_TRY(zt_op_layer_norm(be, &s->hn, x, &b->norm3_w, &b->norm3_b, DIT_EPS));
    ZT_TRY(zt_op_linear(be, &q, &s->hn, &b->cross.q, &b->cross.qb)); /* [B N, D] */
    ZT_TRY(zt_op_rms_norm(be, &q, &q, &b->cross.norm_q, DIT_EPS));
    for (int64_t p = 0; p < runs->passes; p++) { /* each pass its own text */
        zt_tensor op = pass_of(&s->o, p), qp = pass_of(&s->q, p);
        if (text[p]) ZT_TRY(cross_kv(be, b, text[p], &ck[p], &cv[p])); /* [1, Lk, NH, K] */
        ZT_TRY(zt_op_attention(be, &op, &qp, &ck[p], &cv[p], &cap[p])); /* [1, N, NH, K] */
    }
    ZT_TRY(zt_op_linear(be, &s->y, &o, &b->cross.o, &b->cross.ob)); /* [B N, D] */
    ZT_TRY(zt_op_add(be, x, x, &s->y));

    /* feed-forward: x += gate * ffn(LN(x) * (1 + scale) + shift) */
    ZT_TRY(norm_modulate_runs(be, &s->hn, x, runs, &s->mod, 3, 4));
    int64_t rows = s->hn.shape[0], step = s->g.shape[0];
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
        int64_t r1 = r0 + step < rows ? r0 + step : rows;
        zt_tensor hc = rows_of(&s->hn, r0, r1), yc = rows_of(&s->y, r0, r1);
        zt_tensor gc = rows_of(&s->g, 0, r1 - r0);
        ZT_TRY(zt_op_ffn_gelu(be, &yc, &hc, &gc, &b->ffn0, &b->ffn0_b, &b->ffn2,
                              &b->ffn2_b)); /* hidden [rows, I], y [rows, D] */
    }
    return gated_add_runs(be, x, &s->y, runs, &s->mod, 5);
}

/* A 5-D f32 view with the given strides (elements). */
static zt_tensor view5(float *data, int device, const int64_t shape[5], const int64_t stride[5]) {
    zt_tensor t = {.dtype = ZT_F32, .ndim = 5, .data = data, .device = device};
    memcpy(t.shape, shape, 5 * sizeof *shape);
    memcpy(t.stride, stride, 5 * sizeof *stride);
    return t;
}

/* Head output [N, P] (columns (kt, kh, kw, c), c fastest) into v [Co, F, H, W], one
 * latent frame at a time so that each view fits in five dims. */
static zt_status unpatchify(zt_backend *be, zt_tensor *v, const zt_tensor *out,
                            const int64_t grid[3], const int patch[3]) {
    int64_t co = v->shape[0], fr = v->shape[1], hh = v->shape[2], ww = v->shape[3];
    int64_t h = grid[1], w = grid[2], ph = patch[1], pw = patch[2], p = out->shape[1];
    const int64_t shape[5] = {co, h, ph, w, pw};
    const int64_t from[5] = {1, w * p, pw * co, p, co};
    const int64_t to[5] = {fr * hh * ww, ph * ww, ww, pw, 1};
    for (int64_t f = 0; f < grid[0]; f++)
        for (int64_t kt = 0; kt < patch[0]; kt++) {
            float *s = (float *)out->data + f * h * w * p + kt * ph * pw * co;
            float *d = (float *)v->data + (f * patch[0] + kt) * hh * ww;
            zt_tensor src = view5(s, out->device, shape, from);
            zt_tensor dst = view5(d, v->device, shape, to);
            ZT_TRY(zt_op_copy(be, &dst, &src)); /* [Co, h, ph, w, pw] */
        }
    return ZT_OK;
}

struct zt_wan_dit_text {
    zt_backend *be; /* owns data */
    const zt_wan_dit *m;
    int64_t l;
    int64_t lk;  /* keys the cross-attention reads: l, or fewer with the padding folded */
    float *bias; /* NULL, or [lk] logit bias: log n on the row that stands for n */
    int device;
    int kept;    /* data: 1, each block's keys and values; 0, the text they come from */
    float *data; /* kept: [layers, 2, lk, D], each block's keys, then values; else [lk, D] */
};

/* Rows [0, lk) of the text a state projects in every forward pass: [lk, D]. */
static zt_tensor text_rows(const zt_wan_dit_text *ts) {
    zt_tensor v = zt_tensor_new(ZT_F32, ts->data, ts->lk, ts->m->info.dim);
    v.device = ts->device;
    return v;
}

/* Block i's keys (which 0) or values (1) in a kept state: [1, lk, NH, K]. */
static zt_tensor text_kv(const zt_wan_dit_text *ts, int i, int which) {
    const zt_wan_dit_info *info = &ts->m->info;
    int64_t ld = ts->lk * info->dim;
    zt_tensor v = zt_tensor_new(ZT_F32, ts->data + ((int64_t)i * 2 + which) * ld, 1, ts->lk,
                                info->heads, info->head_dim);
    v.device = ts->device;
    return v;
}

/* text (embedded context, one pass) or ts[runs->passes] (each pass's per-block keys
 * and values): the passes share the latents and timesteps, differ in their text, and
 * run as one batch of B = runs->passes, velocity p into vout[p]. */
static zt_status forward(const zt_wan_dit *m, zt_backend *be, zt_arena *arena, const zt_tensor *xin,
                         const dit_runs *runs, const zt_tensor *text,
                         const zt_wan_dit_text *const *ts, zt_tensor *vout) {
    const zt_wan_dit_info *info = &m->info;
    const int *pt = info->patch;
    int64_t d = info->dim, nh = info->heads, kd = info->head_dim, e = info->freq_dim;
    int64_t ci = info->in_channels, b = runs->passes;
    int64_t grid[3] = {xin->shape[1] / pt[0], xin->shape[2] / pt[1], xin->shape[3] / pt[2]};
    int64_t n = grid[0] * grid[1] * grid[2];
    int64_t p = (int64_t)info->out_channels * pt[0] * pt[1] * pt[2];

    /* patch embedding: Conv3d with kernel = stride = patch, then [D, N] -> [N, D] */
    zt_tensor x, conv;
    ZT_TRY(zt_arena_tensor(arena, &x, ZT_F32, 2, ZT_SHAPE(b * n, d))); /* the residual stream */
    zt_arena_mark mark = zt_arena_save(arena);
    ZT_TRY(zt_arena_tensor(arena, &conv, ZT_F32, 5, ZT_SHAPE(1, d, grid[0], grid[1], grid[2])));
    zt_tensor x5 =
        zt_tensor_new(ZT_F32, xin->data, 1, ci, xin->shape[1], xin->shape[2], xin->shape[3]);
    x5.device = xin->device;
    zt_conv_params cp = {.stride = {pt[0], pt[1], pt[2]}};
    ZT_TRY(zt_op_conv3d(be, &conv, &x5, &m->patch_w, &m->patch_b, &cp)); /* [1, D, f, h, w] */
    zt_tensor tokens = {.dtype = ZT_F32,
                        .ndim = 2,
                        .device = conv.device,
                        .shape = {n, d},
                        .stride = {1, n},
                        .data = conv.data};
    for (int64_t i = 0; i < b; i++) { /* every pass starts from the same tokens */
        zt_tensor xi = rows_of(&x, i * n, (i + 1) * n);
        ZT_TRY(zt_op_copy(be, &xi, &tokens)); /* [N, D] */
    }
    zt_arena_restore(arena, mark);

    /* time: e [R, D] = time_embedding(sinusoid), e0 [R, 6, D] = time_projection(e) */
    int64_t r = runs->n;
    zt_tensor sin_t, e1, emb, se, e0;
    ZT_TRY(zt_arena_tensor(arena, &sin_t, ZT_F32, 2, ZT_SHAPE(r, e)));
    ZT_TRY(zt_arena_tensor(arena, &e1, ZT_F32, 2, ZT_SHAPE(r, d)));
    ZT_TRY(zt_arena_tensor(arena, &emb, ZT_F32, 2, ZT_SHAPE(r, d)));
    ZT_TRY(zt_arena_tensor(arena, &se, ZT_F32, 2, ZT_SHAPE(r, d)));
    ZT_TRY(zt_arena_tensor(arena, &e0, ZT_F32, 2, ZT_SHAPE(r, 6 * d)));
    ZT_TRY(timestep_embedding(be, &sin_t, runs, (int)e));          /* [R, E] */
    ZT_TRY(zt_op_linear(be, &e1, &sin_t, &m->time0, &m->time0_b)); /* [R, D] */
    ZT_TRY(zt_op_silu(be, &e1, &e1));
    ZT_TRY(zt_op_linear(be, &emb, &e1, &m->time2, &m->time2_b)); /* [R, D]: e */
    ZT_TRY(zt_op_silu(be, &se, &emb));
    ZT_TRY(zt_op_linear(be, &e0, &se, &m->proj, &m->proj_b)); /* [R, 6D]: e0 */
    zt_tensor e0v = zt_tensor_new(ZT_F32, e0.data, r, 6, d);
    e0v.device = e0.device;

    /* blocks */
    /* Buffers share memory where their lives do not overlap (run_block's order): o lives
     * in hn, y in q (each written after the attention that last reads q), the hidden layer
     * in k and v when it fits there (the feed-forward comes after both attentions). */
    dit_scratch s = {0};
    zt_tensor kv;
    ZT_TRY(zt_arena_tensor(arena, &s.hn, ZT_F32, 2, ZT_SHAPE(b * n, d)));
    ZT_TRY(zt_arena_tensor(arena, &s.q, ZT_F32, 4, ZT_SHAPE(b, n, nh, kd)));
    ZT_TRY(zt_arena_tensor(arena, &kv, ZT_F32, 5, ZT_SHAPE(2, b, n, nh, kd)));
    s.k = zt_tensor_new(ZT_F32, kv.data, b, n, nh, kd);
    s.v = zt_tensor_new(ZT_F32, (float *)kv.data + b * n * d, b, n, nh, kd);
    s.o = zt_tensor_new(ZT_F32, s.hn.data, b, n, nh, kd);
    s.y = zt_tensor_new(ZT_F32, s.q.data, b * n, d);
    s.k.device = s.v.device = s.o.device = s.y.device = kv.device;
    /* pass p's text: projected in every block into keys and values here (a few MB), or
     * a kept state's, read where they are */
    const zt_tensor *tx[2] = {NULL, NULL};
    zt_tensor rows[2], pk[2], pv[2];
    for (int64_t j = 0; j < b; j++) {
        if (!text && ts[j]->kept) continue;
        rows[j] = text ? *text : text_rows(ts[j]);
        tx[j] = &rows[j];
        int64_t lk = rows[j].shape[0];
        ZT_TRY(zt_arena_tensor(arena, &pk[j], ZT_F32, 4, ZT_SHAPE(1, lk, nh, kd)));
        ZT_TRY(zt_arena_tensor(arena, &pv[j], ZT_F32, 4, ZT_SHAPE(1, lk, nh, kd)));
    }
    /* the feed-forward's chunks: of equal size, at most ffn_rows, past 64 a multiple of 64 */
    int64_t limit = m->ffn_rows;
    int64_t chunks = (b * n + limit - 1) / limit;
    int64_t g_rows = (b * n + chunks - 1) / chunks;
    if (chunks > 1 && g_rows > 64 && (g_rows + 63) / 64 * 64 <= limit)
        g_rows = (g_rows + 63) / 64 * 64;
    if (g_rows * info->ffn <= 2 * b * n * d) {
        s.g = zt_tensor_new(ZT_F32, kv.data, g_rows, info->ffn);
        s.g.device = kv.device;
    } else {
        ZT_TRY(zt_arena_tensor(arena, &s.g, ZT_F32, 2, ZT_SHAPE(g_rows, info->ffn)));
    }
    ZT_TRY(zt_arena_tensor(arena, &s.mod, ZT_F32, 3, ZT_SHAPE(r, 6, d)));
    /* the head dim's pairs split over (frame, row, column) as c - 2(c/3), c/3, c/3 */
    int c = (int)kd / 2;
    zt_rope_params rp = {.grid = {grid[0], grid[1], grid[2]},
                         .pairs = {c - 2 * (c / 3), c / 3, c / 3},
                         .theta = DIT_THETA};
    zt_attn_params ap = {.scale = (float)(1.0 / sqrt((double)kd))};
    zt_attn_params cap[2] = {ap, ap}; /* the cross-attention's, with the padding's bias */
    for (int64_t i = 0; !text && i < b; i++) cap[i].key_bias = ts[i]->bias;
    for (int i = 0; i < info->layers; i++) {
        zt_tensor ck[2], cv[2];
        for (int64_t j = 0; j < b; j++) {
            ck[j] = tx[j] ? pk[j] : text_kv(ts[j], i, 0);
            cv[j] = tx[j] ? pv[j] : text_kv(ts[j], i, 1);
        }
        const dit_block *blk;
        ZT_TRY(block_at(m, i, &blk));
        ZT_TRY(run_block(be, blk, &x, tx, ck, cv, &e0v, runs, &rp, &ap, cap, &s));
    }

    /* head: modulation from e (before the projection), then unpatchify */
    zt_tensor hmod, out;
    zt_tensor ev = zt_tensor_new(ZT_F32, emb.data, r, 1, d);
    ev.device = emb.device;
    ZT_TRY(zt_arena_tensor(arena, &hmod, ZT_F32, 3, ZT_SHAPE(r, 2, d)));
    ZT_TRY(zt_arena_tensor(arena, &out, ZT_F32, 2, ZT_SHAPE(b * n, p)));
    ZT_TRY(zt_op_add(be, &hmod, &ev, &m->head_mod)); /* [R, 2, D] */
    ZT_TRY(norm_modulate_runs(be, &s.hn, &x, runs, &hmod, 0, 1));
    ZT_TRY(zt_op_linear(be, &out, &s.hn, &m->head, &m->head_b)); /* [B N, P] */
    for (int64_t i = 0; i < b; i++) {
        zt_tensor oi = rows_of(&out, i * n, (i + 1) * n);
        ZT_TRY(unpatchify(be, &vout[i], &oi, grid, pt));
    }
    return ZT_OK;
}

/* Latent tokens of x [C, F, H, W]: the patch grid's size. */
static int64_t tokens_of(const zt_wan_dit *m, const zt_tensor *x) {
    const int *pt = m->info.patch;
    return x->shape[1] / pt[0] * (x->shape[2] / pt[1]) * (x->shape[3] / pt[2]);
}

/* forward with the runs of t / t_tokens over the latents' tokens, as one batch of
 * `passes` passes (with text: 1) */
static zt_status forward_at(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                            const zt_tensor *x, float t, const float *t_tokens,
                            const zt_tensor *text, const zt_wan_dit_text *const *ts, int passes,
                            zt_tensor *v) {
    dit_runs runs;
    ZT_TRY(find_runs(&runs, t, t_tokens, tokens_of(m, x)));
    runs.passes = passes;
    zt_arena_mark mark = zt_arena_save(arena);
    zt_status rc = forward(m, be, arena, x, &runs, text, ts, v);
    zt_arena_restore(arena, mark);
    free(runs.start);
    return rc;
}

static zt_status check_latents(const zt_wan_dit_info *info, const zt_tensor *x,
                               const zt_tensor *v) {
    const int *pt = info->patch;
    if (!is_f32_contig(x) || x->ndim != 4 || x->shape[0] != info->in_channels || x->shape[1] < 1 ||
        x->shape[2] < 1 || x->shape[3] < 1 || x->shape[1] % pt[0] || x->shape[2] % pt[1] ||
        x->shape[3] % pt[2])
        return zt_fail(ZT_ERR_USAGE,
                       "wan dit: latents should be a contiguous f32 [%d, F, H, W] tensor with "
                       "F, H, W multiples of %d, %d, %d",
                       info->in_channels, pt[0], pt[1], pt[2]);
    if (!is_f32_contig(v) || v->ndim != 4 || v->shape[0] != info->out_channels ||
        v->shape[1] != x->shape[1] || v->shape[2] != x->shape[2] || v->shape[3] != x->shape[3] ||
        v->data == x->data)
        return zt_fail(ZT_ERR_USAGE,
                       "wan dit: the velocity should be a contiguous f32 [%d, %lld, %lld, %lld] "
                       "tensor apart from the latents",
                       info->out_channels, (long long)x->shape[1], (long long)x->shape[2],
                       (long long)x->shape[3]);
    return ZT_OK;
}

static zt_status check_text(const zt_wan_dit_info *info, const zt_tensor *text) {
    if (!is_f32_contig(text) || text->ndim != 2 || text->shape[0] < 1 ||
        text->shape[1] != info->dim)
        return zt_fail(ZT_ERR_USAGE,
                       "wan dit: the text should be a contiguous f32 [L, %d] tensor from "
                       "zt_wan_dit_embed_text",
                       info->dim);
    return ZT_OK;
}

zt_status zt_wan_dit_forward(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                             const zt_tensor *x, float t, const float *t_tokens,
                             const zt_tensor *text, zt_tensor *v) {
    ZT_TRY(check_latents(&m->info, x, v));
    ZT_TRY(check_text(&m->info, text));
    return forward_at(m, be, arena, x, t, t_tokens, text, NULL, 1, v);
}

/* Wan pads every prompt's states to 512 rows of zeros, so the embedded text ends in many
 * copies of one row, and its keys and values are one row's many times over: n equal keys
 * weigh in a softmax exactly as one whose logit carries log n. Where the backend takes a
 * per-key bias (attn_key_bias: the CPU's) the cross-attention then reads the prompt's
 * rows and one more: 512 keys -> about 20 for a short prompt, a third of a small model's
 * step. The copies agree to rounding only (BLAS tiles rows), so rows count as copies of
 * the last when they differ from it by at most 1e-5 of its largest value; the fold then
 * changes the output by rounding alone. The state then holds keys and values for those
 * rows alone (a short prompt's: a few MB on Wan2.1-1.3B instead of 189).
 * Elsewhere (the GPU, the plan's null backend) the text is not read here and all its
 * rows are keys. */
static zt_status fold_padding(zt_wan_dit_text *ts, const zt_tensor *text) {
    if (!ts->be->attn_key_bias || ts->l < 3) return ZT_OK;
    int64_t l = ts->l, d = text->shape[1], first = l - 1; /* first row of the equal tail */
    const float *t = text->data, *last = t + (l - 1) * d;
    float big = 0;
    for (int64_t c = 0; c < d; c++) big = fmaxf(big, fabsf(last[c]));
    float tol = 1e-5f * big;
    while (first > 0) {
        const float *r = t + (first - 1) * d;
        int64_t c = 0;
        while (c < d && fabsf(r[c] - last[c]) <= tol) c++;
        if (c < d) break;
        first--;
    }
    int64_t n = l - first; /* rows equal to the last, the last included */
    if (n < 2) return ZT_OK;
    ts->lk = first + 1;
    ts->bias = calloc((size_t)ts->lk, sizeof(float));
    if (!ts->bias) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    ts->bias[first] = logf((float)n);
    ZT_LOGD("wan dit: %lld text rows, the last %lld folded into one", (long long)l, (long long)n);
    return ZT_OK;
}

/* Whether a text state on be keeps every block's keys and values. On the host they are
 * computed once: two [L, D] x [D, D] products a block saved per call (at 17 frames of
 * 128x128, a sixth of the pass). On a GPU, where passes are long, they are projected
 * again in each one instead: on Wan2.1-1.3B at 480x832x81, 145 GFLOP against the pass's
 * ~280 TFLOP, while keeping them would hold 189 MB a prompt (30 blocks, 2 x 512 x 1536
 * floats each), with both prompts 9% of the denoiser's GPU memory. */
static int keeps_keys(const zt_wan_dit *m, const zt_backend *be) {
    if (m->keys != ZT_DIT_TEXT_AUTO) return m->keys == ZT_DIT_TEXT_KEEP;
    return !be->device;
}

zt_status zt_wan_dit_text_init(zt_wan_dit_text **out, const zt_wan_dit *m, zt_backend *be,
                               const zt_tensor *text) {
    *out = NULL;
    const zt_wan_dit_info *info = &m->info;
    ZT_TRY(check_text(info, text));
    zt_wan_dit_text *ts = calloc(1, sizeof *ts);
    if (!ts) return zt_fail(ZT_ERR_NOMEM, "wan dit: out of memory");
    ts->be = be;
    ts->m = m;
    ts->l = ts->lk = text->shape[0];
    ts->device = text->device;
    ts->kept = keeps_keys(m, be);
    zt_status rc = fold_padding(ts, text);
    int64_t rows = ts->kept ? 2 * (int64_t)info->layers * ts->lk : ts->lk;
    zt_tensor src = rows_of(text, 0, ts->lk); /* the rows the keys come from */
    size_t bytes = (size_t)(rows * info->dim) * sizeof(float);
    if (rc == ZT_OK) rc = be->alloc(be, bytes, (void **)&ts->data);
    for (int i = 0; ts->kept && i < info->layers && rc == ZT_OK; i++) {
        zt_tensor ck = text_kv(ts, i, 0), cv = text_kv(ts, i, 1);
        const dit_block *b;
        rc = block_at(m, i, &b);
        if (rc == ZT_OK) rc = cross_kv(be, b, &src, &ck, &cv);
    }
    if (rc == ZT_OK && !ts->kept) {
        zt_tensor dst = text_rows(ts);
        rc = zt_op_copy(be, &dst, &src); /* [lk, D] */
    }
    if (rc != ZT_OK) {
        zt_wan_dit_text_free(ts);
        return rc;
    }
    *out = ts;
    return ZT_OK;
}

int64_t zt_wan_dit_text_keys(const zt_wan_dit_text *ts) {
    return ts ? ts->lk : 0;
}

void zt_wan_dit_text_free(zt_wan_dit_text *ts) {
    if (!ts) return;
    free(ts->bias);
    if (ts->data) ts->be->dealloc(ts->be, ts->data);
    free(ts);
}

zt_status zt_wan_dit_forward_text(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *x, float t, const float *t_tokens,
                                  const zt_wan_dit_text *ts, zt_tensor *v) {
    ZT_TRY(check_latents(&m->info, x, v));
    if (!ts || ts->m != m)
        return zt_fail(ZT_ERR_USAGE, "wan dit: the text state was made for another model");
    return forward_at(m, be, arena, x, t, t_tokens, NULL, &ts, 1, v);
}

/* Batching pays where a pass is many small ops: zoetrope-tiny's 320 tokens of 128 give
 * each op a few hundred rows, where dispatching to the threads and packing the weights
 * weigh as much as the arithmetic; as one batch of two its 40 passes took 0.22-0.23 s
 * instead of 0.30-0.32 s (Zen 5, 2 threads). Past this many activations a pass's GEMMs
 * run near peak on their own, and a batch would only double the working memory (Wan2.1
 * 1.3B at 480x832x81: 2.5 GB more). On a device the passes stay apart (not measured
 * there). */
#define DIT_PAIR_MAX_ELEMS ((int64_t)1 << 20)

int zt_wan_dit_pairs(const zt_wan_dit *m, int device, int64_t tokens) {
    return !device && tokens * m->info.dim <= DIT_PAIR_MAX_ELEMS;
}

zt_status zt_wan_dit_forward_pair(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *x, float t, const float *t_tokens,
                                  const zt_wan_dit_text *const ts[2], zt_tensor v[2]) {
    for (int i = 0; i < 2; i++) {
        ZT_TRY(check_latents(&m->info, x, &v[i]));
        if (!ts[i] || ts[i]->m != m)
            return zt_fail(ZT_ERR_USAGE, "wan dit: the text state was made for another model");
    }
    if (zt_wan_dit_pairs(m, be->device, tokens_of(m, x)))
        return forward_at(m, be, arena, x, t, t_tokens, NULL, ts, 2, v);
    for (int i = 0; i < 2; i++)
        ZT_TRY(forward_at(m, be, arena, x, t, t_tokens, NULL, &ts[i], 1, &v[i]));
    return ZT_OK;
}
