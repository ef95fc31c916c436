/* The CUDA backend: device memory, one stream, cuBLAS, and the kernels of kernels/
 * (one file per op family; see cuda.h).
 *
 * cuBLAS is opened with dlopen when a CUDA backend is created, not linked: merely
 * loading libcublasLt costs over 200 MB of resident memory, which every CPU run would
 * otherwise pay. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/log.h"
#include "cuda.h"

/* The cuBLAS entry points used, resolved once from the library. */
static struct {
    void *lib;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    const char *(*status_string)(cublasStatus_t);
    cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int64_t, int64_t,
                           int64_t, const void *, const void *, cudaDataType, int64_t, long long,
                           const void *, cudaDataType, int64_t, long long, const void *, void *,
                           cudaDataType, int64_t, long long, int64_t, cublasComputeType_t,
                           cublasGemmAlgo_t);
    char error[256];
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* cuBLASLt's, for products with their epilogue fused (zt_cuda_gemm_lt). Optional: where
 * the library or a function is missing, linear layers add biases in their own kernel. */
static struct {
    void *lib;
    cublasStatus_t (*create)(cublasLtHandle_t *);
    cublasStatus_t (*destroy)(cublasLtHandle_t);
    cublasStatus_t (*desc_create)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t);
    cublasStatus_t (*desc_destroy)(cublasLtMatmulDesc_t);
    cublasStatus_t (*desc_set)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *,
                               size_t);
    cublasStatus_t (*layout_create)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t,
                                    int64_t);
    cublasStatus_t (*layout_destroy)(cublasLtMatrixLayout_t);
    cublasStatus_t (*pref_create)(cublasLtMatmulPreference_t *);
    cublasStatus_t (*pref_destroy)(cublasLtMatmulPreference_t);
    cublasStatus_t (*pref_set)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t,
                               const void *, size_t);
    cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
                                cublasLtMatmulHeuristicResult_t *, int *);
    cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                             cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t,
                             const void *, const void *, cublasLtMatrixLayout_t, void *,
                             cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *, void *, size_t,
                             cudaStream_t);
} lt;

