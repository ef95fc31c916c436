/* test_wan_vae.c - the Wan2.1 and Wan2.2 VAEs against diffusers' AutoencoderKLWan.
 *
 * Fixtures (tools/vae/make_fixtures.py): tiny random VAEs of both structures, stored
 * under diffusers' names, Wan's original names and as a torch .pth; per case an input
 * clip, diffusers' encoder mean, the normalized latents, the decoded clip and the
 * decoder's first chunk. Cases: 1, 5 and 9 latent frames square, 5 not square. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "io/safetensors.h"
#include "models/wan_vae.h"
#include "testlib.h"

#define TOL 1e-4

static zt_backend *be;

typedef struct fixture {
    zt_safetensors *st;
} fixture;

static float *read_case(zt_safetensors *st, const char *name, int64_t *shape, int *ndim) {
    return zt_test_read_tensor(st, name, shape, ndim);
}

static double compare(const char *what, const float *got, const float *ref, int64_t n) {
    return zt_test_compare_f32(what, got, ref, n, TOL);
}

typedef struct collect {
    float *buf;
    int64_t frame_size, n;
} collect;

/* Frames arrive [3, H, W]; store them as [3, F, H, W] like the fixture. */
static zt_status on_frame(void *user, const zt_tensor *frame, int64_t index) {
    collect *c = user;
    int64_t hw = frame->shape[1] * frame->shape[2];
    if (index != c->n || !zt_tensor_is_contiguous(frame)) return ZT_ERR_RUNTIME;
    c->n++;
    for (int ch = 0; ch < 3; ch++)
        memcpy(c->buf + (ch * c->frame_size + index) * hw, (float *)frame->data + ch * hw,
               (size_t)hw * sizeof(float));
    return ZT_OK;
}

/* Runs every case of one variant through the VAE in path; decoded output of each case
 * goes to outs[case] (for the comparison between formats). */
