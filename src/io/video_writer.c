/* video_writer.c - packed RGB frames in, a video file (or PNG sequence) out.
 *
 * Containers go through libavformat in the order of FFmpeg's doc/examples: open the
 * encoder, write the header, send each frame and drain its packets (timestamps
 * rescaled from the encoder's to the stream's time base), flush the encoder with a
 * NULL frame, write the trailer. PNG sequences skip libavformat: each frame is one
 * PNG file.
 *
 * Nothing appears under the final name before zt_video_writer_close succeeds: a file
 * is written as a hidden temporary beside it and renamed; PNG frames go to a hidden
 * temporary directory beside them and are renamed one by one at close. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/cpu.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "../core/status.h"
#include "av_util.h"
#include "frame_source.h"
#include "tempfile.h"

#define WPATH_MAX   4096
#define MAX_SIDE    16384
#define MAX_THREADS 64

/* ---- what each codec and container needs -------------------------------------------- */

typedef struct codec_info {
    const char *name;    /* as in zt_video_options.codec */
    const char *encoder; /* libav encoder */
    enum AVPixelFormat pix_fmt;
    int even;        /* chroma halved both ways: width and height must be even */
    int default_crf; /* -1: no quality setting */
    int max_crf;
    const char *muxer; /* container when the extension names none; NULL: frames */
} codec_info;

static const codec_info codecs[] = {
    {"h264", "libx264", AV_PIX_FMT_YUV420P, 1, 18, 51, "mp4"},
    {"vp9", "libvpx-vp9", AV_PIX_FMT_YUV420P, 1, 30, 63, "webm"},
    /* FFV1 codes 8-bit RGB only as bgr0 (no 8-bit gbrp); lossless either way */
    {"ffv1", "ffv1", AV_PIX_FMT_0RGB32, 0, -1, 0, "matroska"},
    {"gif", "gif", AV_PIX_FMT_PAL8, 0, -1, 0, "gif"},
    {"png", "png", AV_PIX_FMT_RGB24, 0, -1, 0, NULL},
    /* yuv4mpegpipe in libavformat 59 takes whole frames wrapped in packets */
    {"y4m", "wrapped_avframe", AV_PIX_FMT_YUV420P, 1, -1, 0, "yuv4mpegpipe"},
};
#define NCODECS (sizeof codecs / sizeof codecs[0])

typedef struct container_info {
    const char *ext;
    const char *muxer;
    const char *codecs[4]; /* the first is the default */
} container_info;

static const container_info containers[] = {
    {".mp4", "mp4", {"h264"}},
    {".webm", "webm", {"vp9"}},
    {".mkv", "matroska", {"ffv1", "h264", "vp9"}},
    {".gif", "gif", {"gif"}},
    {".y4m", "yuv4mpegpipe", {"y4m"}},
};
#define NCONTAINERS (sizeof containers / sizeof containers[0])

static const codec_info *find_codec(const char *name) {
    for (size_t i = 0; i < NCODECS; i++)
        if (!strcmp(codecs[i].name, name)) return &codecs[i];
    return NULL;
}

static const char *extension(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) && dot[1] ? dot : NULL;
}

static const container_info *find_container(const char *path) {
    const char *ext = extension(path);
    for (size_t i = 0; ext && i < NCONTAINERS; i++)
        if (!strcasecmp(containers[i].ext, ext)) return &containers[i];
    return NULL;
}

static int ends_with_slash(const char *s) {
    return *s && s[strlen(s) - 1] == '/';
}

const char *zt_video_codec_for_path(const char *path) {
    if (!path || !*path) return NULL;
    if (!strcmp(path, "-")) return "y4m";
    if (ends_with_slash(path) || zt_frame_pattern_check(path) == 1) return "png";
    const container_info *c = find_container(path);
    return c ? c->codecs[0] : NULL;
}

void zt_video_options_default(zt_video_options *o) {
    memset(o, 0, sizeof *o);
    o->fps_num = 16; /* Wan's frame rate */
    o->fps_den = 1;
    o->crf = -1;
}

