/* zoetrope t2v / i2v: settings from defaults, preset, config file and flags, then the
 * pipeline. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/status.h"
#include "pipeline/generate.h"
#include "pipeline/settings.h"
#include "progress.h"

enum {
    OPT_PRESET = 1000,
    OPT_CONFIG,
    OPT_JSON,
    OPT_DRY_RUN,
    OPT_OFFLOAD,
    OPT_HELP,
    OPT_SETTING, /* every option from here on maps to a settings key */
};

/* long name, short letter (0: none), settings key */
static const struct {
    const char *flag;
    int shortopt;
    const char *key;
} setting_flags[] = {
    {"prompt", 'p', "prompt"},
    {"negative-prompt", 'n', "negative_prompt"},
    {"image", 'i', "image"},
    {"model", 'm', "model"},
    {"vae", 0, "vae"},
    {"text-encoder", 0, "text_encoder"},
    {"tokenizer", 0, "tokenizer"},
    {"width", 'W', "width"},
    {"height", 'H', "height"},
    {"frames", 'f', "frames"},
    {"fps", 0, "fps"},
    {"steps", 0, "steps"},
    {"guidance", 'g', "guidance"},
    {"shift", 0, "shift"},
    {"sampler", 0, "sampler"},
    {"seed", 's', "seed"},
    {"noise", 0, "noise"},
    {"threads", 't', "threads"},
    {"max-memory", 0, "max_memory"},
    {"vae-tile", 0, "vae_tile"},
    {"vae-tile-overlap", 0, "vae_tile_overlap"},
    {"device", 0, "device"},
    {"text-encoder-device", 0, "text_encoder_device"},
    {"vae-device", 0, "vae_device"},
    {"max-gpu-memory", 0, "max_gpu_memory"},
    {"output", 'o', "output"},
    {"codec", 'c', "codec"},
    {"crf", 0, "crf"},
    {"bitrate", 'b', "bitrate"},
    {"frames-dir", 0, "frames_dir"},
};
#define NFLAGS ((int)(sizeof setting_flags / sizeof setting_flags[0]))

