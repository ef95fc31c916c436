#!/usr/bin/env python3
"""Train zoetrope-tiny: a Wan-family model at tiny scale, on the synthetic clips of
tools/tiny/data.py, on the CPU.

The three networks are diffusers' and transformers' own classes at small sizes, so the
engine runs them through the code that runs real Wan checkpoints:
  - a Wan2.1-style causal VAE (diffusers AutoencoderKLWan: 4x time, 8x space), trained
    first, from variance-preserving weights whose time axis starts "inflated" from 2D
    (init_vae), in two phases: single frames (space and colour, cheaply), then 17-frame
    crops (motion within each 4-frame chunk) with the shape's pixels weighted up. Half
    its clips are in random colours. It reconstructs from the posterior mean, unclamped,
    with a small L2 pull on the latents. tools/tiny/NOTES.md has what each variant measured;
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


def to_cpu(x):
    if torch.is_tensor(x):
        return x.cpu()
    if isinstance(x, dict):
        return {k: to_cpu(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_cpu(v) for v in x)
    return x


def save_ckpt(path, **state):
    tmp = path + ".tmp"
    torch.save(to_cpu(state), tmp)  # loadable anywhere, also when trained on a GPU
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


def init_vae(vae):
    """Variance-preserving weights (std 1/sqrt(fan_in), zero bias) and residual branches
    that start as the identity (last conv of each block and the attention's projection at
    zero). With torch's default init the signal shrinks ~0.6x per convolution, the image
    is gone after the encoder's resamplers, and training sat at the mean colour (12 dB);
    with this one it passes 20 dB in 250 steps.

    Time starts out "inflated" from 2D: a causal convolution's taps on past frames are zero,
    the encoder's temporal downsamplers keep the latest frame and the decoder's temporal
    upsamplers repeat theirs. The untrained VAE is then a per-frame image autoencoder that
    codes every 4th frame and holds it, so single-frame pretraining teaches every latent
    frame alike. With random past taps the error grew with the frame's position in the
    clip (0.06 MSE on frame 0 to 0.24 on frame 16, whichever end of the clip came first)
    and the later frames lost the shape's colour (tools/tiny/NOTES.md)."""
    for m in vae.modules():
        if isinstance(m, (torch.nn.Conv3d, torch.nn.Conv2d)):
            w = m.weight
            if w.dim() == 5 and w.shape[2] > 1:
                torch.nn.init.zeros_(w)
                torch.nn.init.normal_(w[:, :, -1], 0.0, 1.0 / math.sqrt(w[0, :, -1].numel()))
            else:
                torch.nn.init.normal_(w, 0.0, 1.0 / math.sqrt(w[0].numel()))
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    for m in vae.modules():
        name = type(m).__name__
        if name == "WanResidualBlock":
            torch.nn.init.zeros_(m.conv2.weight)
        elif name == "WanAttentionBlock":
            torch.nn.init.zeros_(m.proj.weight)
        elif name == "WanResample" and m.mode in ("upsample3d", "downsample3d"):
            w = m.time_conv.weight  # [out, in, 3, 1, 1]: tap 2 is the latest frame
            eye = torch.eye(w.shape[1])
            with torch.no_grad():
                w.zero_()
                for k in range(w.shape[0] // w.shape[1]):  # upsampling: one copy per frame
                    w[k * w.shape[1]:(k + 1) * w.shape[1], :, 2, 0, 0] = eye


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


def vae_batch(rng, n, frames, crop, on_shape=False, colored=False):
    """n clips of `frames` frames at 128 x 128, cropped to crop x crop at random (around a
    pixel of the shape in the first frame with on_shape), and each clip's background
    colour [n, 3] (uint8). With colored, half the clips are in random colours."""
    out = np.empty((n, frames, crop, crop, 3), np.uint8)
    bg = np.empty((n, 3), np.uint8)
    for i in range(n):
        spec = data.sample_caption(rng)
        if colored and rng.random() < 0.5:
            # any two colours, not the grammar's: a shape's colour must come through
            clip, bgc = colored_clip(rng, spec, frames)
            bg[i] = bgc
        else:
            clip = data.render(spec, rng, frames=frames, height=HEIGHT, width=WIDTH)
            bg[i] = data.BACKGROUNDS[spec["background"]]
        y, x = rng.integers(0, HEIGHT - crop + 1), rng.integers(0, WIDTH - crop + 1)
        if on_shape:
            bgc = bg[i].astype(np.int16)
            ys, xs = np.nonzero(np.abs(clip[0].astype(np.int16) - bgc).max(-1) > 10)
            if len(ys):
                k = rng.integers(len(ys))
                y = int(np.clip(ys[k] - crop // 2, 0, HEIGHT - crop))
                x = int(np.clip(xs[k] - crop // 2, 0, WIDTH - crop))
        out[i] = clip[:, y:y + crop, x:x + crop]
    return out, bg


def colored_clip(rng, spec, frames):
    """The spec's shape and motion with a random background and shape colour at least
    96 apart on some channel: [frames, H, W, 3] uint8 and the background colour."""
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    while True:
        fg = tuple(int(v) for v in rng.integers(0, 256, 3))
        if max(abs(p - q) for p, q in zip(fg, bg)) >= 96:
            break
    clip = np.empty((frames, HEIGHT, WIDTH, 3), np.uint8)
    data.render_into(clip, spec, rng, colors=(fg, bg))
    return clip, bg


def stage_vae(a):
    path = os.path.join(a.out, "vae.pt")
    torch.manual_seed(a.seed)
    vae = make_vae()
    init_vae(vae)
    opt = torch.optim.Adam(vae.parameters(), lr=a.vae_lr, betas=(0.9, a.vae_beta2))
    step = 0
    if os.path.exists(path):
        st = torch.load(path, weights_only=False)
        vae.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    total = a.vae_steps + a.vae_ft_steps + a.vae_color_steps
    if step >= total:
        return
    logf = open(os.path.join(a.out, "vae_log.csv"), "a", newline="")
    w = csv.writer(logf)
    t0 = time.time()
    vae.train()
    while step < total:
        rng = np.random.default_rng([a.seed, 1, step])  # the batch of this step, on any resume
        # phase 1: single frames (or --vae-frames), plain MSE: space and colour, 17x
        # cheaper per sample than clips; phase 2 (fine-tuning): whole 17-frame clips, as
        # the engine decodes them, the shape's pixels weighted up (a small shape is a small
        # part of a frame's loss): motion within each chunk. Optional phase 3: crops around
        # the shape and a loss on chroma (an earlier fix for lost colours, superseded by
        # --vae-colored and the inflated init). tools/tiny/NOTES.md has what each measured
        ft = step >= a.vae_steps
        color = step >= a.vae_steps + a.vae_ft_steps
        if color:
            k, n, peak = step - a.vae_steps - a.vae_ft_steps, a.vae_color_steps, a.vae_ft_lr
        elif ft:
            k, n, peak = step - a.vae_steps, a.vae_ft_steps, a.vae_ft_lr
        else:
            k, n, peak = step, a.vae_steps, a.vae_lr
        lr = peak * min(1.0, (k + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / n)))
        for g in opt.param_groups:
            g["lr"] = lr
        # with --vae-ft-mix every other fine-tuning step is a phase-1 batch: clips alone
        # wore the first frames down (25.9 -> 23.6 dB in 250 steps), and i2v shows the
        # VAE's first frame as it is
        clip = color or (ft and not (a.vae_ft_mix and step % 2))
        if color:
            clips, bg = vae_batch(rng, a.vae_batch, FRAMES, a.vae_color_crop,
                                  on_shape=bool(step % 2))
        else:
            clips, bg = vae_batch(rng, a.vae_ft_batch if clip else a.vae_batch,
                                  FRAMES if clip else a.vae_frames,
                                  a.vae_ft_crop if clip else a.vae_crop,
                                  colored=a.vae_colored)
        x = to_unit(clips)
        # the posterior's mean, as the DiT's latents will be, with a small pull towards 0
        # that keeps their scale bounded: sampling at the initial unit variance drowned the
        # signal (the decoder learned the mean colour and nothing else)
        z = vae.encode(x).latent_dist.mean
        rec = decode_raw(vae, z)
        err = (rec - x).pow(2)
        l_rec = err.mean()  # (an L1 term pulled the output to the background)
        fg_w = a.vae_fg_weight if clip else a.vae_fg_weight1
        chroma_w = a.vae_chroma if color else a.vae_chroma1
        bgu = torch.from_numpy(bg).float().div(127.5).sub(1.0).view(-1, 3, 1, 1, 1)
        fg = ((x - bgu).abs().amax(1, keepdim=True) > 0.05).float()
        wgt = 1.0 + fg_w * fg
        l_fit = (err * wgt).sum() / (wgt.sum() * 3)
        if chroma_w > 0:
            d = rec - x
            chroma = (d - d.mean(1, keepdim=True)).pow(2)
            l_fit = l_fit + chroma_w * (chroma * wgt).sum() / (wgt.sum() * 3)
        l_kl = 0.5 * z.pow(2).mean()
        loss = l_fit + a.vae_reg * l_kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), a.vae_clip)
        opt.step()
        step += 1
        w.writerow([step, f"{l_rec.item():.5f}", f"{l_kl.item():.5f}"])
        if step % 50 == 0:
            logf.flush()
            log(f"vae {step}/{total} rec {l_rec.item():.4f} z2 {l_kl.item():.3f} "
                f"({(time.time() - t0) / 50:.2f} s/step)")
            t0 = time.time()
        if step % a.ckpt_every == 0 or step in (a.vae_steps, a.vae_steps + a.vae_ft_steps,
                                                 total):
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
        rev = np.load(path, allow_pickle=True).get("rev")
        if rev is not None and int(rev) != a.data_rev:
            sys.exit(f"train.py: {path} holds data revision {int(rev)}, not {a.data_rev}: "
                     "remove it or pass --data-rev " + str(int(rev)))
        twins = int(np.load(path, allow_pickle=True).get("twins", 0))
        if twins != int(a.twins):
            sys.exit(f"train.py: {path} was made with --twins {twins}, not {int(a.twins)}: "
                     "remove it or pass --twins " + str(twins))
        return
    vae = load_vae(a).to(a.device)
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
            i = i0 + k
            rng = data.clip_rng(a.seed + 2, i // 2 if a.twins else i)
            spec = data.sample_caption(rng)
            if a.twins and i % 2:
                spec = twin_spec(a, spec, i // 2)
            data.render_into(vids[k], spec, rng)  # twins: the same draws of the path
            caps.append(spec["caption"])
            specs.append(json.dumps(spec))
        with torch.no_grad():
            z = vae.encode(to_unit(vids).to(a.device)).latent_dist.mean
        lat.extend(z.cpu().numpy().astype(np.float32))
        if len(lat) % 128 == 0 or len(lat) == a.clips:
            np.savez(part + ".tmp.npz", lat=np.stack(lat), caps=np.array(caps),
                     specs=np.array(specs))
            os.replace(part + ".tmp.npz", part)
            log(f"latents {len(lat)}/{a.clips} ({(time.time() - t0) / len(lat):.2f} s/clip)")
    lat = np.stack(lat)
    mean = lat.mean(axis=(0, 2, 3, 4))
    std = lat.std(axis=(0, 2, 3, 4))
    np.savez(path, lat=lat, caps=np.array(caps), specs=np.array(specs), mean=mean, std=std,
             rev=a.data_rev, twins=int(a.twins))
    os.remove(part)
    log(f"latents: {lat.shape}, channel mean {np.round(mean, 3)}, std {np.round(std, 3)}")


def twin_spec(a, spec, j):
    """The second clip of pair j of a --twins set: spec with another motion of its kind
    (another direction; growing for shrinking and back). Rendered from pair j's generator,
    whose path draws come in the same order for every direction, it has the same colour,
    shape, background, size and start, so only the motion word tells the two apart, and
    a pair given the same noise in one batch is a direct lesson in what that word does."""
    kind = data.DIRECTIONS if spec["motion"] in data.DIRECTIONS else data.MOTIONS[4:]
    other = [m for m in kind if m != spec["motion"]]
    m = other[data.clip_rng(a.seed + 5, j).integers(len(other))]
    say_bg = spec["caption"].endswith(" background")
    return dict(spec, motion=m, caption=data.format_caption(
        spec["color"], spec["shape"], m, spec["background"], say_bg))


# ---- text encoder + transformer ----------------------------------------------------------

def make_models(vocab):
    from diffusers import WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel
    te = UMT5EncoderModel(UMT5Config(vocab_size=vocab, **T5))
    dit = WanTransformer3DModel(**DIT)
    return te, dit


def encode_text(te, sp, captions):
    """umT5 states [B, 512, d], zero after each caption's ids + EOS, as the engine gives."""
    h, _ = encode_text_short(te, sp, captions)
    out = h.new_zeros(len(captions), TEXT_LEN, h.shape[-1])
    out[:, :h.shape[1]] = h
    return out


class PadBiasProcessor:
    """Cross-attention over a caption's states and ONE zero row standing for all the
    512 - n zero rows the engine pads with. Those rows are identical, so their keys and
    values are too, and n_pad copies of a key weigh in the softmax exactly as one copy
    with log(n_pad) added to its logit: the same function at a fraction of the cost
    (a transformer step 1.1 s -> 0.7 s here). `bias` is set before each forward."""
    bias = None

    def __init__(self):
        from diffusers.models.transformers.transformer_wan import WanAttnProcessor
        self.inner = WanAttnProcessor()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 rotary_emb=None):
        return self.inner(attn, hidden_states, encoder_hidden_states, PadBiasProcessor.bias,
                          rotary_emb)


def encode_text_short(te, sp, captions):
    """umT5 states [B, n + 1, d]: each caption's ids + EOS, zero after them, one zero row
    past the longest caption (n ids + EOS); and the additive
    logit bias [B, 1, 1, n + 1] that makes the zero rows count as all 512 - n_k of them."""
    ids = [sp.encode(c) + [sp.eos_id()] for c in captions]
    n = max(len(i) for i in ids) + 1
    tok = torch.zeros(len(ids), n, dtype=torch.long)
    mask = torch.zeros(len(ids), n, dtype=torch.long)
    bias = torch.zeros(len(ids), 1, 1, n)
    for k, row in enumerate(ids):
        tok[k, :len(row)] = torch.tensor(row)
        mask[k, :len(row)] = 1
        bias[k, ..., len(row):] = math.log((TEXT_LEN - len(row)) / (n - len(row)))
    dev = te.shared.weight.device
    tok, mask = tok.to(dev), mask.to(dev)
    h = te(input_ids=tok, attention_mask=mask).last_hidden_state * mask[..., None]
    return h, bias


def partial_caption(spec, form):
    """A shortened caption that keeps the motion: 0 "moving left", 1 "a circle moving
    left", 2 "a red circle moving left" (no background). In full captions the motion
    word is one state among ~27 and the text encoder did not spread it to the others as
    it spreads the colour (tools/tiny/NOTES.md); short ones make it count."""
    m = spec["motion"]
    phrase = "moving " + m if m in data.DIRECTIONS else m
    return [phrase, f"a {spec['shape']} {phrase}", f"a {spec['color']} {spec['shape']} {phrase}"][form]


def stage_dit(a):
    path = os.path.join(a.out, "dit.pt")
    d = np.load(os.path.join(a.out, "latents.npz"), allow_pickle=True)
    mean = torch.from_numpy(d["mean"]).view(1, -1, 1, 1, 1)
    std = torch.from_numpy(d["std"]).view(1, -1, 1, 1, 1)
    lat = (torch.from_numpy(d["lat"]) - mean) / std  # normalized, as the engine's sampler sees
    caps = list(d["caps"])
    specs = [json.loads(x) for x in d["specs"]]
    if a.dit_twins and not int(d.get("twins", 0)):
        sys.exit("train.py: --dit-twins needs latents made with --twins")
    sp = tokenizer(a)
    dev = torch.device(a.device)
    torch.manual_seed(a.seed + 3)
    te, dit = make_models(sp.vocab_size())
    params = list(te.parameters()) + list(dit.parameters())
    opt = torch.optim.AdamW(params, lr=a.dit_lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    for blk in dit.blocks:
        blk.attn2.set_processor(PadBiasProcessor())
    step = 0
    if not os.path.exists(path) and a.dit_from:  # a new leg from another run's weights
        st = torch.load(a.dit_from, weights_only=False)
        ema = [m.clone() for m in st["ema"]]
        if a.dit_from_ema:  # the leg starts where the shipped (averaged) weights are
            with torch.no_grad():
                for p, m in zip(params, ema):
                    p.copy_(m)
        else:
            te.load_state_dict(st["te"])
            dit.load_state_dict(st["dit"])
    # what decides the weights: resuming a checkpoint of another recipe would mix two runs
    recipe = dict(seed=a.seed, steps=a.dit_steps, batch=a.dit_batch, lr=a.dit_lr, ema=a.ema,
                  shift=a.dit_shift, i2v=a.dit_i2v, partial=a.dit_partial, start=a.dit_from)
    if a.dit_from_ema or a.dit_stream:  # only then, so that older checkpoints' recipes match
        recipe.update(from_ema=a.dit_from_ema, stream=a.dit_stream)
    if a.dit_twins:  # only then, so that older checkpoints' recipes still match
        recipe["twins"] = a.dit_twins
    if os.path.exists(path):
        st = torch.load(path, weights_only=False)
        if st.get("recipe", recipe) != recipe:
            sys.exit(f"train.py: {path} was trained with {st['recipe']}, not {recipe}: "
                     "remove it (or its --out folder) to start again")
        te.load_state_dict(st["te"])
        dit.load_state_dict(st["dit"])
        opt.load_state_dict(st["opt"])
        ema = st["ema"]
        step = st["step"]
    # on a GPU (--device cuda) only the arithmetic moves: every draw stays on the CPU's
    # generator, so a GPU run is the same recipe, differing by float summation order only
    te.to(dev)
    dit.to(dev)
    ema = [m.to(dev) for m in ema]
    for s in opt.state.values():
        for k, v in s.items():
            if torch.is_tensor(v) and k != "step":
                s[k] = v.to(dev)
    stop = min(a.dit_steps, a.dit_until or a.dit_steps)
    started = time.time()
    if step >= stop:
        return
    # --dit-twins: half the batch's draws, each taken by a pair of twins (twin_spec),
    # whose noise, noise level and conditioning are the same
    nb = a.dit_batch // 2 if a.dit_twins else a.dit_batch
    pair = (lambda x: x.repeat_interleave(2, 0)) if a.dit_twins else (lambda x: x)
    logf = open(os.path.join(a.out, "dit_log.csv"), "a", newline="")
    w = csv.writer(logf)
    B, C, T, H, W = a.dit_batch, lat.shape[1], lat.shape[2], lat.shape[3], lat.shape[4]
    tokens = T * (H // 2) * (W // 2)
    first = (H // 2) * (W // 2)
    te.train()
    dit.train()
    t0 = time.time()
    while step < stop:
        # --dit-stream: a second leg draws other batches than the first leg's first steps
        g = torch.Generator().manual_seed(a.seed * 1000003 + step + a.dit_stream * 1000000007)
        lr = a.dit_lr * min(1.0, (step + 1) / 200) * (
            0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.dit_steps)))
        for pg in opt.param_groups:
            pg["lr"] = lr
        idx = torch.randint(0, lat.shape[0] // (2 if a.dit_twins else 1), (nb,), generator=g)
        if a.dit_twins:
            idx = torch.stack([2 * idx, 2 * idx + 1], 1).reshape(-1)
        x0 = lat[idx]
        drop = pair(torch.rand(nb, generator=g) < 0.1)
        part = torch.zeros(B, dtype=torch.bool)
        form = torch.zeros(B, dtype=torch.long)
        if a.dit_partial > 0:  # drawn only then, so runs without it replay the first weights' draws
            part = pair(torch.rand(nb, generator=g) < a.dit_partial)
            form = pair(torch.randint(0, 3, (nb,), generator=g))
        text, PadBiasProcessor.bias = encode_text_short(
            te, sp, ["" if drop[k] else partial_caption(specs[i], int(form[k])) if part[k]
                     else caps[i] for k, i in enumerate(idx)])
        u = pair(torch.rand(nb, generator=g))
        s = a.dit_shift * u / (1 + (a.dit_shift - 1) * u)
        e = pair(torch.randn((nb,) + x0.shape[1:], generator=g))
        xt = (1 - s.view(B, 1, 1, 1, 1)) * x0 + s.view(B, 1, 1, 1, 1) * e
        i2v = pair(torch.rand(nb, generator=g) < a.dit_i2v)
        xt[i2v, :, 0] = x0[i2v, :, 0]
        tt = (s * 1000).view(B, 1).repeat(1, tokens)
        tt[i2v, :first] = 0.0
        if dev.type != "cpu":
            xt, tt, e, x0 = xt.to(dev), tt.to(dev), e.to(dev), x0.to(dev)
            PadBiasProcessor.bias = PadBiasProcessor.bias.to(dev)
        v = dit(hidden_states=xt, timestep=tt, encoder_hidden_states=text, return_dict=False)[0]
        err = (v - (e - x0)).pow(2)
        weight = torch.ones(B, 1, T, 1, 1, device=dev)
        weight[i2v.to(dev), :, 0] = 0.0  # the clean first frame is given, not predicted
        loss = (err * weight).sum() / (weight.sum() * C * H * W)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            if dev.type == "cpu":
                for m, p in zip(ema, params):
                    m.mul_(a.ema).add_(p.detach(), alpha=1 - a.ema)
            else:  # hundreds of tiny launches otherwise
                torch._foreach_mul_(ema, a.ema)
                torch._foreach_add_(ema, [p.detach() for p in params], alpha=1 - a.ema)
        step += 1
        if a.max_seconds and time.time() - started > a.max_seconds:
            log(f"dit: --max-seconds {a.max_seconds} reached at step {step}")
            stop = step
        w.writerow([step, f"{loss.item():.5f}"])
        if step % 50 == 0:
            logf.flush()
            log(f"dit {step}/{a.dit_steps} loss {loss.item():.4f} "
                f"({(time.time() - t0) / 50:.2f} s/step)")
            t0 = time.time()
        if step % a.ckpt_every == 0 or step == stop:
            save_ckpt(path, te=te.state_dict(), dit=dit.state_dict(), opt=opt.state_dict(),
                      ema=ema, step=step, recipe=recipe)
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
    ap.add_argument("--vae-steps", type=int, default=1000)
    ap.add_argument("--vae-batch", type=int, default=4)
    ap.add_argument("--vae-crop", type=int, default=64, help="training crops")
    ap.add_argument("--vae-lr", type=float, default=3e-4)
    ap.add_argument("--vae-frames", type=int, default=1)
    ap.add_argument("--vae-ft-steps", type=int, default=1000)
    ap.add_argument("--vae-ft-lr", type=float, default=1e-4)
    ap.add_argument("--vae-ft-batch", type=int, default=1)
    ap.add_argument("--vae-ft-crop", type=int, default=48)
    ap.add_argument("--vae-ft-mix", type=int, default=1,
                    help="1: every other fine-tuning step on phase-1 batches")
    ap.add_argument("--vae-fg-weight", type=float, default=4.0)
    ap.add_argument("--vae-colored", type=int, default=1,
                    help="1: half the VAE's clips in random colours (tools/tiny/NOTES.md)")
    ap.add_argument("--vae-fg-weight1", type=float, default=0.0)
    ap.add_argument("--vae-chroma1", type=float, default=0.0)
    ap.add_argument("--vae-color-steps", type=int, default=0)
    ap.add_argument("--vae-color-crop", type=int, default=48)
    ap.add_argument("--vae-chroma", type=float, default=2.0)
    ap.add_argument("--vae-base", type=int, default=VAE["base_dim"])
    ap.add_argument("--vae-z", type=int, default=VAE["z_dim"])
    ap.add_argument("--vae-clip", type=float, default=1.0)
    ap.add_argument("--vae-beta2", type=float, default=0.99)
    ap.add_argument("--vae-reg", type=float, default=1e-4)
    ap.add_argument("--clips", type=int, default=768)
    ap.add_argument("--data-rev", type=int, default=data.REVISION, choices=[1, 2],
                    help="revision of the clips' motion paths (data.py REVISION)")
    ap.add_argument("--dit-steps", type=int, default=4000)
    ap.add_argument("--dit-until", type=int, default=0,
                    help="stop at this step (the schedule still spans --dit-steps)")
    ap.add_argument("--dit-batch", type=int, default=16)
    ap.add_argument("--dit-lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--dit-shift", type=float, default=SHIFT,
                    help="shift of the training noise levels (higher: more near pure noise)")
    ap.add_argument("--dit-i2v", type=float, default=0.3,
                    help="fraction of samples with the first latent frame given")
    ap.add_argument("--dit-partial", type=float, default=0.0,
                    help="fraction of captions shortened to keep the motion (partial_caption)")
    ap.add_argument("--dit-from", default="",
                    help="start the transformer from this dit.pt (weights and EMA only)")
    ap.add_argument("--dit-from-ema", type=int, default=0, choices=[0, 1],
                    help="with --dit-from: start from its averaged (EMA) weights, not its raw ones")
    ap.add_argument("--dit-stream", type=int, default=0,
                    help="dit: which stream of batch draws (a later leg takes another than the first)")
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--twins", type=int, default=0, choices=[0, 1],
                    help="latents: clips in pairs that differ in their motion alone (twin_spec)")
    ap.add_argument("--dit-twins", type=int, default=0, choices=[0, 1],
                    help="dit: batches of twin pairs with the same noise (needs --twins latents)")
    ap.add_argument("--device", default="cpu",
                    help="latents, dit: where the arithmetic runs (cpu, cuda); the draws are the same")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="dit: checkpoint and stop after this much wall time")
    a = ap.parse_args()
    data.REVISION = a.data_rev
    VAE.update(base_dim=a.vae_base, z_dim=a.vae_z)
    DIT.update(in_channels=a.vae_z, out_channels=a.vae_z)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)
    stages = ["tokenizer", "vae", "latents", "dit", "export"]
    for s in stages if a.stage == "all" else [a.stage]:
        t0 = time.time()
        globals()["stage_" + s](a)
        log(f"stage {s}: {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