/* ---- the writer ------------------------------------------------------------------------ */

struct zt_video_writer {
    char path[WPATH_MAX]; /* as the caller gave it */
    char tmp[WPATH_MAX];  /* temporary file, or temporary frame directory */
    const codec_info *ci;
    int width, height;
    int64_t frames;
    zt_status failed; /* first failure of a write; the files are gone by then */
    int to_stdout;

    /* PNG sequence: frame i is seq_dir/ printf(seq_name, i), numbered from 1 */
    char seq_dir[WPATH_MAX - 64];
    char seq_name[256];
    zt_png_encoder *png;

    /* libavformat output */
    AVFormatContext *oc;
    AVStream *stream;
    AVCodecContext *enc;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int header_written; /* until the trailer is written */
};

static void frame_name(const zt_video_writer *w, int64_t i, char *buf, size_t n, int final) {
    char name[300];
    snprintf(name, sizeof name, w->seq_name, (int)i);
    snprintf(buf, n, "%s/%s", final ? w->seq_dir : w->tmp, name);
}

/* Free libav state (not files). */
static void release(zt_video_writer *w) {
    if (w->oc && w->oc->pb && !(w->oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&w->oc->pb);
    avformat_free_context(w->oc);
    w->oc = NULL;
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    w->sws = NULL;
    zt_png_encoder_free(w->png);
    w->png = NULL;
}

/* Remove everything written so far. */
static void discard_files(zt_video_writer *w) {
    /* the gif muxer of libavformat 59 frees the packet it holds back only in its
     * trailer (it has no deinit); the trailer goes to a file about to be deleted */
    if (w->header_written && !strcmp(w->oc->oformat->name, "gif")) av_write_trailer(w->oc);
    w->header_written = 0;
    if (w->oc && w->oc->pb && !(w->oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&w->oc->pb);
    if (w->ci && w->ci->muxer) {
        zt_tempfile_discard(w->tmp);
    } else if (w->tmp[0]) {
        char f[WPATH_MAX + 300];
        for (int64_t i = 1; i <= w->frames; i++) {
            frame_name(w, i, f, sizeof f, 0);
            unlink(f);
        }
        rmdir(w->tmp);
        zt_tempfile_forget(w->tmp);
    }
    w->tmp[0] = '\0';
}

/* A write failed: no file survives, and every later call reports the failure. */
static zt_status write_failed(zt_video_writer *w, zt_status st) {
    discard_files(w);
    w->failed = st;
    return st;
}

void zt_video_writer_abort(zt_video_writer *w) {
    if (!w) return;
    discard_files(w);
    release(w);
    free(w);
}

int64_t zt_video_writer_frames(const zt_video_writer *w) {
    return w ? w->frames : 0;
}

/* ---- choosing codec and container ------------------------------------------------------- */

static zt_status choose(const char *path, const zt_video_options *o, const codec_info **ci,
                        const char **muxer, int *seq) {
    const codec_info *want = NULL;
    if (o->codec) {
        want = find_codec(o->codec);
        if (!want)
            return zt_fail(ZT_ERR_USAGE,
                           "unknown codec '%s' (use h264, vp9, ffv1, gif, png or y4m)", o->codec);
    }
    *seq = 0;
    *muxer = NULL;
    if (!strcmp(path, "-")) {
        if (want && strcmp(want->name, "y4m") != 0)
            return zt_fail(ZT_ERR_USAGE, "output '-': only y4m can be written to stdout, not %s",
                           want->name);
        *ci = find_codec("y4m");
        *muxer = (*ci)->muxer;
        return ZT_OK;
    }
    int pat = zt_frame_pattern_check(path);
    const char *ext = extension(path);
    int png_ext = ext && !strcasecmp(ext, ".png");
    if (ends_with_slash(path) || pat == 1 || (png_ext && pat < 0)) {
        if (want && strcmp(want->name, "png") != 0)
            return zt_fail(ZT_ERR_USAGE, "output '%s': a frame sequence is PNG, not %s", path,
                           want->name);
        *ci = find_codec("png");
        *seq = 1;
        return ZT_OK;
    }
    if (want && !want->muxer)
        return zt_fail(ZT_ERR_USAGE,
                       "output '%s': png output needs a frame pattern like "
                       "out/%%04d.png or a directory ending in '/'",
                       path);
    const container_info *c = find_container(path);
    if (!c) {
        if (png_ext)
            return zt_fail(ZT_ERR_USAGE,
                           "output '%s': for PNG frames give a pattern like "
                           "out/%%04d.png or a directory ending in '/'",
                           path);
        if (!want)
            return zt_fail(ZT_ERR_USAGE,
                           "output '%s': unknown extension '%s' (use .mp4, .webm, "
                           ".mkv, .gif, .y4m, a pattern like out/%%04d.png, or a codec)",
                           path, ext ? ext : "");
        *ci = want;
        *muxer = want->muxer;
        return ZT_OK;
    }
    if (!want) want = find_codec(c->codecs[0]);
    for (int i = 0; i < 4 && c->codecs[i]; i++) {
        if (!strcmp(c->codecs[i], want->name)) {
            *ci = want;
            *muxer = c->muxer;
            return ZT_OK;
        }
    }
    return zt_fail(ZT_ERR_USAGE, "output '%s': codec %s cannot be stored in a %s file", path,
                   want->name, c->ext);
}

static zt_status check_options(const char *path, const zt_video_options *o, const codec_info *ci) {
    if (o->width < 1 || o->height < 1 || o->width > MAX_SIDE || o->height > MAX_SIDE)
        return zt_fail(ZT_ERR_USAGE, "output '%s': frame size %dx%d is outside 1..%d", path,
                       o->width, o->height, MAX_SIDE);
    if (ci->even && (o->width % 2 || o->height % 2))
        return zt_fail(ZT_ERR_USAGE,
                       "output '%s': %s (yuv420p) needs an even width and height, "
                       "got %dx%d",
                       path, ci->name, o->width, o->height);
    int den = o->fps_den ? o->fps_den : 1;
    if (o->fps_num <= 0 || den < 0 || (double)o->fps_num / den > 1000)
        return zt_fail(ZT_ERR_USAGE, "output '%s': bad frame rate %d/%d", path, o->fps_num, den);
    /* GIF delays are in 1/100 s and viewers slow anything under 2/100 s down */
    if (!strcmp(ci->name, "gif") && (double)o->fps_num / den > 50)
        return zt_fail(ZT_ERR_USAGE, "output '%s': gif plays at most 50 fps, not %g", path,
                       (double)o->fps_num / den);
    if (ci->default_crf >= 0 && o->crf > ci->max_crf)
        return zt_fail(ZT_ERR_USAGE, "output '%s': crf %d is outside 0..%d for %s", path, o->crf,
                       ci->max_crf, ci->name);
    if (o->bitrate < 0) return zt_fail(ZT_ERR_USAGE, "output '%s': negative bitrate", path);
    /* x264 would quietly let crf win over the bitrate */
    if (!strcmp(ci->name, "h264") && o->crf >= 0 && o->bitrate > 0)
        return zt_fail(ZT_ERR_USAGE, "output '%s': give h264 a crf or a bitrate, not both", path);
    if (o->threads < 0 || o->threads > MAX_THREADS)
        return zt_fail(ZT_ERR_USAGE, "output '%s': threads %d is outside 0..%d", path, o->threads,
                       MAX_THREADS);
    if (strlen(path) >= WPATH_MAX - 64)
        return zt_fail(ZT_ERR_USAGE, "output '%s': path too long", path);
    return ZT_OK;
}

/* ---- PNG sequences ------------------------------------------------------------------------- */

static zt_status open_png_seq(zt_video_writer *w) {
    const char *path = w->path;
    char first[WPATH_MAX + 300];
    if (ends_with_slash(path)) {
        snprintf(w->seq_dir, sizeof w->seq_dir, "%.*s", (int)strlen(path) - 1, path);
        if (!w->seq_dir[0]) snprintf(w->seq_dir, sizeof w->seq_dir, "/");
        snprintf(w->seq_name, sizeof w->seq_name, "%%04d.png");
    } else {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (slash)
            snprintf(w->seq_dir, sizeof w->seq_dir, "%.*s", (int)(slash - path), path);
        else
            snprintf(w->seq_dir, sizeof w->seq_dir, ".");
        if (!w->seq_dir[0]) snprintf(w->seq_dir, sizeof w->seq_dir, "/");
        const char *ext = extension(base);
        if (zt_frame_pattern_check(base) != 1 || memchr(path, '%', (size_t)(base - path)))
            return zt_fail(ZT_ERR_USAGE,
                           "output '%s': a frame pattern needs one number like "
                           "%%04d in the file name",
                           path);
        if (!ext || strcasecmp(ext, ".png") != 0)
            return zt_fail(ZT_ERR_USAGE, "output '%s': frame files must end in .png", path);
        if (strlen(base) >= sizeof w->seq_name - 16)
            return zt_fail(ZT_ERR_USAGE, "output '%s': file name too long", path);
        memcpy(w->seq_name, base, strlen(base) + 1);
    }
    /* a directory output is named by its first frame, "out/0001.png" */
    frame_name(w, 1, first, sizeof first, 1);
    ZT_TRY(zt_output_check(ends_with_slash(path) ? first : path, "output"));
    snprintf(w->tmp, sizeof w->tmp, "%s/.zt-frames-XXXXXX", w->seq_dir);
    if (!mkdtemp(w->tmp)) {
        int e = errno;
        w->tmp[0] = '\0';
        return zt_fail(ZT_ERR_IO, "output '%s': cannot create a directory in '%s': %s", path,
                       w->seq_dir, strerror(e));
    }
    zt_tempfile_register(w->tmp);
    return zt_png_encoder_init(&w->png, w->width, w->height);
}

static zt_status write_png_frame(zt_video_writer *w, const uint8_t *rgb, int stride) {
    char f[WPATH_MAX + 300];
    frame_name(w, w->frames + 1, f, sizeof f, 0);
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return zt_fail(ZT_ERR_IO, "output '%s': cannot create '%s': %s", w->path, f,
                       strerror(errno));
    w->frames++; /* counted now so that a failure below removes this file too */
    zt_status st = zt_png_encoder_write(w->png, rgb, stride, fd, w->path);
    if (close(fd) != 0 && st == ZT_OK)
        st = zt_fail(ZT_ERR_IO, "output '%s': write failed: %s", w->path, strerror(errno));
    return st;
}

static zt_status close_png_seq(zt_video_writer *w) {
    char from[WPATH_MAX + 300], to[WPATH_MAX + 300];
    for (int64_t i = 1; i <= w->frames; i++) {
        frame_name(w, i, from, sizeof from, 0);
        frame_name(w, i, to, sizeof to, 1);
        if (rename(from, to) != 0) {
            int e = errno;
            /* the frames already moved would make a partial sequence: take them back out */
            for (int64_t j = 1; j < i; j++) {
                frame_name(w, j, to, sizeof to, 1);
                unlink(to);
            }
            return zt_fail(ZT_ERR_IO, "output '%s': cannot move frame %lld into place: %s", w->path,
                           (long long)i, strerror(e)); /* the caller discards the rest */
        }
    }
    rmdir(w->tmp);
    zt_tempfile_forget(w->tmp);
    w->tmp[0] = '\0';
    return ZT_OK;
}

/* ---- containers through libavformat ------------------------------------------------------ */

/* Deterministic GIF palette: 6 red x 7 green x 6 blue levels (252 colours; the eye is
 * most sensitive to green), the 4 spare entries black. */
#define GIF_NR 6
#define GIF_NG 7
#define GIF_NB 6

static const uint8_t bayer8[8][8] = {
    {0, 32, 8, 40, 2, 34, 10, 42},  {48, 16, 56, 24, 50, 18, 58, 26},
    {12, 44, 4, 36, 14, 46, 6, 38}, {60, 28, 52, 20, 62, 30, 54, 22},
    {3, 35, 11, 43, 1, 33, 9, 41},  {51, 19, 59, 27, 49, 17, 57, 25},
    {15, 47, 7, 39, 13, 45, 5, 37}, {63, 31, 55, 23, 61, 29, 53, 21},
};

static uint32_t gif_level(int k, int levels) {
    return (uint32_t)((k * 255 + (levels - 1) / 2) / (levels - 1));
}

static void gif_palette(uint32_t *pal) {
    for (int i = 0; i < 256; i++) pal[i] = 0xff000000u;
    for (int r = 0; r < GIF_NR; r++)
        for (int g = 0; g < GIF_NG; g++)
            for (int b = 0; b < GIF_NB; b++)
                pal[(r * GIF_NG + g) * GIF_NB + b] = 0xff000000u | gif_level(r, GIF_NR) << 16 |
                                                     gif_level(g, GIF_NG) << 8 |
                                                     gif_level(b, GIF_NB);
}

/* Quantize v to one of `levels`, rounding up when its remainder passes the Bayer
 * threshold (t + 0.5) / 64: integer-only, so identical everywhere. */
static inline int dither(int v, int levels, int t) {
    int s = v * (levels - 1), base = s / 255, rem = s % 255;
    return base + (rem * 128 > (2 * t + 1) * 255);
}

static void gif_quantize(AVFrame *f, const uint8_t *rgb, int stride, int width, int height) {
    gif_palette((uint32_t *)f->data[1]);
    for (int y = 0; y < height; y++) {
        const uint8_t *src = rgb + (size_t)y * stride;
        uint8_t *dst = f->data[0] + (size_t)y * f->linesize[0];
        for (int x = 0; x < width; x++) {
            int t = bayer8[y & 7][x & 7];
            int r = dither(src[3 * x], GIF_NR, t), g = dither(src[3 * x + 1], GIF_NG, t),
                b = dither(src[3 * x + 2], GIF_NB, t);
            dst[x] = (uint8_t)((r * GIF_NG + g) * GIF_NB + b);
        }
    }
}

/* Leftover entries mean an option was misspelt or unsupported: a bug to report. */
static zt_status check_consumed(const char *path, const char *who, AVDictionary *d) {
    const AVDictionaryEntry *e = av_dict_get(d, "", NULL, AV_DICT_IGNORE_SUFFIX);
    if (e)
        return zt_fail(ZT_ERR_RUNTIME, "output '%s': %s did not accept option %s=%s", path, who,
                       e->key, e->value);
    return ZT_OK;
}

static zt_status set_dict(AVDictionary **d, const char *key, const char *value) {
    if (av_dict_set(d, key, value, 0) < 0) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    return ZT_OK;
}

static zt_status encoder_options(zt_video_writer *w, const zt_video_options *o, AVDictionary **eo) {
    const codec_info *ci = w->ci;
    AVCodecContext *enc = w->enc;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", o->crf >= 0 ? o->crf : ci->default_crf);
    enc->color_range = AVCOL_RANGE_MPEG;
    if (!strcmp(ci->name, "h264")) {
        if (o->bitrate > 0)
            enc->bit_rate = o->bitrate;
        else
            ZT_TRY(set_dict(eo, "crf", crf));
        /* Debian 12's x264 (core 164) writes different bytes for the same frames from
         * run to run with its AVX-512 code (seen on a Zen 5 CPU, about one run in two);
         * capped at AVX2, which every AVX-512 CPU has, it is deterministic again */
        if (av_get_cpu_flags() & AV_CPU_FLAG_AVX512) ZT_TRY(set_dict(eo, "x264-params", "asm=avx2"));
    } else if (!strcmp(ci->name, "vp9")) {
        /* bitrate 0 with a crf is libvpx's constant-quality mode; both: constrained
         * quality */
        enc->bit_rate = o->bitrate;
        if (o->bitrate == 0 || o->crf >= 0) ZT_TRY(set_dict(eo, "crf", crf));
        ZT_TRY(set_dict(eo, "deadline", "good"));
        ZT_TRY(set_dict(eo, "cpu-used", "2"));
    } else if (!strcmp(ci->name, "ffv1")) {
        enc->level = 3; /* per-slice CRCs; any thread count */
        enc->colorspace = AVCOL_SPC_RGB;
        enc->color_range = AVCOL_RANGE_JPEG;
    } else if (!strcmp(ci->name, "gif")) {
        enc->color_range = AVCOL_RANGE_JPEG;
    }
    if (ci->pix_fmt == AV_PIX_FMT_YUV420P) {
        /* what the pixels are converted with is what the stream says; y4m cannot say,
         * and its readers assume BT.601 */
        int y4m = !strcmp(ci->name, "y4m");
        enc->colorspace = y4m ? AVCOL_SPC_SMPTE170M : AVCOL_SPC_BT709;
        enc->color_primaries = y4m ? AVCOL_PRI_SMPTE170M : AVCOL_PRI_BT709;
        enc->color_trc = y4m ? AVCOL_TRC_SMPTE170M : AVCOL_TRC_BT709;
    }
    return ZT_OK;
}

static zt_status open_converter(zt_video_writer *w) {
    const codec_info *ci = w->ci;
    if (ci->pix_fmt == AV_PIX_FMT_PAL8) return ZT_OK; /* our own ditherer */
    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height, ci->pix_fmt,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT | SWS_FULL_CHR_H_INP,
                            NULL, NULL, NULL);
    if (!w->sws)
        return zt_fail(ZT_ERR_RUNTIME, "output '%s': cannot convert RGB to %s", w->path,
                       av_get_pix_fmt_name(ci->pix_fmt));
    if (ci->pix_fmt == AV_PIX_FMT_YUV420P) {
        const int *m = sws_getCoefficients(w->enc->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709
                                                                                 : SWS_CS_ITU601);
        if (sws_setColorspaceDetails(w->sws, m, 1, m, 0, 0, 1 << 16, 1 << 16) < 0)
            return zt_fail(ZT_ERR_RUNTIME, "output '%s': cannot set the colour matrix", w->path);
    }
    return ZT_OK;
}

static zt_status open_mux(zt_video_writer *w, const zt_video_options *o, const char *muxer) {
    zt_status st = ZT_ERR_RUNTIME;
    AVDictionary *eo = NULL, *mo = NULL;
    const char *url = w->to_stdout ? "pipe:1" : w->tmp;
    const AVCodec *codec = avcodec_find_encoder_by_name(w->ci->encoder);
    if (!codec)
        return zt_fail(ZT_ERR_UNSUPPORTED, "output '%s': this FFmpeg has no %s encoder", w->path,
                       w->ci->encoder);
    if (!w->to_stdout) ZT_TRY(zt_tempfile_create(w->path, w->tmp, sizeof w->tmp, NULL));
    /* the muxer is named: the temporary name's extension says nothing */
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avformat_alloc_output_context2(&w->oc, NULL, muxer, url),
              "output '%s': cannot set up the %s muxer", w->path, muxer);
    w->oc->flags |= AVFMT_FLAG_BITEXACT; /* no library versions or random ids */
    w->stream = avformat_new_stream(w->oc, NULL);
    w->enc = avcodec_alloc_context3(codec);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->stream || !w->enc || !w->frame || !w->pkt) {
        st = zt_fail(ZT_ERR_NOMEM, "out of memory");
        goto fail;
    }

    AVRational fps = {o->fps_num, o->fps_den ? o->fps_den : 1};
    av_reduce(&fps.num, &fps.den, fps.num, fps.den, INT32_MAX);
    AVCodecContext *enc = w->enc;
    enc->width = w->width;
    enc->height = w->height;
    enc->pix_fmt = w->ci->pix_fmt;
    enc->time_base = av_inv_q(fps);
    enc->framerate = fps;
    enc->sample_aspect_ratio = (AVRational){1, 1};
    enc->thread_count = o->threads > 0 ? o->threads : 1;
    enc->flags |= AV_CODEC_FLAG_BITEXACT;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((st = encoder_options(w, o, &eo)) != ZT_OK) goto fail;
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avcodec_open2(enc, codec, &eo),
              "output '%s': cannot open the %s encoder", w->path, w->ci->encoder);
    if ((st = check_consumed(w->path, w->ci->encoder, eo)) != ZT_OK) goto fail;
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avcodec_parameters_from_context(w->stream->codecpar, enc),
              "output '%s': cannot copy encoder parameters", w->path);
    w->stream->time_base = enc->time_base;
    w->stream->avg_frame_rate = fps;
    w->stream->sample_aspect_ratio = enc->sample_aspect_ratio;

    for (size_t i = 0; o->metadata && o->metadata[i]; i += 2) {
        if (!o->metadata[i + 1]) break;
        if ((st = set_dict(&w->oc->metadata, o->metadata[i], o->metadata[i + 1])) != ZT_OK)
            goto fail;
    }
    /* the index up front so players can start at once; mdta keys so custom tags
     * (prompt, seed) survive */
    if (!strcmp(muxer, "mp4") &&
        (st = set_dict(&mo, "movflags", "+faststart+use_metadata_tags")) != ZT_OK)
        goto fail;
    if (!(w->oc->oformat->flags & AVFMT_NOFILE))
        ZT_AV_TRY(st, ZT_ERR_IO, avio_open(&w->oc->pb, url, AVIO_FLAG_WRITE),
                  "output '%s': cannot open for writing", w->path);
    ZT_AV_TRY(st, ZT_ERR_IO, avformat_write_header(w->oc, &mo),
              "output '%s': cannot write the %s header", w->path, muxer);
    w->header_written = 1;
    if ((st = check_consumed(w->path, muxer, mo)) != ZT_OK) goto fail;

    w->frame->format = enc->pix_fmt;
    w->frame->width = enc->width;
    w->frame->height = enc->height;
    ZT_AV_TRY(st, ZT_ERR_NOMEM, av_frame_get_buffer(w->frame, 0), "cannot allocate a frame");
    st = open_converter(w);
