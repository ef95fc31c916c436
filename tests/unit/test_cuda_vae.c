/* The Wan VAEs on a device backend against the CPU backend: decode and encode, untiled
 * and tiled (small tiles: several per side, border tiles cut), with the tiny random
 * fixture VAEs of tests/data/vae/{wan21,wan22}.
 *
 * Two devices: first a stand-in that runs the CPU backend's ops but claims a device and
 * keeps its memory apart (zt_test_standin_device: alloc, upload, download, fill_zero
 * and move of its own, with a count of the bytes allocated), so that every device path of the VAE
 * (placement, the caches' own allocations, the uploads and downloads, the host-side tile blending,
 * a device arena sized by zt_plan_vae_device) runs on any machine and must give the CPU's numbers
 * bit for bit. Then the CUDA backend, when there is a GPU (else SKIP, exit 77, unless the stand-in
 * failed): as it runs by default (bf16 activations into the bf16 convolutions; see TOL_GPU) and
 * with ZT_CUDA_EXACT (plain f32 GEMMs, within 1e-4 of the CPU's largest value), and two decodes
 * bit-identical. On every backend i2v's picture is also encoded alone, in the arena its plan
 * sizes, and on CUDA its scratch is held to the plan (encode_picture). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/arena.h"
#include "models/wan_vae.h"
#include "pipeline/plan.h"
#include "testlib.h"

/* The GPU rounds activations to bf16 before each convolution of these bf16 fixtures (as
 * PyTorch does in bf16); through ~15 convolutions and RMS norms over 4-16 channels of
 * random weights that grows to a few percent of the largest value (5e-2 seen on an
 * H200). With ZT_CUDA_EXACT (GEMMs in plain f32) the same code must agree to 1e-4: that
 * run is the check of correctness, this bound only of the rounding's size. */
#define TOL_GPU   1e-1
#define TOL_EXACT 1e-4

/* the stand-in device (zt_test_standin_device) */
static zt_backend *fake;

/* ---- one backend's results ---------------------------------------------------------- */

typedef struct results {
    float *dec, *dec_tiled, *enc, *enc_tiled;
    float *dec_again;   /* device: the untiled decode once more */
    float *dec_dev_in;  /* device: tiled decode of latents in device memory */
    float *enc_dev_out; /* device: tiled encode into latents in device memory */
} results;

typedef struct sizes {
    int64_t z, t, h, w; /* latents */
    int64_t f, hp, wp;  /* video */
    zt_vae_tiling tl;
} sizes;

typedef struct collect {
    float *buf;
    int64_t frames, n;
    int bad; /* a frame not in host memory, not contiguous or out of order */
} collect;

/* Frames [3, H, W] into [3, F, H, W]. */
static zt_status on_frame(void *user, const zt_tensor *frame, int64_t index) {
    collect *c = user;
    if (frame->device != 0 || !zt_tensor_is_contiguous(frame) || index != c->n ||
        index >= c->frames) {
        c->bad = 1;
        return zt_fail(ZT_ERR_RUNTIME, "frame %lld: not a host frame in order", (long long)index);
    }
    int64_t hw = frame->shape[1] * frame->shape[2];
    for (int ch = 0; ch < 3; ch++)
        memcpy(c->buf + (ch * c->frames + index) * hw, (const float *)frame->data + ch * hw,
               (size_t)hw * sizeof(float));
    c->n++;
    return ZT_OK;
}

static float *decode(const zt_wan_vae *vae, zt_backend *be, zt_arena *arena, const zt_tensor *lat,
                     const sizes *sz, const zt_vae_tiling *tl) {
    collect c = {zt_test_alloc((size_t)(3 * sz->f * sz->hp * sz->wp) * sizeof(float)), sz->f, 0, 0};
    CHECK_OK(zt_wan_vae_decode_tiled(vae, be, arena, lat, 0, tl, on_frame, &c));
    CHECK(c.n == sz->f && !c.bad, "%s: %lld frames decoded (want %lld), bad %d", be->name,
          (long long)c.n, (long long)sz->f, c.bad);
    return c.buf;
}

