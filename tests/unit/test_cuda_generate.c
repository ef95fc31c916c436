/* The whole t2v / i2v pipeline on the GPU against the CPU: the same settings, seed and
 * models through zt_generate with every model on the CPU, then on CUDA, and once more on
 * CUDA with the text encoder on the CPU and the DiT offloaded. Two sets of models: the
 * built-in zoetrope-tiny with its preset (presets/tiny.cfg: 128x128, 17 frames, 20 UniPC
 * steps with guidance), and the fixtures of tests/data/pipeline (umT5 d_model 32, 2-layer
 * Wan2.1 and Wan2.2 DiTs, the VAE fixtures). Decoded frames must agree by PSNR >= 40 dB
 * (over [-1, 1] mapped to 8 bits), and two GPU runs must give identical frames and
 * identical files. Skipped (exit 77) without a GPU. Unlike the tests/unit/test_cuda_* op
 * tests this needs FFmpeg's libraries too (the writer, the picture's decoder): GPU
 * machines without them take tools/gpu/build-ffmpeg-min.sh's, which
 * tools/gpu/pack-prebuilt.sh packs. Each stage that ran on the GPU is held to its memory
 * plan. ZT_TEST_GPU_DEVICE=standin runs the "GPU" runs on a stand-in device made of the
 * CPU's ops (zt_test_standin_device): the pipeline's device paths (placement, uploads and
 * downloads, device arenas, the DiT's projected text states, --offload) and this
 * harness, on machines without a GPU; there each stage's device memory must be its
 * plan's exactly, less the CUDA scratch the stand-in does not have. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "pipeline/generate.h"
#include "pipeline/settings.h"
#include "testlib.h"

static int standin; /* the "GPU" is zt_test_standin_device */

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

#define TINY_DIR ZT_TEST_DATA "/../../models/zoetrope-tiny/"

/* One generation's models and settings: a preset file (or none) and model files. */
typedef struct job {
    const char *preset; /* NULL: the settings below only */
    char dit[512], vae[512], text_encoder[512], tokenizer[512], image[512];
    const char *width, *height, *frames, *steps, *prompt;
    /* GPU runs under this budget, which must tile their decode as the CPU run is told */
    const char *max_gpu_memory, *vae_tile;
} job;

