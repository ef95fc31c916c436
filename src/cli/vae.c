/* zoetrope vae decode - decode saved Wan latents into a video with a Wan VAE.
 *
 * Latents come from a safetensors file ([z, T, h, w] or diffusers' [1, z, T, h, w]),
 * normalized as the diffusion model sees them unless --raw. Frames go to the video
 * writer as each latent frame is decoded. It also reports the time and the peak
 * memory taken, which tools/vae/bench.py compares with diffusers. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "cli.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/status.h"
#include "io/av_util.h"
#include "io/safetensors.h"
#include "models/wan_vae.h"
#include "progress.h"

static const char *const CMD = "vae";

enum {
    OPT_VAE = 256,
    OPT_TENSOR,
    OPT_RAW,
    OPT_FPS,
    OPT_THREADS,
    OPT_DUMP,
    OPT_JSON,
    OPT_TILE,
    OPT_OVERLAP,
    OPT_HELP
};

static void print_help(void) {
    printf("usage: zoetrope vae decode LATENTS.safetensors --vae FILE -o OUTPUT [options]\n"
           "\n"
           "Decode latents [z, T, h, w] (or [1, z, T, h, w]) with a Wan2.1 or Wan2.2 VAE into\n"
           "1 + 4 (T - 1) frames, written as each latent frame is decoded.\n"
           "\n"
           "  --vae FILE          the VAE: .safetensors (original, ComfyUI or diffusers\n"
           "                      names), Wan2.x_VAE.pth, or a diffusers vae/ directory\n"
           "  -o, --output PATH   video file (.mp4, .webm, .mkv, .gif, .y4m), PNG pattern or\n"
           "                      directory/ (see zoetrope encode --help)\n"
           "  --tensor NAME       the latents' tensor (default: the file's only tensor, or\n"
           "                      'latents')\n"
           "  --raw               latents are the encoder's raw mean, not normalized by the\n"
           "                      VAE's per-channel mean and std\n"
           "  --fps N             frame rate (default 16)\n"
           "  --threads N         compute threads (default: all cores)\n"
           "  --vae-tile N        decode in N-pixel tiles, tile by tile over all frames\n"
           "                      (diffusers' tiled_decode; 0, the default: untiled); the\n"
           "                      blended frames wait in a scratch file in $TMPDIR\n"
           "  --vae-tile-overlap N  pixels neighbouring tiles share (default: an eighth of\n"
           "                      the tile, 32 to 64; diffusers' is 64)\n"
           "  --dump-f32 FILE     also write the decoded frames as raw f32 [3, F, H, W]\n"
           "  --json              print a JSON summary (seconds, frames, peak memory)\n");
}

typedef struct vae_args {
    const char *latents, *vae, *output, *tensor, *dump;
    int raw, threads, json;
    long fps, tile, overlap;
} vae_args;

static int parse_args(int argc, char **argv, vae_args *a) {
    static const struct option opts[] = {
        {"vae", required_argument, NULL, OPT_VAE},
        {"output", required_argument, NULL, 'o'},
        {"tensor", required_argument, NULL, OPT_TENSOR},
        {"raw", no_argument, NULL, OPT_RAW},
        {"fps", required_argument, NULL, OPT_FPS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"dump-f32", required_argument, NULL, OPT_DUMP},
        {"json", no_argument, NULL, OPT_JSON},
        {"vae-tile", required_argument, NULL, OPT_TILE},
        {"vae-tile-overlap", required_argument, NULL, OPT_OVERLAP},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->fps = 16;
    a->overlap = -1; /* zt_vae_default_overlap of the tile */
    opterr = 0;
    optind = 1;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_VAE: a->vae = optarg; break;
        case 'o': a->output = optarg; break;
        case OPT_TENSOR: a->tensor = optarg; break;
        case OPT_RAW: a->raw = 1; break;
        case OPT_DUMP: a->dump = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_FPS:
            if (zt_cli_parse_int(CMD, "--fps", optarg, 1, 240, &a->fps)) return ZT_EXIT_USAGE;
            break;
        case OPT_TILE:
            if (zt_cli_parse_int(CMD, "--vae-tile", optarg, 0, 16384, &a->tile)) return ZT_EXIT_USAGE;
            break;
        case OPT_OVERLAP:
            if (zt_cli_parse_int(CMD, "--vae-tile-overlap", optarg, 0, 16384, &a->overlap))
                return ZT_EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (zt_cli_parse_int(CMD, "--threads", optarg, 0, 256, &v)) return ZT_EXIT_USAGE;
            a->threads = (int)v;
            break;
        case 'h':
        case OPT_HELP: print_help(); return -1;
        case ':': return zt_cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return zt_cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc || strcmp(argv[optind], "decode") != 0)
        return zt_cli_usage_error(CMD, "expected 'decode'");
    optind++;
    if (optind < argc) a->latents = argv[optind++];
    if (optind < argc) return zt_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->latents) return zt_cli_usage_error(CMD, "no LATENTS file given");
    if (!a->vae) return zt_cli_usage_error(CMD, "no --vae given");
    if (!a->output && !a->dump) return zt_cli_usage_error(CMD, "no output given (-o)");
    if (a->json && a->output && !strcmp(a->output, "-"))
        return zt_cli_usage_error(CMD, "--json cannot share stdout with '-o -'");
    return 0;
}

