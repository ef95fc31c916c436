/* The CUDA backend against the CPU backend, op by op. Skipped (exit 77) when the build
 * has no CUDA backend or the machine has no GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "testlib.h"

int main(void) {
    if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    zt_backend *cpu, *gpu;
    CHECK_OK(zt_backend_cpu_init(&cpu, 2));
    CHECK_OK(zt_backend_cuda_init(&gpu, 0));
    if (zt_test_failures) return zt_test_finish();

    zt_test_rng rng = {11};
    const int64_t n = 100003; /* odd on purpose */
    float *x = malloc(n * sizeof *x), *y_cpu = malloc(n * sizeof *y_cpu), *y_gpu = malloc(n * sizeof *y_gpu);
    double *ref = malloc(n * sizeof *ref);
    zt_test_fill_normal(&rng, x, n, 3.0);
    void *dx, *dy;
    CHECK_OK(gpu->alloc(gpu, n * sizeof(float), &dx));
    CHECK_OK(gpu->alloc(gpu, n * sizeof(float), &dy));
    CHECK_OK(gpu->upload(gpu, dx, x, n * sizeof(float)));
    static const struct { zt_unary_op op; const char *name; float a, b; } ops[] = {
        {ZT_UNARY_SILU, "silu", 0, 0}, {ZT_UNARY_GELU_TANH, "gelu_tanh", 0, 0},
        {ZT_UNARY_GELU_ERF, "gelu_erf", 0, 0}, {ZT_UNARY_SCALE, "scale", 0.5f, 1.0f},
        {ZT_UNARY_CLAMP, "clamp", -1.0f, 1.0f}, {ZT_UNARY_TANH, "tanh", 0, 0},
        {ZT_UNARY_SIGMOID, "sigmoid", 0, 0},
    };
    zt_tensor tx = zt_tensor_new(ZT_F32, x, n), tyc = zt_tensor_new(ZT_F32, y_cpu, n);
    zt_tensor gx = zt_tensor_new(ZT_F32, dx, n), gy = zt_tensor_new(ZT_F32, dy, n);
    gx.device = gy.device = 1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        CHECK_OK(zt_op_unary(cpu, &tyc, &tx, ops[i].op, ops[i].a, ops[i].b));
        CHECK_OK(zt_op_unary(gpu, &gy, &gx, ops[i].op, ops[i].a, ops[i].b));
        CHECK_OK(gpu->download(gpu, y_gpu, dy, n * sizeof(float)));
        for (int64_t j = 0; j < n; j++) ref[j] = y_cpu[j];
        char name[64];
        snprintf(name, sizeof name, "cuda vs cpu %s", ops[i].name);
        zt_test_compare(name, y_gpu, ref, n, 1e-5);
    }
    gpu->dealloc(gpu, dx);
    gpu->dealloc(gpu, dy);
    zt_backend_free(gpu);
    zt_backend_free(cpu);
    free(x);
    free(y_cpu);
    free(y_gpu);
    free(ref);
    return zt_test_finish();
}