static float *encode(const zt_wan_vae *vae, zt_backend *be, zt_arena *arena, const zt_tensor *video,
                     const sizes *sz, const zt_vae_tiling *tl) {
    float *out = zt_test_alloc((size_t)(sz->z * sz->t * sz->h * sz->w) * sizeof *out);
    zt_tensor lt = zt_tensor_new(ZT_F32, out, sz->z, sz->t, sz->h, sz->w);
    CHECK_OK(zt_wan_vae_encode_tiled(vae, be, arena, video, 0, tl, &lt));
    return out;
}

/* A device copy of n host floats, as a tensor of shape [a, b, c, d]. */
static zt_tensor dev_tensor(zt_backend *be, const float *host, int64_t a, int64_t b, int64_t c,
                            int64_t d) {
    zt_tensor t = zt_tensor_new(ZT_F32, NULL, a, b, c, d);
    CHECK_OK(be->alloc(be, zt_tensor_nbytes(&t), &t.data));
    if (t.data && host) CHECK_OK(be->upload(be, t.data, host, zt_tensor_nbytes(&t)));
    t.device = be->device;
    return t;
}

/* Everything on one backend with the VAE of variant (placed there on a device). */
static void run(zt_backend *be, const char *variant, const float *lat, const float *vid,
                const sizes *sz, results *r) {
    memset(r, 0, sizeof *r);
    char path[512];
    snprintf(path, sizeof path, "%s/vae/%s/diffusers.safetensors", ZT_TEST_DATA, variant);
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, path));
    if (!vae) return;
    CHECK_OK(zt_wan_vae_place(vae, be, ZT_VAE_PART_ALL));

    /* one arena for all four calls, exactly as large as the plan says */
    int64_t cap = 0, caches_max = 0;
    for (int dec = 0; dec < 2; dec++)
        for (int tiled = 0; tiled < 2; tiled++) {
            int64_t a = 0, c = 0;
            CHECK_OK(zt_plan_vae_device(vae, dec, sz->h, sz->w, 0, tiled ? &sz->tl : NULL, &a, &c,
                                        NULL));
            CHECK(a > 0 && c > 0, "%s: plan arena %lld caches %lld", variant, (long long)a,
                  (long long)c);
            if (a > cap) cap = a;
            if (c > caches_max) caches_max = c;
        }
    zt_arena *arena = NULL;
    CHECK_OK(zt_arena_init_on(&arena, be, (size_t)cap));
    if (!arena) {
        zt_wan_vae_free(vae);
        return;
    }
    printf("%s on %s: device arena %lld KiB, caches up to %lld KiB\n", variant, be->name,
           (long long)(cap >> 10), (long long)(caches_max >> 10));

    zt_tensor zl = zt_tensor_new(ZT_F32, (void *)lat, sz->z, sz->t, sz->h, sz->w);
    zt_tensor video = zt_tensor_new(ZT_F32, (void *)vid, 3, sz->f, sz->hp, sz->wp);
    r->dec = decode(vae, be, arena, &zl, sz, NULL);
    r->dec_tiled = decode(vae, be, arena, &zl, sz, &sz->tl);
    r->enc = encode(vae, be, arena, &video, sz, NULL);
    r->enc_tiled = encode(vae, be, arena, &video, sz, &sz->tl);
    if (be->device) {
        r->dec_again = decode(vae, be, arena, &zl, sz, NULL);
        zt_tensor zd = dev_tensor(be, lat, sz->z, sz->t, sz->h, sz->w);
        if (zd.data) r->dec_dev_in = decode(vae, be, arena, &zd, sz, &sz->tl);
        be->dealloc(be, zd.data);
        zt_tensor ld = dev_tensor(be, NULL, sz->z, sz->t, sz->h, sz->w);
        if (ld.data) {
            CHECK_OK(zt_wan_vae_encode_tiled(vae, be, arena, &video, 0, &sz->tl, &ld));
            r->enc_dev_out = zt_test_alloc(zt_tensor_nbytes(&ld));
            CHECK_OK(be->download(be, r->enc_dev_out, ld.data, zt_tensor_nbytes(&ld)));
        }
        be->dealloc(be, ld.data);
    }
    CHECK(zt_arena_used(arena) == 0, "%s on %s: %zu arena bytes left in use", variant, be->name,
          zt_arena_used(arena));
    zt_arena_free(arena);
    zt_wan_vae_free(vae);
}

