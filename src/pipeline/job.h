/* job.h - job files: many shots rendered from one libconfig file (zoetrope render).
 *
 *   defaults = { preset = "tiny"; steps = 20; codec = "ffv1"; };   # optional
 *   shots = (
 *     { name = "red"; prompt = "a red circle moving right"; seed = 1; },
 *     { name = "blue"; image = "blue.png"; prompt = "a blue square moving up";
 *       output = "clips/blue.webm"; }
 *   );
 *
 * A shot's settings are layered: built-in defaults < its preset (the shot's `preset`,
 * else the defaults', else the built-in model's when no model file is named) < the
 * job's defaults < the shot's own keys < the command line's overrides. Relative input
 * paths (image, noise, model files, preset files) are taken from the job file's
 * directory when they exist there. Outputs are relative to the output directory and may
 * not leave it (absolute names, `..`) unless allow_outside is set. */
#ifndef ZT_JOB_H
#define ZT_JOB_H

#include "settings.h"
#include "zoetrope.h"

#define ZT_SHOT_NAME_MAX 128

typedef struct zt_shot {
    char name[ZT_SHOT_NAME_MAX]; /* unique in the job; "shot-001" when not given */
    int index;                   /* 0-based position in the file */
    int line;                    /* of the shot in the job file */
    char output[ZT_PATH_MAX];    /* as written in the job (relative to the output dir) */
    zt_settings s;               /* complete; s.output is under the output directory */
} zt_shot;

typedef struct zt_job {
    char path[ZT_PATH_MAX];
    zt_shot *shots;
    int n;
} zt_job;

typedef struct zt_job_options {
    const char *out_dir; /* NULL: "." */
    int allow_outside;   /* outputs may be absolute or climb out with .. */
    /* settings from the command line over every shot: key, value pairs, NULL-ended */
    const char *const *overrides;
} zt_job_options;

/* Read and check a job file: its structure, every shot's settings (unknown keys, types,
 * ranges), unique names and outputs, and where the outputs go. Sizes and files are
 * checked per shot when it runs (zt_settings_validate), so that one bad shot does not
 * stop the others under --keep-going. Errors name "path:line". */
zt_status zt_job_load(const char *path, const zt_job_options *o, zt_job **job);
void zt_job_free(zt_job *job);

/* Shard i of n (1-based) takes the shots whose 0-based index k has k % n == i - 1:
 * every shot falls to exactly one shard, and neighbours (often alike) are spread. */
int zt_job_in_shard(int index, int shard, int nshards);

/* The extension an output of codec gets when the shot names none (".mp4" for h264;
 * "/%04d.png" for png). */
const char *zt_codec_default_suffix(const char *codec);

#endif
