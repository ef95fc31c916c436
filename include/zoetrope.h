/*
 * zoetrope.h - the one public header of libzoetrope.
 *
 * Conventions: every fallible call returns a zt_status (ZT_OK is 0, failures are
 * negative) and leaves a one-line message for zt_last_error(). Owning types come in
 * init/free or open/close pairs; passing NULL to a free function does nothing.
 * The library never exits the process and never prints except through the log
 * callback.
 */
#ifndef ZOETROPE_H
#define ZOETROPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ZT_API __attribute__((visibility("default")))
#define ZT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ZT_API
#define ZT_PRINTF(a, b)
#endif

#define ZT_VERSION_MAJOR 0
#define ZT_VERSION_MINOR 1
#define ZT_VERSION_PATCH 0

/* ---- status ---------------------------------------------------------------- */

typedef enum zt_status {
    ZT_OK = 0,
    ZT_ERR_USAGE = -1,       /* bad argument or option value */
    ZT_ERR_INPUT = -2,       /* bad input file: model, image, preset, frames */
    ZT_ERR_IO = -3,          /* file system: output not writable, read error */
    ZT_ERR_NOMEM = -4,       /* allocation failed or memory budget exceeded */
    ZT_ERR_UNSUPPORTED = -5, /* valid request this build cannot serve */
    ZT_ERR_RUNTIME = -6,     /* library or internal failure */
    ZT_ERR_INTERRUPTED = -7, /* zt_interrupt() was called (SIGINT, SIGTERM) */
} zt_status;

/* Short constant name of a status ("bad input"). */
ZT_API const char *zt_status_string(zt_status s);
/* Message of the last failure on this thread; "" when none. Valid until the next
 * failing call on the same thread. */
ZT_API const char *zt_last_error(void);
/* Process exit code the CLI uses for a status: 0, 1 usage, 2 bad input or model
 * file (output paths included), 3 runtime failure or out of memory, 130 interrupted. */
ZT_API int zt_status_exit_code(zt_status s);

/* "0.1.0" */
ZT_API const char *zt_version(void);

/* ---- logging ----------------------------------------------------------------- */

typedef enum zt_log_level {
    ZT_LOG_ERROR = 0,
    ZT_LOG_WARN = 1,
    ZT_LOG_INFO = 2,
    ZT_LOG_DEBUG = 3,
} zt_log_level;

typedef void (*zt_log_fn)(zt_log_level level, const char *msg, void *user);

/* Messages above the level are dropped. Default ZT_LOG_WARN. */
ZT_API void zt_log_set_level(zt_log_level level);
/* Replace the default sink (stderr). NULL restores it. */
ZT_API void zt_log_set_callback(zt_log_fn fn, void *user);

/* ---- interruption -------------------------------------------------------------- */

/* Async-signal-safe: long-running calls notice it at their next step or frame and
 * return ZT_ERR_INTERRUPTED after removing their temporary files. */
ZT_API void zt_interrupt(void);
ZT_API int zt_interrupted(void);
/* Clears the flag, for library users that continue after an interruption. */
ZT_API void zt_interrupt_clear(void);

/* ---- images ---------------------------------------------------------------------- */

/* An 8-bit RGB image, rows packed (stride = 3 * width). */
typedef struct zt_image {
    int width;
    int height;
    uint8_t *rgb; /* owned: freed by zt_image_free */
} zt_image;

/* Decode the first picture of any file libavformat reads (PNG, JPEG, WebP, ...).
 * With width and height > 0 the picture is scaled to cover that size and centre
 * cropped to it; with both 0 it keeps its own size. */
ZT_API zt_status zt_image_load(const char *path, int width, int height, zt_image *out);
/* Write one PNG file (atomically). */
ZT_API zt_status zt_image_save_png(const char *path, const zt_image *img);
ZT_API void zt_image_free(zt_image *img);

/* ---- video output -------------------------------------------------------------------- */

typedef struct zt_video_writer zt_video_writer;

typedef struct zt_video_options {
    int width;
    int height;
    int fps_num; /* frames per second as a fraction; fps_den 0 means 1 */
    int fps_den;
    /* NULL: chosen from the extension. One of "h264", "vp9", "ffv1", "gif",
     * "png", "y4m". */
    const char *codec;
    int crf;         /* < 0: codec default (h264 18, vp9 30) */
    int64_t bitrate; /* bits per second; 0: constant quality (crf) */
    int threads;     /* encoder threads; 0: one (byte-stable output) */
    /* Metadata written to the container where it has tags: pairs of key, value,
     * terminated by a NULL key. Copied at open. */
    const char *const *metadata;
} zt_video_options;

ZT_API void zt_video_options_default(zt_video_options *o);

/* Codec a path's extension selects ("h264" for .mp4) or NULL; a path ending in '/'
 * or containing a printf frame number ("%04d") means a PNG sequence. */
ZT_API const char *zt_video_codec_for_path(const char *path);

/* Open an output. path: a file, "-" for y4m on stdout, a PNG pattern like
 * "out/%04d.png", or a directory (PNG frames named 0001.png, ...). Files are written
 * under temporary names and appear only when zt_video_writer_close succeeds. */
ZT_API zt_status zt_video_writer_open(zt_video_writer **w, const char *path,
                                      const zt_video_options *o);
