/* wan_vae_tiled.c - spatial tiling of the Wan VAEs, as diffusers' AutoencoderKLWan
 * tiled_decode / tiled_encode compute it, on the chunk API of wan_vae.h.
 *
 * diffusers decodes every tile over all frames, then walks the tiles in row-major
 * order blending each, in place, with the already blended tile above (blend_v) and
 * then the one to its left (blend_h), and keeps each tile's first (tile - overlap)
 * rows and columns. A tile's blend needs only the bottom `overlap` rows of the tile
 * above and the right `overlap` columns of the tile to its left, both after their own
 * blends, so the same numbers come out of a tile-major loop that holds one tile's
 * stream at a time and keeps those strips.
 *
 * Decode memory: one tile's causal caches are large (about 9.5 KB per output pixel
 * for the real Wan2.1 decoder), and the frames, the row of bottom strips and the
 * right strip all grow with the clip, so those three live in an unlinked scratch file
 * (frame-major [F][3][H][W] f32 for the frames, so the final pass reads a frame with
 * one pread); the arena holds one tile chunk and two strip buffers of one frame.
 *
 * Devices: the blend is host work on small strips, so it stays there: each tile
 * chunk's frames are downloaded (decode) or each tile's latents go down and, blended,
 * back up (encode); the strip buffers are then malloc'd, not in the device arena.
 *
 * Letters: z latent channels, s pixels per latent pixel (stride_s), P the patch (1,
 * or 2 for Wan2.2), T tile, O overlap, S = T - O tile stride (pixels), F frames. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/ops.h"
#include "../core/status.h"
#include "wan_vae.h"

/* ---- the tile grid ---------------------------------------------------------------- */

/* One axis of the grid, in the units tiles are cut in (latent pixels for decode). */
typedef struct axis {
    int64_t size; /* whole extent */
    int64_t step; /* between tile starts */
    int64_t len;  /* of a tile, before the border cut */
    int64_t n;    /* tiles */
} axis;

static axis axis_make(int64_t size, int64_t step, int64_t len) {
    axis a = {size, step, len, (size + step - 1) / step}; /* starts 0, step, ... < size */
    return a;
}
static int64_t axis_start(const axis *a, int64_t i) {
    return i * a->step;
}
static int64_t axis_len(const axis *a, int64_t i) {
    int64_t rest = a->size - i * a->step;
    return rest < a->len ? rest : a->len;
}
static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* A caller's tensor must be in host memory or be's. */
static zt_status check_where(const zt_backend *be, const zt_tensor *t, const char *what) {
    if (t->device && t->device != be->device)
        return zt_fail(ZT_ERR_USAGE, "wan vae: %s live on device %d, not on %s's", what,
                       t->device - 1, be->name);
    return ZT_OK;
}

/* n floats of host memory, or NULL with the error set. */
static float *host_floats(int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory for tile buffers");
    return p;
}

static zt_status check_tiling(const zt_wan_vae_info *in, const zt_vae_tiling *t) {
    if (t->tile < 0 || t->overlap < 0 || (t->tile > 0 && t->overlap >= t->tile) ||
        t->tile % in->stride_s || t->overlap % in->stride_s)
        return zt_fail(ZT_ERR_USAGE,
                       "wan vae: tile %d with overlap %d: the tile and overlap "
                       "must be multiples of %d and the overlap smaller than the tile",
                       t->tile, t->overlap, in->stride_s);
    return ZT_OK;
}

int zt_vae_default_overlap(int tile, int stride_s) {
    int ov = tile / 8 < 32 ? 32 : tile / 8 > 64 ? 64 : tile / 8;
    if (ov > tile / 4) ov = tile / 4;
    return stride_s > 0 ? ov / stride_s * stride_s : ov;
}

/* ---- blending ------------------------------------------------------------------------ */

/* diffusers' ramp: b = a * (1 - y / e) + b * (y / e), the weights rounded to f32 as
 * torch does for a Python float times an f32 tensor. p: the patch the blend ran in
 * (rows of one patch share a weight). */