static void run_cases(const char *variant, const char *file, float **outs, int64_t *sizes,
                      int *n_cases) {
    char path[512], cpath[512];
    snprintf(path, sizeof path, "%s/vae/%s/%s", ZT_TEST_DATA, variant, file);
    snprintf(cpath, sizeof cpath, "%s/vae/%s/cases.safetensors", ZT_TEST_DATA, variant);
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, path));
    if (!vae) return;
    const zt_wan_vae_info *info = zt_wan_vae_get_info(vae);
    int v22 = strcmp(variant, "wan22") == 0;
    CHECK(info->version == (v22 ? 22 : 21), "%s: version %d", path, info->version);
    CHECK(info->z_dim == (v22 ? 48 : 16), "%s: z %d", path, info->z_dim);
    CHECK(info->stride_s == (v22 ? 16 : 8) && info->stride_t == 4, "%s: strides", path);
    CHECK(strcmp(info->naming, strstr(file, "diffusers") ? "diffusers" : "original") == 0,
          "%s: naming %s", path, info->naming);

    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, cpath));
    if (!st) return;
    const char *cases = zt_safetensors_metadata_get(st, "cases");
    CHECK(cases != NULL, "no case list");
    zt_arena *arena = NULL;
    CHECK_OK(zt_arena_init(&arena, 0, 0));
    int ci = 0;
    for (const char *p = cases; p && *p; ci++) {
        char c[32] = {0}, name[64];
        size_t len = strcspn(p, ",");
        memcpy(c, p, len < 31 ? len : 31);
        p += len + (p[len] == ',');
        int64_t sx[8], sm[8], sl[8], sd[8], sf[8];
        int nx, nm, nl, nd, nf;
        snprintf(name, sizeof name, "input.%s", c);
        float *x = read_case(st, name, sx, &nx);
        snprintf(name, sizeof name, "mu.%s", c);
        float *mu = read_case(st, name, sm, &nm);
        snprintf(name, sizeof name, "latent.%s", c);
        float *lat = read_case(st, name, sl, &nl);
        snprintf(name, sizeof name, "decoded.%s", c);
        float *dec = read_case(st, name, sd, &nd);
        snprintf(name, sizeof name, "first_chunk.%s", c);
        float *first = read_case(st, name, sf, &nf);
        if (!x || !mu || !lat || !dec || !first) continue;
        char what[160];

        /* encode: raw mean and normalized latents */
        zt_tensor video = zt_tensor_new(ZT_F32, x, 3, sx[2], sx[3], sx[4]);
        int64_t zn = sm[1] * sm[2] * sm[3] * sm[4];
        float *got = zt_test_alloc((size_t)zn * sizeof *got);
        zt_tensor lt = zt_tensor_new(ZT_F32, got, sm[1], sm[2], sm[3], sm[4]);
        CHECK_OK(zt_wan_vae_encode(vae, be, arena, &video, ZT_VAE_RAW, &lt));
        snprintf(what, sizeof what, "%s %s %s encode mu", variant, file, c);
        compare(what, got, mu, zn);
        CHECK_OK(zt_wan_vae_encode(vae, be, arena, &video, 0, &lt));
        snprintf(what, sizeof what, "%s %s %s encode latent", variant, file, c);
        compare(what, got, lat, zn);

        /* decode the fixture's mean (raw) and its normalized latents */
        int64_t frames = sd[2], dn = 3 * sd[2] * sd[3] * sd[4];
        collect col = {zt_test_alloc((size_t)dn * sizeof(float)), frames, 0};
        zt_tensor zm = zt_tensor_new(ZT_F32, mu, sm[1], sm[2], sm[3], sm[4]);
        CHECK_OK(zt_wan_vae_decode(vae, be, arena, &zm, ZT_VAE_RAW, on_frame, &col));
        CHECK(col.n == frames, "%s: %lld frames decoded, want %lld", c, (long long)col.n,
              (long long)frames);
        snprintf(what, sizeof what, "%s %s %s decode", variant, file, c);
        compare(what, col.buf, dec, dn);
        outs[ci] = col.buf;
        sizes[ci] = dn;
        collect col2 = {zt_test_alloc((size_t)dn * sizeof(float)), frames, 0};
        zt_tensor zl = zt_tensor_new(ZT_F32, lat, sl[1], sl[2], sl[3], sl[4]);
        CHECK_OK(zt_wan_vae_decode(vae, be, arena, &zl, 0, on_frame, &col2));
        snprintf(what, sizeof what, "%s %s %s decode normalized", variant, file, c);
        compare(what, col2.buf, dec, dn);

        /* the first decoder chunk, unclamped */
        zt_wan_vae_stream *s = NULL;
        CHECK_OK(zt_wan_vae_stream_init(&s, vae, 1));
        int64_t hw = sm[3] * sm[4];
        float *z0 = zt_test_alloc((size_t)(sm[1] * hw) * sizeof *z0);
        for (int64_t ch = 0; ch < sm[1]; ch++)
            memcpy(z0 + ch * hw, mu + ch * sm[2] * hw, (size_t)hw * sizeof *z0);
        zt_tensor zf = zt_tensor_new(ZT_F32, z0, sm[1], sm[3], sm[4]), out;
        zt_arena_mark m = zt_arena_save(arena);
        CHECK_OK(zt_wan_vae_decode_chunk(s, be, arena, &zf, &out));
        CHECK(out.shape[1] == 1 && out.shape[2] == sf[3] && out.shape[3] == sf[4],
              "first chunk shape");
        snprintf(what, sizeof what, "%s %s %s first chunk", variant, file, c);
        compare(what, out.data, first, 3 * sf[3] * sf[4]);
        zt_arena_restore(arena, m);
        zt_wan_vae_stream_free(s);
    }
    *n_cases = ci;
    zt_arena_free(arena);
    zt_safetensors_close(st);
    zt_wan_vae_free(vae);
}

