#!/usr/bin/env python3
"""Wan2.1 VAE decode: Zoetrope against diffusers on the CPU, same weights, same input.

Builds diffusers' AutoencoderKLWan at the real Wan2.1 size (base dim 96, z 16,
multipliers 1, 2, 4, 4: 127 M parameters) with random weights (fixed seed), writes
them as safetensors under diffusers' names, and random latents for 17 frames at
240x416 (5 x 30 x 52). Then, one after the other, each in a fresh process:

    diffusers   torch CPU, vae.decode(latents) under no_grad, f32
    zoetrope    build/zoetrope vae decode --raw (same latents, same file)

and prints seconds (decode only, model load excluded for both), peak RSS (VmHWM) of the
process, the ratios, and the largest difference between the two outputs.

Usage: python3 tools/vae/bench.py [--zoetrope build/zoetrope] [--work DIR]
       [--frames 17] [--height 240] [--width 416] [--threads N]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bench_common import peak_rss_mib  # noqa: E402


def make_inputs(work, frames, height, width):
    import torch
    from diffusers import AutoencoderKLWan
    from safetensors.torch import save_file

    wpath = os.path.join(work, "wan21_vae_random.safetensors")
    lpath = os.path.join(work, "latents_%dx%dx%d.safetensors" % (frames, height, width))
    if not os.path.exists(wpath):
        torch.manual_seed(0)
        vae = AutoencoderKLWan()  # Wan2.1: base_dim 96, z_dim 16
        with torch.no_grad():
            for n, p in vae.named_parameters():
                if n.endswith("gamma"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif p.dim() > 1:
                    p.copy_(torch.randn_like(p) * (1.0 / p[0].numel()) ** 0.5)
                else:
                    p.copy_(0.02 * torch.randn_like(p))
        save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, wpath)
    t = 1 + (frames - 1) // 4
    g = torch.Generator().manual_seed(1)
    lat = torch.randn(1, 16, t, height // 8, width // 8, generator=g)
    save_file({"latents": lat}, lpath)
    return wpath, lpath


def run_diffusers(wpath, lpath, out, threads):
    import torch
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file

    if threads:
        torch.set_num_threads(threads)
    vae = AutoencoderKLWan()
    vae.load_state_dict(load_file(wpath))
    vae.eval()
    lat = load_file(lpath)["latents"]
    with torch.no_grad():
        t0 = time.perf_counter()
        video = vae.decode(lat).sample
        secs = time.perf_counter() - t0
    np.save(out, video[0].numpy())
    rss = peak_rss_mib()
    print(json.dumps({"decode_seconds": secs, "peak_rss_mib": rss,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoetrope", default=os.path.join(ROOT, "build", "zoetrope"))
    ap.add_argument("--work", default="/tmp/zt_vae_bench")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--width", type=int, default=416)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        run_diffusers(*a.child, threads=a.threads)
        return
    os.makedirs(a.work, exist_ok=True)
    wpath, lpath = make_inputs(a.work, a.frames, a.height, a.width)
    ref = os.path.join(a.work, "diffusers.npy")
    dump = os.path.join(a.work, "zoetrope.f32")

    cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(a.threads),
           "--child", wpath, lpath, ref]
    d = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                   .stdout.strip().splitlines()[-1])
    cmd = [a.zoetrope, "vae", "decode", lpath, "--vae", wpath, "--raw", "--json",
           "--dump-f32", dump] + (["--threads", str(a.threads)] if a.threads else [])
    z = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    want = np.load(ref)
    got = np.fromfile(dump, dtype=np.float32).reshape(want.shape)
    diff = float(np.abs(got - want).max())
    print("Wan2.1 VAE decode, %d frames at %dx%d, random weights (f32), CPU" %
          (a.frames, a.width, a.height))
    print("%-10s %10s %14s" % ("", "seconds", "peak RSS MiB"))
    print("%-10s %10.2f %14.0f   (torch %s, %d threads)" %
          ("diffusers", d["decode_seconds"], d["peak_rss_mib"], d["torch"], d["threads"]))
    print("%-10s %10.2f %14.0f   (%d threads)" %
          ("zoetrope", z["decode_seconds"], z["peak_rss_mib"], z["threads"]))
    print("ratio zoetrope/diffusers: time %.2f, peak RSS %.2f" %
          (z["decode_seconds"] / d["decode_seconds"], z["peak_rss_mib"] / d["peak_rss_mib"]))
    print("max |zoetrope - diffusers| over the clip: %.3g (values in [-1, 1])" % diff)


if __name__ == "__main__":
    main()