static void ramp(int64_t y, int64_t e, int p, float *wa, float *wb) {
    double q = (double)(y / p) / (double)(e / p);
    *wa = (float)(1.0 - q);
    *wb = (float)q;
}

/* A tile b [nc][h][w] (channel stride cs) blended with the tile above, whose last
 * `rows` rows (of its ah) are strip [nc][rows][w]: blend_v over e = min(ah, h, o). */
static void blend_v(float *b, int64_t nc, int64_t cs, int64_t h, int64_t w, const float *strip,
                    int64_t rows, int64_t ah, int64_t o, int p) {
    int64_t e = min64(min64(ah, h), o);
    for (int64_t y = 0; y < e; y++) {
        float wa, wb;
        ramp(y, e, p, &wa, &wb);
        for (int64_t c = 0; c < nc; c++) {
            const float *a = strip + (c * rows + rows - e + y) * w;
            float *r = b + c * cs + y * w;
            for (int64_t x = 0; x < w; x++) r[x] = a[x] * wa + r[x] * wb;
        }
    }
}

/* The same with the tile to the left, whose last `cols` columns (of its aw) are strip
 * [nc][h][cols]: blend_h over e = min(aw, w, o). */
static void blend_h(float *b, int64_t nc, int64_t cs, int64_t h, int64_t w, const float *strip,
                    int64_t cols, int64_t aw, int64_t o, int p) {
    int64_t e = min64(min64(aw, w), o);
    float wa[512], wb[512]; /* e <= overlap; larger overlaps take the slow path */
    int cached = e <= 512;
    for (int64_t x = 0; cached && x < e; x++) ramp(x, e, p, &wa[x], &wb[x]);
    for (int64_t c = 0; c < nc; c++)
        for (int64_t y = 0; y < h; y++) {
            const float *a = strip + (c * h + y) * cols + cols - e;
            float *r = b + c * cs + y * w;
            for (int64_t x = 0; x < e; x++) {
                float fa, fb;
                if (cached)
                    fa = wa[x], fb = wb[x];
                else
                    ramp(x, e, p, &fa, &fb);
                r[x] = a[x] * fa + r[x] * fb;
            }
        }
}

/* Pack the last `rows` rows of b [nc][h][w] (channel stride cs) into out [nc][rows][w]. */
static void take_rows(float *out, const float *b, int64_t nc, int64_t cs, int64_t h, int64_t w,
                      int64_t rows) {
    for (int64_t c = 0; c < nc; c++)
        memcpy(out + c * rows * w, b + c * cs + (h - rows) * w, (size_t)(rows * w) * sizeof *out);
}
/* Pack the last `cols` columns into out [nc][h][cols]. */
static void take_cols(float *out, const float *b, int64_t nc, int64_t cs, int64_t h, int64_t w,
                      int64_t cols) {
    for (int64_t c = 0; c < nc; c++)
        for (int64_t y = 0; y < h; y++)
            memcpy(out + (c * h + y) * cols, b + c * cs + y * w + w - cols,
                   (size_t)cols * sizeof *out);
}

/* ---- the scratch file ------------------------------------------------------------------ */

typedef struct scratch {
    int fd;
    char path[PATH_MAX];
} scratch;

/* Created in $TMPDIR (or /tmp) and unlinked at once, so nothing is left behind even
 * when the process dies; the descriptor keeps it alive until scratch_close. */
static zt_status scratch_open(scratch *sc) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    sc->fd = -1;
    int n = snprintf(sc->path, sizeof sc->path, "%s/zoetrope-vae-tiles-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof sc->path)
        return zt_fail(ZT_ERR_IO, "wan vae: scratch directory name too long: %s", dir);
    sc->fd = mkostemp(sc->path, O_CLOEXEC);
    if (sc->fd < 0)
        return zt_fail(ZT_ERR_IO,
                       "wan vae: cannot create the scratch file %s: %s "
                       "(set TMPDIR to a writable directory)",
                       sc->path, strerror(errno));
    if (unlink(sc->path) != 0) {
        int e = errno;
        close(sc->fd);
        sc->fd = -1;
        return zt_fail(ZT_ERR_IO, "wan vae: cannot unlink the scratch file %s: %s", sc->path,
                       strerror(e));
    }
    return ZT_OK;
}

