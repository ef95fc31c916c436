/* wan_vae.c - the Wan2.1 and Wan2.2 video VAEs, chunk by chunk.
 *
 * Layout: activations are [1, C, T, H, W] f32 (N = 1), as in the reference, so a 2D
 * convolution over each frame is a conv3d with a 1-frame kernel and per-frame
 * attention reads one strided frame at a time.
 *
 * Causal caches: the reference keeps, per causal convolution, the last two frames of
 * its input and puts them in front of the next chunk (zero frames before the start).
 * Here each such convolution owns a [1, C, 2, H, W] slot, zeroed at first use; the
 * conv runs on cat(slot, x) without temporal padding and the slot takes the last two
 * frames of that concatenation, which is the reference's rule in all cases (a chunk
 * of one frame keeps the previous chunk's last frame). Two convolutions differ:
 *  - upsample3d's time_conv is skipped on the first chunk (one latent frame gives one
 *    frame) and starts from zeros on the second;
 *  - downsample3d's time_conv (stride 2, no padding) keeps one frame: the first chunk
 *    only stores its frame, later chunks run on cat(last frame, x).
 * Slots are visited in a fixed order every chunk (the reference's feat_idx), so slot i
 * always belongs to the same convolution.
 *
 * Memory: a chunk's layers run as x = f(x) with zt_arena_keep after each, so the
 * arena holds one layer's input, output and temporaries at a time. */
#include "wan_vae.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/ops.h"
#include "../core/place.h"
#include "../core/status.h"

#define VAE_MAX_STAGES 4
#define VAE_MAX_RES 3
#define VAE_NAME 160

/* Wan's per-channel latent statistics (Wan2.1 vae.py, Wan2.2 vae2_2.py). */
static const float wan21_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                     -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                     -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float wan21_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                    2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                    1.6382f, 1.1253f, 2.8251f, 1.9160f};
static const float wan22_mean[48] = {
    -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f,  0.1838f,  0.1557f,
    -0.1382f, 0.0542f,  0.2813f,  0.0891f,  0.1570f,  -0.0098f, 0.0375f,  -0.1825f,
    -0.2246f, -0.1207f, -0.0698f, 0.5109f,  0.2665f,  -0.2108f, -0.2158f, 0.2502f,
    -0.2055f, -0.0322f, 0.1109f,  0.1567f,  -0.0729f, 0.0899f,  -0.2799f, -0.1230f,
    -0.0313f, -0.1649f, 0.0117f,  0.0723f,  -0.2839f, -0.2083f, -0.0520f, 0.3748f,
    0.0152f,  0.1957f,  0.1433f,  -0.2944f, 0.3573f,  -0.0548f, -0.1681f, -0.0667f};
static const float wan22_std[48] = {
    0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f, 0.8158f, 1.0344f,
    0.5894f, 1.0901f, 0.6885f, 0.6165f, 0.8454f, 0.4978f, 0.5759f, 0.3523f, 0.7135f, 0.6804f,
    0.5833f, 1.4146f, 0.8986f, 0.5659f, 0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f,
    0.6866f, 0.4093f, 0.5709f, 0.6065f, 0.6415f, 0.4944f, 0.5726f, 1.2042f, 0.5458f, 1.6887f,
    0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f};

/* ---- model ---------------------------------------------------------------------------- */

typedef struct vae_conv {
    zt_tensor w;            /* [Cout, Cin, kt, kh, kw] (2D convs viewed with kt = 1) */
    zt_tensor b;            /* [Cout] */
    int64_t cin, cout, kt, kh, kw;
    int slot; /* its cache slot in a stream; -1: none (no temporal kernel) */
} vae_conv;

typedef struct vae_res {
    zt_tensor g1, g2; /* RMS norm gammas [Cin], [Cout] */
    vae_conv c1, c2, sc;
    int has_sc;
} vae_res;

typedef struct vae_attn {
    zt_tensor g;                  /* [C] */
    zt_tensor wqkv, bqkv, wp, bp; /* [3C, C], [3C], [C, C], [C] */
    int64_t c;
} vae_attn;

typedef enum { RS_NONE, RS_UP2D, RS_UP3D, RS_DOWN2D, RS_DOWN3D } rs_mode;

typedef struct vae_stage {
    int n_res;
    vae_res res[VAE_MAX_RES];
    rs_mode rs;
    vae_conv rs_conv, rs_time;
    /* Wan2.2's parameter-free shortcut: AvgDown3D (encoder) / DupUp3D (decoder) */
    int has_short;
    int ft, fs;
    int64_t cin, cout;
} vae_stage;

typedef struct vae_coder {
    vae_conv conv_in;
    vae_res mid0, mid1;
    vae_attn attn;
    int n_stages;
    vae_stage st[VAE_MAX_STAGES];
    zt_tensor head_g;
    vae_conv head;
    int n_slots; /* cache slots: one per convolution with a temporal kernel */
} vae_coder;

struct zt_wan_vae {
    zt_weights *w;
    zt_naming naming;
    zt_naming_rule *rules;
    char **strs;
    size_t n_strs;
    zt_wan_vae_info info;
    vae_coder enc, dec;
    vae_conv quant, post_quant;
    float mean[64], std[64];
    /* per-channel latent statistics as scale and shift, [z, 1, 1, 1] over stat_host:
     * [0] normalize after encoding (1 / std, -mean / std), [1] undo it before decoding
     * (std, mean); placed with their half */
    float stat_host[2][2][64];
    zt_tensor stat[2][2];
    zt_placed placed[2]; /* [0] encoder, [1] decoder (zt_wan_vae_place) */
};

/* ---- naming --------------------------------------------------------------------------- */

/* Canonical names are Wan's originals; diffusers' AutoencoderKLWan renames the blocks
 * (and for Wan2.1 regroups the decoder's flat list of 4 blocks per stage). */
static const char *const res_params[][2] = {
    {"residual.0.gamma", "norm1.gamma"},   {"residual.2.weight", "conv1.weight"},
    {"residual.2.bias", "conv1.bias"},     {"residual.3.gamma", "norm2.gamma"},
    {"residual.6.weight", "conv2.weight"}, {"residual.6.bias", "conv2.bias"},
    {"shortcut.weight", "conv_shortcut.weight"}, {"shortcut.bias", "conv_shortcut.bias"}};
static const char *const rs_params[] = {"resample.1.weight", "resample.1.bias",
                                        "time_conv.weight", "time_conv.bias"};
static const char *const attn_params[] = {"norm.gamma", "to_qkv.weight", "to_qkv.bias",
                                          "proj.weight", "proj.bias"};
#define N_RES_PARAMS (sizeof res_params / sizeof res_params[0])
#define N_RS_PARAMS (sizeof rs_params / sizeof rs_params[0])
#define N_ATTN_PARAMS (sizeof attn_params / sizeof attn_params[0])

/* A name into a VAE_NAME buffer (names here are short; a cut one just misses). */
static void nm(char *buf, const char *fmt, ...) ZT_PRINTF(2, 3);
static void nm(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, VAE_NAME, fmt, ap);
    va_end(ap);
}

typedef struct rule_list {
    zt_naming_rule *r;
    char **strs;
    size_t n, cap;
    int oom;
} rule_list;

static char *fmt_str(rule_list *l, const char *fmt, ...) ZT_PRINTF(2, 3);
static char *fmt_str(rule_list *l, const char *fmt, ...) {
    char buf[VAE_NAME];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = n >= 0 && (size_t)n < sizeof buf ? strdup(buf) : NULL;
    if (!s) l->oom = 1;
    return s;
}

static void add_rule(rule_list *l, char *canonical, char *stored) {
    if (l->oom || !canonical || !stored || l->n + 2 > l->cap) {
        l->oom = 1;
        free(canonical);
        free(stored);
        return;
    }
    l->strs[2 * l->n] = canonical;
    l->strs[2 * l->n + 1] = stored;
    l->r[l->n].canonical = canonical;
    l->r[l->n].stored = stored;
    l->n++;
}

static void add_res_rules(rule_list *l, const char *canon, const char *stored) {
    for (size_t i = 0; i < N_RES_PARAMS; i++)
        add_rule(l, fmt_str(l, "%s.%s", canon, res_params[i][0]),
                 fmt_str(l, "%s.%s", stored, res_params[i][1]));
}

static void add_rs_rules(rule_list *l, const char *canon, const char *stored) {
    for (size_t i = 0; i < N_RS_PARAMS; i++)
        add_rule(l, fmt_str(l, "%s.%s", canon, rs_params[i]),
                 fmt_str(l, "%s.%s", stored, rs_params[i]));
}

static zt_status build_diffusers_naming(zt_wan_vae *v) {
    rule_list l = {0};
    l.cap = 512;
    l.r = calloc(l.cap + 1, sizeof *l.r);
    l.strs = calloc(2 * l.cap, sizeof *l.strs);
    if (!l.r || !l.strs) l.oom = 1;
    static const char *const top[][2] = {{"conv1", "quant_conv"}, {"conv2", "post_quant_conv"}};
    for (int i = 0; i < 2 && !l.oom; i++)
        for (int p = 0; p < 2; p++) {
            const char *suf = p ? "bias" : "weight";
            add_rule(&l, fmt_str(&l, "%s.%s", top[i][0], suf), fmt_str(&l, "%s.%s", top[i][1], suf));
        }
    static const char *const coders[] = {"encoder", "decoder"};
    for (int c = 0; c < 2 && !l.oom; c++) {
        const char *x = coders[c];
        char a[VAE_NAME], b[VAE_NAME];
        for (int p = 0; p < 2; p++) {
            const char *suf = p ? "bias" : "weight";
            add_rule(&l, fmt_str(&l, "%s.conv1.%s", x, suf), fmt_str(&l, "%s.conv_in.%s", x, suf));
            add_rule(&l, fmt_str(&l, "%s.head.2.%s", x, suf), fmt_str(&l, "%s.conv_out.%s", x, suf));
        }
        add_rule(&l, fmt_str(&l, "%s.head.0.gamma", x), fmt_str(&l, "%s.norm_out.gamma", x));
        nm(a, "%s.middle.0", x);
        nm(b, "%s.mid_block.resnets.0", x);
        add_res_rules(&l, a, b);
        nm(a, "%s.middle.2", x);
        nm(b, "%s.mid_block.resnets.1", x);
        add_res_rules(&l, a, b);
        for (size_t i = 0; i < N_ATTN_PARAMS; i++)
            add_rule(&l, fmt_str(&l, "%s.middle.1.%s", x, attn_params[i]),
                     fmt_str(&l, "%s.mid_block.attentions.0.%s", x, attn_params[i]));
    }
    /* Wan2.1 encoder: one flat list under both names */
    add_res_rules(&l, "encoder.downsamples.{}", "encoder.down_blocks.{}");
    add_rs_rules(&l, "encoder.downsamples.{}", "encoder.down_blocks.{}");
    /* Wan2.1 decoder: flat index 4 s + k is stage s's resnet k (k < 3) or upsampler */
    for (int i = 0; i < 4 * VAE_MAX_STAGES && !l.oom; i++) {
        char a[VAE_NAME], b[VAE_NAME];
        nm(a, "decoder.upsamples.%d", i);
        if (i % 4 < 3) {
            nm(b, "decoder.up_blocks.%d.resnets.%d", i / 4, i % 4);
            add_res_rules(&l, a, b);
        } else {
            nm(b, "decoder.up_blocks.%d.upsamplers.0", i / 4);
            add_rs_rules(&l, a, b);
        }
    }
    /* Wan2.2: per-stage lists, the resampler after 2 (encoder) or 3 (decoder) resnets */
    add_res_rules(&l, "encoder.downsamples.{}.downsamples.{}", "encoder.down_blocks.{}.resnets.{}");
    add_rs_rules(&l, "encoder.downsamples.{}.downsamples.2", "encoder.down_blocks.{}.downsampler");
    add_res_rules(&l, "decoder.upsamples.{}.upsamples.{}", "decoder.up_blocks.{}.resnets.{}");
    add_rs_rules(&l, "decoder.upsamples.{}.upsamples.3", "decoder.up_blocks.{}.upsampler");
    v->rules = l.r;
    v->strs = l.strs;
    v->n_strs = 2 * l.n;
    if (l.oom) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory building the naming");
    v->naming.name = "diffusers";
    v->naming.prefix = NULL;
    v->naming.rules = l.r;
    return ZT_OK;
}