static int same(const float *a, const float *b, int64_t n) {
    return a && b && memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* ---- cases ------------------------------------------------------------------------- */

static void make_inputs(const char *variant, sizes *sz, float **lat, float **vid) {
    int v22 = strcmp(variant, "wan22") == 0;
    int64_t s = v22 ? 16 : 8;
    /* tiles of 4 latent pixels (decode) every 3: a 7 x 9 latent has 3 x 3 tiles with cut
     * border tiles, one of them a single latent pixel wide; Wan2.2's encode counts
     * patchified pixels, so it tiles 8 latent pixels every 6 (2 x 2 tiles, cut) */
    *sz = (sizes){v22 ? 48 : 16, 3, 7, 9, 9, 7 * s, 9 * s, {(int)(4 * s), (int)s}};
    int64_t nl = sz->z * sz->t * sz->h * sz->w, nv = 3 * sz->f * sz->hp * sz->wp;
    *lat = zt_test_alloc((size_t)nl * sizeof **lat);
    *vid = zt_test_alloc((size_t)nv * sizeof **vid);
    zt_test_rng rng = {v22 ? 22u : 21u};
    zt_test_fill_normal(&rng, *lat, nl, 1.0);
    for (int64_t i = 0; i < nv; i++) /* smooth, in [-1, 1] */
        (*vid)[i] = (float)(0.8 * sin(0.013 * (double)i) * cos(0.0007 * (double)i));
}

static void compare_all(const char *variant, const char *dev, const results *ref,
                        const results *got, const sizes *sz, int exact, double tol) {
    int64_t nd = 3 * sz->f * sz->hp * sz->wp, nl = sz->z * sz->t * sz->h * sz->w;
    const char *names[] = {"decode", "tiled decode", "encode", "tiled encode"};
    const float *r[] = {ref->dec, ref->dec_tiled, ref->enc, ref->enc_tiled};
    const float *g[] = {got->dec, got->dec_tiled, got->enc, got->enc_tiled};
    for (int i = 0; i < 4; i++) {
        int64_t n = i < 2 ? nd : nl;
        char what[160];
        snprintf(what, sizeof what, "%s %s on %s vs cpu", variant, names[i], dev);
        if (!r[i] || !g[i]) {
            CHECK(0, "%s: missing results", what);
            continue;
        }
        double err = zt_test_compare_f32(what, g[i], r[i], n, exact ? 0.0 : tol);
        if (exact) CHECK(same(g[i], r[i], n), "%s: not bit-identical (err %g)", what, err);
    }
    CHECK(same(got->dec, got->dec_again, nd), "%s on %s: two decodes differ", variant, dev);
    CHECK(same(got->dec_tiled, got->dec_dev_in, nd),
          "%s on %s: tiled decode from device latents differs from host latents", variant, dev);
    CHECK(same(got->enc_tiled, got->enc_dev_out, nl),
          "%s on %s: tiled encode into device latents differs from host latents", variant, dev);
}

/* i2v's picture: the video's first frame alone, encoded by the encoder alone in an
 * arena exactly as large as the picture's plan (frames 1), which it must fill. On a
 * fresh CUDA backend (check_scratch) the scratch it grows must be the plan's: planned
 * as a video, the encode's column buffers were a full 4-frame chunk's, 40 MiB too
 * many at zoetrope-tiny's 128x128 (seen on an H200). */
static float *encode_picture(zt_backend *be, const char *variant, const float *vid, const sizes *sz,
                             int check_scratch) {
    char path[512];
    snprintf(path, sizeof path, "%s/vae/%s/diffusers.safetensors", ZT_TEST_DATA, variant);
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, path));
    if (!vae) return NULL;
    CHECK_OK(zt_wan_vae_place(vae, be, ZT_VAE_PART_ENCODER));
    int64_t a = 0, c = 0, sc = 0, a_video = 0, sc_video = 0;
    CHECK_OK(zt_plan_vae_device(vae, 0, sz->h, sz->w, 1, NULL, &a, &c, &sc));
    CHECK_OK(zt_plan_vae_device(vae, 0, sz->h, sz->w, 0, NULL, &a_video, &c, &sc_video));
    CHECK(a > 0 && a < a_video, "%s: a picture's arena %lld, a video's %lld", variant, (long long)a,
          (long long)a_video);
    int64_t hw = sz->hp * sz->wp;
    float *pic = zt_test_alloc((size_t)(3 * hw) * sizeof *pic);
    for (int64_t ch = 0; ch < 3; ch++) /* [3, f, hp, wp]: frame 0 of each channel */
        memcpy(pic + ch * hw, vid + ch * sz->f * hw, (size_t)hw * sizeof *pic);
    float *out = zt_test_alloc((size_t)(sz->z * sz->h * sz->w) * sizeof *out);
    zt_tensor x = zt_tensor_new(ZT_F32, pic, 3, 1, sz->hp, sz->wp);
    zt_tensor y = zt_tensor_new(ZT_F32, out, sz->z, 1, sz->h, sz->w);
    zt_arena *arena = NULL;
    CHECK_OK(zt_arena_init_on(&arena, be, (size_t)a));
    if (arena) CHECK_OK(zt_wan_vae_encode_tiled(vae, be, arena, &x, 0, NULL, &y));
    /* the probe runs the very ops the encode does: its arena and its model of the
     * CUDA backend's scratch slots are exact, not bounds */
    if (arena)
        CHECK(zt_arena_peak(arena) == (size_t)a, "%s picture on %s: arena peak %zu, planned %lld",
              variant, be->name, zt_arena_peak(arena), (long long)a);
    if (check_scratch) {
        size_t got = be->scratch_bytes(be);
        printf("  %s picture on %s: scratch %.3f MiB, planned %.3f (as a video %.3f)\n", variant,
               be->name, (double)got / 1048576.0, (double)sc / 1048576.0,
               (double)sc_video / 1048576.0);
        CHECK(got == (size_t)sc, "%s picture on %s: scratch %zu bytes against a plan of %lld",
              variant, be->name, got, (long long)sc);
    }
    zt_arena_free(arena);
    zt_wan_vae_free(vae);
    return out;
}