static zt_status scratch_close(scratch *sc, zt_status rc) {
    if (sc->fd < 0) return rc;
    int bad = close(sc->fd) != 0;
    int e = errno;
    sc->fd = -1;
    if (bad && rc == ZT_OK)
        return zt_fail(ZT_ERR_IO, "wan vae: closing the scratch file %s: %s", sc->path,
                       strerror(e));
    return rc;
}

/* n floats at float offset off. */
static zt_status scratch_write(scratch *sc, const float *p, int64_t n, int64_t off) {
    const char *c = (const char *)p;
    size_t left = (size_t)n * sizeof *p;
    off_t at = (off_t)off * (off_t)sizeof *p;
    while (left > 0) {
        ssize_t k = pwrite(sc->fd, c, left, at);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return zt_fail(ZT_ERR_IO,
                           "wan vae: writing the scratch file %s (set TMPDIR to "
                           "a directory with more room): %s",
                           sc->path, k < 0 ? strerror(errno) : "nothing written");
        c += k, left -= (size_t)k, at += k;
    }
    return ZT_OK;
}

static zt_status scratch_read(scratch *sc, float *p, int64_t n, int64_t off) {
    char *c = (char *)p;
    size_t left = (size_t)n * sizeof *p;
    off_t at = (off_t)off * (off_t)sizeof *p;
    while (left > 0) {
        ssize_t k = pread(sc->fd, c, left, at);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return zt_fail(ZT_ERR_IO, "wan vae: reading the scratch file %s: %s", sc->path,
                           k < 0 ? strerror(errno) : "unexpected end of file");
        c += k, left -= (size_t)k, at += k;
    }
    return ZT_OK;
}

/* ---- decode ------------------------------------------------------------------------------ */

/* Where everything lives in the scratch file, in floats. */
typedef struct dplan {
    axis ay, ax;           /* latent grid */
    int64_t s, o, st;      /* stride_s, overlap, tile stride (pixels) */
    int64_t f, hp, wp;     /* output frames and size */
    int64_t th, tw;        /* largest tile (pixels) */
    int64_t ob, or_;       /* most rows of a bottom strip, columns of a right strip */
    int64_t bottom, right; /* offsets of the strip regions */
    int64_t total;         /* floats */
    int tiled;
} dplan;

static void dplan_make(dplan *d, const zt_wan_vae_info *in, int64_t t, int64_t h, int64_t w,
                       const zt_vae_tiling *tl) {
    memset(d, 0, sizeof *d);
    int64_t s = in->stride_s, lt = tl->tile / s, ls = (tl->tile - tl->overlap) / s;
    d->tiled = tl->tile > 0 && (h > lt || w > lt); /* diffusers' _decode */
    if (!d->tiled) return;
    d->ay = axis_make(h, ls, lt);
    d->ax = axis_make(w, ls, lt);
    d->s = s, d->o = tl->overlap, d->st = ls * s;
    d->f = 1 + in->stride_t * (t - 1), d->hp = h * s, d->wp = w * s;
    d->th = min64(lt, h) * s, d->tw = min64(lt, w) * s;
    d->ob = min64(d->o, d->th), d->or_ = min64(d->o, d->tw);
    d->bottom = d->f * 3 * d->hp * d->wp;
    int64_t nb = d->ay.n > 1 ? d->ax.n * d->f * 3 * d->ob * d->tw : 0;
    d->right = d->bottom + nb;
    d->total = d->right + (d->ax.n > 1 ? d->f * 3 * d->th * d->or_ : 0);
}

