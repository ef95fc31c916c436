/* The whole t2v / i2v pipeline on the GPU against the CPU: the same settings, seed and
 * fixture models (tests/data/pipeline: umT5 d_model 32, 2-layer Wan DiTs, the VAE
 * fixtures) through zt_generate with every model on the CPU, then on CUDA, and once
 * more on CUDA with the text encoder on the CPU and the DiT offloaded. Decoded frames
 * must agree by PSNR >= 40 dB (over [-1, 1] mapped to 8 bits), and two GPU runs must
 * give identical files. Skipped (exit 77) without a GPU. Unlike the tests/unit/test_cuda_*
 * op tests this needs the video libraries too, so tools/gpu-check.sh runs it only on a
 * GPU machine with the whole build. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "pipeline/generate.h"
#include "pipeline/settings.h"
#include "testlib.h"

typedef struct frames {
    float *v; /* [F, 3, H, W] */
    int64_t per, n;
} frames;

static zt_status keep_frame(void *user, const zt_tensor *f, int64_t index) {
    frames *fr = user;
    int64_t per = zt_tensor_numel(f);
    if (!fr->v) {
        fr->per = per;
        fr->v = zt_test_alloc((size_t)(per * 64) * sizeof(float));
    }
    if (index < 64 && per == fr->per) memcpy(fr->v + index * per, f->data, (size_t)per * 4);
    fr->n = index + 1;
    return ZT_OK;
}

static void run(const char *dit, const char *vae, const char *image, const char *device,
                const char *te_device, int offload, const char *out, frames *fr) {
    zt_settings s;
    zt_settings_init(&s);
    CHECK_OK(zt_settings_set(&s, "prompt", "a red circle moving left"));
    CHECK_OK(zt_settings_set(&s, "model", zt_test_data(dit)));
    CHECK_OK(zt_settings_set(&s, "vae", zt_test_data(vae)));
    CHECK_OK(zt_settings_set(&s, "text_encoder", zt_test_data("pipeline/t5.safetensors")));
    CHECK_OK(zt_settings_set(&s, "tokenizer", zt_test_data("tokenizer/bf.model")));
    CHECK_OK(zt_settings_set(&s, "width", image ? "64" : "48"));
    CHECK_OK(zt_settings_set(&s, "height", image ? "32" : "32"));
    CHECK_OK(zt_settings_set(&s, "frames", "9"));
    CHECK_OK(zt_settings_set(&s, "steps", "4"));
    CHECK_OK(zt_settings_set(&s, "seed", "11"));
    CHECK_OK(zt_settings_set(&s, "device", device));
    if (te_device) CHECK_OK(zt_settings_set(&s, "text_encoder_device", te_device));
    if (offload) CHECK_OK(zt_settings_set(&s, "offload", "1"));
    if (image) CHECK_OK(zt_settings_set(&s, "image", zt_test_data(image)));
    CHECK_OK(zt_settings_set(&s, "output", out));
    zt_gen_callbacks cb = {0};
    cb.frame = keep_frame;
    cb.user = fr;
    zt_gen_result res;
    CHECK_OK(zt_generate(&s, image ? ZT_GEN_I2V : ZT_GEN_T2V, &cb, &res));
    zt_settings_free(&s);
}

static double psnr(const frames *a, const frames *b) {
    if (!a->v || !b->v || a->n != b->n || a->per != b->per) return 0;
    double se = 0;
    int64_t n = a->n * a->per;
    for (int64_t i = 0; i < n; i++) {
        double d = (a->v[i] - b->v[i]) * 127.5; /* [-1, 1] as 8-bit levels */
        se += d * d;
    }
    return se > 0 ? 10 * log10(255.0 * 255.0 / (se / (double)n)) : INFINITY;
}

static void compare_files(const char *a, const char *b, const char *what) {
    size_t na, nb;
    uint8_t *x = zt_test_read_file(a, &na), *y = zt_test_read_file(b, &nb);
    CHECK(x && y && na == nb && !memcmp(x, y, na), "%s: the two GPU runs' files differ", what);
    free(x);
    free(y);
}

static void check_case(const char *name, const char *dit, const char *vae, const char *image) {
    char p[4][512];
    for (int i = 0; i < 4; i++)
        snprintf(p[i], sizeof p[i], "%s/%s-%d.y4m", zt_test_tmpdir(), name, i);
    frames cpu = {0}, gpu = {0}, gpu2 = {0}, mixed = {0};
    run(dit, vae, image, "cpu", NULL, 0, p[0], &cpu);
    run(dit, vae, image, "cuda", NULL, 0, p[1], &gpu);
    run(dit, vae, image, "cuda", NULL, 0, p[2], &gpu2);
    run(dit, vae, image, "cuda", "cpu", 1, p[3], &mixed);
    double q = psnr(&cpu, &gpu), q2 = psnr(&cpu, &mixed);
    printf("%s: cuda vs cpu PSNR %.1f dB, text encoder on the cpu + offload %.1f dB\n", name, q,
           q2);
    CHECK(q >= 40.0, "%s: cuda vs cpu PSNR %.1f dB < 40", name, q);
    CHECK(q2 >= 40.0, "%s: mixed placement vs cpu PSNR %.1f dB < 40", name, q2);
    compare_files(p[1], p[2], name);
}

int main(void) {
    if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    check_case("t2v", "pipeline/dit21.safetensors", "vae/wan21/diffusers.safetensors", NULL);
    check_case("i2v", "pipeline/dit22.safetensors", "vae/wan22/diffusers.safetensors",
               "pipeline/image.png");
    return zt_test_finish();
}
