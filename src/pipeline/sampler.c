/* sampler.c - UniPC, DPM-Solver++ (2M) and Euler for flow matching, matching diffusers.
 *
 * diffusers keeps sigmas as f32 tensors, so the solver coefficients (log-SNR lambda,
 * expm1, ratios) are f32 scalar arithmetic; the schedules are built in f64 (numpy)
 * first. Per-element updates follow diffusers' tensor expressions one rounding at a
 * time, e.g. (sigma_t / sigma_s0) * x - (alpha_t * h_phi_1) * m0, so the trajectories
 * agree to f32 rounding. */
#include "pipeline/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* The build enables -ffp-contract=fast; a fused multiply-add rounds once where torch
 * rounds twice, so contraction stays off in this file. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define TRAIN_STEPS 1000

struct zt_sampler {
    zt_sampler_kind kind;
    int steps;
    int64_t numel;
    float *sigmas;     /* [steps + 1], the last 0 */
    double *timesteps; /* [steps] */
    /* history: the x0 estimates of the two previous steps (UniPC reads both in its
     * corrector, DPM-Solver++ the last one) and UniPC's latent before its last
     * predictor */
    float *m_prev;  /* x0 of step i - 1 */
    float *m_prev2; /* x0 of step i - 2 */
    float *last_x;
    int next;       /* the step expected next */
    int prev_order; /* UniPC: the predictor order of step i - 1 (the corrector's) */
};

const char *zt_sampler_name(zt_sampler_kind kind) {
    switch (kind) {
    case ZT_SAMPLER_UNIPC:
        return "unipc";
    case ZT_SAMPLER_DPMPP:
        return "dpm++";
    case ZT_SAMPLER_EULER:
        return "euler";
    }
    return "?";
}

zt_status zt_sampler_parse(const char *name, zt_sampler_kind *kind) {
    if (!name) return zt_fail(ZT_ERR_USAGE, "sampler: no name given (unipc, dpm++, euler)");
    if (strcmp(name, "unipc") == 0)
        *kind = ZT_SAMPLER_UNIPC;
    else if (strcmp(name, "dpm++") == 0 || strcmp(name, "dpmpp") == 0)
        *kind = ZT_SAMPLER_DPMPP;
    else if (strcmp(name, "euler") == 0)
        *kind = ZT_SAMPLER_EULER;
    else
        return zt_fail(ZT_ERR_USAGE, "unknown sampler '%s' (unipc, dpm++, euler)", name);
    return ZT_OK;
}

