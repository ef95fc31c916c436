#!/usr/bin/env python3
"""Wan2.1 1.3B diffusion transformer: Zoetrope against diffusers on the CPU, same bf16
weights, same inputs.

Builds diffusers' WanTransformer3DModel with the Wan2.1 T2V-1.3B config (dim 1536 in
12 heads of 128, ffn 8960, 30 layers, 16 latent channels, text 4096, freq 256, patch
1x2x2: 1.42 B parameters) with random weights from a fixed seed, casts it to bf16 and
saves it with save_pretrained (a diffusers directory, real diffusers names, ~2.8 GB),
then writes the inputs: latent noise [16, T, H/8, W/8] and two text contexts
(cond, uncond) [512, 4096], f32. Then, one after the other, each in a fresh process:

    diffusers   torch CPU, the transformer in bf16, UniPCMultistepScheduler
                (flow_prediction, use_flow_sigmas, flow_shift), classifier-free guidance
                with two transformer calls per step exactly as WanPipeline makes them,
                under inference_mode
    zoetrope    build/zoetrope bench dit --model DIR --inputs ... (bf16 weights as
                stored, f32 activations)

and prints seconds per denoising step (model loading excluded for both), each
process's peak RSS (VmHWM), the weight bytes, the ratios, and how far apart the two
final latents are (diffusers computes in bf16, so that is a loose sanity check; with
--f32 diffusers computes in f32 from the same bf16 weights, which checks the values).

Usage: python3 tools/dit/bench.py [--zoetrope build/zoetrope] [--work DIR] [--reuse]
       [--frames 17] [--height 128] [--width 128] [--steps 2] [--guidance 5]
       [--shift 3] [--threads N] [--f32] [--skip-diffusers]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bench_common import peak_rss_mib  # noqa: E402

CONFIG = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128,
              in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960,
              num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
              rope_max_seq_len=1024)
TEXT_ROWS = 512


def weight_files(mdir):
    return sorted(glob.glob(os.path.join(mdir, "*.safetensors")))


def weight_bytes(mdir):
    """Tensor bytes of the model files (their data sections)."""
    import struct
    n = 0
    for p in weight_files(mdir):
        with open(p, "rb") as f:
            hlen = struct.unpack("<Q", f.read(8))[0]
        n += os.path.getsize(p) - 8 - hlen
    return n


def write_model(mdir, reuse):
    import torch
    from diffusers import WanTransformer3DModel

    done = os.path.join(mdir, ".complete")
    if reuse and os.path.exists(done):
        return False
    if os.path.exists(done):
        os.remove(done)
    torch.manual_seed(0)
    model = WanTransformer3DModel(**CONFIG)  # diffusers' own init: nn.Linear defaults
    model = model.to(torch.bfloat16)
    model.save_pretrained(mdir, safe_serialization=True, max_shard_size="10GB")
    del model
    open(done, "w").close()
    return True


def write_inputs(path, frames, height, width, seed):
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    t = 1 + (frames - 1) // 4
    noise = torch.randn(CONFIG["in_channels"], t, height // 8, width // 8, generator=g)
    # umT5 outputs are small; Wan zero-pads them to 512 rows, random rows stand in here
    ctx = 0.2 * torch.randn(TEXT_ROWS, CONFIG["text_dim"], generator=g)
    neg = 0.2 * torch.randn(TEXT_ROWS, CONFIG["text_dim"], generator=g)
    save_file({"noise": noise, "context": ctx, "context_neg": neg}, path)


def run_diffusers(mdir, inputs, out, steps, guidance, shift, threads, f32):
    import torch
    from diffusers import UniPCMultistepScheduler, WanTransformer3DModel
    from safetensors.torch import load_file

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    dtype = torch.float32 if f32 else torch.bfloat16
    model = WanTransformer3DModel.from_pretrained(mdir, torch_dtype=dtype).eval()
    load_s = time.perf_counter() - t0
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                    num_train_timesteps=1000, flow_shift=shift)
    x = load_file(inputs)
    latents = x["noise"][None].float()  # the pipeline keeps latents in f32
    dtype = model.dtype
    prompt = x["context"][None].to(dtype)
    negative = x["context_neg"][None].to(dtype)
    sched.set_timesteps(steps)
    step_s = []
    with torch.inference_mode():
        for t in sched.timesteps:
            t0 = time.perf_counter()
            inp = latents.to(dtype)
            timestep = t.expand(latents.shape[0])
            cond = model(hidden_states=inp, timestep=timestep, encoder_hidden_states=prompt,
                         return_dict=False)[0]
            uncond = model(hidden_states=inp, timestep=timestep,
                           encoder_hidden_states=negative, return_dict=False)[0]
            pred = uncond + guidance * (cond - uncond)
            latents = sched.step(pred, t, latents, return_dict=False)[0]
            step_s.append(time.perf_counter() - t0)
    np.save(out, latents[0].float().numpy())
    print(json.dumps({"step_seconds": step_s, "mean_step_seconds": float(np.mean(step_s)),
                      "load_seconds": load_s, "peak_rss_mib": peak_rss_mib(),
                      "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "timesteps": [int(t) for t in sched.timesteps]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoetrope", default=os.path.join(ROOT, "build", "zoetrope"))
    ap.add_argument("--work", default="/tmp/zt-dit-bench")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the model already written under --work (writing takes minutes)")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--shift", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=0, help="0: every core (%d here)" %
                    os.cpu_count())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--f32", action="store_true", help="diffusers computes in f32")
    ap.add_argument("--skip-diffusers", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--write-model", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.threads = a.threads or os.cpu_count()
    if a.write_model:
        write_model(a.write_model, a.reuse)
        return
    if a.child:
        run_diffusers(*a.child, steps=a.steps, guidance=a.guidance, shift=a.shift,
                      threads=a.threads, f32=a.f32)
        return
    mdir = os.path.join(a.work, "wan21-t2v-1.3b-random-bf16")
    os.makedirs(mdir, exist_ok=True)
    t0 = time.perf_counter()
    # in a child process, so the f32 model it builds leaves no memory behind here
    subprocess.run([sys.executable, os.path.abspath(__file__), "--write-model", mdir] +
                   (["--reuse"] if a.reuse else []), check=True)
    wb = weight_bytes(mdir)
    print("model: %s, %.2f GB of weights (%.0f s)" %
          (mdir, wb / 1e9, time.perf_counter() - t0), flush=True)
    inputs = os.path.join(a.work, "inputs_%dx%dx%d.safetensors" % (a.frames, a.height, a.width))
    write_inputs(inputs, a.frames, a.height, a.width, a.seed)

    dump = os.path.join(a.work, "zoetrope.f32")
    cmd = [a.zoetrope, "bench", "dit", "--model", mdir, "--inputs", inputs,
           "--frames", str(a.frames), "--height", str(a.height), "--width", str(a.width),
           "--steps", str(a.steps), "--guidance", str(a.guidance), "--shift", str(a.shift),
           "--json", "--dump-f32", dump, "--threads", str(a.threads)]
    z = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                   .stdout.strip().splitlines()[-1])
    print("Zoetrope: %.2f s per step (%s), load %.2f s, peak RSS %.0f MiB (%d threads)" %
          (z["mean_step_seconds"], ", ".join("%.2f" % s for s in z["step_seconds"]),
           z["load_seconds"], z["peak_rss_mib"], z["threads"]), flush=True)
    if a.skip_diffusers:
        return
    ref = os.path.join(a.work, "diffusers.npy")
    cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(a.threads),
           "--steps", str(a.steps), "--guidance", str(a.guidance), "--shift", str(a.shift)] + (
           ["--f32"] if a.f32 else []) + ["--child", mdir, inputs, ref]
    d = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                   .stdout.strip().splitlines()[-1])
    want = np.load(ref)
    got = np.fromfile(dump, dtype=np.float32).reshape(want.shape)
    err = float(np.abs(got - want).max())
    rel = err / float(np.abs(want).max())
    rms = float(np.sqrt(np.mean((got - want) ** 2)) / np.sqrt(np.mean(want ** 2)))
    print("Wan2.1 T2V-1.3B DiT, %d frames at %dx%d (%d latent tokens), %d steps with "
          "guidance %g, random bf16 weights, CPU" %
          (a.frames, a.width, a.height, z["latent_tokens"], a.steps, a.guidance))
    print("%-10s %14s %14s %16s" % ("", "seconds/step", "peak RSS MiB", "RSS - weights"))
    wmib = wb / 2 ** 20
    tdt = "f32" if a.f32 else "bf16"
    print("%-10s %14.2f %14.0f %16.0f   (torch %s, %s, %d threads; steps %s)" %
          ("diffusers", d["mean_step_seconds"], d["peak_rss_mib"], d["peak_rss_mib"] - wmib,
           d["torch"], tdt, d["threads"], ", ".join("%.2f" % s for s in d["step_seconds"])))
    print("%-10s %14.2f %14.0f %16.0f   (bf16 weights, f32 activations, %d threads; steps %s)"
          % ("zoetrope", z["mean_step_seconds"], z["peak_rss_mib"], z["peak_rss_mib"] - wmib,
             z["threads"], ", ".join("%.2f" % s for s in z["step_seconds"])))
    print("weights: %.0f MiB (%d bytes)" % (wmib, wb))
    # diffusers embeds the text and projects its keys and values inside every call;
    # zoetrope does it once per prompt, before the steps
    amort = z["mean_step_seconds"] + z["prompt_seconds"] / a.steps
    print("zoetrope per prompt pair (text embedding, cross-attention keys and values): "
          "%.2f s once; spread over the %d steps: %.2f s per step, ratio %.2f" %
          (z["prompt_seconds"], a.steps, amort, amort / d["mean_step_seconds"]))
    print("ratio zoetrope/diffusers: time per step %.2f, peak RSS %.2f" %
          (z["mean_step_seconds"] / d["mean_step_seconds"],
           z["peak_rss_mib"] / d["peak_rss_mib"]))
    print("final latents: max |zoetrope - diffusers| %.3g (%.3g of max |diffusers|), "
          "relative RMS %.3g (diffusers computes in %s)" % (err, rel, rms, tdt))


if __name__ == "__main__":
    main()