int64_t zt_wan_vae_tiled_scratch_bytes(const zt_wan_vae *vae, int64_t t, int64_t h, int64_t w,
                                       const zt_vae_tiling *tiling) {
    const zt_wan_vae_info *in = zt_wan_vae_get_info(vae);
    if (!tiling || tiling->tile == 0) return 0;
    if (check_tiling(in, tiling) != ZT_OK || t < 1 || h < 1 || w < 1) return -1;
    dplan d;
    dplan_make(&d, in, t, h, w, tiling);
    return d.tiled ? d.total * (int64_t)sizeof(float) : 0;
}

typedef struct dtile {
    const dplan *d;
    scratch *sc;
    int64_t r, c;   /* tile */
    int64_t th, tw; /* its size (pixels) */
    int64_t ah, aw; /* sizes of the tiles above and to the left */
    int p;          /* Wan2.2 blends in the 2x2-patchified space */
    float *sv, *sh; /* strip buffers: [3][ob][tw], [3][th][or] */
    float *hb;      /* on a device: a chunk's frames in host memory, [3][n][th][tw] */
} dtile;

/* Blend frame `index` of a tile (b [3][th][tw], channel stride cs) with its
 * neighbours' strips, store its own strips and its kept part. */
static zt_status dtile_frame(dtile *t, float *b, int64_t cs, int64_t index) {
    const dplan *d = t->d;
    int64_t th = t->th, tw = t->tw, f = index;
    if (t->r > 0) {
        int64_t rows = min64(t->ah, d->o);
        ZT_TRY(scratch_read(t->sc, t->sv, 3 * rows * tw,
                            d->bottom + (t->c * d->f + f) * 3 * d->ob * d->tw));
        blend_v(b, 3, cs, th, tw, t->sv, rows, t->ah, d->o, t->p);
    }
    if (t->c > 0) {
        int64_t cols = min64(t->aw, d->o);
        ZT_TRY(scratch_read(t->sc, t->sh, 3 * th * cols, d->right + f * 3 * d->th * d->or_));
        blend_h(b, 3, cs, th, tw, t->sh, cols, t->aw, d->o, t->p);
    }
    if (t->r + 1 < d->ay.n) {
        int64_t rows = min64(th, d->o);
        take_rows(t->sv, b, 3, cs, th, tw, rows);
        ZT_TRY(scratch_write(t->sc, t->sv, 3 * rows * tw,
                             d->bottom + (t->c * d->f + f) * 3 * d->ob * d->tw));
    }
    if (t->c + 1 < d->ax.n) {
        int64_t cols = min64(tw, d->o);
        take_cols(t->sh, b, 3, cs, th, tw, cols);
        ZT_TRY(scratch_write(t->sc, t->sh, 3 * th * cols, d->right + f * 3 * d->th * d->or_));
    }
    int64_t kh = min64(th, d->st), kw = min64(tw, d->st);
    int64_t y0 = t->r * d->st, x0 = t->c * d->st;
    for (int64_t ch = 0; ch < 3; ch++)
        for (int64_t y = 0; y < kh; y++)
            ZT_TRY(scratch_write(t->sc, b + ch * cs + y * tw, kw,
                                 ((f * 3 + ch) * d->hp + y0 + y) * d->wp + x0));
    return ZT_OK;
}