/* A half runs only where its weights are. */
static void test_misuse(zt_backend *cpu) {
    char path[512];
    snprintf(path, sizeof path, "%s/vae/wan21/diffusers.safetensors", ZT_TEST_DATA);
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, path));
    if (!vae) return;
    zt_arena *arena = NULL;
    CHECK_OK(zt_arena_init(&arena, 0, 0));
    float lat[16 * 2 * 2] = {0};
    zt_tensor zl = zt_tensor_new(ZT_F32, lat, 16, 1, 2, 2);
    CHECK_FAILS(zt_wan_vae_decode(vae, fake, arena, &zl, 0, on_frame, NULL), ZT_ERR_USAGE,
                "not on");
    CHECK_OK(zt_wan_vae_place(vae, fake, ZT_VAE_PART_DECODER));
    CHECK_FAILS(zt_wan_vae_decode(vae, cpu, arena, &zl, 0, on_frame, NULL), ZT_ERR_USAGE,
                "weights are on");
    float vid[3 * 8 * 8] = {0};
    zt_tensor video = zt_tensor_new(ZT_F32, vid, 3, 1, 8, 8);
    zt_tensor lt = zt_tensor_new(ZT_F32, lat, 16, 1, 1, 1);
    CHECK_FAILS(zt_wan_vae_encode(vae, fake, arena, &video, 0, &lt), ZT_ERR_USAGE, "not on");
    CHECK_OK(zt_wan_vae_encode(vae, cpu, arena, &video, 0, &lt)); /* the encoder stayed */
    zt_arena_free(arena);
    zt_wan_vae_free(vae);
}