fail:
    av_dict_free(&eo);
    av_dict_free(&mo);
    return st;
}

/* Send frame (NULL: flush) and pass every packet the encoder has ready to the muxer. */
static zt_status encode(zt_video_writer *w, AVFrame *frame) {
    zt_status st = ZT_ERR_RUNTIME;
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avcodec_send_frame(w->enc, frame),
              "output '%s': %s encoding failed", w->path, w->ci->encoder);
    for (;;) {
        int r = avcodec_receive_packet(w->enc, w->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) break;
        ZT_AV_TRY_RET(st, ZT_ERR_RUNTIME, r, "avcodec_receive_packet",
                      "output '%s': %s encoding failed", w->path, w->ci->encoder);
        if (w->pkt->duration == 0) w->pkt->duration = 1; /* one frame; the last needs it */
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->stream->time_base);
        w->pkt->stream_index = w->stream->index;
        ZT_AV_TRY(st, ZT_ERR_IO, av_interleaved_write_frame(w->oc, w->pkt),
                  "output '%s': write failed", w->path);
    }
    return ZT_OK;
fail:
    av_packet_unref(w->pkt);
    return st;
}

static zt_status write_mux_frame(zt_video_writer *w, const uint8_t *rgb, int stride) {
    zt_status st = ZT_ERR_RUNTIME;
    /* the encoder may still hold the last frame (wrapped_avframe, lookahead) */
    ZT_AV_TRY(st, ZT_ERR_NOMEM, av_frame_make_writable(w->frame), "cannot allocate a frame");
    if (w->ci->pix_fmt == AV_PIX_FMT_PAL8) {
        gif_quantize(w->frame, rgb, stride, w->width, w->height);
    } else {
        const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
        int src_stride[4] = {stride, 0, 0, 0};
        ZT_AV_TRY(
            st, ZT_ERR_RUNTIME,
            sws_scale(w->sws, src, src_stride, 0, w->height, w->frame->data, w->frame->linesize),
            "output '%s': colour conversion failed", w->path);
    }
    w->frame->pts = w->frames;
    ZT_TRY(encode(w, w->frame));
    w->frames++;
    return ZT_OK;
fail:
    return st;
}

