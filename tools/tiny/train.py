#!/usr/bin/env python3
"""Train zoetrope-tiny: a Wan-family model at tiny scale, on the synthetic clips of
tools/tiny/data.py, on the CPU.

The three networks are diffusers' and transformers' own classes at small sizes, so the
engine runs them through the code that runs real Wan checkpoints:
  - a Wan2.1-style causal VAE (diffusers AutoencoderKLWan: 4x time, 8x space), trained
    first on short clips (reconstruction from the posterior mean, unclamped, plus a small
    L2 pull on the latents);
  - a SentencePiece unigram tokenizer trained on the caption grammar, and a umT5
    encoder (transformers UMT5EncoderModel) trained jointly with
  - a Wan diffusion transformer (diffusers WanTransformer3DModel) on the VAE's latents:
    Wan's flow-matching objective (x_t = (1 - s) x0 + s e, target e - x0, s shifted as
    the sampler shifts it), captions dropped 10% of the time (classifier-free guidance
    with the empty prompt), and on 30% of the samples Wan2.2-style first-frame
    conditioning (the first latent frame clean, timestep 0 on its tokens), so that one
    model does t2v and i2v.

Stages (each resumes from its checkpoint under --out; `all` runs what is left):
  tokenizer -> vae -> latents -> dit -> export
Everything is drawn from --seed, so a run reproduces the weights up to the float
summation order of the machine's BLAS.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import data  # noqa: E402

FRAMES, HEIGHT, WIDTH = 17, 128, 128
TEXT_LEN = 512  # the engine pads every prompt's states to 512 rows of zeros, as Wan does
SHIFT = 3.0     # the sampler's sigma shift (presets/tiny.cfg uses the same)

VAE = dict(base_dim=8, z_dim=8, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
           temperal_downsample=[False, True, True], dropout=0.0)
T5 = dict(d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2,
          relative_attention_num_buckets=32, relative_attention_max_distance=128,
          feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6,
          pad_token_id=0, eos_token_id=1, tie_word_embeddings=False)
DIT = dict(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=32,
           in_channels=VAE["z_dim"], out_channels=VAE["z_dim"], text_dim=T5["d_model"],
           freq_dim=256, ffn_dim=384, num_layers=4, cross_attn_norm=True,
           qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def to_unit(v):
    """uint8 [B, F, H, W, 3] -> float [B, 3, F, H, W] in [-1, 1] (diffusers' convention)."""
    x = torch.from_numpy(np.ascontiguousarray(v)).float().div_(127.5).sub_(1.0)
    return x.permute(0, 4, 1, 2, 3).contiguous()


def save_ckpt(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


# ---- tokenizer ---------------------------------------------------------------------------

def stage_tokenizer(a):
    import sentencepiece as spm
    path = os.path.join(a.out, "spiece.model")
    if os.path.exists(path):
        return
    corpus = os.path.join(a.out, "captions.txt")
    with open(corpus, "w") as f:
        for c in data.all_captions():
            f.write(c + "\n")
    # T5's ids: pad 0, eos 1, unk 2, no bos; words of the grammar become whole pieces
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(a.out, "spiece"), model_type="unigram",
        vocab_size=64, hard_vocab_limit=False, character_coverage=1.0, pad_id=0, eos_id=1,
        unk_id=2, bos_id=-1, byte_fallback=False, num_threads=1,
        minloglevel=2)
    log("tokenizer: %s" % path)


def tokenizer(a):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=os.path.join(a.out, "spiece.model"))


# ---- VAE ---------------------------------------------------------------------------------

def make_vae():
    from diffusers import AutoencoderKLWan
    return AutoencoderKLWan(**VAE)


def decode_raw(vae, z):
    """diffusers' AutoencoderKLWan._decode without its final clamp to [-1, 1], whose zero
    gradient outside the range stalls training on pixels that start on the wrong side."""
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    outs = []
    for i in range(x.shape[2]):
        vae._conv_idx = [0]
        outs.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map,
                                feat_idx=vae._conv_idx, first_chunk=i == 0))
    vae.clear_cache()
    return torch.cat(outs, 2)