static void run(const job *j, const char *device, const char *te_device, int offload,
                const char *out, frames *fr) {
    zt_settings s;
    zt_settings_init(&s);
    if (j->preset) CHECK_OK(zt_settings_load_file(&s, j->preset));
    CHECK_OK(zt_settings_set(&s, "prompt", j->prompt));
    CHECK_OK(zt_settings_set(&s, "model", j->dit));
    CHECK_OK(zt_settings_set(&s, "vae", j->vae));
    CHECK_OK(zt_settings_set(&s, "text_encoder", j->text_encoder));
    CHECK_OK(zt_settings_set(&s, "tokenizer", j->tokenizer));
    if (j->width) CHECK_OK(zt_settings_set(&s, "width", j->width));
    if (j->height) CHECK_OK(zt_settings_set(&s, "height", j->height));
    if (j->frames) CHECK_OK(zt_settings_set(&s, "frames", j->frames));
    if (j->steps) CHECK_OK(zt_settings_set(&s, "steps", j->steps));
    CHECK_OK(zt_settings_set(&s, "seed", "11"));
    CHECK_OK(zt_settings_set(&s, "device", device));
    if (te_device) CHECK_OK(zt_settings_set(&s, "text_encoder_device", te_device));
    if (offload) CHECK_OK(zt_settings_set(&s, "offload", "1"));
    if (j->image[0]) CHECK_OK(zt_settings_set(&s, "image", j->image));
    int on_cpu = !strcmp(device, "cpu");
    if (j->max_gpu_memory && !on_cpu)
        CHECK_OK(zt_settings_set(&s, "max_gpu_memory", j->max_gpu_memory));
    if (j->vae_tile && on_cpu) CHECK_OK(zt_settings_set(&s, "vae_tile", j->vae_tile));
    CHECK_OK(zt_settings_set(&s, "output", out));
    zt_gen_callbacks cb = {0};
    cb.frame = keep_frame;
    cb.user = fr;
    zt_gen_result res;
    CHECK_OK(zt_generate(&s, j->image[0] ? ZT_GEN_I2V : ZT_GEN_T2V, &cb, &res));
    if (j->max_gpu_memory && !on_cpu)
        CHECK(res.plan.vae_tile == atoi(j->vae_tile), "%s: --max-gpu-memory %s: tiles of %d px",
              out, j->max_gpu_memory, res.plan.vae_tile);
    if (strcmp(device, "cpu") != 0)
        printf("  %s on %s: GPU peak %.1f MiB\n", out, device, (double)res.device_peak / 1048576.0);
    /* each stage on the GPU against its plan, which budgets it (--max-gpu-memory): the
     * plan may not fall short of what the stage allocated, nor be far above it; the
     * stand-in, which has no CUDA scratch, must allocate the rest exactly */
    int64_t most = 0; /* the largest stage plan */
    for (int i = 0; i < ZT_STAGE_COUNT; i++) {
        const zt_stage_plan *p = &res.plan.stage[i];
        /* a stage placed on the GPU has a plan there: one without would go unchecked */
        int placed = !on_cpu && (i != ZT_STAGE_TEXT || !te_device) &&
                     (i != ZT_STAGE_IMAGE || j->image[0]);
        CHECK(!placed || (p->used && p->gpu > 0), "%s: %s ran on %s without a GPU plan", out,
              zt_stage_name((zt_stage)i), device);
        if (!p->used || !p->gpu) continue;
        int64_t want = standin ? p->gpu - p->gpu_scratch : p->gpu;
        if (want > most) most = want;
        double got_mib = (double)p->device / 1048576.0, want_mib = (double)want / 1048576.0;
        printf("    %-14s GPU %.3f MiB, planned %.3f MiB\n", zt_stage_name((zt_stage)i),
               got_mib, want_mib);
        if (standin)
            CHECK(p->device == want, "%s: %s device %lld bytes against a plan of %lld", out,
                  zt_stage_name((zt_stage)i), (long long)p->device, (long long)want);
        else
            CHECK(got_mib <= want_mib + 1.0 && got_mib >= 0.8 * want_mib,
                  "%s: %s GPU %.1f MiB against a plan of %.1f", out, zt_stage_name((zt_stage)i),
                  got_mib, want_mib);
    }
    /* and the run as a whole: no stage's memory may linger into the next (a stage whose
     * weights went over before the last one's arena was freed would hold both) */
    if (strcmp(device, "cpu") != 0)
        CHECK(standin ? res.device_peak == most
                      : (double)res.device_peak <= (double)most + 1048576.0,
              "%s: the run's GPU peak %lld bytes, its largest stage planned %lld", out,
              (long long)res.device_peak, (long long)most);
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
    if (isnan(se)) return -INFINITY; /* NaN frames match nothing */
    return se > 0 ? 10 * log10(255.0 * 255.0 / (se / (double)n)) : INFINITY;
}

static void compare_files(const char *a, const char *b, const char *what) {
    size_t na, nb;
    uint8_t *x = zt_test_read_file(a, &na), *y = zt_test_read_file(b, &nb);
    CHECK(x && y && na == nb && !memcmp(x, y, na), "%s: the two GPU runs' files differ", what);
    free(x);
    free(y);
}

static void check_case(const char *name, const job *j) {
    char p[4][512];
    for (int i = 0; i < 4; i++)
        snprintf(p[i], sizeof p[i], "%s/%s-%d.y4m", zt_test_tmpdir(), name, i);
    frames cpu = {0}, gpu = {0}, gpu2 = {0}, mixed = {0};
    run(j, "cpu", NULL, 0, p[0], &cpu);
    run(j, "cuda", NULL, 0, p[1], &gpu);
    run(j, "cuda", NULL, 0, p[2], &gpu2);
    run(j, "cuda", "cpu", 1, p[3], &mixed);
    double q = psnr(&cpu, &gpu), q2 = psnr(&cpu, &mixed);
    printf("%s: %lld frames, %s vs cpu PSNR %.1f dB, text encoder on the cpu + offload %.1f dB\n",
           name, (long long)cpu.n, standin ? "stand-in device" : "cuda", q, q2);
    CHECK(cpu.n > 0 && gpu.n == cpu.n, "%s: %lld frames on the cpu, %lld on cuda", name,
          (long long)cpu.n, (long long)gpu.n);
    CHECK(q >= 40.0, "%s: cuda vs cpu PSNR %.1f dB < 40", name, q);
    CHECK(q2 >= 40.0, "%s: mixed placement vs cpu PSNR %.1f dB < 40", name, q2);
    /* the stand-in runs the CPU's ops wherever they are placed: offloading (whose copies
     * it lands as late as a GPU may) must change no bit */
    if (standin) {
        double qo = psnr(&gpu, &mixed);
        CHECK(qo == INFINITY, "%s: the offloaded run differs from the placed one (PSNR %.1f dB)",
              name, qo);
    }
    CHECK(gpu.n == gpu2.n && gpu.v && gpu2.v &&
              !memcmp(gpu.v, gpu2.v, (size_t)(gpu.n < 64 ? gpu.n : 64) * gpu.per * 4),
          "%s: the two GPU runs' frames differ", name);
    compare_files(p[1], p[2], name);
}

