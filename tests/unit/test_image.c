/* test_image - zt_image_load / zt_image_save_png: formats, exactness, the cover-and-crop
 * geometry, and that every bad file fails with ZT_ERR_INPUT naming it (and leaks
 * nothing, under ASan). Test pictures are made here with libavcodec's encoders. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>

#include "testlib.h"
#include "zoetrope.h"

static char tmp[4096];

static const char *tpath(const char *name) {
    static char buf[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* A smooth picture (so lossy codecs stay close) with a little structure. */
static uint8_t *make_smooth(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *px = p + ((size_t)y * w + x) * 3;
            px[0] = (uint8_t)(x * 255 / (w - 1));
            px[1] = (uint8_t)(y * 255 / (h - 1));
            px[2] = (uint8_t)(128 + (x - y) / 2);
        }
    return p;
}

/* Vertical bands of solid colours, left to right. */
static uint8_t *make_bands(int w, int h, int n, const uint8_t (*colors)[3], int vertical) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int band = vertical ? y * n / h : x * n / w;
            memcpy(p + ((size_t)y * w + x) * 3, colors[band], 3);
        }
    return p;
}

/* Encode one RGB picture with a libavcodec image encoder and write the packet as the
 * whole file (PNG, JPEG and WebP encoders emit complete files). */