/* Decode tile (r, c) over all latent frames with a fresh stream. */
static zt_status decode_tile(const zt_wan_vae *v, zt_backend *be, zt_arena *arena,
                             const zt_tensor *latents, int flags, dtile *t, zt_tensor *zi,
                             int dry) {
    const dplan *d = t->d;
    const zt_wan_vae_info *in = zt_wan_vae_get_info(v);
    int64_t y0 = axis_start(&d->ay, t->r), lh = axis_len(&d->ay, t->r);
    int64_t x0 = axis_start(&d->ax, t->c), lw = axis_len(&d->ax, t->c);
    t->th = lh * d->s, t->tw = lw * d->s;
    t->ah = t->r > 0 ? axis_len(&d->ay, t->r - 1) * d->s : 0;
    t->aw = t->c > 0 ? axis_len(&d->ax, t->c - 1) * d->s : 0;
    zt_tensor z = zt_tensor_new(ZT_F32, zi->data, in->z_dim, lh, lw);
    z.device = zi->device;
    zt_wan_vae_stream *s;
    ZT_TRY(zt_wan_vae_stream_init(&s, v, 1));
    zt_arena_mark m = zt_arena_save(arena);
    zt_status rc = ZT_OK;
    int64_t index = 0;
    for (int64_t k = 0; k < latents->shape[1] && rc == ZT_OK; k++) {
        if (zt_interrupted()) {
            rc = zt_fail(ZT_ERR_INTERRUPTED, "interrupted");
            break;
        }
        zt_tensor lf, lv, out;
        rc = zt_tensor_select(&lf, latents, 1, k); /* [z, h, w] */
        if (rc == ZT_OK) rc = zt_tensor_narrow(&lv, &lf, 1, y0, lh);
        if (rc == ZT_OK) rc = zt_tensor_narrow(&lv, &lv, 2, x0, lw);
        if (rc == ZT_OK) rc = zt_wan_vae_copy_in(be, &z, &lv);
        if (rc == ZT_OK && !(flags & ZT_VAE_RAW)) rc = zt_wan_vae_latent_stats(v, be, &z, 1);
        if (rc == ZT_OK) rc = zt_wan_vae_decode_chunk(s, be, arena, &z, &out); /* [3, n, h, w] */
        if (rc == ZT_OK) rc = be->sync(be);
        int64_t n = rc == ZT_OK ? out.shape[1] : 0;
        float *b = out.data;
        if (rc == ZT_OK && !dry && be->device) { /* the blend runs on the host */
            b = t->hb;
            rc = be->download(be, b, out.data, zt_tensor_nbytes(&out));
        }
        for (int64_t j = 0; j < n && rc == ZT_OK && !dry; j++)
            rc = dtile_frame(t, b + j * t->th * t->tw, n * t->th * t->tw, index + j);
        index += n;
        zt_arena_restore(arena, m);
    }
    zt_wan_vae_stream_free(s);
    return rc;
}

/* Frames out of the scratch file, clamped, to fn in order. */
static zt_status emit_frames(const dplan *d, scratch *sc, int dry, zt_arena *arena,
                             zt_wan_vae_frame_fn fn, void *user) {
    int64_t n = 3 * d->hp * d->wp;
    zt_tensor frame;
    float *buf = NULL;
    zt_arena_mark m = zt_arena_save(arena);
    if (dry) { /* measuring: an untouched frame from the arena */
        ZT_TRY(zt_arena_tensor(arena, &frame, ZT_F32, 3, (int64_t[]){3, d->hp, d->wp}));
    } else {
        buf = malloc((size_t)n * sizeof *buf);
        if (!buf)
            return zt_fail(ZT_ERR_NOMEM, "wan vae: out of memory for a %lldx%lld frame",
                           (long long)d->wp, (long long)d->hp);
        frame = zt_tensor_new(ZT_F32, buf, 3, d->hp, d->wp);
    }
    zt_status rc = ZT_OK;
    for (int64_t f = 0; f < d->f && rc == ZT_OK; f++) {
        if (zt_interrupted()) {
            rc = zt_fail(ZT_ERR_INTERRUPTED, "interrupted");
            break;
        }
        if (!dry) {
            rc = scratch_read(sc, buf, n, f * n);
            for (int64_t i = 0; i < n && rc == ZT_OK; i++)
                buf[i] = buf[i] < -1.0f ? -1.0f : buf[i] > 1.0f ? 1.0f : buf[i];
        }
        if (rc == ZT_OK) rc = fn(user, &frame, f);
    }
    free(buf);
    zt_arena_restore(arena, m);
    return rc;
}

