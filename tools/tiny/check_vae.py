#!/usr/bin/env python3
"""How well a zoetrope-tiny VAE checkpoint reconstructs whole clips (17 frames, 128 x 128):
PSNR per clip and whether tools/tiny/evaluate.py still finds the right colour and motion
in the reconstruction. Run it before training the DiT on the VAE's latents.

  python3 tools/tiny/check_vae.py [--out out/tiny] [--n 8] [--z 8] [--first-frames 16]

--first-frames N checks N first frames alone (encoded and decoded as one-frame clips):
the shape's median colour against the palette, and PSNR. That is what a VAE pretrained
on single frames can already do (tools/tiny/NOTES.md).
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import evaluate  # noqa: E402
import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "out", "tiny"))
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--z", type=int, default=train.VAE["z_dim"])
    ap.add_argument("--first-frames", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    train.VAE.update(z_dim=a.z)
    vae = train.load_vae(a)
    if a.first_frames:
        first_frames(vae, a.first_frames)
        return
    psnr, color, motion, per_frame = [], 0, 0, []
    for i in range(a.n):
        rng = data.clip_rng(999, i)  # clips the training never drew (another seed)
        spec = data.sample_caption(rng)
        clip = data.render(spec, rng)
        with torch.no_grad():
            z = vae.encode(train.to_unit(clip[None])).latent_dist.mean
            rec = vae.decode(z).sample[0]
        r = ((rec.permute(1, 2, 3, 0).numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)
        mse = ((r.astype(np.float64) - clip) ** 2).mean()
        per_frame.append(((r.astype(np.float64) - clip) ** 2).mean((1, 2, 3)))
        psnr.append(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))
        res = evaluate.analyze(r, spec)
        color += bool(res["color_ok"])
        motion += bool(res["motion_ok"])
        print(f"{spec['caption']:55s} PSNR {psnr[-1]:5.1f} dB  color {res['color_ok']}  "
              f"motion {res['motion_ok']}  presence {res['presence']:.2f}")
    print(f"mean PSNR {np.mean(psnr):.1f} dB, colour right {color}/{a.n}, motion right "
          f"{motion}/{a.n}")
    # where in the clip the error sits: frame 0 is latent frame 0, then 4 frames per latent
    pf = 10 * np.log10(255.0 ** 2 / np.maximum(np.mean(per_frame, 0), 1e-12))
    print("PSNR per frame (dB):", " ".join(f"{v:.1f}" for v in pf))


def first_frames(vae, n):
    right, psnr = 0, []
    for i in range(n):
        rng = data.clip_rng(999, i)
        spec = data.sample_caption(rng)
        still = data.render(spec, rng)[:1]
        with torch.no_grad():
            rec = vae.decode(vae.encode(train.to_unit(still[None])).latent_dist.mean).sample[0]
        r = ((rec.permute(1, 2, 3, 0).numpy() + 1) * 127.5).clip(0, 255).round()
        # the colour where the input has its shape (not evaluate.analyze's segmentation of
        # the output): it asks whether the colour survives, not whether a shape is found
        bg = np.array(data.BACKGROUNDS[spec["background"]])
        shape = np.abs(still[0].astype(int) - bg).max(-1) > 10
        med = np.median(r[0][shape], 0)
        near = min((c for c in data.COLORS if not data.clashes(c, spec["background"])),
                   key=lambda c: np.linalg.norm(np.array(data.COLORS[c]) - med))
        right += near == spec["color"]
        psnr.append(10 * np.log10(255.0 ** 2 / max(((r - still) ** 2).mean(), 1e-12)))
        print(f"{spec['color']:7s} decoded as {near:7s} {np.round(med).astype(int)}  "
              f"PSNR {psnr[-1]:5.1f} dB")
    print(f"first frames: colour right {right}/{n}, mean PSNR {np.mean(psnr):.1f} dB")


if __name__ == "__main__":
    main()