/* ---- loading -------------------------------------------------------------------------- */

typedef struct loader {
    zt_wan_vae *v;
    const zt_weights *w;
} loader;

static zt_status get_tensor(loader *ld, zt_tensor *t, const char *name, const char *suffix) {
    return zt_weights_get(ld->w, t, "%s.%s", name, suffix);
}

static zt_status bad_shape(loader *ld, const char *name, const char *what) {
    char stored[ZT_WEIGHTS_NAME_MAX];
    if (zt_weights_stored_name(ld->w, name, stored, sizeof stored) != ZT_OK)
        nm(stored, "%s", name);
    return zt_fail(ZT_ERR_INPUT, "%s: tensor '%s' %s", zt_weights_path(ld->w), stored, what);
}

/* A convolution "name.weight" / "name.bias" of 5 (3D) or 4 (2D) dims taking cin
 * channels (-1: any); 2D weights are viewed with a 1-frame kernel. */
static zt_status load_conv(loader *ld, vae_conv *cv, const char *name, int ndim, int64_t cin) {
    char wn[VAE_NAME];
    nm(wn, "%s.weight", name);
    ZT_TRY(get_tensor(ld, &cv->w, name, "weight"));
    if (cv->w.ndim != ndim || !zt_dtype_is_float(cv->w.dtype))
        return bad_shape(ld, wn, ndim == 5 ? "should be a 5-D float tensor (3D convolution)"
                                           : "should be a 4-D float tensor (2D convolution)");
    if (ndim == 4) ZT_TRY(zt_tensor_unsqueeze(&cv->w, &cv->w, 2));
    cv->cout = cv->w.shape[0];
    cv->cin = cv->w.shape[1];
    cv->kt = cv->w.shape[2];
    cv->kh = cv->w.shape[3];
    cv->kw = cv->w.shape[4];
    if (cin >= 0 && cv->cin != cin) {
        char what[VAE_NAME];
        nm(what, "takes %lld channels where the model has %lld",
                 (long long)cv->cin, (long long)cin);
        return bad_shape(ld, wn, what);
    }
    if (cv->kh != cv->kw || cv->kh % 2 == 0 || cv->kt > 3 || cv->kh > 3)
        return bad_shape(ld, wn, "has an unexpected kernel size");
    ZT_TRY(zt_weights_get_shape(ld->w, &cv->b, 1, (int64_t[]){cv->cout}, "%s.bias", name));
    return ZT_OK;
}

static zt_status load_gamma(loader *ld, zt_tensor *g, const char *name, int64_t c) {
    char gn[VAE_NAME];
    nm(gn, "%s.gamma", name);
    ZT_TRY(get_tensor(ld, g, name, "gamma"));
    if (!zt_dtype_is_float(g->dtype) || zt_tensor_numel(g) != c) {
        char what[VAE_NAME];
        nm(what, "should hold %lld values", (long long)c);
        return bad_shape(ld, gn, what);
    }
    return zt_tensor_reshape(g, g, 1, (int64_t[]){c});
}

/* A residual block "name" taking *c channels; *c becomes its output width. */
static zt_status load_res(loader *ld, vae_res *r, const char *name, int64_t *c) {
    char n[VAE_NAME];
    nm(n, "%s.residual.0", name);
    ZT_TRY(load_gamma(ld, &r->g1, n, *c));
    nm(n, "%s.residual.2", name);
    ZT_TRY(load_conv(ld, &r->c1, n, 5, *c));
    nm(n, "%s.residual.3", name);
    ZT_TRY(load_gamma(ld, &r->g2, n, r->c1.cout));
    nm(n, "%s.residual.6", name);
    ZT_TRY(load_conv(ld, &r->c2, n, 5, r->c1.cout));
    r->has_sc = r->c2.cout != *c;
    if (r->has_sc) {
        nm(n, "%s.shortcut", name);
        ZT_TRY(load_conv(ld, &r->sc, n, 5, *c));
        if (r->sc.cout != r->c2.cout || r->sc.kt != 1 || r->sc.kh != 1)
            return bad_shape(ld, n, "should be a 1x1x1 convolution to the block's width");
    }
    if (r->c1.kt != 3 || r->c2.kt != 3)
        return bad_shape(ld, name, "should have 3x3x3 convolutions");
    *c = r->c2.cout;
    return ZT_OK;
}

static int has_res(loader *ld, const char *name) {
    return zt_weights_has(ld->w, "%s.residual.0.gamma", name);
}
static int has_rs(loader *ld, const char *name) {
    return zt_weights_has(ld->w, "%s.resample.1.weight", name);
}

/* A resampler "name" at width *c: conv (and time_conv) weights decide the mode. */
static zt_status load_rs(loader *ld, vae_stage *s, const char *name, int decoder, int64_t *c) {
    char n[VAE_NAME];
    nm(n, "%s.resample.1", name);
    ZT_TRY(load_conv(ld, &s->rs_conv, n, 4, *c));
    int time = zt_weights_has(ld->w, "%s.time_conv.weight", name);
    if (time) {
        nm(n, "%s.time_conv", name);
        ZT_TRY(load_conv(ld, &s->rs_time, n, 5, *c));
        if (s->rs_time.kt != 3 || s->rs_time.kh != 1 ||
            s->rs_time.cout != (decoder ? 2 * *c : *c))
            return bad_shape(ld, n, "is not the 3x1x1 time convolution the resampler needs");
    }
    if (s->rs_conv.kh != 3) return bad_shape(ld, n, "should be a 3x3 convolution");
    s->rs = decoder ? (time ? RS_UP3D : RS_UP2D) : (time ? RS_DOWN3D : RS_DOWN2D);
    *c = s->rs_conv.cout;
    return ZT_OK;
}

static zt_status load_attn(loader *ld, vae_attn *a, const char *name, int64_t c) {
    char n[VAE_NAME];
    a->c = c;
    nm(n, "%s.norm", name);
    ZT_TRY(load_gamma(ld, &a->g, n, c));
    ZT_TRY(zt_weights_get_shape(ld->w, &a->wqkv, 4, (int64_t[]){3 * c, c, 1, 1},
                                "%s.to_qkv.weight", name));
    ZT_TRY(zt_weights_get_shape(ld->w, &a->bqkv, 1, (int64_t[]){3 * c}, "%s.to_qkv.bias", name));
    ZT_TRY(zt_weights_get_shape(ld->w, &a->wp, 4, (int64_t[]){c, c, 1, 1}, "%s.proj.weight", name));
    ZT_TRY(zt_weights_get_shape(ld->w, &a->bp, 1, (int64_t[]){c}, "%s.proj.bias", name));
    ZT_TRY(zt_tensor_reshape(&a->wqkv, &a->wqkv, 2, (int64_t[]){3 * c, c}));
    return zt_tensor_reshape(&a->wp, &a->wp, 2, (int64_t[]){c, c});
}

/* Stage s's block list: Wan2.1 has one flat list ("x.downsamples.i"), Wan2.2 one list
 * per stage ("x.downsamples.s.downsamples.j"). */
static void block_name(char *buf, size_t size, int version, const char *list, int s, int j,
                       int flat) {
    if (version == 21)
        snprintf(buf, size, "%s.%d", list, flat);
    else
        snprintf(buf, size, "%s.%d.%s.%d", list, s, strrchr(list, '.') + 1, j);
}

static zt_status load_stages(loader *ld, vae_coder *cd, int decoder, int64_t *c) {
    int version = ld->v->info.version;
    const char *list = decoder ? "decoder.upsamples" : "encoder.downsamples";
    char n[VAE_NAME];
    int flat = 0;
    cd->n_stages = 0;
    for (int s = 0; s < VAE_MAX_STAGES; s++) {
        vae_stage *st = &cd->st[s];
        block_name(n, sizeof n, version, list, s, 0, flat);
        if (!has_res(ld, n)) break;
        st->cin = *c;
        for (int j = 0;; j++, flat++) {
            block_name(n, sizeof n, version, list, s, j, flat);
            if (has_res(ld, n)) {
                if (st->n_res == VAE_MAX_RES)
                    return zt_fail(ZT_ERR_INPUT, "%s: more than %d residual blocks in %s stage %d",
                                   zt_weights_path(ld->w), VAE_MAX_RES,
                                   decoder ? "decoder" : "encoder", s);
                ZT_TRY(load_res(ld, &st->res[st->n_res++], n, c));
                continue;
            }
            if (has_rs(ld, n)) {
                ZT_TRY(load_rs(ld, st, n, decoder, c));
                flat++;
            }
            break;
        }
        st->cout = *c;
        cd->n_stages++;
        if (version == 22) { /* the parameter-free shortcut around the stage */
            st->has_short = !decoder || st->rs != RS_NONE;
            st->ft = st->rs == RS_UP3D || st->rs == RS_DOWN3D ? 2 : 1;
            st->fs = st->rs != RS_NONE ? 2 : 1;
            int64_t f = (int64_t)st->ft * st->fs * st->fs;
            int ok = decoder ? (st->cout * f) % st->cin == 0 : (st->cin * f) % st->cout == 0;
            if (st->has_short && !ok)
                return zt_fail(ZT_ERR_INPUT, "%s: %s stage %d goes from %lld to %lld channels, "
                               "which its shortcut cannot", zt_weights_path(ld->w),
                               decoder ? "decoder" : "encoder", s, (long long)st->cin,
                               (long long)st->cout);
        }
        if (st->rs == RS_NONE) break; /* the last stage */
    }
    if (cd->n_stages < 2)
        return zt_fail(ZT_ERR_INPUT, "%s: the %s has %d stages; not a Wan VAE",
                       zt_weights_path(ld->w), decoder ? "decoder" : "encoder", cd->n_stages);
    return ZT_OK;
}