def vae_batch(rng, n, frames, crop):
    """n clips of `frames` frames at 128 x 128, cropped to crop x crop at random."""
    out = np.empty((n, frames, crop, crop, 3), np.uint8)
    for i in range(n):
        spec = data.sample_caption(rng)
        clip = data.render(spec, rng, frames=frames, height=HEIGHT, width=WIDTH)
        y, x = rng.integers(0, HEIGHT - crop + 1), rng.integers(0, WIDTH - crop + 1)
        out[i] = clip[:, y:y + crop, x:x + crop]
    return out


def stage_vae(a):
    path = os.path.join(a.out, "vae.pt")
    torch.manual_seed(a.seed)
    vae = make_vae()
    # betas (0.9, 0.95) and a tight clip: the gradient norm spikes 10-40x now and then,
    # and those steps undid the training at the default Adam settings
    opt = torch.optim.Adam(vae.parameters(), lr=a.vae_lr, betas=(0.9, 0.95))
    step = 0
    if os.path.exists(path):
        st = torch.load(path, weights_only=False)
        vae.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    if step >= a.vae_steps:
        return
    logf = open(os.path.join(a.out, "vae_log.csv"), "a", newline="")
    w = csv.writer(logf)
    t0 = time.time()
    vae.train()
    while step < a.vae_steps:
        rng = np.random.default_rng([a.seed, 1, step])  # the batch of this step, on any resume
        lr = a.vae_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.vae_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = to_unit(vae_batch(rng, a.vae_batch, 5, a.vae_crop))
        # the posterior's mean, as the DiT's latents will be, with a small pull towards 0
        # that keeps their scale bounded: sampling at the initial unit variance drowned the
        # signal (the decoder learned the mean colour and nothing else)
        z = vae.encode(x).latent_dist.mean
        rec = decode_raw(vae, z)
        l_rec = (rec - x).abs().mean() + (rec - x).pow(2).mean()
        l_kl = 0.5 * z.pow(2).mean()
        loss = l_rec + a.vae_reg * l_kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 0.1)
        opt.step()
        step += 1
        w.writerow([step, f"{l_rec.item():.5f}", f"{l_kl.item():.5f}"])
        if step % 50 == 0:
            logf.flush()
            log(f"vae {step}/{a.vae_steps} rec {l_rec.item():.4f} z2 {l_kl.item():.3f} "
                f"({(time.time() - t0) / 50:.2f} s/step)")
            t0 = time.time()
        if step % a.ckpt_every == 0 or step == a.vae_steps:
            save_ckpt(path, model=vae.state_dict(), opt=opt.state_dict(), step=step)
    logf.close()


def load_vae(a):
    vae = make_vae()
    vae.load_state_dict(torch.load(os.path.join(a.out, "vae.pt"), weights_only=False)["model"])
    return vae.eval()


# ---- latents -----------------------------------------------------------------------------

def stage_latents(a):
    path = os.path.join(a.out, "latents.npz")
    if os.path.exists(path):
        return
    vae = load_vae(a)
    part = os.path.join(a.out, "latents_part.npz")
    lat, caps, specs = [], [], []
    if os.path.exists(part):
        p = np.load(part, allow_pickle=True)
        lat, caps, specs = list(p["lat"]), list(p["caps"]), list(p["specs"])
    t0 = time.time()
    chunk = 8
    while len(lat) < a.clips:
        i0 = len(lat)
        n = min(chunk, a.clips - i0)
        vids = np.empty((n, FRAMES, HEIGHT, WIDTH, 3), np.uint8)
        for k in range(n):
            rng = data.clip_rng(a.seed + 2, i0 + k)
            spec = data.sample_caption(rng)
            data.render_into(vids[k], spec, rng)
            caps.append(spec["caption"])
            specs.append(json.dumps(spec))
        with torch.no_grad():
            z = vae.encode(to_unit(vids)).latent_dist.mean
        lat.extend(z.numpy().astype(np.float32))
        if len(lat) % 128 == 0 or len(lat) == a.clips:
            np.savez(part + ".tmp.npz", lat=np.stack(lat), caps=np.array(caps),
                     specs=np.array(specs))
            os.replace(part + ".tmp.npz", part)
            log(f"latents {len(lat)}/{a.clips} ({(time.time() - t0) / len(lat):.2f} s/clip)")
    lat = np.stack(lat)
    mean = lat.mean(axis=(0, 2, 3, 4))
    std = lat.std(axis=(0, 2, 3, 4))
    np.savez(path, lat=lat, caps=np.array(caps), specs=np.array(specs), mean=mean, std=std)
    os.remove(part)
    log(f"latents: {lat.shape}, channel mean {np.round(mean, 3)}, std {np.round(std, 3)}")


