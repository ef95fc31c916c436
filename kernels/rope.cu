// 3-D rotary position embedding, in place on x [(B,) L, H, D], as backends/cpu/rope.c
// (and Wan's rope_apply) compute it: cos/sin tabulated in double on the host with the
// CPU's very formula, the complex product in double, one rounding to f32 at the end.
#include <math.h>
#include <stdlib.h>

#include "../src/backends/cuda/cuda.h"

namespace {

constexpr int kThreads = 256;

struct rope_desc {
    int64_t pairs_total; // tokens * heads * (d / 2)
    int64_t l, heads, half; // half = d / 2
    int64_t grid[3];
    int pairs[3];
    int64_t cos_at[3], sin_at[3]; // offsets into the table of section s's [grid, pairs]
};

// A block per token (its grid position found once), threads over its heads' pairs
// (x[2p], x[2p + 1]); 32-bit indices within a token, as 64-bit division is slow here.
__global__ void rope_kernel(float *x, const double *tab, rope_desc g) {
    int plane = (int)(g.grid[1] * g.grid[2]), width = (int)g.grid[2];
    int per_token = (int)(g.heads * g.half), half = (int)g.half;
    int64_t tokens = g.pairs_total / per_token;
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        int l = (int)(t % g.l), in_plane = l % plane;
        int pos[3] = {l / plane, in_plane / width, in_plane % width};
        float *row = x + 2 * t * per_token;
        for (int q = threadIdx.x; q < per_token; q += blockDim.x) {
            int i = q % half, k = 0;
            if (i >= g.pairs[0]) {
                i -= g.pairs[0];
                k = 1;
                if (i >= g.pairs[1]) {
                    i -= g.pairs[1];
                    k = 2;
                }
            }
            int64_t e = (int64_t)pos[k] * g.pairs[k] + i;
            double c = tab[g.cos_at[k] + e], s = tab[g.sin_at[k] + e];
            float *v = row + 2 * q;
            double a = v[0], b = v[1];
            v[0] = (float)(a * c - b * s);
            v[1] = (float)(a * s + b * c);
        }
    }
}

} // namespace

extern "C" zt_status zt_cuda_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p) {
    int nd = x->ndim;
    rope_desc g = {};
    g.l = x->shape[nd - 3];
    g.heads = x->shape[nd - 2];
    g.half = x->shape[nd - 1] / 2;
    int64_t tokens = (nd == 4 ? x->shape[0] : 1) * g.l;
    if (tokens == 0 || g.heads == 0 || g.half == 0) return ZT_OK;
    g.pairs_total = tokens * g.heads * g.half;

    int64_t entries = 0;
    for (int k = 0; k < 3; k++) {
        g.grid[k] = p->grid[k];
        g.pairs[k] = p->pairs[k];
        entries += p->grid[k] * p->pairs[k];
    }
    size_t bytes = (size_t)(2 * entries + 1) * sizeof(double);
    double *tab = (double *)malloc(bytes);
    if (!tab)
        return zt_fail(ZT_ERR_NOMEM, "rope3d: cannot hold %lld cos/sin entries",
                       (long long)entries);
    int64_t at = 0;
    for (int k = 0; k < 3; k++) {
        int n = p->pairs[k];
        g.cos_at[k] = at;
        g.sin_at[k] = at + p->grid[k] * n;
        double *c = tab + g.cos_at[k], *s = tab + g.sin_at[k];
        at += 2 * p->grid[k] * n;
        for (int i = 0; i < n; i++) {
            // as rope_params: 1 / theta^(2i / dim) with dim = 2n, in float64
            double freq = 1.0 / pow(p->theta, (double)(2 * i) / (double)(2 * n));
            for (int64_t q = 0; q < p->grid[k]; q++) {
                double a = (double)(q + p->offset[k]) * freq;
                c[q * n + i] = cos(a);
                s[q * n + i] = sin(a);
            }
        }
    }
    tab[2 * entries] = 0; // the spare entry keeps the upload non-empty
    // The upload is stream-ordered before the kernel; the host copy may go once it
    // returns (a copy from pageable memory is staged before the call returns).
    void *dtab;
    zt_status st = zt_cuda_upload_scratch(be, 0, tab, bytes, &dtab);
    free(tab);
    ZT_TRY(st);

    int64_t blocks = tokens < (1 << 20) ? tokens : (1 << 20);
    rope_kernel<<<(unsigned)blocks, kThreads, 0, zt_cuda(be)->stream>>>(
        (float *)x->data, (const double *)dtab, g);
    ZT_CUDA_LAUNCHED("rope3d");
    return ZT_OK;
}