/* Gives every convolution with a temporal kernel its own cache slot. */
static void assign_slots(vae_coder *cd) {
    int n = 0;
    vae_conv *cv[2 + 4 + 2 * VAE_MAX_STAGES * (2 * VAE_MAX_RES + 1)];
    int k = 0;
    cv[k++] = &cd->conv_in;
    const vae_res *mids[2] = {&cd->mid0, &cd->mid1};
    for (int i = 0; i < 2; i++) {
        cv[k++] = (vae_conv *)&mids[i]->c1;
        cv[k++] = (vae_conv *)&mids[i]->c2;
    }
    for (int s = 0; s < cd->n_stages; s++) {
        vae_stage *st = &cd->st[s];
        for (int i = 0; i < st->n_res; i++) {
            cv[k++] = &st->res[i].c1;
            cv[k++] = &st->res[i].c2;
        }
        st->rs_time.slot = -1;
        if (st->rs == RS_UP3D || st->rs == RS_DOWN3D) cv[k++] = &st->rs_time;
    }
    cv[k++] = &cd->head;
    for (int i = 0; i < k; i++) cv[i]->slot = cv[i]->kt > 1 ? n++ : -1;
    cd->n_slots = n;
}

/* The middle: residual block, attention, residual block. */
static zt_status load_middle(loader *ld, vae_coder *cd, const char *x, int64_t *c) {
    char n[VAE_NAME];
    nm(n, "%s.middle.0", x);
    ZT_TRY(load_res(ld, &cd->mid0, n, c));
    nm(n, "%s.middle.1", x);
    ZT_TRY(load_attn(ld, &cd->attn, n, *c));
    nm(n, "%s.middle.2", x);
    return load_res(ld, &cd->mid1, n, c);
}

static zt_status load_coder(loader *ld, vae_coder *cd, int decoder, int64_t c) {
    const char *x = decoder ? "decoder" : "encoder";
    char n[VAE_NAME];
    nm(n, "%s.conv1", x);
    ZT_TRY(load_conv(ld, &cd->conv_in, n, 5, c));
    c = cd->conv_in.cout;
    if (decoder) ZT_TRY(load_middle(ld, cd, x, &c)); /* the middle comes first */
    ZT_TRY(load_stages(ld, cd, decoder, &c));
    if (!decoder) ZT_TRY(load_middle(ld, cd, x, &c));
    nm(n, "%s.head.0", x);
    ZT_TRY(load_gamma(ld, &cd->head_g, n, c));
    nm(n, "%s.head.2", x);
    ZT_TRY(load_conv(ld, &cd->head, n, 5, c));
    assign_slots(cd);
    return ZT_OK;
}

/* Latent statistics: Wan's own for the real widths, else "latents_mean" / "latents_std"
 * metadata (comma-separated numbers, brackets allowed), else none (0 and 1). */
static int parse_floats(const char *s, float *out, int n) {
    int k = 0;
    while (s && *s && k <= n) {
        while (*s == '[' || *s == ' ' || *s == ',') s++;
        if (!*s || *s == ']') break;
        char *end;
        float f = strtof(s, &end);
        if (end == s) return -1;
        if (k < n) out[k] = f;
        k++;
        s = end;
    }
    return k;
}

static zt_status load_stats(zt_wan_vae *v) {
    int z = v->info.z_dim;
    const float *m = NULL, *sd = NULL;
    if (v->info.version == 21 && z == 16) m = wan21_mean, sd = wan21_std;
    if (v->info.version == 22 && z == 48) m = wan22_mean, sd = wan22_std;
    for (int i = 0; i < z; i++) {
        v->mean[i] = m ? m[i] : 0.0f;
        v->std[i] = sd ? sd[i] : 1.0f;
    }
    for (size_t f = 0; f < zt_weights_file_count(v->w); f++) {
        const zt_safetensors *st = zt_weights_file(v->w, f);
        const char *ms = zt_safetensors_metadata_get(st, "latents_mean");
        const char *ss = zt_safetensors_metadata_get(st, "latents_std");
        if (!ms && !ss) continue;
        if (parse_floats(ms, v->mean, z) != z || parse_floats(ss, v->std, z) != z)
            return zt_fail(ZT_ERR_INPUT, "%s: latents_mean / latents_std metadata should hold "
                           "%d numbers each", zt_safetensors_path(st), z);
        m = v->mean;
    }
    for (int i = 0; i < z; i++)
        if (!(v->std[i] > 0.0f) || !isfinite(v->mean[i]))
            return zt_fail(ZT_ERR_INPUT, "%s: latent statistics of channel %d are not usable",
                           zt_weights_path(v->w), i);
    if (!m) ZT_LOGI("%s: no latent statistics for this VAE; latents are used as they are",
                        zt_weights_path(v->w));
    return ZT_OK;
}

static zt_status vae_load(zt_wan_vae *v) {
    /* Wan's names as the official and ComfyUI files have them, also inside whole
     * checkpoints that carry the VAE under a prefix; diffusers' names */
    static const zt_naming plain[] = {{"original", NULL, NULL},
                                      {"original under first_stage_model.", "first_stage_model.", NULL},
                                      {"original under vae.", "vae.", NULL}};
    zt_naming namings[4] = {plain[0], plain[1], plain[2], v->naming};
    const char *probes[] = {"encoder.conv1.weight", "decoder.conv1.weight", "conv2.weight"};
    size_t chosen;
    ZT_TRY(zt_weights_detect_naming(v->w, namings, 4, probes, 3, &chosen));
    /* detection set a copy of the naming; keep the one that lives as long as v */
    ZT_TRY(zt_weights_set_naming(v->w, chosen < 3 ? &plain[chosen] : &v->naming));
    v->info.naming = chosen < 3 ? "original" : "diffusers";

    loader ld = {v, v->w};
    /* the encoder tells: diffusers groups Wan2.1's decoder like Wan2.2's */
    if (zt_weights_has(v->w, "encoder.downsamples.0.downsamples.0.residual.0.gamma"))
        v->info.version = 22;
    else if (zt_weights_has(v->w, "encoder.downsamples.0.residual.0.gamma"))
        v->info.version = 21;
    else
        return zt_fail(ZT_ERR_INPUT, "%s: no encoder blocks of a Wan2.1 or Wan2.2 VAE found",
                       zt_weights_path(v->w));

    ZT_TRY(load_conv(&ld, &v->post_quant, "conv2", 5, -1));
    int64_t z = v->post_quant.cout;
    if (v->post_quant.cin != z || v->post_quant.kt != 1 || v->post_quant.kh != 1 || z > 64)
        return bad_shape(&ld, "conv2.weight", "is not a 1x1x1 latent convolution");
    ZT_TRY(load_conv(&ld, &v->quant, "conv1", 5, 2 * z));
    if (v->quant.cout != 2 * z || v->quant.kt != 1 || v->quant.kh != 1)
        return bad_shape(&ld, "conv1.weight", "is not a 1x1x1 convolution of 2 z channels");
    v->info.z_dim = (int)z;

    zt_tensor in;
    ZT_TRY(zt_weights_get(v->w, &in, "encoder.conv1.weight"));
    if (in.ndim != 5) return bad_shape(&ld, "encoder.conv1.weight", "should have 5 dims");
    int64_t in_c = in.shape[1];
    v->info.patch = in_c == 3 ? 1 : in_c == 12 ? 2 : 0;
    if (!v->info.patch)
        return bad_shape(&ld, "encoder.conv1.weight", "takes neither 3 nor 12 channels");
    ZT_TRY(load_coder(&ld, &v->enc, 0, in_c));
    if (v->enc.head.cout != 2 * z)
        return bad_shape(&ld, "encoder.head.2.weight", "does not give 2 z channels");
    ZT_TRY(load_coder(&ld, &v->dec, 1, z));
    if (v->dec.head.cout != in_c)
        return bad_shape(&ld, "decoder.head.2.weight", "does not give the encoder's input channels");

    int down = 0, tdown = 0, up = 0, tup = 0;
    for (int s = 0; s < v->enc.n_stages; s++) {
        down += v->enc.st[s].rs != RS_NONE;
        tdown += v->enc.st[s].rs == RS_DOWN3D;
    }
    for (int s = 0; s < v->dec.n_stages; s++) {
        up += v->dec.st[s].rs != RS_NONE;
        tup += v->dec.st[s].rs == RS_UP3D;
    }
    if (down != up || tdown != tup || tdown > 2)
        return zt_fail(ZT_ERR_INPUT, "%s: encoder and decoder resample differently (%d/%d "
                       "spatial, %d/%d temporal)", zt_weights_path(v->w), down, up, tdown, tup);
    v->info.stride_t = 1 << tdown;
    v->info.stride_s = (1 << down) * v->info.patch;
    v->info.enc_dim = v->enc.conv_in.cout;
    v->info.dec_dim = v->dec.head.cin;
    ZT_TRY(load_stats(v));
    v->info.mean = v->mean;
    v->info.std = v->std;
    for (int c = 0; c < (int)z; c++) {
        v->stat_host[0][0][c] = 1.0f / v->std[c];
        v->stat_host[0][1][c] = -v->mean[c] / v->std[c];
        v->stat_host[1][0][c] = v->std[c];
        v->stat_host[1][1][c] = v->mean[c];
    }
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2; k++)
            v->stat[d][k] = zt_tensor_new(ZT_F32, v->stat_host[d][k], z, 1, 1, 1);
    return ZT_OK;
}

zt_status zt_wan_vae_open(zt_wan_vae **out, const char *path) {
    *out = NULL;
    zt_wan_vae *v = calloc(1, sizeof *v);
    if (!v) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory");
    zt_status rc = build_diffusers_naming(v);
    if (rc == ZT_OK) rc = zt_weights_open(&v->w, path);
    if (rc == ZT_OK) rc = vae_load(v);
    if (rc != ZT_OK) {
        zt_wan_vae_free(v);
        return rc;
    }
    ZT_LOGD("%s: Wan%d.%d VAE, %s names, z %d, encoder %lld, decoder %lld wide",
                 path, v->info.version / 10, v->info.version % 10, v->info.naming,
                 v->info.z_dim, (long long)v->info.enc_dim, (long long)v->info.dec_dim);
    *out = v;
    return ZT_OK;
}