# ---- text encoder + transformer ----------------------------------------------------------

def make_models(vocab):
    from diffusers import WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel
    te = UMT5EncoderModel(UMT5Config(vocab_size=vocab, **T5))
    dit = WanTransformer3DModel(**DIT)
    return te, dit


def encode_text(te, sp, captions):
    """umT5 states [B, 512, d], zero after each caption's ids + EOS, as the engine gives."""
    ids = [sp.encode(c) + [sp.eos_id()] for c in captions]
    n = max(len(i) for i in ids)
    tok = torch.zeros(len(ids), n, dtype=torch.long)
    mask = torch.zeros(len(ids), n, dtype=torch.long)
    for k, row in enumerate(ids):
        tok[k, :len(row)] = torch.tensor(row)
        mask[k, :len(row)] = 1
    h = te(input_ids=tok, attention_mask=mask).last_hidden_state * mask[..., None]
    out = h.new_zeros(len(ids), TEXT_LEN, h.shape[-1])
    out[:, :n] = h
    return out


def stage_dit(a):
    path = os.path.join(a.out, "dit.pt")
    d = np.load(os.path.join(a.out, "latents.npz"), allow_pickle=True)
    mean = torch.from_numpy(d["mean"]).view(1, -1, 1, 1, 1)
    std = torch.from_numpy(d["std"]).view(1, -1, 1, 1, 1)
    lat = (torch.from_numpy(d["lat"]) - mean) / std  # normalized, as the engine's sampler sees
    caps = list(d["caps"])
    sp = tokenizer(a)
    torch.manual_seed(a.seed + 3)
    te, dit = make_models(sp.vocab_size())
    params = list(te.parameters()) + list(dit.parameters())
    opt = torch.optim.AdamW(params, lr=a.dit_lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    step = 0
    if os.path.exists(path):
        st = torch.load(path, weights_only=False)
        te.load_state_dict(st["te"])
        dit.load_state_dict(st["dit"])
        opt.load_state_dict(st["opt"])
        ema = st["ema"]
        step = st["step"]
    if step >= a.dit_steps:
        return
    logf = open(os.path.join(a.out, "dit_log.csv"), "a", newline="")
    w = csv.writer(logf)
    B, C, T, H, W = a.dit_batch, lat.shape[1], lat.shape[2], lat.shape[3], lat.shape[4]
    tokens = T * (H // 2) * (W // 2)
    first = (H // 2) * (W // 2)
    te.train()
    dit.train()
    t0 = time.time()
    while step < a.dit_steps:
        g = torch.Generator().manual_seed(a.seed * 1000003 + step)
        lr = a.dit_lr * min(1.0, (step + 1) / 200) * (
            0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.dit_steps)))
        for pg in opt.param_groups:
            pg["lr"] = lr
        idx = torch.randint(0, lat.shape[0], (B,), generator=g)
        x0 = lat[idx]
        drop = torch.rand(B, generator=g) < 0.1
        text = encode_text(te, sp, ["" if drop[k] else caps[i] for k, i in enumerate(idx)])
        u = torch.rand(B, generator=g)
        s = SHIFT * u / (1 + (SHIFT - 1) * u)
        e = torch.randn(x0.shape, generator=g)
        xt = (1 - s.view(B, 1, 1, 1, 1)) * x0 + s.view(B, 1, 1, 1, 1) * e
        i2v = torch.rand(B, generator=g) < 0.3
        xt[i2v, :, 0] = x0[i2v, :, 0]
        tt = (s * 1000).view(B, 1).repeat(1, tokens)
        tt[i2v, :first] = 0.0
        v = dit(hidden_states=xt, timestep=tt, encoder_hidden_states=text, return_dict=False)[0]
        err = (v - (e - x0)).pow(2)
        weight = torch.ones(B, 1, T, 1, 1)
        weight[i2v, :, 0] = 0.0  # the clean first frame is given, not predicted
        loss = (err * weight).sum() / (weight.sum() * C * H * W)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for m, p in zip(ema, params):
                m.mul_(a.ema).add_(p.detach(), alpha=1 - a.ema)
        step += 1
        w.writerow([step, f"{loss.item():.5f}"])
        if step % 50 == 0:
            logf.flush()
            log(f"dit {step}/{a.dit_steps} loss {loss.item():.4f} "
                f"({(time.time() - t0) / 50:.2f} s/step)")
            t0 = time.time()
        if step % a.ckpt_every == 0 or step == a.dit_steps:
            save_ckpt(path, te=te.state_dict(), dit=dit.state_dict(), opt=opt.state_dict(),
                      ema=ema, step=step)
    logf.close()


# ---- export ------------------------------------------------------------------------------

def stage_export(a):
    from safetensors.torch import save_file
    import shutil
    dst = a.export
    os.makedirs(dst, exist_ok=True)
    vae = load_vae(a)
    d = np.load(os.path.join(a.out, "latents.npz"), allow_pickle=True)
    stats = {"latents_mean": ",".join(f"{v:.6g}" for v in d["mean"]),
             "latents_std": ",".join(f"{v:.6g}" for v in d["std"])}
    save_file({k: v.detach().contiguous() for k, v in vae.state_dict().items()},
              os.path.join(dst, "vae.safetensors"), metadata=stats)
    sp = tokenizer(a)
    te, dit = make_models(sp.vocab_size())
    st = torch.load(os.path.join(a.out, "dit.pt"), weights_only=False)
    params = list(te.parameters()) + list(dit.parameters())
    with torch.no_grad():  # the exponential moving average is what ships
        for p, m in zip(params, st["ema"]):
            p.copy_(m)
    save_file({k: v.detach().contiguous() for k, v in te.state_dict().items()
               if k != "encoder.embed_tokens.weight"},  # tied to shared.weight
              os.path.join(dst, "text_encoder.safetensors"))
    save_file({k: v.detach().contiguous() for k, v in dit.state_dict().items()},
              os.path.join(dst, "transformer.safetensors"),
              metadata={"num_heads": str(DIT["num_attention_heads"]),
                        "zoetrope_i2v": "first_frame"})
    shutil.copy(os.path.join(a.out, "spiece.model"), os.path.join(dst, "spiece.model"))
    log(f"exported to {dst}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage", nargs="?", default="all",
                    choices=["all", "tokenizer", "vae", "latents", "dit", "export"])
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "tiny"))
    ap.add_argument("--export", default=os.path.join(ROOT, "models", "zoetrope-tiny"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--vae-steps", type=int, default=2000)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--vae-crop", type=int, default=32, help="training crops (5 frames)")
    ap.add_argument("--vae-lr", type=float, default=1e-4)
    ap.add_argument("--vae-reg", type=float, default=1e-4)
    ap.add_argument("--clips", type=int, default=1536)
    ap.add_argument("--dit-steps", type=int, default=4000)
    ap.add_argument("--dit-batch", type=int, default=16)
    ap.add_argument("--dit-lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--ckpt-every", type=int, default=250)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)
    stages = ["tokenizer", "vae", "latents", "dit", "export"]
    for s in stages if a.stage == "all" else [a.stage]:
        t0 = time.time()
        globals()["stage_" + s](a)
        log(f"stage {s}: {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
