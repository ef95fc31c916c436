/* 3-D rotary position embedding, as Wan's rope_apply does it.
 *
 * The head dim's pairs are split into frame, row and column sections; a token at
 * grid position (f, h, w) turns the pairs of each section by its own coordinate.
 * The reference works in float64 (angles, cos/sin and the complex product), so this
 * does too and rounds once at the end. cos/sin depend only on (section, coordinate,
 * pair), so they are tabulated once per call: sum of grid[s] * pairs[s] entries. */
#include <math.h>
#include <stdlib.h>

#include "../../core/status.h"
#include "cpu.h"

#define ROPE_TASK_ELEMS 16384

typedef struct rope_job {
    float *x;
    int64_t tokens, l, h, d; /* tokens = batch * l */
    int64_t grid[3];
    int pairs[3];
    const double *cos[3], *sin[3]; /* section s: [grid[s], pairs[s]] */
    int64_t tokens_per_task;
} rope_job;

/* pairs (v[2i], v[2i+1]) times (c[i] + i s[i]) */
static void rotate(float *v, const double *c, const double *s, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = (float)(a * c[i] - b * s[i]);
        v[2 * i + 1] = (float)(a * s[i] + b * c[i]);
    }
}

static void rope_task(void *ctx, int64_t task, int thread) {
    const rope_job *j = ctx;
    int64_t t0 = task * j->tokens_per_task;
    int64_t t1 = t0 + j->tokens_per_task < j->tokens ? t0 + j->tokens_per_task : j->tokens;
    int64_t plane = j->grid[1] * j->grid[2];
    for (int64_t t = t0; t < t1; t++) {
        int64_t l = t % j->l;
        int64_t pos[3] = {l / plane, (l % plane) / j->grid[2], l % j->grid[2]};
        const double *c[3], *s[3];
        for (int k = 0; k < 3; k++) {
            c[k] = j->cos[k] + pos[k] * j->pairs[k];
            s[k] = j->sin[k] + pos[k] * j->pairs[k];
        }
        for (int64_t h = 0; h < j->h; h++) {
            float *v = j->x + (t * j->h + h) * j->d;
            for (int k = 0; k < 3; k++) {
                rotate(v, c[k], s[k], j->pairs[k]);
                v += 2 * j->pairs[k];
            }
        }
    }
}

zt_status zt_cpu_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p) {
    int nd = x->ndim;
    rope_job j = {.x = x->data, .l = x->shape[nd - 3], .h = x->shape[nd - 2],
                  .d = x->shape[nd - 1]};
    j.tokens = (nd == 4 ? x->shape[0] : 1) * j.l;
    if (j.tokens == 0 || j.h == 0 || j.d == 0) return ZT_OK;

    int64_t entries = 0;
    for (int k = 0; k < 3; k++) {
        j.grid[k] = p->grid[k];
        j.pairs[k] = p->pairs[k];
        entries += p->grid[k] * p->pairs[k];
    }
    double *tab = malloc((size_t)(2 * entries + 1) * sizeof *tab);
    if (!tab)
        return zt_fail(ZT_ERR_NOMEM, "rope3d: cannot hold %lld cos/sin entries",
                       (long long)entries);
    double *next = tab;
    for (int k = 0; k < 3; k++) {
        int n = p->pairs[k];
        double *c = next, *s = next + p->grid[k] * n;
        next += 2 * p->grid[k] * n;
        j.cos[k] = c;
        j.sin[k] = s;
        for (int i = 0; i < n; i++) {
            /* as rope_params: 1 / theta^(2i / dim) with dim = 2n, in float64 */
            double freq = 1.0 / pow(p->theta, (double)(2 * i) / (double)(2 * n));
            for (int64_t g = 0; g < p->grid[k]; g++) {
                double a = (double)(g + p->offset[k]) * freq;
                c[g * n + i] = cos(a);
                s[g * n + i] = sin(a);
            }
        }
    }

    int64_t per_token = j.h * j.d;
    j.tokens_per_task = per_token >= ROPE_TASK_ELEMS ? 1 : ROPE_TASK_ELEMS / per_token;
    zt_pool_run(zt_cpu_pool(be), rope_task, &j,
                (j.tokens + j.tokens_per_task - 1) / j.tokens_per_task);
    free(tab);
    return ZT_OK;
}