void zt_wan_vae_free(zt_wan_vae *v) {
    if (!v) return;
    zt_placed_free(&v->placed[0]);
    zt_placed_free(&v->placed[1]);
    zt_weights_close(v->w);
    for (size_t i = 0; i < v->n_strs; i++) free(v->strs[i]);
    free(v->strs);
    free(v->rules);
    free(v);
}

const zt_wan_vae_info *zt_wan_vae_get_info(const zt_wan_vae *v) {
    return &v->info;
}

/* ---- placement on a device ------------------------------------------------------------ */

#define VAE_MAX_PLACED 320

typedef struct place_list {
    zt_tensor *t[VAE_MAX_PLACED];
    size_t n;
} place_list;

/* Absent tensors (no shortcut, no time conv) have no data and are skipped. */
static void pl_add(place_list *l, zt_tensor *t) {
    if (t->data && l->n < VAE_MAX_PLACED) l->t[l->n++] = t;
}
static void pl_conv(place_list *l, vae_conv *cv) {
    pl_add(l, &cv->w);
    pl_add(l, &cv->b);
}
static void pl_res(place_list *l, vae_res *r) {
    pl_add(l, &r->g1);
    pl_add(l, &r->g2);
    pl_conv(l, &r->c1);
    pl_conv(l, &r->c2);
    if (r->has_sc) pl_conv(l, &r->sc);
}

/* The tensors a half runs on. */
static zt_status half_tensors(zt_wan_vae *v, int decoder, place_list *out) {
    place_list l = {{0}, 0};
    vae_coder *cd = decoder ? &v->dec : &v->enc;
    pl_conv(&l, decoder ? &v->post_quant : &v->quant);
    pl_conv(&l, &cd->conv_in);
    pl_res(&l, &cd->mid0);
    pl_res(&l, &cd->mid1);
    pl_add(&l, &cd->attn.g);
    pl_add(&l, &cd->attn.wqkv);
    pl_add(&l, &cd->attn.bqkv);
    pl_add(&l, &cd->attn.wp);
    pl_add(&l, &cd->attn.bp);
    for (int s = 0; s < cd->n_stages; s++) {
        vae_stage *st = &cd->st[s];
        for (int i = 0; i < st->n_res; i++) pl_res(&l, &st->res[i]);
        if (st->rs != RS_NONE) pl_conv(&l, &st->rs_conv);
        if (st->rs == RS_UP3D || st->rs == RS_DOWN3D) pl_conv(&l, &st->rs_time);
    }
    pl_add(&l, &cd->head_g);
    pl_conv(&l, &cd->head);
    pl_add(&l, &v->stat[decoder][0]);
    pl_add(&l, &v->stat[decoder][1]);
    if (l.n == VAE_MAX_PLACED)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: more tensors than placement expects");
    *out = l;
    return ZT_OK;
}

static zt_status place_half(zt_wan_vae *v, zt_backend *be, int decoder) {
    zt_placed *pl = &v->placed[decoder];
    if (pl->be == be) return ZT_OK;
    if (pl->be)
        return zt_fail(ZT_ERR_USAGE, "wan vae: the %s is already placed on %s",
                       decoder ? "decoder" : "encoder", pl->be->name);
    place_list l;
    ZT_TRY(half_tensors(v, decoder, &l));
    return zt_place_tensors(pl, be, l.t, l.n);
}

zt_status zt_wan_vae_device_bytes(const zt_wan_vae *v, int decoder, int64_t *bytes) {
    place_list l;
    *bytes = 0;
    ZT_TRY(half_tensors((zt_wan_vae *)v, decoder, &l)); /* the list only reads them */
    *bytes = (int64_t)zt_place_bytes(l.t, l.n);
    return ZT_OK;
}

zt_status zt_wan_vae_place(zt_wan_vae *v, zt_backend *be, int parts) {
    if (!be->device) return ZT_OK;
    if (parts & ZT_VAE_PART_DECODER) ZT_TRY(place_half(v, be, 1));
    if (parts & ZT_VAE_PART_ENCODER) ZT_TRY(place_half(v, be, 0));
    return ZT_OK;
}

/* A half runs where its weights are: on the device it was placed on, or on the host
 * when it was not placed. Measuring runs (memory planning) never read them. */
static zt_status check_placed(const zt_wan_vae *v, const zt_backend *be, int decoder) {
    const zt_placed *pl = &v->placed[decoder];
    const char *half = decoder ? "decoder" : "encoder";
    if (be->device && (!pl->be || pl->be->device != be->device))
        return zt_fail(ZT_ERR_USAGE, "wan vae: the %s's weights are not on %s "
                       "(zt_wan_vae_place)", half, be->name);
    if (!be->device && pl->be && !zt_arena_measuring())
        return zt_fail(ZT_ERR_USAGE, "wan vae: the %s's weights are on %s, not on %s", half,
                       pl->be->name, be->name);
    return ZT_OK;
}

/* ---- host and device transfers -------------------------------------------------------- */

/* Calls fn on every contiguous run of the innermost dim of t (f32), in element order:
 * the run's host offset in t and its index in the packed order. */
