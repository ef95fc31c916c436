/* conv.c - conv2d and conv3d on the CPU as GEMMs over bounded output tiles.
 *
 * A task computes every output channel of one tile: a block of rows (or, when one row
 * is too wide for the workspace, a piece of a row) of one output frame. The tiling
 * depends on the shapes only, never on the thread count, and each tile runs the same
 * sequence of single-threaded sgemm calls, so results are bit-identical for any number
 * of threads. A tile's GEMM operands are built one of three ways:
 *  - direct: 1x1 spatial kernels, stride 1, no spatial padding (1x1x1 convs, 3x1x1
 *    time convs): x and y are the GEMM operands as they lie, one GEMM per time tap.
 *  - taps: spatial stride 1 with enough input channels. The input window is copied
 *    zero-padded with rows Wo + kw - 1 wide; tap (dt, dh, dw) is then a GEMM
 *    [Cout, Cin] x [Cin, pixels] on the window shifted by dh * width + dw. The kw - 1
 *    extra columns per row are computed and dropped. No column matrix, so tiles stay
 *    large at any channel count and the workspace stays a few MB.
 *  - winograd: 3x3 kernels, stride 1, padding 1 on both sides, 16 or more input and
 *    output channels (the VAE's convolutions). F(2x2, 3x3): each 2x2 block of output
 *    comes from a 4x4 input patch; after the transforms B^T d B and G g G^T the
 *    convolution is 16 GEMMs [Cout, Cin] x [Cin, blocks] per time tap, and A^T m A
 *    gives the outputs: 16 multiplies per 4 outputs instead of 36. The transforms
 *    add and halve only, so the error stays that of a direct sum.
 *  - im2col: everything else (spatial strides; few input channels, where per-tap GEMMs
 *    with a small K would be slow): the tile's column matrix, one GEMM.
 * Weights are converted once per call to f32 in [Cout][taps][Cin] order, which both
 * per-tap and im2col GEMMs read; time taps that fall wholly in the padding are skipped. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "../../core/status.h"
#include "cpu.h"

/* Per-thread workspace a tile aims to fit in (column matrix or padded window). */
#define CONV_WS_FLOATS ((int64_t)1 << 20)
/* Output pixels per tile: enough that packing the weights for each GEMM is small
 * next to the GEMM itself. */
#define CONV_TILE_PX 512
/* Calls with few frames still get this many tiles when the frame has the rows, so
 * that small frames spread over the threads. */
#define CONV_MIN_TASKS 8
/* With fewer input channels, per-tap GEMMs (K = Cin, the output tile read and written
 * once per tap) lose to one im2col GEMM. Measured on Zen 3 with OpenBLAS: im2col is
 * faster at 16 and 32 input channels, even at 64 and 96, slower from 192 up. */
#define CONV_TAPS_MIN_CIN 64
/* Winograd pays once both channel counts make the GEMMs dominate the transforms. */
#define CONV_WINO_MIN_CH 16
/* Output pixels per Winograd tile: each of its 16 GEMMs has a quarter as many
 * columns, which need to stay long for the GEMMs to run near peak. */
#define CONV_WINO_TILE_PX 2048
/* Per-thread workspace of a Winograd tile (transformed input and products). */
#define CONV_WINO_WS_FLOATS ((int64_t)1 << 21)

enum { CONV_DIRECT, CONV_TAPS, CONV_IM2COL, CONV_WINO };

typedef struct conv_job {
    /* conv2d runs as conv3d with t = kt = 1 */
    int64_t n, cin, cout, t, h, w, to, ho, wo;
    int64_t np;        /* frames of prev, before x's t frames in time */
    const float *prev; /* [n, cin, np, h, w] or NULL */
    int64_t kt, kh, kw, st, sh, sw, pt, ph, pw;
    int64_t taps; /* kt * kh * kw */
    const float *x;
    float *y;
    const void *w_src;
    zt_dtype w_dtype;
    const float *wt;   /* [cout][taps][cin] f32 */
    const float *bias; /* [cout] f32 or NULL */
    int mode;
    int64_t rows, cols; /* output rows and columns per tile */
    int64_t row_tiles, col_tiles;
    int64_t ws_floats;     /* per-thread workspace */
    int64_t prefix_floats; /* thread 0's scratch starts with the converted weights and bias */
    zt_pool *pool;
} conv_job;

