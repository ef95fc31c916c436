/* zoetrope encode: a PNG frame sequence, or a generated test pattern, to a video.
 * The test pattern stands in for a model's output in demos and tests. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io/frame_source.h"
#include "progress.h"

static const char *const CMD = "encode";

enum {
    OPT_FPS = 1000,
    OPT_CRF,
    OPT_THREADS,
    OPT_FRAMES_DIR,
    OPT_JSON,
    OPT_PATTERN,
    OPT_HELP,
};

static void print_help(void) {
    printf("usage: zoetrope encode FRAMES -o OUTPUT [options]\n"
           "       zoetrope encode --pattern NAME [--width W --height H --frames N] -o OUTPUT\n\n"
           "Encode a PNG sequence, or a generated test pattern, to a video.\n\n"
           "  FRAMES                     a directory of .png files (sorted by name) or a\n"
           "                             pattern like frames/%%04d.png\n"
           "  -o, --output PATH          .mp4 (H.264), .webm (VP9), .mkv (FFV1, lossless), .gif,\n"
           "                             .y4m, '-' (y4m to stdout), a PNG pattern like\n"
           "                             out/%%04d.png or a directory ending in '/'\n"
           "  -c, --codec NAME           h264, vp9, ffv1, gif, png or y4m (default: from -o)\n"
           "      --fps N                frames per second: 16, 30000/1001 or 29.97 (default 16)\n"
           "      --crf N                constant quality (h264 default 18, vp9 30)\n"
           "  -b, --bitrate RATE         target bitrate like 4M or 800k instead of --crf\n"
           "      --threads N            encoder threads; 0 (default) is one thread and\n"
           "                             byte-stable output\n"
           "      --frames-dir DIR       also write every frame as DIR/0001.png, ... (DIR must\n"
           "                             exist); with no -o, only the frames are written\n"
           "      --pattern NAME         encode a moving test pattern instead: bars or gradient\n"
           "  -W, --width N              pattern width (default 832)\n"
           "  -H, --height N             pattern height (default 480)\n"
           "  -f, --frames N             pattern frame count (default 81); with FRAMES, encode\n"
           "                             at most N frames\n"
           "      --json                 print a one-line JSON summary on stdout\n"
           "  -q, --quiet / -v, --verbose\n\n"
           "Exit codes: 0 success, 1 usage, 2 bad input frames or output path, 3 runtime\n"
           "failure, 130 interrupted.\n");
}

/* ---- test patterns ---------------------------------------------------------------------- */

typedef void (*pattern_fn)(uint8_t *rgb, int w, int h, int64_t t);

static void put(uint8_t *px, int r, int g, int b) {
    px[0] = (uint8_t)r;
    px[1] = (uint8_t)g;
    px[2] = (uint8_t)b;
}

/* A square that moves along a diagonal and bounces off the edges. */
static void box_position(int w, int h, int size, int64_t t, int *bx, int *by) {
    int64_t rx = w - size, ry = h - size;
    int64_t px = rx > 0 ? (t * 5) % (2 * rx) : 0, py = ry > 0 ? (t * 3) % (2 * ry) : 0;
    *bx = (int)(px > rx ? 2 * rx - px : px);
    *by = (int)(py > ry ? 2 * ry - py : py);
}

/* Seven 75% colour bars scrolling left over a grey ramp, plus a white bouncing box. */
static void pattern_bars(uint8_t *rgb, int w, int h, int64_t t) {
    static const uint8_t bars[7][3] = {{191, 191, 191}, {191, 191, 0}, {0, 191, 191}, {0, 191, 0},
                                       {191, 0, 191},   {191, 0, 0},   {0, 0, 191}};
    int split = h * 3 / 4, size = (h < w ? h : w) / 6 + 1;
    int bx, by;
    box_position(w, h, size, t, &bx, &by);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *px = rgb + ((size_t)y * w + x) * 3;
            if (x >= bx && x < bx + size && y >= by && y < by + size) {
                put(px, 255, 255, 255);
            } else if (y < split) {
                int64_t sx = (x + t * 4) % w;
                const uint8_t *c = bars[sx * 7 / w];
                put(px, c[0], c[1], c[2]);
            } else {
                int v = (int)((int64_t)x * 255 / (w > 1 ? w - 1 : 1));
                put(px, v, v, v);
            }
        }
    }
}