/* The latents as a contiguous f32 [z, T, h, w] (malloc'd into *buf). */
static zt_status read_latents(const vae_args *a, int z, float **buf, zt_tensor *out) {
    zt_safetensors *st;
    ZT_TRY(zt_safetensors_open(&st, a->latents));
    const zt_st_entry *e = NULL;
    if (a->tensor) {
        e = zt_safetensors_find(st, a->tensor);
    } else if (zt_safetensors_count(st) == 1) {
        e = zt_safetensors_entry(st, 0);
    } else {
        e = zt_safetensors_find(st, "latents");
    }
    zt_status rc = ZT_OK;
    if (!e)
        rc = zt_fail(ZT_ERR_INPUT, "%s: no tensor '%s' (name one with --tensor)", a->latents,
                     a->tensor ? a->tensor : "latents");
    int lead = e && e->ndim == 5 ? 1 : 0;
    if (rc == ZT_OK && (e->ndim < 4 || e->ndim > 5 || (lead && e->shape[0] != 1) ||
                        e->shape[lead] != z)) {
        char s[128];
        rc = zt_fail(ZT_ERR_INPUT, "%s: tensor '%s' has shape %s; the VAE takes [%d, T, h, w]",
                     a->latents, e->name, zt_st_entry_shape_str(e, s, sizeof s), z);
    }
    if (rc == ZT_OK) {
        *buf = malloc((size_t)e->nbytes / zt_dtype_size(e->dtype) * sizeof(float));
        if (!*buf) rc = zt_fail(ZT_ERR_NOMEM, "%s: out of memory", a->latents);
    }
    if (rc == ZT_OK) rc = zt_safetensors_read_f32(st, e, *buf, e->numel);
    if (rc == ZT_OK)
        *out = zt_tensor_new(ZT_F32, *buf, e->shape[lead], e->shape[lead + 1],
                             e->shape[lead + 2], e->shape[lead + 3]);
    zt_safetensors_close(st);
    return rc;
}

typedef struct sink {
    zt_video_writer *video;
    uint8_t *rgb;
    float *planes; /* [3, F, H, W] for --dump-f32 */
    int64_t frames;
} sink;

/* Into the writer (and the f32 dump). */
static zt_status on_frame(void *user, const zt_tensor *frame, int64_t index) {
    sink *s = user;
    int64_t h = frame->shape[1], w = frame->shape[2], hw = h * w;
    const float *x = frame->data;
    if (s->video) {
        zt_frame_to_rgb8(x, h, w, s->rgb);
        ZT_TRY(zt_video_writer_write(s->video, s->rgb, (int)(3 * w)));
    }
    if (s->planes)
        for (int c = 0; c < 3; c++)
            memcpy(s->planes + (c * s->frames + index) * hw, x + c * hw, (size_t)hw * sizeof *x);
    return ZT_OK;
}