static void print_help(const char *cmd) {
    int i2v = !strcmp(cmd, "i2v");
    printf("usage: zoetrope %s [options] [PROMPT]\n\n", cmd);
    printf("%s\n\n", i2v ? "Generate a video that starts from an image and follows a prompt."
                         : "Generate a video from a text prompt.");
    printf(
        "Settings come from built-in defaults, then --preset, then --config, then flags.\n"
        "Without --preset, --config or --model the built-in model runs (preset tiny).\n\n"
        "  -p, --prompt TEXT          what the video shows (or give it as the last argument)\n"
        "  -n, --negative-prompt TEXT what to avoid (default: Wan's own negative prompt,\n"
        "                             shared_config.sample_neg_prompt; '' for none)\n"
        "%s"
        "      --preset NAME|FILE     model and defaults (see zoetrope presets)\n"
        "      --config FILE          a libconfig file of the same keys, over the preset\n"
        "  -m, --model FILE           diffusion transformer weights (.safetensors)\n"
        "      --vae FILE             VAE weights\n"
        "      --text-encoder FILE    umT5 text encoder weights\n"
        "      --tokenizer FILE       tokenizer (tokenizer.json or spiece.model)\n"
        "  -W, --width N              width in pixels (default 832): a multiple of the VAE\n"
        "                             stride times the patch, 16 for Wan2.1, 32 for Wan2.2;\n"
        "                             other sizes are refused with the nearest valid one\n"
        "  -H, --height N             height in pixels (default 480), the same rule\n"
        "  -f, --frames N             frame count, 4k+1 for the 4x temporal VAE (default 81);\n"
        "                             other counts are refused with the nearest valid one\n"
        "      --fps N                frames per second of the output (default 16)\n"
        "      --steps N              denoising steps (default 50)\n"
        "  -g, --guidance X           classifier-free guidance scale (default 5.0); above 1\n"
        "                             each step runs the model twice (prompt, negative)\n"
        "      --shift X              flow-matching sigma shift (default 3.0)\n"
        "      --sampler NAME         unipc (default), dpm++ or euler\n"
        "  -s, --seed N               noise seed (default 42): the same noise on any thread\n"
        "                             count or backend (Philox counter-based generator)\n"
        "      --noise FILE           initial noise from a safetensors latent [C, T, h, w]\n"
        "                             instead of the seed (to reproduce another tool's run)\n"
        "  -t, --threads N            CPU threads, 0 for all cores (default 0)\n"
        "      --max-memory SIZE      memory budget like 4G (default: what the machine has\n"
        "                             available); the plan is made before any heavy work\n"
        "                             and a stage that cannot fit is refused at once\n"
        "      --vae-tile N           decode the VAE in N-pixel tiles (0: untiled; default:\n"
        "                             untiled when it fits the budget, else the largest\n"
        "                             tile that fits)\n"
        "      --vae-tile-overlap N   pixels tiles share, blended (default: an eighth of\n"
        "                             N, 32 to 64 and at most a quarter of N)\n"
        "      --device D             cpu (default), cuda or cuda:N: where the models run\n"
        "      --text-encoder-device D  the text encoder's (default: --device); cpu keeps\n"
        "                             umT5-XXL (11 GB) off the GPU, as Wan's --t5_cpu\n"
        "      --vae-device D         the VAE's (default: --device)\n"
        "      --offload              on a GPU, keep the transformer's blocks in host memory\n"
        "                             and copy each in as it runs (for small cards)\n"
        "      --max-gpu-memory SIZE  GPU memory budget like 6G (default: the card's free\n"
        "                             memory when the run starts, less 256 MiB; a\n"
        "                             --dry-run without it checks none): stages on the GPU\n"
        "                             are planned against it as --max-memory's against\n"
        "                             the host's\n"
        "  -o, --output PATH          .mp4 (H.264), .webm (VP9), .mkv (FFV1), .gif, .y4m, '-'\n"
        "                             (y4m to stdout) or a PNG pattern like frames/%%04d.png\n"
        "  -c, --codec NAME           h264, vp9, ffv1, gif, png or y4m (default: from -o)\n"
        "      --crf N                constant quality (h264 default 18, vp9 30)\n"
        "  -b, --bitrate RATE         target bitrate like 4M instead of --crf\n"
        "      --frames-dir DIR       write PNG frames into DIR instead of a video\n"
        "      --dry-run              print the resolved settings and, when the model files\n"
        "                             are given, the memory plan of each stage; then exit\n"
        "      --json                 print a JSON summary on stdout\n"
        "  -q, --quiet / -v, --verbose\n\n"
        "Exit codes: 0 success, 1 usage, 2 bad input or model file, 3 runtime failure,\n"
        "130 interrupted.\n",
        i2v ? "  -i, --image FILE           the first frame (PNG, JPEG, WebP; resized and centre-"
              "cropped)\n"
            : "");
}

typedef struct dry_run_ctx {
    json_t *obj;
} dry_run_ctx;

static void print_setting(const char *key, const char *value, const char *source, void *user) {
    dry_run_ctx *d = user;
    if (d->obj) {
        json_object_set_new(d->obj, key, value ? json_string(value) : json_null());
        return;
    }
    printf("%-19s = %-40s # %s\n", key, value ? value : "(unset)", source);
}

/* --dry-run: the resolved settings and, when every model file is named, the memory
 * plan (which opens and checks them all but computes nothing). */