/* A colour gradient that drifts with time, and a box of the opposite colours. */
static void pattern_gradient(uint8_t *rgb, int w, int h, int64_t t) {
    int size = (h < w ? h : w) / 4 + 1;
    int bx, by;
    box_position(w, h, size, t, &bx, &by);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *px = rgb + ((size_t)y * w + x) * 3;
            int r = (int)((int64_t)x * 255 / (w > 1 ? w - 1 : 1));
            int g = (int)((int64_t)y * 255 / (h > 1 ? h - 1 : 1));
            int b = (int)((t * 8) % 512);
            if (b > 255) b = 511 - b;
            if (x >= bx && x < bx + size && y >= by && y < by + size)
                put(px, 255 - r, 255 - g, 255 - b);
            else
                put(px, r, g, b);
        }
    }
}

static const struct {
    const char *name;
    pattern_fn fn;
} patterns[] = {
    {"bars", pattern_bars},
    {"gradient", pattern_gradient},
};

static pattern_fn find_pattern(const char *name) {
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        if (!strcmp(patterns[i].name, name)) return patterns[i].fn;
    return NULL;
}

/* ---- flag values ---------------------------------------------------------------------- */

/* "16", "30000/1001" or "29.97" */
static int parse_fps(const char *s, int *num, int *den) {
    long a, b = 1;
    const char *slash = strchr(s, '/');
    if (slash) {
        char head[32];
        if ((size_t)(slash - s) >= sizeof head)
            return zt_cli_usage_error(CMD, "--fps: bad value '%s'", s), -1;
        memcpy(head, s, (size_t)(slash - s));
        head[slash - s] = '\0';
        if (zt_cli_parse_int(CMD, "--fps", head, 1, 1000000, &a) ||
            zt_cli_parse_int(CMD, "--fps", slash + 1, 1, 1000000, &b))
            return -1;
    } else if (strchr(s, '.')) {
        double v;
        if (zt_cli_parse_double(CMD, "--fps", s, 0.001, 1000, &v)) return -1;
        a = lround(v * 1000);
        b = 1000;
    } else if (zt_cli_parse_int(CMD, "--fps", s, 1, 1000, &a)) {
        return -1;
    }
    long x = a, y = b;
    while (y) {
        long r = x % y;
        x = y;
        y = r;
    }
    a /= x;
    b /= x;
    if ((double)a / (double)b > 1000 || a > INT32_MAX || b > INT32_MAX)
        return zt_cli_usage_error(CMD, "--fps: %s is more than 1000", s), -1;
    *num = (int)a;
    *den = (int)b;
    return 0;
}

/* "4000000", "4M", "800k" */
static int parse_bitrate(const char *s, int64_t *out) {
    char num[32];
    size_t n = strlen(s);
    double mult = 1;
    if (n > 0 && (s[n - 1] == 'k' || s[n - 1] == 'K'))
        mult = 1e3, n--;
    else if (n > 0 && (s[n - 1] == 'm' || s[n - 1] == 'M'))
        mult = 1e6, n--;
    if (n == 0 || n >= sizeof num)
        return zt_cli_usage_error(CMD, "--bitrate: expected a rate like 4M, got '%s'", s), -1;
    memcpy(num, s, n);
    num[n] = '\0';
    double v;
    if (zt_cli_parse_double(CMD, "--bitrate", num, 0, 1e12, &v)) return -1;
    v *= mult;
    if (v < 1000 || v > 1e9)
        return zt_cli_usage_error(CMD, "--bitrate: %s is outside 1k..1000M", s), -1;
    *out = (int64_t)llround(v);
    return 0;
}

/* ---- the command ------------------------------------------------------------------------- */

typedef struct encode_args {
    const char *input, *output, *codec, *frames_dir, *pattern;
    int fps_num, fps_den, crf, threads, json;
    long width, height, frames; /* frames -1: all / default */
    int64_t bitrate;
} encode_args;