static int encode_file(const char *path, const char *encoder, enum AVPixelFormat fmt,
                       const uint8_t *rgb, int w, int h) {
    const AVCodec *codec = avcodec_find_encoder_by_name(encoder);
    if (!codec) {
        printf("  (no %s encoder in this FFmpeg)\n", encoder);
        return -1;
    }
    AVCodecContext *c = avcodec_alloc_context3(codec);
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int ok = -1;
    c->width = w;
    c->height = h;
    c->pix_fmt = fmt;
    c->time_base = (AVRational){1, 25};
    if (!strcmp(encoder, "mjpeg")) {
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * 2;
        c->color_range = AVCOL_RANGE_JPEG;
    }
    if (avcodec_open2(c, codec, NULL) < 0) goto out;
    f->format = fmt;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0) goto out;
    f->quality = c->global_quality;
    struct SwsContext *sws = sws_getContext(
        w, h, AV_PIX_FMT_RGB24, w, h, fmt,
        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
    const uint8_t *src[4] = {rgb};
    int stride[4] = {3 * w};
    sws_scale(sws, src, stride, 0, h, f->data, f->linesize);
    sws_freeContext(sws);
    if (avcodec_send_frame(c, f) < 0 || avcodec_send_frame(c, NULL) < 0) goto out;
    if (avcodec_receive_packet(c, pkt) < 0) goto out;
    FILE *fp = fopen(path, "wb");
    if (fp) {
        ok = fwrite(pkt->data, 1, (size_t)pkt->size, fp) == (size_t)pkt->size ? 0 : -1;
        fclose(fp);
    }
out:
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&c);
    return ok;
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* Nothing but the expected names: no temporary leftovers. */
static int count_hidden(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void test_formats(void) {
    const int w = 64, h = 48;
    uint8_t *ref = make_smooth(w, h);
    zt_image img;

    /* PNG: exact */
    if (encode_file(tpath("a.png"), "png", AV_PIX_FMT_RGB24, ref, w, h) == 0) {
        CHECK_OK(zt_image_load(tpath("a.png"), 0, 0, &img));
        CHECK(img.width == w && img.height == h, "png size %dx%d", img.width, img.height);
        CHECK(img.rgb && memcmp(img.rgb, ref, (size_t)w * h * 3) == 0, "png pixels differ");
        zt_image_free(&img);
        CHECK(img.rgb == NULL && img.width == 0, "free clears the image");
    }
    /* PNG with alpha: alpha dropped, colours kept */
    {
        uint8_t *rgba = malloc((size_t)w * h * 4);
        for (int i = 0; i < w * h; i++) {
            memcpy(rgba + 4 * i, ref + 3 * i, 3);
            rgba[4 * i + 3] = (uint8_t)(i & 255);
        }
        const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
        AVCodecContext *c = avcodec_alloc_context3(codec);
        AVFrame *f = av_frame_alloc();
        AVPacket *pkt = av_packet_alloc();
        c->width = w, c->height = h, c->pix_fmt = AV_PIX_FMT_RGBA,
        c->time_base = (AVRational){1, 1};
        f->format = AV_PIX_FMT_RGBA, f->width = w, f->height = h;
        if (avcodec_open2(c, codec, NULL) == 0 && av_frame_get_buffer(f, 0) == 0) {
            for (int y = 0; y < h; y++)
                memcpy(f->data[0] + y * f->linesize[0], rgba + (size_t)y * w * 4, (size_t)w * 4);
            if (avcodec_send_frame(c, f) == 0 && avcodec_receive_packet(c, pkt) == 0)
                write_bytes(tpath("alpha.png"), pkt->data, (size_t)pkt->size);
        }
        av_packet_free(&pkt);
        av_frame_free(&f);
        avcodec_free_context(&c);
        free(rgba);
        CHECK_OK(zt_image_load(tpath("alpha.png"), 0, 0, &img));
        CHECK(img.rgb && memcmp(img.rgb, ref, (size_t)w * h * 3) == 0, "rgba png colours differ");
        zt_image_free(&img);
    }
    /* JPEG and WebP: lossy, close */
    static const struct {
        const char *file, *encoder;
        enum AVPixelFormat fmt;
        double tol;
    } lossy[] = {
        {"a.jpg", "mjpeg", AV_PIX_FMT_YUVJ420P, 4.0},
        {"a.webp", "libwebp", AV_PIX_FMT_YUV420P, 4.0},
    };
    for (size_t i = 0; i < sizeof lossy / sizeof lossy[0]; i++) {
        if (encode_file(tpath(lossy[i].file), lossy[i].encoder, lossy[i].fmt, ref, w, h) != 0) {
            CHECK(0, "could not make %s with %s", lossy[i].file, lossy[i].encoder);
            continue;
        }
        CHECK_OK(zt_image_load(tpath(lossy[i].file), 0, 0, &img));
        CHECK(img.width == w && img.height == h, "%s size %dx%d", lossy[i].file, img.width,
              img.height);
        if (img.rgb) {
            double e = mean_abs_diff(img.rgb, ref, (size_t)w * h * 3);
            printf("  %-10s mean abs error %.3f (tol %.1f)\n", lossy[i].file, e, lossy[i].tol);
            CHECK(e < lossy[i].tol, "%s mean abs error %.3f", lossy[i].file, e);
        }
        zt_image_free(&img);
    }
    /* decoding is deterministic: the same file twice gives the same pixels */
    zt_image a, b;
    CHECK_OK(zt_image_load(tpath("a.jpg"), 40, 40, &a));
    CHECK_OK(zt_image_load(tpath("a.jpg"), 40, 40, &b));
    CHECK(a.rgb && b.rgb && !memcmp(a.rgb, b.rgb, 40 * 40 * 3), "two loads differ");
    zt_image_free(&a);
    zt_image_free(&b);
    free(ref);
}

static void check_px(const zt_image *img, int x, int y, const uint8_t *want, int tol,
                     const char *what) {
    const uint8_t *p = img->rgb + ((size_t)y * img->width + x) * 3;
    int ok = 1;
    for (int c = 0; c < 3; c++) ok &= abs((int)p[c] - (int)want[c]) <= tol;
    CHECK(ok, "%s: pixel (%d,%d) is %d,%d,%d, want %d,%d,%d", what, x, y, p[0], p[1], p[2], want[0],
          want[1], want[2]);
}

static void test_cover_crop(void) {
    static const uint8_t rgb3[3][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    static const uint8_t rb[2][3] = {{255, 0, 0}, {0, 0, 255}};
    zt_image img;

    /* 300x100 red|green|blue to a square: height fits, only the green middle stays */
    uint8_t *p = make_bands(300, 100, 3, rgb3, 0);
    encode_file(tpath("wide.png"), "png", AV_PIX_FMT_RGB24, p, 300, 100);
    free(p);
    CHECK_OK(zt_image_load(tpath("wide.png"), 100, 100, &img));
    CHECK(img.width == 100 && img.height == 100, "size %dx%d", img.width, img.height);
    if (img.rgb) {
        check_px(&img, 0, 0, rgb3[1], 0, "wide->square left edge");
        check_px(&img, 99, 99, rgb3[1], 0, "wide->square right edge");
        check_px(&img, 50, 50, rgb3[1], 0, "wide->square centre");
    }
    zt_image_free(&img);
    /* the same to a wider target: width fits, all three bands stay, rows are cropped */
    CHECK_OK(zt_image_load(tpath("wide.png"), 300, 50, &img));
    CHECK(img.width == 300 && img.height == 50, "size %dx%d", img.width, img.height);
    if (img.rgb) {
        check_px(&img, 10, 25, rgb3[0], 0, "wider: red");
        check_px(&img, 150, 25, rgb3[1], 0, "wider: green");
        check_px(&img, 290, 25, rgb3[2], 0, "wider: blue");
    }
    zt_image_free(&img);

    /* 100x300 top/middle/bottom to a square: the middle band */
    p = make_bands(100, 300, 3, rgb3, 1);
    encode_file(tpath("tall.png"), "png", AV_PIX_FMT_RGB24, p, 100, 300);
    free(p);
    CHECK_OK(zt_image_load(tpath("tall.png"), 64, 64, &img));
    CHECK(img.width == 64 && img.height == 64, "size %dx%d", img.width, img.height);
    if (img.rgb) {
        /* the band edges are the crop edges: bicubic blurs them over a few rows */
        check_px(&img, 32, 6, rgb3[1], 0, "tall->square top");
        check_px(&img, 32, 57, rgb3[1], 0, "tall->square bottom");
        check_px(&img, 0, 32, rgb3[1], 0, "tall->square left");
    }
    zt_image_free(&img);

    /* 400x200 red|blue down to 100x100: scaled to 200x100, centre 100 columns kept: the
     * split stays in the middle */
    p = make_bands(400, 200, 2, rb, 0);
    encode_file(tpath("split.png"), "png", AV_PIX_FMT_RGB24, p, 400, 200);
    free(p);
    CHECK_OK(zt_image_load(tpath("split.png"), 100, 100, &img));
    if (img.rgb) {
        check_px(&img, 5, 50, rb[0], 2, "split: left");
        check_px(&img, 45, 50, rb[0], 2, "split: left of centre");
        check_px(&img, 54, 50, rb[1], 2, "split: right of centre");
        check_px(&img, 95, 50, rb[1], 2, "split: right");
    }
    zt_image_free(&img);
    /* upscaling to an odd size also lands exactly */
    CHECK_OK(zt_image_load(tpath("split.png"), 833, 479, &img));
    CHECK(img.width == 833 && img.height == 479, "size %dx%d", img.width, img.height);
    if (img.rgb) {
        check_px(&img, 10, 240, rb[0], 2, "upscale: left");
        check_px(&img, 822, 240, rb[1], 2, "upscale: right");
    }
    zt_image_free(&img);
    /* a native-size load keeps the size */
    CHECK_OK(zt_image_load(tpath("split.png"), 0, 0, &img));
    CHECK(img.width == 400 && img.height == 200, "native size %dx%d", img.width, img.height);
    zt_image_free(&img);
    CHECK_FAILS(zt_image_load(tpath("split.png"), 100, 0, &img), ZT_ERR_USAGE, "split.png");
    CHECK_FAILS(zt_image_load(tpath("split.png"), -5, -5, &img), ZT_ERR_USAGE, "split.png");
}

static void test_bad_files(void) {
    zt_image img;
    const char *text = "this is not a picture\n";
    write_bytes(tpath("notes.txt"), text, strlen(text));
    write_bytes(tpath("fake.png"), text, strlen(text));
    write_bytes(tpath("empty.png"), "", 0);
    mkdir(tpath("adir.png"), 0755);
    /* a real PNG cut in half */
    uint8_t *p = make_smooth(64, 48);
    encode_file(tpath("whole.png"), "png", AV_PIX_FMT_RGB24, p, 64, 48);
    free(p);
    FILE *f = fopen(tpath("whole.png"), "rb");
    uint8_t buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    write_bytes(tpath("cut.png"), buf, n / 2);
    /* the signature and header only */
    write_bytes(tpath("header.png"), buf, 33);

    static const struct {
        const char *name, *why;
    } bad[] = {
        {"missing.png", "No such file"}, {"notes.txt", "notes.txt"}, {"fake.png", "fake.png"},
        {"empty.png", "empty"},          {"adir.png", "directory"},  {"cut.png", "cut.png"},
        {"header.png", "header.png"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = tpath(bad[i].name);
        memset(&img, 0x55, sizeof img);
        zt_status s = zt_image_load(path, 32, 32, &img);
        CHECK(s == ZT_ERR_INPUT, "%s -> %s (%s)", bad[i].name, zt_status_string(s),
              zt_last_error());
        CHECK(zt_test_contains(zt_last_error(), path), "message '%s' lacks the path",
              zt_last_error());
        CHECK(zt_test_contains(zt_last_error(), bad[i].why), "message '%s' lacks '%s'",
              zt_last_error(), bad[i].why);
        CHECK(!strchr(zt_last_error(), '\n'), "message has a newline");
        CHECK(img.rgb == NULL && img.width == 0, "%s: image not cleared", bad[i].name);
        printf("  %-12s -> %s\n", bad[i].name, zt_last_error());
        zt_image_free(&img);
    }
}

/* A GIF whose logical screen is w x h around one 1x1 picture: a few dozen bytes. */
static void write_gif(const char *path, int w, int h) {
    /* header and screen size, a 2-colour table, the picture at 0,0, its LZW data, end */
    uint8_t g[] = "GIF89a\0\0\0\0\x80\0\0"
                  "\0\0\0\xff\xff\xff"
                  "\x2c\0\0\0\0\x01\0\x01\0\0"
                  "\x02\x02\x44\x01\0\x3b";
    g[6] = (uint8_t)w, g[7] = (uint8_t)(w >> 8), g[8] = (uint8_t)h, g[9] = (uint8_t)(h >> 8);
    write_bytes(path, g, sizeof g - 1);
}

/* Tiny files that claim huge pictures are refused before anything big is allocated
 * (found with tests/fuzz/fuzz_image: a 16000x16000 GIF took 2.6 GB). */
static void test_bombs(void) {
    zt_image img;
    write_gif(tpath("small.gif"), 40, 30);
    CHECK_OK(zt_image_load(tpath("small.gif"), 0, 0, &img));
    CHECK(img.width == 40 && img.height == 30, "gif size %dx%d", img.width, img.height);
    zt_image_free(&img);
    /* the decoder refuses it (max_pixels), so the message is libav's */
    write_gif(tpath("huge.gif"), 16000, 16000);
    CHECK_FAILS(zt_image_load(tpath("huge.gif"), 0, 0, &img), ZT_ERR_INPUT, "huge.gif");
    CHECK(img.rgb == NULL, "an image left behind");
    CHECK_FAILS(zt_image_load(tpath("huge.gif"), 832, 480, &img), ZT_ERR_INPUT, "huge.gif");
    /* a strip covering a video frame: 832 x 27 million rows before the crop */
    write_gif(tpath("strip.gif"), 1, 32000);
    CHECK_FAILS(zt_image_load(tpath("strip.gif"), 832, 480, &img), ZT_ERR_INPUT,
                "too far from the shape");
    CHECK(img.rgb == NULL, "an image left behind");
    printf("  strip.gif    -> %s\n", zt_last_error());
    /* the same strip at its own size is fine */
    CHECK_OK(zt_image_load(tpath("strip.gif"), 0, 0, &img));
    zt_image_free(&img);
}

static void test_save_png(void) {
    zt_image img = {.width = 33, .height = 17};
    img.rgb = make_smooth(33, 17);
    CHECK_OK(zt_image_save_png(tpath("saved.png"), &img));
    zt_image back;
    CHECK_OK(zt_image_load(tpath("saved.png"), 0, 0, &back));
    CHECK(back.width == 33 && back.height == 17, "saved size %dx%d", back.width, back.height);
    CHECK(back.rgb && !memcmp(back.rgb, img.rgb, 33 * 17 * 3), "saved pixels differ");
    zt_image_free(&back);
    /* byte-identical on a second save */
    CHECK_OK(zt_image_save_png(tpath("saved2.png"), &img));
    FILE *a = fopen(tpath("saved.png"), "rb"), *b = fopen(tpath("saved2.png"), "rb");
    static uint8_t ba[1 << 16], bb[1 << 16];
    size_t na = a ? fread(ba, 1, sizeof ba, a) : 0, nb = b ? fread(bb, 1, sizeof bb, b) : 1;
    if (a) fclose(a);
    if (b) fclose(b);
    CHECK(na == nb && na > 0 && !memcmp(ba, bb, na), "two saves differ");
    CHECK_FAILS(zt_image_save_png(tpath("nodir/x.png"), &img), ZT_ERR_IO, "nodir");
    zt_image empty = {0};
    CHECK_FAILS(zt_image_save_png(tpath("e.png"), &empty), ZT_ERR_USAGE, "e.png");
    CHECK(count_hidden(tmp) == 0, "temporary files left in %s", tmp);
    free(img.rgb);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "%s", zt_test_tmpdir());
    test_formats();
    test_cover_crop();
    test_bad_files();
    test_bombs();
    test_save_png();
    return zt_test_finish();
}