static void each_run(const zt_tensor *t, void (*fn)(void *ctx, float *p, int64_t packed,
                                                    int64_t n), void *ctx) {
    int64_t idx[ZT_MAX_DIMS] = {0}, inner = t->ndim ? t->shape[t->ndim - 1] : 1;
    int64_t numel = zt_tensor_numel(t);
    if (numel == 0) return;
    int contiguous_inner = t->ndim == 0 || t->stride[t->ndim - 1] == 1 || inner == 1;
    for (int64_t packed = 0; packed < numel; packed += inner) {
        int64_t off = 0;
        for (int d = 0; d + 1 < t->ndim; d++) off += idx[d] * t->stride[d];
        float *p = (float *)t->data + off;
        if (contiguous_inner) {
            fn(ctx, p, packed, inner);
        } else {
            for (int64_t k = 0; k < inner; k++)
                fn(ctx, p + k * t->stride[t->ndim - 1], packed + k, 1);
        }
        for (int d = t->ndim - 2; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

static void gather_run(void *ctx, float *p, int64_t packed, int64_t n) {
    memcpy((float *)ctx + packed, p, (size_t)n * sizeof(float));
}
static void scatter_run(void *ctx, float *p, int64_t packed, int64_t n) {
    memcpy(p, (const float *)ctx + packed, (size_t)n * sizeof(float));
}

/* dst (contiguous f32 in be's memory) = src (an f32 view of host memory). */
static zt_status upload_view(zt_backend *be, zt_tensor *dst, const zt_tensor *src) {
    int64_t n = zt_tensor_numel(src);
    if (n != zt_tensor_numel(dst) || !zt_tensor_is_contiguous(dst))
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: an upload of mismatched tensors");
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    if (!buf) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory for an upload");
    each_run(src, gather_run, buf);
    zt_status rc = be->upload(be, dst->data, buf, (size_t)n * sizeof *buf);
    if (rc == ZT_OK) rc = be->sync(be); /* buf goes away */
    free(buf);
    return rc;
}

/* dst (an f32 view of host memory) = src (contiguous f32 in be's memory). */
static zt_status download_view(zt_backend *be, zt_tensor *dst, const zt_tensor *src) {
    int64_t n = zt_tensor_numel(src);
    if (n != zt_tensor_numel(dst) || !zt_tensor_is_contiguous(src))
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: a download of mismatched tensors");
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    if (!buf) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory for a download");
    zt_status rc = be->download(be, buf, src->data, (size_t)n * sizeof *buf);
    if (rc == ZT_OK) each_run(dst, scatter_run, buf);
    free(buf);
    return rc;
}

/* Where a caller's tensor lives must be the host or be's device. */
static zt_status check_where(const zt_backend *be, const zt_tensor *t, const char *what) {
    if (t->device && t->device != be->device)
        return zt_fail(ZT_ERR_USAGE, "wan vae: %s live on device %d, not on %s's", what,
                       t->device - 1, be->name);
    return ZT_OK;
}

zt_status zt_wan_vae_copy_in(zt_backend *be, zt_tensor *dst, const zt_tensor *src) {
    if (be->device && !src->device) return upload_view(be, dst, src);
    return zt_op_copy(be, dst, src);
}

zt_status zt_wan_vae_copy_out(zt_backend *be, zt_tensor *dst, const zt_tensor *src) {
    if (be->device && !dst->device) return download_view(be, dst, src);
    return zt_op_copy(be, dst, src);
}

/* ---- streams -------------------------------------------------------------------------- */

typedef struct vae_slot {
    zt_tensor t; /* [1, C, n, H, W]; data NULL until first use */
    int live;    /* holds frames (else zeros: the convolution pads instead) */
} vae_slot;

struct zt_wan_vae_stream {
    const zt_wan_vae *vae;
    int decoder;
    zt_arena *cache;  /* host backends */
    zt_backend *dev;  /* device backends: each slot is one allocation of dev */
    const zt_backend *be; /* the backend of its first chunk, the only one it takes */
    size_t dev_bytes; /* their sum */
    vae_slot *slots;
    int n_slots;
    int64_t chunk; /* chunks run so far */
};

zt_status zt_wan_vae_stream_init(zt_wan_vae_stream **out, const zt_wan_vae *v, int decoder) {
    *out = NULL;
    zt_wan_vae_stream *s = calloc(1, sizeof *s);
    if (!s) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory");
    s->vae = v;
    s->decoder = decoder;
    s->n_slots = decoder ? v->dec.n_slots : v->enc.n_slots;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    /* one block sized as it comes: caches are allocated once, in the first chunk */
    zt_status rc = s->slots ? zt_arena_init(&s->cache, (size_t)16 << 20, 0)
                            : zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory");
    if (rc != ZT_OK) {
        zt_wan_vae_stream_free(s);
        return rc;
    }
    *out = s;
    return ZT_OK;
}

void zt_wan_vae_stream_free(zt_wan_vae_stream *s) {
    if (!s) return;
    for (int i = 0; s->dev && s->slots && i < s->n_slots; i++)
        if (s->slots[i].t.data) s->dev->dealloc(s->dev, s->slots[i].t.data);
    zt_arena_free(s->cache);
    free(s->slots);
    free(s);
}

size_t zt_wan_vae_stream_bytes(const zt_wan_vae_stream *s) {
    return zt_arena_used(s->cache) + s->dev_bytes;
}

/* ---- one chunk's computation -------------------------------------------------------- */

typedef struct run {
    zt_backend *be;
    zt_arena *a;
    zt_wan_vae_stream *s;
    int first; /* the stream's first chunk */
} run;

static zt_status act(run *r, zt_tensor *t, int64_t c, int64_t n, int64_t h, int64_t w) {
    return zt_arena_tensor(r->a, t, ZT_F32, 5, (int64_t[]){1, c, n, h, w});
}

/* Cache slot i, [1, c, n, h, w], zeroed on first use. */
static zt_status get_slot(run *r, vae_slot **out, int i, int64_t c, int64_t n, int64_t h,
                          int64_t w) {
    if (i < 0 || i >= r->s->n_slots)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: no cache slot %d", i);
    vae_slot *sl = &r->s->slots[i];
    if (!sl->t.data && r->be->device) { /* the caches live as long as the stream */
        zt_tensor t = zt_tensor_new(ZT_F32, NULL, 1, c, n, h, w);
        size_t bytes = zt_tensor_nbytes(&t);
        ZT_TRY(r->be->alloc(r->be, bytes, &t.data));
        t.device = r->be->device;
        r->s->dev = r->be;
        r->s->dev_bytes += bytes;
        sl->t = t;
        ZT_TRY(r->be->fill_zero(r->be, t.data, bytes));
    } else if (!sl->t.data) {
        ZT_TRY(zt_arena_zeros(r->s->cache, &sl->t, ZT_F32, 5, (int64_t[]){1, c, n, h, w}));
    } else if (sl->t.shape[1] != c || sl->t.shape[2] != n || sl->t.shape[3] != h ||
               sl->t.shape[4] != w) {
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: a chunk of a different size than the stream's "
                       "first (%lldx%lld, was %lldx%lld)", (long long)h, (long long)w,
                       (long long)sl->t.shape[3], (long long)sl->t.shape[4]);
    }
    *out = sl;
    return ZT_OK;
}

static zt_conv_params conv_params(const vae_conv *cv, int st, int ss, int pad_after_only) {
    zt_conv_params p = {{st, ss, ss}, {{0, 0}, {0, 0}, {0, 0}}};
    int ph = (int)(cv->kh - 1) / 2;
    if (pad_after_only) { /* downsampling: ZeroPad2d((0, 1, 0, 1)) then no padding */
        p.pad[1][1] = p.pad[2][1] = 1;
    } else {
        p.pad[1][0] = p.pad[1][1] = p.pad[2][0] = p.pad[2][1] = ph;
    }
    return p;
}

/* Frames [start, start + n) of x as a view. */
static zt_tensor frames(const zt_tensor *x, int64_t start, int64_t n) {
    zt_tensor v;
    zt_tensor_narrow(&v, x, 2, start, n); /* in range by construction */
    return v;
}

/* y = conv(x) for a convolution without a temporal kernel (kt = 1), y allocated. */
static zt_status conv_plain_into(run *r, zt_tensor *y, const zt_tensor *x, const vae_conv *cv) {
    zt_conv_params p = conv_params(cv, 1, 1, 0);
    return zt_op_conv3d(r->be, y, x, &cv->w, &cv->b, &p);
}

static zt_status conv_plain(run *r, zt_tensor *y, const zt_tensor *x, const vae_conv *cv) {
    ZT_TRY(act(r, y, cv->cout, x->shape[2], x->shape[3], x->shape[4]));
    return conv_plain_into(r, y, x, cv);
}

/* The slot takes the last n frames of cat(slot, x) (n = the slot's length). */
static zt_status slot_push(run *r, vae_slot *sl, const zt_tensor *x) {
    int64_t n = sl->t.shape[2], t = x->shape[2];
    zt_tensor dst, src;
    if (t < n) { /* keep the slot's last n - t frames, in front */
        dst = frames(&sl->t, 0, n - t);
        src = frames(&sl->t, t, n - t);
        ZT_TRY(zt_op_copy(r->be, &dst, &src));
    }
    int64_t k = t < n ? t : n;
    dst = frames(&sl->t, n - k, k);
    src = frames(x, t - k, k);
    ZT_TRY(zt_op_copy(r->be, &dst, &src));
    sl->live = 1;
    return ZT_OK;
}

/* y (allocated) = causal conv(x) with the next cache slot's two frames in front (or
 * the zero padding they stand for before the first frames); then the slot takes the
 * last two frames of cat(slot, x). */
static zt_status conv_causal_into(run *r, zt_tensor *y, const zt_tensor *x, const vae_conv *cv) {
    if (cv->kt == 1) return conv_plain_into(r, y, x, cv);
    vae_slot *sl = NULL;
    ZT_TRY(get_slot(r, &sl, cv->slot, x->shape[1], 2, x->shape[3], x->shape[4]));
    zt_conv_params p = conv_params(cv, 1, 1, 0);
    if (sl->live)
        p.prev = &sl->t;
    else
        p.pad[0][0] = 2; /* the conv skips taps that see only padding */
    ZT_TRY(zt_op_conv3d(r->be, y, x, &cv->w, &cv->b, &p));
    return slot_push(r, sl, x);
}

static zt_status conv_causal(run *r, zt_tensor *y, const zt_tensor *x, const vae_conv *cv) {
    ZT_TRY(act(r, y, cv->cout, x->shape[2], x->shape[3], x->shape[4]));
    return conv_causal_into(r, y, x, cv);
}

/* y = SiLU(RMS_norm(x)) over channels: x / ||x|| * sqrt(C) * gamma; y may be x. */
static zt_status norm_silu_into(run *r, zt_tensor *y, const zt_tensor *x, const zt_tensor *g) {
    return zt_op_l2_norm_silu(r->be, y, x, 1, g, NULL, sqrtf((float)x->shape[1]), 1e-12f);
}

static zt_status norm_silu(run *r, zt_tensor *y, const zt_tensor *x, const zt_tensor *g) {
    ZT_TRY(act(r, y, x->shape[1], x->shape[2], x->shape[3], x->shape[4]));
    return norm_silu_into(r, y, x, g);
}

/* Keep only t above mark m. */
static zt_status keep(run *r, zt_arena_mark m, zt_tensor *t) {
    return zt_arena_keep_tensor(r->a, m, t);
}

/* y (allocated, [1, Cout, T, H, W], not x) = the residual block on x. */
static zt_status res_block_into(run *r, zt_tensor *y, const zt_tensor *x, const vae_res *b) {
    int64_t t = x->shape[2], h = x->shape[3], w = x->shape[4];
    zt_arena_mark m = zt_arena_save(r->a);
    zt_tensor hs = *x, a, t1;
    if (b->has_sc) ZT_TRY(conv_plain(r, &hs, x, &b->sc));     /* [Cout, T, H, W] */
    ZT_TRY(act(r, &t1, b->c1.cout, t, h, w));                   /* [Cout, T, H, W] */
    zt_arena_mark ma = zt_arena_save(r->a);
    ZT_TRY(norm_silu(r, &a, x, &b->g1));                        /* [Cin, T, H, W] */
    ZT_TRY(conv_causal_into(r, &t1, &a, &b->c1));
    zt_arena_restore(r->a, ma);
    ZT_TRY(norm_silu_into(r, &t1, &t1, &b->g2));
    ZT_TRY(conv_causal_into(r, y, &t1, &b->c2));
    ZT_TRY(zt_op_add(r->be, y, y, &hs));                        /* + shortcut */
    zt_arena_restore(r->a, m);
    return ZT_OK;
}

/* x = the residual block on x, the output landing at the entry mark. */
static zt_status res_block(run *r, zt_tensor *x, const vae_res *b) {
    zt_tensor y;
    ZT_TRY(act(r, &y, b->c2.cout, x->shape[2], x->shape[3], x->shape[4]));
    ZT_TRY(res_block_into(r, &y, x, b));
    *x = y;
    return ZT_OK;
}

/* A stage's residual blocks on x, alternating between two buffers above x so that no
 * output has to move; *y is the last output (x itself when there are no blocks). */
static zt_status res_chain(run *r, zt_tensor *y, const zt_tensor *x, const vae_stage *st) {
    *y = *x;
    if (!st->n_res) return ZT_OK;
    int64_t c = st->res[0].c2.cout, t = x->shape[2], h = x->shape[3], w = x->shape[4];
    zt_tensor buf[2];
    ZT_TRY(act(r, &buf[0], c, t, h, w));
    if (st->n_res > 1) ZT_TRY(act(r, &buf[1], c, t, h, w));
    for (int i = 0; i < st->n_res; i++) {
        zt_tensor out = buf[i % 2];
        if (st->res[i].c2.cout != c)
            return zt_fail(ZT_ERR_RUNTIME, "wan vae: a stage's blocks differ in width");
        ZT_TRY(res_block_into(r, &out, y, &st->res[i]));
        *y = out;
    }
    return ZT_OK;
}

/* Single-head self-attention within each frame over its H * W pixels. */
static zt_status attn_block(run *r, zt_tensor *x, const vae_attn *at) {
    int64_t c = x->shape[1], t = x->shape[2], h = x->shape[3], w = x->shape[4], n = h * w;
    zt_arena_mark m = zt_arena_save(r->a);
    zt_tensor y;
    ZT_TRY(act(r, &y, c, t, h, w));
    zt_arena_mark mf = zt_arena_save(r->a);
    for (int64_t f = 0; f < t; f++) {
        /* frame f as tokens: xt [N, C] (a transposed view of x's [C, N] plane) */
        zt_tensor plane = zt_tensor_make(ZT_F32, 2, (int64_t[]){n, c},
                                         (float *)x->data + f * n);
        plane.stride[0] = 1;
        plane.stride[1] = t * n;
        zt_tensor xt, nt, qkv, o, p, sum;
        ZT_TRY(zt_arena_tensor(r->a, &xt, ZT_F32, 2, (int64_t[]){n, c}));
        ZT_TRY(zt_op_copy(r->be, &xt, &plane));
        ZT_TRY(zt_arena_tensor(r->a, &nt, ZT_F32, 2, (int64_t[]){n, c}));
        ZT_TRY(zt_op_l2_norm(r->be, &nt, &xt, 1, &at->g, NULL, sqrtf((float)c), 1e-12f));
        ZT_TRY(zt_arena_tensor(r->a, &qkv, ZT_F32, 2, (int64_t[]){n, 3 * c}));
        ZT_TRY(zt_op_linear(r->be, &qkv, &nt, &at->wqkv, &at->bqkv));   /* [N, 3C] */
        zt_tensor q = zt_tensor_make(ZT_F32, 4, (int64_t[]){1, n, 1, c}, qkv.data);
        q.stride[0] = n * 3 * c;
        q.stride[1] = 3 * c;
        q.stride[2] = c;
        zt_tensor k = q, v = q;
        k.data = (float *)qkv.data + c;
        v.data = (float *)qkv.data + 2 * c;
        ZT_TRY(zt_arena_tensor(r->a, &o, ZT_F32, 4, (int64_t[]){1, n, 1, c}));
        zt_attn_params ap = {1.0f / sqrtf((float)c), NULL, NULL};
        ZT_TRY(zt_op_attention(r->be, &o, &q, &k, &v, &ap));
        ZT_TRY(zt_tensor_reshape(&o, &o, 2, (int64_t[]){n, c}));
        ZT_TRY(zt_arena_tensor(r->a, &p, ZT_F32, 2, (int64_t[]){n, c}));
        ZT_TRY(zt_op_linear(r->be, &p, &o, &at->wp, &at->bp));           /* [N, C] */
        ZT_TRY(zt_arena_tensor(r->a, &sum, ZT_F32, 2, (int64_t[]){n, c}));
        ZT_TRY(zt_op_add(r->be, &sum, &p, &xt));                         /* + identity */
        zt_tensor dst = plane;
        dst.data = (float *)y.data + f * n;
        ZT_TRY(zt_op_copy(r->be, &dst, &sum));
        zt_arena_restore(r->a, mf);
    }
    ZT_TRY(keep(r, m, &y));
    *x = y;
    return ZT_OK;
}

/* A strided view over data with the given shape and element strides. */
static zt_tensor view5(void *data, int nd, const int64_t *shape, const int64_t *stride) {
    zt_tensor v = zt_tensor_make(ZT_F32, nd, shape, data);
    for (int i = 0; i < nd; i++) v.stride[i] = stride[i];
    return v;
}

/* Moves factor blocks between space and channels: channel ((c ft + i) fs + j) fs + k
 * of the packed [1, C ft fs fs, T, H, W] is pixel (i, j, k) of each ft x fs x fs
 * block of the unpacked [1, C, T ft, H fs, W fs]. to_space picks the direction. */
static zt_status shuffle(run *r, zt_tensor *packed, zt_tensor *unpacked, int ft, int fs,
                         int to_space) {
    int64_t c = unpacked->shape[1], t = packed->shape[2], h = packed->shape[3],
            w = packed->shape[4], hf = h * fs, wf = w * fs;
    for (int64_t ch = 0; ch < c; ch++)
        for (int i = 0; i < ft; i++) {
            /* packed channels (j, k) of block (ch, i): [fs, fs, T, H, W] */
            float *pp = (float *)packed->data + ((ch * ft + i) * fs * fs) * t * h * w;
            /* in the order of the unpacked view: (T, H, j, W, k) */
            zt_tensor pv = view5(pp, 5, (int64_t[]){t, h, fs, w, fs},
                                 (int64_t[]){h * w, w, fs * t * h * w, 1, t * h * w});
            float *up = (float *)unpacked->data + ch * t * ft * hf * wf + i * hf * wf;
            zt_tensor uv = view5(up, 5, (int64_t[]){t, h, fs, w, fs},
                                 (int64_t[]){ft * hf * wf, fs * wf, wf, fs, 1});
            ZT_TRY(to_space ? zt_op_copy(r->be, &uv, &pv) : zt_op_copy(r->be, &pv, &uv));
        }
    return ZT_OK;
}

/* Wan2.2's AvgDown3D: pad time at the front to a multiple of ft, fold ft x fs x fs
 * blocks into channels, average groups of adjacent channels down to cout. */
static zt_status avg_down(run *r, zt_tensor *y, const zt_tensor *x, int ft, int fs,
                          int64_t cout) {
    int64_t c = x->shape[1], t = x->shape[2], h = x->shape[3], w = x->shape[4];
    int64_t pad_t = (ft - t % ft) % ft, tp = t + pad_t;
    int64_t f = (int64_t)ft * fs * fs, group = c * f / cout;
    int64_t n = (tp / ft) * (h / fs) * (w / fs);
    ZT_TRY(act(r, y, cout, tp / ft, h / fs, w / fs));
    zt_arena_mark m = zt_arena_save(r->a);
    zt_tensor xp = *x, packed;
    if (pad_t) {
        ZT_TRY(act(r, &xp, c, tp, h, w));
        const int64_t pad[5][2] = {{0, 0}, {0, 0}, {pad_t, 0}, {0, 0}, {0, 0}};
        ZT_TRY(zt_op_pad(r->be, &xp, x, pad, 0.0f));
    }
    zt_tensor *dst = group == 1 ? y : &packed;
    if (group > 1) ZT_TRY(act(r, &packed, c * f, tp / ft, h / fs, w / fs));
    ZT_TRY(shuffle(r, dst, &xp, ft, fs, 0));
    if (group > 1) { /* mean over each group: ones [1, 1, G] / G times [cout, G, N] */
        float *ones = zt_arena_alloc(r->a, (size_t)group * sizeof *ones);
        if (!ones) return ZT_ERR_NOMEM;
        if (r->be->device) { /* filled on the host, then uploaded */
            float *hv = malloc((size_t)group * sizeof *hv);
            if (!hv) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory");
            for (int64_t i = 0; i < group; i++) hv[i] = 1.0f / (float)group;
            zt_status rc = r->be->upload(r->be, ones, hv, (size_t)group * sizeof *hv);
            if (rc == ZT_OK) rc = r->be->sync(r->be);
            free(hv);
            ZT_TRY(rc);
        } else {
            for (int64_t i = 0; i < group; i++) ones[i] = 1.0f / (float)group;
        }
        zt_tensor a = zt_tensor_new(ZT_F32, ones, 1, 1, group);
        zt_tensor b = zt_tensor_new(ZT_F32, packed.data, cout, group, n);
        zt_tensor o = zt_tensor_new(ZT_F32, y->data, cout, 1, n);
        ZT_TRY(zt_op_matmul(r->be, &o, &a, &b, 0, 0));
    }
    zt_arena_restore(r->a, m);
    return ZT_OK;
}

/* Wan2.2's DupUp3D: repeat each channel, unfold ft x fs x fs blocks into time and
 * space; the first chunk drops its first ft - 1 frames. */
static zt_status dup_up(run *r, zt_tensor *y, const zt_tensor *x, int ft, int fs, int64_t cout) {
    int64_t t = x->shape[2], h = x->shape[3], w = x->shape[4];
    int64_t f = (int64_t)ft * fs * fs, drop = r->first ? ft - 1 : 0;
    zt_arena_mark m0 = zt_arena_save(r->a);
    zt_tensor rep, un;
    ZT_TRY(act(r, &rep, cout * f, t, h, w));
    /* nearest resampling of the channel dim by an integer factor repeats each channel */
    ZT_TRY(zt_op_upsample_nearest(r->be, &rep, x));
    ZT_TRY(act(r, &un, cout, t * ft, h * fs, w * fs));
    ZT_TRY(shuffle(r, &rep, &un, ft, fs, 1));
    if (drop) {
        zt_tensor kept, v = frames(&un, drop, t * ft - drop);
        ZT_TRY(act(r, &kept, cout, t * ft - drop, h * fs, w * fs));
        ZT_TRY(zt_op_copy(r->be, &kept, &v));
        un = kept;
    }
    ZT_TRY(zt_arena_keep_tensor(r->a, m0, &un));
    *y = un;
    return ZT_OK;
}

/* The encoder's downsampling: ZeroPad2d((0, 1, 0, 1)) and a 3x3 conv with stride 2,
 * then for downsample3d the stride-2 time conv over the cached last frame and x. */
static zt_status downsample(run *r, zt_tensor *x, const vae_stage *st) {
    int64_t t = x->shape[2], h = x->shape[3], w = x->shape[4];
    zt_arena_mark m = zt_arena_save(r->a);
    zt_tensor y;
    {
        int64_t ho = zt_conv_out_size(h, 3, 2, 0, 1), wo = zt_conv_out_size(w, 3, 2, 0, 1);
        ZT_TRY(act(r, &y, st->rs_conv.cout, t, ho, wo));
        zt_conv_params p = conv_params(&st->rs_conv, 1, 2, 1);
        ZT_TRY(zt_op_conv3d(r->be, &y, x, &st->rs_conv.w, &st->rs_conv.b, &p));
    }
    if (st->rs == RS_DOWN3D) {
        int64_t co = y.shape[1], ho = y.shape[3], wo = y.shape[4];
        vae_slot *slot = NULL;
        ZT_TRY(get_slot(r, &slot, st->rs_time.slot, co, 1, ho, wo));
        if (slot->live) { /* time_conv on cat(previous last frame, y): stride 2, no pad */
            zt_tensor tc;
            int64_t to = zt_conv_out_size(t + 1, 3, 2, 0, 0);
            if (to < 1) return zt_fail(ZT_ERR_RUNTIME, "wan vae: chunk too short to downsample");
            ZT_TRY(act(r, &tc, co, to, ho, wo));
            zt_conv_params p = {{2, 1, 1}, {{0, 0}, {0, 0}, {0, 0}}, &slot->t};
            ZT_TRY(zt_op_conv3d(r->be, &tc, &y, &st->rs_time.w, &st->rs_time.b, &p));
            ZT_TRY(slot_push(r, slot, &y));
            y = tc;
        } else { /* the first chunk only remembers its last frame */
            ZT_TRY(slot_push(r, slot, &y));
        }
    }
    ZT_TRY(keep(r, m, &y));
    *x = y;
    return ZT_OK;
}

/* An encoder stage on a chunk x [1, C, T, H, W]. */
static zt_status enc_stage(run *r, zt_tensor *x, const vae_stage *st) {
    zt_arena_mark m = zt_arena_save(r->a);
    zt_tensor in = *x, y = *x;
    for (int i = 0; i < st->n_res; i++) {
        ZT_TRY(res_block(r, &y, &st->res[i]));
        ZT_TRY(keep(r, m, &y));
    }
    if (st->rs != RS_NONE) ZT_TRY(downsample(r, &y, st));
    if (st->has_short) { /* y += shortcut(stage input) */
        zt_tensor s;
        ZT_TRY(avg_down(r, &s, &in, st->ft, st->fs, st->cout));
        if (!zt_tensor_same_shape(&s, &y))
            return zt_fail(ZT_ERR_RUNTIME, "wan vae: shortcut and stage disagree in shape");
        ZT_TRY(zt_op_add(r->be, &y, &y, &s));
    }
    /* y sits above the input, which the caller still holds */
    ZT_TRY(keep(r, m, &y));
    *x = y;
    return ZT_OK;
}

static zt_status middle(run *r, zt_tensor *x, const vae_coder *cd) {
    ZT_TRY(res_block(r, x, &cd->mid0));
    ZT_TRY(attn_block(r, x, &cd->attn));
    return res_block(r, x, &cd->mid1);
}

static zt_status head(run *r, zt_tensor *x, const vae_coder *cd) {
    zt_tensor a, y;
    ZT_TRY(act(r, &y, cd->head.cout, x->shape[2], x->shape[3], x->shape[4]));
    zt_arena_mark m = zt_arena_save(r->a);
    ZT_TRY(norm_silu(r, &a, x, &cd->head_g));
    ZT_TRY(conv_causal_into(r, &y, &a, &cd->head));
    zt_arena_restore(r->a, m);
    *x = y;
    return ZT_OK;
}

/* (un)patchify for Wan2.2: channel c * 4 + q * 2 + p of the packed [1, 12, T, H, W] is
 * pixel (row 2 h + p, column 2 w + q) of channel c: the column offset comes first. */
static zt_status patch_copy(run *r, zt_tensor *packed, zt_tensor *pix, int to_pixels) {
    int64_t t = packed->shape[2], h = packed->shape[3], w = packed->shape[4];
    for (int64_t c = 0; c < pix->shape[1]; c++) {
        float *pp = (float *)packed->data + c * 4 * t * h * w;
        /* in the pixel view's order (T, H, p, W, q) */
        zt_tensor pv = view5(pp, 5, (int64_t[]){t, h, 2, w, 2},
                             (int64_t[]){h * w, w, t * h * w, 1, 2 * t * h * w});
        float *xp = (float *)pix->data + c * t * 4 * h * w;
        zt_tensor xv = view5(xp, 5, (int64_t[]){t, h, 2, w, 2},
                             (int64_t[]){4 * h * w, 4 * w, 2 * w, 2, 1});
        ZT_TRY(to_pixels ? zt_op_copy(r->be, &xv, &pv) : zt_op_copy(r->be, &pv, &xv));
    }
    return ZT_OK;
}

/* Checks that t is a contiguous f32 [c, ...] tensor of ndim dims. */
static zt_status need_input(const zt_tensor *t, int ndim, int64_t c, const char *what) {
    if (t->dtype != ZT_F32 || t->ndim != ndim || t->shape[0] != c || !zt_tensor_is_contiguous(t))
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: %s should be a contiguous f32 tensor of %d "
                       "dims with %lld channels", what, ndim, (long long)c);
    return ZT_OK;
}

static zt_status chunk_done(run *r) {
    r->s->chunk++;
    return ZT_OK;
}

/* The weights' half is on be, and the stream's caches too (they are made by the first
 * chunk, in be's memory). */
static zt_status chunk_begin(zt_wan_vae_stream *s, const zt_backend *be) {
    ZT_TRY(check_placed(s->vae, be, s->decoder));
    if (s->be && s->be != be)
        return zt_fail(ZT_ERR_USAGE, "wan vae: a stream runs on %s, not on %s", s->be->name,
                       be->name);
    s->be = be;
    return ZT_OK;
}

/* Frames are passed on one at a time once a group of them at the next stage would take
 * more than this; below it, groups keep the convolutions' weight preparation and
 * thread start-up shared between frames. */
#define VAE_GROUP_BYTES ((int64_t)32 << 20)

/* Decoder stage s and everything after it, depth first, on a group of frames x
 * [1, C, T, H, W] (x stays alive; all else is released). Every layer of the decoder
 * acts on frames one at a time or causally in time, so running a group all the way
 * down before the next gives the reference's numbers while holding only one group's
 * activations per level, not a whole chunk's. Finished frames go to out [1, 3, n, H',
 * W'] from *n_out on. */
static zt_status dec_group(run *r, const vae_coder *cd, int s, const zt_tensor *x,
                           zt_tensor *out, int64_t *n_out) {
    const zt_wan_vae *v = r->s->vae;
    zt_arena_mark m = zt_arena_save(r->a);
    zt_tensor y = *x;
    if (s == cd->n_stages) {
        ZT_TRY(head(r, &y, cd));                         /* [1, 3 p p, T, H, W] */
        if (v->info.patch == 2) {                        /* [1, 3, T, 2 H, 2 W] */
            zt_tensor px;
            ZT_TRY(act(r, &px, 3, y.shape[2], 2 * y.shape[3], 2 * y.shape[4]));
            ZT_TRY(patch_copy(r, &y, &px, 1));
            y = px;
        }
        int64_t t = y.shape[2];
        if (*n_out + t > out->shape[2] || y.shape[3] != out->shape[3] ||
            y.shape[4] != out->shape[4])
            return zt_fail(ZT_ERR_RUNTIME, "wan vae: the decoder made unexpected frames");
        zt_tensor dst = frames(out, *n_out, t);
        ZT_TRY(zt_op_copy(r->be, &dst, &y));
        *n_out += t;
        zt_arena_restore(r->a, m);
        return ZT_OK;
    }
    const vae_stage *st = &cd->st[s];
    ZT_TRY(res_chain(r, &y, x, st));
    /* what deeper levels allocate goes on top: leave only what this level still needs */
    if (y.data != x->data) ZT_TRY(keep(r, m, &y));
    if (st->rs == RS_NONE) {
        ZT_TRY(dec_group(r, cd, s + 1, &y, out, n_out));
        zt_arena_restore(r->a, m);
        return ZT_OK;
    }
    int64_t c = y.shape[1], t = y.shape[2], h = y.shape[3], w = y.shape[4];
    if (st->rs == RS_UP3D) {
        vae_slot *slot = NULL;
        if (r->first) { /* the first latent frame stays one frame; the slot starts now */
            ZT_TRY(get_slot(r, &slot, st->rs_time.slot, c, 2, h, w));
        } else {        /* time_conv gives 2 C channels: frame 2 t + j is channel block j */
            zt_tensor tc, il;
            ZT_TRY(conv_causal(r, &tc, &y, &st->rs_time));
            ZT_TRY(act(r, &il, c, 2 * t, h, w));
            zt_tensor src = view5(tc.data, 4, (int64_t[]){c, t, 2, h * w},
                                  (int64_t[]){t * h * w, h * w, c * t * h * w, 1});
            zt_tensor dst = view5(il.data, 4, (int64_t[]){c, t, 2, h * w},
                                  (int64_t[]){2 * t * h * w, 2 * h * w, h * w, 1});
            ZT_TRY(zt_op_copy(r->be, &dst, &src));
            y = il;
            t *= 2;
            ZT_TRY(keep(r, m, &y));
        }
    }
    zt_tensor sc;
    if (st->has_short) { /* Wan2.2: DupUp3D of the stage's input, [1, Cout, T, 2H, 2W] */
        ZT_TRY(dup_up(r, &sc, x, st->ft, st->fs, st->cout));
        if (sc.shape[2] != t || sc.shape[1] != st->rs_conv.cout)
            return zt_fail(ZT_ERR_RUNTIME, "wan vae: shortcut and stage disagree in shape");
    }
    /* nearest 2x and a 3x3 conv: the whole group, or frame by frame when it is big */
    int64_t co = st->rs_conv.cout, per = co * 4 * h * w * (int64_t)sizeof(float);
    int64_t g = per * t > VAE_GROUP_BYTES ? 1 : t;
    for (int64_t j = 0; j < t; j += g) {
        zt_arena_mark mj = zt_arena_save(r->a);
        zt_tensor fj = frames(&y, j, g), in = fj, up, yo;
        ZT_TRY(act(r, &yo, co, g, 2 * h, 2 * w));
        zt_arena_mark mu = zt_arena_save(r->a);
        if (g != t) { /* a strided frame of the group, made contiguous */
            ZT_TRY(act(r, &in, c, g, h, w));
            ZT_TRY(zt_op_copy(r->be, &in, &fj));
        }
        ZT_TRY(act(r, &up, c, g, 2 * h, 2 * w));
        ZT_TRY(zt_op_upsample_nearest(r->be, &up, &in));
        ZT_TRY(conv_plain_into(r, &yo, &up, &st->rs_conv));
        zt_arena_restore(r->a, mu);
        if (st->has_short) {
            zt_tensor sj = frames(&sc, j, g);
            ZT_TRY(zt_op_add(r->be, &yo, &yo, &sj));
        }
        ZT_TRY(dec_group(r, cd, s + 1, &yo, out, n_out));
        zt_arena_restore(r->a, mj);
    }
    zt_arena_restore(r->a, m);
    return ZT_OK;
}

zt_status zt_wan_vae_decode_chunk(zt_wan_vae_stream *s, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *z, zt_tensor *out) {
    const zt_wan_vae *v = s->vae;
    const vae_coder *cd = &v->dec;
    if (!s->decoder) return zt_fail(ZT_ERR_RUNTIME, "wan vae: decoding on an encoder stream");
    ZT_TRY(need_input(z, 3, v->info.z_dim, "a latent frame"));
    if (z->device != be->device)
        return zt_fail(ZT_ERR_USAGE, "wan vae: the latent frame is not in the backend's memory");
    ZT_TRY(chunk_begin(s, be));
    run r = {be, arena, s, s->chunk == 0};
    int64_t n = r.first ? 1 : v->info.stride_t, n_out = 0;
    int64_t hp = z->shape[1] * v->info.stride_s, wp = z->shape[2] * v->info.stride_s;
    zt_tensor o;                                         /* [1, 3, n, H, W] */
    ZT_TRY(act(&r, &o, 3, n, hp, wp));
    zt_arena_mark m = zt_arena_save(arena);
    zt_tensor zin = zt_tensor_new(ZT_F32, z->data, 1, z->shape[0], 1, z->shape[1], z->shape[2]);
    zt_tensor x, y;
    ZT_TRY(conv_plain(&r, &x, &zin, &v->post_quant));    /* [1, z, 1, h, w] */
    ZT_TRY(conv_causal(&r, &y, &x, &cd->conv_in));       /* [1, C, 1, h, w] */
    x = y;
    ZT_TRY(keep(&r, m, &x));
    ZT_TRY(middle(&r, &x, cd));
    ZT_TRY(keep(&r, m, &x));
    ZT_TRY(dec_group(&r, cd, 0, &x, &o, &n_out));        /* the stages, depth first */
    zt_arena_restore(arena, m);
    if (n_out != n)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: a chunk gave %lld frames, not %lld",
                       (long long)n_out, (long long)n);
    ZT_TRY(chunk_done(&r));
    return zt_tensor_reshape(out, &o, 4, o.shape + 1);
}

