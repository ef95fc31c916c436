#!/usr/bin/env python3
"""Check the memory plan against what a run really takes, stage by stage, at real model
sizes with random weights.

Models (written once under --work, reused after):
  DiT   Wan2.1 T2V-1.3B, bf16, diffusers names        (tools/dit/bench.py)
  VAE   Wan2.1, f32, diffusers names                 (tools/vae/bench.py)
  T5    umT5-XXL width (d_model 4096, bf16) with only --t5-layers layers
        (tools/t5/bench.py; the full 24 layers would be an 11 GB file whose plan
        is weights + the same small working set)
  tokenizer  tests/data/tokenizer/bf.model (the real umT5 one cannot be downloaded here)

For each case `zoetrope t2v --json` runs the whole pipeline; every stage restarts the
process's peak count (VmHWM) and reports its own peak next to the plan's total. The
table prints both and their ratio; the plan is meant to agree within 15%.

--predict prints instead what the plan predicts for 81-frame clips at 480x832 and
720x1280 (--dry-run: nothing runs), as tools/vae/bench_tiled.py does at its end.

Usage: python3 tools/plan_check.py [--zoetrope build/zoetrope] [--work /tmp/zt-plan]
       [--cases 1,2] [--predict]
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOKENIZER = os.path.join(ROOT, "tests", "data", "tokenizer", "bf.model")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def load(sub):
    """tools/SUB/bench.py as a module of its own (they share the file name)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(sub + "_bench",
                                                  os.path.join(ROOT, "tools", sub, "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def models(work, t5_layers):
    vae_path, _ = load("vae").make_inputs(work, 5, 64, 64)
    t5_bench = load("t5")
    t5_bench.CONFIG["num_layers"] = t5_layers
    t5_dir = t5_bench.write_model(work)
    dit_bench = load("dit")
    dit_dir = os.path.join(work, "wan21-t2v-1.3b-random-bf16")
    dit_bench.write_model(dit_dir, True)
    return dit_dir, vae_path, os.path.join(t5_dir, "model.safetensors")


CASES = [
    ("17x256x256, 1 step, untiled VAE", ["-f", "17", "-W", "256", "-H", "256"]),
    ("17x256x256, 1 step, VAE tiles 128/32", ["-f", "17", "-W", "256", "-H", "256",
                                             "--vae-tile", "128"]),
    ("9x480x832, 1 step, VAE tiles 256/32", ["-f", "9", "-W", "832", "-H", "480",
                                            "--vae-tile", "256"]),
]

# Full-length clips, planned only (--dry-run): what the plan predicts where running would
# take hours on a CPU. Guidance 5, as Wan's own defaults.
PREDICT = [
    ("81x480x832", ["-f", "81", "-W", "832", "-H", "480"]),
    ("81x720x1280", ["-f", "81", "-W", "1280", "-H", "720"]),
    ("81x720x1280, --max-memory 6G", ["-f", "81", "-W", "1280", "-H", "720",
                                      "--max-memory", "6G"]),
]


def predict(zoetrope, work, t5_layers=2):
    """Print the plan's peaks for the PREDICT clips; returns False if a run failed."""
    dit, vae, t5 = models(work, t5_layers)
    gib = 1024.0 ** 3
    ok = True
    print("Plan for full-length clips (zoetrope t2v --dry-run, Wan2.1 1.3B DiT, Wan2.1 VAE, "
          "guidance 5; the text encoder has %d of umT5-XXL's 24 layers)" % t5_layers)
    print("%-30s %13s %13s %18s" % ("clip", "denoiser GiB", "decode GiB", "VAE tiles"))
    for name, extra in PREDICT:
        cmd = [zoetrope, "-q", "t2v", "a red circle moving left", "--model", dit, "--vae", vae,
               "--text-encoder", t5, "--tokenizer", TOKENIZER, "-g", "5",
               "-o", os.path.join(work, "never.mkv"), "--dry-run", "--json"] + extra
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print("%-30s failed: %s" % (name, r.stderr.strip()))
            ok = False
            continue
        plan = json.loads(r.stdout)["plan"]
        tiles = ("%d px, overlap %d" % (plan["vae_tile"], plan["vae_tile_overlap"])
                 if plan["vae_tile"] else "untiled")
        print("%-30s %13.2f %13.2f %18s" % (name, plan["denoiser"]["total"] / gib,
                                             plan["vae decode"]["total"] / gib, tiles))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoetrope", default=os.path.join(ROOT, "build", "zoetrope"))
    ap.add_argument("--work", default="/tmp/zt-plan")
    ap.add_argument("--t5-layers", type=int, default=2)
    ap.add_argument("--cases", default="all", help="comma-separated case numbers (1-based)")
    ap.add_argument("--predict", action="store_true",
                    help="only print the plan for full-length clips (PREDICT)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.predict:
        sys.exit(0 if predict(args.zoetrope, args.work, args.t5_layers) else 1)
    dit, vae, t5 = models(args.work, args.t5_layers)
    pick = range(len(CASES)) if args.cases == "all" else [int(c) - 1 for c in
                                                           args.cases.split(",")]
    worst = 0.0
    print("%-40s %-15s %10s %10s %7s" % ("case", "stage", "plan MiB", "real MiB", "real/plan"))
    for i in pick:
        name, extra = CASES[i]
        out = os.path.join(args.work, "out.mkv")
        cmd = [args.zoetrope, "-q", "t2v", "a red circle moving left", "--model", dit,
               "--vae", vae, "--text-encoder", t5, "--tokenizer", TOKENIZER, "--steps", "1",
               "-g", "1", "-o", out, "--json"] + extra
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print("%-40s failed: %s" % (name, r.stderr.strip()))
            continue
        res = json.loads(r.stdout)
        for stage, v in res["stages"].items():
            ratio = v["measured_mib"] / v["planned_mib"]
            worst = max(worst, abs(ratio - 1))
            print("%-40s %-15s %10.0f %10.0f %7.3f" % (name, stage, v["planned_mib"],
                                                       v["measured_mib"], ratio))
        print("%-40s %-15s %10.0f %10.0f %7.3f (%.0f s)" % (
            name, "whole run", res["plan_peak_mib"], res["peak_rss_mib"],
            res["peak_rss_mib"] / res["plan_peak_mib"], res["seconds"]))
    print("largest |real/plan - 1|: %.3f" % worst)


if __name__ == "__main__":
    main()