zt_status zt_wan_vae_decode_tiled(const zt_wan_vae *v, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *latents, int flags, const zt_vae_tiling *tiling,
                                  zt_wan_vae_frame_fn fn, void *user) {
    const zt_wan_vae_info *in = zt_wan_vae_get_info(v);
    if (!tiling || tiling->tile == 0)
        return zt_wan_vae_decode(v, be, arena, latents, flags, fn, user);
    ZT_TRY(check_tiling(in, tiling));
    if (latents->dtype != ZT_F32 || latents->ndim != 4 || latents->shape[0] != in->z_dim)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: latents should be [%d, T, h, w] f32", in->z_dim);
    int64_t z = in->z_dim, t = latents->shape[1], h = latents->shape[2], w = latents->shape[3];
    if (t < 1 || h < 1 || w < 1) return zt_fail(ZT_ERR_RUNTIME, "wan vae: empty latents");
    ZT_TRY(check_where(be, latents, "latents"));
    dplan d;
    dplan_make(&d, in, t, h, w, tiling);
    if (!d.tiled) return zt_wan_vae_decode(v, be, arena, latents, flags, fn, user);

    int dry = zt_arena_measuring();
    scratch sc = {-1, {0}};
    if (!dry) ZT_TRY(scratch_open(&sc));
    zt_arena_mark m = zt_arena_save(arena);
    zt_tensor zi, sv, sh;
    int64_t lt = tiling->tile / d.s;
    float *host[3] = {NULL, NULL, NULL}; /* on a device: the strips and a chunk's frames */
    zt_status rc = zt_arena_tensor(arena, &zi, ZT_F32, 3, (int64_t[]){z, lt, lt});
    if (rc == ZT_OK && be->device) {
        host[0] = host_floats(3 * d.ob * d.tw);
        host[1] = host_floats(3 * d.th * d.or_);
        host[2] = host_floats(3 * in->stride_t * d.th * d.tw);
        if (!host[0] || !host[1] || !host[2]) rc = ZT_ERR_NOMEM;
    } else if (rc == ZT_OK) {
        rc = zt_arena_tensor(arena, &sv, ZT_F32, 1, (int64_t[]){3 * d.ob * d.tw});
        if (rc == ZT_OK)
            rc = zt_arena_tensor(arena, &sh, ZT_F32, 1, (int64_t[]){3 * d.th * d.or_});
        if (rc == ZT_OK) host[0] = sv.data, host[1] = sh.data;
    }
    dtile tile = {&d, &sc, 0, 0, 0, 0, 0, 0, in->patch, host[0], host[1], host[2]};
    for (int64_t r = 0; r < d.ay.n && rc == ZT_OK; r++)
        for (int64_t c = 0; c < d.ax.n && rc == ZT_OK; c++) {
            tile.r = r, tile.c = c;
            rc = decode_tile(v, be, arena, latents, flags, &tile, &zi, dry);
        }
    if (be->device)
        for (int i = 0; i < 3; i++) free(host[i]);
    zt_arena_restore(arena, m);
    if (rc == ZT_OK) rc = emit_frames(&d, &sc, dry, arena, fn, user);
    return scratch_close(&sc, rc);
}

/* ---- encode ------------------------------------------------------------------------------ */

