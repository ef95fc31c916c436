#!/usr/bin/env python3
"""Fixtures for tests/unit/test_generate.c: diffusers' Wan pipelines run end to end on
tiny random components that fit each other, from prompt text to decoded frames.

Components (tests/data/pipeline/ unless noted):
    tokenizer       tests/data/tokenizer/bf.model (SentencePiece unigram with umT5's
                    nmt_nfkc normalization and byte fallback; pad 0, eos 1)
    t5.safetensors  transformers' UMT5EncoderModel: vocab 2453 (the tokenizer's), d_model
                    32, 2 heads of 16, d_ff 48, 2 layers; f32, Hugging Face names
    dit21.safetensors, dit22.safetensors
                    diffusers' WanTransformer3DModel: dim 64 in 2 heads of 32, ffn 96,
                    2 layers, text_dim 32; 16 latent channels (Wan2.1) or 48 (Wan2.2),
                    f32, diffusers names, metadata num_heads
    VAEs            tests/data/vae/wan21/diffusers.safetensors and wan22/ (base dim 4,
                    the real latent statistics; tools/vae/make_fixtures.py)
    image.png       a 64x64 RGB picture, the i2v first frame (already the output size,
                    so no resampler takes part)

cases.safetensors: per case NAME (metadata "cases" lists them, "NAME" holds its settings
as JSON: mode, prompt, negative_prompt, width, height, frames, steps, shift, guidance,
sampler, dit, vae):
    noise.NAME      the initial noise [C, T, h, w] handed to the pipeline as latents=
    ctx.NAME        the prompt's encoder output, zero-padded: [512, 32]
    latents.NAME    the final latents [C, T, h, w] (normalized, i2v's first frame
                    already the image's)
    frames.NAME     the decoded video [3, F, H, W] in [-1, 1] (the VAE's clamped output,
                    before diffusers' [0, 1] post-processing)

Cases: Wan2.1-style text-to-video with UniPC (4 steps, shift 5, guidance 5), DPM-Solver++
(3 steps, shift 3, guidance 3) and Euler (3 steps without guidance, one pass per step);
Wan2.2 TI2V image-to-video (WanImageToVideoPipeline with expand_timesteps: the image's
latent frame is kept and its tokens get t = 0) with UniPC, 4 steps, guidance 5.

Usage: pip install torch diffusers transformers sentencepiece safetensors pillow;
       python3 tools/pipeline/make_fixtures.py
"""
import json
import os
import sys

import numpy as np
import sentencepiece as spm
import torch
import diffusers.pipelines.wan.pipeline_wan_i2v as wan_i2v
from diffusers import (AutoencoderKLWan, DPMSolverMultistepScheduler,
                       FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler,
                       WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel)
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import UMT5Config, UMT5EncoderModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "pipeline")
sys.path.insert(0, os.path.join(HERE, "..", "vae"))
import make_fixtures as vae_fixtures  # noqa: E402  (the VAE configurations)

# diffusers' Wan text-to-video pipeline skips ftfy when it is not installed, its
# image-to-video one calls it regardless; both run here as without ftfy (as Zoetrope does)
if not hasattr(wan_i2v, "ftfy"):
    wan_i2v.ftfy = type("NoFtfy", (), {"fix_text": staticmethod(lambda t: t)})

TOKENIZER = os.path.join(ROOT, "tests", "data", "tokenizer", "bf.model")
TEXT_LEN = 512
TEXT_DIM = 32
HEADS = 2
DIT = dict(patch_size=(1, 2, 2), num_attention_heads=HEADS, attention_head_dim=32,
           text_dim=TEXT_DIM, freq_dim=256, ffn_dim=96, num_layers=2, cross_attn_norm=True,
           qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)


class SpmTokenizer:
    """The one call diffusers' Wan pipelines make of a tokenizer, by sentencepiece (the
    library the C tokenizer follows): ids + EOS, truncated, padded with 0."""

    def __init__(self, path):
        self.sp = spm.SentencePieceProcessor(model_file=path)

    def __call__(self, texts, max_length, **_):
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        mask = torch.zeros(len(texts), max_length, dtype=torch.long)
        for i, t in enumerate(texts):
            row = (self.sp.encode(t) + [self.sp.eos_id()])
            if len(row) > max_length:
                row = row[:max_length - 1] + [self.sp.eos_id()]
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1

        class Out:
            input_ids, attention_mask = ids, mask
        return Out()


def randomize(model, gen, norm_scale=0.3):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + norm_scale * torch.randn(p.shape, generator=gen))
            elif "norm" in name and name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif "scale_shift_table" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=gen))


def text_encoder(vocab):
    torch.manual_seed(10)
    cfg = UMT5Config(vocab_size=vocab, d_model=TEXT_DIM, d_kv=16, num_heads=2, d_ff=48,
                     num_layers=2, relative_attention_num_buckets=32,
                     relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                     dropout_rate=0.0, layer_norm_epsilon=1e-6, pad_token_id=0,
                     eos_token_id=1, tie_word_embeddings=False)
    model = UMT5EncoderModel(cfg).float().eval()
    randomize(model, torch.Generator().manual_seed(11))
    return model


def transformer(channels, seed):
    torch.manual_seed(seed)
    model = WanTransformer3DModel(in_channels=channels, out_channels=channels, **DIT)
    model = model.float().eval()
    randomize(model, torch.Generator().manual_seed(seed + 1))
    return model