static void test_variant(const char *variant) {
    static const char *const files[] = {"diffusers.safetensors", "original.safetensors",
                                        "original.pth"};
    float *outs[3][8] = {{0}};
    int64_t sizes[3][8] = {{0}};
    int n[3] = {0};
    for (int f = 0; f < 3; f++) run_cases(variant, files[f], outs[f], sizes[f], &n[f]);
    /* all formats hold the same numbers: the decodes must be identical */
    for (int f = 1; f < 3; f++)
        for (int c = 0; c < n[0] && c < n[f]; c++)
            CHECK(outs[0][c] && outs[f][c] &&
                      sizes[0][c] == sizes[f][c] &&
                      memcmp(outs[0][c], outs[f][c], (size_t)sizes[0][c] * sizeof(float)) == 0,
                  "%s: %s and %s decode case %d differently", variant, files[0], files[f], c);
}

/* Peak memory of a decode: the arena's peak plus the stream's caches, for latents of
 * t frames at one size (random values, the wan21 fixture's weights). */
static size_t decode_peak(const zt_wan_vae *vae, int64_t t, int64_t h, int64_t w) {
    zt_arena *arena = NULL;
    CHECK_OK(zt_arena_init(&arena, 0, 0));
    zt_wan_vae_stream *s = NULL;
    CHECK_OK(zt_wan_vae_stream_init(&s, vae, 1));
    zt_test_rng rng = {7};
    int64_t z = zt_wan_vae_get_info(vae)->z_dim;
    float *zf = zt_test_alloc((size_t)(z * h * w) * sizeof *zf);
    int64_t frames = 0;
    for (int64_t i = 0; i < t; i++) {
        zt_test_fill_normal(&rng, zf, z * h * w, 1.0);
        zt_tensor zt = zt_tensor_new(ZT_F32, zf, z, h, w), out;
        zt_arena_mark m = zt_arena_save(arena);
        CHECK_OK(zt_wan_vae_decode_chunk(s, be, arena, &zt, &out));
        frames += out.shape[1];
        zt_arena_restore(arena, m);
    }
    CHECK(frames == 1 + 4 * (t - 1), "%lld frames from %lld latent frames", (long long)frames,
          (long long)t);
    size_t peak = zt_arena_peak(arena) + zt_wan_vae_stream_bytes(s);
    zt_wan_vae_stream_free(s);
    zt_arena_free(arena);
    return peak;
}

/* diffusers ships the VAE as vae/diffusion_pytorch_model.safetensors: the directory
 * opens like the file. */
static void test_directory(void) {
    char src[512], dir[512], link[600];
    snprintf(src, sizeof src, "%s/vae/wan22/diffusers.safetensors", ZT_TEST_DATA);
    snprintf(dir, sizeof dir, "%s/vae", zt_test_tmpdir());
    snprintf(link, sizeof link, "%s/diffusion_pytorch_model.safetensors", dir);
    CHECK(mkdir(dir, 0755) == 0 && symlink(src, link) == 0, "cannot make %s", link);
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, dir));
    if (!vae) return;
    const zt_wan_vae_info *info = zt_wan_vae_get_info(vae);
    CHECK(info->version == 22 && strcmp(info->naming, "diffusers") == 0, "%s: Wan%d %s", dir,
          info->version, info->naming);
    zt_wan_vae_free(vae);
}

/* The same for encoding t latent frames' worth of chunks (1, 4, 4, ... frames). */
static size_t encode_peak(const zt_wan_vae *vae, int64_t t, int64_t h, int64_t w) {
    zt_arena *arena = NULL;
    CHECK_OK(zt_arena_init(&arena, 0, 0));
    zt_wan_vae_stream *s = NULL;
    CHECK_OK(zt_wan_vae_stream_init(&s, vae, 0));
    zt_test_rng rng = {8};
    float *x = zt_test_alloc((size_t)(3 * 4 * h * w) * sizeof *x);
    for (int64_t i = 0; i < t; i++) {
        int64_t n = i == 0 ? 1 : 4;
        zt_test_fill_normal(&rng, x, 3 * n * h * w, 0.5);
        zt_tensor in = zt_tensor_new(ZT_F32, x, 3, n, h, w), mu;
        zt_arena_mark m = zt_arena_save(arena);
        CHECK_OK(zt_wan_vae_encode_chunk(s, be, arena, &in, &mu));
        zt_arena_restore(arena, m);
    }
    size_t peak = zt_arena_peak(arena) + zt_wan_vae_stream_bytes(s);
    zt_wan_vae_stream_free(s);
    zt_arena_free(arena);
    return peak;
}

