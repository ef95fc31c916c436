/* frame_source.h - a numbered PNG sequence read back one frame at a time.
 *
 * A source is either a printf pattern ("frames/%04d.png": numbering starts at the
 * first of 0..4 that exists, as ffmpeg's image2 does, and runs while files exist) or
 * a directory (every *.png in it, hidden files excepted, sorted by name). The first
 * frame is decoded at open to learn the size; every later frame must match it. */
#ifndef ZT_FRAME_SOURCE_H
#define ZT_FRAME_SOURCE_H

#include <stdint.h>

#include "zoetrope.h"

/* 1: s holds exactly one printf frame number (%d, %4d, %04d), any other '%' being
 * "%%"; 0: s has no '%'; -1: any other use of '%'. Only a 1 is safe to hand to
 * snprintf with one int. */
int zt_frame_pattern_check(const char *s);

typedef struct zt_frame_source zt_frame_source;

/* Fails with ZT_ERR_INPUT naming path when it matches no file or its first frame
 * cannot be decoded. */
zt_status zt_frame_source_open(zt_frame_source **fs, const char *path);
/* NULL is a no-op. */
void zt_frame_source_close(zt_frame_source *fs);

int64_t zt_frame_source_count(const zt_frame_source *fs);
int zt_frame_source_width(const zt_frame_source *fs);
int zt_frame_source_height(const zt_frame_source *fs);
/* Path of frame i (0-based); valid until close. */
const char *zt_frame_source_path(const zt_frame_source *fs, int64_t i);

/* Decode frame i (0-based) as packed RGB into *out, which the caller frees with
 * zt_image_free. A frame of another size fails with ZT_ERR_INPUT naming its file. */
zt_status zt_frame_source_read(zt_frame_source *fs, int64_t i, zt_image *out);

#endif
