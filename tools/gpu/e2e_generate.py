#!/usr/bin/env python3
"""A whole text-to-video generation on the GPU at Wan2.1-1.3B's size, with random
weights: `zoetrope t2v` at 480x832, 81 frames, 50 UniPC steps with guidance 5, the DiT
and the VAE on CUDA, the text encoder on the CPU (--text-encoder-device cpu), written to
an MP4. Reports the run's peak GPU memory two ways and checks it against the issue's
8 GiB:

  zoetrope's own count (--json device_peak_mib, and device_mib per stage): the most
    bytes its CUDA backend had allocated at once (weights, arenas, scratch, cuBLASLt's
    workspace), as torch.cuda.max_memory_allocated counts for PyTorch;
  nvidia-smi's used memory of the process, sampled every 100 ms: the same plus the CUDA
    context and cuBLAS's own allocations.

Models: the DiT and the VAE that tools/gpu/bench_diffusers.py and bench_vae.py wrote
(diffusers' names, bf16 / f32), reused; umT5-XXL at its full width with random bf16
weights (tools/t5/bench.py writes it; --t5-layers of its 24). The tokenizer is
tests/data/tokenizer/bf.model: the real umT5 one cannot be downloaded where this was
written, and the GPU's memory does not depend on it.

With --max-gpu-memory SIZE (and --offload) the run is planned against that budget
instead of the card's free memory, as for a smaller card: the limit to check is then
that budget (--limit-gib).

Usage: tools/gpu/e2e_generate.py --zoetrope BIN [--frames 81] [--steps 50]
       [--t5-layers 24] [--limit-gib 8] [--max-gpu-memory SIZE] [--offload]
Prints one JSON line; exits 1 if the run failed or its peak is over the limit."""
import argparse
import importlib.util
import json
import os
import subprocess
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def write_t5(work, layers, device):
    spec = importlib.util.spec_from_file_location("t5_bench",
                                                  os.path.join(ROOT, "tools", "t5", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.CONFIG["num_layers"] = layers
    return os.path.join(mod.write_model(work, device), "model.safetensors")


def smi_used_mib(pid):
    """The process's used GPU memory in MiB by nvidia-smi, or None."""
    try:
        r = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                            "--format=csv,noheader,nounits"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in r.stdout.splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) == 2 and f[0] == str(pid) and f[1].isdigit():
            return int(f[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoetrope", required=True, help="path of the zoetrope program")
    ap.add_argument("--dit", default="/tmp/wan21-1.3b-random.safetensors")
    ap.add_argument("--vae", default="/tmp/wan21-vae-random.safetensors")
    ap.add_argument("--work", default="/tmp/zt-e2e")
    ap.add_argument("--t5-layers", type=int, default=24)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--limit-gib", type=float, default=8.0)
    ap.add_argument("--device", default="cuda", help="cpu: a smoke test of this script")
    ap.add_argument("--max-gpu-memory", help="zoetrope's GPU budget, like 3G")
    ap.add_argument("--offload", action="store_true", help="zoetrope --offload")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    for p in (a.dit, a.vae):
        if not os.path.exists(p):
            raise SystemExit("e2e_generate: %s is missing (bench_diffusers.py and bench_vae.py "
                             "write it)" % p)
    t0 = time.time()
    t5 = write_t5(a.work, a.t5_layers, "cuda" if a.device.startswith("cuda") else "cpu")
    write_s = time.time() - t0
    try:  # give back what torch's allocator keeps from drawing the weights
        import torch
        torch.cuda.empty_cache()
    except (ImportError, RuntimeError):
        pass
    out = os.path.join(a.work, "e2e.mp4")
    if os.path.exists(out):
        os.remove(out)
    cmd = [a.zoetrope, "-q", "t2v", "a red fox running through snow, cinematic",
           "--model", a.dit, "--vae", a.vae, "--text-encoder", t5,
           "--tokenizer", os.path.join(ROOT, "tests", "data", "tokenizer", "bf.model"),
           "-W", str(a.width), "-H", str(a.height), "-f", str(a.frames),
           "--steps", str(a.steps), "-g", "5", "--seed", "1", "--device", a.device,
           "--text-encoder-device", "cpu", "-o", out, "--json"]
    if a.max_gpu_memory:
        cmd += ["--max-gpu-memory", a.max_gpu_memory]
    if a.offload:
        cmd.append("--offload")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    smi = {"max": None}

    def sample():
        while proc.poll() is None:
            u = smi_used_mib(proc.pid)
            if u is not None and (smi["max"] is None or u > smi["max"]):
                smi["max"] = u
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    th.join()
    res = {"gpu": None, "frames": a.frames, "height": a.height, "width": a.width,
           "steps": a.steps, "t5_layers": a.t5_layers, "t5_write_seconds": round(write_s, 1),
           "max_gpu_memory": a.max_gpu_memory, "offload": a.offload,
           "exit": proc.returncode, "nvidia_smi_peak_mib": smi["max"]}
    try:
        res["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                    capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    ok = proc.returncode == 0
    if ok:
        z = json.loads(stdout.strip().splitlines()[-1])
        res.update({k: z.get(k) for k in ("frames", "seconds", "device_peak_mib",
                                          "peak_rss_mib", "vae_tile")})
        res["stages_device_mib"] = {k: round(v.get("device_mib", 0), 1)
                                    for k, v in z.get("stages", {}).items()}
        res["stages_device_planned_mib"] = {k: round(v["device_planned_mib"], 1)
                                            for k, v in z.get("stages", {}).items()
                                            if "device_planned_mib" in v}
        res["output_bytes"] = os.path.getsize(out) if os.path.exists(out) else 0
        peak = z.get("device_peak_mib") or 0
        res["within_limit"] = 0 < peak <= a.limit_gib * 1024 and res["frames"] == a.frames \
            and res["output_bytes"] > 0
        ok = res["within_limit"]
    else:
        res["stderr"] = stderr.strip()[-2000:]
    print(json.dumps(res))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
