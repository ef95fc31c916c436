/* test_sampler.c - UniPC, DPM-Solver++ and Euler against diffusers' schedulers.
 *
 * Fixtures (tools/sampler/make_fixtures.py): per case (kind, steps, shift) diffusers'
 * sigmas, the timesteps it feeds the model and the latent after every step, for a
 * 120-value latent driven by an analytic velocity both sides compute identically. The
 * C run feeds its own latents back (a whole trajectory, errors compound), and every
 * step must stay within TOL_LATENT of diffusers (max abs error / max abs value). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "pipeline/sampler.h"
#include "testlib.h"

/* the model's arithmetic must round like Python's: no fused multiply-add */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define TOL_LATENT 1e-5
#define TOL_SIGMA  1e-6
/* the fixture's velocity: v = C * sin(A * x + B * t / 1000) */
#define MODEL_A 0.8
#define MODEL_B 3.0
#define MODEL_C 1.1

static void model(const float *x, double t, float *v, int64_t n) {
    double tt = t / 1000.0;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(MODEL_C * sin(MODEL_A * (double)x[i] + MODEL_B * tt));
}

static const zt_st_entry *entry(zt_safetensors *st, const char *name) {
    const zt_st_entry *e = zt_safetensors_find(st, name);
    CHECK(e != NULL, "%s lacks %s", zt_safetensors_path(st), name);
    return e;
}

static float *read_f32(zt_safetensors *st, const char *name, int64_t *n) {
    const zt_st_entry *e = entry(st, name);
    if (!e) return NULL;
    float *f = zt_test_alloc((size_t)e->numel * sizeof *f);
    CHECK_OK(zt_safetensors_read_f32(st, e, f, e->numel));
    *n = e->numel;
    return f;
}

static double *read_f64(zt_safetensors *st, const char *name, int64_t *n) {
    const zt_st_entry *e = entry(st, name);
    if (!e) return NULL;
    CHECK(e->dtype == ZT_F64, "%s is not f64", name);
    if (e->dtype != ZT_F64) return NULL;
    double *d = zt_test_alloc((size_t)e->numel * sizeof *d);
    memcpy(d, zt_safetensors_data(st, e), (size_t)e->numel * sizeof *d);
    *n = e->numel;
    return d;
}

