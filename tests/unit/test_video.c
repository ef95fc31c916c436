/* test_video - zt_video_writer for every format (decoded back with libavformat),
 * byte-stable outputs, atomicity (abort, failures, interruption leave nothing), the
 * checks made at open, and zt_frame_source over the PNG sequences written here. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include "io/frame_source.h"
#include "testlib.h"
#include "zoetrope.h"

#define W 64
#define H 48
#define N 5

static char tmp[4096];

static const char *tpath(const char *name) {
    static char buf[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* Frame t: a smooth gradient moving with t plus, when noisy, a fine pseudo-random
 * texture that only a lossless path reproduces. */
static uint8_t *make_frames(int n, int w, int h, int noisy) {
    uint8_t *p = malloc((size_t)n * w * h * 3);
    zt_test_rng rng = {7};
    for (int t = 0; t < n; t++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *px = p + (((size_t)t * h + y) * w + x) * 3;
                int r = (x + 3 * t) * 255 / (w + 3 * n), g = y * 255 / h, b = 64 + 16 * t;
                if (noisy) {
                    uint64_t z = zt_test_rand_u64(&rng);
                    r ^= (int)(z & 7);
                    g ^= (int)((z >> 3) & 7);
                    b ^= (int)((z >> 6) & 7);
                }
                px[0] = (uint8_t)r, px[1] = (uint8_t)g, px[2] = (uint8_t)b;
            }
    return p;
}

static zt_status write_video(const char *path, const char *codec, int w, int h, int n,
                             const uint8_t *frames, const char *const *meta) {
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = w;
    o.height = h;
    o.fps_num = 10;
    o.codec = codec;
    o.metadata = meta;
    zt_video_writer *vw;
    ZT_TRY(zt_video_writer_open(&vw, path, &o));
    for (int t = 0; t < n; t++) {
        zt_status s = zt_video_writer_write(vw, frames + (size_t)t * w * h * 3, 3 * w);
        if (s != ZT_OK) {
            zt_video_writer_abort(vw);
            return s;
        }
    }
    int64_t got = zt_video_writer_frames(vw);
    if (got != n) {
        zt_video_writer_abort(vw);
        return zt_fail(ZT_ERR_RUNTIME, "writer counted %lld frames, wrote %d", (long long)got, n);
    }
    return zt_video_writer_close(vw);
}

/* Decode every frame of a file to packed RGB; returns the frame count (-1 on error). */
static int decode_all(const char *path, uint8_t **out, int *w, int *h, AVDictionary **meta) {
    AVFormatContext *fc = NULL;
    AVCodecContext *dc = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    struct SwsContext *sws = NULL;
    const AVCodec *codec;
    int n = -1, cap = 0, r;
    *out = NULL;
    if (avformat_open_input(&fc, path, NULL, NULL) < 0) goto out;
    if (avformat_find_stream_info(fc, NULL) < 0) goto out;
    int idx = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx < 0) goto out;
    if (meta) av_dict_copy(meta, fc->metadata, 0);
    dc = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dc, fc->streams[idx]->codecpar);
    dc->thread_count = 1;
    if (avcodec_open2(dc, codec, NULL) < 0) goto out;
    n = 0;
    int eof = 0;
    while (!eof) {
        r = av_read_frame(fc, pkt);
        if (r < 0) {
            eof = 1;
            avcodec_send_packet(dc, NULL);
        } else {
            if (pkt->stream_index == idx) avcodec_send_packet(dc, pkt);
            av_packet_unref(pkt);
        }
        while (avcodec_receive_frame(dc, fr) == 0) {
            *w = fr->width;
            *h = fr->height;
            if (!sws) {
                sws = sws_getContext(fr->width, fr->height, fr->format, fr->width, fr->height,
                                     AV_PIX_FMT_RGB24, SWS_POINT | SWS_ACCURATE_RND | SWS_BITEXACT,
                                     NULL, NULL, NULL);
                if (fr->format == AV_PIX_FMT_YUV420P) {
                    int cs = fr->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
                    sws_setColorspaceDetails(sws, sws_getCoefficients(cs), 0,
                                             sws_getCoefficients(cs), 1, 0, 1 << 16, 1 << 16);
                }
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                *out = realloc(*out, (size_t)cap * fr->width * fr->height * 3);
            }
            uint8_t *dst[4] = {*out + (size_t)n * fr->width * fr->height * 3};
            int stride[4] = {3 * fr->width};
            sws_scale(sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst,
                      stride);
            n++;
            av_frame_unref(fr);
        }
    }