/* numpy.linspace(start, stop, num)[i]: i * step + start, the endpoint set exactly. */
static double linspace_at(double start, double stop, int num, int i) {
    if (num > 1 && i == num - 1) return stop;
    if (num <= 1) return start;
    double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

static double shift_f64(double shift, double s) {
    return shift * s / (1.0 + (shift - 1.0) * s);
}

/* UniPCMultistepScheduler.set_timesteps with use_flow_sigmas. */
static void schedule_unipc(zt_sampler *s, double shift) {
    int n = s->steps;
    for (int i = 0; i < n; i++) {
        double sig = shift_f64(shift, linspace_at(1.0, 1.0 / TRAIN_STEPS, n + 1, i));
        /* diffusers keeps log(1 - sigma) finite this way */
        if (i == 0 && fabs(sig - 1.0) < 1e-6) sig -= 1e-6;
        s->timesteps[i] = (double)(int64_t)(sig * TRAIN_STEPS);
        s->sigmas[i] = (float)sig;
    }
}

/* DPMSolverMultistepScheduler.set_timesteps with use_flow_sigmas: 1 - linspace(1, 1/1000)
 * shifted and reversed, without its trailing 0. */
static void schedule_dpmpp(zt_sampler *s, double shift) {
    int n = s->steps;
    for (int i = 0; i < n; i++) {
        double sig = 1.0 - linspace_at(1.0, 1.0 / TRAIN_STEPS, n + 1, n - i);
        sig = shift_f64(shift, sig);
        s->timesteps[i] = (double)(int64_t)(sig * TRAIN_STEPS);
        s->sigmas[i] = (float)sig;
    }
}

/* FlowMatchEulerDiscreteScheduler: __init__ shifts its 1000 training sigmas in f32 and
 * keeps the smallest as sigma_min; set_timesteps spaces timesteps linearly from
 * sigma_max to sigma_min and shifts the result again (in f64). */
static void schedule_euler(zt_sampler *s, double shift) {
    int n = s->steps;
    float sf = (float)shift, sm1 = (float)(shift - 1.0);
    float lo = 1.0f / (float)TRAIN_STEPS;
    float sig_min = (sf * lo) / (1.0f + sm1 * lo);
    float sig_max = (sf * 1.0f) / (1.0f + sm1 * 1.0f);
    double t_max = (double)sig_max * TRAIN_STEPS, t_min = (double)sig_min * TRAIN_STEPS;
    for (int i = 0; i < n; i++) {
        double sig = linspace_at(t_max, t_min, n, i) / TRAIN_STEPS;
        s->sigmas[i] = (float)shift_f64(shift, sig);
        s->timesteps[i] = (double)(s->sigmas[i] * (float)TRAIN_STEPS);
    }
}

zt_status zt_sampler_init(zt_sampler **out, zt_sampler_kind kind, int steps, double shift,
                          int64_t numel) {
    *out = NULL;
    if (kind != ZT_SAMPLER_UNIPC && kind != ZT_SAMPLER_DPMPP && kind != ZT_SAMPLER_EULER)
        return zt_fail(ZT_ERR_USAGE, "sampler: unknown kind %d", (int)kind);
    if (steps < 1 || steps > ZT_SAMPLER_MAX_STEPS)
        return zt_fail(ZT_ERR_USAGE, "sampler: %d steps, want 1..%d", steps, ZT_SAMPLER_MAX_STEPS);
    if (!(shift > 0.0) || !isfinite(shift))
        return zt_fail(ZT_ERR_USAGE, "sampler: shift %g, want a finite value > 0", shift);
    if (numel < 1 || (uint64_t)numel > SIZE_MAX / sizeof(float))
        return zt_fail(ZT_ERR_USAGE, "sampler: latent of %lld values", (long long)numel);
    zt_sampler *s = calloc(1, sizeof *s);
    if (!s) return zt_fail(ZT_ERR_NOMEM, "sampler: out of memory");
    s->kind = kind;
    s->steps = steps;
    s->numel = numel;
    size_t nb = (size_t)numel * sizeof(float);
    s->sigmas = calloc((size_t)steps + 1, sizeof *s->sigmas);
    s->timesteps = calloc((size_t)steps, sizeof *s->timesteps);
    int ok = s->sigmas && s->timesteps;
    if (ok && kind != ZT_SAMPLER_EULER) ok = (s->m_prev = malloc(nb)) != NULL;
    if (ok && kind == ZT_SAMPLER_UNIPC)
        ok = (s->m_prev2 = malloc(nb)) != NULL && (s->last_x = malloc(nb)) != NULL;
    if (!ok) {
        zt_sampler_free(s);
        return zt_fail(ZT_ERR_NOMEM, "sampler: out of memory for %lld-value history",
                       (long long)numel);
    }
    if (kind == ZT_SAMPLER_UNIPC)
        schedule_unipc(s, shift);
    else if (kind == ZT_SAMPLER_DPMPP)
        schedule_dpmpp(s, shift);
    else
        schedule_euler(s, shift);
    s->sigmas[steps] = 0.0f;
    *out = s;
    return ZT_OK;
}

void zt_sampler_free(zt_sampler *s) {
    if (!s) return;
    free(s->sigmas);
    free(s->timesteps);
    free(s->m_prev);
    free(s->m_prev2);
    free(s->last_x);
    free(s);
}

zt_sampler_kind zt_sampler_get_kind(const zt_sampler *s) {
    return s->kind;
}
int zt_sampler_steps(const zt_sampler *s) {
    return s->steps;
}

double zt_sampler_sigma(const zt_sampler *s, int i) {
    return i >= 0 && i <= s->steps ? (double)s->sigmas[i] : NAN;
}

double zt_sampler_timestep(const zt_sampler *s, int i) {
    return i >= 0 && i < s->steps ? s->timesteps[i] : NAN;
}

/* Flow log-SNR log(alpha) - log(sigma) with alpha = 1 - sigma, in f32 as diffusers;
 * +inf at sigma 0. */
static float lambda_of(float sigma) {
    return logf(1.0f - sigma) - logf(sigma);
}

/* The B(h) coefficients UniPC shares between predictor and corrector (bh2, x0
 * prediction), for the step from sigma_s0 to sigma_t. */
typedef struct unipc_coef {
    float cx;   /* sigma_t / sigma_s0 */
    float cm;   /* alpha_t * h_phi_1 */
    float cb;   /* alpha_t * B_h */
    float b[2]; /* right-hand side of the order-2 system */
    float h;
} unipc_coef;

static unipc_coef unipc_coefs(float sigma_t, float sigma_s0) {
    unipc_coef c;
    float alpha_t = 1.0f - sigma_t;
    c.h = lambda_of(sigma_t) - lambda_of(sigma_s0);
    float hh = -c.h;
    float h_phi_1 = expm1f(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    float b_h = expm1f(hh);
    c.b[0] = (h_phi_k * 1.0f) / b_h;
    h_phi_k = h_phi_k / hh - 0.5f;
    c.b[1] = (h_phi_k * 2.0f) / b_h;
    c.cx = sigma_t / sigma_s0;
    c.cm = alpha_t * h_phi_1;
    c.cb = alpha_t * b_h;
    return c;
}

static void step_unipc(zt_sampler *s, int i, float *x, const float *v) {
    const float *sg = s->sigmas;
    int64_t n = s->numel;
    float sigma = sg[i];
    float *m0 = s->m_prev, *m1 = s->m_prev2;

    /* UniC: correct the previous predictor's result with this step's x0, using the
     * previous step's order */
    int corrector = i > 0;
    unipc_coef cc = {0};
    float rk_c = 1.0f, rho0 = 0.0f, rho_last = 0.5f;
    if (corrector) {
        cc = unipc_coefs(sg[i], sg[i - 1]);
        if (s->prev_order == 2) {
            rk_c = (lambda_of(sg[i - 2]) - lambda_of(sg[i - 1])) / cc.h;
            /* torch.linalg.solve([[1, 1], [rk, 1]], b) in f32; solved here in f64 and
             * rounded, which can differ from LAPACK's f32 LU by an ulp */
            double det = 1.0 - (double)rk_c;
            rho0 = (float)(((double)cc.b[0] - (double)cc.b[1]) / det);
            rho_last = (float)(((double)cc.b[1] - (double)rk_c * cc.b[0]) / det);
        }
    }

    /* UniP: orders 1 on the first and (lower_order_final) last step, else 2 */
    int order = (i == 0 || i == s->steps - 1) ? 1 : 2;
    unipc_coef pc = unipc_coefs(sg[i + 1], sigma);
    float rk_p = 1.0f;
    if (order == 2) rk_p = (lambda_of(sg[i - 1]) - lambda_of(sigma)) / pc.h;

    for (int64_t e = 0; e < n; e++) {
        float x0 = x[e] - sigma * v[e];
        float xe = x[e];
        if (corrector) {
            float xt = cc.cx * s->last_x[e] - cc.cm * m0[e];
            float corr = s->prev_order == 2 ? rho0 * ((m1[e] - m0[e]) / rk_c) : 0.0f;
            float d1t = x0 - m0[e];
            xe = xt - cc.cb * (corr + rho_last * d1t);
        }
        s->last_x[e] = xe;
        float xt = pc.cx * xe - pc.cm * x0;
        if (order == 2) xt = xt - pc.cb * (0.5f * ((m0[e] - x0) / rk_p));
        x[e] = xt;
        /* the history moves one step: x0 of i - 1 becomes i - 2 */
        m1[e] = m0[e];
        m0[e] = x0;
    }
    s->prev_order = order;
}

static void step_dpmpp(zt_sampler *s, int i, float *x, const float *v) {
    const float *sg = s->sigmas;
    int64_t n = s->numel;
    float sigma_t = sg[i + 1], sigma_s0 = sg[i];
    float alpha_t = 1.0f - sigma_t;
    float lambda_t = lambda_of(sigma_t), lambda_s0 = lambda_of(sigma_s0);
    float h = lambda_t - lambda_s0;
    float cx = sigma_t / sigma_s0;
    float c = alpha_t * (expf(-h) - 1.0f);
    /* first order on the first step and, with a final sigma of 0, on the last */
    int order = (i == 0 || i == s->steps - 1) ? 1 : 2;
    float *m1 = s->m_prev;
    if (order == 1) {
        for (int64_t e = 0; e < n; e++) {
            float x0 = x[e] - sigma_s0 * v[e];
            x[e] = cx * x[e] - c * x0;
            m1[e] = x0;
        }
        return;
    }
    float h0 = lambda_s0 - lambda_of(sg[i - 1]);
    float r0 = h0 / h;
    float inv_r0 = 1.0f / r0;
    float c_half = 0.5f * c;
    for (int64_t e = 0; e < n; e++) {
        float x0 = x[e] - sigma_s0 * v[e];
        float d1 = inv_r0 * (x0 - m1[e]);
        x[e] = (cx * x[e] - c * x0) - c_half * d1;
        m1[e] = x0;
    }
}

static void step_euler(zt_sampler *s, int i, float *x, const float *v) {
    float dt = s->sigmas[i + 1] - s->sigmas[i];
    for (int64_t e = 0; e < s->numel; e++) x[e] = x[e] + dt * v[e];
}

zt_status zt_sampler_step(zt_sampler *s, int i, float *x, const float *v) {
    if (i < 0 || i >= s->steps)
        return zt_fail(ZT_ERR_USAGE, "sampler: step %d outside 0..%d", i, s->steps - 1);
    if (i != 0 && i != s->next)
        return zt_fail(ZT_ERR_USAGE,
                       "sampler: step %d called, step %d expected (steps run in order)", i,
                       s->next);
    if (s->kind == ZT_SAMPLER_UNIPC)
        step_unipc(s, i, x, v);
    else if (s->kind == ZT_SAMPLER_DPMPP)
        step_dpmpp(s, i, x, v);
    else
        step_euler(s, i, x, v);
    s->next = i + 1;
    return ZT_OK;
}
