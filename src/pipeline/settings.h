/* settings.h - internal helpers around zt_settings: where presets and model files
 * are searched for, and value parsing shared with the CLI. */
#ifndef ZT_SETTINGS_H
#define ZT_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "zoetrope.h"

#define ZT_PATH_MAX 4096

/* Directories searched for presets, in order: $ZT_PRESET_PATH (colon separated),
 * ./presets, the source tree's presets/, the installed share/zoetrope/presets.
 * Returns how many were written (existing directories only, duplicates removed). */
int zt_preset_dirs(char dirs[][ZT_PATH_MAX], int max);

/* Resolve a model file named by a preset or flag: an absolute path or one that exists
 * from the current directory is used as is; otherwise it is looked up under
 * $ZT_MODEL_PATH, the source tree and share/zoetrope. ZT_ERR_INPUT when not found,
 * naming the path, `what` ("model", "vae") and the places searched. */
zt_status zt_model_path_resolve(const char *path, const char *what, char *out, size_t out_size);

/* "2M", "500k", "1500000" -> bits (or bytes) per second; -1 when malformed. */
int64_t zt_parse_si_size(const char *s);

/* "4G", "6000M", "1.5GiB", "123456" -> bytes (binary multiples); -1 when malformed. */
int64_t zt_parse_mem_size(const char *s);

/* True when the frame count suits the 4x temporal VAE (4k + 1). */
int zt_frames_valid(int frames);

/* "cpu" (or NULL) -> -1, "cuda" -> 0, "cuda:N" -> N; anything else -> -2. */
int zt_parse_device(const char *s);

/* Apply the settings of one libconfig group (a file's root, a job file's shot) over s,
 * as zt_settings_load_file does; names in extra (NULL-terminated, or NULL) are left for
 * the caller. Errors say "path:line: ...". */
struct config_setting_t;
zt_status zt_settings_apply_group(zt_settings *s, const struct config_setting_t *group,
                                  const char *path, const char *const *extra);

#define ZT_SIZE_MULTIPLE 16 /* VAE stride 8 x patch 2: the smallest step any Wan model takes */
#define ZT_SIZE_MAX 8192
#define ZT_FRAMES_MAX 4097

#endif
