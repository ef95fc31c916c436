/* zoetrope render: the shots of a job file, a shard of them, with a manifest of what
 * was made from what.
 *
 * manifest.json is keyed by shot name and rewritten whole (temporary file, rename) after
 * each finished shot, under a lock on the output directory, from what is on disk at that
 * moment: shards that write to one directory one after another, or at once on one
 * machine, add up instead of overwriting each other. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/status.h"
#include "io/frame_source.h"
#include "io/hash.h"
#include "io/tempfile.h"
#include "pipeline/generate.h"
#include "pipeline/job.h"
#include "pipeline/settings.h"
#include "progress.h"

#define MANIFEST_NAME   "manifest.json"
#define MANIFEST_FORMAT 1

static void print_help(void) {
    printf("usage: zoetrope render JOBS.cfg [options]\n\n"
           "Render the shots of a libconfig job file and record each in manifest.json in the\n"
           "output directory (path, sha256, frames, size, fps, codec, seconds, settings,\n"
           "model file hashes, version).\n\n"
           "  defaults = { preset = \"tiny\"; steps = 20; };     # optional, over the preset\n"
           "  shots = (\n"
           "    { name = \"red\"; prompt = \"a red circle moving right\"; seed = 1; },\n"
           "    { name = \"blue\"; image = \"blue.png\"; prompt = \"a blue square moving up\";\n"
           "      output = \"clips/blue.webm\"; }\n"
           "  );\n\n"
           "A shot takes any key of a preset (see zoetrope t2v --help) plus name and preset;\n"
           "a shot with an image is image-to-video. Its output defaults to NAME.mp4 (NAME.mkv\n"
           "for codec ffv1, NAME/%%04d.png for png, ...). Relative inputs are looked for next\n"
           "to the job file.\n\n"
           "  -o, --out-dir DIR    where outputs and manifest.json go (default: .); made if\n"
           "                       missing\n"
           "      --shard I/N      render only shard I of N (1-based): the shots whose index\n"
           "                       k (0-based) has k %% N == I-1, for a CI matrix of N runners\n"
           "      --skip-existing  skip shots whose output is on disk with the hash, settings\n"
           "                       and model hashes the manifest records for them\n"
           "      --keep-going     go on past a failed shot (the exit code still says so)\n"
           "      --allow-outside  let outputs be absolute or climb out of DIR with ..\n"
           "  -t, --threads N      CPU threads for every shot (the output does not depend on it)\n"
           "      --no-model-cache load the models for each shot (and each stage) again, so\n"
           "                       that memory follows each shot's plan; by default models\n"
           "                       stay loaded for the shots that share them\n"
           "      --dry-run        list the shots this shard would render, and exit\n"
           "      --json           print a JSON summary of the shots on stdout\n"
           "  -q, --quiet / -v, --verbose (per-stage progress)\n\n"
           "Exit codes: 0 every shot rendered or skipped, 1 usage, 2 bad job file or bad input\n"
           "in a shot, 3 runtime failure in a shot, 130 interrupted (SIGINT, SIGTERM): the\n"
           "shot under way leaves nothing behind, finished shots and the manifest stay. With\n"
           "several failures the exit code is the first one's.\n");
}

/* ---- manifest ------------------------------------------------------------------------- */

typedef struct render_ctx {
    const char *out_dir;
    char job_dir[ZT_PATH_MAX]; /* inputs the job names are found here (job.h) */
    char manifest[ZT_PATH_MAX + 32];
    int dir_fd;     /* locked around each manifest update */
    int allow_outside;
    json_t *hashes; /* path -> sha256 of the model and input files, each hashed once */
} render_ctx;