zt_status zt_wan_vae_encode_chunk(zt_wan_vae_stream *s, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *in, zt_tensor *mu) {
    const zt_wan_vae *v = s->vae;
    const vae_coder *cd = &v->enc;
    if (s->decoder) return zt_fail(ZT_ERR_RUNTIME, "wan vae: encoding on a decoder stream");
    ZT_TRY(need_input(in, 4, 3, "a chunk of frames"));
    if (in->device != be->device)
        return zt_fail(ZT_ERR_USAGE, "wan vae: the frames are not in the backend's memory");
    ZT_TRY(chunk_begin(s, be));
    int64_t n = in->shape[1], h = in->shape[2], w = in->shape[3];
    if (n != (s->chunk == 0 ? 1 : v->info.stride_t))
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: chunk %lld of the encoder has %lld frames",
                       (long long)s->chunk, (long long)n);
    run r = {be, arena, s, s->chunk == 0};
    zt_arena_mark m = zt_arena_save(arena);
    zt_tensor x = zt_tensor_new(ZT_F32, in->data, 1, 3, n, h, w), y;
    if (v->info.patch == 2) {                            /* [1, 12, n, H / 2, W / 2] */
        ZT_TRY(act(&r, &y, 12, n, h / 2, w / 2));
        ZT_TRY(patch_copy(&r, &y, &x, 0));
        x = y;
    }
    ZT_TRY(conv_causal(&r, &y, &x, &cd->conv_in));       /* [1, C, n, H, W] */
    x = y;
    ZT_TRY(keep(&r, m, &x));
    for (int i = 0; i < cd->n_stages; i++) {
        ZT_TRY(enc_stage(&r, &x, &cd->st[i]));
        ZT_TRY(keep(&r, m, &x));
    }
    ZT_TRY(middle(&r, &x, cd));                          /* [1, C, 1, h, w] */
    ZT_TRY(keep(&r, m, &x));
    ZT_TRY(head(&r, &x, cd));                            /* [1, 2 z, 1, h, w] */
    ZT_TRY(keep(&r, m, &x));
    ZT_TRY(conv_plain(&r, &y, &x, &v->quant));
    if (y.shape[2] != 1)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: an encoder chunk gave %lld latent frames",
                       (long long)y.shape[2]);
    zt_tensor mean, out;                                 /* the first z channels */
    ZT_TRY(zt_tensor_narrow(&mean, &y, 1, 0, v->info.z_dim));
    ZT_TRY(act(&r, &out, v->info.z_dim, 1, y.shape[3], y.shape[4]));
    ZT_TRY(zt_op_copy(be, &out, &mean));
    ZT_TRY(keep(&r, m, &out));
    ZT_TRY(chunk_done(&r));
    return zt_tensor_reshape(mu, &out, 4, out.shape + 1);
}