/* Append one frame of width x height packed RGB (stride bytes per row). */
ZT_API zt_status zt_video_writer_write(zt_video_writer *w, const uint8_t *rgb, int stride);
/* Flush, finalize and move into place; frees w in all cases. */
ZT_API zt_status zt_video_writer_close(zt_video_writer *w);
/* Discard everything written so far and free w. NULL is a no-op. */
ZT_API void zt_video_writer_abort(zt_video_writer *w);
ZT_API int64_t zt_video_writer_frames(const zt_video_writer *w);

/* ---- model files ---------------------------------------------------------------------- */

typedef struct zt_safetensors zt_safetensors;

/* Map and validate a .safetensors file: header, dtypes, shapes and offsets are all
 * checked against the file size before any tensor data is touched. */
ZT_API zt_status zt_safetensors_open(zt_safetensors **st, const char *path);
ZT_API void zt_safetensors_close(zt_safetensors *st);

/* ---- generation settings --------------------------------------------------------------- */

/* Everything a generation is configured by. Strings are owned (malloc) and freed by
 * zt_settings_free. Precedence when layering: built-in defaults < preset <
 * config file < explicit values (the CLI's flags). */
typedef struct zt_settings {
    char *preset;          /* name or path of the preset applied, or NULL */
    char *description;     /* the preset's one-line description */
    char *download;        /* where the preset's model files come from (for errors) */
    char *prompt;
    char *negative_prompt; /* NULL: the model's default negative prompt */
    char *image;           /* i2v input */
    char *model;           /* diffusion transformer weights */
    char *vae;
    char *text_encoder;
    char *tokenizer;
    int width;
    int height;
    int frames;
    int fps;
    int steps;
    double guidance;
    double shift;
    char *sampler; /* "unipc", "dpm++", "euler" */
    uint64_t seed;
    char *noise;   /* initial latents from a safetensors file instead of the seed */
    int threads; /* 0: all cores */
    char *max_memory;     /* "4G", "6000M": the memory budget; NULL: what the machine has */
    int vae_tile;         /* VAE decode tile in pixels; 0: untiled; -1: by the budget */
    int vae_tile_overlap; /* pixels tiles share; -1: 64, at most a quarter of the tile */
    char *device;              /* "cpu" (default), "cuda" or "cuda:N": where models run */
    char *text_encoder_device; /* NULL: as device; "cpu" keeps the 11 GB encoder off the GPU */
    char *vae_device;          /* NULL: as device */
    int offload;               /* GPU: stream the transformer's blocks from host memory */
    char *max_gpu_memory;      /* "6G": the GPU memory budget; NULL: the card's free memory
                                * when the run starts, less 256 MiB */
    char *output;
    char *codec;
    int crf;
    int64_t bitrate;
    char *frames_dir;
    struct zt_settings_sources *sources; /* private: where each value came from */
} zt_settings;

ZT_API void zt_settings_init(zt_settings *s); /* built-in defaults */
ZT_API void zt_settings_free(zt_settings *s);
/* Apply a libconfig file (a preset or --config) over s. Unknown keys, wrong types and
 * out-of-range values fail with "file:line: ..." */
ZT_API zt_status zt_settings_load_file(zt_settings *s, const char *path);
/* Apply one setting by its preset key and string value (the CLI's flags use this). */
ZT_API zt_status zt_settings_set(zt_settings *s, const char *key, const char *value);
/* Find a preset by name ("tiny") or path; writes the file's path. */
ZT_API zt_status zt_preset_find(const char *name, char *path, size_t path_size);
/* Check a complete set of settings for a generation (sizes, frames, codec, output);
 * errors name the setting and where its value came from (a flag, file:line). */
ZT_API zt_status zt_settings_validate(const zt_settings *s);
/* Record where the values set next come from ("--config x.cfg", "--width"); NULL
 * makes zt_settings_set use "--" + key with '_' spelled '-'. */
ZT_API void zt_settings_set_source(zt_settings *s, const char *source);
/* Where the value of key came from: "default", "presets/tiny.cfg:4", "--width". */
ZT_API const char *zt_settings_source(const zt_settings *s, const char *key);

/* Visit every setting as text (for --dry-run and manifests); value NULL when unset. */
typedef void (*zt_settings_visit_fn)(const char *key, const char *value, const char *source,
                                     void *user);
ZT_API void zt_settings_foreach(const zt_settings *s, zt_settings_visit_fn fn, void *user);

/* ---- generation ------------------------------------------------------------------------- */

/* Models kept loaded from one generation to the next (zoetrope render shares one over
 * all its shots). Only components that run on the CPU are kept; the memory plan of a
 * later run counts them in the process's resident memory. */
typedef struct zt_model_cache zt_model_cache;
ZT_API zt_status zt_model_cache_init(zt_model_cache **cache);
ZT_API void zt_model_cache_free(zt_model_cache *cache);

/* Called at the start of each stage (done 0) and after each of its steps; total 0 when
 * the stage has no step count. */
typedef void (*zt_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

typedef struct zt_gen_stats {
    int64_t frames;
    int width, height;
    double seconds;
    int64_t planned_peak; /* bytes: the memory plan's peak stage */
    int vae_tile;         /* pixels, 0 when the VAE decoded untiled */
} zt_gen_stats;

/* Generate the video s describes: image-to-video when s->image is set, text-to-video
 * otherwise. s must be complete (zt_settings_validate); the output appears whole or not
 * at all. cache and progress may be NULL; stats may be NULL. Stops with
 * ZT_ERR_INTERRUPTED at the next step after zt_interrupt(). */
ZT_API zt_status zt_generate_video(const zt_settings *s, zt_model_cache *cache,
                                   zt_progress_fn progress, void *user, zt_gen_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* ZOETROPE_H */