/* The manifest on disk, or a new empty one; a file that is not one fails. */
static zt_status manifest_read(const render_ctx *r, json_t **out) {
    struct stat st;
    if (stat(r->manifest, &st) != 0) {
        if (errno != ENOENT)
            return zt_fail(ZT_ERR_IO, "%s: cannot read: %s", r->manifest, strerror(errno));
        *out = json_pack("{s:i, s:o}", "format", MANIFEST_FORMAT, "shots", json_object());
        return *out ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    json_error_t err;
    json_t *m = json_load_file(r->manifest, JSON_REJECT_DUPLICATES, &err);
    if (!m)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: not a manifest: %s (move it away to start afresh)",
                       r->manifest, err.line, err.text);
    json_t *shots = json_object_get(m, "shots");
    if (!json_is_object(m) || !json_is_object(shots) ||
        json_integer_value(json_object_get(m, "format")) != MANIFEST_FORMAT) {
        json_decref(m);
        return zt_fail(ZT_ERR_INPUT,
                       "%s: not a Zoetrope manifest of format %d (move it away to start "
                       "afresh)",
                       r->manifest, MANIFEST_FORMAT);
    }
    *out = m;
    return ZT_OK;
}

/* Write m to the manifest's place whole or not at all. */
static zt_status manifest_write(const render_ctx *r, json_t *m) {
    char tmp[ZT_PATH_MAX + 64];
    int fd;
    ZT_TRY(zt_tempfile_create(r->manifest, tmp, sizeof tmp, &fd));
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
    zt_status rc = text ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory");
    size_t len = text ? strlen(text) : 0, off = 0;
    while (rc == ZT_OK && off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            rc = zt_fail(ZT_ERR_IO, "%s: write failed: %s", r->manifest, strerror(errno));
        else
            off += (size_t)n;
    }
    if (rc == ZT_OK && (write(fd, "\n", 1) != 1 || fsync(fd) != 0))
        rc = zt_fail(ZT_ERR_IO, "%s: write failed: %s", r->manifest, strerror(errno));
    if (close(fd) != 0 && rc == ZT_OK)
        rc = zt_fail(ZT_ERR_IO, "%s: write failed: %s", r->manifest, strerror(errno));
    free(text);
    if (rc == ZT_OK)
        rc = zt_tempfile_commit(tmp, r->manifest);
    else
        zt_tempfile_discard(tmp);
    return rc;
}

/* Add (or replace) one shot's entry: read what is there now, under the lock, so that
 * entries other processes wrote meanwhile are kept. */
static zt_status manifest_put(const render_ctx *r, const char *name, json_t *entry) {
    if (flock(r->dir_fd, LOCK_EX) != 0)
        return zt_fail(ZT_ERR_IO, "%s: cannot lock: %s", r->out_dir, strerror(errno));
    json_t *m = NULL;
    zt_status rc = manifest_read(r, &m);
    if (rc == ZT_OK) {
        json_object_set(json_object_get(m, "shots"), name, entry);
        json_object_set_new(m, "zoetrope_version", json_string(zt_version()));
        rc = manifest_write(r, m);
    }
    json_decref(m);
    flock(r->dir_fd, LOCK_UN);
    return rc;
}

/* sha256 of a file, hashed once per run (model files can be gigabytes). */
static zt_status hash_once(render_ctx *r, const char *path, const char **hex) {
    json_t *h = json_object_get(r->hashes, path);
    if (!h) {
        char d[ZT_SHA256_HEX];
        ZT_TRY(zt_sha256_file(path, d, NULL));
        h = json_string(d);
        if (!h || json_object_set_new(r->hashes, path, h) != 0)
            return zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    *hex = json_string_value(h);
    return ZT_OK;
}

/* An input path as the job file names it: without the job's directory, which the job
 * loader put in front, so that the recipe does not change with where the job is run
 * from. */
static const char *as_named(const render_ctx *r, const char *p) {
    size_t n = strlen(r->job_dir);
    if (p && strcmp(r->job_dir, ".") != 0 && !strncmp(p, r->job_dir, n) && p[n] == '/')
        return p + n + 1;
    return p;
}

/* {"model": {"path": ..., "sha256": ...}, ...}: the model files and the image (or noise)
 * a shot reads. */
static zt_status shot_files(render_ctx *r, const zt_settings *s, json_t **out) {
    const struct {
        const char *key, *path;
        int model;
    } f[] = {{"model", s->model, 1},
             {"vae", s->vae, 1},
             {"text_encoder", s->text_encoder, 1},
             {"tokenizer", s->tokenizer, 1},
             {"image", s->image, 0},
             {"noise", s->noise, 0}};
    json_t *o = json_object();
    if (!o) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].path || !*f[i].path) continue;
        char resolved[ZT_PATH_MAX];
        const char *hex = "";
        zt_status rc = f[i].model
                           ? zt_model_path_resolve(f[i].path, f[i].key, resolved, sizeof resolved)
                           : ZT_OK;
        if (rc == ZT_OK) rc = hash_once(r, f[i].model ? resolved : f[i].path, &hex);
        if (rc != ZT_OK) {
            json_decref(o);
            return rc;
        }
        json_object_set_new(o, f[i].key,
                            json_pack("{s:s, s:s}", "path", as_named(r, f[i].path), "sha256", hex));
    }
    *out = o;
    return ZT_OK;
}

