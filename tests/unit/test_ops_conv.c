/* test_ops_conv.c - CPU conv2d and conv3d against a float64 direct convolution.
 *
 * Cases cover every way the backend builds its GEMMs (1x1 convs and time convs read in
 * place, per-tap GEMMs over a padded window, im2col for strides and few channels),
 * odd frame sizes, strides 1 and 2, asymmetric and causal padding, even kernels, time
 * taps that fall wholly in the padding, batch 2, bias or none, f32/f16/bf16 weights,
 * frames cut into several row tiles and rows cut into pieces; then bit-identical
 * results for 1 and 3 threads and a workspace that stays bounded on a wide frame. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "testlib.h"

typedef struct conv_case {
    const char *name;
    int dims; /* 2 or 3 */
    int64_t n, cin, cout, t, h, w; /* t is 1 for conv2d */
    int kt, kh, kw;                /* kt is 1 for conv2d */
    zt_conv_params p;              /* conv2d uses entries 1 and 2 */
    int bias;
    zt_dtype wdtype, bdtype;
} conv_case;

/* (t, h, w) output sizes of a case */
static void out_dims(const conv_case *c, int64_t *to, int64_t *ho, int64_t *wo) {
    *to = c->dims == 3 ? zt_conv_out_size(c->t, c->kt, c->p.stride[0], c->p.pad[0][0],
                                          c->p.pad[0][1])
                       : 1;
    *ho = zt_conv_out_size(c->h, c->kh, c->p.stride[1], c->p.pad[1][0], c->p.pad[1][1]);
    *wo = zt_conv_out_size(c->w, c->kw, c->p.stride[2], c->p.pad[2][0], c->p.pad[2][1]);
}

/* Direct convolution in float64; conv2d is the t = kt = 1 case. */
static void ref_conv(double *y, const conv_case *c, const float *x, const float *w,
                     const float *b) {
    int64_t to, ho, wo;
    out_dims(c, &to, &ho, &wo);
    int st = c->dims == 3 ? c->p.stride[0] : 1, pt = c->dims == 3 ? c->p.pad[0][0] : 0;
    int sh = c->p.stride[1], sw = c->p.stride[2], ph = c->p.pad[1][0], pw = c->p.pad[2][0];
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t co = 0; co < c->cout; co++)
            for (int64_t ot = 0; ot < to; ot++)
                for (int64_t oh = 0; oh < ho; oh++)
                    for (int64_t ow = 0; ow < wo; ow++) {
                        double s = b ? b[co] : 0.0;
                        for (int64_t ci = 0; ci < c->cin; ci++)
                            for (int dt = 0; dt < c->kt; dt++) {
                                int64_t it = ot * st + dt - pt;
                                if (it < 0 || it >= c->t) continue;
                                for (int dh = 0; dh < c->kh; dh++) {
                                    int64_t ih = oh * sh + dh - ph;
                                    if (ih < 0 || ih >= c->h) continue;
                                    const float *xr =
                                        x + (((n * c->cin + ci) * c->t + it) * c->h + ih) * c->w;
                                    const float *wr =
                                        w + (((co * c->cin + ci) * c->kt + dt) * c->kh + dh) * c->kw;
                                    for (int dw = 0; dw < c->kw; dw++) {
                                        int64_t iw = ow * sw + dw - pw;
                                        if (iw >= 0 && iw < c->w) s += (double)xr[iw] * wr[dw];
                                    }
                                }
                            }
                        y[(((n * c->cout + co) * to + ot) * ho + oh) * wo + ow] = s;
                    }
}

/* Tensors of one case: inputs drawn from the case name's seed, output poisoned with
 * NaN so that an element the kernel skips fails the comparison. */
typedef struct conv_data {
    zt_tensor x, w, b, y;
    float *wf; /* weights as the kernel sees them (dequantized when not f32) */
    float *w32; /* the f32 weights before any rounding */
    float *bf;  /* bias as the kernel sees it */
    int64_t ny;
} conv_data;