/* Thread 0 is also the caller, so its scratch carries the per-call weights in front of
 * its workspace. Every thread's scratch is sized before any task runs, so this never
 * allocates inside a task. */
static float *thread_ws(const conv_job *j, int thread) {
    int64_t extra = thread == 0 ? j->prefix_floats : 0;
    float *s = zt_pool_scratch(j->pool, thread, (size_t)(extra + j->ws_floats) * sizeof(float));
    return s ? s + extra : NULL;
}

/* dst[c] = src[off + c * stride] for c in [0, n), zero where the index leaves [0, len). */
static void gather_row(float *dst, const float *src, int64_t len, int64_t off, int64_t stride,
                       int64_t n) {
    int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t hi = off >= len ? 0 : (len - off + stride - 1) / stride;
    if (lo > n) lo = n;
    if (hi > n) hi = n;
    if (hi < lo) hi = lo;
    memset(dst, 0, (size_t)lo * sizeof(float));
    if (stride == 1)
        memcpy(dst + lo, src + off + lo, (size_t)(hi - lo) * sizeof(float));
    else
        for (int64_t c = lo; c < hi; c++) dst[c] = src[off + c * stride];
    memset(dst + hi, 0, (size_t)(n - hi) * sizeof(float));
}

/* Every channel of an output tile of nr rows of nc pixels (rows wo apart) set to the
 * bias, or zero. */
static void fill_tile(const conv_job *j, float *yt, int64_t nr, int64_t nc) {
    int64_t ldy = j->to * j->ho * j->wo;
    for (int64_t co = 0; co < j->cout; co++) {
        float v = j->bias ? j->bias[co] : 0.0f;
        for (int64_t r = 0; r < nr; r++) {
            float *d = yt + co * ldy + r * j->wo;
            for (int64_t c = 0; c < nc; c++) d[c] = v;
        }
    }
}

static void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                 int64_t ldb, float beta, float *c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* Input frame ti of batch n, counting prev's frames first; *ld gets its channel
 * stride. */
static const float *in_frame(const conv_job *j, int64_t n, int64_t ti, int64_t *ld) {
    int64_t hw = j->h * j->w;
    if (ti < j->np) {
        *ld = j->np * hw;
        return j->prev + (n * j->cin * j->np + ti) * hw;
    }
    *ld = j->t * hw;
    return j->x + (n * j->cin * j->t + ti - j->np) * hw;
}

/* ---- Winograd F(2x2, 3x3) ------------------------------------------------------------- */

/* u = G g G^T for a 3x3 kernel g (row-major), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void wino_kernel(float u[16], const float g[9]) {
    float t[4][3];
    for (int c = 0; c < 3; c++) {
        float a = g[c], b = g[3 + c], d = g[6 + c];
        t[0][c] = a;
        t[1][c] = 0.5f * (a + b + d);
        t[2][c] = 0.5f * (a - b + d);
        t[3][c] = d;
    }
    for (int r = 0; r < 4; r++) {
        float a = t[r][0], b = t[r][1], d = t[r][2];
        u[r * 4 + 0] = a;
        u[r * 4 + 1] = 0.5f * (a + b + d);
        u[r * 4 + 2] = 0.5f * (a - b + d);
        u[r * 4 + 3] = d;
    }
}

/* B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], for the bc patches of one row
 * of blocks: d holds the window's 4 rows (ld apart, 2 bc + 2 columns), t 4 rows of
 * scratch; value xi of block bj goes to v[xi * vs + bj]. Rows first, over whole rows,
 * so that both passes run along memory. */
