/* Job files: shots layered over presets and shared defaults (job.h). */
#include "job.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/status.h"

#define JOB_SHOTS_MAX 10000 /* each shot holds its settings and their sources, ~6 KB */

int zt_job_in_shard(int index, int shard, int nshards) {
    return nshards <= 1 || index % nshards == shard - 1;
}

const char *zt_codec_default_suffix(const char *codec) {
    static const char *const map[][2] = {{"h264", ".mp4"}, {"vp9", ".webm"}, {"ffv1", ".mkv"},
                                         {"gif", ".gif"},  {"y4m", ".y4m"},  {"png", "/%04d.png"}};
    for (size_t i = 0; codec && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], codec)) return map[i][1];
    return ".mp4";
}

void zt_job_free(zt_job *job) {
    if (!job) return;
    for (int i = 0; i < job->n; i++) zt_settings_free(&job->shots[i].s);
    free(job->shots);
    free(job);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* The directory part of path ("." when none), into dir. */
static void dir_of(const char *path, char *dir, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, n, ".");
    else if (slash == path)
        snprintf(dir, n, "/");
    else
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

static const char *group_string(const config_setting_t *g, const char *key) {
    const config_setting_t *e = g ? config_setting_get_member(g, key) : NULL;
    return e && config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
}

static int group_has(const config_setting_t *g, const char *key) {
    return g && config_setting_get_member(g, key) != NULL;
}

/* A relative input named in the job file is taken from the job's directory when it is
 * there, so a job and its images can move together. */
static zt_status rebase_input(char **field, const char *jobdir) {
    if (!*field || !**field || (*field)[0] == '/' || !strcmp(jobdir, ".")) return ZT_OK;
    char cand[2 * ZT_PATH_MAX];
    if (snprintf(cand, sizeof cand, "%s/%s", jobdir, *field) >= (int)sizeof cand) return ZT_OK;
    if (!file_exists(cand)) return ZT_OK;
    char *dup = strdup(cand);
    if (!dup) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    free(*field);
    *field = dup;
    return ZT_OK;
}

/* An output name that stays inside the output directory: relative, no ".." part. */
static int stays_inside(const char *name) {
    if (name[0] == '/') return 0;
    const char *p = name;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 0;
        if (!end) break;
        p = end + 1;
    }
    return 1;
}

static int name_ok(const char *s) {
    if (!*s || strlen(s) >= ZT_SHOT_NAME_MAX || s[0] == '.') return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
    return 1;
}