/* One case "<kind>_<steps>_<shift>": schedule and whole trajectory. */
static void run_case(zt_safetensors *st, const char *name, const float *x_init, int64_t numel) {
    char kind_s[16] = {0};
    int steps = 0;
    double shift = 0;
    const char *u1 = strchr(name, '_');
    CHECK(u1 && (size_t)(u1 - name) < sizeof kind_s, "bad case name %s", name);
    if (!u1 || (size_t)(u1 - name) >= sizeof kind_s) return;
    memcpy(kind_s, name, (size_t)(u1 - name));
    CHECK(sscanf(u1 + 1, "%d_%lf", &steps, &shift) == 2, "bad case name %s", name);
    zt_sampler_kind kind;
    CHECK_OK(zt_sampler_parse(kind_s, &kind));

    char key[96];
    int64_t ns = 0, nt = 0, nl = 0;
    snprintf(key, sizeof key, "%s.sigmas", name);
    float *sig_ref = read_f32(st, key, &ns);
    snprintf(key, sizeof key, "%s.timesteps", name);
    double *ts_ref = read_f64(st, key, &nt);
    snprintf(key, sizeof key, "%s.latents", name);
    float *lat_ref = read_f32(st, key, &nl);
    if (!sig_ref || !ts_ref || !lat_ref) return;
    CHECK(ns == steps + 1 && nt == steps && nl == (int64_t)steps * numel, "%s: fixture sizes",
          name);
    if (ns != steps + 1 || nt != steps || nl != (int64_t)steps * numel) return;

    zt_sampler *s = NULL;
    CHECK_OK(zt_sampler_init(&s, kind, steps, shift, numel));
    if (!s) return;
    CHECK(zt_sampler_steps(s) == steps, "%s: steps %d", name, zt_sampler_steps(s));

    double sig_err = 0;
    int ts_bad = 0;
    for (int i = 0; i <= steps; i++) {
        double got = zt_sampler_sigma(s, i), ref = sig_ref[i];
        double err = fabs(got - ref) / fmax(fabs(ref), 1e-30);
        if (ref == 0.0) err = fabs(got);
        sig_err = fmax(sig_err, err);
        if (i < steps && zt_sampler_timestep(s, i) != ts_ref[i]) {
            if (ts_bad++ < 3)
                fprintf(stderr, "%s: timestep %d is %.9g, diffusers %.9g\n", name, i,
                        zt_sampler_timestep(s, i), ts_ref[i]);
        }
    }
    CHECK(sig_err <= TOL_SIGMA, "%s: sigma rel err %.3g", name, sig_err);
    CHECK(ts_bad == 0, "%s: %d timesteps differ", name, ts_bad);

    float *x = zt_test_alloc((size_t)numel * sizeof *x);
    float *v = zt_test_alloc((size_t)numel * sizeof *v);
    memcpy(x, x_init, (size_t)numel * sizeof *x);
    double worst = 0;
    int worst_step = 0;
    for (int i = 0; i < steps; i++) {
        model(x, zt_sampler_timestep(s, i), v, numel);
        CHECK_OK(zt_sampler_step(s, i, x, v));
        const float *ref = lat_ref + (int64_t)i * numel;
        double dmax = 0, rmax = 1e-30;
        for (int64_t e = 0; e < numel; e++) {
            dmax = fmax(dmax, fabs((double)x[e] - ref[e]));
            rmax = fmax(rmax, fabs((double)ref[e]));
        }
        if (dmax / rmax > worst) worst = dmax / rmax, worst_step = i;
    }
    printf("%-12s sigma rel err %.2e, timesteps %s, latent max rel err %.2e (step %d, tol %g)\n",
           name, sig_err, ts_bad ? "DIFFER" : "equal", worst, worst_step, TOL_LATENT);
    CHECK(worst <= TOL_LATENT, "%s: latent rel err %.3g at step %d", name, worst, worst_step);
    zt_sampler_free(s);
}

static void test_fixtures(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/sampler/cases.safetensors", ZT_TEST_DATA);
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, path));
    if (!st) return;
    int64_t numel = 0;
    float *x_init = read_f32(st, "x_init", &numel);
    const char *cases = zt_safetensors_metadata_get(st, "cases");
    CHECK(cases != NULL, "%s: no cases metadata", path);
    if (x_init && cases) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", cases);
        int count = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save), count++)
            run_case(st, tok, x_init, numel);
        CHECK(count >= 10, "only %d cases", count);
    }
    zt_safetensors_close(st);
}

static void expect_timesteps(zt_sampler_kind kind, int steps, double shift, const double *want) {
    zt_sampler *s = NULL;
    CHECK_OK(zt_sampler_init(&s, kind, steps, shift, 1));
    if (!s) return;
    for (int i = 0; i < steps; i++)
        CHECK(zt_sampler_timestep(s, i) == want[i],
              "%s %d steps shift %g: timestep %d is %g, want %g", zt_sampler_name(kind), steps,
              shift, i, zt_sampler_timestep(s, i), want[i]);
    CHECK(zt_sampler_sigma(s, steps) == 0.0, "final sigma %g", zt_sampler_sigma(s, steps));
    CHECK(isnan(zt_sampler_sigma(s, steps + 1)) && isnan(zt_sampler_timestep(s, steps)),
          "out-of-range index not NAN");
    zt_sampler_free(s);
}

/* WAN_FACTS' example (4 steps at shift 5: 999, 937, 833, 624) is Wan's own solver,
 * which starts from sigma 0.999; diffusers' UniPC starts from 1 (less 1e-6), so its
 * last timestep is 625. diffusers' DPM-Solver++ starts from 0.999 and gives 624. */
