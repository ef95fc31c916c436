/* av_util.h - glue shared by the modules that call FFmpeg's libraries.
 *
 * Every libav call is checked through ZT_AV_TRY, which turns a negative return into a
 * one-line zt_status message: the caller's context, libav's own error text, and the
 * call with its file and line, e.g.
 *   "output 'a.mp4': cannot open encoder libx264: Invalid argument (avcodec_open2(...) at
 *    video_writer.c:212)". */
#ifndef ZT_AV_UTIL_H
#define ZT_AV_UTIL_H

#include <stdint.h>

#include "zoetrope.h"

/* Route av_log into zt_log (debug level) once per process, so the library prints
 * nothing of its own; the error a caller sees is the zt_status message. */
void zt_av_init(void);

/* Record "<fmt...>: <libav error text> (<call> at <file>:<line>)" and return code. */
zt_status zt_av_fail(zt_status code, int averr, const char *call, const char *file, int line,
                     const char *fmt, ...) ZT_PRINTF(6, 7);

/* Evaluate a libav call; on a negative result record the message, set st and jump to
 * the function's `fail` label. */
#define ZT_AV_TRY(st, code, expr, ...)                                                             \
    do {                                                                                           \
        int zt_av_r_ = (expr);                                                                     \
        if (zt_av_r_ < 0) {                                                                        \
            (st) = zt_av_fail((code), zt_av_r_, #expr, __FILE__, __LINE__, __VA_ARGS__);           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* The same for a result already in hand (a call whose other returns are not errors,
 * such as AVERROR(EAGAIN)); call names it in the message. */
#define ZT_AV_TRY_RET(st, code, ret, call, ...)                                                    \
    do {                                                                                           \
        int zt_av_r_ = (ret);                                                                      \
        if (zt_av_r_ < 0) {                                                                        \
            (st) = zt_av_fail((code), zt_av_r_, call, __FILE__, __LINE__, __VA_ARGS__);            \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* A decoded frame [3, H, W] in [-1, 1] (f32 planes) to packed 8-bit RGB, rounded as
 * diffusers' video processor does: round((x + 1) * 127.5), clamped. */
void zt_frame_to_rgb8(const float *chw, int64_t h, int64_t w, uint8_t *rgb);

/* Write all of buf to fd (retrying short writes and EINTR); ZT_ERR_IO naming path. */
zt_status zt_write_all(int fd, const void *buf, size_t n, const char *path);

/* A PNG encoder for frames of one size, reused across a sequence. Output is
 * byte-stable (bitexact, one thread). */
typedef struct zt_png_encoder zt_png_encoder;

zt_status zt_png_encoder_init(zt_png_encoder **e, int width, int height);
/* Encode one packed-RGB picture (stride bytes per row) and write it to fd; path only
 * names the file in messages. */
zt_status zt_png_encoder_write(zt_png_encoder *e, const uint8_t *rgb, int stride, int fd,
                               const char *path);
/* NULL is a no-op. */
void zt_png_encoder_free(zt_png_encoder *e);

#endif
