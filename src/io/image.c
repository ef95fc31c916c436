/* image.c - still pictures in and out: decode any picture libavformat reads into
 * packed RGB (optionally resized to cover a size and centre-cropped, as Wan i2v
 * prepares its input image), and write one PNG. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "../core/status.h"
#include "av_util.h"
#include "tempfile.h"

/* Largest side accepted: bigger pictures are almost surely not meant as model input,
 * and this keeps every size product far from overflow. */
#define ZT_IMAGE_MAX_SIDE 32768
/* Most pixels accepted (8192x8192): a 45-byte GIF can claim 16000x16000, which takes
 * gigabytes to decode and convert. And most in the scaled picture a crop is cut from,
 * which a 1x32768 strip covering 832x480 would make 68 GB. */
#define ZT_IMAGE_MAX_PIXELS ((int64_t)1 << 26)
#define ZT_IMAGE_MAX_SCALED ((int64_t)1 << 28)

/* Same-accuracy results on every CPU: SIMD paths must match the C reference. */
#define ZT_SWS_FLAGS (SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT | SWS_FULL_CHR_H_INT)

void zt_image_free(zt_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

/* The deprecated full-range "yuvj" formats name a range, not a layout; swscale wants
 * the plain layout plus an explicit range. */
static enum AVPixelFormat unjpeg(enum AVPixelFormat f, int *full_range) {
    switch (f) {
    case AV_PIX_FMT_YUVJ420P:
        *full_range = 1;
        return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
        *full_range = 1;
        return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
        *full_range = 1;
        return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
        *full_range = 1;
        return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
        *full_range = 1;
        return AV_PIX_FMT_YUV411P;
    default:
        return f;
    }
}

/* Size to scale a w x h picture to so that it covers tw x th with the least excess. */
static void cover_size(int w, int h, int tw, int th, int *sw, int *sh) {
    if ((int64_t)tw * h >= (int64_t)th * w) { /* target relatively wider: match width */
        *sw = tw;
        *sh = (int)(((int64_t)h * tw + w / 2) / w);
        if (*sh < th) *sh = th;
    } else {
        *sh = th;
        *sw = (int)(((int64_t)w * th + h / 2) / h);
        if (*sw < tw) *sw = tw;
    }
}

/* Decode the first picture of the best video stream into fr. */
static zt_status decode_first(const char *path, AVFormatContext *fc, AVCodecContext **dcp,
                              AVFrame *fr) {
    zt_status st = ZT_ERR_INPUT;
    const AVCodec *codec = NULL;
    AVPacket *pkt = NULL;
    int r;
    /* the probe decodes pictures too: the same bound for its decoders */
    unsigned nopts = fc->nb_streams;
    AVDictionary **opts = calloc(nopts ? nopts : 1, sizeof *opts);
    r = opts ? 0 : AVERROR(ENOMEM);
    for (unsigned i = 0; i < nopts && r >= 0; i++)
        r = av_dict_set_int(&opts[i], "max_pixels", ZT_IMAGE_MAX_PIXELS, 0);
    if (r >= 0) r = avformat_find_stream_info(fc, opts);
    for (unsigned i = 0; opts && i < nopts; i++) av_dict_free(&opts[i]);
    free(opts);
    ZT_AV_TRY_RET(st, ZT_ERR_INPUT, r, "avformat_find_stream_info",
                  "image '%s': cannot read it as a picture", path);
    int idx = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx == AVERROR_STREAM_NOT_FOUND)
        return zt_fail(ZT_ERR_INPUT, "image '%s': holds no picture", path);
    if (idx == AVERROR_DECODER_NOT_FOUND)
        return zt_fail(ZT_ERR_INPUT, "image '%s': no decoder for its picture format", path);
    ZT_AV_TRY_RET(st, ZT_ERR_INPUT, idx, "av_find_best_stream",
                  "image '%s': cannot find a picture in it", path);
    const AVCodecParameters *par = fc->streams[idx]->codecpar;
    if ((int64_t)par->width * par->height > ZT_IMAGE_MAX_PIXELS)
        return zt_fail(ZT_ERR_INPUT, "image '%s': %dx%d is more than %lld pixels", path, par->width,
                       par->height, (long long)ZT_IMAGE_MAX_PIXELS);
    AVCodecContext *dc = *dcp = avcodec_alloc_context3(codec);
    pkt = av_packet_alloc();
    if (!dc || !pkt) {
        st = zt_fail(ZT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    ZT_AV_TRY(st, ZT_ERR_INPUT, avcodec_parameters_to_context(dc, fc->streams[idx]->codecpar),
              "image '%s': bad stream parameters", path);
    dc->thread_count = 1;
    dc->max_pixels = ZT_IMAGE_MAX_PIXELS; /* sizes only the decoder learns */
    /* a damaged file should fail, not decode to a half-grey picture */
    dc->err_recognition |= AV_EF_CRCCHECK | AV_EF_EXPLODE;
    ZT_AV_TRY(st, ZT_ERR_INPUT, avcodec_open2(dc, codec, NULL),
              "image '%s': cannot open the %s decoder", path, codec->name);
    while ((r = av_read_frame(fc, pkt)) >= 0) {
        if (pkt->stream_index != idx) {
            av_packet_unref(pkt);
            continue;
        }
        r = avcodec_send_packet(dc, pkt);
        av_packet_unref(pkt);
        ZT_AV_TRY_RET(st, ZT_ERR_INPUT, r, "avcodec_send_packet", "image '%s': cannot decode it",
                      path);
        r = avcodec_receive_frame(dc, fr);
        if (r == 0) goto done;
        if (r != AVERROR(EAGAIN))
            ZT_AV_TRY_RET(st, ZT_ERR_INPUT, r, "avcodec_receive_frame",
                          "image '%s': cannot decode it", path);
    }
    if (r != AVERROR_EOF)
        ZT_AV_TRY_RET(st, ZT_ERR_INPUT, r, "av_read_frame", "image '%s': read failed", path);
    /* decoders with delay hand their first picture out only when drained */
    ZT_AV_TRY(st, ZT_ERR_INPUT, avcodec_send_packet(dc, NULL), "image '%s': cannot decode it",
              path);
    r = avcodec_receive_frame(dc, fr);
    if (r == AVERROR_EOF) {
        st = zt_fail(ZT_ERR_INPUT, "image '%s': no picture could be decoded", path);
        goto fail;
    }
    ZT_AV_TRY_RET(st, ZT_ERR_INPUT, r, "avcodec_receive_frame", "image '%s': cannot decode it",
                  path);
done:
    av_packet_free(&pkt);
    if (fr->decode_error_flags || (fr->flags & AV_FRAME_FLAG_CORRUPT))
        return zt_fail(ZT_ERR_INPUT, "image '%s': the picture is damaged", path);
    if (fr->width <= 0 || fr->height <= 0)
        return zt_fail(ZT_ERR_INPUT, "image '%s': the picture has zero size", path);
    return ZT_OK;
fail:
    av_packet_free(&pkt);
    return st;
}

/* Scale fr to sw x sh packed RGB, then copy the centred tw x th window into out. */
static zt_status convert(const char *path, const AVFrame *fr, int sw, int sh, int tw, int th,
                         zt_image *out) {
    zt_status st = ZT_ERR_RUNTIME;
    int full_range = fr->color_range == AVCOL_RANGE_JPEG;
    enum AVPixelFormat fmt = unjpeg((enum AVPixelFormat)fr->format, &full_range);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    uint8_t *scaled = NULL;
    struct SwsContext *sws = sws_getContext(fr->width, fr->height, fmt, sw, sh, AV_PIX_FMT_RGB24,
                                            ZT_SWS_FLAGS, NULL, NULL, NULL);
    if (!sws || !desc)
        return zt_fail(ZT_ERR_INPUT, "image '%s': cannot convert pixel format %s to RGB", path,
                       desc ? desc->name : "(unknown)");
    if (!(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL))) {
        /* YUV or grey: the matrix and range the file states (BT.601 when unstated) */
        int cs = fr->colorspace == AVCOL_SPC_RGB ? SWS_CS_DEFAULT : (int)fr->colorspace;
        const int *coefs = sws_getCoefficients(cs);
        if (sws_setColorspaceDetails(sws, coefs, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                     0, 1 << 16, 1 << 16) < 0) {
            st = zt_fail(ZT_ERR_INPUT, "image '%s': cannot convert %s to RGB", path, desc->name);
            goto fail;
        }
    }
    /* an aligned intermediate keeps swscale on its SIMD paths */
    int sstride = (3 * sw + 63) & ~63;
    scaled = av_malloc((size_t)sstride * (size_t)sh);
    out->rgb = malloc((size_t)tw * (size_t)th * 3);
    if (!scaled || !out->rgb) {
        st = zt_fail(ZT_ERR_NOMEM, "image '%s': out of memory for %dx%d", path, sw, sh);
        goto fail;
    }
    uint8_t *dst[4] = {scaled, NULL, NULL, NULL};
    int dst_stride[4] = {sstride, 0, 0, 0};
    ZT_AV_TRY(st, ZT_ERR_RUNTIME,
              sws_scale(sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst,
                        dst_stride),
              "image '%s': scaling to %dx%d failed", path, sw, sh);
    int x0 = (sw - tw) / 2, y0 = (sh - th) / 2;
    for (int y = 0; y < th; y++)
        memcpy(out->rgb + (size_t)y * tw * 3, scaled + (size_t)(y0 + y) * sstride + (size_t)x0 * 3,
               (size_t)tw * 3);
    out->width = tw;
    out->height = th;
    av_free(scaled);
    sws_freeContext(sws);
    return ZT_OK;
fail:
    zt_image_free(out);
    av_free(scaled);
    sws_freeContext(sws);
    return st;
}

zt_status zt_image_load(const char *path, int width, int height, zt_image *out) {
    if (!out) return zt_fail(ZT_ERR_USAGE, "zt_image_load: no output image");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return zt_fail(ZT_ERR_USAGE, "image: empty path");
    if (width < 0 || height < 0 || (width == 0) != (height == 0) || width > ZT_IMAGE_MAX_SIDE ||
        height > ZT_IMAGE_MAX_SIDE)
        return zt_fail(ZT_ERR_USAGE, "image '%s': bad target size %dx%d", path, width, height);

    /* the common mistakes get plain words rather than libav's "Invalid data" */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return zt_fail(ZT_ERR_INPUT, "image '%s': cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return zt_fail(ZT_ERR_INPUT, "image '%s': is a directory", path);
    if (S_ISREG(sb.st_mode) && sb.st_size == 0)
        return zt_fail(ZT_ERR_INPUT, "image '%s': the file is empty", path);
    if (access(path, R_OK) != 0)
        return zt_fail(ZT_ERR_INPUT, "image '%s': cannot open: %s", path, strerror(errno));

    zt_av_init();
    zt_status st = ZT_ERR_INPUT;
    AVFormatContext *fc = NULL;
    AVCodecContext *dc = NULL;
    AVFrame *fr = av_frame_alloc();
    if (!fr) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    ZT_AV_TRY(st, ZT_ERR_INPUT, avformat_open_input(&fc, path, NULL, NULL),
              "image '%s': not a picture format libav reads", path);
    st = decode_first(path, fc, &dc, fr);
    if (st != ZT_OK) goto fail;
    if (fr->width > ZT_IMAGE_MAX_SIDE || fr->height > ZT_IMAGE_MAX_SIDE) {
        st = zt_fail(ZT_ERR_INPUT, "image '%s': %dx%d is larger than %d on a side", path, fr->width,
                     fr->height, ZT_IMAGE_MAX_SIDE);
        goto fail;
    }
    if ((int64_t)fr->width * fr->height > ZT_IMAGE_MAX_PIXELS) { /* a decoder past max_pixels */
        st = zt_fail(ZT_ERR_INPUT, "image '%s': %dx%d is more than %lld pixels", path, fr->width,
                     fr->height, (long long)ZT_IMAGE_MAX_PIXELS);
        goto fail;
    }
    int tw = width ? width : fr->width, th = height ? height : fr->height;
    int sw = tw, sh = th;
    if (width) cover_size(fr->width, fr->height, tw, th, &sw, &sh);
    if ((int64_t)sw * sh > ZT_IMAGE_MAX_SCALED) {
        st = zt_fail(ZT_ERR_INPUT,
                     "image '%s': %dx%d is too far from the shape of %dx%d (covering it takes "
                     "%dx%d)",
                     path, fr->width, fr->height, tw, th, sw, sh);
        goto fail;
    }
    st = convert(path, fr, sw, sh, tw, th, out);
fail:
    av_frame_free(&fr);
    avcodec_free_context(&dc);
    avformat_close_input(&fc);
    return st;
}

zt_status zt_image_save_png(const char *path, const zt_image *img) {
    if (!img || !img->rgb || img->width <= 0 || img->height <= 0)
        return zt_fail(ZT_ERR_USAGE, "output '%s': empty image", path ? path : "");
    char tmp[4096];
    int fd = -1;
    zt_png_encoder *enc = NULL;
    ZT_TRY(zt_tempfile_create(path, tmp, sizeof tmp, &fd));
    zt_status st = zt_png_encoder_init(&enc, img->width, img->height);
    if (st == ZT_OK) st = zt_png_encoder_write(enc, img->rgb, 3 * img->width, fd, path);
    zt_png_encoder_free(enc);
    if (close(fd) != 0 && st == ZT_OK)
        st = zt_fail(ZT_ERR_IO, "output '%s': write failed: %s", path, strerror(errno));
    if (st != ZT_OK) {
        zt_tempfile_discard(tmp);
        return st;
    }
    return zt_tempfile_commit(tmp, path);
}