static void test_wan_example(void) {
    static const double unipc[4] = {999, 937, 833, 625};
    static const double dpmpp[4] = {999, 937, 833, 624};
    expect_timesteps(ZT_SAMPLER_UNIPC, 4, 5.0, unipc);
    expect_timesteps(ZT_SAMPLER_DPMPP, 4, 5.0, dpmpp);
}

static void test_api(void) {
    zt_sampler_kind k;
    CHECK_OK(zt_sampler_parse("unipc", &k));
    CHECK(k == ZT_SAMPLER_UNIPC, "unipc -> %d", (int)k);
    CHECK_OK(zt_sampler_parse("dpm++", &k));
    CHECK(k == ZT_SAMPLER_DPMPP, "dpm++ -> %d", (int)k);
    CHECK_OK(zt_sampler_parse("euler", &k));
    CHECK(k == ZT_SAMPLER_EULER, "euler -> %d", (int)k);
    CHECK_FAILS(zt_sampler_parse("ddim", &k), ZT_ERR_USAGE, "unipc, dpm++, euler");

    zt_sampler *s = (zt_sampler *)&k;
    CHECK_FAILS(zt_sampler_init(&s, ZT_SAMPLER_UNIPC, 0, 5.0, 4), ZT_ERR_USAGE, "0 steps");
    CHECK(s == NULL, "init failure left a sampler");
    CHECK_FAILS(zt_sampler_init(&s, ZT_SAMPLER_UNIPC, 4, 0.0, 4), ZT_ERR_USAGE, "shift");
    CHECK_FAILS(zt_sampler_init(&s, ZT_SAMPLER_UNIPC, 4, NAN, 4), ZT_ERR_USAGE, "shift");
    CHECK_FAILS(zt_sampler_init(&s, ZT_SAMPLER_EULER, 4, 5.0, 0), ZT_ERR_USAGE, "latent");
    CHECK_FAILS(zt_sampler_init(&s, (zt_sampler_kind)7, 4, 5.0, 4), ZT_ERR_USAGE, "kind");
    zt_sampler_free(NULL);

    float x[4] = {1, 2, 3, 4}, v[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    CHECK_OK(zt_sampler_init(&s, ZT_SAMPLER_UNIPC, 3, 5.0, 4));
    if (!s) return;
    CHECK_FAILS(zt_sampler_step(s, 1, x, v), ZT_ERR_USAGE, "step 0 expected");
    CHECK_OK(zt_sampler_step(s, 0, x, v));
    CHECK_FAILS(zt_sampler_step(s, 2, x, v), ZT_ERR_USAGE, "step 1 expected");
    CHECK_FAILS(zt_sampler_step(s, 3, x, v), ZT_ERR_USAGE, "outside");
    CHECK_OK(zt_sampler_step(s, 1, x, v));
    CHECK_OK(zt_sampler_step(s, 0, x, v)); /* a new trajectory */
    zt_sampler_free(s);

    /* a constant velocity moves every sampler straight along it: x_end = x - sigma0 * v */
    for (int kind = 0; kind < 3; kind++) {
        CHECK_OK(zt_sampler_init(&s, (zt_sampler_kind)kind, 7, 3.0, 4));
        if (!s) continue;
        float y[4] = {1, 2, 3, 4};
        double s0 = zt_sampler_sigma(s, 0);
        for (int i = 0; i < 7; i++) CHECK_OK(zt_sampler_step(s, i, y, v));
        for (int e = 0; e < 4; e++)
            CHECK(fabs(y[e] - ((e + 1) - s0 * 0.5)) < 1e-5, "%s: constant v ends at %g, want %g",
                  zt_sampler_name((zt_sampler_kind)kind), y[e], (e + 1) - s0 * 0.5);
        zt_sampler_free(s);
    }
}

int main(void) {
    test_api();
    test_wan_example();
    test_fixtures();
    return zt_test_finish();
}
