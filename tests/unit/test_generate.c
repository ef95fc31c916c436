/* test_generate.c - the whole text/image-to-video pipeline against diffusers.
 *
 * Fixtures (tools/pipeline/make_fixtures.py): diffusers' WanPipeline and
 * WanImageToVideoPipeline (Wan2.2 TI2V) on tiny random components that fit each
 * other (umT5 d_model 32 over the SentencePiece fixture's 2453 tokens, a 2-layer Wan
 * DiT with 16 or 48 channels, the base-dim-4 VAE fixtures), from the prompt text and
 * the same initial noise to the final latents and the decoded frames. Cases: UniPC
 * with guidance, DPM-Solver++ with guidance, Euler without (one pass per step), and
 * image-to-video with UniPC. Then what the pipeline promises besides: the same seed
 * gives the same file on 1 and 2 threads, a mismatched or impossible request fails
 * with its reason before any output exists, and an interruption leaves nothing. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "pipeline/generate.h"
#include "pipeline/settings.h"
#include "testlib.h"

#define TOL 1e-3

static char cases_path[512];

static const char *data(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ZT_TEST_DATA, rel);
    return buf[k];
}

static const char *tmp(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", zt_test_tmpdir(), name);
    return buf[k];
}

typedef struct want {
    const char *name;
    zt_safetensors *st;
    int64_t frames, latents_seen;
    double frame_err, frame_scale;
} want;

static const zt_st_entry *entry(zt_safetensors *st, const char *prefix, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    const zt_st_entry *e = zt_safetensors_find(st, key);
    CHECK(e != NULL, "cases lack %s", key);
    return e;
}

static double *read_ref(zt_safetensors *st, const zt_st_entry *e) {
    float *f = zt_test_alloc((size_t)e->numel * sizeof *f);
    double *d = zt_test_alloc((size_t)e->numel * sizeof *d);
    CHECK_OK(zt_safetensors_read_f32(st, e, f, e->numel));
    for (int64_t i = 0; i < e->numel; i++) d[i] = f[i];
    return d;
}

static zt_status on_latents(void *user, const zt_tensor *x) {
    want *w = user;
    const zt_st_entry *e = entry(w->st, "latents", w->name);
    if (!e) return ZT_OK;
    CHECK(zt_tensor_numel(x) == e->numel, "%s: %lld latents, want %lld", w->name,
          (long long)zt_tensor_numel(x), (long long)e->numel);
    if (zt_tensor_numel(x) != e->numel) return ZT_OK;
    char what[96];
    snprintf(what, sizeof what, "%s final latents", w->name);
    zt_test_compare(what, x->data, read_ref(w->st, e), e->numel, TOL);
    w->latents_seen++;
    return ZT_OK;
}

/* frames.NAME is [3, F, H, W]; the error is over the whole video, scaled by its max. */
static zt_status on_frame(void *user, const zt_tensor *frame, int64_t index) {
    want *w = user;
    const zt_st_entry *e = entry(w->st, "frames", w->name);
    if (!e) return ZT_OK;
    int64_t F = e->shape[1], hw = e->shape[2] * e->shape[3];
    CHECK(frame->shape[1] * frame->shape[2] == hw && index < F, "%s: frame %lld of %lldx%lld",
          w->name, (long long)index, (long long)frame->shape[2], (long long)frame->shape[1]);
    if (frame->shape[1] * frame->shape[2] != hw || index >= F) return ZT_OK;
    const float *ref = (const float *)zt_safetensors_data(w->st, e);
    const float *x = frame->data;
    for (int c = 0; c < 3; c++)
        for (int64_t p = 0; p < hw; p++) {
            double r = ref[(c * F + index) * hw + p];
            double d = fabs(x[c * hw + p] - r);
            if (d > w->frame_err) w->frame_err = d;
            if (fabs(r) > w->frame_scale) w->frame_scale = fabs(r);
        }
    w->frames++;
    return ZT_OK;
}

/* noise.NAME alone in a file of its own, as a user's --noise would be. */
static int keep_noise(void *ctx, zt_test_st_tensor *t) {
    char want_name[128];
    snprintf(want_name, sizeof want_name, "noise.%s", (const char *)ctx);
    if (strcmp(t->name, want_name) != 0) return 0;
    snprintf(t->name, sizeof t->name, "noise");
    return 1;
}

static void set(zt_settings *s, const char *key, const char *value) {
    CHECK_OK(zt_settings_set(s, key, value));
}

static void set_num(zt_settings *s, const char *key, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    set(s, key, buf);
}

