#!/usr/bin/env python3
"""Wan2.1-1.3B (random bf16 weights) on the GPU: one denoising step with guidance
(two forward passes) through diffusers' WanTransformer3DModel (SDPA attention, bf16)
and through Zoetrope's CUDA backend (tools/gpu/dit_bench.c), in one run on one card.
Prints seconds per step, peak GPU memory and the ratio as JSON.

The weights are made here (torch.manual_seed) in diffusers' names and saved, so both
engines read the same file. Needs torch with CUDA and diffusers."""
import argparse
import json
import subprocess
import time

import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

WAN21_13B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128,
                 in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960,
                 num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                 eps=1e-6, rope_max_seq_len=1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zt-bench", required=True, help="path of the dit_bench program")
    ap.add_argument("--weights", default="/tmp/wan21-1.3b-random.safetensors")
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--steps", type=int, default=2, help="timed steps after a warm-up")
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--save-only", action="store_true", help="only write the weights")
    a = ap.parse_args()

    torch.manual_seed(0)
    dev = torch.device("cuda")
    with dev:
        m = WanTransformer3DModel(**WAN21_13B)
    m = m.to(torch.bfloat16).eval()
    t0 = time.time()
    save_file({k: v.detach().contiguous().cpu() for k, v in m.state_dict().items()}, a.weights)
    save_s = time.time() - t0
    if a.save_only:
        return

    T, h, w = 1 + (a.frames - 1) // 4, a.height // 8, a.width // 8
    x = torch.randn(1, 16, T, h, w, device=dev, dtype=torch.bfloat16)
    ctx = [(torch.rand(1, 512, 4096, device=dev) * 2 - 1).mul(0.2).to(torch.bfloat16)
           for _ in range(2)]
    g = a.guidance

    def step(t):
        tt = torch.tensor([t], device=dev)
        vc = m(hidden_states=x, timestep=tt, encoder_hidden_states=ctx[0], return_dict=False)[0]
        vu = m(hidden_states=x, timestep=tt, encoder_hidden_states=ctx[1], return_dict=False)[0]
        return vu + g * (vc - vu)

    with torch.no_grad():
        step(999.0)  # warm-up: kernels chosen, memory pools filled
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(a.steps):
            t0 = time.time()
            step(990.0 - i)
            torch.cuda.synchronize()
            times.append(time.time() - t0)
    d_peak = torch.cuda.max_memory_allocated() / 2**20
    d_step = sum(times) / len(times)
    name = torch.cuda.get_device_name()
    del m, x, ctx
    torch.cuda.empty_cache()

    out = subprocess.run([a.zt_bench, a.weights, str(a.frames), str(a.width), str(a.height),
                          str(a.steps + 1), "0"], capture_output=True, text=True)
    if out.returncode != 0:
        print(json.dumps({"error": out.stderr.strip(), "diffusers_step_seconds": d_step}))
        raise SystemExit(1)
    z = json.loads(out.stdout)
    print(json.dumps({
        "gpu": name, "frames": a.frames, "height": a.height, "width": a.width,
        "tokens": z["tokens"], "guidance": g, "weights_save_seconds": round(save_s, 2),
        "diffusers_step_seconds": round(d_step, 4), "diffusers_steps": [round(t, 4) for t in times],
        "diffusers_peak_mib": round(d_peak, 1),
        "zoetrope_step_seconds": z["mean_step_seconds"], "zoetrope_steps": z["step_seconds"],
        "zoetrope_device_peak_mib": z["device_peak_mib"],
        "zoetrope_device_plan_mib": z.get("device_plan_mib"),
        "zoetrope_load_seconds": z["load_seconds"], "zoetrope_place_seconds": z["place_seconds"],
        "ratio_time": round(z["mean_step_seconds"] / d_step, 3)}))


if __name__ == "__main__":
    main()