static void *open_cuda_lib(const char *name) {
#ifdef ZT_CUDA_EMU /* tests/cudaemu: the emulated cuBLAS is in the executable itself */
    (void)name;
    return dlopen(NULL, RTLD_NOW);
#endif
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
#ifdef ZT_CUDA_LIB_DIR
    if (!lib) { /* the toolkit's own directory, when it is not on the loader's path */
        char path[512];
        snprintf(path, sizeof path, "%s/%s", ZT_CUDA_LIB_DIR, name);
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
#endif
    return lib;
}

static void lt_load(void) {
    char name[64];
    snprintf(name, sizeof name, "libcublasLt.so.%d", CUBLAS_VER_MAJOR);
    lt.lib = open_cuda_lib(name);
    if (!lt.lib) return;
    *(void **)&lt.create = dlsym(lt.lib, "cublasLtCreate");
    *(void **)&lt.destroy = dlsym(lt.lib, "cublasLtDestroy");
    *(void **)&lt.desc_create = dlsym(lt.lib, "cublasLtMatmulDescCreate");
    *(void **)&lt.desc_destroy = dlsym(lt.lib, "cublasLtMatmulDescDestroy");
    *(void **)&lt.desc_set = dlsym(lt.lib, "cublasLtMatmulDescSetAttribute");
    *(void **)&lt.layout_create = dlsym(lt.lib, "cublasLtMatrixLayoutCreate");
    *(void **)&lt.layout_destroy = dlsym(lt.lib, "cublasLtMatrixLayoutDestroy");
    *(void **)&lt.pref_create = dlsym(lt.lib, "cublasLtMatmulPreferenceCreate");
    *(void **)&lt.pref_destroy = dlsym(lt.lib, "cublasLtMatmulPreferenceDestroy");
    *(void **)&lt.pref_set = dlsym(lt.lib, "cublasLtMatmulPreferenceSetAttribute");
    *(void **)&lt.heuristic = dlsym(lt.lib, "cublasLtMatmulAlgoGetHeuristic");
    *(void **)&lt.matmul = dlsym(lt.lib, "cublasLtMatmul");
    if (!lt.create || !lt.destroy || !lt.desc_create || !lt.desc_destroy || !lt.desc_set ||
        !lt.layout_create || !lt.layout_destroy || !lt.pref_create || !lt.pref_destroy ||
        !lt.pref_set || !lt.heuristic || !lt.matmul) {
        dlclose(lt.lib);
        lt.lib = NULL;
    }
}

static void blas_load(void) {
    char name[64];
    snprintf(name, sizeof name, "libcublas.so.%d", CUBLAS_VER_MAJOR);
    blas.lib = open_cuda_lib(name);
    if (!blas.lib) {
        snprintf(blas.error, sizeof blas.error, "%s", dlerror());
        return;
    }
    *(void **)&blas.create = dlsym(blas.lib, "cublasCreate_v2");
    *(void **)&blas.destroy = dlsym(blas.lib, "cublasDestroy_v2");
    *(void **)&blas.set_stream = dlsym(blas.lib, "cublasSetStream_v2");
    *(void **)&blas.status_string = dlsym(blas.lib, "cublasGetStatusString");
    *(void **)&blas.gemm = dlsym(blas.lib, "cublasGemmStridedBatchedEx_64");
    if (!blas.create || !blas.destroy || !blas.set_stream || !blas.status_string || !blas.gemm) {
        snprintf(blas.error, sizeof blas.error, "%s lacks an expected function", name);
        dlclose(blas.lib);
        blas.lib = NULL;
        return;
    }
    lt_load();
}

#define CUBLAS_CHECK(expr)                                                                         \
    do {                                                                                           \
        cublasStatus_t e_ = (expr);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return zt_fail(ZT_ERR_RUNTIME, "cublas: %s (%s:%d): %s", #expr, __FILE__, __LINE__,    \
                           blas.status_string(e_));                                                \
    } while (0)

int zt_backend_cuda_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

zt_status zt_cuda_scratch(zt_backend *be, int slot, size_t bytes, void **ptr) {
    zt_cuda_ctx *c = zt_cuda(be);
    if (slot < 0 || slot >= ZT_CUDA_SCRATCH_SLOTS)
        return zt_fail(ZT_ERR_RUNTIME, "cuda: no scratch slot %d", slot);
    if (bytes > c->scratch_size[slot]) {
        /* queued kernels may still read the old buffer */
        ZT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
        if (c->scratch[slot]) ZT_CUDA_CHECK(cudaFree(c->scratch[slot]));
        c->scratch[slot] = NULL;
        c->scratch_size[slot] = 0;
        size_t want = (bytes + ZT_CUDA_SCRATCH_ROUND - 1) & ~(size_t)(ZT_CUDA_SCRATCH_ROUND - 1);
        cudaError_t e = cudaMalloc(&c->scratch[slot], want);
        if (e != cudaSuccess)
            return zt_fail(ZT_ERR_NOMEM, "cuda: cannot allocate %zu bytes of scratch: %s", want,
                           cudaGetErrorString(e));
        c->scratch_size[slot] = want;
    }
    *ptr = c->scratch[slot];
    return ZT_OK;
}

zt_status zt_cuda_upload_scratch(zt_backend *be, int slot, const void *host, size_t bytes,
                                 void **dev) {
    ZT_TRY(zt_cuda_scratch(be, slot, bytes, dev));
    /* from pageable memory the call returns once the host buffer has been staged */
    ZT_CUDA_CHECK(cudaMemcpyAsync(*dev, host, bytes, cudaMemcpyHostToDevice, zt_cuda(be)->stream));
    return ZT_OK;
}

static cudaDataType cuda_type(zt_dtype t) {
    return t == ZT_F16 ? CUDA_R_16F : t == ZT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

zt_status zt_cuda_gemm(zt_backend *be, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                       const void *a, zt_dtype a_type, int64_t lda, int64_t stride_a, const void *b,
                       zt_dtype b_type, int64_t ldb, int64_t stride_b, float beta, float *c,
                       int64_t ldc, int64_t stride_c, int64_t batch, int allow_tf32) {
    if (a_type != b_type || (a_type != ZT_F32 && a_type != ZT_F16 && a_type != ZT_BF16))
        return zt_fail(ZT_ERR_RUNTIME, "cuda gemm: %s x %s is not supported", zt_dtype_name(a_type),
                       zt_dtype_name(b_type));
    if (m == 0 || n == 0 || batch == 0) return ZT_OK;
    const float one = 1.0f;
    if (zt_cuda(be)->exact) allow_tf32 = 0; /* ZT_CUDA_EXACT: plain f32 */
    cublasComputeType_t ct =
        a_type == ZT_F32 && allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CUBLAS_CHECK(blas.gemm(zt_cuda(be)->blas, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                           trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &one, a, cuda_type(a_type),
                           lda, stride_a, b, cuda_type(b_type), ldb, stride_b, &beta, c, CUDA_R_32F,
                           ldc, stride_c, batch, ct, CUBLAS_GEMM_DEFAULT));
    return ZT_OK;
}

/* The remembered algorithm of a product shape, found with the heuristic on first use;
 * NULL where none fits (or the table is full and the heuristic finds none). */
static const cublasLtMatmulAlgo_t *lt_algo(zt_cuda_ctx *c, cublasLtMatmulDesc_t desc,
                                           cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb,
                                           cublasLtMatrixLayout_t lc, int64_t m, int64_t n,
                                           int64_t k, int dtype, int out_dtype, int epilogue,
                                           cublasLtMatmulAlgo_t *scratch) {
    for (int i = 0; i < c->lt_count; i++) {
        struct zt_cuda_lt_algo *e = &c->lt_algos[i];
        if (e->m == m && e->n == n && e->k == k && e->dtype == dtype &&
            e->out_dtype == out_dtype && e->epilogue == epilogue)
            return e->found ? &e->algo : NULL;
    }
    static const cublasLtMatmulPreferenceAttributes_t aligns[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int got = 0;
    size_t ws = ZT_CUDA_LT_WORKSPACE;
    uint32_t align = 16; /* what every pointer here has; the heuristic assumes 256 */
    int ok = lt.pref_create(&pref) == CUBLAS_STATUS_SUCCESS &&
             lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) ==
                 CUBLAS_STATUS_SUCCESS;
    for (int i = 0; i < 4 && ok; i++)
        ok = lt.pref_set(pref, aligns[i], &align, sizeof align) == CUBLAS_STATUS_SUCCESS;
    if (!ok || lt.heuristic(c->lt, desc, la, lb, lc, lc, pref, 1, &res, &got) !=
                   CUBLAS_STATUS_SUCCESS)
        got = 0;
    if (pref) lt.pref_destroy(pref);
    if (got > 0) *scratch = res.algo;
    if (c->lt_count < ZT_CUDA_LT_CACHE) {
        struct zt_cuda_lt_algo *e = &c->lt_algos[c->lt_count++];
        *e = (struct zt_cuda_lt_algo){.m = m,
                                      .n = n,
                                      .k = k,
                                      .dtype = dtype,
                                      .out_dtype = out_dtype,
                                      .epilogue = epilogue,
                                      .found = got > 0};
        if (got > 0) e->algo = res.algo;
    }
    return got > 0 ? scratch : NULL;
}

zt_status zt_cuda_gemm_lt(zt_backend *be, int64_t m, int64_t n, int64_t k, const void *w,
                          const void *x, zt_dtype wt, const void *bias, int gelu, void *y,
                          zt_dtype yt, int *done) {
    zt_cuda_ctx *c = zt_cuda(be);
    *done = 0;
    const void *ptrs[4] = {w, x, bias, y};
    for (int i = 0; i < 4; i++)
        if (((uintptr_t)ptrs[i] & 15) != 0) return ZT_OK;
    if (!c->lt || c->exact || (wt != ZT_BF16 && wt != ZT_F16) || (yt != ZT_F32 && yt != wt) ||
        m == 0 || n == 0 || k == 0)
        return ZT_OK;
    cublasLtEpilogue_t epi = gelu ? (bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                                  : (bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cudaDataType ab = cuda_type(wt);
    void *ws = NULL;
    ZT_TRY(zt_cuda_scratch(be, 4, ZT_CUDA_LT_WORKSPACE, &ws));
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    /* column-major, as zt_cuda_gemm: y^T [n, m] = w [k, n]^T x^T [k, m] */
    int ok = lt.desc_create(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS &&
             lt.desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) ==
                 CUBLAS_STATUS_SUCCESS &&
             lt.desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) ==
                 CUBLAS_STATUS_SUCCESS &&
             lt.desc_set(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi) ==
                 CUBLAS_STATUS_SUCCESS &&
             (!bias || lt.desc_set(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias) ==
                           CUBLAS_STATUS_SUCCESS) &&
             lt.layout_create(&la, ab, (uint64_t)k, (uint64_t)n, k) == CUBLAS_STATUS_SUCCESS &&
             lt.layout_create(&lb, ab, (uint64_t)k, (uint64_t)m, k) == CUBLAS_STATUS_SUCCESS &&
             lt.layout_create(&lc, cuda_type(yt), (uint64_t)n, (uint64_t)m, n) ==
                 CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulAlgo_t found;
    const cublasLtMatmulAlgo_t *algo =
        ok ? lt_algo(c, desc, la, lb, lc, m, n, k, (int)wt, (int)yt, (int)epi, &found) : NULL;
    cublasStatus_t st = CUBLAS_STATUS_NOT_SUPPORTED;
    const float one = 1.0f, zero = 0.0f;
    if (algo)
        st = lt.matmul(c->lt, desc, &one, w, la, x, lb, &zero, y, lc, y, lc, algo, ws,
                       ZT_CUDA_LT_WORKSPACE, c->stream);
    if (lc) lt.layout_destroy(lc);
    if (lb) lt.layout_destroy(lb);
    if (la) lt.layout_destroy(la);
    if (desc) lt.desc_destroy(desc);
    if (algo && st != CUBLAS_STATUS_SUCCESS)
        return zt_fail(ZT_ERR_RUNTIME, "cublasLt: matmul %lld x %lld x %lld: %s", (long long)m,
                       (long long)n, (long long)k, blas.status_string(st));
    *done = algo != NULL;
    return ZT_OK;
}

zt_status zt_cuda_gemm_weight(zt_backend *be, const zt_tensor *w, zt_tensor *wf) {
    *wf = *w;
    int f8 = w->dtype == ZT_F8_E4M3 || w->dtype == ZT_F8_E5M2;
    if (w->dtype == ZT_F32 || (!zt_cuda(be)->exact && !f8)) return ZT_OK;
    /* fp8 to bf16, which holds each of its values exactly and which tensor cores take */
    zt_dtype t = zt_cuda(be)->exact ? ZT_F32 : ZT_BF16;
    void *d = NULL;
    int64_t n = zt_tensor_numel(w);
    ZT_TRY(zt_cuda_scratch(be, 1, (size_t)n * zt_dtype_size(t), &d));
    ZT_TRY(zt_cuda_convert(be, d, t, w->data, w->dtype, n));
    *wf = zt_tensor_make(t, w->ndim, w->shape, d);
    wf->device = w->device;
    return ZT_OK;
}

static void cuda_free(zt_backend *be) {
    zt_cuda_ctx *c = be->ctx;
    if (c) {
        if (c->stream) cudaStreamSynchronize(c->stream);
        if (c->copy_stream) {
            cudaStreamSynchronize(c->copy_stream);
            cudaStreamDestroy(c->copy_stream);
        }
        for (int i = 0; i < ZT_CUDA_LANES; i++) {
            if (c->lanes[i].stage) cudaFreeHost(c->lanes[i].stage);
            if (c->lanes[i].queued) cudaEventDestroy(c->lanes[i].queued);
            if (c->lanes[i].landed) cudaEventDestroy(c->lanes[i].landed);
        }
        for (int i = 0; i < ZT_CUDA_SCRATCH_SLOTS; i++)
            if (c->scratch[i]) cudaFree(c->scratch[i]);
        if (c->blas) blas.destroy(c->blas);
        if (c->lt) lt.destroy(c->lt);
        if (c->rope_tab) cudaFree(c->rope_tab);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

static int cuda_threads(const zt_backend *be) {
    return 1;
}

static size_t cuda_scratch_bytes(const zt_backend *be) {
    size_t n = 0;
    for (int i = 0; i < ZT_CUDA_SCRATCH_SLOTS; i++) n += zt_cuda(be)->scratch_size[i];
    return n;
}

/* Remember (bytes > 0) or forget (bytes == 0) an allocation. Allocations are few
 * (weights, arenas, text states, scratch), so a scanned array will do. */
static void track(zt_cuda_ctx *c, void *p, size_t bytes) {
    for (size_t i = 0; i < ZT_CUDA_MAX_BLOCKS; i++) {
        struct zt_cuda_block *k = &c->blocks[i];
        if (bytes && !k->ptr) {
            *k = (struct zt_cuda_block){p, bytes};
            c->live += bytes;
            if (c->live > c->peak) c->peak = c->live;
            return;
        }
        if (!bytes && k->ptr == p) {
            c->live -= k->bytes;
            *k = (struct zt_cuda_block){0};
            return;
        }
    }
    /* table full: the peak undercounts; nothing else depends on it */
}

static zt_status cuda_memory(const zt_backend *be, size_t *live, size_t *peak, size_t *total,
                             size_t *free_bytes) {
    const zt_cuda_ctx *c = zt_cuda(be);
    size_t scratch = cuda_scratch_bytes(be);
    *live = c->live + scratch;
    *peak = c->peak + scratch;
    ZT_CUDA_CHECK(cudaSetDevice(c->device));
    ZT_CUDA_CHECK(cudaMemGetInfo(free_bytes, total));
    return ZT_OK;
}

zt_status zt_backend_cuda_memory(const zt_backend *be, size_t *live, size_t *peak, size_t *total) {
    *live = *peak = *total = 0;
    if (!be || strcmp(be->name, "cuda"))
        return zt_fail(ZT_ERR_USAGE, "cuda memory: not a CUDA backend");
    size_t free_b = 0;
    return cuda_memory(be, live, peak, total, &free_b);
}

static void cuda_release_scratch(zt_backend *be) {
    zt_cuda_ctx *c = zt_cuda(be);
    cudaStreamSynchronize(c->stream); /* queued kernels may still read them */
    for (int i = 0; i < ZT_CUDA_SCRATCH_SLOTS; i++) {
        if (c->scratch[i]) cudaFree(c->scratch[i]);
        c->scratch[i] = NULL;
        c->scratch_size[i] = 0;
    }
}

void zt_backend_cuda_reset_peak(zt_backend *be) {
    if (!be || strcmp(be->name, "cuda")) return;
    zt_cuda_ctx *c = zt_cuda(be);
    c->peak = c->live;
}

static zt_status cuda_alloc(zt_backend *be, size_t bytes, void **ptr) {
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 1);
    if (e == cudaSuccess) track(zt_cuda(be), *ptr, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *ptr = NULL;
        size_t free_b = 0, total = 0;
        cudaMemGetInfo(&free_b, &total);
        return zt_fail(ZT_ERR_NOMEM, "cuda: cannot allocate %zu bytes (%zu of %zu free): %s", bytes,
                       free_b, total, cudaGetErrorString(e));
    }
    return ZT_OK;
}

static void cuda_dealloc(zt_backend *be, void *ptr) {
    /* cudaFree waits for the device, so queued work that reads ptr finishes first */
    if (!ptr) return;
    track(zt_cuda(be), ptr, 0);
    cudaFree(ptr);
}

static zt_status cuda_upload(zt_backend *be, void *dst, const void *src, size_t bytes) {
    ZT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, zt_cuda(be)->stream));
    return ZT_OK;
}

static zt_status cuda_download(zt_backend *be, void *dst, const void *src, size_t bytes) {
    zt_cuda_ctx *c = be->ctx;
    ZT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    ZT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return ZT_OK;
}

static zt_status cuda_fill_zero(zt_backend *be, void *ptr, size_t bytes) {
    ZT_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, zt_cuda(be)->stream));
    return ZT_OK;
}