static void wino_input_row(float *v, int64_t vs, const float *d, int64_t ld, int64_t bc,
                           float *t) {
    int64_t wq = 2 * bc + 2;
    float *t0 = t, *t1 = t + wq, *t2 = t + 2 * wq, *t3 = t + 3 * wq;
    const float *d0 = d, *d1 = d + ld, *d2 = d + 2 * ld, *d3 = d + 3 * ld;
    for (int64_t c = 0; c < wq; c++) {
        t0[c] = d0[c] - d2[c];
        t1[c] = d1[c] + d2[c];
        t2[c] = d2[c] - d1[c];
        t3[c] = d1[c] - d3[c];
    }
    for (int k = 0; k < 4; k++) {
        const float *tk = t + k * wq;
        float *o0 = v + (4 * k) * vs, *o1 = o0 + vs, *o2 = o1 + vs, *o3 = o2 + vs;
        for (int64_t bj = 0; bj < bc; bj++) {
            float a = tk[2 * bj], b = tk[2 * bj + 1], c = tk[2 * bj + 2], e = tk[2 * bj + 3];
            o0[bj] = a - c;
            o1[bj] = b + c;
            o2[bj] = c - b;
            o3[bj] = b - e;
        }
    }
}

/* A^T m A, A^T = [1 1 1 0; 0 1 -1 -1], for the bc blocks of one row of blocks: product
 * xi of block bj is m[xi * ms + bj]; the 2x2 outputs plus bias go to rows y0 and y1
 * (y1 NULL past the frame's last row), nc columns. */
static void wino_output_row(float *y0, float *y1, const float *m, int64_t ms, int64_t bc,
                            int64_t nc, float bias) {
    for (int64_t bj = 0; bj < bc; bj++) {
        float t0[4], t1[4];
        for (int c = 0; c < 4; c++) {
            float m0 = m[c * ms + bj], m1 = m[(4 + c) * ms + bj], m2 = m[(8 + c) * ms + bj],
                  m3 = m[(12 + c) * ms + bj];
            t0[c] = m0 + m1 + m2;
            t1[c] = m1 - m2 - m3;
        }
        int64_t x = 2 * bj;
        y0[x] = t0[0] + t0[1] + t0[2] + bias;
        if (y1) y1[x] = t1[0] + t1[1] + t1[2] + bias;
        if (x + 1 < nc) {
            y0[x + 1] = t0[1] - t0[2] - t0[3] + bias;
            if (y1) y1[x + 1] = t1[1] - t1[2] - t1[3] + bias;
        }
    }
}

/* A tile of rows x cols outputs (both even but at the frame's edge) in 2x2 blocks. */
static void wino_tile(const conv_job *j, int64_t n, float *yt, int64_t oh0, int64_t ow0,
                      int64_t nr, int64_t nc, int64_t t0, int64_t dt0, int64_t dt1, float *ws) {
    int64_t br = (nr + 1) / 2, bc = (nc + 1) / 2, nb = br * bc;
    int64_t wq = 2 * bc + 2, rq = 2 * br + 2; /* input window with the 1-pixel border */
    int64_t ldx, ldy = j->to * j->ho * j->wo;
    float *v = ws, *m = v + 16 * j->cin * nb, *win = m + 16 * j->cout * nb;
    float *rows = win + rq * wq; /* 4 rows of scratch for the input transform */
    for (int64_t dt = dt0; dt < dt1; dt++) {
        const float *xf = in_frame(j, n, t0 + dt, &ldx);
        for (int64_t ci = 0; ci < j->cin; ci++) {
            for (int64_t r = 0; r < rq; r++) {
                int64_t ih = oh0 + r - 1;
                if (ih < 0 || ih >= j->h)
                    memset(win + r * wq, 0, (size_t)wq * sizeof(float));
                else
                    gather_row(win + r * wq, xf + ci * ldx + ih * j->w, j->w, ow0 - 1, 1, wq);
            }
            for (int64_t bi = 0; bi < br; bi++)
                wino_input_row(v + ci * nb + bi * bc, j->cin * nb, win + 2 * bi * wq, wq, bc,
                               rows);
        }
        for (int xi = 0; xi < 16; xi++)
            gemm(j->cout, nb, j->cin, j->wt + (dt * 16 + xi) * j->cout * j->cin, j->cin,
                 v + xi * j->cin * nb, nb, dt == dt0 ? 0.0f : 1.0f, m + xi * j->cout * nb, nb);
    }
    for (int64_t co = 0; co < j->cout; co++) {
        float bv = j->bias ? j->bias[co] : 0.0f;
        float *yc = yt + co * ldy;
        for (int64_t bi = 0; bi < br; bi++) {
            float *y0 = yc + 2 * bi * j->wo, *y1 = 2 * bi + 1 < nr ? y0 + j->wo : NULL;
            wino_output_row(y0, y1, m + co * nb + bi * bc, j->cout * nb, bc, nc, bv);
        }
    }
}