zt_status zt_wan_vae_encode_tiled(const zt_wan_vae *v, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *video, int flags, const zt_vae_tiling *tiling,
                                  zt_tensor *latents) {
    const zt_wan_vae_info *in = zt_wan_vae_get_info(v);
    if (!tiling || tiling->tile == 0) return zt_wan_vae_encode(v, be, arena, video, flags, latents);
    ZT_TRY(check_tiling(in, tiling));
    if (video->dtype != ZT_F32 || video->ndim != 4 || video->shape[0] != 3)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: video should be [3, F, H, W] f32");
    int64_t nf = video->shape[1], hp = video->shape[2], wp = video->shape[3];
    /* diffusers' _encode: tile when the video (not patchified) exceeds the tile */
    if (!(hp > tiling->tile || wp > tiling->tile))
        return zt_wan_vae_encode(v, be, arena, video, flags, latents);
    int64_t st = in->stride_t, s = in->stride_s, p = in->patch, z = in->z_dim;
    if (nf < 1 || (nf - 1) % st != 0)
        return zt_fail(ZT_ERR_INPUT,
                       "wan vae: %lld frames cannot be encoded: the VAE takes "
                       "1 + %lld k frames",
                       (long long)nf, (long long)st);
    if (hp % s || wp % s)
        return zt_fail(ZT_ERR_INPUT,
                       "wan vae: %lldx%lld cannot be encoded: width and height "
                       "must be multiples of %lld",
                       (long long)wp, (long long)hp, (long long)s);
    int64_t t = 1 + (nf - 1) / st, h = hp / s, w = wp / s;
    if (latents->dtype != ZT_F32 || latents->ndim != 4 || latents->shape[0] != z ||
        latents->shape[1] != t || latents->shape[2] != h || latents->shape[3] != w)
        return zt_fail(ZT_ERR_RUNTIME, "wan vae: latents should be [%lld, %lld, %lld, %lld] f32",
                       (long long)z, (long long)t, (long long)h, (long long)w);
    ZT_TRY(check_where(be, video, "the video's frames"));
    ZT_TRY(check_where(be, latents, "latents"));
    /* diffusers tiles the patchified video: tile and overlap count patchified pixels,
     * es of which make a latent pixel, so a Wan2.2 tile covers 2 * tile video pixels */
    int64_t es = s / p, lt = tiling->tile / es, ls = (tiling->tile - tiling->overlap) / es;
    int64_t lo = lt - ls;
    axis ay = axis_make(h, ls, lt), ax = axis_make(w, ls, lt);
    int64_t th = min64(lt, h), tw = min64(lt, w), ob = min64(lo, th), or_ = min64(lo, tw);
    int64_t nc = z * t; /* channels of a tile's blend */

    zt_arena_mark m0 = zt_arena_save(arena);
    zt_tensor tb, sv, sh; /* tile [z, t, th, tw]; strips */
    float *hb = NULL, *hv = NULL, *hh = NULL; /* their host memory: the blend's */
    zt_status rc = zt_arena_tensor(arena, &tb, ZT_F32, 1, (int64_t[]){nc * th * tw});
    if (rc == ZT_OK && be->device) { /* the blend runs on the host */
        hb = host_floats(nc * th * tw);
        hv = host_floats(ax.n * nc * ob * tw);
        hh = host_floats(nc * th * or_);
        if (!hb || !hv || !hh) rc = ZT_ERR_NOMEM;
    } else if (rc == ZT_OK) {
        rc = zt_arena_tensor(arena, &sv, ZT_F32, 1, (int64_t[]){ax.n * nc * ob * tw});
        if (rc == ZT_OK) rc = zt_arena_tensor(arena, &sh, ZT_F32, 1, (int64_t[]){nc * th * or_});
        if (rc == ZT_OK) hb = tb.data, hv = sv.data, hh = sh.data;
    }
    int dry = zt_arena_measuring();
    for (int64_t r = 0; r < ay.n && rc == ZT_OK; r++)
        for (int64_t c = 0; c < ax.n && rc == ZT_OK; c++) {
            int64_t y0 = axis_start(&ay, r), lh = axis_len(&ay, r);
            int64_t x0 = axis_start(&ax, c), lw = axis_len(&ax, c);
            zt_tensor tile = zt_tensor_new(ZT_F32, tb.data, z, t, lh, lw);
            tile.device = tb.device;
            zt_wan_vae_stream *s_ = NULL;
            rc = zt_wan_vae_stream_init(&s_, v, 0);
            zt_arena_mark m = zt_arena_save(arena);
            for (int64_t k = 0; k < t && rc == ZT_OK; k++) {
                if (zt_interrupted()) {
                    rc = zt_fail(ZT_ERR_INTERRUPTED, "interrupted");
                    break;
                }
                int64_t start = k == 0 ? 0 : 1 + (k - 1) * st, n = k == 0 ? 1 : st;
                zt_tensor src, x, mu, dst;
                rc = zt_tensor_narrow(&src, video, 1, start, n);
                if (rc == ZT_OK) rc = zt_tensor_narrow(&src, &src, 2, y0 * s, lh * s);
                if (rc == ZT_OK) rc = zt_tensor_narrow(&src, &src, 3, x0 * s, lw * s);
                if (rc == ZT_OK)
                    rc = zt_arena_tensor(arena, &x, ZT_F32, 4, (int64_t[]){3, n, lh * s, lw * s});
                if (rc == ZT_OK) rc = zt_wan_vae_copy_in(be, &x, &src);
                if (rc == ZT_OK) rc = zt_wan_vae_encode_chunk(s_, be, arena, &x, &mu);
                if (rc == ZT_OK) rc = zt_tensor_narrow(&dst, &tile, 1, k, 1);
                if (rc == ZT_OK) rc = zt_op_copy(be, &dst, &mu);
                zt_arena_restore(arena, m);
            }
            zt_wan_vae_stream_free(s_);
            if (rc == ZT_OK) rc = be->sync(be);
            if (rc != ZT_OK || dry) continue;
            float *b = hb, *bot = hv + c * nc * ob * tw;
            size_t tile_bytes = zt_tensor_nbytes(&tile);
            if (be->device) rc = be->download(be, b, tb.data, tile_bytes);
            if (rc != ZT_OK) continue;
            int64_t ah = r > 0 ? axis_len(&ay, r - 1) : 0, aw = c > 0 ? axis_len(&ax, c - 1) : 0;
            if (r > 0) blend_v(b, nc, lh * lw, lh, lw, bot, min64(ah, lo), ah, lo, 1);
            if (c > 0) blend_h(b, nc, lh * lw, lh, lw, hh, min64(aw, lo), aw, lo, 1);
            if (r + 1 < ay.n) take_rows(bot, b, nc, lh * lw, lh, lw, min64(lh, lo));
            if (c + 1 < ax.n) take_cols(hh, b, nc, lh * lw, lh, lw, min64(lw, lo));
            if (be->device) { /* blended, back up; hb is reused by the next tile */
                rc = be->upload(be, tb.data, b, tile_bytes);
                if (rc == ZT_OK) rc = be->sync(be);
                if (rc != ZT_OK) continue;
            }
            /* the kept part, normalized, into the latents */
            zt_tensor keep, dst, tmp;
            int64_t kh = min64(lh, ls), kw = min64(lw, ls);
            rc = zt_tensor_narrow(&keep, &tile, 2, 0, kh);
            if (rc == ZT_OK) rc = zt_tensor_narrow(&keep, &keep, 3, 0, kw);
            if (rc == ZT_OK)
                rc = zt_arena_tensor(arena, &tmp, ZT_F32, 4, (int64_t[]){z, t, kh, kw});
            if (rc == ZT_OK) rc = zt_op_copy(be, &tmp, &keep);
            if (rc == ZT_OK && !(flags & ZT_VAE_RAW)) rc = zt_wan_vae_latent_stats(v, be, &tmp, 0);
            if (rc == ZT_OK) rc = zt_tensor_narrow(&dst, latents, 2, r * ls, kh);
            if (rc == ZT_OK) rc = zt_tensor_narrow(&dst, &dst, 3, c * ls, kw);
            if (rc == ZT_OK) rc = zt_wan_vae_copy_out(be, &dst, &tmp);
            zt_arena_restore(arena, m);
        }
    if (be->device) {
        free(hb);
        free(hv);
        free(hh);
    }
    zt_arena_restore(arena, m0);
    return rc;
}