/* Settings for a case from its JSON (the fixture's metadata). */
static zt_gen_mode case_settings(zt_settings *s, const char *json, const char *name) {
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    CHECK(o != NULL, "case %s: bad JSON: %s", name, err.text);
    zt_settings_init(s);
    if (!o) return ZT_GEN_T2V;
    set(s, "prompt", json_string_value(json_object_get(o, "prompt")));
    set(s, "negative_prompt", json_string_value(json_object_get(o, "negative_prompt")));
    set(s, "sampler", json_string_value(json_object_get(o, "sampler")));
    static const char *const nums[] = {"width", "height", "frames", "steps", "shift", "guidance"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        set_num(s, nums[i], json_number_value(json_object_get(o, nums[i])));
    char path[128];
    snprintf(path, sizeof path, "pipeline/%s.safetensors",
             json_string_value(json_object_get(o, "dit")));
    set(s, "model", data(path));
    snprintf(path, sizeof path, "vae/%s/diffusers.safetensors",
             json_string_value(json_object_get(o, "vae")));
    set(s, "vae", data(path));
    set(s, "text_encoder", data("pipeline/t5.safetensors"));
    set(s, "tokenizer", data("tokenizer/bf.model"));
    set(s, "threads", "2");
    int i2v = !strcmp(json_string_value(json_object_get(o, "mode")), "i2v");
    if (i2v) set(s, "image", data("pipeline/image.png"));
    json_decref(o);
    return i2v ? ZT_GEN_I2V : ZT_GEN_T2V;
}

static void test_case(zt_safetensors *st, const char *name) {
    zt_settings s;
    zt_gen_mode mode = case_settings(&s, zt_safetensors_metadata_get(st, name), name);
    char noise[512], out[512];
    snprintf(noise, sizeof noise, "%s", tmp("noise.safetensors"));
    snprintf(out, sizeof out, "%s/%s.y4m", zt_test_tmpdir(), name);
    zt_test_copy_safetensors(cases_path, noise, "", 1, keep_noise, (void *)name);
    set(&s, "noise", noise);
    set(&s, "output", out);
    want w = {name, st, 0, 0, 0, 0};
    zt_gen_callbacks cb = {0};
    cb.latents = on_latents;
    cb.frame = on_frame;
    cb.user = &w;
    zt_gen_result res;
    CHECK_OK(zt_generate(&s, mode, &cb, &res));
    CHECK(w.latents_seen == 1, "%s: latents seen %lld times", name, (long long)w.latents_seen);
    CHECK(w.frames == s.frames && res.frames == s.frames,
          "%s: %lld frames decoded, %lld "
          "written, want %d",
          name, (long long)w.frames, (long long)res.frames, s.frames);
    double rel = w.frame_err / (w.frame_scale > 0 ? w.frame_scale : 1);
    printf("%s decoded frames: max rel err %.3g (tol %g)\n", name, rel, TOL);
    CHECK(rel <= TOL, "%s: frames differ from diffusers by %g", name, rel);
    CHECK(access(out, F_OK) == 0, "%s: no output %s", name, out);
    zt_settings_free(&s);
}

/* A seeded render (no --noise) of the Euler case, into path. */
static zt_status seeded(const char *path, const char *threads, const char *seed) {
    zt_safetensors *st;
    CHECK_OK(zt_safetensors_open(&st, cases_path));
    zt_settings s;
    case_settings(&s, zt_safetensors_metadata_get(st, "t2v_euler"), "t2v_euler");
    zt_safetensors_close(st);
    set(&s, "threads", threads);
    set(&s, "seed", seed);
    set(&s, "output", path);
    zt_gen_result res;
    zt_status rc = zt_generate(&s, ZT_GEN_T2V, NULL, &res);
    zt_settings_free(&s);
    return rc;
}

static void test_reproducible(void) {
    CHECK_OK(seeded(tmp("seed1.y4m"), "1", "7"));
    CHECK_OK(seeded(tmp("seed2.y4m"), "2", "7"));
    CHECK_OK(seeded(tmp("seed3.y4m"), "2", "8"));
    size_t n1, n2, n3;
    uint8_t *a = zt_test_read_file(tmp("seed1.y4m"), &n1);
    uint8_t *b = zt_test_read_file(tmp("seed2.y4m"), &n2);
    uint8_t *c = zt_test_read_file(tmp("seed3.y4m"), &n3);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1), "seed 7 on 1 and 2 threads differ");
    CHECK(a && c && n1 == n3 && memcmp(a, c, n1) != 0, "seeds 7 and 8 give the same video");
    free(a);
    free(b);
    free(c);
}