static void conv_task(void *ctx, int64_t task, int thread) {
    const conv_job *j = ctx;
    int64_t ct = task % j->col_tiles;
    task /= j->col_tiles;
    int64_t rt = task % j->row_tiles;
    task /= j->row_tiles;
    int64_t to = task % j->to, n = task / j->to;
    int64_t oh0 = rt * j->rows, nr = j->rows < j->ho - oh0 ? j->rows : j->ho - oh0;
    int64_t ow0 = ct * j->cols, nc = j->cols < j->wo - ow0 ? j->cols : j->wo - ow0;

    int64_t ldx, ldy = j->to * j->ho * j->wo; /* channel strides */
    float *yt = j->y + n * j->cout * ldy + to * j->ho * j->wo + oh0 * j->wo + ow0;
    int64_t ld_tap = j->taps * j->cin; /* lda of one tap's [cout, cin] block */

    /* time taps whose input frame exists */
    int64_t t0 = to * j->st - j->pt;
    int64_t frames = j->np + j->t;
    int64_t dt0 = t0 < 0 ? -t0 : 0, dt1 = frames - t0 < j->kt ? frames - t0 : j->kt;
    if (dt1 <= dt0) {
        fill_tile(j, yt, nr, nc);
        return;
    }
    float *ws = thread_ws(j, thread);

    if (j->mode == CONV_WINO) {
        wino_tile(j, n, yt, oh0, ow0, nr, nc, t0, dt0, dt1, ws);
        return;
    }

    if (j->mode == CONV_DIRECT) {
        float beta = 0.0f;
        if (j->bias) {
            fill_tile(j, yt, nr, nc);
            beta = 1.0f;
        }
        for (int64_t dt = dt0; dt < dt1; dt++) {
            const float *b = in_frame(j, n, t0 + dt, &ldx) + oh0 * j->w;
            gemm(j->cout, nr * j->wo, j->cin, j->wt + dt * j->cin, ld_tap, b, ldx, beta, yt, ldy);
            beta = 1.0f;
        }
        return;
    }

    if (j->mode == CONV_TAPS) {
        int64_t wq = nc + j->kw - 1, rq = nr + j->kh - 1, plane = rq * wq;
        float *win = ws, *cb = ws + (dt1 - dt0) * j->cin * plane;
        for (int64_t dt = dt0; dt < dt1; dt++) {
            const float *xf = in_frame(j, n, t0 + dt, &ldx);
            for (int64_t ci = 0; ci < j->cin; ci++) {
                float *d = win + ((dt - dt0) * j->cin + ci) * plane;
                for (int64_t r = 0; r < rq; r++) {
                    int64_t ih = oh0 + r - j->ph;
                    if (ih < 0 || ih >= j->h)
                        memset(d + r * wq, 0, (size_t)wq * sizeof(float));
                    else
                        gather_row(d + r * wq, xf + ci * ldx + ih * j->w, j->w, ow0 - j->pw, 1,
                                   wq);
                }
            }
        }
        /* pixel q = r * wq + c; the last row's dropped columns are left out so that
         * every tap's operand stays inside its plane */
        int64_t npx = (nr - 1) * wq + nc, ldc = nr * wq;
        float beta = 0.0f;
        for (int64_t dt = dt0; dt < dt1; dt++)
            for (int64_t dh = 0; dh < j->kh; dh++)
                for (int64_t dw = 0; dw < j->kw; dw++) {
                    int64_t tap = (dt * j->kh + dh) * j->kw + dw;
                    const float *b = win + (dt - dt0) * j->cin * plane + dh * wq + dw;
                    gemm(j->cout, npx, j->cin, j->wt + tap * j->cin, ld_tap, b, plane, beta, cb,
                         ldc);
                    beta = 1.0f;
                }
        for (int64_t co = 0; co < j->cout; co++) {
            float bv = j->bias ? j->bias[co] : 0.0f;
            for (int64_t r = 0; r < nr; r++) {
                const float *s = cb + co * ldc + r * wq;
                float *d = yt + co * ldy + r * j->wo;
                for (int64_t c = 0; c < nc; c++) d[c] = s[c] + bv;
            }
        }
        return;
    }

    /* im2col: row (tap - dt0 * kh * kw) * cin + ci, column r * nc + c. The tiling
     * keeps nr == 1 whenever nc < wo, so the tile is one matrix in y. */
    int64_t npx = nr * nc, k = (dt1 - dt0) * j->kh * j->kw * j->cin;
    float *col = ws;
    for (int64_t dt = dt0; dt < dt1; dt++) {
        const float *xf = in_frame(j, n, t0 + dt, &ldx);
        for (int64_t dh = 0; dh < j->kh; dh++)
            for (int64_t dw = 0; dw < j->kw; dw++)
                for (int64_t ci = 0; ci < j->cin; ci++) {
                    float *d = col + ((((dt - dt0) * j->kh + dh) * j->kw + dw) * j->cin + ci) * npx;
                    for (int64_t r = 0; r < nr; r++) {
                        int64_t ih = (oh0 + r) * j->sh + dh - j->ph;
                        if (ih < 0 || ih >= j->h)
                            memset(d + r * nc, 0, (size_t)nc * sizeof(float));
                        else
                            gather_row(d + r * nc, xf + ci * ldx + ih * j->w, j->w,
                                       ow0 * j->sw + dw - j->pw, j->sw, nc);
                    }
                }
    }
    float beta = 0.0f;
    if (j->bias) {
        fill_tile(j, yt, nr, nc);
        beta = 1.0f;
    }
    gemm(j->cout, npx, k, j->wt + dt0 * j->kh * j->kw * j->cin, ld_tap, col, npx, beta, yt, ldy);
}

