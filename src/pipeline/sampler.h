/* sampler.h - flow-matching samplers for Wan: UniPC (Wan's default), DPM-Solver++ (2M)
 * and Euler, on host f32 latents.
 *
 * The model predicts velocity v; the clean estimate is x0 = x - sigma * v. Each kind
 * reproduces one diffusers scheduler as diffusers' Wan pipelines configure it, to f32
 * rounding (tests/unit/test_sampler.c holds the measured errors):
 *
 *   UNIPC  UniPCMultistepScheduler(prediction_type="flow_prediction",
 *          use_flow_sigmas=True, flow_shift=s): order 2, bh2, predict x0, corrector
 *          (UniC) on every step after the first, lower order on the last step.
 *          sigmas = shift(linspace(1, 1/1000, N+1)[:-1]), the first lowered by 1e-6
 *          so log(1 - sigma) stays finite; timesteps = int(sigma * 1000).
 *   DPMPP  DPMSolverMultistepScheduler(the same flow options): dpmsolver++, order 2,
 *          midpoint, first order on the first and last steps.
 *          sigmas = shift(linspace(0.999, 0, N+1)[:-1]); timesteps = int(sigma * 1000).
 *   EULER  FlowMatchEulerDiscreteScheduler(shift=s): x += (sigma_next - sigma) * v.
 *          diffusers shifts twice: linspace(1, shift(0.001), N) in sigma, shifted
 *          again, so 4 steps at shift 5 end at sigma 0.024 rather than near 0.2;
 *          timesteps = sigma * 1000 in f32, not integers.
 *
 * shift(s) = shift * s / (1 + (shift - 1) * s); the final sigma is 0 for all kinds.
 *
 * Wan's own FlowUniPCMultistepScheduler (wan/utils/fm_solvers_unipc.py) starts from
 * linspace(0.999, 0, N+1) instead, like DPMPP here: its 4 steps at shift 5 have
 * timesteps 999, 937, 833, 624 where diffusers' UniPC (followed here) has 625. */
#ifndef ZT_SAMPLER_H
#define ZT_SAMPLER_H

#include <stdint.h>

#include "zoetrope.h"

typedef enum zt_sampler_kind {
    ZT_SAMPLER_UNIPC = 0,
    ZT_SAMPLER_DPMPP = 1,
    ZT_SAMPLER_EULER = 2,
} zt_sampler_kind;

#define ZT_SAMPLER_MAX_STEPS 1000 /* the training schedule's length */

typedef struct zt_sampler zt_sampler;

/* A sampler for `steps` steps (1..ZT_SAMPLER_MAX_STEPS) with flow shift `shift` (> 0)
 * over latents of numel f32 values; it keeps the history its multistep update needs
 * (two or three latent-sized buffers). *s is set to NULL on failure; the caller frees
 * it with zt_sampler_free. */
zt_status zt_sampler_init(zt_sampler **s, zt_sampler_kind kind, int steps, double shift,
                          int64_t numel);
/* NULL does nothing. */
void zt_sampler_free(zt_sampler *s);

zt_sampler_kind zt_sampler_get_kind(const zt_sampler *s);
int zt_sampler_steps(const zt_sampler *s);
/* Sigma of step i in 0..steps (i == steps: the final sigma, 0), as the f32 value the
 * update uses; NAN outside that range. */
double zt_sampler_sigma(const zt_sampler *s, int i);
/* The timestep the transformer gets at step i in 0..steps-1 (0..1000 scale, as diffusers'
 * Wan pipelines pass it); NAN outside that range. */
double zt_sampler_timestep(const zt_sampler *s, int i);

/* Step i: x (numel f32) is replaced by the latent at sigma(i + 1), given the model's
 * velocity v at x and timestep(i). Steps run in order 0, 1, ..., steps - 1; calling
 * step 0 again starts a new trajectory. x and v must not overlap. */
zt_status zt_sampler_step(zt_sampler *s, int i, float *x, const float *v);

/* "unipc", "dpm++" (or "dpmpp"), "euler" -> kind; ZT_ERR_USAGE naming the choices. */
zt_status zt_sampler_parse(const char *name, zt_sampler_kind *kind);
/* "unipc", "dpm++", "euler". */
const char *zt_sampler_name(zt_sampler_kind kind);

#endif