static void fixture_job(job *j, const char *dit, const char *vae, const char *image) {
    memset(j, 0, sizeof *j);
    snprintf(j->dit, sizeof j->dit, "%s", zt_test_data(dit));
    snprintf(j->vae, sizeof j->vae, "%s", zt_test_data(vae));
    snprintf(j->text_encoder, sizeof j->text_encoder, "%s",
             zt_test_data("pipeline/t5.safetensors"));
    snprintf(j->tokenizer, sizeof j->tokenizer, "%s", zt_test_data("tokenizer/bf.model"));
    if (image) snprintf(j->image, sizeof j->image, "%s", zt_test_data(image));
    j->width = image ? "64" : "48";
    j->height = "32";
    j->frames = "9";
    j->steps = "4";
    j->prompt = "a red circle moving left";
}

static void tiny_job(job *j, const char *image) {
    memset(j, 0, sizeof *j);
    j->preset = ZT_TEST_DATA "/../../presets/tiny.cfg";
    snprintf(j->dit, sizeof j->dit, "%s", TINY_DIR "transformer.safetensors");
    snprintf(j->vae, sizeof j->vae, "%s", TINY_DIR "vae.safetensors");
    snprintf(j->text_encoder, sizeof j->text_encoder, "%s", TINY_DIR "text_encoder.safetensors");
    snprintf(j->tokenizer, sizeof j->tokenizer, "%s", TINY_DIR "spiece.model");
    if (image) snprintf(j->image, sizeof j->image, "%s", zt_test_data(image));
    j->prompt = "a red circle moving left";
}

int main(void) {
    const char *dev = getenv("ZT_TEST_GPU_DEVICE");
    if (dev && !strcmp(dev, "standin")) {
        standin = 1;
        zt_generate_set_device_backend(zt_test_standin_device);
        printf("ZT_TEST_GPU_DEVICE=standin: the GPU runs on a stand-in device (CPU ops)\n");
    } else if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    job j;
    /* the emulated card (tests/cudaemu) takes minutes a tiny render: the fixtures there */
    if (zt_test_emulated()) {
        printf("ZT_TEST_EMU: the zoetrope-tiny cases are skipped on the emulated card\n");
    } else {
        tiny_job(&j, NULL);
        check_case("tiny-t2v", &j);
        tiny_job(&j, "pipeline/image.png");
        check_case("tiny-i2v", &j);
    }
    fixture_job(&j, "pipeline/dit21.safetensors", "vae/wan21/diffusers.safetensors", NULL);
    check_case("t2v", &j);
    fixture_job(&j, "pipeline/dit22.safetensors", "vae/wan22/diffusers.safetensors",
                "pipeline/image.png");
    check_case("i2v", &j);
    /* a GPU budget the decode fits in 128 px tiles only (planned: 204 MiB untiled, 157
     * in 192 px tiles, 123 in 128 px ones) */
    fixture_job(&j, "pipeline/dit21.safetensors", "vae/wan21/diffusers.safetensors", NULL);
    j.width = j.height = "256";
    j.frames = "5";
    j.steps = "2";
    j.max_gpu_memory = "130M";
    j.vae_tile = "128";
    check_case("t2v-gpu-budget", &j);
    return zt_test_finish();
}