/* Converts weight rows (one task per output channel) to f32 [cout][taps][cin]. */
static void weights_task(void *ctx, int64_t co, int thread) {
    const conv_job *j = ctx;
    int64_t kk = j->cin * j->taps;
    float *dst = (float *)j->wt + co * kk;
    const char *src = (const char *)j->w_src + (size_t)(co * kk) * zt_dtype_size(j->w_dtype);
    if (j->taps == 1) {
        zt_convert_to_f32(dst, src, j->w_dtype, kk);
        return;
    }
    const float *row = (const float *)src;
    if (j->w_dtype != ZT_F32) {
        float *tmp = thread_ws(j, thread);
        zt_convert_to_f32(tmp, src, j->w_dtype, kk);
        row = tmp;
    }
    if (j->mode == CONV_WINO) { /* [kt][16][cout][cin], written a row of cin at a time */
        float *u = thread_ws(j, thread) + j->taps * j->cin, g[16];
        for (int64_t dt = 0; dt < j->kt; dt++) {
            for (int64_t ci = 0; ci < j->cin; ci++) {
                wino_kernel(g, row + (ci * j->kt + dt) * 9);
                for (int xi = 0; xi < 16; xi++) u[xi * j->cin + ci] = g[xi];
            }
            for (int xi = 0; xi < 16; xi++)
                memcpy((float *)j->wt + ((dt * 16 + xi) * j->cout + co) * j->cin,
                       u + xi * j->cin, (size_t)j->cin * sizeof(float));
        }
        return;
    }
    for (int64_t tap = 0; tap < j->taps; tap++)
        for (int64_t ci = 0; ci < j->cin; ci++) dst[tap * j->cin + ci] = row[ci * j->taps + tap];
}