static int dry_run_print(const zt_settings *s, zt_gen_mode mode, int json) {
    dry_run_ctx d = {json ? json_object() : NULL};
    zt_settings_foreach(s, print_setting, &d);
    int rc = ZT_EXIT_OK;
    if (s->model && s->vae && s->text_encoder && s->tokenizer) {
        zt_mem_plan plan;
        zt_status st = zt_generate_plan(s, mode, &plan);
        json_t *stages = d.obj ? json_object() : NULL;
        for (int i = 0; i < ZT_STAGE_COUNT; i++) {
            const zt_stage_plan *p = &plan.stage[i];
            if (!p->used) continue;
            if (stages) {
                json_t *e = json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)p->total,
                                      "weights", (json_int_t)p->weights, "work",
                                      (json_int_t)p->work, "buffers", (json_int_t)p->held);
                if (e && p->gpu) { /* a stage on the GPU: what it allocates there */
                    json_object_set_new(e, "gpu", json_integer(p->gpu));
                    json_object_set_new(e, "gpu_weights", json_integer(p->gpu_weights));
                    json_object_set_new(e, "gpu_scratch", json_integer(p->gpu_scratch));
                }
                json_object_set_new(stages, zt_stage_name((zt_stage)i), e);
            } else {
                char a[32], b[32], c[32], e[32];
                printf("plan: %-14s %10s = weights %s + working %s + buffers %s + process\n",
                       zt_stage_name((zt_stage)i), zt_plan_fmt(p->total, a, sizeof a),
                       zt_plan_fmt(p->weights, b, sizeof b), zt_plan_fmt(p->work, c, sizeof c),
                       zt_plan_fmt(p->held, e, sizeof e));
                if (p->gpu)
                    printf("plan: %-14s %10s on the GPU = weights %s + working %s + scratch %s\n",
                           "", zt_plan_fmt(p->gpu, a, sizeof a),
                           zt_plan_fmt(p->gpu_weights, b, sizeof b),
                           zt_plan_fmt(p->gpu - p->gpu_weights - p->gpu_scratch, c, sizeof c),
                           zt_plan_fmt(p->gpu_scratch, e, sizeof e));
            }
        }
        if (d.obj) {
            json_object_set_new(stages, "peak", json_integer(plan.peak));
            json_object_set_new(stages, "budget", json_integer(plan.budget));
            json_object_set_new(stages, "gpu_budget", json_integer(plan.gpu_budget));
            json_object_set_new(stages, "vae_tile", json_integer(plan.vae_tile));
            json_object_set_new(stages, "vae_tile_overlap", json_integer(plan.vae_overlap));
            json_object_set_new(stages, "scratch_bytes", json_integer(plan.scratch_bytes));
            json_object_set_new(d.obj, "plan", stages);
        } else if (plan.peak) {
            char a[32], b[32];
            printf("plan: peak %s in the %s, budget %s, vae %s\n",
                   zt_plan_fmt(plan.peak, a, sizeof a), zt_stage_name(plan.peak_stage),
                   plan.budget ? zt_plan_fmt(plan.budget, b, sizeof b) : "none",
                   plan.vae_tile ? "tiled" : "untiled");
            if (plan.gpu_budget)
                printf("plan: GPU budget %s\n", zt_plan_fmt(plan.gpu_budget, a, sizeof a));
            if (plan.enc_tile)
                printf("plan: image encode tiles of %d px, overlap %d\n", plan.enc_tile,
                       plan.enc_overlap);
            if (plan.vae_tile)
                printf("plan: vae tiles of %d px, overlap %d\n", plan.vae_tile, plan.vae_overlap);
        }
        if (st != ZT_OK) rc = zt_cli_fail(st);
    }
    if (d.obj) {
        json_dumpf(d.obj, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(d.obj);
    }
    return rc;
}

/* The run's peak resident memory: the stages restart the kernel's count to measure
 * their own, so the whole run's is the largest of theirs and what came after. */
static double peak_mib(const zt_mem_plan *p) {
    double m = zt_cli_peak_rss_mib();
    for (int i = 0; i < ZT_STAGE_COUNT; i++)
        if (p->stage[i].used && (double)p->stage[i].measured / 1048576.0 > m)
            m = (double)p->stage[i].measured / 1048576.0;
    return m;
}

static void cb_begin(void *user, const char *stage, int64_t total) {
    zt_progress **p = user;
    *p = zt_progress_begin(stage, total);
}
static void cb_step(void *user, int64_t done) {
    zt_progress_update(*(zt_progress **)user, done);
}
static void cb_end(void *user) {
    zt_progress **p = user;
    zt_progress_end(*p);
    *p = NULL;
}