/* memmove: cudaMemcpy may not overlap, so an overlapping move goes in pieces no longer
 * than the distance, ordered so that no piece overwrites bytes still to be read */
static zt_status cuda_move(zt_backend *be, void *dst, const void *src, size_t bytes) {
    cudaStream_t st = zt_cuda(be)->stream;
    char *d = dst;
    const char *s = src;
    if (d == s || !bytes) return ZT_OK;
    size_t gap = d > s ? (size_t)(d - s) : (size_t)(s - d);
    if (gap >= bytes) {
        ZT_CUDA_CHECK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, st));
        return ZT_OK;
    }
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < gap ? bytes - done : gap;
        size_t off = d < s ? done : bytes - done - n; /* down: front first; up: back first */
        ZT_CUDA_CHECK(cudaMemcpyAsync(d + off, s + off, n, cudaMemcpyDeviceToDevice, st));
        done += n;
    }
    return ZT_OK;
}

static zt_status cuda_sync(zt_backend *be) {
    zt_cuda_ctx *c = be->ctx;
    ZT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (c->copy_stream) ZT_CUDA_CHECK(cudaStreamSynchronize(c->copy_stream));
    return ZT_OK;
}

/* Each part is copied into the lane's pinned buffer on the host and sent from there on
 * the copy stream as soon as it is in, so the host's copying overlaps the transfers
 * (from pageable memory a transfer is a slow synchronous one and cannot overlap the
 * kernels). */