int zt_cli_vae(int argc, char **argv) {
    vae_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? ZT_EXIT_OK : rc;
    zt_wan_vae *vae = NULL;
    zt_backend *be = NULL;
    zt_arena *arena = NULL;
    float *lat = NULL;
    sink s = {0};
    zt_tensor z;
    int64_t width = 0, height = 0;
    double t0 = zt_now_seconds(), t_dec = 0;
    zt_status st = zt_wan_vae_open(&vae, a.vae);
    const zt_wan_vae_info *info = vae ? zt_wan_vae_get_info(vae) : NULL;
    if (st == ZT_OK) st = read_latents(&a, info->z_dim, &lat, &z);
    if (st == ZT_OK) {
        height = z.shape[2] * info->stride_s;
        width = z.shape[3] * info->stride_s;
        s.frames = 1 + info->stride_t * (z.shape[1] - 1);
        if (width > 16384 || height > 16384)
            st = zt_fail(ZT_ERR_INPUT, "%s: latents of %lldx%lld decode to %lldx%lld, more than "
                         "16384 a side", a.latents, (long long)z.shape[3], (long long)z.shape[2],
                         (long long)width, (long long)height);
    }
    if (st == ZT_OK) st = zt_backend_cpu_init(&be, a.threads);
    if (st == ZT_OK) st = zt_arena_init(&arena, 0, 0);
    if (st == ZT_OK && a.dump) {
        s.planes = malloc((size_t)(3 * s.frames * width * height) * sizeof *s.planes);
        if (!s.planes) st = zt_fail(ZT_ERR_NOMEM, "--dump-f32: out of memory");
    }
    if (st == ZT_OK && a.output) {
        const char *meta[] = {"zoetrope_version", zt_version(), NULL};
        zt_video_options o;
        zt_video_options_default(&o);
        o.width = (int)width;
        o.height = (int)height;
        o.fps_num = (int)a.fps;
        o.fps_den = 1;
        o.metadata = meta;
        s.rgb = malloc((size_t)(3 * width * height));
        st = s.rgb ? zt_video_writer_open(&s.video, a.output, &o)
                   : zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    if (st == ZT_OK) {
        double t1 = zt_now_seconds();
        int step = zt_wan_vae_get_info(vae)->stride_s;
        int ov = a.overlap >= 0 ? (int)a.overlap : zt_vae_default_overlap((int)a.tile, step);
        zt_vae_tiling tiling = {(int)a.tile, ov};
        st = zt_wan_vae_decode_tiled(vae, be, arena, &z, a.raw ? ZT_VAE_RAW : 0, &tiling,
                                     on_frame, &s);
        t_dec = zt_now_seconds() - t1;
    }
    if (st == ZT_OK && s.video) {
        zt_video_writer *v = s.video;
        s.video = NULL;
        st = zt_video_writer_close(v);
    }
    if (st == ZT_OK && a.dump)
        st = zt_cli_write_f32(a.dump, s.planes, (size_t)(3 * s.frames * width * height),
                              "frames");
    zt_video_writer_abort(s.video);
    if (st == ZT_OK) {
        double rss = zt_cli_peak_rss_mib(), arena_mib = (double)zt_arena_peak(arena) / 1048576.0;
        if (a.json) {
            json_t *o = json_object();
            json_object_set_new(o, "frames", json_integer(s.frames));
            json_object_set_new(o, "width", json_integer(width));
            json_object_set_new(o, "height", json_integer(height));
            json_object_set_new(o, "vae", json_string(a.vae));
            json_object_set_new(o, "version", json_integer(info->version));
            json_object_set_new(o, "threads", json_integer(be->threads(be)));
            json_object_set_new(o, "vae_tile", json_integer(a.tile));
            json_object_set_new(o, "decode_seconds", json_real(t_dec));
            json_object_set_new(o, "total_seconds", json_real(zt_now_seconds() - t0));
            json_object_set_new(o, "arena_peak_mib", json_real(arena_mib));
            json_object_set_new(o, "peak_rss_mib", json_real(rss));
            zt_cli_print_json(o);
        } else {
            zt_log(ZT_LOG_INFO, "decoded %lld frames of %lldx%lld in %.2f s (peak RSS %.0f MiB, "
                   "activations %.0f MiB)", (long long)s.frames, (long long)width,
                   (long long)height, t_dec, rss, arena_mib);
        }
    }
    free(s.rgb);
    free(s.planes);
    free(lat);
    zt_arena_free(arena);
    zt_backend_free(be);
    zt_wan_vae_free(vae);
    return st == ZT_OK ? ZT_EXIT_OK : zt_cli_fail(st);
}
