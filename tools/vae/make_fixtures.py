#!/usr/bin/env python3
"""Write the Wan VAE fixtures the C tests read (tests/data/vae/{wan21,wan22}/).

diffusers' AutoencoderKLWan is built at a tiny size (base dim 4, the real depth,
multipliers, temporal down/upsampling and latent channels) with a fixed seed, in
both the Wan2.1 structure and the Wan2.2 one (residual blocks with the average-down
and duplicate-up shortcuts, 2x2 patchify). For each:

    diffusers.safetensors   weights under diffusers' names (AutoencoderKLWan)
    original.safetensors    the same weights under Wan's original names, as the
                            ComfyUI files (wan_2.1_vae / wan2.2_vae) and the official
                            .pth files store them
    original.pth            the same state dict written by torch.save
    cases.safetensors       per case: input.<c> [1, 3, F, H, W] clip in [-1, 1],
                            mu.<c> the encoder's mean (diffusers' latent_dist.mean),
                            latent.<c> = (mu - mean) / std with Wan's per-channel
                            statistics, decoded.<c> = decode(mu) (clamped), and
                            first_chunk.<c>: the decoder's output for the first latent
                            frame alone, before clamping (and, for 2.2, unpatchified).

Cases: 1, 5 and 9 latent frames at a square size and at one that is not square.

Weights and inputs are rounded to bf16 values (stored as bf16), so every file holds
exactly the numbers diffusers computed with in f32. The original names are produced
here from diffusers' names; for Wan2.1 the mapping is checked against diffusers' own
original-to-diffusers converter (single_file_utils.convert_wan_vae_to_diffusers).

Usage: pip install torch diffusers safetensors; python3 tools/vae/make_fixtures.py
"""
import os
import re

import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "vae")

WAN21_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
              0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
WAN21_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
             3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]

VARIANTS = {
    "wan21": dict(config=dict(base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                              temperal_downsample=[False, True, True]),
                  # (latent frames, height, width)
                  cases=[(1, 32, 32), (5, 32, 32), (9, 32, 32), (1, 24, 40), (5, 24, 40),
                         (9, 24, 40)]),
    "wan22": dict(config=dict(base_dim=4, decoder_base_dim=3, z_dim=48, dim_mult=[1, 2, 4, 4],
                              num_res_blocks=2, temperal_downsample=[False, True, True],
                              is_residual=True, in_channels=12, out_channels=12, patch_size=2,
                              scale_factor_spatial=16),
                  cases=[(1, 32, 32), (5, 32, 32), (9, 32, 32), (1, 32, 48), (5, 32, 48),
                         (9, 32, 48)]),
}


def rename_common(name):
    """The renames both versions share: top convolutions, heads and the middle."""
    n = name
    n = n.replace("quant_conv.", "conv1.") if n.startswith("quant_conv.") else n
    n = n.replace("post_quant_conv.", "conv2.") if n.startswith("post_quant_conv.") else n
    n = re.sub(r"^(encoder|decoder)\.conv_in\.", r"\1.conv1.", n)
    n = re.sub(r"^(encoder|decoder)\.norm_out\.", r"\1.head.0.", n)
    n = re.sub(r"^(encoder|decoder)\.conv_out\.", r"\1.head.2.", n)
    n = re.sub(r"\.mid_block\.resnets\.0\.", ".middle.0.", n)
    n = re.sub(r"\.mid_block\.resnets\.1\.", ".middle.2.", n)
    n = re.sub(r"\.mid_block\.attentions\.0\.", ".middle.1.", n)
    return n


def to_original_21(name):
    """diffusers name -> Wan2.1 original name."""
    n = rename_common(name)
    n = n.replace("encoder.down_blocks.", "encoder.downsamples.")
    m = re.match(r"decoder\.up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0)\.(.*)", n)
    if m:  # 3 resnets + 1 upsampler per stage, flattened
        flat = 4 * int(m.group(1)) + (int(m.group(3)) if m.group(3) else 3)
        n = "decoder.upsamples.%d.%s" % (flat, m.group(4))
    return rename_resnet(n)


def to_original_22(name):
    """diffusers name -> Wan2.2 original name."""
    n = rename_common(name)
    # the resampler follows the resnets in the stage's list: index 2 down, 3 up
    n = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.downsamples.\1.downsamples.", n)
    n = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsampler\.", r"encoder.downsamples.\1.downsamples.2.", n)
    n = re.sub(r"^decoder\.up_blocks\.(\d+)\.resnets\.", r"decoder.upsamples.\1.upsamples.", n)
    n = re.sub(r"^decoder\.up_blocks\.(\d+)\.upsampler\.", r"decoder.upsamples.\1.upsamples.3.", n)
    return rename_resnet(n)