static zt_status close_mux(zt_video_writer *w) {
    zt_status st = ZT_ERR_IO;
    ZT_TRY(encode(w, NULL));
    w->header_written = 0;
    ZT_AV_TRY(st, ZT_ERR_IO, av_write_trailer(w->oc), "output '%s': cannot finish the file",
              w->path);
    if (w->oc->pb && !(w->oc->oformat->flags & AVFMT_NOFILE)) {
        avio_flush(w->oc->pb);
        /* avio_close forgets a failed last flush: ask before closing */
        ZT_AV_TRY_RET(st, ZT_ERR_IO, w->oc->pb->error, "avio_flush", "output '%s': write failed",
                      w->path);
        ZT_AV_TRY(st, ZT_ERR_IO, avio_closep(&w->oc->pb), "output '%s': write failed", w->path);
    }
    if (w->to_stdout) return ZT_OK;
    st = zt_tempfile_commit(w->tmp, w->path);
    w->tmp[0] = '\0';
    return st;
fail:
    return st;
}

/* ---- public entry points ---------------------------------------------------------------- */

zt_status zt_video_writer_open(zt_video_writer **wp, const char *path,
                               const zt_video_options *opts) {
    if (!wp) return zt_fail(ZT_ERR_USAGE, "zt_video_writer_open: no writer pointer");
    *wp = NULL;
    if (!path || !*path) return zt_fail(ZT_ERR_USAGE, "output: empty path");
    zt_video_options defaults;
    if (!opts) {
        zt_video_options_default(&defaults);
        opts = &defaults;
    }
    const codec_info *ci;
    const char *muxer;
    int seq;
    ZT_TRY(choose(path, opts, &ci, &muxer, &seq));
    ZT_TRY(check_options(path, opts, ci));

    zt_video_writer *w = calloc(1, sizeof *w);
    if (!w) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    snprintf(w->path, sizeof w->path, "%s", path);
    w->ci = ci;
    w->width = opts->width;
    w->height = opts->height;
    w->to_stdout = !strcmp(path, "-");
    zt_av_init();
    zt_status st = seq ? open_png_seq(w) : open_mux(w, opts, muxer);
    if (st != ZT_OK) {
        zt_video_writer_abort(w);
        return st;
    }
    *wp = w;
    return ZT_OK;
}