static zt_status cuda_upload_ahead(zt_backend *be, int lane, const zt_upload_part *parts, int n) {
    zt_cuda_ctx *c = be->ctx;
    if (lane < 0 || lane >= ZT_CUDA_LANES)
        return zt_fail(ZT_ERR_USAGE, "cuda: upload lane %d is not 0..%d", lane, ZT_CUDA_LANES - 1);
    struct zt_cuda_lane *l = &c->lanes[lane];
    if (!c->copy_stream)
        ZT_CUDA_CHECK(cudaStreamCreateWithFlags(&c->copy_stream, cudaStreamNonBlocking));
    if (!l->queued) ZT_CUDA_CHECK(cudaEventCreateWithFlags(&l->queued, cudaEventDisableTiming));
    if (!l->landed) ZT_CUDA_CHECK(cudaEventCreateWithFlags(&l->landed, cudaEventDisableTiming));
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (parts[i].bytes + 255) & ~(size_t)255;
    if (l->in_flight) /* the lane's last copy has read the staging buffer */
        ZT_CUDA_CHECK(cudaEventSynchronize(l->landed));
    l->in_flight = 0;
    if (total > l->stage_size && !l->refused) {
        if (l->stage) ZT_CUDA_CHECK(cudaFreeHost(l->stage));
        l->stage = NULL;
        l->stage_size = 0;
        if (cudaHostAlloc(&l->stage, total, cudaHostAllocDefault) == cudaSuccess)
            l->stage_size = total;
        else { /* not asked again: each refusal costs a try at a block's size */
            l->stage = NULL;
            l->refused = 1;
            (void)cudaGetLastError(); /* not sticky: keep it from the next launch check */
        }
    }
    ZT_CUDA_CHECK(cudaEventRecord(l->queued, c->stream));
    ZT_CUDA_CHECK(cudaStreamWaitEvent(c->copy_stream, l->queued, 0));
    size_t off = 0;
    cudaError_t e = cudaSuccess;
    for (int i = 0; i < n && e == cudaSuccess; i++) {
        const void *src = parts[i].src;
        if (l->stage) {
            memcpy((char *)l->stage + off, src, parts[i].bytes);
            src = (char *)l->stage + off;
            off += (parts[i].bytes + 255) & ~(size_t)255;
        }
        e = cudaMemcpyAsync(parts[i].dst, src, parts[i].bytes, cudaMemcpyHostToDevice,
                            c->copy_stream);
    }
    /* recorded after a failed part too: the parts before it may still read the buffer */
    ZT_CUDA_CHECK(cudaEventRecord(l->landed, c->copy_stream));
    l->in_flight = 1;
    if (e != cudaSuccess)
        return zt_fail(ZT_ERR_RUNTIME, "cuda: copying a block ahead (%s:%d): %s", __FILE__,
                       __LINE__, cudaGetErrorString(e));
    return ZT_OK;
}