static int parse_args(int argc, char **argv, encode_args *a) {
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"codec", required_argument, NULL, 'c'},
        {"bitrate", required_argument, NULL, 'b'},
        {"fps", required_argument, NULL, OPT_FPS},
        {"crf", required_argument, NULL, OPT_CRF},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"frames-dir", required_argument, NULL, OPT_FRAMES_DIR},
        {"json", no_argument, NULL, OPT_JSON},
        {"pattern", required_argument, NULL, OPT_PATTERN},
        {"width", required_argument, NULL, 'W'},
        {"height", required_argument, NULL, 'H'},
        {"frames", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->fps_num = 16;
    a->fps_den = 1;
    a->crf = -1;
    a->width = a->height = a->frames = -1;
    opterr = 0;
    optind = 1;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, ":o:c:b:W:H:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case 'c':
            a->codec = optarg;
            break;
        case 'b':
            if (parse_bitrate(optarg, &a->bitrate)) return ZT_EXIT_USAGE;
            break;
        case OPT_FPS:
            if (parse_fps(optarg, &a->fps_num, &a->fps_den)) return ZT_EXIT_USAGE;
            break;
        case OPT_CRF:
            if (zt_cli_parse_int(CMD, "--crf", optarg, 0, 63, &v)) return ZT_EXIT_USAGE;
            a->crf = (int)v;
            break;
        case OPT_THREADS:
            if (zt_cli_parse_int(CMD, "--threads", optarg, 0, 64, &v)) return ZT_EXIT_USAGE;
            a->threads = (int)v;
            break;
        case OPT_FRAMES_DIR:
            a->frames_dir = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_PATTERN:
            a->pattern = optarg;
            break;
        case 'W':
            if (zt_cli_parse_int(CMD, "--width", optarg, 1, 16384, &a->width)) return ZT_EXIT_USAGE;
            break;
        case 'H':
            if (zt_cli_parse_int(CMD, "--height", optarg, 1, 16384, &a->height))
                return ZT_EXIT_USAGE;
            break;
        case 'f':
            if (zt_cli_parse_int(CMD, "--frames", optarg, 1, 1000000, &a->frames))
                return ZT_EXIT_USAGE;
            break;
        case 'h':
        case OPT_HELP:
            print_help();
            return -1;
        case ':':
            if (optopt > 0 && optopt < 256)
                return zt_cli_usage_error(CMD, "-%c needs a value", optopt);
            return zt_cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256)
                return zt_cli_usage_error(CMD, "unknown option '-%c'", optopt);
            return zt_cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) a->input = argv[optind++];
    if (optind < argc) return zt_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->input && !a->pattern)
        return zt_cli_usage_error(CMD, "give a FRAMES directory or pattern, or --pattern NAME");
    if (a->input && a->pattern)
        return zt_cli_usage_error(CMD, "give FRAMES or --pattern, not both");
    if (!a->output && !a->frames_dir) return zt_cli_usage_error(CMD, "no output given (-o)");
    if (a->input && (a->width > 0 || a->height > 0))
        return zt_cli_usage_error(CMD, "--width and --height go with --pattern; frames keep "
                                       "their own size");
    if (a->pattern) {
        if (!find_pattern(a->pattern))
            return zt_cli_usage_error(CMD, "--pattern: unknown pattern '%s' (bars or gradient)",
                                      a->pattern);
        if (a->width < 0) a->width = 832;
        if (a->height < 0) a->height = 480;
        if (a->frames < 0) a->frames = 81;
    }
    if (a->json && a->output && !strcmp(a->output, "-"))
        return zt_cli_usage_error(CMD, "--json cannot share stdout with '-o -'");
    return ZT_EXIT_OK;
}

static void print_json(const encode_args *a, const char *codec, int64_t frames, int w, int h,
                       double seconds) {
    json_t *o = json_object();
    json_object_set_new(o, "output", json_string(a->output ? a->output : a->frames_dir));
    json_object_set_new(o, "codec", json_string(codec));
    json_object_set_new(o, "frames", json_integer(frames));
    json_object_set_new(o, "width", json_integer(w));
    json_object_set_new(o, "height", json_integer(h));
    json_object_set_new(o, "fps", json_real((double)a->fps_num / a->fps_den));
    json_object_set_new(o, "duration", json_real((double)frames * a->fps_den / a->fps_num));
    json_object_set_new(o, "seconds", json_real(seconds));
    if (a->frames_dir) json_object_set_new(o, "frames_dir", json_string(a->frames_dir));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (s) printf("%s\n", s);
    free(s);
    json_decref(o);
}

