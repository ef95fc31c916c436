#!/usr/bin/env python3
"""Write the tiled Wan VAE fixtures the C tests read (tests/data/vae/tiled/).

The tiny random VAEs of tools/vae/make_fixtures.py (tests/data/vae/{wan21,wan22}/
diffusers.safetensors, loaded into diffusers' AutoencoderKLWan) run diffusers' own
tiled_decode and tiled_encode with small tiles, on sizes that are not square and not
multiples of the tile stride (border tiles are cut, some below the overlap), with 1
and 3 latent frames. For each variant, <variant>.safetensors holds per case i:

    in.<i>    decode: raw latents [1, z, T, h, w] (bf16 values); encode: a clip
              [1, 3, F, H, W] in [-1, 1] (bf16 values)
    out.<i>   decode: the clamped frames [1, 3, F, H, W]; encode: the mean
              [1, z, T, h, w] (latent_dist.mean, raw)

and metadata case.<i> = "decode|encode tile overlap" (enable_tiling(tile, tile,
tile - overlap, tile - overlap)), n = number of cases.

Usage: pip install torch diffusers safetensors; python3 tools/vae/make_tiled_fixtures.py
"""
import os
import sys

import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import VARIANTS, bf16_round, clip  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data", "vae")

# (kind, tile, overlap, T latent frames or F frames, h, w): decode sizes are latent
# pixels, encode sizes video pixels
CASES = {
    "wan21": [  # stride 8: tile 32 / overlap 8 is 4 latent pixels every 3
        ("decode", 32, 8, 1, 7, 10),
        ("decode", 32, 8, 3, 7, 5),
        ("decode", 48, 24, 2, 8, 6),   # last row 16 px tall, below the 24 px overlap
        ("encode", 32, 8, 5, 56, 40),
        ("encode", 32, 8, 1, 40, 64),
    ],
    "wan22": [  # stride 16; decode blends in the patchified space
        ("decode", 64, 16, 1, 5, 7),
        ("decode", 64, 16, 3, 5, 3),
        ("decode", 96, 48, 1, 8, 4),   # last row 32 px tall, below the 48 px overlap
        ("encode", 32, 16, 5, 80, 96),  # tiles of 64 video pixels (patchified 32)
        ("encode", 32, 16, 1, 112, 144),
    ],
}


def load_vae(vname):
    vae = AutoencoderKLWan(**VARIANTS[vname]["config"]).eval()
    sd = load_file(os.path.join(DATA, vname, "diffusers.safetensors"))
    vae.load_state_dict({k: v.float() for k, v in sd.items()})
    return vae


def main():
    torch.set_num_threads(1)
    out_dir = os.path.join(DATA, "tiled")
    os.makedirs(out_dir, exist_ok=True)
    for vname, cases in CASES.items():
        vae = load_vae(vname)
        z = VARIANTS[vname]["config"]["z_dim"]
        g = torch.Generator().manual_seed(77 if vname == "wan21" else 78)
        tensors, meta = {}, {"n": str(len(cases))}
        for i, (kind, tile, overlap, t, h, w) in enumerate(cases):
            vae.enable_tiling(tile_sample_min_height=tile, tile_sample_min_width=tile,
                              tile_sample_stride_height=tile - overlap,
                              tile_sample_stride_width=tile - overlap)
            with torch.no_grad():
                if kind == "decode":
                    x = bf16_round(torch.randn(1, z, t, h, w, generator=g))
                    y = vae.decode(x).sample
                    frac = (y.abs() >= 1).float().mean().item()
                    info = "frames %s, clamped %.1f%%" % (tuple(y.shape), 100 * frac)
                else:
                    x = clip(t, h, w, seed=200 + i)
                    y = vae.encode(x).latent_dist.mean
                    info = "latents %s" % (tuple(y.shape),)
            tensors["in.%d" % i] = x.to(torch.bfloat16).contiguous()
            tensors["out.%d" % i] = y.contiguous()
            meta["case.%d" % i] = "%s %d %d" % (kind, tile, overlap)
            print(vname, i, kind, "tile", tile, "overlap", overlap, tuple(x.shape), info)
        save_file(tensors, os.path.join(out_dir, vname + ".safetensors"), metadata=meta)


if __name__ == "__main__":
    main()