static uint64_t name_seed(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void data_init(conv_data *d, const conv_case *c) {
    memset(d, 0, sizeof *d);
    zt_test_rng rng = {name_seed(c->name)};
    int64_t to, ho, wo;
    out_dims(c, &to, &ho, &wo);
    int64_t nx = c->n * c->cin * c->t * c->h * c->w;
    int64_t nw = c->cout * c->cin * c->kt * c->kh * c->kw;
    d->ny = c->n * c->cout * to * ho * wo;

    float *x = malloc((size_t)nx * sizeof(float));
    d->w32 = malloc((size_t)nw * sizeof(float));
    d->wf = malloc((size_t)nw * sizeof(float));
    void *wq = malloc((size_t)nw * zt_dtype_size(c->wdtype));
    float *y = malloc((size_t)d->ny * sizeof(float));
    zt_test_fill_normal(&rng, x, nx, 1.0);
    zt_test_fill_normal(&rng, d->w32, nw, 1.0 / sqrt((double)(nw / c->cout)));
    zt_convert_from_f32(wq, c->wdtype, d->w32, nw);
    zt_convert_to_f32(d->wf, wq, c->wdtype, nw);
    for (int64_t i = 0; i < d->ny; i++) y[i] = NAN;

    if (c->dims == 3) {
        d->x = zt_tensor_new(ZT_F32, x, c->n, c->cin, c->t, c->h, c->w);
        d->w = zt_tensor_new(c->wdtype, wq, c->cout, c->cin, c->kt, c->kh, c->kw);
        d->y = zt_tensor_new(ZT_F32, y, c->n, c->cout, to, ho, wo);
    } else {
        d->x = zt_tensor_new(ZT_F32, x, c->n, c->cin, c->h, c->w);
        d->w = zt_tensor_new(c->wdtype, wq, c->cout, c->cin, c->kh, c->kw);
        d->y = zt_tensor_new(ZT_F32, y, c->n, c->cout, ho, wo);
    }
    if (c->bias) {
        float *b32 = malloc((size_t)c->cout * sizeof(float));
        void *bq = malloc((size_t)c->cout * zt_dtype_size(c->bdtype));
        d->bf = malloc((size_t)c->cout * sizeof(float));
        zt_test_fill_normal(&rng, b32, c->cout, 0.5);
        zt_convert_from_f32(bq, c->bdtype, b32, c->cout);
        zt_convert_to_f32(d->bf, bq, c->bdtype, c->cout);
        free(b32);
        d->b = zt_tensor_new(c->bdtype, bq, c->cout);
    }
}

static void data_free(conv_data *d) {
    free(d->x.data);
    free(d->w.data);
    free(d->y.data);
    free(d->b.data);
    free(d->wf);
    free(d->w32);
    free(d->bf);
}

static zt_status run_conv(zt_backend *be, const conv_case *c, conv_data *d) {
    const zt_tensor *b = c->bias ? &d->b : NULL;
    return c->dims == 3 ? zt_op_conv3d(be, &d->y, &d->x, &d->w, b, &c->p)
                        : zt_op_conv2d(be, &d->y, &d->x, &d->w, b, &c->p);
}

/* Runs a case and compares it with the reference from the weights the kernel saw;
 * for rounded weights also with the reference from the f32 originals. Returns the
 * max rel err against the first. */
static double check_case(zt_backend *be, const conv_case *c) {
    conv_data d;
    data_init(&d, c);
    double err = INFINITY;
    zt_status s = run_conv(be, c, &d);
    CHECK(s == ZT_OK, "%s: %s", c->name, zt_last_error());
    if (s == ZT_OK) {
        double *ref = malloc((size_t)d.ny * sizeof(double));
        ref_conv(ref, c, d.x.data, d.wf, d.bf);
        err = zt_test_compare(c->name, d.y.data, ref, d.ny, 1e-5);
        if (c->wdtype != ZT_F32) {
            char name[128];
            snprintf(name, sizeof name, "%s vs f32 weights", c->name);
            ref_conv(ref, c, d.x.data, d.w32, d.bf);
            zt_test_compare(name, d.y.data, ref, d.ny, 1e-2);
        }
        free(ref);
    }
    data_free(&d);
    return err;
}

#define P2(sh, sw, ph0, ph1, pw0, pw1)                                                      \
    {.stride = {1, sh, sw}, .pad = {{0, 0}, {ph0, ph1}, {pw0, pw1}}}
#define P3(st, sh, sw, pt0, pt1, ph0, ph1, pw0, pw1)                                        \
    {.stride = {st, sh, sw}, .pad = {{pt0, pt1}, {ph0, ph1}, {pw0, pw1}}}

/* name, dims, n, cin, cout, t, h, w, kt, kh, kw, params, bias, weight and bias dtype */
static const conv_case cases[] = {
    /* conv2d */
    {"2d 3x3 s1 p1 cin3 (im2col)", 2, 2, 3, 5, 1, 7, 9, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 s2 pad(0,1,0,1) (Wan down)", 2, 2, 3, 5, 1, 7, 9, 1, 3, 3, P2(2, 2, 0, 1, 0, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 s2 p1 cin5", 2, 2, 5, 4, 1, 9, 8, 1, 3, 3, P2(2, 2, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 4x4 s(3,2) p(2,1,3,0)", 2, 1, 3, 4, 1, 11, 10, 1, 4, 4, P2(3, 2, 2, 1, 3, 0), 1, ZT_F32, ZT_F32},
    {"2d 3x3 s2 cin40 no bias", 2, 1, 40, 6, 1, 9, 7, 1, 3, 3, P2(2, 2, 0, 1, 0, 1), 0, ZT_F32, ZT_F32},
    {"2d 1x1 (direct) no bias", 2, 2, 3, 5, 1, 7, 9, 1, 1, 1, P2(1, 1, 0, 0, 0, 0), 0, ZT_F32, ZT_F32},
    {"2d 1x1 s2 (im2col)", 2, 2, 6, 5, 1, 7, 9, 1, 1, 1, P2(2, 2, 0, 0, 0, 0), 1, ZT_F32, ZT_F32},
    {"2d 1x1 pad 1 cin64 (taps)", 2, 1, 64, 4, 1, 5, 6, 1, 1, 1, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 s1 p1 cin64 (taps)", 2, 2, 64, 5, 1, 7, 9, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 s1 pad(0,1,2,0) cin65", 2, 1, 65, 7, 1, 7, 9, 1, 3, 3, P2(1, 1, 0, 1, 2, 0), 1, ZT_F32, ZT_F32},
    {"2d 2x4 s1 pad(1,0,0,3) cin64", 2, 1, 64, 3, 1, 6, 5, 1, 2, 4, P2(1, 1, 1, 0, 0, 3), 1, ZT_F32, ZT_F32},
    {"2d 5x5 s2x1 p2 cin4", 2, 1, 4, 3, 1, 8, 7, 1, 5, 5, P2(2, 1, 2, 2, 2, 2), 0, ZT_F32, ZT_F32},
    /* conv3d */
    {"3d 3x3x3 causal cin3 (im2col)", 3, 2, 3, 5, 4, 7, 9, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d 3x3x3 causal cin64 (taps)", 3, 2, 64, 5, 3, 7, 9, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d 3x3x3 cin64 no pad no bias", 3, 1, 64, 4, 5, 6, 7, 3, 3, 3, P3(1, 1, 1, 0, 0, 0, 0, 0, 0), 0, ZT_F32, ZT_F32},
    {"3d 3x1x1 causal (time conv)", 3, 2, 5, 6, 4, 7, 9, 3, 1, 1, P3(1, 1, 1, 2, 0, 0, 0, 0, 0), 1, ZT_F32, ZT_F32},
    {"3d 3x1x1 t-stride 2 (Wan down)", 3, 2, 5, 6, 5, 7, 9, 3, 1, 1, P3(2, 1, 1, 0, 0, 0, 0, 0, 0), 1, ZT_F32, ZT_F32},
    {"3d 3x1x1 t-stride 2 causal", 3, 1, 4, 3, 6, 3, 5, 3, 1, 1, P3(2, 1, 1, 2, 0, 0, 0, 0, 0), 0, ZT_F32, ZT_F32},
    {"3d 1x1x1 no bias", 3, 2, 3, 5, 3, 7, 9, 1, 1, 1, P3(1, 1, 1, 0, 0, 0, 0, 0, 0), 0, ZT_F32, ZT_F32},
    {"3d 3x3x3 s(1,2,2) causal pad(0,1)", 3, 2, 3, 4, 3, 7, 9, 3, 3, 3, P3(1, 2, 2, 2, 0, 0, 1, 0, 1), 1, ZT_F32, ZT_F32},
    {"3d 2x3x2 odd pads cin66", 3, 1, 66, 3, 3, 5, 6, 2, 3, 2, P3(1, 1, 1, 1, 0, 2, 1, 0, 1), 1, ZT_F32, ZT_F32},
    /* pad 3 before a kernel of 2: the first output frames see only padding -> bias */
    {"3d all-padding frames (taps)", 3, 1, 64, 3, 2, 4, 5, 2, 3, 3, P3(1, 1, 1, 3, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d all-padding frames (im2col)", 3, 1, 2, 3, 2, 4, 5, 2, 3, 3, P3(1, 1, 1, 3, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d all-padding frames (direct)", 3, 1, 2, 3, 2, 4, 5, 2, 1, 1, P3(1, 1, 1, 3, 0, 0, 0, 0, 0), 1, ZT_F32, ZT_F32},
    /* Winograd F(2x2, 3x3): 3x3, stride 1, padding 1, 16+ channels both ways */
    {"2d 3x3 cin16 cout16 7x9 (winograd)", 2, 2, 16, 16, 1, 7, 9, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 cin33 cout17 1x1 (winograd)", 2, 1, 33, 17, 1, 1, 1, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 0, ZT_F32, ZT_F32},
    {"3d 3x3x3 causal cin24 cout40 5x6 (winograd)", 3, 2, 24, 40, 4, 5, 6, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d 3x3x3 cin96 cout20 no tpad (winograd)", 3, 1, 96, 20, 5, 6, 3, 3, 3, 3, P3(1, 1, 1, 0, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d 3x3x3 causal cin32 cout32 bf16 (winograd)", 3, 1, 32, 32, 3, 7, 7, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_BF16, ZT_BF16},
    /* rounded weights and biases */
    {"2d 3x3 cin3 bf16", 2, 2, 3, 5, 1, 7, 9, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_BF16, ZT_BF16},
    {"2d 3x3 s2 cin40 f16", 2, 1, 40, 6, 1, 9, 7, 1, 3, 3, P2(2, 2, 0, 1, 0, 1), 1, ZT_F16, ZT_F32},
    {"3d 3x3x3 causal cin64 bf16", 3, 2, 64, 5, 3, 7, 9, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_BF16, ZT_F32},
    {"3d 3x3x3 causal cin64 f16", 3, 1, 64, 5, 3, 7, 9, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F16, ZT_F16},
    {"3d 3x3x3 causal cin3 f16", 3, 2, 3, 5, 4, 7, 9, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 0, ZT_F16, ZT_F32},
    {"3d 3x1x1 causal bf16", 3, 2, 5, 6, 4, 7, 9, 3, 1, 1, P3(1, 1, 1, 2, 0, 0, 0, 0, 0), 1, ZT_BF16, ZT_BF16},
    {"2d 1x1 bf16", 2, 2, 7, 5, 1, 7, 9, 1, 1, 1, P2(1, 1, 0, 0, 0, 0), 1, ZT_BF16, ZT_F32},
    {"3d 1x1x1 f16", 3, 1, 7, 5, 2, 7, 9, 1, 1, 1, P3(1, 1, 1, 0, 0, 0, 0, 0, 0), 0, ZT_F16, ZT_F32},
};

/* Frames large enough to be cut into several row tiles, and rows wide enough to be
 * cut into pieces (a whole-row im2col of cin * taps * w floats would pass the 4 MB
 * workspace). */
static const conv_case tiled[] = {
    {"3d 3x3x3 cin64 cout64 37x53 (winograd tiles)", 3, 1, 64, 64, 3, 37, 53, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 cin16 cout16 3x9000 (winograd pieces)", 2, 1, 16, 16, 1, 3, 9000, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 cin64 48x70 (row tiles)", 2, 1, 64, 4, 1, 48, 70, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d 3x3x3 cin8 40x50 (row tiles)", 3, 1, 8, 6, 3, 40, 50, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"3d 1x1x1 cin8 64x64 (row tiles)", 3, 1, 8, 6, 2, 64, 64, 1, 1, 1, P3(1, 1, 1, 0, 0, 0, 0, 0, 0), 1, ZT_F32, ZT_F32},
    {"3d 3x3x3 cin3 2x13000 (row pieces)", 3, 1, 3, 2, 3, 2, 13000, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 cin64 2x5400 (row pieces)", 2, 1, 64, 2, 1, 2, 5400, 1, 3, 3, P2(1, 1, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
    {"2d 3x3 s2 cin4 3x60000 (row pieces)", 2, 1, 4, 3, 1, 3, 60000, 1, 3, 3, P2(2, 2, 0, 1, 0, 1), 0, ZT_BF16, ZT_F32},
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The same case on two backends must give the same bits. */
static void check_threads(zt_backend *a, zt_backend *b, const conv_case *c) {
    conv_data da, db;
    data_init(&da, c);
    data_init(&db, c);
    CHECK_OK(run_conv(a, c, &da));
    CHECK_OK(run_conv(b, c, &db));
    CHECK(memcmp(da.y.data, db.y.data, (size_t)da.ny * sizeof(float)) == 0,
          "%s: %d and %d threads differ", c->name, a->threads(a), b->threads(b));
    data_free(&da);
    data_free(&db);
}

/* conv3d with prev frames equals conv3d on their concatenation in front of x, bit for
 * bit, in every mode (winograd, taps, im2col, direct), with and without padding. */
static void test_prev(zt_backend *be) {
    static const struct { const char *name; int64_t cin, cout, np, t, h, w, k, pt; int st; } cs[] = {
        {"winograd", 24, 20, 2, 4, 9, 7, 3, 0, 1},
        {"winograd T=1 pad 1", 16, 16, 1, 1, 5, 5, 3, 1, 1},
        {"taps", 64, 5, 2, 3, 6, 5, 3, 0, 1},
        {"im2col", 3, 4, 2, 4, 6, 7, 3, 0, 1},
        {"im2col stride 2", 8, 6, 1, 4, 6, 6, 3, 0, 2},
        {"direct", 8, 6, 2, 2, 4, 5, 1, 0, 1},
    };
    zt_test_rng rng = {99};
    for (int i = 0; i < COUNT(cs); i++) {
        int64_t ci = cs[i].cin, co = cs[i].cout, np = cs[i].np, t = cs[i].t, h = cs[i].h,
                w = cs[i].w, k = cs[i].k, all = np + t;
        int64_t ph = (k - 1) / 2, to = all + cs[i].pt - 2; /* time stride 1 */
        int64_t kt = 3;
        float *x = zt_test_alloc((size_t)(ci * t * h * w) * 4);
        float *pv = zt_test_alloc((size_t)(ci * np * h * w) * 4);
        float *cat = zt_test_alloc((size_t)(ci * all * h * w) * 4);
        float *wt = zt_test_alloc((size_t)(co * ci * kt * k * k) * 4);
        float *bs = zt_test_alloc((size_t)co * 4);
        float *y1 = zt_test_alloc((size_t)(co * to * h * w) * 4);
        float *y2 = zt_test_alloc((size_t)(co * to * h * w) * 4);
        zt_test_fill_normal(&rng, x, ci * t * h * w, 1.0);
        zt_test_fill_normal(&rng, pv, ci * np * h * w, 1.0);
        zt_test_fill_normal(&rng, wt, co * ci * kt * k * k, 0.2);
        zt_test_fill_normal(&rng, bs, co, 0.2);
        for (int64_t c = 0; c < ci; c++) {
            memcpy(cat + c * all * h * w, pv + c * np * h * w, (size_t)(np * h * w) * 4);
            memcpy(cat + (c * all + np) * h * w, x + c * t * h * w, (size_t)(t * h * w) * 4);
        }
        int64_t ho = (h + 2 * ph - k) / cs[i].st + 1, wo = (w + 2 * ph - k) / cs[i].st + 1;
        zt_tensor tx = zt_tensor_new(ZT_F32, x, 1, ci, t, h, w);
        zt_tensor tp = zt_tensor_new(ZT_F32, pv, 1, ci, np, h, w);
        zt_tensor tc = zt_tensor_new(ZT_F32, cat, 1, ci, all, h, w);
        zt_tensor tw = zt_tensor_new(ZT_F32, wt, co, ci, kt, k, k);
        zt_tensor tb = zt_tensor_new(ZT_F32, bs, co);
        zt_tensor ty1 = zt_tensor_new(ZT_F32, y1, 1, co, to, ho, wo);
        zt_tensor ty2 = zt_tensor_new(ZT_F32, y2, 1, co, to, ho, wo);
        int s = cs[i].st, p = (int)ph, pt = (int)cs[i].pt;
        zt_conv_params p1 = {{1, s, s}, {{pt, 0}, {p, p}, {p, p}}, &tp};
        zt_conv_params p2 = {{1, s, s}, {{pt, 0}, {p, p}, {p, p}}, NULL};
        CHECK_OK(zt_op_conv3d(be, &ty1, &tx, &tw, &tb, &p1));
        CHECK_OK(zt_op_conv3d(be, &ty2, &tc, &tw, &tb, &p2));
        CHECK(memcmp(y1, y2, (size_t)(co * to * ho * wo) * 4) == 0, "prev frames (%s) differ "
              "from the concatenation", cs[i].name);
    }
    printf("  prev frames: %d modes bit-identical to concatenation\n", COUNT(cs));
}

/* zt_op_profile's totals: a label per convolution kernel and channels, the calls, and
 * the FLOPs of the direct form (2 per multiply-add: output values * Cin * kernel volume),
 * however the backend computes it; a product's 2 * rows * N * K; nothing once off. */
static void test_profile(zt_backend *be) {
    const conv_case *c3 = &cases[12], *c2 = &cases[0];
    CHECK(!strcmp(c3->name, "3d 3x3x3 causal cin3 (im2col)") && c2->dims == 2, "profile cases");
    conv_data d3, d2;
    data_init(&d3, c3);
    data_init(&d2, c2);
    float xv[12] = {0}, wv[20] = {0}, yv[15];
    zt_tensor x = zt_tensor_new(ZT_F32, xv, 3, 4), w = zt_tensor_new(ZT_F32, wv, 5, 4);
    zt_tensor y = zt_tensor_new(ZT_F32, yv, 3, 5);
    zt_op_profile(1);
    CHECK_OK(run_conv(be, c3, &d3));
    CHECK_OK(run_conv(be, c3, &d3));
    CHECK_OK(run_conv(be, c2, &d2));
    CHECK_OK(zt_op_linear(be, &y, &x, &w, NULL));
    zt_op_profile(0);
    CHECK_OK(run_conv(be, c2, &d2)); /* not counted */
    const struct {
        const char *name;
        long calls;
        double flops;
    } want[] = {
        {"conv3d 3x3x3 3->5", 2, 2 * 2.0 * (double)d3.ny * 3 * 27},
        {"conv2d 3x3 3->5", 1, 2.0 * (double)d2.ny * 3 * 9},
        {"linear", 1, 2.0 * 3 * 5 * 4},
    };
    int found = 0;
    const char *name;
    long calls;
    double sec, flops;
    for (int i = 0; zt_op_profile_entry(i, &name, &calls, &sec, &flops); i++)
        for (int j = 0; j < COUNT(want); j++)
            if (!strcmp(name, want[j].name)) {
                found++;
                CHECK(calls == want[j].calls && flops == want[j].flops && sec >= 0,
                      "profile %s: %ld calls, %.0f flops (want %ld, %.0f)", name, calls, flops,
                      want[j].calls, want[j].flops);
            }
    CHECK(found == COUNT(want), "profile: %d of %d labels", found, COUNT(want));
    printf("profile: %d labels, calls and FLOPs as counted\n", found);
    data_free(&d3);
    data_free(&d2);
}

int main(void) {
    zt_backend *be1 = NULL, *be3 = NULL;
    CHECK_OK(zt_backend_cpu_init(&be1, 1));
    CHECK_OK(zt_backend_cpu_init(&be3, 3));
    if (!be1 || !be3) return zt_test_finish();

    printf("conv cases (3 threads):\n");
    for (int i = 0; i < COUNT(cases); i++) check_case(be3, &cases[i]);
    printf("tiled frames (3 threads):\n");
    for (int i = 0; i < COUNT(tiled); i++) check_case(be3, &tiled[i]);

    test_prev(be3);
    test_profile(be3);

    printf("1 vs 3 threads:\n");
    for (int i = 0; i < COUNT(cases); i++) check_threads(be1, be3, &cases[i]);
    for (int i = 0; i < COUNT(tiled); i++) check_threads(be1, be3, &tiled[i]);
    printf("  %d cases bit-identical\n", COUNT(cases) + COUNT(tiled));

    /* The workspace stays a few MB per thread where whole-frame column matrices would
     * not: 16 * 27 * 32 * 416 floats (23 MB) for the first, 384 * 27 * 800 (33 MB) for
     * the second. */
    {
        static const conv_case big[] = {
            {"3d 3x3x3 cin16 32x416 (bounded)", 3, 1, 16, 2, 3, 32, 416, 3, 3, 3, P3(1, 1, 1, 0, 0, 1, 1, 1, 1), 1, ZT_F32, ZT_F32},
            {"3d 3x3x3 cin384 1x800 (bounded)", 3, 1, 384, 2, 1, 1, 800, 3, 3, 3, P3(1, 1, 1, 2, 0, 1, 1, 1, 1), 0, ZT_F32, ZT_F32},
        };
        zt_backend *fresh = NULL;
        CHECK_OK(zt_backend_cpu_init(&fresh, 2));
        if (fresh) {
            for (int i = 0; i < COUNT(big); i++) check_case(fresh, &big[i]);
            size_t held = fresh->scratch_bytes(fresh);
            printf("  scratch held by 2 threads: %zu bytes\n", held);
            CHECK(held <= 2 * ((size_t)5 << 20), "scratch %zu bytes", held);
            zt_backend_free(fresh);
        }
    }

    zt_backend_free(be1);
    zt_backend_free(be3);
    return zt_test_finish();
}