int zt_cli_encode(int argc, char **argv) {
    encode_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != ZT_EXIT_OK) return rc < 0 ? ZT_EXIT_OK : rc;

    double start = zt_now_seconds();
    zt_status st = ZT_OK;
    zt_frame_source *src = NULL;
    zt_video_writer *video = NULL, *frames_out = NULL;
    zt_progress *prog = NULL;
    uint8_t *pattern_rgb = NULL;
    zt_image img = {0};
    int width, height;
    int64_t count;
    char dir_path[4200];

    if (a.input) {
        if ((st = zt_frame_source_open(&src, a.input)) != ZT_OK) goto done;
        width = zt_frame_source_width(src);
        height = zt_frame_source_height(src);
        count = zt_frame_source_count(src);
        if (a.frames > 0 && a.frames < count) count = a.frames;
    } else {
        width = (int)a.width;
        height = (int)a.height;
        count = a.frames;
        pattern_rgb = malloc((size_t)width * (size_t)height * 3);
        if (!pattern_rgb) {
            fprintf(stderr, "zoetrope: encode: out of memory for %dx%d\n", width, height);
            return ZT_EXIT_RUNTIME;
        }
    }

    const char *meta[] = {"zoetrope_version", zt_version(), a.pattern ? "pattern" : NULL, a.pattern,
                          NULL};
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = width;
    o.height = height;
    o.fps_num = a.fps_num;
    o.fps_den = a.fps_den;
    o.codec = a.codec;
    o.crf = a.crf;
    o.bitrate = a.bitrate;
    o.threads = a.threads;
    o.metadata = meta;
    if (a.output && (st = zt_video_writer_open(&video, a.output, &o)) != ZT_OK) goto done;
    if (a.frames_dir) {
        size_t n = strlen(a.frames_dir);
        snprintf(dir_path, sizeof dir_path, "%s%s", a.frames_dir,
                 n && a.frames_dir[n - 1] == '/' ? "" : "/");
        zt_video_options fo = o;
        fo.codec = NULL;
        if ((st = zt_video_writer_open(&frames_out, dir_path, &fo)) != ZT_OK) goto done;
    }

    pattern_fn gen = a.pattern ? find_pattern(a.pattern) : NULL;
    prog = zt_progress_begin("encoding", count);
    for (int64_t i = 0; i < count; i++) {
        const uint8_t *rgb = pattern_rgb;
        if (src) {
            zt_image_free(&img);
            if ((st = zt_frame_source_read(src, i, &img)) != ZT_OK) goto done;
            rgb = img.rgb;
        } else {
            gen(pattern_rgb, width, height, i);
        }
        if (video && (st = zt_video_writer_write(video, rgb, 3 * width)) != ZT_OK) goto done;
        if (frames_out && (st = zt_video_writer_write(frames_out, rgb, 3 * width)) != ZT_OK)
            goto done;
        zt_progress_update(prog, i + 1);
    }
    /* close frees a writer whatever it returns */
    zt_video_writer *v = video;
    video = NULL;
    if (v && (st = zt_video_writer_close(v)) != ZT_OK) goto done;
    if (frames_out) {
        zt_video_writer *f = frames_out;
        frames_out = NULL;
        st = zt_video_writer_close(f);
        /* the video is in place but the frames failed: take it back, all or nothing
         * (a PNG sequence as the video stays; it cannot be told from older frames) */
        const char *codec = a.output ? zt_video_codec_for_path(a.output) : NULL;
        if (st != ZT_OK && v && strcmp(a.output, "-") != 0 && (!codec || strcmp(codec, "png") != 0))
            remove(a.output);
    }

done:
    if (st == ZT_OK) zt_progress_end(prog);
    else zt_progress_abort(prog);
    zt_video_writer_abort(video);
    zt_video_writer_abort(frames_out);
    zt_frame_source_close(src);
    zt_image_free(&img);
    free(pattern_rgb);
    if (st != ZT_OK) return zt_cli_fail(st);
    if (a.json) {
        const char *codec = a.codec    ? a.codec
                            : a.output ? zt_video_codec_for_path(a.output)
                                       : "png";
        print_json(&a, codec ? codec : "", count, width, height, zt_now_seconds() - start);
    }
    return ZT_EXIT_OK;
}
