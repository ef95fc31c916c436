#!/usr/bin/env python3
"""How well a zoetrope-tiny VAE checkpoint reconstructs whole clips (17 frames, 128 x 128):
PSNR per clip and whether tools/tiny/evaluate.py still finds the right colour and motion
in the reconstruction. Run it before training the DiT on the VAE's latents.

  python3 tools/tiny/check_vae.py [--out out/tiny] [--n 8]
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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    vae = train.load_vae(a)
    psnr, color, motion = [], 0, 0
    for i in range(a.n):
        rng = data.clip_rng(999, i)  # clips the training never drew (another seed)
        spec = data.sample_caption(rng)
        clip = data.render(spec, rng)
        with torch.no_grad():
            z = vae.encode(train.to_unit(clip[None])).latent_dist.mean
            rec = vae.decode(z).sample[0]
        r = ((rec.permute(1, 2, 3, 0).numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)
        mse = ((r.astype(np.float64) - clip) ** 2).mean()
        psnr.append(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))
        res = evaluate.analyze(r, spec)
        color += bool(res["color_ok"])
        motion += bool(res["motion_ok"])
        print(f"{spec['caption']:55s} PSNR {psnr[-1]:5.1f} dB  color {res['color_ok']}  "
              f"motion {res['motion_ok']}  presence {res['presence']:.2f}")
    print(f"mean PSNR {np.mean(psnr):.1f} dB, colour right {color}/{a.n}, motion right "
          f"{motion}/{a.n}")


if __name__ == "__main__":
    main()
