#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/status.h"
#include "cpu.h"

typedef struct cpu_ctx {
    zt_pool *pool;
} cpu_ctx;

zt_pool *zt_cpu_pool(const zt_backend *be) { return ((cpu_ctx *)be->ctx)->pool; }

static void cpu_free(zt_backend *be) {
    cpu_ctx *c = be->ctx;
    zt_pool_free(c->pool);
    free(c);
    free(be);
}

static int cpu_threads(const zt_backend *be) { return zt_pool_size(zt_cpu_pool(be)); }

static size_t cpu_scratch_bytes(const zt_backend *be) {
    return zt_pool_scratch_bytes(zt_cpu_pool(be));
}

static zt_status cpu_alloc(zt_backend *be, size_t bytes, void **ptr) {
    *ptr = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!*ptr) return zt_fail(ZT_ERR_NOMEM, "cpu: cannot allocate %zu bytes", bytes);
    return ZT_OK;
}

static void cpu_dealloc(zt_backend *be, void *ptr) { free(ptr); }

static zt_status cpu_copy_bytes(zt_backend *be, void *dst, const void *src, size_t bytes) {
    memcpy(dst, src, bytes);
    return ZT_OK;
}

static zt_status cpu_sync(zt_backend *be) { return ZT_OK; }

zt_status zt_backend_cpu_init(zt_backend **out, int n_threads) {
    zt_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return zt_fail(ZT_ERR_NOMEM, "cpu backend: out of memory");
    }
    zt_status s = zt_pool_init(&c->pool, n_threads);
    if (s != ZT_OK) {
        free(be);
        free(c);
        return s;
    }
    /* our tasks split the work; OpenBLAS threads inside them would oversubscribe
     * and make results depend on its own partitioning */
    openblas_set_num_threads(1);
    be->name = "cpu";
    be->attn_key_bias = 1;
    be->ctx = c;
    be->free = cpu_free;
    be->threads = cpu_threads;
    be->scratch_bytes = cpu_scratch_bytes;
    be->alloc = cpu_alloc;
    be->dealloc = cpu_dealloc;
    be->upload = cpu_copy_bytes;
    be->download = cpu_copy_bytes;
    be->sync = cpu_sync;
    be->linear = zt_cpu_linear;
    be->matmul = zt_cpu_matmul;
    be->layer_norm = zt_cpu_layer_norm;
    be->rms_norm = zt_cpu_rms_norm;
    be->l2_norm = zt_cpu_l2_norm;
    be->unary = zt_cpu_unary;
    be->binary = zt_cpu_binary;
    be->modulate = zt_cpu_modulate;
    be->gated_add = zt_cpu_gated_add;
    be->softmax = zt_cpu_softmax;
    be->attention = zt_cpu_attention;
    be->rope3d = zt_cpu_rope3d;
    be->conv2d = zt_cpu_conv2d;
    be->conv3d = zt_cpu_conv3d;
    be->upsample_nearest = zt_cpu_upsample_nearest;
    be->pad = zt_cpu_pad;
    be->concat = zt_cpu_concat;
    be->copy = zt_cpu_copy;
    *out = be;
    return ZT_OK;
}

void zt_backend_free(zt_backend *be) {
    if (be && be->free) be->free(be);
}