/* Workspace floats of a tile of rows x cols output pixels. */
static int64_t tile_ws(const conv_job *j, int64_t rows, int64_t cols) {
    switch (j->mode) {
    case CONV_TAPS:
        return (j->kt * j->cin * (rows + j->kh - 1) + j->cout * rows) * (cols + j->kw - 1);
    case CONV_IM2COL:
        return j->taps * j->cin * rows * cols;
    case CONV_WINO: {
        int64_t nb = ((rows + 1) / 2) * ((cols + 1) / 2);
        return 16 * (j->cin + j->cout) * nb + (rows + 7) * (cols + 3);
    }
    default:
        return 0;
    }
}

static void choose_tiles(conv_job *j) {
    int64_t frames = j->n * j->to;
    int64_t px = j->mode == CONV_WINO ? CONV_WINO_TILE_PX : CONV_TILE_PX;
    int64_t rows = (px + j->wo - 1) / j->wo;
    int64_t want = (CONV_MIN_TASKS + frames - 1) / frames; /* row tiles per frame */
    if (rows > (j->ho + want - 1) / want) rows = (j->ho + want - 1) / want;
    if (rows < 1) rows = 1;
    int64_t budget = j->mode == CONV_WINO ? CONV_WINO_WS_FLOATS : CONV_WS_FLOATS;
    int64_t step = j->mode == CONV_WINO ? 2 : 1; /* Winograd tiles are whole 2x2 blocks */
    rows = (rows + step - 1) / step * step;
    while (rows > step && tile_ws(j, rows, j->wo) > budget) rows -= step;
    int64_t cols = j->wo;
    if (rows == step && j->mode != CONV_DIRECT) {
        /* one row too wide for the workspace: split it (a piece of 16 pixels always
         * goes, so the budget can only be passed by an absurdly deep kernel) */
        while (cols > 16 && tile_ws(j, step, cols) > budget) cols = (cols + 1) / 2;
    }
    j->col_tiles = (j->wo + cols - 1) / cols;
    cols = (j->wo + j->col_tiles - 1) / j->col_tiles;
    j->row_tiles = (j->ho + rows - 1) / rows;
    rows = (j->ho + j->row_tiles - 1) / j->row_tiles; /* even out the last tile */
    j->rows = (rows + step - 1) / step * step;
    j->cols = (cols + step - 1) / step * step;
    j->row_tiles = (j->ho + j->rows - 1) / j->rows;
    j->col_tiles = (j->wo + j->cols - 1) / j->cols;
}

static int fits_int(int64_t v) { return v <= INT_MAX; }