def rename_resnet(n):
    for new, old in ((".norm1.", ".residual.0."), (".conv1.", ".residual.2."),
                     (".norm2.", ".residual.3."), (".conv2.", ".residual.6."),
                     (".conv_shortcut.", ".shortcut.")):
        if not re.match(r"^(encoder|decoder)\.conv1\.", n):
            n = n.replace(new, old)
    return n


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def clip(frames, h, w, seed):
    """A smooth moving pattern plus a little noise, in [-1, 1], bf16 values."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames).view(frames, 1, 1).float()
    y = torch.arange(h).view(1, h, 1).float()
    x = torch.arange(w).view(1, 1, w).float()
    chans = []
    for c in range(3):
        ph = torch.rand(3, generator=g) * 6.28
        v = torch.sin(0.31 * x + 0.2 * t + ph[0]) * torch.cos(0.23 * y - 0.15 * t + ph[1])
        v = 0.7 * v + 0.25 * torch.sin(0.05 * (x + y) * (c + 1) + ph[2])
        chans.append(v)
    v = torch.stack(chans)[None] + 0.05 * torch.randn(1, 3, frames, h, w, generator=g)
    return bf16_round(v.clamp(-1, 1))


def main():
    torch.set_num_threads(1)  # the same numbers on every run and machine
    torch.manual_seed(0)
    for vname, spec in VARIANTS.items():
        torch.manual_seed(1234)
        cfg = dict(spec["config"])
        vae = AutoencoderKLWan(**cfg).eval()
        with torch.no_grad():  # default init leaves gammas at 1 and biases at 0
            for n, p in vae.named_parameters():
                if n.endswith("gamma"):
                    v = 1.0 + 0.2 * torch.randn_like(p)
                elif p.dim() > 1:
                    v = torch.randn_like(p) * (1.0 / p[0].numel()) ** 0.5
                    if n == "decoder.conv_out.weight":  # keep most outputs inside the clamp
                        v = 0.5 * v
                else:
                    v = 0.1 * torch.randn_like(p)
                p.copy_(bf16_round(v))
        sd = {k: v.detach().contiguous() for k, v in vae.state_dict().items()}
        conv = to_original_21 if vname == "wan21" else to_original_22
        orig = {conv(k): v for k, v in sd.items()}
        assert len(orig) == len(sd), "name clash"
        if vname == "wan21":
            from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
            back = convert_wan_vae_to_diffusers(dict(orig))
            assert sorted(back) == sorted(sd), sorted(set(back) ^ set(sd))[:10]
            for k in sd:
                assert torch.equal(back[k], sd[k]), k
        d = os.path.join(OUT, vname)
        os.makedirs(d, exist_ok=True)
        save_file({k: v.to(torch.bfloat16) for k, v in sd.items()},
                  os.path.join(d, "diffusers.safetensors"))
        save_file({k: v.to(torch.bfloat16) for k, v in orig.items()},
                  os.path.join(d, "original.safetensors"))
        torch.save({k: v.to(torch.bfloat16) for k, v in orig.items()},
                   os.path.join(d, "original.pth"))

        z = cfg["z_dim"]
        if vname == "wan21":
            mean, std = torch.tensor(WAN21_MEAN), torch.tensor(WAN21_STD)
        else:
            mean, std = wan22_stats()
        assert mean.numel() == z
        cases = {}
        with torch.no_grad():
            for i, (lt, h, w) in enumerate(spec["cases"]):
                c = "%dx%dx%d" % (lt, h, w)
                frames = 1 + 4 * (lt - 1)
                x = clip(frames, h, w, seed=100 + i)
                mu = vae.encode(x).latent_dist.mean
                assert mu.shape[2] == lt, mu.shape
                dec = vae.decode(mu).sample
                assert dec.shape[2] == frames, dec.shape
                first = first_chunk(vae, mu)
                cases["input." + c] = x.to(torch.bfloat16)
                cases["mu." + c] = mu.contiguous()
                cases["latent." + c] = ((mu - mean.view(1, z, 1, 1, 1)) /
                                        std.view(1, z, 1, 1, 1)).contiguous()
                cases["decoded." + c] = dec.contiguous()
                cases["first_chunk." + c] = first.contiguous()
                print(vname, c, "mu", tuple(mu.shape), "decoded", tuple(dec.shape),
                      "range %.3f..%.3f" % (dec.min(), dec.max()))
        meta = {"cases": ",".join("%dx%dx%d" % cs for cs in spec["cases"]),
                "config": repr(cfg)}
        save_file(cases, os.path.join(d, "cases.safetensors"), metadata=meta)


def first_chunk(vae, mu):
    """The decoder's output for latent frame 0 alone, as _decode computes it."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify
    vae.clear_cache()
    x = vae.post_quant_conv(mu)
    vae._conv_idx = [0]
    out = vae.decoder(x[:, :, :1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx,
                      first_chunk=True)
    if vae.config.patch_size is not None:
        out = unpatchify(out, patch_size=vae.config.patch_size)
    vae.clear_cache()
    return out


def wan22_stats():
    """Wan2.2's 48 latent means and stds, as in diffusers' conversion config."""
    mean = [-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
            -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
            -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
            -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
            -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
            0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667]
    std = [0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
           0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
           0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
           0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
           0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
           0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744]
    return torch.tensor(mean), torch.tensor(std)


if __name__ == "__main__":
    main()
