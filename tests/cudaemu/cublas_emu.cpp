// cublas_emu.cpp - the cuBLAS and cuBLASLt entry points the CUDA backend looks up (with
// dlsym, from the test executable itself under ZT_CUDA_EMU): column-major products of
// f32, f16 or bf16 matrices with f32 accumulation, through OpenBLAS on f32 copies.
// TF32 compute rounds the inputs as the tensor cores' cvt.rna does; cuBLASLt's epilogues
// add the bias (of D's type, its default) and apply GELU's tanh form.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>
#include <vector>

#include "cudaemu.h"
#include <cublasLt.h>
#include <cublas_v2.h>

#include "backends/cuda/cuda.h"
#include "ptx_ref.h"

namespace {

[[noreturn]] void die(const char *what) {
    fprintf(stderr, "cublas emu: %s\n", what);
    abort();
}

bool known(cudaDataType t) {
    return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF;
}

float load(cudaDataType t, const void *p, int64_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == CUDA_R_16F ? zt_f16_to_f32(h) : zt_bf16_to_f32(h);
}
void store(cudaDataType t, void *p, int64_t i, float v) {
    if (t == CUDA_R_32F)
        ((float *)p)[i] = v;
    else if (t == CUDA_R_16F)
        ((uint16_t *)p)[i] = zt_f32_to_f16(v);
    else
        ((uint16_t *)p)[i] = zt_f32_to_bf16(v);
}

// op(X) as an f32 column-major rows x cols matrix, from X of leading dimension ld.
std::vector<float> widen(cudaDataType t, const void *x, bool trans, int64_t rows, int64_t cols,
                         int64_t ld, bool tf32) {
    std::vector<float> out((size_t)(rows * cols));
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) {
            float v = load(t, x, trans ? j + i * ld : i + j * ld);
            out[(size_t)(i + j * rows)] = tf32 ? ptx_tf32(v) : v;
        }
    return out;
}

// D [m, n] = op(A) [m, k] op(B) [k, n] in f32, column-major, leading dimension m.
std::vector<float> product(cudaDataType at, const void *a, bool ta, int64_t lda, cudaDataType bt,
                           const void *b, bool tb, int64_t ldb, int64_t m, int64_t n, int64_t k,
                           bool tf32) {
    std::vector<float> af = widen(at, a, ta, m, k, lda, tf32);
    std::vector<float> bf = widen(bt, b, tb, k, n, ldb, tf32);
    std::vector<float> d((size_t)(m * n));
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, af.data(),
                (int)m, bf.data(), (int)k, 0.0f, d.data(), (int)m);
    return d;
}

struct lt_desc {
    cublasComputeType_t compute;
    cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    const void *bias = nullptr;
};
struct lt_layout {
    cudaDataType t;
    uint64_t rows, cols;
    int64_t ld;
};

} // namespace

struct cublasContext {
    cudaStream_t stream;
};
struct cublasLtContext {
    int unused;
};

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
    *h = new cublasContext{};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusString(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "success (emulated)" : "failure (emulated)";
}