static zt_status conv_run(zt_backend *be, const char *op, conv_job *j, const zt_tensor *w,
                          const zt_tensor *b) {
    j->taps = j->kt * j->kh * j->kw;
    j->w_src = w->data;
    j->w_dtype = w->dtype;
    j->pool = zt_cpu_pool(be);

    int64_t ldx = (j->t > j->np ? j->t : j->np) * j->h * j->w, ldy = j->to * j->ho * j->wo;
    int unit = j->sh == 1 && j->sw == 1;
    if (unit && j->kh == 1 && j->kw == 1 && j->ho == j->h && j->wo == j->w && fits_int(ldx))
        j->mode = CONV_DIRECT;
    else if (unit && j->kh == 3 && j->kw == 3 && j->ph == 1 && j->pw == 1 && j->ho == j->h &&
             j->wo == j->w && j->cin >= CONV_WINO_MIN_CH && j->cout >= CONV_WINO_MIN_CH)
        j->mode = CONV_WINO; /* same-size output: padding 1 on both sides */
    else if (unit && j->cin >= CONV_TAPS_MIN_CIN)
        j->mode = CONV_TAPS;
    else
        j->mode = CONV_IM2COL;
    if (!fits_int(ldy) || !fits_int(j->taps * j->cin) || !fits_int(j->cout))
        return zt_fail(ZT_ERR_UNSUPPORTED, "%s: %lld channels of %lld values are past BLAS's "
                       "int sizes", op, (long long)j->cout, (long long)ldy);
    choose_tiles(j);

    /* per-call f32 weights [cout][taps][cin] and bias, unless already in that form */
    int64_t wfloats = j->cout * (j->mode == CONV_WINO ? 16 * j->kt : j->taps) * j->cin;
    int convert_w = w->dtype != ZT_F32 || j->taps > 1;
    int convert_b = b && b->dtype != ZT_F32;
    int64_t prefix = (convert_w ? wfloats : 0) + (convert_b ? j->cout : 0);
    j->prefix_floats = (prefix + 15) & ~(int64_t)15; /* keep the workspace 64-byte aligned */
    j->ws_floats = tile_ws(j, j->rows, j->cols);
    int64_t wtmp = j->taps * j->cin + (j->mode == CONV_WINO ? 16 * j->cin : 0);
    if (convert_w && j->ws_floats < wtmp) j->ws_floats = wtmp;
    if (j->ws_floats < 16) j->ws_floats = 16;

    int threads = zt_pool_size(j->pool);
    for (int i = 0; i < threads; i++)
        if (!thread_ws(j, i))
            return zt_fail_wrap(ZT_ERR_NOMEM, "%s: workspace of %lld floats: ", op,
                                (long long)(j->ws_floats + (i == 0 ? j->prefix_floats : 0)));
    float *pre = thread_ws(j, 0) - j->prefix_floats;
    j->wt = convert_w ? pre : w->data;
    j->bias = b ? b->data : NULL;
    if (convert_b) {
        float *bias = pre + (convert_w ? wfloats : 0);
        zt_convert_to_f32(bias, b->data, b->dtype, j->cout);
        j->bias = bias;
    }
    if (convert_w) zt_pool_run(j->pool, weights_task, j, j->cout);
    zt_pool_run(j->pool, conv_task, j, j->n * j->to * j->row_tiles * j->col_tiles);
    return ZT_OK;
}

zt_status zt_cpu_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b, const zt_conv_params *p) {
    conv_job j = {
        .n = x->shape[0], .cin = x->shape[1], .cout = w->shape[0],
        .t = 1, .h = x->shape[2], .w = x->shape[3],
        .to = 1, .ho = y->shape[2], .wo = y->shape[3],
        .kt = 1, .kh = w->shape[2], .kw = w->shape[3],
        .st = 1, .sh = p->stride[1], .sw = p->stride[2],
        .pt = 0, .ph = p->pad[1][0], .pw = p->pad[2][0],
        .x = x->data, .y = y->data,
    };
    return conv_run(be, "conv2d", &j, w, b);
}

zt_status zt_cpu_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b, const zt_conv_params *p) {
    conv_job j = {
        .n = x->shape[0], .cin = x->shape[1], .cout = w->shape[0],
        .t = x->shape[2], .h = x->shape[3], .w = x->shape[4],
        .to = y->shape[2], .ho = y->shape[3], .wo = y->shape[4],
        .kt = w->shape[2], .kh = w->shape[3], .kw = w->shape[4],
        .st = p->stride[0], .sh = p->stride[1], .sw = p->stride[2],
        .pt = p->pad[0][0], .ph = p->pad[1][0], .pw = p->pad[2][0],
        .x = x->data, .y = y->data,
        .np = p->prev ? p->prev->shape[2] : 0, .prev = p->prev ? p->prev->data : NULL,
    };
    return conv_run(be, "conv3d", &j, w, b);
}