/* One shot's settings, layered as job.h says. */
static zt_status make_shot(const char *path, const char *jobdir, const config_setting_t *defaults,
                           const config_setting_t *g, const zt_job_options *o, zt_shot *shot) {
    zt_settings *s = &shot->s;
    static const char *const extra_defaults[] = {"preset", NULL};
    static const char *const extra_shot[] = {"preset", "name", NULL};
    int line = shot->line;
    const char *name = group_string(g, "name");
    if (group_has(g, "name") && !name)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: 'name' must be a string", path, line);
    if (name && !name_ok(name))
        return zt_fail(ZT_ERR_INPUT,
                       "%s:%d: shot name '%s' must be 1-127 letters, digits, '-', '_' or '.' "
                       "(not first)",
                       path, line, name);
    if (name)
        snprintf(shot->name, sizeof shot->name, "%s", name);
    else
        snprintf(shot->name, sizeof shot->name, "shot-%03d", shot->index + 1);

    const char *preset = group_string(g, "preset");
    if (group_has(g, "preset") && !preset)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: 'preset' must be a string", path, line);
    if (!preset) preset = group_string(defaults, "preset");
    if (!preset && !group_has(g, "model") && !group_has(defaults, "model")) preset = "tiny";
    if (preset) {
        char pp[ZT_PATH_MAX], local[2 * ZT_PATH_MAX];
        const char *use = preset;
        size_t len = strlen(preset);
        int is_path = strchr(preset, '/') || (len > 4 && !strcmp(preset + len - 4, ".cfg"));
        if (is_path && preset[0] != '/' &&
            snprintf(local, sizeof local, "%s/%s", jobdir, preset) < (int)sizeof local &&
            file_exists(local))
            use = local;
        if (zt_preset_find(use, pp, sizeof pp) != ZT_OK)
            return is_path ? zt_fail(ZT_ERR_INPUT, "%s:%d: no preset file '%s'", path, line, preset)
                           : zt_fail(ZT_ERR_INPUT, "%s:%d: no preset '%s' (see zoetrope presets)",
                                     path, line, preset);
        zt_status rc = zt_settings_load_file(s, pp);
        if (rc != ZT_OK) /* the message names the preset; say which shot wanted it */
            return zt_fail_wrap(rc, "%s:%d: shot '%s': ", path, line, shot->name);
        s->preset = strdup(preset);
        if (!s->preset) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    if (defaults) ZT_TRY(zt_settings_apply_group(s, defaults, path, extra_defaults));
    ZT_TRY(zt_settings_apply_group(s, g, path, extra_shot));
    for (int i = 0; o->overrides && o->overrides[i] && o->overrides[i + 1]; i += 2) {
        char src[80];
        snprintf(src, sizeof src, "--%s", o->overrides[i]);
        for (char *p = src; *p; p++)
            if (*p == '_') *p = '-';
        zt_settings_set_source(s, src);
        zt_status rc = zt_settings_set(s, o->overrides[i], o->overrides[i + 1]);
        zt_settings_set_source(s, NULL);
        ZT_TRY(rc);
    }
    if (s->frames_dir)
        return zt_fail(ZT_ERR_INPUT,
                       "%s: frames_dir is not used in job files; give a PNG pattern as the "
                       "output (\"%s/%%04d.png\")",
                       zt_settings_source(s, "frames_dir"), shot->name);
    if (!s->prompt || !*s->prompt)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: shot '%s' has no prompt", path, line, shot->name);

    /* inputs the job names are found next to it; the preset's own stay as they are */
    static const char *const inputs[] = {"image", "noise",        "model",
                                         "vae",   "text_encoder", "tokenizer"};
    char **fields[] = {&s->image, &s->noise, &s->model, &s->vae, &s->text_encoder, &s->tokenizer};
    for (int i = 0; i < 6; i++)
        if (group_has(g, inputs[i]) || group_has(defaults, inputs[i]))
            ZT_TRY(rebase_input(fields[i], jobdir));

    /* the output: the shot's (or the defaults') name, else the shot's name */
    if (group_has(g, "output") || group_has(defaults, "output")) {
        snprintf(shot->output, sizeof shot->output, "%s", s->output);
    } else {
        const char *codec = s->codec ? s->codec : "h264";
        snprintf(shot->output, sizeof shot->output, "%s%s", shot->name,
                 zt_codec_default_suffix(codec));
    }
    const char *src = zt_settings_source(s, "output");
    if (!strcmp(shot->output, "-"))
        return zt_fail(ZT_ERR_INPUT, "%s: shot '%s': a job's output cannot be stdout", src,
                       shot->name);
    if (!*shot->output || shot->output[strlen(shot->output) - 1] == '/')
        return zt_fail(ZT_ERR_INPUT, "%s: shot '%s': output '%s' is not a file name", src,
                       shot->name, shot->output);
    if (!o->allow_outside && !stays_inside(shot->output))
        return zt_fail(ZT_ERR_INPUT,
                       "%s: shot '%s': output '%s' is outside the output directory (use "
                       "--allow-outside to permit it)",
                       src, shot->name, shot->output);
    char full[2 * ZT_PATH_MAX + 2];
    const char *out_dir = o->out_dir ? o->out_dir : ".";
    if (shot->output[0] == '/' || !strcmp(out_dir, "."))
        snprintf(full, sizeof full, "%s", shot->output);
    else if (snprintf(full, sizeof full, "%s/%s", out_dir, shot->output) >= ZT_PATH_MAX)
        return zt_fail(ZT_ERR_INPUT, "%s: shot '%s': output path too long", src, shot->name);
    char *dup = strdup(full);
    if (!dup) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    free(s->output);
    s->output = dup;
    return ZT_OK;
}

static zt_status load(const char *path, const zt_job_options *o, config_t *cfg, zt_job *job) {
    config_setting_t *root = config_root_setting(cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *e = config_setting_get_elem(root, (unsigned)i);
        const char *n = config_setting_name(e);
        if (!n || (strcmp(n, "defaults") && strcmp(n, "shots")))
            return zt_fail(ZT_ERR_INPUT,
                           "%s:%d: unknown key '%s' (a job file has defaults and "
                           "shots)",
                           path, (int)config_setting_source_line(e), n ? n : "?");
    }
    config_setting_t *defaults = config_setting_get_member(root, "defaults");
    if (defaults && config_setting_type(defaults) != CONFIG_TYPE_GROUP)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: 'defaults' must be a group { ... }", path,
                       (int)config_setting_source_line(defaults));
    if (defaults && group_has(defaults, "name"))
        return zt_fail(
            ZT_ERR_INPUT, "%s:%d: 'name' belongs to a shot, not the defaults", path,
            (int)config_setting_source_line(config_setting_get_member(defaults, "name")));
    if (defaults && group_has(defaults, "preset") && !group_string(defaults, "preset"))
        return zt_fail(ZT_ERR_INPUT, "%s:%d: 'preset' must be a string", path,
                       (int)config_setting_source_line(defaults));
    config_setting_t *shots = config_setting_get_member(root, "shots");
    if (!shots) return zt_fail(ZT_ERR_INPUT, "%s: no shots = ( ... ) list", path);
    int type = config_setting_type(shots);
    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: 'shots' must be a list ( { ... }, ... )", path,
                       (int)config_setting_source_line(shots));
    int n = config_setting_length(shots);
    if (n == 0)
        return zt_fail(ZT_ERR_INPUT, "%s:%d: the shot list is empty", path,
                       (int)config_setting_source_line(shots));
    if (n > JOB_SHOTS_MAX)
        return zt_fail(ZT_ERR_INPUT, "%s: %d shots, more than %d", path, n, JOB_SHOTS_MAX);
    job->shots = calloc((size_t)n, sizeof *job->shots);
    if (!job->shots) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    char jobdir[ZT_PATH_MAX];
    dir_of(path, jobdir, sizeof jobdir);
    for (int i = 0; i < n; i++) {
        config_setting_t *g = config_setting_get_elem(shots, (unsigned)i);
        zt_shot *shot = &job->shots[i];
        shot->index = i;
        shot->line = (int)config_setting_source_line(g);
        zt_settings_init(&shot->s);
        job->n = i + 1;
        if (!shot->s.sources) return zt_fail(ZT_ERR_NOMEM, "out of memory");
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            return zt_fail(ZT_ERR_INPUT, "%s:%d: shot %d must be a group { ... }", path,
                           shot->line ? shot->line : (int)config_setting_source_line(shots), i + 1);
        ZT_TRY(make_shot(path, jobdir, defaults, g, o, shot));
        for (int k = 0; k < i; k++) {
            if (!strcmp(job->shots[k].name, shot->name))
                return zt_fail(ZT_ERR_INPUT, "%s:%d: shot name '%s' is used twice (line %d)", path,
                               shot->line, shot->name, job->shots[k].line);
            if (!strcmp(job->shots[k].s.output, shot->s.output))
                return zt_fail(
                    ZT_ERR_INPUT, "%s:%d: shot '%s' writes '%s', as shot '%s' (line %d) does", path,
                    shot->line, shot->name, shot->output, job->shots[k].name, job->shots[k].line);
        }
    }
    return ZT_OK;
}

zt_status zt_job_load(const char *path, const zt_job_options *o, zt_job **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return zt_fail(ZT_ERR_INPUT, "%s: not a regular file", path);
    zt_job *job = calloc(1, sizeof *job);
    if (!job) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    snprintf(job->path, sizeof job->path, "%s", path);
    config_t cfg;
    config_init(&cfg);
    zt_status rc = ZT_OK;
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            rc = zt_fail(ZT_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
        else
            rc = zt_fail(ZT_ERR_INPUT, "%s:%d: %s", path, config_error_line(&cfg),
                         config_error_text(&cfg));
    } else {
        zt_job_options none = {0};
        rc = load(path, o ? o : &none, &cfg, job);
    }
    config_destroy(&cfg);
    if (rc != ZT_OK) {
        zt_job_free(job);
        return rc;
    }
    *out = job;
    return ZT_OK;
}