/* Each failure names its cause, and no output file appears. */
static void test_refusals(zt_safetensors *st) {
    zt_settings s;
    zt_gen_result res;
    const char *out = tmp("refused.y4m");
    const char *i2v = zt_safetensors_metadata_get(st, "i2v_unipc");
    const char *t2v = zt_safetensors_metadata_get(st, "t2v_euler");

    case_settings(&s, i2v, "i2v");
    set(&s, "output", out);
    set(&s, "width", "48"); /* a multiple of 16, not of Wan2.2's 32 */
    CHECK_FAILS(zt_generate(&s, ZT_GEN_I2V, NULL, &res), ZT_ERR_USAGE, "multiple of 32 (try 64)");
    zt_settings_free(&s);

    case_settings(&s, i2v, "i2v");
    set(&s, "output", out);
    set(&s, "vae", data("vae/wan21/diffusers.safetensors"));
    CHECK_FAILS(zt_generate(&s, ZT_GEN_I2V, NULL, &res), ZT_ERR_INPUT, "48 latent channels");
    zt_settings_free(&s);

    case_settings(&s, t2v, "t2v");
    set(&s, "output", out);
    CHECK_FAILS(zt_generate(&s, ZT_GEN_I2V, NULL, &res), ZT_ERR_USAGE, "--image");
    set(&s, "image", data("pipeline/image.png"));
    CHECK_FAILS(zt_generate(&s, ZT_GEN_I2V, NULL, &res), ZT_ERR_UNSUPPORTED, "Wan2.2 TI2V");
    set(&s, "noise", data("pipeline/t5.safetensors")); /* many tensors, none 'noise' */
    CHECK_FAILS(zt_generate(&s, ZT_GEN_T2V, NULL, &res), ZT_ERR_INPUT, "no tensor 'noise'");
    zt_test_copy_safetensors(cases_path, tmp("wrong_noise.safetensors"), "", 1, keep_noise,
                             (void *)"t2v_unipc"); /* 3 latent frames of 4x6, not 2 of 6x4 */
    set(&s, "noise", tmp("wrong_noise.safetensors"));
    CHECK_FAILS(zt_generate(&s, ZT_GEN_T2V, NULL, &res), ZT_ERR_INPUT, "need [16, 2, 6, 4]");
    zt_settings_free(&s);

    case_settings(&s, t2v, "t2v");
    set(&s, "output", out);
    set(&s, "text_encoder", data("t5/umt5/hf.safetensors")); /* d_model 64, the DiT takes 32 */
    CHECK_FAILS(zt_generate(&s, ZT_GEN_T2V, NULL, &res), ZT_ERR_INPUT, "64-wide text states");
    set(&s, "text_encoder", data("dit/diffusers.safetensors")); /* not a text encoder */
    CHECK(zt_generate(&s, ZT_GEN_T2V, NULL, &res) == ZT_ERR_INPUT, "a DiT as text encoder: %s",
          zt_last_error());
    zt_settings_free(&s);

    case_settings(&s, t2v, "t2v");
    set(&s, "output", out);
    set(&s, "model", "no-such-dit.safetensors");
    set(&s, "download", "https://example.org/wan");
    s.preset = strdup("test");
    CHECK_FAILS(zt_generate(&s, ZT_GEN_T2V, NULL, &res), ZT_ERR_INPUT,
                "download the files from https://example.org/wan");
    CHECK(zt_test_contains(zt_last_error(), "no-such-dit.safetensors"), "%s", zt_last_error());
    zt_settings_free(&s);
    CHECK(access(out, F_OK) != 0, "a refused run left %s", out);
}

static void interrupt_at_step(void *user, int64_t done) {
    (void)user;
    if (done == 2) zt_interrupt();
}

static void test_interrupt(zt_safetensors *st) {
    zt_settings s;
    zt_gen_result res;
    case_settings(&s, zt_safetensors_metadata_get(st, "t2v_euler"), "t2v");
    set(&s, "output", tmp("interrupted.y4m"));
    zt_gen_callbacks cb = {0};
    cb.stage_step = interrupt_at_step;
    CHECK_FAILS(zt_generate(&s, ZT_GEN_T2V, &cb, &res), ZT_ERR_INTERRUPTED, "interrupted");
    zt_interrupt_clear();
    CHECK(access(tmp("interrupted.y4m"), F_OK) != 0, "an interrupted run left its output");
    zt_settings_free(&s);
}

int main(void) {
    snprintf(cases_path, sizeof cases_path, "%s", data("pipeline/cases.safetensors"));
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, cases_path));
    if (!st) return zt_test_finish();
    const char *list = zt_safetensors_metadata_get(st, "cases");
    CHECK(list != NULL, "cases.safetensors has no case list");
    char names[256];
    snprintf(names, sizeof names, "%s", list ? list : "");
    int n = 0;
    for (char *save, *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        test_case(st, name);
        n++;
    }
    CHECK(n == 4, "%d cases", n);
    test_reproducible();
    test_refusals(st);
    test_interrupt(st);
    zt_safetensors_close(st);
    return zt_test_finish();
}
