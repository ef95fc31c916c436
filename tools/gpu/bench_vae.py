#!/usr/bin/env python3
"""The Wan2.1 VAE (random weights, diffusers' AutoencoderKLWan at its default, the
Wan2.1 configuration) decoding random latents on the GPU: diffusers (f32, as its Wan
pipelines run the VAE) against Zoetrope's CUDA backend (tools/gpu/vae_bench.c, untiled
and tiled), on one card in one run. Prints seconds and peak GPU memory as JSON."""
import argparse
import json
import subprocess
import time

import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zt-bench", required=True, help="path of the vae_bench program")
    ap.add_argument("--weights", default="/tmp/wan21-vae-random.safetensors")
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--tile", type=int, default=256)
    a = ap.parse_args()

    torch.manual_seed(0)
    with torch.device("cuda"):
        vae = AutoencoderKLWan().eval()
    save_file({k: v.detach().contiguous().cpu() for k, v in vae.state_dict().items()}, a.weights)
    T, h, w = 1 + (a.frames - 1) // 4, a.height // 8, a.width // 8
    z = torch.randn(1, 16, T, h, w, device="cuda")
    res = {"gpu": torch.cuda.get_device_name(), "frames": a.frames, "height": a.height,
           "width": a.width}
    with torch.no_grad():
        vae.decode(z[:, :, :2, :16, :16])  # warm-up
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        # one full-size decode each, as Zoetrope's vae_bench times its one: both pay for
        # their first run at these shapes
        t0 = time.time()
        vae.decode(z)
        torch.cuda.synchronize()
        res["diffusers_seconds"] = round(time.time() - t0, 3)
        res["diffusers_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    del vae, z
    torch.cuda.empty_cache()
    for tile in (0, a.tile):
        key = "zoetrope_tiled" if tile else "zoetrope"
        try:
            out = subprocess.run([a.zt_bench, a.weights, str(a.frames), str(a.width),
                                  str(a.height), "0", str(tile)], capture_output=True, text=True,
                                 timeout=120)
        except subprocess.TimeoutExpired:
            res[key] = {"error": "over 120 s"}
            continue
        if out.returncode != 0:
            res[key] = {"error": out.stderr.strip()}
            continue
        z = json.loads(out.stdout)
        res[key] = {"tile": tile, "seconds": z["decode_seconds"],
                    "device_peak_mib": z["device_peak_mib"],
                    "device_plan_mib": z.get("device_plan_mib")}
    print(json.dumps(res))
    if any("error" in res[k] for k in ("zoetrope", "zoetrope_tiled")):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
