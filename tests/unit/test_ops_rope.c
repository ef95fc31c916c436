/* rope3d on the CPU backend against a float64 transcription of Wan's rope_apply
 * (wan/modules/model.py): head dim pairs split (c - 2(c/3), c/3, c/3) over
 * (frame, row, column), pair i of an n-pair section turning by pos * theta^(-i/n),
 * interleaved pairs, tokens frame-major. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "testlib.h"

static zt_backend *be1, *be3;
static zt_test_rng rng = {2025};

/* Wan's split of c = head_dim / 2 pairs */
static zt_rope_params wan_params(int64_t head_dim, int64_t f, int64_t h, int64_t w) {
    int c = (int)(head_dim / 2);
    zt_rope_params p = {.grid = {f, h, w}, .pairs = {c - 2 * (c / 3), c / 3, c / 3},
                        .theta = 10000.0};
    return p;
}

/* float64 reference: x [b, l, heads, d] in, y out */
static void ref_rope(double *y, const float *x, int64_t b, int64_t heads, int64_t d,
                     const zt_rope_params *p) {
    int64_t l = p->grid[0] * p->grid[1] * p->grid[2];
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t f = 0; f < p->grid[0]; f++)
            for (int64_t r = 0; r < p->grid[1]; r++)
                for (int64_t c = 0; c < p->grid[2]; c++) {
                    int64_t t = bi * l + (f * p->grid[1] + r) * p->grid[2] + c;
                    int64_t pos[3] = {f + p->offset[0], r + p->offset[1], c + p->offset[2]};
                    for (int64_t h = 0; h < heads; h++) {
                        const float *xv = x + (t * heads + h) * d;
                        double *yv = y + (t * heads + h) * d;
                        int64_t pair = 0;
                        for (int s = 0; s < 3; s++) {
                            int n = p->pairs[s];
                            for (int i = 0; i < n; i++, pair++) {
                                double ang = (double)pos[s] * pow(p->theta, -(double)i / n);
                                double re = xv[2 * pair], im = xv[2 * pair + 1];
                                yv[2 * pair] = re * cos(ang) - im * sin(ang);
                                yv[2 * pair + 1] = re * sin(ang) + im * cos(ang);
                            }
                        }
                    }
                }
}

static void run_case(const char *name, int64_t b, int64_t heads, int64_t d,
                     const zt_rope_params *p) {
    int64_t l = p->grid[0] * p->grid[1] * p->grid[2], n = b * l * heads * d;
    float *x = malloc((size_t)n * 4), *x1 = malloc((size_t)n * 4), *x3 = malloc((size_t)n * 4);
    double *ref = malloc((size_t)n * sizeof *ref);
    zt_test_fill_normal(&rng, x, n, 1.0);
    memcpy(x1, x, (size_t)n * 4);
    memcpy(x3, x, (size_t)n * 4);
    zt_tensor t1 = b > 1 ? zt_tensor_new(ZT_F32, x1, b, l, heads, d)
                         : zt_tensor_new(ZT_F32, x1, l, heads, d);
    zt_tensor t3 = t1;
    t3.data = x3;
    CHECK_OK(zt_op_rope3d(be1, &t1, p));
    CHECK_OK(zt_op_rope3d(be3, &t3, p));
    ref_rope(ref, x, b, heads, d, p);
    zt_test_compare(name, x1, ref, n, 1e-5);
    /* one rounding of the float64 result: every element within an ulp or so */
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(x1[i] - ref[i]) / fmax(fabs(ref[i]), 1e-3);
        if (!(e <= worst)) worst = e;
    }
    CHECK(worst < 2.4e-7, "%s: elementwise rel err %g", name, worst);
    CHECK(memcmp(x1, x3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    /* the first token sits at the origin: untouched when there is no offset */
    if (!p->offset[0] && !p->offset[1] && !p->offset[2])
        CHECK(memcmp(x1, x, (size_t)(heads * d) * 4) == 0, "%s: token 0 moved", name);
    free(x);
    free(x1);
    free(x3);
    free(ref);
}

/* A wrong split or pair layout must show up: rotate with a deliberately wrong
 * split and check the reference disagrees (the test can fail). */
static void check_sensitivity(void) {
    zt_rope_params good = wan_params(128, 3, 4, 5), bad = good;
    bad.pairs[0] = 21;
    bad.pairs[1] = 22;
    int64_t n = 60 * 128;
    float *x = malloc((size_t)n * 4);
    double *ref = malloc((size_t)n * sizeof *ref);
    zt_test_fill_normal(&rng, x, n, 1.0);
    ref_rope(ref, x, 1, 1, 128, &good);
    zt_tensor t = zt_tensor_new(ZT_F32, x, 60, 1, 128);
    CHECK_OK(zt_op_rope3d(be1, &t, &bad));
    double mx = 0, err = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(ref[i]));
        err = fmax(err, fabs(x[i] - ref[i]));
    }
    printf("  %-40s max rel err %.3e (must be large)\n", "rope3d with split (21,22,21)", err / mx);
    CHECK(err / mx > 1e-2, "a wrong split went unnoticed (%g)", err / mx);
    free(x);
    free(ref);
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be1, 1));
    CHECK_OK(zt_backend_cpu_init(&be3, 3));
    if (!be1 || !be3) return zt_test_finish();

    /* head dim 128: c = 64 pairs -> 22 frame, 21 row, 21 column */
    zt_rope_params p = wan_params(128, 3, 4, 5);
    CHECK(p.pairs[0] == 22 && p.pairs[1] == 21 && p.pairs[2] == 21, "split %d %d %d", p.pairs[0],
          p.pairs[1], p.pairs[2]);
    run_case("rope3d d128 grid 3x4x5, 2 heads", 1, 2, 128, &p);

    /* 1.3B-like latent grid for 81 frames at 480x832 (21x30x52), narrowed to keep
     * the test short, but with the largest positions kept through offsets */
    p = wan_params(128, 2, 3, 4);
    p.offset[0] = 19;
    p.offset[1] = 27;
    p.offset[2] = 48;
    run_case("rope3d d128 offsets (19,27,48)", 1, 3, 128, &p);

    /* small odd grid, odd section sizes, batch of 2: c = 10 -> 4, 3, 3 */
    p = wan_params(20, 3, 5, 7);
    CHECK(p.pairs[0] == 4 && p.pairs[1] == 3 && p.pairs[2] == 3, "split %d %d %d", p.pairs[0],
          p.pairs[1], p.pairs[2]);
    run_case("rope3d d20 grid 3x5x7, batch 2", 2, 3, 20, &p);

    /* c = 7 -> 3, 2, 2 and single-size grid dims */
    p = wan_params(14, 1, 1, 9);
    p.offset[1] = 5;
    run_case("rope3d d14 grid 1x1x9 offset row 5", 1, 1, 14, &p);

    /* many tokens: several tasks */
    p = wan_params(64, 5, 9, 13);
    run_case("rope3d d64 grid 5x9x13, 4 heads", 1, 4, 64, &p);

    check_sensitivity();

    zt_backend_free(be1);
    zt_backend_free(be3);
    return zt_test_finish();
}