static void test_memory(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/vae/wan21/original.safetensors", ZT_TEST_DATA);
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, path));
    if (!vae) return;
    size_t p5 = decode_peak(vae, 5, 6, 10), p21 = decode_peak(vae, 21, 6, 10);
    printf("decode peak: 5 latent frames %zu bytes, 21 latent frames %zu bytes\n", p5, p21);
    CHECK(p5 == p21 && p5 > 0, "peak grows with frames: %zu vs %zu", p5, p21);
    size_t e5 = encode_peak(vae, 5, 48, 80), e21 = encode_peak(vae, 21, 48, 80);
    printf("encode peak: 5 latent frames %zu bytes, 21 latent frames %zu bytes\n", e5, e21);
    CHECK(e5 == e21 && e5 > 0, "encode peak grows with frames: %zu vs %zu", e5, e21);
    zt_wan_vae_free(vae);
}

typedef struct vae_edit {
    const char *name;
    json_t *shape; /* NULL: drop the tensor */
    int found;
} vae_edit;

static int vae_edit_fn(void *ctx, zt_test_st_tensor *t) {
    vae_edit *e = ctx;
    if (strcmp(t->name, e->name)) return 1;
    e->found = 1;
    if (!e->shape) return 0;
    t->ndim = (int)json_array_size(e->shape);
    for (int k = 0; k < t->ndim; k++) t->shape[k] = json_integer_value(json_array_get(e->shape, k));
    return 1;
}

/* Copy src to dst with tensor `name` removed (shape NULL) or given another shape of the
 * same size, or with name "*", every tensor renamed with the prefix given as the string
 * `shape`. Takes the reference to shape. */
static void rewrite(const char *src, const char *dst, const char *name, json_t *shape) {
    if (!strcmp(name, "*")) {
        zt_test_copy_safetensors(src, dst, json_string_value(shape), 0, NULL, NULL);
    } else {
        vae_edit e = {name, shape, 0};
        zt_test_copy_safetensors(src, dst, "", 0, vae_edit_fn, &e);
        CHECK(e.found, "%s has no tensor %s", src, name);
    }
    json_decref(shape);
}

static void expect_bad(const char *path, const char *needle) {
    zt_wan_vae *vae = NULL;
    CHECK_FAILS(zt_wan_vae_open(&vae, path), ZT_ERR_INPUT, needle);
    CHECK(vae == NULL, "%s opened", path);
    zt_wan_vae_free(vae);
}

/* On a device (the stand-in), a latent frame left in host memory is refused with a
 * message, not handed to the kernels as if it were the device's. */
static void test_host_input_on_device(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/vae/wan21/diffusers.safetensors", ZT_TEST_DATA);
    zt_backend *dev = NULL;
    zt_wan_vae *vae = NULL;
    zt_wan_vae_stream *s = NULL;
    zt_arena *arena = NULL;
    CHECK_OK(zt_test_standin_device(&dev, 0));
    CHECK_OK(zt_wan_vae_open(&vae, path));
    if (!dev || !vae) return;
    CHECK_OK(zt_wan_vae_place(vae, dev, ZT_VAE_PART_DECODER));
    CHECK_OK(zt_arena_init_on(&arena, dev, (size_t)16 << 20));
    CHECK_OK(zt_wan_vae_stream_init(&s, vae, 1));
    int64_t z = zt_wan_vae_get_info(vae)->z_dim;
    float *zf = zt_test_alloc((size_t)(z * 4 * 4) * sizeof *zf);
    zt_tensor zt = zt_tensor_new(ZT_F32, zf, z, 4, 4), out; /* device 0: the host's */
    zt_status st = zt_wan_vae_decode_chunk(s, dev, arena, &zt, &out);
    CHECK(st == ZT_ERR_USAGE && strstr(zt_last_error(), "not in the backend's memory"),
          "a host latent on a device: status %d (%s)", st, zt_last_error());
    zt_wan_vae_stream_free(s);
    zt_arena_free(arena);
    zt_wan_vae_free(vae);
    zt_backend_free(dev);
}