out:
    sws_freeContext(sws);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dc);
    avformat_close_input(&fc);
    return n;
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

/* Mean abs error of 8x8 block averages: what ordered dithering must preserve. */
static double block_mean_diff(const uint8_t *a, const uint8_t *b, int n, int w, int h) {
    double e = 0;
    int blocks = 0;
    for (int t = 0; t < n; t++)
        for (int by = 0; by + 8 <= h; by += 8)
            for (int bx = 0; bx + 8 <= w; bx += 8)
                for (int c = 0; c < 3; c++, blocks++) {
                    int sa = 0, sb = 0;
                    for (int y = by; y < by + 8; y++)
                        for (int x = bx; x < bx + 8; x++) {
                            size_t i = (((size_t)t * h + y) * w + x) * 3 + c;
                            sa += a[i];
                            sb += b[i];
                        }
                    e += abs(sa - sb) / 64.0;
                }
    return e / blocks;
}

static long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static int same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Entries of a directory, "." and ".." aside (hidden temporaries count). */
static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return d ? n : -1;
}

static const char *fresh_dir(const char *name) {
    const char *p = tpath(name);
    mkdir(p, 0755);
    return p;
}

static void test_codec_for_path(void) {
    static const struct {
        const char *path, *codec;
    } cases[] = {
        {"a.mp4", "h264"}, {"a.MP4", "h264"},   {"x/a.webm", "vp9"}, {"a.mkv", "ffv1"},
        {"a.gif", "gif"},  {"a.y4m", "y4m"},    {"-", "y4m"},        {"out/%04d.png", "png"},
        {"out/", "png"},   {"f_%d.png", "png"}, {"a.avi", NULL},     {"a", NULL},
        {"a.png", NULL},   {"dir.mp4/a", NULL}, {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = zt_video_codec_for_path(cases[i].path);
        CHECK((!got && !cases[i].codec) || (got && cases[i].codec && !strcmp(got, cases[i].codec)),
              "codec_for_path(%s) = %s, want %s", cases[i].path, got ? got : "NULL",
              cases[i].codec ? cases[i].codec : "NULL");
    }
    CHECK(zt_video_codec_for_path(NULL) == NULL, "NULL path");
    zt_video_options o;
    zt_video_options_default(&o);
    CHECK(o.fps_num > 0 && o.crf < 0 && o.codec == NULL && o.threads == 0, "defaults");
}

static void test_formats(void) {
    uint8_t *smooth = make_frames(N, W, H, 0), *noisy = make_frames(N, W, H, 1);
    static const char *const meta[] = {"prompt", "a red fox, in snow", "seed", "42", NULL};
    static const struct {
        const char *file, *codec;
        int lossless;
        double tol; /* mean abs error on the smooth frames */
    } cases[] = {
        {"v.mp4", NULL, 0, 3.0},  {"v.webm", NULL, 0, 4.0}, {"v.mkv", NULL, 1, 0},
        {"v.gif", NULL, 0, 20.0}, {"v.y4m", NULL, 0, 3.0},  {"h264.mkv", "h264", 0, 3.0},
        {"noext", "vp9", 0, 4.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = tpath(cases[i].file);
        const uint8_t *src = cases[i].lossless ? noisy : smooth;
        CHECK_OK(write_video(path, cases[i].codec, W, H, N, src, meta));
        uint8_t *got;
        int w = 0, h = 0;
        AVDictionary *md = NULL;
        int n = decode_all(path, &got, &w, &h, &md);
        CHECK(n == N && w == W && h == H, "%s: decoded %d frames of %dx%d", cases[i].file, n, w, h);
        if (n == N && w == W && h == H) {
            double e = mean_abs_diff(got, src, (size_t)N * W * H * 3);
            printf("  %-10s %6ld bytes, mean abs error %.3f\n", cases[i].file, file_size(path), e);
            if (cases[i].lossless)
                CHECK(e == 0, "%s: not lossless (err %.3f)", cases[i].file, e);
            else
                CHECK(e < cases[i].tol, "%s: mean abs error %.3f", cases[i].file, e);
            double be = block_mean_diff(got, src, N, W, H);
            printf("  %-10s 8x8 block mean abs error %.3f\n", cases[i].file, be);
            CHECK(be < 2.5, "%s: block mean error %.3f", cases[i].file, be);
        }
        const char *ext = strrchr(cases[i].file, '.');
        if (ext && (!strcmp(ext, ".mp4") || !strcmp(ext, ".webm") || !strcmp(ext, ".mkv"))) {
            const AVDictionaryEntry *p = av_dict_get(md, "prompt", NULL, 0);
            const AVDictionaryEntry *s = av_dict_get(md, "seed", NULL, 0);
            CHECK(p && !strcmp(p->value, "a red fox, in snow"), "%s: prompt tag %s", cases[i].file,
                  p ? p->value : "missing");
            CHECK(s && !strcmp(s->value, "42"), "%s: seed tag", cases[i].file);
        }
        av_dict_free(&md);
        free(got);
    }

    /* zt_image_load takes the first frame of any video libavformat reads */
    zt_image first_frame;
    CHECK_OK(zt_image_load(tpath("v.mkv"), 0, 0, &first_frame));
    CHECK(first_frame.rgb && first_frame.width == W &&
              !memcmp(first_frame.rgb, noisy, (size_t)W * H * 3),
          "first frame of v.mkv differs");
    zt_image_free(&first_frame);

    /* PNG sequences: a pattern and a directory, exact pixels, numbered from 1 */
    const char *pd = fresh_dir("pat");
    char pattern[4300];
    snprintf(pattern, sizeof pattern, "%s/f_%%03d.png", pd);
    CHECK_OK(write_video(pattern, NULL, W, H, N, noisy, meta));
    CHECK(dir_entries(pd) == N, "pattern dir holds %d entries", dir_entries(pd));
    char first[4400], last[4400];
    snprintf(first, sizeof first, "%s/f_001.png", pd);
    snprintf(last, sizeof last, "%s/f_%03d.png", pd, N);
    CHECK(file_size(first) > 0 && file_size(last) > 0, "f_001.png .. f_%03d.png", N);
    const char *dd = fresh_dir("seq");
    char dirpath[4300];
    snprintf(dirpath, sizeof dirpath, "%s/", dd);
    CHECK_OK(write_video(dirpath, "png", W, H, N, noisy, NULL));
    for (int t = 0; t < N; t++) {
        char f[4400];
        snprintf(f, sizeof f, "%s/%04d.png", dd, t + 1);
        zt_image img;
        CHECK_OK(zt_image_load(f, 0, 0, &img));
        CHECK(img.rgb && img.width == W && img.height == H &&
                  !memcmp(img.rgb, noisy + (size_t)t * W * H * 3, (size_t)W * H * 3),
              "%s differs from frame %d", f, t);
        zt_image_free(&img);
    }
    CHECK(dir_entries(dd) == N, "seq dir holds %d entries", dir_entries(dd));

    /* a padded stride gives the same picture */
    {
        int stride = 3 * W + 13;
        uint8_t *padded = calloc((size_t)stride * H, 1);
        for (int y = 0; y < H; y++)
            memcpy(padded + (size_t)y * stride, noisy + (size_t)y * W * 3, 3 * W);
        zt_video_options o;
        zt_video_options_default(&o);
        o.width = W, o.height = H;
        zt_video_writer *vw;
        const char *sd = fresh_dir("stride");
        char sp[4300];
        snprintf(sp, sizeof sp, "%s/", sd);
        CHECK_OK(zt_video_writer_open(&vw, sp, &o));
        CHECK_OK(zt_video_writer_write(vw, padded, stride));
        CHECK_FAILS(zt_video_writer_write(vw, padded, 3 * W - 1), ZT_ERR_USAGE, "stride");
        CHECK_OK(zt_video_writer_close(vw));
        zt_image img;
        char f[4400];
        snprintf(f, sizeof f, "%s/0001.png", sd);
        CHECK_OK(zt_image_load(f, 0, 0, &img));
        CHECK(img.rgb && !memcmp(img.rgb, noisy, (size_t)W * H * 3), "strided frame differs");
        zt_image_free(&img);
        free(padded);
    }
    /* odd sizes are fine where nothing is subsampled */
    uint8_t *odd = make_frames(2, 33, 17, 1);
    CHECK_OK(write_video(tpath("odd.mkv"), NULL, 33, 17, 2, odd, NULL));
    CHECK_OK(write_video(tpath("odd.gif"), NULL, 33, 17, 2, odd, NULL));
    free(odd);
    free(smooth);
    free(noisy);
}

static void test_byte_stable(void) {
    uint8_t *frames = make_frames(N, W, H, 1);
    static const char *const meta[] = {"prompt", "same", NULL};
    static const char *const files[][2] = {
        {"s1.y4m", "s2.y4m"},   {"s1.mkv", "s2.mkv"}, {"s1.mp4", "s2.mp4"},
        {"s1.webm", "s2.webm"}, {"s1.gif", "s2.gif"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        CHECK_OK(write_video(tpath(files[i][0]), NULL, W, H, N, frames, meta));
        CHECK_OK(write_video(tpath(files[i][1]), NULL, W, H, N, frames, meta));
        CHECK(same_bytes(tpath(files[i][0]), tpath(files[i][1])), "%s and %s differ", files[i][0],
              files[i][1]);
    }
    const char *a = fresh_dir("stable_a"), *b = fresh_dir("stable_b");
    char pa[4300], pb[4300];
    snprintf(pa, sizeof pa, "%s/", a);
    snprintf(pb, sizeof pb, "%s/", b);
    CHECK_OK(write_video(pa, NULL, W, H, N, frames, NULL));
    CHECK_OK(write_video(pb, NULL, W, H, N, frames, NULL));
    for (int t = 1; t <= N; t++) {
        char fa[4400], fb[4400];
        snprintf(fa, sizeof fa, "%s/%04d.png", a, t);
        snprintf(fb, sizeof fb, "%s/%04d.png", b, t);
        CHECK(same_bytes(fa, fb), "%s and %s differ", fa, fb);
    }
    free(frames);
}

static void test_atomic(void) {
    uint8_t *frames = make_frames(3, W, H, 0);
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = W, o.height = H;
    static const char *const outs[] = {"a.mp4", "a.webm",   "a.mkv", "a.gif",
                                       "a.y4m", "%04d.png", ""};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        const char *d = fresh_dir("atomic");
        char p[4300];
        snprintf(p, sizeof p, "%s/%s", d, outs[i]);
        zt_video_writer *vw;
        /* abort after some frames: nothing stays, temporaries included */
        CHECK_OK(zt_video_writer_open(&vw, p, &o));
        for (int t = 0; t < 3; t++)
            CHECK_OK(zt_video_writer_write(vw, frames + (size_t)t * W * H * 3, 0));
        CHECK(dir_entries(d) >= 1, "%s: nothing written before close", outs[i]);
        CHECK(file_size(p) < 0 || !*outs[i], "%s: final name exists before close", outs[i]);
        zt_video_writer_abort(vw);
        CHECK(dir_entries(d) == 0, "%s: abort left %d entries", outs[i], dir_entries(d));

        /* interruption: the write fails, the files go, close reports it */
        CHECK_OK(zt_video_writer_open(&vw, p, &o));
        CHECK_OK(zt_video_writer_write(vw, frames, 0));
        zt_interrupt();
        CHECK_FAILS(zt_video_writer_write(vw, frames, 0), ZT_ERR_INTERRUPTED, "interrupted");
        zt_interrupt_clear();
        CHECK(dir_entries(d) == 0, "%s: interruption left %d entries", outs[i], dir_entries(d));
        CHECK(zt_video_writer_close(vw) == ZT_ERR_INTERRUPTED, "%s: close after interruption",
              outs[i]);
        CHECK(dir_entries(d) == 0, "%s: close after failure left files", outs[i]);

        /* no frames: an error, not an empty video */
        CHECK_OK(zt_video_writer_open(&vw, p, &o));
        CHECK_FAILS(zt_video_writer_close(vw), ZT_ERR_USAGE, "no frames");
        CHECK(dir_entries(d) == 0, "%s: empty close left %d entries", outs[i], dir_entries(d));
        rmdir(d);
    }
    zt_video_writer_abort(NULL);
    free(frames);
}

static void test_open_checks(void) {
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = W, o.height = H;
    zt_video_writer *vw = (zt_video_writer *)&o;
    /* missing or unusable directories fail at open, naming the path */
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("missing/a.mp4"), &o), ZT_ERR_IO, "missing");
    CHECK(vw == NULL, "writer not cleared on failure");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("missing/%04d.png"), &o), ZT_ERR_IO, "missing");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("missing/"), &o), ZT_ERR_IO, "missing");
    FILE *f = fopen(tpath("plain"), "w");
    if (f) fclose(f);
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("plain/a.mkv"), &o), ZT_ERR_IO, "plain");
    fresh_dir("isdir.mp4");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("isdir.mp4"), &o), ZT_ERR_IO, "isdir.mp4");
    if (geteuid() != 0) { /* root writes anywhere */
        const char *ro = fresh_dir("readonly");
        chmod(ro, 0555);
        CHECK_FAILS(zt_video_writer_open(&vw, tpath("readonly/a.mp4"), &o), ZT_ERR_IO, "readonly");
        CHECK_FAILS(zt_video_writer_open(&vw, tpath("readonly/"), &o), ZT_ERR_IO, "readonly");
        chmod(ro, 0755);
    }
    /* yuv420p needs even sizes; the rest do not care */
    o.width = 65;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("odd.mp4"), &o), ZT_ERR_USAGE, "even");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("odd.webm"), &o), ZT_ERR_USAGE, "65x48");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("odd.y4m"), &o), ZT_ERR_USAGE, "even");
    o.width = W;
    o.height = 0;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("zero.mkv"), &o), ZT_ERR_USAGE, "64x0");
    o.height = H;
    /* names it cannot place */
    o.codec = "prores";
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.mp4"), &o), ZT_ERR_USAGE, "prores");
    o.codec = "gif";
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.mp4"), &o), ZT_ERR_USAGE, ".mp4");
    CHECK_FAILS(zt_video_writer_open(&vw, "-", &o), ZT_ERR_USAGE, "stdout");
    o.codec = "png";
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("one.png"), &o), ZT_ERR_USAGE, "pattern");
    o.codec = NULL;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.avi"), &o), ZT_ERR_USAGE, ".avi");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("one.png"), &o), ZT_ERR_USAGE, "one.png");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("%s.png"), &o), ZT_ERR_USAGE, "%s.png");
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("%04d/a.png"), &o), ZT_ERR_USAGE, "%04d");
    /* values */
    o.crf = 70;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.mp4"), &o), ZT_ERR_USAGE, "crf");
    o.crf = 20;
    o.bitrate = 1000000;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.mp4"), &o), ZT_ERR_USAGE, "not both");
    o.crf = -1;
    o.fps_num = 0;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.mp4"), &o), ZT_ERR_USAGE, "frame rate");
    o.fps_num = 60;
    CHECK_FAILS(zt_video_writer_open(&vw, tpath("a.gif"), &o), ZT_ERR_USAGE, "50 fps");
    CHECK(dir_entries(tmp) >= 0, "tmp readable");
    /* nothing was created by any failed open */
    CHECK(file_size(tpath("a.mp4")) < 0 && file_size(tpath("odd.mp4")) < 0,
          "failed opens made files");
}