static int run_generate(int argc, char **argv, zt_gen_mode mode) {
    const char *cmd = argv[0];
    struct option opts[NFLAGS + 7];
    char shortopts[2 * NFLAGS + 5];
    int n = 0, ns = 0;
    shortopts[ns++] = ':'; /* report a missing value as ':' rather than '?' */
    for (int i = 0; i < NFLAGS; i++) {
        opts[n++] =
            (struct option){setting_flags[i].flag, required_argument, NULL, OPT_SETTING + i};
        if (setting_flags[i].shortopt) {
            shortopts[ns++] = (char)setting_flags[i].shortopt;
            shortopts[ns++] = ':';
        }
    }
    opts[n++] = (struct option){"preset", required_argument, NULL, OPT_PRESET};
    opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    opts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    opts[n++] = (struct option){"dry-run", no_argument, NULL, OPT_DRY_RUN};
    opts[n++] = (struct option){"offload", no_argument, NULL, OPT_OFFLOAD};
    opts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    opts[n] = (struct option){0, 0, 0, 0};
    shortopts[ns++] = 'h';
    shortopts[ns] = '\0';

    /* first pass: collect; settings are applied afterwards in precedence order */
    const char *preset = NULL, *config = NULL;
    int json = 0, dry_run = 0, offload = 0;
    int flag_index[256], nflag = 0;
    const char *flag_value[256];
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (c == OPT_HELP || c == 'h') {
            print_help(cmd);
            return ZT_EXIT_OK;
        } else if (c == OPT_PRESET)
            preset = optarg;
        else if (c == OPT_CONFIG)
            config = optarg;
        else if (c == OPT_JSON)
            json = 1;
        else if (c == OPT_DRY_RUN)
            dry_run = 1;
        else if (c == OPT_OFFLOAD)
            offload = 1;
        else if (c >= OPT_SETTING && c < OPT_SETTING + NFLAGS) {
            if (nflag >= 256) return zt_cli_usage_error(cmd, "too many options");
            flag_index[nflag] = c - OPT_SETTING;
            flag_value[nflag++] = optarg;
        } else if (c == ':') {
            if (optopt > 0 && optopt < 256)
                return zt_cli_usage_error(cmd, "-%c needs a value", optopt);
            return zt_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        } else if (c == '?') {
            if (optopt > 0 && optopt < 256)
                return zt_cli_usage_error(cmd, "unknown option '-%c'", optopt);
            return zt_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        } else {
            int i;
            for (i = 0; i < NFLAGS && setting_flags[i].shortopt != c; i++) {
            }
            if (i == NFLAGS) return zt_cli_usage_error(cmd, "unexpected option");
            if (nflag >= 256) return zt_cli_usage_error(cmd, "too many options");
            flag_index[nflag] = i;
            flag_value[nflag++] = optarg;
        }
    }
    const char *positional_prompt = NULL;
    if (optind < argc) {
        if (optind + 1 < argc)
            return zt_cli_usage_error(cmd, "unexpected argument '%s' (quote the prompt)",
                                      argv[optind + 1]);
        positional_prompt = argv[optind];
    }

    zt_settings s;
    zt_settings_init(&s);
    zt_status st = ZT_OK;
    int rc = ZT_EXIT_OK;
    /* no preset and no model files named: the built-in model (presets/tiny.cfg) */
    int names_model = 0;
    for (int i = 0; i < nflag; i++)
        if (!strcmp(setting_flags[flag_index[i]].key, "model")) names_model = 1;
    if (!preset && !config && !names_model) preset = "tiny";
    if (preset) {
        char path[ZT_PATH_MAX];
        st = zt_preset_find(preset, path, sizeof path);
        if (st == ZT_OK) st = zt_settings_load_file(&s, path);
        if (st == ZT_OK) s.preset = strdup(preset);
    }
    if (st == ZT_OK && config) st = zt_settings_load_file(&s, config);
    for (int i = 0; st == ZT_OK && i < nflag; i++) {
        char src[80];
        snprintf(src, sizeof src, "--%s", setting_flags[flag_index[i]].flag);
        zt_settings_set_source(&s, src);
        st = zt_settings_set(&s, setting_flags[flag_index[i]].key, flag_value[i]);
    }
    if (st == ZT_OK && offload) {
        zt_settings_set_source(&s, "--offload");
        st = zt_settings_set(&s, "offload", "1");
    }
    if (st == ZT_OK && positional_prompt) {
        zt_settings_set_source(&s, "PROMPT argument");
        st = zt_settings_set(&s, "prompt", positional_prompt);
    }
    zt_settings_set_source(&s, NULL);
    if (st == ZT_OK && (!s.prompt || !*s.prompt))
        st = zt_fail(ZT_ERR_USAGE, "%s: a prompt is required (--prompt or the last argument)", cmd);
    if (st == ZT_OK && mode == ZT_GEN_I2V && (!s.image || !*s.image))
        st = zt_fail(ZT_ERR_USAGE, "%s: an input image is required (--image)", cmd);
    if (st == ZT_OK) st = zt_settings_validate(&s);
    if (st != ZT_OK) {
        rc = zt_cli_fail(st);
        zt_settings_free(&s);
        return rc;
    }

    if (dry_run) {
        rc = dry_run_print(&s, mode, json);
        zt_settings_free(&s);
        return rc;
    }

    zt_progress *prog = NULL;
    zt_gen_callbacks cb = {cb_begin, cb_step, cb_end, NULL, NULL, &prog};
    zt_gen_result res;
    double t0 = zt_now_seconds();
    st = zt_generate(&s, mode, &cb, &res);
    zt_progress_abort(prog); /* a stage still open here did not finish */
    if (st != ZT_OK) {
        rc = zt_cli_fail(st);
    } else if (json) {
        json_t *o = json_pack("{s:s, s:I, s:i, s:i, s:i, s:f, s:f, s:f, s:s, s:i}", "output",
                              s.output, "frames", (json_int_t)res.frames, "width", res.width,
                              "height", res.height, "fps", s.fps, "seconds", zt_now_seconds() - t0,
                              "peak_rss_mib", peak_mib(&res.plan), "plan_peak_mib",
                              (double)res.plan.peak / 1048576.0, "plan_peak_stage",
                              zt_stage_name(res.plan.peak_stage), "vae_tile", res.plan.vae_tile);
        json_t *stages = json_object();
        for (int i = 0; o && stages && i < ZT_STAGE_COUNT; i++) {
            const zt_stage_plan *p = &res.plan.stage[i];
            if (!p->used) continue;
            json_t *e = json_pack("{s:f, s:f}", "planned_mib", (double)p->total / 1048576.0,
                                  "measured_mib", (double)p->measured / 1048576.0);
            if (e && res.device_peak > 0) /* the GPU's memory, whichever stage used it */
                json_object_set_new(e, "device_mib", json_real((double)p->device / 1048576.0));
            if (e && p->gpu > 0) /* and the plan's, for a stage whose model ran there */
                json_object_set_new(e, "device_planned_mib",
                                    json_real((double)p->gpu / 1048576.0));
            if (e) json_object_set_new(stages, zt_stage_name((zt_stage)i), e);
        }
        if (o && res.device_peak > 0)
            json_object_set_new(o, "device_peak_mib",
                                json_real((double)res.device_peak / 1048576.0));
        if (o && stages)
            json_object_set_new(o, "stages", stages);
        else
            json_decref(stages);
        if (o) {
            json_dumpf(o, stdout, JSON_COMPACT);
            putchar('\n');
            json_decref(o);
        }
    }
    zt_settings_free(&s);
    return rc;
}

int zt_cli_t2v(int argc, char **argv) {
    return run_generate(argc, argv, ZT_GEN_T2V);
}
int zt_cli_i2v(int argc, char **argv) {
    return run_generate(argc, argv, ZT_GEN_I2V);
}
