#!/usr/bin/env python3
"""The loss curves of a zoetrope-tiny training run (out/tiny/{vae,dit}_log.csv) as one PNG
for the model card: VAE reconstruction loss and the DiT's flow-matching loss, each as a
running mean over 50 steps. Each --leg DIR (train.sh's out/tiny/leg, out/tiny/leg3) is a
later transformer leg (DIR/dit_log.csv), drawn after the one before, its steps counted on
from that one's last.

  python3 tools/tiny/plot_loss.py [--out-dir out/tiny] [--leg out/tiny/leg ...]
                                  [--png models/zoetrope-tiny/loss.png]
"""
import argparse
import csv
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(path, col):
    steps, vals = [], []
    with open(path) as f:
        for row in csv.reader(f):
            steps.append(int(row[0]))
            vals.append(float(row[col]))
    order = np.argsort(steps, kind="stable")  # a resumed run may repeat steps: keep the last
    s, v = np.array(steps)[order], np.array(vals)[order]
    keep = np.append(s[1:] != s[:-1], True)
    return s[keep], v[keep]


def smooth(v, k=50):
    if len(v) < k:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    head = c[1:k] / np.arange(1, k)
    return np.concatenate([head, (c[k:] - c[:-k]) / k])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "out", "tiny"))
    ap.add_argument("--leg", action="append", default=[],
                    help="a later transformer leg's folder (repeat for more, in order)")
    ap.add_argument("--png", default=os.path.join(ROOT, "models", "zoetrope-tiny", "loss.png"))
    a = ap.parse_args()
    # the panels of the logs there are (a leg alone, when leg 1's logs are gone, gets its own)
    vae_log = os.path.join(a.out_dir, "vae_log.csv")
    dit_log = os.path.join(a.out_dir, "dit_log.csv")
    have = [f for f in (vae_log, dit_log) if os.path.exists(f)] or ([dit_log] if not a.leg else [])
    n = len(have) + int(bool(a.leg) and dit_log not in have)
    fig, ax = plt.subplots(1, n, figsize=(4.5 * n, 3.2), dpi=100, squeeze=False)
    ax = list(ax[0])
    k = 0
    if vae_log in have:
        s, v = read(vae_log, 1)
        ax[k].plot(s, smooth(v), color="tab:blue")
        ax[k].set(title="VAE: reconstruction (L1 + MSE)", xlabel="step", yscale="log")
        k += 1
    last = 0
    if dit_log in have:
        s, v = read(dit_log, 1)
        ax[k].plot(s, smooth(v), color="tab:red", label="leg 1")
        last = s[-1]
    colors = ["tab:purple", "tab:green", "tab:orange"]
    for i, leg in enumerate(a.leg):
        s2, v2 = read(os.path.join(leg, "dit_log.csv"), 1)
        ax[k].plot(s2 + last, smooth(v2), color=colors[i % len(colors)],
                   label=f"leg {i + 2} (twins)")
        last += s2[-1]
    if a.leg:
        ax[k].legend()
    ax[k].set(title="DiT + umT5: flow-matching MSE", xlabel="step")
    for x in ax:
        x.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.png)
    print("wrote", a.png)


if __name__ == "__main__":
    main()