static void test_bitrate_and_fps(void) {
    uint8_t *frames = make_frames(N, W, H, 0);
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = W, o.height = H;
    o.fps_num = 30000, o.fps_den = 1001;
    o.bitrate = 200000;
    static const char *const files[] = {"rate.mp4", "rate.webm"};
    for (int i = 0; i < 2; i++) {
        zt_video_writer *vw;
        CHECK_OK(zt_video_writer_open(&vw, tpath(files[i]), &o));
        for (int t = 0; t < N; t++)
            CHECK_OK(zt_video_writer_write(vw, frames + (size_t)t * W * H * 3, 0));
        CHECK_OK(zt_video_writer_close(vw));
        AVFormatContext *fc = NULL;
        CHECK(avformat_open_input(&fc, tpath(files[i]), NULL, NULL) == 0 &&
                  avformat_find_stream_info(fc, NULL) >= 0,
              "%s opens", files[i]);
        if (fc) {
            AVRational r = fc->streams[0]->r_frame_rate;
            CHECK(r.num == 30000 && r.den == 1001, "%s: frame rate %d/%d", files[i], r.num, r.den);
        }
        avformat_close_input(&fc);
    }
    free(frames);
}

static void test_frame_source(void) {
    uint8_t *frames = make_frames(N, W, H, 1);
    const char *d = fresh_dir("src");
    char p[4300];
    snprintf(p, sizeof p, "%s/", d);
    CHECK_OK(write_video(p, NULL, W, H, N, frames, NULL));
    /* the directory and the pattern find the same frames */
    char pattern[4300];
    snprintf(pattern, sizeof pattern, "%s/%%04d.png", d);
    const char *srcs[] = {d, pattern};
    for (int k = 0; k < 2; k++) {
        zt_frame_source *fs;
        CHECK_OK(zt_frame_source_open(&fs, srcs[k]));
        if (!fs) continue;
        CHECK(zt_frame_source_count(fs) == N, "%s: count %lld", srcs[k],
              (long long)zt_frame_source_count(fs));
        CHECK(zt_frame_source_width(fs) == W && zt_frame_source_height(fs) == H, "size");
        for (int t = 0; t < N; t++) {
            zt_image img;
            CHECK_OK(zt_frame_source_read(fs, t, &img));
            CHECK(img.rgb && !memcmp(img.rgb, frames + (size_t)t * W * H * 3, (size_t)W * H * 3),
                  "%s: frame %d differs", srcs[k], t);
            zt_image_free(&img);
        }
        zt_image img;
        CHECK_FAILS(zt_frame_source_read(fs, N, &img), ZT_ERR_USAGE, "index");
        /* re-reading frame 0 after handing it over decodes it again */
        CHECK_OK(zt_frame_source_read(fs, 0, &img));
        zt_image_free(&img);
        zt_frame_source_close(fs);
    }
    zt_frame_source_close(NULL);
    /* a hidden temporary in the directory is not a frame */
    char hidden[4400];
    snprintf(hidden, sizeof hidden, "%s/.0000.png", d);
    FILE *f = fopen(hidden, "w");
    if (f) fclose(f);
    zt_frame_source *fs;
    CHECK_OK(zt_frame_source_open(&fs, d));
    CHECK(zt_frame_source_count(fs) == N, "hidden file counted");
    zt_frame_source_close(fs);
    unlink(hidden);

    /* a frame of another size: an error naming it */
    uint8_t *small = make_frames(1, 32, 32, 0);
    zt_image s = {32, 32, small};
    char odd[4400];
    snprintf(odd, sizeof odd, "%s/%04d.png", d, N + 1);
    CHECK_OK(zt_image_save_png(odd, &s));
    CHECK_OK(zt_frame_source_open(&fs, d));
    zt_image img;
    CHECK_FAILS(zt_frame_source_read(fs, N, &img), ZT_ERR_INPUT, odd);
    CHECK(img.rgb == NULL, "image not cleared");
    zt_frame_source_close(fs);
    /* a file that is not a picture */
    f = fopen(odd, "w");
    if (f) {
        fputs("not a png\n", f);
        fclose(f);
    }
    CHECK_OK(zt_frame_source_open(&fs, d));
    CHECK_FAILS(zt_frame_source_read(fs, N, &img), ZT_ERR_INPUT, odd);
    zt_frame_source_close(fs);
    /* nothing to read */
    const char *e = fresh_dir("empty");
    CHECK_FAILS(zt_frame_source_open(&fs, e), ZT_ERR_INPUT, "no .png");
    CHECK(fs == NULL, "source not cleared");
    CHECK_FAILS(zt_frame_source_open(&fs, tpath("nothere")), ZT_ERR_INPUT, "nothere");
    CHECK_FAILS(zt_frame_source_open(&fs, tpath("nothere/%04d.png")), ZT_ERR_INPUT, "nothere");
    CHECK_FAILS(zt_frame_source_open(&fs, tpath("src/%s.png")), ZT_ERR_USAGE, "%s.png");
    CHECK_FAILS(zt_frame_source_open(&fs, odd), ZT_ERR_INPUT, "not a directory");
    free(small);
    free(frames);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "%s", zt_test_tmpdir());
    test_codec_for_path();
    test_formats();
    test_byte_stable();
    test_atomic();
    test_open_checks();
    test_bitrate_and_fps();
    test_frame_source();
    return zt_test_finish();
}
