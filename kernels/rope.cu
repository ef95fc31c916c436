// 3-D rotary position embedding, in place on x [(B,) L, H, D], as backends/cpu/rope.c
// (and Wan's rope_apply) compute it: cos/sin tabulated in double on the host with the
// CPU's very formula, the complex product in double, one rounding to f32 at the end. The
// table stays on the device while the params stay the same (a DiT pass rotates q and k
// of every block on one grid).
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
// A pair's section is picked with selects on the three sections' values, never by
// indexing an array with it: lanes of a warp fall in different sections, and a
// run-time index into the parameters or a local array is served lane by lane (the
// first version did so and ran at a third of the memory bandwidth).
__global__ void rope_kernel(float *x, const double *tab, rope_desc g) {
    const int plane = (int)(g.grid[1] * g.grid[2]), width = (int)g.grid[2];
    const int per_token = (int)(g.heads * g.half), half = (int)g.half;
    const int p0 = g.pairs[0], p01 = g.pairs[0] + g.pairs[1];
    const int64_t tokens = g.pairs_total / per_token;
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        const int l = (int)(t % g.l), in_plane = l % plane;
        const int frame = l / plane, row = in_plane / width, col = in_plane % width;
        float *xt = x + 2 * t * per_token;
        for (int q = threadIdx.x; q < per_token; q += blockDim.x) {
            const int i = q % half;
            const bool s1 = i >= p0, s2 = i >= p01; // section 1 or 2 (else 0)
            const int pos = s2 ? col : s1 ? row : frame;
            const int n = s2 ? g.pairs[2] : s1 ? g.pairs[1] : g.pairs[0];
            const int li = i - (s2 ? p01 : s1 ? p0 : 0);
            const int64_t ca = s2 ? g.cos_at[2] : s1 ? g.cos_at[1] : g.cos_at[0];
            const int64_t sa = s2 ? g.sin_at[2] : s1 ? g.sin_at[1] : g.sin_at[0];
            const int64_t e = (int64_t)pos * n + li;
            const double c = tab[ca + e], s = tab[sa + e];
            float *v = xt + 2 * q;
            const double a = v[0], b = v[1];
            v[0] = (float)(a * c - b * s);
            v[1] = (float)(a * s + b * c);
        }
    }
}

// The cos/sin table of p into c->rope_tab (g's offsets say where each section's sits),
// kept for the next call with the same params.
zt_status make_table(zt_cuda_ctx *c, const rope_desc &g, int64_t entries,
                     const zt_rope_params *p) {
    size_t bytes = (size_t)(2 * entries + 1) * sizeof(double);
    double *tab = (double *)malloc(bytes);
    if (!tab)
        return zt_fail(ZT_ERR_NOMEM, "rope3d: cannot hold %lld cos/sin entries",
                       (long long)entries);
    for (int k = 0; k < 3; k++) {
        int n = p->pairs[k];
        double *cs = tab + g.cos_at[k], *sn = tab + g.sin_at[k];
        for (int i = 0; i < n; i++) {
            // as rope_params: 1 / theta^(2i / dim) with dim = 2n, in float64
            double freq = 1.0 / pow(p->theta, (double)(2 * i) / (double)(2 * n));
            for (int64_t q = 0; q < p->grid[k]; q++) {
                double a = (double)(q + p->offset[k]) * freq;
                cs[q * n + i] = cos(a);
                sn[q * n + i] = sin(a);
            }
        }
    }
    tab[2 * entries] = 0; // the spare entry keeps the copy non-empty
    c->rope_key = zt_rope_params{}; // invalid until the new table is in place
    cudaError_t e = cudaSuccess;
    if (bytes > c->rope_tab_bytes) {
        e = cudaStreamSynchronize(c->stream); // queued rotations may still read the old one
        if (e == cudaSuccess && c->rope_tab) e = cudaFree(c->rope_tab);
        c->rope_tab = NULL;
        c->rope_tab_bytes = 0;
        if (e == cudaSuccess) e = cudaMalloc(&c->rope_tab, bytes);
        if (e == cudaSuccess) c->rope_tab_bytes = bytes;
    }
    // pageable source: the copy is staged before the call returns, so tab may go after
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(c->rope_tab, tab, bytes, cudaMemcpyHostToDevice, c->stream);
    free(tab);
    if (e != cudaSuccess)
        return zt_fail(ZT_ERR_RUNTIME, "cuda: rope3d table (%zu bytes): %s", bytes,
                       cudaGetErrorString(e));
    c->rope_key = *p;
    return ZT_OK;
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
    for (int k = 0; k < 3; k++) { // section k's cos and sin [grid, pairs], one after the other
        g.grid[k] = p->grid[k];
        g.pairs[k] = p->pairs[k];
        g.cos_at[k] = 2 * entries;
        g.sin_at[k] = 2 * entries + p->grid[k] * p->pairs[k];
        entries += p->grid[k] * p->pairs[k];
    }
    zt_cuda_ctx *c = zt_cuda(be);
    const zt_rope_params *key = &c->rope_key;
    bool same = c->rope_tab && key->theta == p->theta;
    for (int k = 0; k < 3 && same; k++)
        same = key->grid[k] == p->grid[k] && key->offset[k] == p->offset[k] &&
               key->pairs[k] == p->pairs[k];
    if (!same) ZT_TRY(make_table(c, g, entries, p));
    int64_t blocks = tokens < (1 << 20) ? tokens : (1 << 20);
    rope_kernel<<<(unsigned)blocks, kThreads, 0, c->stream>>>((float *)x->data, c->rope_tab, g);
    ZT_CUDA_LAUNCHED("rope3d");
    return ZT_OK;
}