/* ---- whole clips ---------------------------------------------------------------------- */

/* x [z, ...] = x * sc[c] + sh[c] per channel, sc and sh [z, 1, 1, 1] where x is. */
static zt_status per_channel_t(zt_backend *be, zt_tensor *x, const zt_tensor *sc,
                               const zt_tensor *sh) {
    zt_tensor x4 = *x;
    if (x4.ndim == 3) ZT_TRY(zt_tensor_unsqueeze(&x4, x, 1));
    ZT_TRY(zt_op_mul(be, &x4, &x4, sc));
    return zt_op_add(be, &x4, &x4, sh);
}

zt_status zt_wan_vae_per_channel(zt_backend *be, zt_tensor *x, const float *scale,
                                 const float *shift) {
    int64_t c = x->shape[0];
    zt_tensor sc = zt_tensor_new(ZT_F32, (void *)scale, c, 1, 1, 1);
    zt_tensor sh = zt_tensor_new(ZT_F32, (void *)shift, c, 1, 1, 1);
    if (!be->device) return per_channel_t(be, x, &sc, &sh);
    /* host tables: a short-lived device copy */
    size_t bytes = (size_t)c * sizeof(float);
    void *d = NULL;
    ZT_TRY(be->alloc(be, 2 * bytes, &d));
    sc.data = d;
    sh.data = (char *)d + bytes;
    sc.device = sh.device = be->device;
    zt_status rc = be->upload(be, sc.data, scale, bytes);
    if (rc == ZT_OK) rc = be->upload(be, sh.data, shift, bytes);
    if (rc == ZT_OK) rc = per_channel_t(be, x, &sc, &sh);
    be->dealloc(be, d); /* waits for the queued work */
    return rc;
}

