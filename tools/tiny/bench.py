#!/usr/bin/env python3
"""zoetrope-tiny through diffusers' WanPipeline (torch CPU) and through Zoetrope, with the
same weights, prompt, negative prompt, steps, guidance and initial noise, in one run on
one machine: prints both times, the ratio and how close the two videos are (PSNR).

Zoetrope's time is the whole command (`zoetrope t2v ... --noise FILE`, wall clock: model
load, text encoding, every step with guidance, decoding and writing the video);
diffusers' is the pipeline call alone (text encoding, steps, decoding; its models
already loaded), so the comparison favours diffusers.

  python3 tools/tiny/bench.py [--bin build/zoetrope] [--models models/zoetrope-tiny]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "pipeline"))
import evaluate  # noqa: E402
import train  # noqa: E402  (the model configurations)
from make_fixtures import SpmTokenizer  # noqa: E402  (diffusers' tokenizer call, by sentencepiece)


def load_pipeline(models):
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline,
                           WanTransformer3DModel)
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import UMT5Config, UMT5EncoderModel
    tok = SpmTokenizer(os.path.join(models, "spiece.model"))
    te = UMT5EncoderModel(UMT5Config(vocab_size=tok.sp.vocab_size(), **train.T5))
    sd = load_file(os.path.join(models, "text_encoder.safetensors"))
    sd["encoder.embed_tokens.weight"] = sd["shared.weight"]
    te.load_state_dict(sd)
    dit = WanTransformer3DModel(**train.DIT)
    dit.load_state_dict(load_file(os.path.join(models, "transformer.safetensors")))
    path = os.path.join(models, "vae.safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    stats = {k: [float(v) for v in meta[k].split(",")] for k in ("latents_mean", "latents_std")}
    vae = AutoencoderKLWan(**train.VAE, **stats)
    vae.load_state_dict(load_file(path))
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                    num_train_timesteps=1000, flow_shift=train.SHIFT)
    return WanPipeline(tokenizer=tok, text_encoder=te.eval(), transformer=dit.eval(),
                       vae=vae.eval(), scheduler=sched)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "zoetrope"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models", "zoetrope-tiny"))
    ap.add_argument("--prompt", default="a red circle moving left")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs of each, alternating; the best of each counts")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from safetensors.torch import save_file
    pipe = load_pipeline(a.models)
    z = train.VAE["z_dim"]
    shape = (1, z, (train.FRAMES - 1) // 4 + 1, train.HEIGHT // 8, train.WIDTH // 8)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    work = tempfile.mkdtemp()
    noise_path = os.path.join(work, "noise.safetensors")
    save_file({"noise": noise[0].contiguous()}, noise_path)

    def run_diffusers():
        with torch.no_grad():
            out = pipe(prompt=a.prompt, negative_prompt="", height=train.HEIGHT,
                       width=train.WIDTH, num_frames=train.FRAMES,
                       num_inference_steps=a.steps, guidance_scale=a.guidance,
                       latents=noise.clone(), output_type="np", max_sequence_length=512)
        return (np.clip(out.frames[0], 0, 1) * 255).round().astype(np.uint8)

    pngs = os.path.join(work, "frames")  # RGB frames, so that only the arithmetic differs
    os.makedirs(pngs, exist_ok=True)
    models = a.models

    def run_zoetrope():
        subprocess.run([a.bin, "t2v", a.prompt, "--preset", "tiny", "-q", "--noise", noise_path,
                        "--model", os.path.join(models, "transformer.safetensors"),
                        "--vae", os.path.join(models, "vae.safetensors"),
                        "--text-encoder", os.path.join(models, "text_encoder.safetensors"),
                        "--tokenizer", os.path.join(models, "spiece.model"),
                        "--steps", str(a.steps), "--guidance", str(a.guidance),
                        "-t", str(a.threads), "-o", os.path.join(pngs, "%04d.png")],
                       check=True)

    # the two alternate, so that both see the machine as it is at the time (a shared VM's
    # speed drifts); torch's first call warms up its kernels and is not timed
    frames_d = run_diffusers()
    d_times, z_times = [], []
    for _ in range(a.repeat):
        t0 = time.time()
        run_diffusers()
        d_times.append(time.time() - t0)
        t0 = time.time()
        run_zoetrope()
        z_times.append(time.time() - t0)
    frames_z = evaluate.read_video(pngs)
    mse = np.mean((frames_z.astype(np.float64) - frames_d.astype(np.float64)) ** 2)
    psnr = 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")
    res = {"prompt": a.prompt, "steps": a.steps, "guidance": a.guidance, "threads": a.threads,
           "frames": train.FRAMES, "size": [train.WIDTH, train.HEIGHT],
           "diffusers_seconds": round(min(d_times), 3), "diffusers_runs": d_times,
           "zoetrope_seconds": round(min(z_times), 3), "zoetrope_runs": z_times,
           "speedup": round(min(d_times) / min(z_times), 2),
           "speedup_paired_median": round(float(np.median(np.array(d_times) / np.array(z_times))), 2),
           "psnr_zoetrope_vs_diffusers_db": round(float(psnr), 2)}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
