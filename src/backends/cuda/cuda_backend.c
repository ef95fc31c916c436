/* The CUDA backend: device memory, one stream, cuBLAS. Ops land here one family at a
 * time (kernels/NAME.cu); until then the table leaves them NULL and core/ops.c reports
 * ZT_ERR_UNSUPPORTED for them.
 *
 * cuBLAS is opened with dlopen when a CUDA backend is created, not linked: merely
 * loading libcublasLt costs over 200 MB of resident memory, which every CPU run would
 * otherwise pay. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../core/status.h"
#include "../backend.h"
#include "cuda_common.h"

#define CUDA_CHECK(expr)                                                                   \
    do {                                                                                   \
        cudaError_t e_ = (expr);                                                           \
        if (e_ != cudaSuccess)                                                             \
            return zt_fail(ZT_ERR_RUNTIME, "cuda: %s (%s:%d): %s", #expr, __FILE__,        \
                           __LINE__, cudaGetErrorString(e_));                              \
    } while (0)

/* The cuBLAS entry points used, resolved once from the library. */
static struct {
    void *lib;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    const char *(*status_string)(cublasStatus_t);
    char error[256];
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void) {
    char name[64];
    snprintf(name, sizeof name, "libcublas.so.%d", CUBLAS_VER_MAJOR);
    blas.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
#ifdef ZT_CUDA_LIB_DIR
    if (!blas.lib) { /* the toolkit's own directory, when it is not on the loader's path */
        char path[512];
        snprintf(path, sizeof path, "%s/%s", ZT_CUDA_LIB_DIR, name);
        blas.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
#endif
    if (!blas.lib) {
        snprintf(blas.error, sizeof blas.error, "%s", dlerror());
        return;
    }
    *(void **)&blas.create = dlsym(blas.lib, "cublasCreate_v2");
    *(void **)&blas.destroy = dlsym(blas.lib, "cublasDestroy_v2");
    *(void **)&blas.set_stream = dlsym(blas.lib, "cublasSetStream_v2");
    *(void **)&blas.status_string = dlsym(blas.lib, "cublasGetStatusString");
    if (!blas.create || !blas.destroy || !blas.set_stream || !blas.status_string) {
        snprintf(blas.error, sizeof blas.error, "%s lacks an expected function", name);
        dlclose(blas.lib);
        blas.lib = NULL;
    }
}

#define CUBLAS_CHECK(expr)                                                                 \
    do {                                                                                   \
        cublasStatus_t e_ = (expr);                                                        \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                   \
            return zt_fail(ZT_ERR_RUNTIME, "cublas: %s (%s:%d): %s", #expr, __FILE__,      \
                           __LINE__, blas.status_string(e_));                              \
    } while (0)

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
} cuda_ctx;

int zt_backend_cuda_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

static void cuda_free(zt_backend *be) {
    cuda_ctx *c = be->ctx;
    if (c) {
        if (c->blas) blas.destroy(c->blas);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

static int cuda_threads(const zt_backend *be) { return 1; }
static size_t cuda_scratch_bytes(const zt_backend *be) { return 0; }

static zt_status cuda_alloc(zt_backend *be, size_t bytes, void **ptr) {
    CUDA_CHECK(cudaMalloc(ptr, bytes ? bytes : 1));
    return ZT_OK;
}

static void cuda_dealloc(zt_backend *be, void *ptr) {
    if (ptr) cudaFree(ptr);
}

static zt_status cuda_upload(zt_backend *be, void *dst, const void *src, size_t bytes) {
    cuda_ctx *c = be->ctx;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    return ZT_OK;
}

static zt_status cuda_download(zt_backend *be, void *dst, const void *src, size_t bytes) {
    cuda_ctx *c = be->ctx;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return ZT_OK;
}

static zt_status cuda_sync(zt_backend *be) {
    cuda_ctx *c = be->ctx;
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return ZT_OK;
}

static zt_status cuda_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                            float alpha, float beta) {
    cuda_ctx *c = be->ctx;
    CUDA_CHECK(zt_cuda_unary(y->data, x->data, zt_tensor_numel(x), (int)op, alpha, beta,
                             c->stream));
    return ZT_OK;
}

static zt_status cuda_setup(cuda_ctx *c, int device) {
    int n = 0;
    CUDA_CHECK(cudaGetDeviceCount(&n));
    if (device < 0 || device >= n)
        return zt_fail(ZT_ERR_UNSUPPORTED, "cuda: no device %d (%d present)", device, n);
    c->device = device;
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    pthread_once(&blas_once, blas_load);
    if (!blas.lib) return zt_fail(ZT_ERR_UNSUPPORTED, "cuda: cannot load cuBLAS: %s", blas.error);
    CUBLAS_CHECK(blas.create(&c->blas));
    CUBLAS_CHECK(blas.set_stream(c->blas, c->stream));
    return ZT_OK;
}

zt_status zt_backend_cuda_init(zt_backend **out, int device) {
    *out = NULL;
    zt_backend *be = calloc(1, sizeof *be);
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return zt_fail(ZT_ERR_NOMEM, "cuda backend: out of memory");
    }
    be->ctx = c;
    be->name = "cuda";
    be->free = cuda_free;
    zt_status s = cuda_setup(c, device);
    if (s != ZT_OK) {
        cuda_free(be);
        return s;
    }
    be->threads = cuda_threads;
    be->scratch_bytes = cuda_scratch_bytes;
    be->alloc = cuda_alloc;
    be->dealloc = cuda_dealloc;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->sync = cuda_sync;
    be->unary = cuda_unary;
    *out = be;
    return ZT_OK;
}