typedef struct settings_ctx {
    const render_ctx *r;
    json_t *obj;
} settings_ctx;

static void put_setting(const char *key, const char *value, const char *source, void *user) {
    (void)source;
    settings_ctx *c = user;
    static const char *const inputs[] = {"image", "noise", "model", "vae", "text_encoder",
                                         "tokenizer"};
    /* the thread count changes nothing in the frames; the output is recorded as named */
    if (!strcmp(key, "threads") || !strcmp(key, "output")) return;
    for (size_t i = 0; value && i < sizeof inputs / sizeof inputs[0]; i++)
        if (!strcmp(key, inputs[i])) value = as_named(c->r, value);
    json_object_set_new(c->obj, key, value ? json_string(value) : json_null());
}

/* What a shot is made from: its settings (output as the job names it), the hashes of
 * its files, and the preset. --skip-existing compares exactly this. */
static zt_status shot_recipe(render_ctx *r, const zt_shot *shot, json_t **out) {
    json_t *settings = json_object(), *files = NULL;
    if (!settings) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    settings_ctx sc = {r, settings};
    zt_settings_foreach(&shot->s, put_setting, &sc);
    json_object_set_new(settings, "output", json_string(shot->output));
    json_object_set_new(settings, "preset",
                        shot->s.preset ? json_string(shot->s.preset) : json_null());
    zt_status rc = shot_files(r, &shot->s, &files);
    if (rc != ZT_OK) {
        json_decref(settings);
        return rc;
    }
    *out = json_pack("{s:o, s:o}", "settings", settings, "inputs", files);
    return *out ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory");
}

/* The files an output consists of: itself, or a PNG sequence's frames 1..frames. */
static int output_files(const zt_shot *shot, int64_t frames, char (*names)[ZT_PATH_MAX + 300],
                        int max) {
    const char *out = shot->s.output;
    const char *codec = shot->s.codec ? shot->s.codec : zt_video_codec_for_path(out);
    if (!codec || strcmp(codec, "png") != 0) {
        snprintf(names[0], sizeof names[0], "%s", out);
        return 1;
    }
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    if (zt_frame_pattern_check(base) != 1) return 0;
    int n = 0;
    for (int64_t i = 1; i <= frames && n < max; i++, n++) {
        char name[300];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(name, sizeof name, base, (int)i); /* checked: one integer conversion */
#pragma GCC diagnostic pop
        snprintf(names[n], sizeof names[n], "%.*s%s", (int)(base - out), out, name);
    }
    return n;
}

/* The output's hashes: {"sha256", "bytes"} for a file; for a PNG sequence also "files"
 * ([{path, sha256, bytes}]) and a sha256 over the list of "sha256  name" lines. */