static zt_status cuda_upload_wait(zt_backend *be, int lane) {
    zt_cuda_ctx *c = be->ctx;
    if (lane < 0 || lane >= ZT_CUDA_LANES)
        return zt_fail(ZT_ERR_USAGE, "cuda: upload lane %d is not 0..%d", lane, ZT_CUDA_LANES - 1);
    if (c->lanes[lane].landed)
        ZT_CUDA_CHECK(cudaStreamWaitEvent(c->stream, c->lanes[lane].landed, 0));
    return ZT_OK;
}

static zt_status cuda_setup(zt_cuda_ctx *c, int device) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return zt_fail(ZT_ERR_UNSUPPORTED, "cuda: no usable GPU here (%s); use --device cpu",
                       e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    if (device < 0 || device >= n)
        return zt_fail(ZT_ERR_UNSUPPORTED, "cuda: no device %d (%d present)", device, n);
    c->device = device;
    const char *exact = getenv("ZT_CUDA_EXACT");
    c->exact = exact && *exact && strcmp(exact, "0") != 0;
    ZT_CUDA_CHECK(cudaSetDevice(device));
    ZT_CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device));
    ZT_CUDA_CHECK(cudaDeviceGetAttribute(&c->cc_major, cudaDevAttrComputeCapabilityMajor, device));
    ZT_CUDA_CHECK(cudaDeviceGetAttribute(&c->cc_minor, cudaDevAttrComputeCapabilityMinor, device));
    ZT_CUDA_CHECK(
        cudaDeviceGetAttribute(&c->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    const char *optin = getenv("ZT_CUDA_SMEM_OPTIN");
    if (optin && atoi(optin) > 0 && atoi(optin) < c->smem_optin) c->smem_optin = atoi(optin);
    const char *attn = getenv("ZT_CUDA_ATTN");
    c->attn_sm90 = c->cc_major != 9 || c->cc_minor != 0 ? 0
                   : !attn                              ? 1
                   : strcmp(attn, "mma") == 0           ? 0
                   : strcmp(attn, "overlap") == 0       ? 2
                                                        : 1;
    c->conv_implicit = zt_ct_env();
    if (c->cc_major < 8)
        return zt_fail(ZT_ERR_UNSUPPORTED,
                       "cuda: device %d has compute capability %d.%d; "
                       "Zoetrope needs 8.0 (Ampere) or newer",
                       device, c->cc_major, c->cc_minor);
    ZT_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    pthread_once(&blas_once, blas_load);
    if (!blas.lib) return zt_fail(ZT_ERR_UNSUPPORTED, "cuda: cannot load cuBLAS: %s", blas.error);
    CUBLAS_CHECK(blas.create(&c->blas));
    CUBLAS_CHECK(blas.set_stream(c->blas, c->stream));
    if (lt.lib && lt.create(&c->lt) != CUBLAS_STATUS_SUCCESS) c->lt = NULL; /* optional */
    return ZT_OK;
}

zt_status zt_backend_cuda_init(zt_backend **out, int device) {
    *out = NULL;
    zt_backend *be = calloc(1, sizeof *be);
    zt_cuda_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return zt_fail(ZT_ERR_NOMEM, "cuda backend: out of memory");
    }
    be->ctx = c;
    be->name = "cuda";
    be->device = device + 1;
    be->free = cuda_free;
    zt_status s = cuda_setup(c, device);
    int built = 1;
    if (s == ZT_OK && c->attn_sm90) s = zt_cuda_flash_sm90_built(be, &built);
    if (s != ZT_OK) {
        cuda_free(be);
        return s;
    }
    if (!built) { /* its body would be empty: the sm_80 kernel, not wrong attention */
        c->attn_sm90 = 0;
        ZT_LOGW("cuda: this build has no sm_90a code (CMAKE_CUDA_ARCHITECTURES without 90a): "
                "attention runs the sm_80 kernel, which takes about twice its time");
    }
    be->threads = cuda_threads;
    be->scratch_bytes = cuda_scratch_bytes;
    be->alloc = cuda_alloc;
    be->dealloc = cuda_dealloc;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->sync = cuda_sync;
    be->memory = cuda_memory;
    be->reset_peak = zt_backend_cuda_reset_peak;
    be->release_scratch = cuda_release_scratch;
    be->fill_zero = cuda_fill_zero;
    be->move = cuda_move;
    be->upload_ahead = cuda_upload_ahead;
    be->upload_wait = cuda_upload_wait;
    be->linear = zt_cuda_linear;
    be->linear_gelu = zt_cuda_linear_gelu;
    /* ZT_CUDA_FUSE=0: the model's plain op sequence instead, to measure what these save */
    const char *fuse = getenv("ZT_CUDA_FUSE");
    if (!fuse || strcmp(fuse, "0") != 0) {
        be->linears = zt_cuda_linears;
        be->ffn_gelu = zt_cuda_ffn_gelu;
        be->norm_modulate = zt_cuda_norm_modulate;
        be->l2_norm_silu = zt_cuda_l2_norm_silu;
    }
    be->matmul = zt_cuda_matmul;
    be->layer_norm = zt_cuda_layer_norm;
    be->rms_norm = zt_cuda_rms_norm;
    be->l2_norm = zt_cuda_l2_norm;
    be->unary = zt_cuda_unary_op;
    be->binary = zt_cuda_binary;
    be->modulate = zt_cuda_modulate;
    be->gated_add = zt_cuda_gated_add;
    be->softmax = zt_cuda_softmax;
    be->attention = zt_cuda_attention;
    be->rope3d = zt_cuda_rope3d;
    be->conv2d = zt_cuda_conv2d;
    be->conv3d = zt_cuda_conv3d;
    be->upsample_nearest = zt_cuda_upsample_nearest;
    be->pad = zt_cuda_pad;
    be->concat = zt_cuda_concat;
    be->copy = zt_cuda_copy;
    *out = be;
    return ZT_OK;
}
