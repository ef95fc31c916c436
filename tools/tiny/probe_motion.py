#!/usr/bin/env python3
"""Does a zoetrope-tiny transformer checkpoint listen to the motion word? Seconds, not the
minutes of an engine evaluation (tools/tiny/NOTES.md, "Why the transformer ignores the
motion word").

  python3 tools/tiny/probe_motion.py [--out out/tiny] [--ckpt DIR/dit.pt] [--ema]

For training clips that move left or right it prints, at noise levels 1.0, 0.95 and 0.8
with the first latent frame given (image-to-video):
  - how much the x0 prediction of the later frames changes (relative L2) when only the
    motion word is swapped, next to how much it changes with the empty prompt;
  - per block, how much the cross-attention output changes when the motion, colour,
    shape or background word is swapped;
  - how much the text encoder's state changes on the motion word's own position and
    elsewhere, against a colour swap.
A model that follows the motion word changes its prediction with the word about as much
as with the empty prompt.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import train  # noqa: E402


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(train.ROOT, "out", "tiny"),
                    help="run directory: spiece.model and latents.npz")
    ap.add_argument("--ckpt", help="dit.pt to probe (default OUT/dit.pt)")
    ap.add_argument("--ema", action="store_true", help="the EMA weights (what export ships)")
    ap.add_argument("--clips", type=int, default=4, help="clips to average over")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sp = train.tokenizer(a)
    te, dit = train.make_models(sp.vocab_size())
    st = torch.load(a.ckpt or os.path.join(a.out, "dit.pt"), weights_only=False)
    if a.ema:
        with torch.no_grad():
            for p, m in zip(list(te.parameters()) + list(dit.parameters()), st["ema"]):
                p.copy_(m)
    else:
        te.load_state_dict(st["te"])
        dit.load_state_dict(st["dit"])
    te.eval()
    dit.eval()
    d = np.load(os.path.join(a.out, "latents.npz"), allow_pickle=True)
    mean = torch.from_numpy(d["mean"]).view(1, -1, 1, 1, 1)
    std = torch.from_numpy(d["std"]).view(1, -1, 1, 1, 1)
    specs = [json.loads(s) for s in d["specs"]]
    picks = [i for i, s in enumerate(specs) if s["motion"] in ("left", "right")][:a.clips]
    g = torch.Generator().manual_seed(0)

    # x0 prediction, first frame given, the rest at noise s
    for s in (1.0, 0.95, 0.8):
        word, empty = [], []
        for i in picks:
            x0 = (torch.from_numpy(d["lat"][i:i + 1]) - mean) / std
            _, _, T, H, W = x0.shape
            first = (H // 2) * (W // 2)
            e = torch.randn(x0.shape, generator=g)
            xt = (1 - s) * x0 + s * e
            xt[:, :, 0] = x0[:, :, 0]
            tt = torch.full((1, T * first), s * 1000)
            tt[:, :first] = 0
            cap = specs[i]["caption"]
            other = "left" if specs[i]["motion"] == "right" else "right"
            caps = [cap, cap.replace("moving " + specs[i]["motion"], "moving " + other), ""]
            with torch.no_grad():
                v = dit(hidden_states=xt.repeat(3, 1, 1, 1, 1), timestep=tt.repeat(3, 1),
                        encoder_hidden_states=train.encode_text(te, sp, caps),
                        return_dict=False)[0]
            xp = (xt - s * v)[:, :, 1:]
            word.append(rel(xp[1], xp[0]))
            empty.append(rel(xp[2], xp[0]))
        print(f"noise {s:.2f}: x0 prediction changes {100 * np.mean(word):.1f}% with the motion "
              f"word swapped, {100 * np.mean(empty):.1f}% with the empty prompt")

    # cross-attention outputs and text states, one caption and its one-word swaps
    base = "a purple circle moving right on a black background"
    swaps = {"motion": base.replace("right", "left"), "colour": base.replace("purple", "red"),
             "shape": base.replace("circle", "square"), "background": base.replace("black", "white")}
    caps = [base] + list(swaps.values())
    outs = {}
    hooks = [b.attn2.register_forward_hook(
        lambda m, i, o, k=k: outs.__setitem__(k, o.detach())) for k, b in enumerate(dit.blocks)]
    x0 = (torch.from_numpy(d["lat"][picks[0]:picks[0] + 1]) - mean) / std
    xt = 0.1 * x0 + 0.9 * torch.randn(x0.shape, generator=g)
    tokens = x0.shape[2] * (x0.shape[3] // 2) * (x0.shape[4] // 2)
    with torch.no_grad():
        text = train.encode_text(te, sp, caps)
        dit(hidden_states=xt.repeat(len(caps), 1, 1, 1, 1),
            timestep=torch.full((len(caps), tokens), 900.0), encoder_hidden_states=text,
            return_dict=False)
    for h in hooks:
        h.remove()
    for k in sorted(outs):
        o = outs[k]
        print(f"block {k} cross-attention output change: " + ", ".join(
            f"{name} {100 * rel(o[j + 1], o[0]):.0f}%" for j, name in enumerate(swaps)))
    n = len(sp.encode(base)) + 1
    own = len(sp.encode(base.split(" on ")[0]))  # the motion word's piece is the last of these
    per = [rel(text[1, j], text[0, j]) for j in range(n)]
    col = [rel(text[2, j], text[0, j]) for j in range(n)]
    rest = [p for j, p in enumerate(per) if j != own - 1]
    print(f"text states, motion swap: {per[own - 1]:.2f} on its own position, "
          f"{max(rest):.2f} at most elsewhere; colour swap: {min(col):.2f}-{max(col):.2f} "
          f"over all {n} positions")


if __name__ == "__main__":
    main()