static zt_status output_hashes(const zt_shot *shot, int64_t frames, json_t *entry) {
    int max = frames > 0 && frames < 100000 ? (int)frames : 1;
    char(*names)[ZT_PATH_MAX + 300] = malloc((size_t)max * sizeof *names);
    if (!names) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    int n = output_files(shot, frames, names, max);
    zt_status rc =
        n > 0 ? ZT_OK : zt_fail(ZT_ERR_RUNTIME, "%s: cannot list the frames", shot->s.output);
    if (rc == ZT_OK && n == 1 && !strcmp(names[0], shot->s.output)) {
        char hex[ZT_SHA256_HEX];
        int64_t bytes;
        rc = zt_sha256_file(names[0], hex, &bytes);
        if (rc == ZT_OK) {
            json_object_set_new(entry, "sha256", json_string(hex));
            json_object_set_new(entry, "bytes", json_integer(bytes));
        }
        free(names);
        return rc;
    }
    /* a sequence: the list of frame hashes, then the hash of that list */
    json_t *files = json_array();
    size_t cap = (size_t)n * (ZT_SHA256_HEX + ZT_PATH_MAX + 304) + 1, len = 0;
    char *list = malloc(cap);
    int64_t total = 0;
    if (!files || !list) rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
    const char *dir_end = strrchr(shot->s.output, '/');
    size_t skip = dir_end ? (size_t)(dir_end - shot->s.output) + 1 : 0;
    for (int i = 0; rc == ZT_OK && i < n; i++) {
        char hex[ZT_SHA256_HEX];
        int64_t bytes;
        rc = zt_sha256_file(names[i], hex, &bytes);
        if (rc != ZT_OK) break;
        total += bytes;
        json_array_append_new(files, json_pack("{s:s, s:s, s:I}", "name", names[i] + skip, "sha256",
                                               hex, "bytes", (json_int_t)bytes));
        len += (size_t)snprintf(list + len, cap - len, "%s  %s\n", hex, names[i] + skip);
    }
    if (rc == ZT_OK) {
        char hex[ZT_SHA256_HEX];
        rc = zt_sha256_buffer(list, len, hex);
        if (rc == ZT_OK) {
            json_object_set_new(entry, "sha256", json_string(hex));
            json_object_set_new(entry, "bytes", json_integer(total));
            json_object_set(entry, "files", files);
        }
    }
    json_decref(files);
    free(list);
    free(names);
    return rc;
}

/* --skip-existing: the manifest's entry was made from this recipe, and the output on
 * disk still has its hash. */
static int already_done(const render_ctx *r, const zt_shot *shot, const json_t *recipe) {
    json_t *m = NULL;
    if (manifest_read(r, &m) != ZT_OK) return 0;
    json_t *e = json_object_get(json_object_get(m, "shots"), shot->name);
    int ok = e && json_equal(json_object_get(e, "settings"), json_object_get(recipe, "settings")) &&
             json_equal(json_object_get(e, "inputs"), json_object_get(recipe, "inputs"));
    if (ok) {
        json_t *now = json_object();
        json_int_t frames = json_integer_value(json_object_get(e, "frames"));
        ok = now && output_hashes(shot, frames, now) == ZT_OK &&
             json_equal(json_object_get(now, "sha256"), json_object_get(e, "sha256"));
        json_decref(now);
    }
    json_decref(m);
    return ok;
}

/* ---- the shots ------------------------------------------------------------------------ */

