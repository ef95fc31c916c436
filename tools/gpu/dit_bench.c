/* dit_bench - the Wan DiT benchmark (pipeline/bench.h) as a small program that links no
 * video libraries, so that tools/gpu-check.sh can run it on GPU machines that have only
 * the CUDA toolkit. Prints one JSON line; the same figures as `zoetrope bench dit`.
 *
 *   dit_bench MODEL FRAMES WIDTH HEIGHT STEPS DEVICE [LATENTS.f32]
 * DEVICE: -1 for the CPU, else the CUDA device index. ZT_PROFILE_OPS=1 in the
 * environment adds each op's total time on stderr (with a wait around every op);
 * ZT_BENCH_OFFLOAD=1 runs the blocks offloaded (zt_wan_dit_place_offload);
 * ZT_BENCH_FFN_ROWS=N runs the feed-forward over chunks of N rows
 * (zt_wan_dit_set_ffn_rows). */
#include <stdio.h>
#include <stdlib.h>

#include "core/ops.h"
#include "core/status.h"
#include "pipeline/bench.h"

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s MODEL FRAMES WIDTH HEIGHT STEPS DEVICE [LATENTS.f32]\n",
                argv[0]);
        return 2;
    }
    zt_bench_dit_opts o = {.model = argv[1],
                           .frames = atol(argv[2]),
                           .width = atol(argv[3]),
                           .height = atol(argv[4]),
                           .steps = atoi(argv[5]),
                           .guidance = 5.0,
                           .shift = 3.0,
                           .device = atoi(argv[6]),
                           .offload = getenv("ZT_BENCH_OFFLOAD") && *getenv("ZT_BENCH_OFFLOAD")};
    if (getenv("ZT_BENCH_FFN_ROWS")) o.ffn_rows = atoll(getenv("ZT_BENCH_FFN_ROWS"));
    zt_bench_dit_stats st;
    const char *profile = getenv("ZT_PROFILE_OPS"); /* per-op times on stderr */
    if (profile && *profile) zt_op_profile(1);
    zt_status s = zt_bench_dit_run(&o, &st);
    if (profile && *profile) zt_op_profile_report(stderr);
    if (s != ZT_OK) {
        fprintf(stderr, "dit_bench: %s\n", zt_last_error());
        return 1;
    }
    printf("{\"device\": \"%s\", \"frames\": %ld, \"width\": %ld, \"height\": %ld, "
           "\"tokens\": %lld, \"steps\": %d, \"load_seconds\": %.3f, \"place_seconds\": %.3f, "
           "\"prompt_seconds\": %.3f, \"step_seconds\": [",
           o.device >= 0 ? "cuda" : "cpu", (long)o.frames, (long)o.width, (long)o.height,
           (long long)st.tokens, o.steps, st.load_s, st.place_s, st.prompt_s);
    for (int i = 0; i < o.steps; i++) printf("%s%.4f", i ? ", " : "", st.step_s[i]);
    printf("], \"mean_step_seconds\": %.4f, \"device_peak_mib\": %.1f, \"device_plan_mib\": %.1f, "
           "\"arena_peak_mib\": %.1f}\n",
           st.mean_step_s, (double)st.device_peak / 1048576.0, (double)st.device_plan / 1048576.0,
           (double)st.arena_peak / 1048576.0);
    if (argc > 7) {
        FILE *f = fopen(argv[7], "wb");
        if (!f || fwrite(st.latents, sizeof(float), (size_t)st.numel, f) != (size_t)st.numel ||
            fclose(f) != 0) {
            fprintf(stderr, "dit_bench: cannot write %s\n", argv[7]);
            zt_bench_dit_stats_free(&st);
            return 1;
        }
    }
    zt_bench_dit_stats_free(&st);
    return 0;
}