def vae(variant):
    v = vae_fixtures.VARIANTS[variant]
    cfg = dict(v["config"])
    if variant == "wan21":
        cfg.update(latents_mean=vae_fixtures.WAN21_MEAN, latents_std=vae_fixtures.WAN21_STD)
    else:
        mean, std = vae_fixtures.wan22_stats()
        cfg.update(latents_mean=mean.tolist(), latents_std=std.tolist())
    model = AutoencoderKLWan(**cfg).float().eval()
    sd = load_file(os.path.join(ROOT, "tests", "data", "vae", variant, "diffusers.safetensors"))
    model.load_state_dict(sd)
    return model


def scheduler(kind, shift):
    if kind == "unipc":
        return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                       num_train_timesteps=1000, flow_shift=shift)
    if kind == "dpm++":
        return DPMSolverMultistepScheduler(prediction_type="flow_prediction",
                                           use_flow_sigmas=True, num_train_timesteps=1000,
                                           flow_shift=shift)
    return FlowMatchEulerDiscreteScheduler(shift=shift)


def picture(w, h):
    """Smooth colour ramps with a disc: structure the VAE can see, no resampling."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 255 * x / (w - 1)
    g = 255 * y / (h - 1)
    b = np.where((x - w * 0.6) ** 2 + (y - h * 0.4) ** 2 < (0.25 * w) ** 2, 230, 40)
    return Image.fromarray(np.stack([r, g, b], -1).round().astype(np.uint8), "RGB")


CASES = [
    dict(name="t2v_unipc", mode="t2v", dit="dit21", vae="wan21", width=48, height=32,
         frames=9, steps=4, shift=5.0, guidance=5.0, sampler="unipc",
         prompt="a cat walks  slowly across the sunny street &amp; the cars pass by",
         negative_prompt="static, blurred details, worst quality"),
    dict(name="t2v_dpm", mode="t2v", dit="dit21", vae="wan21", width=32, height=32,
         frames=5, steps=3, shift=3.0, guidance=3.0, sampler="dpm++",
         prompt="waves crash on rocks under a stormy sky", negative_prompt=""),
    dict(name="t2v_euler", mode="t2v", dit="dit21", vae="wan21", width=32, height=48,
         frames=5, steps=3, shift=3.0, guidance=1.0, sampler="euler",
         prompt="city at night, neon lights", negative_prompt="low quality"),
    dict(name="i2v_unipc", mode="i2v", dit="dit22", vae="wan22", width=64, height=64,
         frames=9, steps=4, shift=5.0, guidance=5.0, sampler="unipc",
         prompt="the disc drifts to the left", negative_prompt="static, blurred details"),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = SpmTokenizer(TOKENIZER)
    te = text_encoder(tok.sp.vocab_size())
    save_file({k: v.detach().clone().contiguous() for k, v in te.state_dict().items()
               if k != "encoder.embed_tokens.weight"},
              os.path.join(OUT, "t5.safetensors"))
    dits = {"dit21": transformer(16, 20), "dit22": transformer(48, 30)}
    for name, m in dits.items():
        save_file({k: v.detach().clone().contiguous() for k, v in m.state_dict().items()},
                  os.path.join(OUT, name + ".safetensors"), metadata={"num_heads": str(HEADS)})
    vaes = {"wan21": vae("wan21"), "wan22": vae("wan22")}
    image = picture(64, 64)
    image.save(os.path.join(OUT, "image.png"))

    out, meta = {}, {}
    gen = torch.Generator().manual_seed(99)
    for c in CASES:
        name = c["name"]
        v = vaes[c["vae"]]
        z = v.config.z_dim
        s = v.config.scale_factor_spatial
        shape = (1, z, (c["frames"] - 1) // 4 + 1, c["height"] // s, c["width"] // s)
        noise = torch.randn(shape, generator=gen)
        args = dict(prompt=c["prompt"], negative_prompt=c["negative_prompt"],
                    height=c["height"], width=c["width"], num_frames=c["frames"],
                    num_inference_steps=c["steps"], guidance_scale=c["guidance"],
                    latents=noise.clone(), output_type="latent", return_dict=False,
                    max_sequence_length=TEXT_LEN)
        parts = dict(tokenizer=tok, text_encoder=te, transformer=dits[c["dit"]], vae=v,
                     scheduler=scheduler(c["sampler"], c["shift"]))
        if c["mode"] == "t2v":
            pipe = WanPipeline(**parts)
        else:
            pipe = WanImageToVideoPipeline(**parts, image_encoder=None, image_processor=None,
                                           expand_timesteps=True)
            args["image"] = image
        with torch.no_grad():
            ctx, _ = pipe.encode_prompt(c["prompt"], do_classifier_free_guidance=False,
                                        max_sequence_length=TEXT_LEN)
            latents = pipe(**args)[0]
            mean = torch.tensor(v.config.latents_mean).view(1, z, 1, 1, 1)
            std = torch.tensor(v.config.latents_std).view(1, z, 1, 1, 1)
            frames = v.decode(latents * std + mean, return_dict=False)[0]
        out[f"noise.{name}"] = noise[0].contiguous()
        out[f"ctx.{name}"] = ctx[0].contiguous()
        out[f"latents.{name}"] = latents[0].float().contiguous()
        out[f"frames.{name}"] = frames[0].float().contiguous()
        meta[name] = json.dumps({k: c[k] for k in c if k != "name"})
        print(name, tuple(frames.shape[1:]), "frames in", float(frames.min()),
              float(frames.max()))
    meta["cases"] = ",".join(c["name"] for c in CASES)
    save_file(out, os.path.join(OUT, "cases.safetensors"), metadata=meta)


if __name__ == "__main__":
    main()
