#!/usr/bin/env python3
"""Tiled Wan2.1 VAE decode: Zoetrope (tiled and untiled) against diffusers' tiled decode.

The real-size random Wan2.1 VAE of tools/vae/bench.py (base dim 96, z 16, random
weights with a fixed seed), random latents of 5 latent frames (17 frames) at each
output size (256x256, 512x512, 1024x1024 by default), each run in a fresh process:

    zoetrope tiled    zoetrope vae decode --raw --vae-tile 256 --vae-tile-overlap 32
    zoetrope untiled  zoetrope vae decode --raw
    diffusers tiled   torch CPU, vae.enable_tiling(256, 256, 224, 224), decode, f32

and prints decode seconds and peak RSS (VmHWM) for each, with the ratios. Zoetrope's
figures are the medians of --repeat runs, tiled and untiled alternated so that VM
drift lands on both, with each pair's ratio. Then (unless --no-plan) the memory plan's
predicted peaks for 81 frames at 480x832 and 720x1280 (tools/plan_check.py --predict).

The overlap defaults to Zoetrope's for the tile (zt_vae_default_overlap: an eighth of
it, 32 to 64 px, at most a quarter), 32 at 256; diffusers gets the same settings.
Zoetrope writes a .y4m (streamed; its cost is included in neither figure's decode
time) and its scratch file under --work (TMPDIR). A clip that fits one tile (256x256
here) is not tiled by either program, as in diffusers. --compare adds a zoetrope tiled
run with --dump-f32 per size and prints the largest difference to diffusers' tiled
output (that run holds the whole clip in memory, so its RSS is not reported).

Usage: python3 tools/vae/bench_tiled.py [--zoetrope build/zoetrope] [--work DIR]
       [--sizes 256,512,1024] [--latent-frames 5] [--tile 256] [--overlap N]
       [--threads N] [--skip-untiled-above PX] [--repeat 3] [--compare] [--no-plan]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
from bench import make_inputs  # noqa: E402
from bench_common import peak_rss_mib  # noqa: E402


def run_diffusers(wpath, lpath, out, tile, overlap, threads):
    import torch
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file

    if threads:
        torch.set_num_threads(threads)
    vae = AutoencoderKLWan()
    vae.load_state_dict(load_file(wpath))
    vae.eval()
    vae.enable_tiling(tile_sample_min_height=tile, tile_sample_min_width=tile,
                      tile_sample_stride_height=tile - overlap,
                      tile_sample_stride_width=tile - overlap)
    lat = load_file(lpath)["latents"]
    with torch.no_grad():
        t0 = time.perf_counter()
        video = vae.decode(lat).sample
        secs = time.perf_counter() - t0
    if out != "-":
        np.save(out, video[0].numpy())
    print(json.dumps({"decode_seconds": secs, "peak_rss_mib": peak_rss_mib(),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def zoetrope(a, wpath, lpath, out, tiled, dump=None):
    cmd = [a.zoetrope, "vae", "decode", lpath, "--vae", wpath, "--raw", "--json", "-o", out]
    if tiled:
        cmd += ["--vae-tile", str(a.tile), "--vae-tile-overlap", str(a.overlap)]
    if dump:
        cmd += ["--dump-f32", dump]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    env = dict(os.environ, TMPDIR=a.work)  # the scratch file
    r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoetrope", default=os.path.join(ROOT, "build", "zoetrope"))
    ap.add_argument("--work", default="/tmp/zt_vae_bench_tiled")
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--latent-frames", type=int, default=5)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--skip-untiled-above", type=int, default=0,
                    help="no untiled zoetrope run above this many pixels a side (0: all)")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="zoetrope runs per size, tiled and untiled alternated (medians)")
    ap.add_argument("--no-plan", action="store_true",
                    help="skip the plan's predictions for 81-frame clips")
    ap.add_argument("--plan-work", default="/tmp/zt-plan",
                    help="where tools/plan_check.py keeps its random real-size models")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.overlap is None:  # zt_vae_default_overlap(tile, 8)
        a.overlap = min(max(a.tile // 8, 32), 64, a.tile // 4) // 8 * 8
    if a.child:
        run_diffusers(*a.child, tile=a.tile, overlap=a.overlap, threads=a.threads)
        return
    os.makedirs(a.work, exist_ok=True)
    frames = 1 + 4 * (a.latent_frames - 1)
    rows = []
    for size in [int(s) for s in a.sizes.split(",")]:
        wpath, lpath = make_inputs(a.work, frames, size, size)
        ref = os.path.join(a.work, "diffusers_%d.npy" % size) if a.compare else "-"
        cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(a.threads),
               "--tile", str(a.tile), "--overlap", str(a.overlap), "--child", wpath, lpath, ref]
        d = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                       .stdout.strip().splitlines()[-1])
        y4m = os.path.join(a.work, "out_%d.y4m" % size)
        untiled = not a.skip_untiled_above or size <= a.skip_untiled_above
        tiled_runs, untiled_runs = [], []
        for _ in range(a.repeat):  # alternated, so VM drift lands on both sides
            tiled_runs.append(zoetrope(a, wpath, lpath, y4m, True))
            if untiled:
                untiled_runs.append(zoetrope(a, wpath, lpath, y4m, False))
        zt = median_run(tiled_runs)
        zu = median_run(untiled_runs) if untiled else None
        if zu:
            zt["paired"] = sorted(t["decode_seconds"] / u["decode_seconds"]
                                  for t, u in zip(tiled_runs, untiled_runs))
        diff = None
        if a.compare:
            dump = os.path.join(a.work, "zoetrope_%d.f32" % size)
            zoetrope(a, wpath, lpath, y4m, True, dump)
            want = np.load(ref)
            got = np.fromfile(dump, dtype=np.float32).reshape(want.shape)
            diff = float(np.abs(got - want).max())
            os.remove(dump)
            os.remove(ref)
        os.remove(y4m)
        rows.append((size, zt, zu, d, diff))
        print_rows(a, frames, rows[-1:])
        sys.stdout.flush()
    print()
    print_rows(a, frames, rows)
    if not a.no_plan:  # the full-length predictions (models written once)
        print()
        sys.stdout.flush()
        import plan_check
        plan_check.predict(a.zoetrope, a.plan_work)


def median_run(runs):
    """The median decode seconds of runs, with the largest peak RSS among them."""
    secs = sorted(r["decode_seconds"] for r in runs)
    return {"decode_seconds": secs[len(secs) // 2],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs), "runs": len(runs)}


def print_rows(a, frames, rows):
    print("Wan2.1 VAE decode (random real-size weights, f32, CPU), %d frames, tile %d overlap %d"
          % (frames, a.tile, a.overlap))
    print("%-10s %-18s %9s %13s" % ("size", "", "seconds", "peak RSS MiB"))
    for size, zt, zu, d, diff in rows:
        name = "%dx%d" % (size, size)
        print("%-10s %-18s %9.2f %13.0f" % (name, "zoetrope tiled", zt["decode_seconds"],
                                             zt["peak_rss_mib"]))
        if zu:
            print("%-10s %-18s %9.2f %13.0f" % ("", "zoetrope untiled", zu["decode_seconds"],
                                                 zu["peak_rss_mib"]))
        print("%-10s %-18s %9.2f %13.0f   (torch %s, %d threads)" %
              ("", "diffusers tiled", d["decode_seconds"], d["peak_rss_mib"], d["torch"],
               d["threads"]))
        line = "%-10s tiled zoetrope/diffusers: time %.2f, peak RSS %.2f" % (
            "", zt["decode_seconds"] / d["decode_seconds"], zt["peak_rss_mib"] / d["peak_rss_mib"])
        if zu:
            line += "; zoetrope tiled/untiled: time %.2f, peak RSS %.2f" % (
                zt["decode_seconds"] / zu["decode_seconds"],
                zt["peak_rss_mib"] / zu["peak_rss_mib"])
        print(line)
        if zu and len(zt["paired"]) > 1:
            print("%-10s tiled/untiled per run: %s (medians of %d alternated runs above)" % (
                "", ", ".join("%.3f" % r for r in zt["paired"]), zt["runs"]))
        if diff is not None:
            print("%-10s max |zoetrope tiled - diffusers tiled|: %.3g" % ("", diff))


if __name__ == "__main__":
    main()