int main(void) {
    zt_backend *cpu = NULL;
    CHECK_OK(zt_backend_cpu_init(&cpu, 0));
    if (!cpu) return zt_test_finish();
    CHECK_OK(zt_test_standin_device(&fake, 0));
    if (!fake) return zt_test_finish();
    static const char *const variants[] = {"wan21", "wan22"};
    sizes sz[2];
    float *lat[2], *vid[2], *pic[2];
    results ref[2];
    for (int i = 0; i < 2; i++) {
        make_inputs(variants[i], &sz[i], &lat[i], &vid[i]);
        run(cpu, variants[i], lat[i], vid[i], &sz[i], &ref[i]);
        results got;
        run(fake, variants[i], lat[i], vid[i], &sz[i], &got);
        compare_all(variants[i], fake->name, &ref[i], &got, &sz[i], 1, 0.0);
        pic[i] = encode_picture(cpu, variants[i], vid[i], &sz[i], 0);
        float *p = encode_picture(fake, variants[i], vid[i], &sz[i], 0);
        CHECK(same(pic[i], p, sz[i].z * sz[i].h * sz[i].w),
              "%s picture on %s: not bit-identical to the cpu's", variants[i], fake->name);
    }
    test_misuse(cpu);
    size_t live, peak, total, free_b;
    CHECK_OK(fake->memory(fake, &live, &peak, &total, &free_b));
    CHECK(live == 0, "the stand-in device has %zu bytes left allocated", live);
    zt_backend_free(fake);

    if (!zt_backend_cuda_available()) {
        if (zt_test_failures) {
            zt_backend_free(cpu);
            return zt_test_finish();
        }
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build); the stand-in device "
               "passed\n");
        zt_backend_free(cpu);
        return 77;
    }
    for (int i = 0; i < 2; i++) { /* a fresh backend each: its scratch is the picture's */
        zt_backend *gpu = NULL;
        CHECK_OK(zt_backend_cuda_init(&gpu, 0));
        if (!gpu) break;
        float *p = encode_picture(gpu, variants[i], vid[i], &sz[i], 1);
        char what[64];
        snprintf(what, sizeof what, "%s picture on cuda vs cpu", variants[i]);
        if (p) zt_test_compare_f32(what, p, pic[i], sz[i].z * sz[i].h * sz[i].w, TOL_GPU);
        zt_backend_free(gpu);
    }
    for (int exact = 0; exact < 2; exact++) {
        zt_backend *gpu = NULL;
        if (exact) setenv("ZT_CUDA_EXACT", "1", 1);
        CHECK_OK(zt_backend_cuda_init(&gpu, 0));
        unsetenv("ZT_CUDA_EXACT");
        for (int i = 0; i < 2 && gpu; i++) {
            results got;
            run(gpu, variants[i], lat[i], vid[i], &sz[i], &got);
            compare_all(variants[i], exact ? "cuda (exact f32)" : "cuda", &ref[i], &got, &sz[i], 0,
                        exact ? TOL_EXACT : TOL_GPU);
        }
        zt_backend_free(gpu);
    }
    zt_backend_free(cpu);
    return zt_test_finish();
}
