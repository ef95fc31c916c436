/* vae_bench - a Wan VAE decode of random latents on the CPU or a CUDA device, timed, as a
 * small program without the video libraries (for tools/gpu-check.sh). One JSON line:
 * seconds, frames, the most GPU memory allocated at once and the process's peak RSS.
 *
 *   vae_bench VAE FRAMES WIDTH HEIGHT DEVICE [TILE [FRAMES.f32]]
 * DEVICE -1 for the CPU, else the CUDA device index; TILE 0 (default) decodes untiled,
 * else in TILE-pixel tiles with Zoetrope's default overlap (zt_vae_default_overlap).
 * FRAMES.f32 receives the frames [F, 3, H, W] (to compare devices). ZT_PROFILE_OPS=1 adds
 * each op's total time on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "core/arena.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/status.h"
#include "models/wan_vae.h"
#include "pipeline/plan.h"

typedef struct sink {
    FILE *f;
    int64_t frames;
    zt_status err;
} sink;

static zt_status on_frame(void *user, const zt_tensor *frame, int64_t index) {
    sink *k = user;
    k->frames++;
    size_t n = (size_t)zt_tensor_numel(frame);
    if (k->f && fwrite(frame->data, sizeof(float), n, k->f) != n)
        return zt_fail(ZT_ERR_IO, "vae_bench: cannot write frame %lld", (long long)index);
    return ZT_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s VAE FRAMES WIDTH HEIGHT DEVICE [TILE [FRAMES.f32]]\n", argv[0]);
        return 2;
    }
    int frames = atoi(argv[2]), width = atoi(argv[3]), height = atoi(argv[4]);
    int device = atoi(argv[5]), tile = argc > 6 ? atoi(argv[6]) : 0;
    zt_wan_vae *vae = NULL;
    zt_backend *be = NULL;
    zt_arena *arena = NULL;
    float *z = NULL;
    sink k = {0};
    double t0 = now_s(), load_s = 0, decode_s = 0;
    zt_status s = zt_wan_vae_open(&vae, argv[1]);
    const zt_wan_vae_info *in = vae ? zt_wan_vae_get_info(vae) : NULL;
    int st = in ? in->stride_s : 8; /* pixels per latent pixel */
    int64_t T = 1 + (frames - 1) / 4, h = height / st, w = width / st;
    zt_vae_tiling til = {.tile = tile, .overlap = zt_vae_default_overlap(tile, st)};
    if (s == ZT_OK)
        s = device >= 0 ? zt_backend_cuda_init(&be, device) : zt_backend_cpu_init(&be, 0);
    if (s == ZT_OK) s = zt_wan_vae_place(vae, be, ZT_VAE_PART_DECODER);
    load_s = now_s() - t0;
    int64_t cap = 0, caches = 0, scratch = 0, weights = 0;
    if (s == ZT_OK && be->device)
        s = zt_plan_vae_device(vae, 1, h, w, 0, tile ? &til : NULL, &cap, &caches, &scratch);
    /* what the plan counts this run to allocate on the device (generate's arena has
     * 64 MiB more): the decoder's weights, the arena, the caches, the scratch */
    if (s == ZT_OK && be->device) s = zt_wan_vae_device_bytes(vae, 1, &weights);
    if (s == ZT_OK) s = zt_arena_init_on(&arena, be, (size_t)cap);
    int64_t n = (int64_t)in->z_dim * T * h * w;
    if (s == ZT_OK && !(z = malloc((size_t)n * sizeof *z)))
        s = zt_fail(ZT_ERR_NOMEM, "vae_bench: out of memory");
    if (s == ZT_OK) zt_rng_normal(7, 0, z, n);
    if (s == ZT_OK && argc > 7 && !(k.f = fopen(argv[7], "wb")))
        s = zt_fail(ZT_ERR_IO, "vae_bench: cannot open %s", argv[7]);
    if (s == ZT_OK) {
        zt_tensor lat = zt_tensor_new(ZT_F32, z, in->z_dim, T, h, w);
        const char *prof = getenv("ZT_PROFILE_OPS"); /* per-op times on stderr */
        if (prof && *prof) zt_op_profile(1);
        t0 = now_s();
        s = tile ? zt_wan_vae_decode_tiled(vae, be, arena, &lat, 0, &til, on_frame, &k)
                 : zt_wan_vae_decode(vae, be, arena, &lat, 0, on_frame, &k);
        if (s == ZT_OK) s = be->sync(be);
        decode_s = now_s() - t0;
        if (prof && *prof) zt_op_profile_report(stderr);
    }
    size_t live = 0, peak = 0, total = 0;
    if (s == ZT_OK && be->device) s = zt_backend_cuda_memory(be, &live, &peak, &total);
    if (k.f && fclose(k.f) != 0 && s == ZT_OK) s = zt_fail(ZT_ERR_IO, "vae_bench: write failed");
    if (s == ZT_OK)
        printf(
            "{\"device\": \"%s\", \"frames\": %lld, \"width\": %d, \"height\": %d, \"tile\": %d, "
            "\"load_seconds\": %.3f, \"decode_seconds\": %.3f, \"device_peak_mib\": %.1f, "
            "\"device_plan_mib\": %.1f, \"arena_mib\": %.1f, \"caches_mib\": %.1f, "
            "\"peak_rss_mib\": %.1f}\n",
            be->device ? "cuda" : "cpu", (long long)k.frames, width, height, tile, load_s, decode_s,
            (double)peak / 1048576.0, (double)(weights + cap + caches + scratch) / 1048576.0,
            (double)cap / 1048576.0, (double)caches / 1048576.0,
            (double)zt_plan_peak_now() / 1048576.0);
    else
        fprintf(stderr, "vae_bench: %s\n", zt_last_error());
    free(z);
    zt_arena_free(arena);
    zt_wan_vae_free(vae);
    zt_backend_free(be);
    return s == ZT_OK ? 0 : 1;
}