zt_status zt_wan_vae_latent_stats(const zt_wan_vae *v, zt_backend *be, zt_tensor *x,
                                  int decoder) {
    decoder = decoder != 0;
    ZT_TRY(check_placed(v, be, decoder));
    return per_channel_t(be, x, &v->stat[decoder][0], &v->stat[decoder][1]);
}

zt_status zt_wan_vae_decode(const zt_wan_vae *v, zt_backend *be, zt_arena *arena,
                            const zt_tensor *latents, int flags, zt_wan_vae_frame_fn fn,
                            void *user) {
    const zt_wan_vae_info *in = &v->info;
    if (latents->dtype != ZT_F32 || latents->ndim != 4 || latents->shape[0] != in->z_dim)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: latents should be [%d, T, h, w] f32",
                       in->z_dim);
    int64_t z = in->z_dim, t = latents->shape[1], h = latents->shape[2], w = latents->shape[3];
    if (t < 1 || h < 1 || w < 1) return zt_fail(ZT_ERR_RUNTIME, "wan vae: empty latents");
    ZT_TRY(check_where(be, latents, "latents"));
    ZT_TRY(check_placed(v, be, 1));
    /* frames go to fn in host memory: from a device, through host (one frame) */
    float *host = NULL;
    if (be->device) {
        size_t fb = (size_t)(3 * h * in->stride_s * w * in->stride_s) * sizeof *host;
        host = malloc(fb);
        if (!host) return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory for a frame");
    }
    zt_wan_vae_stream *s;
    zt_status rc = zt_wan_vae_stream_init(&s, v, 1);
    if (rc != ZT_OK) {
        free(host);
        return rc;
    }
    zt_arena_mark m = zt_arena_save(arena);
    int64_t index = 0;
    for (int64_t i = 0; i < t && rc == ZT_OK; i++) {
        if (zt_interrupted()) {
            rc = zt_fail(ZT_ERR_INTERRUPTED, "interrupted");
            break;
        }
        zt_tensor lf, zi, out, frame;
        rc = zt_tensor_select(&lf, latents, 1, i);       /* [z, h, w] */
        if (rc == ZT_OK) rc = zt_arena_tensor(arena, &zi, ZT_F32, 3, (int64_t[]){z, h, w});
        if (rc == ZT_OK) rc = zt_wan_vae_copy_in(be, &zi, &lf);
        if (rc == ZT_OK && !(flags & ZT_VAE_RAW)) rc = zt_wan_vae_latent_stats(v, be, &zi, 1);
        if (rc == ZT_OK) rc = zt_wan_vae_decode_chunk(s, be, arena, &zi, &out);
        if (rc == ZT_OK) rc = zt_op_clamp(be, &out, &out, -1.0f, 1.0f);
        int64_t n = out.shape[1];
        if (rc == ZT_OK)
            rc = zt_arena_tensor(arena, &frame, ZT_F32, 3,
                                 (int64_t[]){3, out.shape[2], out.shape[3]});
        for (int64_t f = 0; f < n && rc == ZT_OK; f++) {
            zt_tensor src;
            rc = zt_tensor_select(&src, &out, 1, f);
            if (rc == ZT_OK) rc = zt_op_copy(be, &frame, &src);
            if (rc == ZT_OK) rc = be->sync(be);
            zt_tensor hf = frame;
            if (rc == ZT_OK && host) { /* download is synchronous */
                hf.data = host;
                hf.device = 0;
                rc = be->download(be, host, frame.data, zt_tensor_nbytes(&frame));
            }
            if (rc == ZT_OK) rc = fn(user, &hf, index++);
        }
        zt_arena_restore(arena, m);
    }
    zt_wan_vae_stream_free(s);
    free(host);
    return rc;
}

zt_status zt_wan_vae_encode(const zt_wan_vae *v, zt_backend *be, zt_arena *arena,
                            const zt_tensor *video, int flags, zt_tensor *latents) {
    const zt_wan_vae_info *in = &v->info;
    if (video->dtype != ZT_F32 || video->ndim != 4 || video->shape[0] != 3)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: video should be [3, F, H, W] f32");
    int64_t f = video->shape[1], h = video->shape[2], w = video->shape[3], st = in->stride_t;
    if (f < 1 || (f - 1) % st != 0)
        return zt_fail(ZT_ERR_INPUT, "wan vae: %lld frames cannot be encoded: the VAE takes "
                       "1 + %lld k frames", (long long)f, (long long)st);
    if (h < in->stride_s || w < in->stride_s || h % in->stride_s || w % in->stride_s)
        return zt_fail(ZT_ERR_INPUT, "wan vae: %lldx%lld cannot be encoded: width and height "
                       "must be multiples of %d", (long long)w, (long long)h, in->stride_s);
    int64_t t = 1 + (f - 1) / st, lh = h / in->stride_s, lw = w / in->stride_s;
    if (latents->dtype != ZT_F32 || latents->ndim != 4 || latents->shape[0] != in->z_dim ||
        latents->shape[1] != t || latents->shape[2] != lh || latents->shape[3] != lw)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: latents should be [%d, %lld, %lld, %lld] f32",
                       in->z_dim, (long long)t, (long long)lh, (long long)lw);
    ZT_TRY(check_where(be, video, "the video's frames"));
    ZT_TRY(check_where(be, latents, "latents"));
    ZT_TRY(check_placed(v, be, 0));
    zt_wan_vae_stream *s;
    ZT_TRY(zt_wan_vae_stream_init(&s, v, 0));
    zt_arena_mark m = zt_arena_save(arena);
    zt_status rc = ZT_OK;
    for (int64_t i = 0; i < t && rc == ZT_OK; i++) {
        if (zt_interrupted()) {
            rc = zt_fail(ZT_ERR_INTERRUPTED, "interrupted");
            break;
        }
        int64_t start = i == 0 ? 0 : 1 + (i - 1) * st, n = i == 0 ? 1 : st;
        zt_tensor src, x, mu, dst;
        rc = zt_tensor_narrow(&src, video, 1, start, n);
        if (rc == ZT_OK) rc = zt_arena_tensor(arena, &x, ZT_F32, 4, (int64_t[]){3, n, h, w});
        if (rc == ZT_OK) rc = zt_wan_vae_copy_in(be, &x, &src);
        if (rc == ZT_OK) rc = zt_wan_vae_encode_chunk(s, be, arena, &x, &mu);
        if (rc == ZT_OK && !(flags & ZT_VAE_RAW)) rc = zt_wan_vae_latent_stats(v, be, &mu, 0);
        if (rc == ZT_OK) rc = zt_tensor_narrow(&dst, latents, 1, i, 1);
        if (rc == ZT_OK) rc = zt_wan_vae_copy_out(be, &dst, &mu);
        zt_arena_restore(arena, m);
    }
    zt_wan_vae_stream_free(s);
    return rc;
}