zt_status zt_video_writer_write(zt_video_writer *w, const uint8_t *rgb, int stride) {
    if (!w || !rgb) return zt_fail(ZT_ERR_USAGE, "zt_video_writer_write: no writer or frame");
    if (w->failed)
        return zt_fail(w->failed, "output '%s': not written after an earlier error", w->path);
    if (stride == 0) stride = 3 * w->width;
    if (stride < 3 * w->width)
        return zt_fail(ZT_ERR_USAGE, "output '%s': row stride %d is less than 3 x width %d",
                       w->path, stride, w->width);
    if (zt_interrupted())
        return write_failed(w, zt_fail(ZT_ERR_INTERRUPTED, "output '%s': interrupted", w->path));
    zt_status st = w->ci->muxer ? write_mux_frame(w, rgb, stride) : write_png_frame(w, rgb, stride);
    return st == ZT_OK ? ZT_OK : write_failed(w, st);
}

zt_status zt_video_writer_close(zt_video_writer *w) {
    if (!w) return zt_fail(ZT_ERR_USAGE, "zt_video_writer_close: no writer");
    zt_status st = w->failed;
    if (st != ZT_OK)
        zt_fail(st, "output '%s': not written after an earlier error", w->path);
    else if (w->frames == 0)
        st = zt_fail(ZT_ERR_USAGE, "output '%s': no frames were written", w->path);
    else
        st = w->ci->muxer ? close_mux(w) : close_png_seq(w);
    if (st != ZT_OK) discard_files(w);
    release(w);
    free(w);
    return st;
}