/* mkdir -p for the directories of path below (and including) the output directory. */
static zt_status make_parents(const char *path) {
    char buf[ZT_PATH_MAX + 300];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return ZT_OK;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return zt_fail(ZT_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return zt_fail(ZT_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
    return ZT_OK;
}

/* The job loader keeps output names inside the output directory; a symbolic link in
 * there could still lead out, so the output's real directory is checked too. */
static zt_status check_inside(const render_ctx *r, const zt_shot *shot) {
    char dir[ZT_PATH_MAX + 300], real_out[PATH_MAX], real_dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", shot->s.output);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    if (!realpath(r->out_dir, real_out) || !realpath(dir, real_dir))
        return zt_fail(ZT_ERR_IO, "%s: cannot resolve: %s", dir, strerror(errno));
    size_t n = strlen(real_out);
    if (strncmp(real_dir, real_out, n) != 0 || (real_dir[n] != '/' && real_dir[n] != '\0' &&
                                                 strcmp(real_out, "/") != 0))
        return zt_fail(ZT_ERR_INPUT,
                       "output '%s' leads out of the output directory (to %s) through a "
                       "link (use --allow-outside to permit it)",
                       shot->output, real_dir);
    return ZT_OK;
}

static void cb_begin(void *user, const char *stage, int64_t total) {
    zt_progress **p = user;
    if (zt_cli_verbose) *p = zt_progress_begin(stage, total);
}
static void cb_step(void *user, int64_t done) {
    zt_progress **p = user;
    if (*p) zt_progress_update(*p, done);
}
static void cb_end(void *user) {
    zt_progress **p = user;
    zt_progress_end(*p);
    *p = NULL;
}

typedef enum { SHOT_DONE, SHOT_SKIPPED, SHOT_FAILED } shot_result;

/* One shot: checks, (skip), render, hashes, manifest entry. */
static zt_status render_shot(render_ctx *r, zt_model_cache *cache, const zt_shot *shot,
                             int skip_existing, shot_result *res, json_t *summary) {
    *res = SHOT_FAILED;
    zt_status rc = make_parents(shot->s.output);
    if (rc == ZT_OK && !r->allow_outside) rc = check_inside(r, shot);
    if (rc == ZT_OK) rc = zt_settings_validate(&shot->s);
    json_t *recipe = NULL;
    if (rc == ZT_OK) rc = shot_recipe(r, shot, &recipe);
    if (rc == ZT_OK && skip_existing && already_done(r, shot, recipe)) {
        *res = SHOT_SKIPPED;
        json_decref(recipe);
        return ZT_OK;
    }
    zt_progress *prog = NULL;
    zt_gen_callbacks cb = {cb_begin, cb_step, cb_end, NULL, NULL, &prog};
    zt_gen_result gr;
    zt_gen_mode mode = shot->s.image && *shot->s.image ? ZT_GEN_I2V : ZT_GEN_T2V;
    if (rc == ZT_OK) rc = zt_generate_cached(&shot->s, mode, cache, &cb, &gr);
    zt_progress_abort(prog);
    json_t *entry = NULL;
    if (rc == ZT_OK) {
        const char *codec = shot->s.codec ? shot->s.codec : zt_video_codec_for_path(shot->s.output);
        entry = json_pack("{s:i, s:s, s:s, s:I, s:i, s:i, s:i, s:s, s:f, s:s, s:i}", "index",
                          shot->index, "output", shot->output, "mode",
                          mode == ZT_GEN_I2V ? "i2v" : "t2v", "frames", (json_int_t)gr.frames,
                          "width", gr.width, "height", gr.height, "fps", shot->s.fps, "codec",
                          codec ? codec : "?", "seconds", gr.seconds, "zoetrope_version",
                          zt_version(), "threads", shot->s.threads);
        if (!entry) rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    if (rc == ZT_OK) rc = output_hashes(shot, gr.frames, entry);
    if (rc == ZT_OK) {
        json_object_update(entry, recipe);
        rc = manifest_put(r, shot->name, entry);
    }
    if (rc == ZT_OK) {
        *res = SHOT_DONE;
        json_object_set_new(summary, "seconds", json_real(gr.seconds));
        json_object_set(summary, "sha256", json_object_get(entry, "sha256"));
    }
    json_decref(entry);
    json_decref(recipe);
    return rc;
}

static int parse_shard(const char *v, int *i, int *n) {
    char *end;
    errno = 0;
    long a = strtol(v, &end, 10);
    if (end == v || *end != '/' || errno) return -1;
    const char *b = end + 1;
    long c = strtol(b, &end, 10);
    if (end == b || *end || errno || c < 1 || c > 100000 || a < 1 || a > c) return -1;
    *i = (int)a;
    *n = (int)c;
    return 0;
}

int zt_cli_render(int argc, char **argv) {
    enum { O_SHARD = 1000, O_SKIP, O_KEEP, O_OUTSIDE, O_NOCACHE, O_DRY, O_JSON, O_HELP };
    static const struct option opts[] = {
        {"out-dir", required_argument, NULL, 'o'},
        {"shard", required_argument, NULL, O_SHARD},
        {"skip-existing", no_argument, NULL, O_SKIP},
        {"keep-going", no_argument, NULL, O_KEEP},
        {"allow-outside", no_argument, NULL, O_OUTSIDE},
        {"threads", required_argument, NULL, 't'},
        {"no-model-cache", no_argument, NULL, O_NOCACHE},
        {"dry-run", no_argument, NULL, O_DRY},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},
        {0, 0, 0, 0},
    };
    const char *out_dir = ".", *threads = NULL;
    int shard = 1, nshards = 1, skip = 0, keep = 0, outside = 0, nocache = 0, dry = 0, json = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_dir = optarg;
            break;
        case 't': {
            long t;
            if (zt_cli_parse_int("render", "--threads", optarg, 0, 256, &t) != 0)
                return ZT_EXIT_USAGE;
            threads = optarg;
            break;
        }
        case O_SHARD:
            if (parse_shard(optarg, &shard, &nshards) != 0)
                return zt_cli_usage_error(
                    "render", "--shard %s: expected I/N with 1 <= I <= N, like 1/2", optarg);
            break;
        case O_SKIP:
            skip = 1;
            break;
        case O_KEEP:
            keep = 1;
            break;
        case O_OUTSIDE:
            outside = 1;
            break;
        case O_NOCACHE:
            nocache = 1;
            break;
        case O_DRY:
            dry = 1;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_HELP:
        case 'h':
            print_help();
            return ZT_EXIT_OK;
        case ':':
            return zt_cli_usage_error("render", "%s needs a value", argv[optind - 1]);
        default:
            return zt_cli_usage_error("render", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return zt_cli_usage_error("render", "no job file given (zoetrope render JOBS.cfg)");
    if (optind + 1 < argc)
        return zt_cli_usage_error("render", "unexpected argument '%s'", argv[optind + 1]);
    const char *job_path = argv[optind];
    if (!*out_dir) return zt_cli_usage_error("render", "--out-dir: empty path");

    const char *overrides[3] = {threads ? "threads" : NULL, threads, NULL};
    zt_job_options jo = {out_dir, outside, overrides};
    zt_job *job;
    zt_status st = zt_job_load(job_path, &jo, &job);
    if (st != ZT_OK) return zt_cli_fail(st);

    int todo = 0;
    for (int i = 0; i < job->n; i++) todo += zt_job_in_shard(i, shard, nshards);
    if (dry) {
        json_t *arr = json ? json_array() : NULL;
        for (int i = 0; i < job->n; i++) {
            const zt_shot *s = &job->shots[i];
            if (!zt_job_in_shard(i, shard, nshards)) continue;
            const char *mode = s->s.image && *s->s.image ? "i2v" : "t2v";
            if (arr)
                json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s, s:s}", "name", s->name,
                                                     "index", i, "output", s->s.output, "mode",
                                                     mode, "prompt", s->s.prompt));
            else
                printf("%-24s %s %-28s %s\n", s->name, mode, s->s.output, s->s.prompt);
        }
        if (arr) {
            json_dumpf(arr, stdout, JSON_COMPACT);
            putchar('\n');
            json_decref(arr);
        }
        zt_job_free(job);
        return ZT_EXIT_OK;
    }

    /* the output directory exists and the manifest there is one, before any work */
    render_ctx r = {out_dir, "", "", -1, outside, json_object()};
    snprintf(r.job_dir, sizeof r.job_dir, "%s", job_path);
    char *slash = strrchr(r.job_dir, '/');
    if (!slash) snprintf(r.job_dir, sizeof r.job_dir, ".");
    else if (slash == r.job_dir) slash[1] = '\0';
    else *slash = '\0';
    snprintf(r.manifest, sizeof r.manifest, "%s/%s", out_dir, MANIFEST_NAME);
    char probe[ZT_PATH_MAX + 8];
    snprintf(probe, sizeof probe, "%s/x", out_dir);
    st = make_parents(probe);
    if (st == ZT_OK) {
        r.dir_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r.dir_fd < 0)
            st = zt_fail(ZT_ERR_IO, "--out-dir %s: cannot open: %s", out_dir, strerror(errno));
    }
    if (st == ZT_OK) st = zt_output_check(r.manifest, "manifest");
    json_t *m0 = NULL;
    if (st == ZT_OK) st = manifest_read(&r, &m0);
    json_decref(m0);
    zt_model_cache *cache = NULL;
    if (st == ZT_OK && !nocache) st = zt_model_cache_init(&cache);
    if (st != ZT_OK || !r.hashes) {
        int rc =
            st != ZT_OK ? zt_cli_fail(st) : zt_cli_fail(zt_fail(ZT_ERR_NOMEM, "out of memory"));
        if (r.dir_fd >= 0) close(r.dir_fd);
        json_decref(r.hashes);
        zt_job_free(job);
        return rc;
    }

    int rc = ZT_EXIT_OK, done = 0, skipped = 0, failed = 0, k = 0;
    json_t *summary = json ? json_array() : NULL;
    double t0 = zt_now_seconds();
    for (int i = 0; i < job->n; i++) {
        const zt_shot *shot = &job->shots[i];
        if (!zt_job_in_shard(i, shard, nshards)) continue;
        k++;
        if (zt_interrupted()) {
            rc = ZT_EXIT_INTERRUPTED;
            break;
        }
        if (!zt_cli_quiet)
            fprintf(stderr, "zoetrope: render: [%d/%d] %s: %s\n", k, todo, shot->name,
                    shot->s.prompt);
        shot_result res;
        json_t *item =
            json_pack("{s:s, s:i, s:s}", "name", shot->name, "index", i, "output", shot->s.output);
        st = item ? render_shot(&r, cache, shot, skip, &res, item)
                  : (res = SHOT_FAILED, zt_fail(ZT_ERR_NOMEM, "out of memory"));
        const char *status = res == SHOT_DONE      ? "rendered"
                             : res == SHOT_SKIPPED ? "skipped"
                                                   : "failed";
        /* a usage error inside a shot is the job file's: bad input, not a bad flag */
        int code = res != SHOT_FAILED  ? ZT_EXIT_OK
                   : st == ZT_ERR_USAGE ? ZT_EXIT_INPUT
                                        : zt_status_exit_code(st);
        if (res == SHOT_FAILED) {
            failed++;
            if (st != ZT_ERR_INTERRUPTED)
                fprintf(stderr, "zoetrope: render: shot '%s' failed: %s\n", shot->name,
                        zt_last_error());
            if (rc == ZT_EXIT_OK || code == ZT_EXIT_INTERRUPTED) rc = code;
        } else if (res == SHOT_SKIPPED) {
            skipped++;
            if (!zt_cli_quiet)
                fprintf(stderr, "zoetrope: render: %s is up to date, skipped\n", shot->s.output);
        } else {
            done++;
        }
        if (item) {
            json_object_set_new(item, "status", json_string(status));
            json_object_set_new(item, "exit_code", json_integer(code));
            if (res == SHOT_FAILED)
                json_object_set_new(item, "error", json_string(zt_last_error()));
        }
        if (summary && item) json_array_append(summary, item);
        json_decref(item);
        if (st == ZT_ERR_INTERRUPTED || zt_interrupted()) {
            rc = ZT_EXIT_INTERRUPTED;
            break;
        }
        if (res == SHOT_FAILED && !keep) break;
    }
    if (rc == ZT_EXIT_INTERRUPTED) /* said even under --quiet, as other commands do */
        fprintf(stderr, "zoetrope: render: interrupted\n");
    if (!zt_cli_quiet)
        fprintf(stderr,
                "zoetrope: render: shard %d/%d: %d rendered, %d skipped, %d failed of %d "
                "shots in %.1f s\n",
                shard, nshards, done, skipped, failed, todo, zt_now_seconds() - t0);
    if (summary) {
        json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:s}", "shard", shard, "shards",
                              nshards, "rendered", done, "skipped", skipped, "failed", failed,
                              "exit_code", rc, "shots", summary, "manifest", r.manifest);
        if (o) zt_cli_print_json(o);
    }
    zt_model_cache_free(cache);
    close(r.dir_fd);
    json_decref(r.hashes);
    zt_job_free(job);
    return rc;
}
