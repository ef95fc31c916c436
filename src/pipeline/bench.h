/* bench.h - the Wan DiT benchmark behind `zoetrope bench dit` and tools/gpu: denoising
 * steps with classifier-free guidance (two forward passes per step, UniPC) on random
 * inputs or given ones, on the CPU or a CUDA device. Kept in the library (not the CLI)
 * so that a GPU check can run it from a small program that links no video libraries. */
#ifndef ZT_BENCH_H
#define ZT_BENCH_H

#include <stdint.h>

#include "zoetrope.h"

#define ZT_BENCH_TEXT_ROWS 512 /* Wan pads every prompt to 512 umT5 rows */

typedef struct zt_bench_dit_opts {
    const char *model;  /* DiT weights */
    const char *inputs; /* NULL, or safetensors with noise [C, T, h, w], context, context_neg */
    int64_t frames, width, height; /* video size: latents are 1 + (frames - 1) / 4 frames
                                      at 1/8 the pixels */
    int steps;
    double guidance, shift;
    uint64_t seed;
    int threads;  /* CPU threads (0: all cores) */
    int uncached; /* text keys and values again in every forward pass */
    int device;   /* -1: CPU; else the CUDA device index */
    int offload;  /* GPU: the blocks' weights copied in as they run (zt_wan_dit_place_offload) */
    int64_t ffn_rows; /* the feed-forward's row chunk (zt_wan_dit_set_ffn_rows); 0: default */
} zt_bench_dit_opts;

typedef struct zt_bench_dit_stats {
    const char *naming;
    int layers, dim, threads;
    int64_t tokens;
    double load_s, place_s, prompt_s;
    double *step_s;     /* [steps], allocated by the run; free with zt_bench_dit_stats_free */
    double mean_step_s; /* on a GPU, of the steps after the first when there are several */
    int64_t weight_bytes;
    size_t arena_peak;                /* activations */
    size_t device_peak, device_total; /* CUDA: most bytes allocated at once; card's memory */
    size_t device_plan; /* CUDA: what the memory plan's parts add up to for this run */
    float *latents; /* final latents [C, T, h, w], numel of them; free with _stats_free */
    int64_t numel;
} zt_bench_dit_stats;

zt_status zt_bench_dit_run(const zt_bench_dit_opts *o, zt_bench_dit_stats *st);
void zt_bench_dit_stats_free(zt_bench_dit_stats *st);

#endif