static void test_bad_files(void) {
    char src[512], dst[512], pth[512];
    snprintf(src, sizeof src, "%s/vae/wan21/original.safetensors", ZT_TEST_DATA);
    const char *tmp = zt_test_tmpdir();

    snprintf(dst, sizeof dst, "%s/missing.safetensors", tmp);
    rewrite(src, dst, "decoder.head.2.bias", NULL);
    expect_bad(dst, "missing tensor 'decoder.head.2.bias'");

    /* [16, 16, 3, 3, 3] seen as 4 dims */
    snprintf(dst, sizeof dst, "%s/dims.safetensors", tmp);
    rewrite(src, dst, "decoder.middle.0.residual.2.weight", json_pack("[iiii]", 16, 16, 9, 3));
    expect_bad(dst, "'decoder.middle.0.residual.2.weight' should be a 5-D float tensor");

    /* the first encoder conv taking 4 channels: [4, 3, 3, 3, 3] -> [3, 4, 3, 3, 3] */
    snprintf(dst, sizeof dst, "%s/channels.safetensors", tmp);
    rewrite(src, dst, "encoder.conv1.weight", json_pack("[iiiii]", 3, 4, 3, 3, 3));
    expect_bad(dst, "takes neither 3 nor 12 channels");

    /* a block whose convolution does not take the width the one before gives */
    snprintf(dst, sizeof dst, "%s/chain.safetensors", tmp);
    rewrite(src, dst, "decoder.middle.2.residual.2.weight", json_pack("[iiiii]", 8, 32, 3, 3, 3));
    expect_bad(dst, "takes 32 channels where the model has 16");

    /* the last convolution giving 4 channels: [3, 4, 3, 3, 3] -> [4, 3, 3, 3, 3] */
    snprintf(dst, sizeof dst, "%s/head.safetensors", tmp);
    rewrite(src, dst, "decoder.head.2.weight", json_pack("[iiiii]", 4, 3, 3, 3, 3));
    expect_bad(dst, "'decoder.head.2.weight' takes 3 channels where the model has 4");

    /* the VAE inside a whole checkpoint, under a prefix, still opens */
    snprintf(dst, sizeof dst, "%s/prefixed.safetensors", tmp);
    rewrite(src, dst, "*", json_string("first_stage_model."));
    zt_wan_vae *vae = NULL;
    CHECK_OK(zt_wan_vae_open(&vae, dst));
    zt_wan_vae_free(vae);

    /* not a VAE at all */
    snprintf(dst, sizeof dst, "%s/safetensors/small.safetensors", ZT_TEST_DATA);
    expect_bad(dst, "match no known naming");

    /* .pth files: a forbidden global, a truncated zip */
    snprintf(pth, sizeof pth, "%s/pth/evil_os_system.pth", ZT_TEST_DATA);
    expect_bad(pth, "forbidden pickle global 'os.system'");
    snprintf(pth, sizeof pth, "%s/vae/wan21/original.pth", ZT_TEST_DATA);
    snprintf(dst, sizeof dst, "%s/truncated.pth", tmp);
    FILE *f = fopen(pth, "rb"), *o = fopen(dst, "wb");
    CHECK(f && o, "copy");
    if (f && o) {
        char buf[4096];
        size_t n, total = 0;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0 && total < 300000) {
            fwrite(buf, 1, n, o);
            total += n;
        }
    }
    if (f) fclose(f);
    if (o) fclose(o);
    expect_bad(dst, "truncated.pth");

    snprintf(dst, sizeof dst, "%s/nonexistent.safetensors", tmp);
    expect_bad(dst, "cannot open");
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be, 0));
    if (!be) return zt_test_finish();
    test_variant("wan21");
    test_variant("wan22");
    test_memory();
    test_directory();
    test_host_input_on_device();
    test_bad_files();
    zt_backend_free(be);
    return zt_test_finish();
}
