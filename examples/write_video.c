/* Write a short clip through the public API alone: the library's video writer fed one
 * frame at a time, the way the pipeline streams decoded frames into it.
 *
 *   cc write_video.c -lzoetrope -o write_video && ./write_video out.mp4 */
#include <stdio.h>
#include <stdlib.h>
#include <zoetrope.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "example.mp4";
    const int w = 160, h = 96, frames = 24;
    const char *meta[] = {"comment", "written by examples/write_video.c", NULL};
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = w;
    o.height = h;
    o.fps_num = 12;
    o.metadata = meta;

    zt_video_writer *vw;
    if (zt_video_writer_open(&vw, path, &o) != ZT_OK) {
        fprintf(stderr, "%s\n", zt_last_error());
        return 1;
    }
    unsigned char *rgb = malloc((size_t)w * h * 3);
    if (!rgb) {
        zt_video_writer_abort(vw);
        return 1;
    }
    for (int f = 0; f < frames; f++) {
        /* a square sliding over a gradient */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                unsigned char *p = rgb + 3 * (y * w + x);
                int in = x >= f * 5 && x < f * 5 + 32 && y >= 32 && y < 64;
                p[0] = in ? 255 : (unsigned char)(x * 255 / w);
                p[1] = in ? 64 : (unsigned char)(y * 255 / h);
                p[2] = in ? 32 : 128;
            }
        if (zt_video_writer_write(vw, rgb, 3 * w) != ZT_OK) {
            fprintf(stderr, "%s\n", zt_last_error());
            zt_video_writer_abort(vw); /* removes the partial file */
            free(rgb);
            return 1;
        }
    }
    free(rgb);
    if (zt_video_writer_close(vw) != ZT_OK) {
        fprintf(stderr, "%s\n", zt_last_error());
        return 1;
    }
    printf("wrote %s (%d frames)\n", path, frames);
    return 0;
}
