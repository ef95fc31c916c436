#include "av_util.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>

#include "../core/log.h"
#include "../core/status.h"

/* ---- logging ---------------------------------------------------------------------- */

static void av_log_to_zt(void *avcl, int level, const char *fmt, va_list vl) {
    /* libav's own errors repeat what the zt_status message says; keep them (and
     * encoder chatter such as x264's statistics) for --verbose only */
    if (level > AV_LOG_INFO || !zt_log_enabled(ZT_LOG_DEBUG)) return;
    static _Thread_local int print_prefix = 1;
    char line[1024];
    va_list copy;
    va_copy(copy, vl);
    av_log_format_line2(avcl, level, fmt, copy, line, sizeof line, &print_prefix);
    va_end(copy);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n > 0) zt_log(ZT_LOG_DEBUG, "libav: %s", line);
}

static void av_init_once(void) {
    av_log_set_callback(av_log_to_zt);
}

void zt_av_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, av_init_once);
}

/* ---- errors ----------------------------------------------------------------------- */

zt_status zt_av_fail(zt_status code, int averr, const char *call, const char *file, int line,
                     const char *fmt, ...) {
    char ctx[512], err[AV_ERROR_MAX_STRING_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    av_strerror(averr, err, sizeof err);
    const char *base = strrchr(file, '/');
    return zt_fail(code, "%s: %s (%s at %s:%d)", ctx, err, call, base ? base + 1 : file, line);
}

zt_status zt_write_all(int fd, const void *buf, size_t n, const char *path) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return zt_fail(ZT_ERR_IO, "output '%s': write failed: %s", path,
                           k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return ZT_OK;
}

/* ---- PNG encoding ------------------------------------------------------------------- */

struct zt_png_encoder {
    AVCodecContext *enc;
    AVFrame *frame;
    AVPacket *pkt;
};

void zt_png_encoder_free(zt_png_encoder *e) {
    if (!e) return;
    avcodec_free_context(&e->enc);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    free(e);
}

zt_status zt_png_encoder_init(zt_png_encoder **out, int width, int height) {
    zt_status st = ZT_ERR_RUNTIME;
    *out = NULL;
    zt_av_init();
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!codec) return zt_fail(ZT_ERR_UNSUPPORTED, "this FFmpeg has no PNG encoder");
    zt_png_encoder *e = calloc(1, sizeof *e);
    if (!e) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    e->enc = avcodec_alloc_context3(codec);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->enc || !e->frame || !e->pkt) {
        st = zt_fail(ZT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    e->enc->width = width;
    e->enc->height = height;
    e->enc->pix_fmt = AV_PIX_FMT_RGB24;
    e->enc->time_base = (AVRational){1, 1};
    e->enc->thread_count = 1;
    e->enc->flags |= AV_CODEC_FLAG_BITEXACT;
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avcodec_open2(e->enc, codec, NULL),
              "cannot open the PNG encoder for %dx%d", width, height);
    e->frame->format = AV_PIX_FMT_RGB24;
    e->frame->width = width;
    e->frame->height = height;
    ZT_AV_TRY(st, ZT_ERR_NOMEM, av_frame_get_buffer(e->frame, 0), "cannot allocate a frame");
    *out = e;
    return ZT_OK;
fail:
    zt_png_encoder_free(e);
    return st;
}

zt_status zt_png_encoder_write(zt_png_encoder *e, const uint8_t *rgb, int stride, int fd,
                               const char *path) {
    zt_status st = ZT_ERR_RUNTIME;
    ZT_AV_TRY(st, ZT_ERR_NOMEM, av_frame_make_writable(e->frame), "cannot allocate a frame");
    av_image_copy_plane(e->frame->data[0], e->frame->linesize[0], rgb, stride, 3 * e->enc->width,
                        e->enc->height);
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avcodec_send_frame(e->enc, e->frame),
              "output '%s': PNG encoding failed", path);
    /* PNG is intra-only without delay: each frame gives exactly one packet */
    ZT_AV_TRY(st, ZT_ERR_RUNTIME, avcodec_receive_packet(e->enc, e->pkt),
              "output '%s': PNG encoding failed", path);
    st = zt_write_all(fd, e->pkt->data, (size_t)e->pkt->size, path);
    av_packet_unref(e->pkt);
    return st;
fail:
    return st;
}

void zt_frame_to_rgb8(const float *chw, int64_t h, int64_t w, uint8_t *rgb) {
    int64_t hw = h * w;
    for (int64_t p = 0; p < hw; p++)
        for (int c = 0; c < 3; c++) {
            float v = (chw[c * hw + p] + 1.0f) * 127.5f;
            rgb[3 * p + c] = (uint8_t)lrintf(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
        }
}