cublasStatus_t cublasGemmStridedBatchedEx_64(
    cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
    const void *alpha, const void *a, cudaDataType at, int64_t lda, long long sa, const void *b,
    cudaDataType bt, int64_t ldb, long long sb, const void *beta, void *c, cudaDataType ct,
    int64_t ldc, long long sc, int64_t batch, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    std::lock_guard<std::recursive_mutex> lock(zt_emu_lock());
    if (!known(at) || !known(bt) || ct != CUDA_R_32F ||
        (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    bool a_t = ta == CUBLAS_OP_T, b_t = tb == CUBLAS_OP_T;
    if (lda < (a_t ? k : m) || ldb < (b_t ? n : k) || ldc < m) return CUBLAS_STATUS_INVALID_VALUE;
    float al = *(const float *)alpha, be = *(const float *)beta;
    bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32 && at == CUDA_R_32F;
    size_t ea = at == CUDA_R_32F ? 4 : 2, eb = bt == CUDA_R_32F ? 4 : 2;
    for (int64_t i = 0; i < batch; i++) {
        const char *ai = (const char *)a + (size_t)(i * sa) * ea;
        const char *bi = (const char *)b + (size_t)(i * sb) * eb;
        float *ci = (float *)c + i * sc;
        // the last element each operand reaches must be device memory
        if (k > 0) { // k = 0 reads neither (C becomes beta C)
            zt_emu_check_arg(nullptr, 0,
                             ai + ((a_t ? m - 1 : k - 1) * lda + (a_t ? k : m) - 1) * ea);
            zt_emu_check_arg(nullptr, 1,
                             bi + ((b_t ? k - 1 : n - 1) * ldb + (b_t ? n : k) - 1) * eb);
        }
        zt_emu_check_arg(nullptr, 2, ci + (n - 1) * ldc + m - 1);
    }
    zt_emu_enqueue(
        h->stream,
        [=] {
            for (int64_t i = 0; i < batch; i++) {
                const char *ai = (const char *)a + (size_t)(i * sa) * ea;
                const char *bi = (const char *)b + (size_t)(i * sb) * eb;
                float *ci = (float *)c + i * sc;
                std::vector<float> d = product(at, ai, a_t, lda, bt, bi, b_t, ldb, m, n, k, tf32);
                for (int64_t j = 0; j < n; j++)
                    for (int64_t r = 0; r < m; r++) {
                        float &y = ci[r + j * ldc];
                        float v = al * d[(size_t)(r + j * m)];
                        y = be == 0.0f ? v : v + be * y;
                    }
            }
        },
        true);
    return CUBLAS_STATUS_SUCCESS;
}

// ---- cuBLASLt ------------------------------------------------------------------------------
cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
    *h = new cublasLtContext{};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
    if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    lt_desc *p = new lt_desc{};
    p->compute = compute;
    *d = (cublasLtMatmulDesc_t)p;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
    delete (lt_desc *)d;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t attr, const void *buf,
                                              size_t size) {
    lt_desc *p = (lt_desc *)d;
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
        if (size != sizeof p->ta) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&p->ta, buf, size);
        break;
    case CUBLASLT_MATMUL_DESC_TRANSB:
        if (size != sizeof p->tb) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&p->tb, buf, size);
        break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
        if (size != sizeof p->epi) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&p->epi, buf, size);
        break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
        if (size != sizeof p->bias) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&p->bias, buf, size);
        break;
    default:
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType t, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
    if (!known(t) || ld < (int64_t)rows) return CUBLAS_STATUS_INVALID_VALUE;
    *l = (cublasLtMatrixLayout_t) new lt_layout{t, rows, cols, ld};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
    delete (lt_layout *)l;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
    *p = (cublasLtMatmulPreference_t) new int(0);
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
    delete (int *)p;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t,
                                                    cublasLtMatmulPreferenceAttributes_t,
                                                    const void *, size_t) {
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t d,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dl,
                                              cublasLtMatmulPreference_t, int want,
                                              cublasLtMatmulHeuristicResult_t *res, int *got) {
    if (want < 1) return CUBLAS_STATUS_INVALID_VALUE;
    memset(res, 0, sizeof *res);
    res->state = CUBLAS_STATUS_SUCCESS;
    *got = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t dd, const void *alpha,
                              const void *a, cublasLtMatrixLayout_t la, const void *b,
                              cublasLtMatrixLayout_t lb, const void *beta, const void *c,
                              cublasLtMatrixLayout_t lc, void *d, cublasLtMatrixLayout_t ld,
                              const cublasLtMatmulAlgo_t *, void *ws, size_t ws_bytes,
                              cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(zt_emu_lock());
    const lt_desc *p = (const lt_desc *)dd;
    const lt_layout *A = (const lt_layout *)la, *B = (const lt_layout *)lb,
                    *C = (const lt_layout *)lc, *D = (const lt_layout *)ld;
    bool a_t = p->ta == CUBLAS_OP_T, b_t = p->tb == CUBLAS_OP_T;
    int64_t m = (int64_t)(a_t ? A->cols : A->rows), k = (int64_t)(a_t ? A->rows : A->cols);
    int64_t n = (int64_t)(b_t ? B->rows : B->cols), kb = (int64_t)(b_t ? B->cols : B->rows);
    if (p->compute != CUBLAS_COMPUTE_32F || k != kb || (int64_t)D->rows != m ||
        (int64_t)D->cols != n || C->rows != D->rows || C->cols != D->cols || C->t != D->t)
        return CUBLAS_STATUS_INVALID_VALUE;
    bool bias = p->epi == CUBLASLT_EPILOGUE_BIAS || p->epi == CUBLASLT_EPILOGUE_GELU_BIAS;
    bool gelu = p->epi == CUBLASLT_EPILOGUE_GELU || p->epi == CUBLASLT_EPILOGUE_GELU_BIAS;
    if (!bias && !gelu && p->epi != CUBLASLT_EPILOGUE_DEFAULT) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (bias && !p->bias) return CUBLAS_STATUS_INVALID_VALUE;
    size_t ed = D->t == CUDA_R_32F ? 4 : 2;
    // the last element of each matrix must be device memory
    auto last = [](const void *x, const lt_layout *l) {
        size_t e = l->t == CUDA_R_32F ? 4 : 2;
        return (const char *)x + ((l->cols - 1) * l->ld + l->rows - 1) * e;
    };
    zt_emu_check_arg(nullptr, 0, last(a, A));
    zt_emu_check_arg(nullptr, 1, last(b, B));
    zt_emu_check_arg(nullptr, 2, last(c, C));
    zt_emu_check_arg(nullptr, 3, last(d, D));
    if (bias) zt_emu_check_arg(nullptr, 4, (const char *)p->bias + (m - 1) * ed);
    if (ws_bytes) zt_emu_check_arg(nullptr, 5, (const char *)ws + ws_bytes - 1);
    float al = *(const float *)alpha, be = *(const float *)beta;
    lt_layout la_ = *A, lb_ = *B, lc_ = *C, ld_ = *D; // the caller may destroy them now
    const void *bias_p = p->bias;
    zt_emu_enqueue(
        stream,
        [=] {
            std::vector<float> r =
                product(la_.t, a, a_t, la_.ld, lb_.t, b, b_t, lb_.ld, m, n, k, false);
            for (int64_t j = 0; j < n; j++)
                for (int64_t i = 0; i < m; i++) {
                    float v = al * r[(size_t)(i + j * m)];
                    if (be != 0.0f) v += be * load(lc_.t, c, i + j * lc_.ld);
                    if (bias) v += load(ld_.t, bias_p, i);
                    if (gelu)
                        v = 0.5f * v *
                            (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
                    store(ld_.t, d, i + j * ld_.ld, v);
                }
        },
        true);
    return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
