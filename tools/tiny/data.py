#!/usr/bin/env python3
"""Synthetic clip generator for the built-in "zoetrope-tiny" model.

Every clip shows one flat-colored shape (circle, square or up-pointing
triangle) on a plain background, doing exactly what its caption says:

    a {color} {shape} moving {left|right|up|down}[ on a {bg} background]
    a {color} {shape} growing[ on a {bg} background]
    a {color} {shape} shrinking[ on a {bg} background]

The background is black when the caption does not name one.  Everything is
plain numpy so it can run anywhere the engine's tools run; Pillow is only
used by the CLI to write PNGs.

Library use:
    from data import sample_caption, render, make_dataset
    videos, captions, specs = make_dataset(1000, seed=0)   # [n, F, H, W, 3] uint8

CLI (quick look):
    python3 tools/tiny/data.py --n 8 --seed 0 --out /tmp/tiny
    python3 tools/tiny/data.py --bench 20000          # time generation only
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import numpy as np

# --------------------------------------------------------------------------
# Vocabulary.  One table per kind so the evaluator (and the tokenizer
# trainer) read the exact same values the generator draws with.
# --------------------------------------------------------------------------

# Shape colors: pure and far apart in RGB so nearest-palette classification
# of a (slightly wrong) generated color is unambiguous.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (40, 200, 60),
    "blue": (40, 70, 230),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "orange": (245, 140, 30),
    "purple": (150, 60, 200),
    "cyan": (40, 210, 220),
}

BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "white": (255, 255, 255),
}

SHAPES = ("circle", "square", "triangle")

# "motion" in a spec is one of these; the first four are spoken as
# "moving <dir>", the last two as the bare verb.
DIRECTIONS = ("left", "right", "up", "down")
MOTIONS = DIRECTIONS + ("growing", "shrinking")

DEFAULT_BACKGROUND = "black"
# Probability of leaving a black background unsaid in sampled captions, so the
# model learns the default as well as the explicit form.
P_OMIT_BLACK = 0.4

# Parameter ranges, in pixels for a 128-pixel frame (scaled by
# min(H, W) / 128 for other sizes).  "size" is the radius for circles, the
# half-side for squares and the circumradius for triangles, so every shape
# fits in a box of +-size around its centroid.
MOVE_SIZE = (14.0, 24.0)
MOVE_TRAVEL = (30.0, 60.0)   # centroid travel over the whole clip (revision 1)
MOVE_TRAVEL_2 = (40.0, 64.0)  # the same, before the room in front of the shape cuts it

# Revision 1 (the VAE and the transformer's first 4000 steps were trained on it) fitted a
# moving shape's whole path into the frame, so its start told the direction: a shape
# moving left started on the right half, one moving right on the left half. The
# transformer learnt that and ignored the motion word (tools/tiny/NOTES.md). Revision 2
# draws the start alike for every direction and cuts the travel to the room in front,
# the centre going at most to the margin (so at most half the shape leaves the frame).
REVISION = 2
GROW_SMALL = (8.0, 12.0)
GROW_LARGE = (28.0, 36.0)
MARGIN = 4.0                 # keep the shape this far inside the frame


def clashes(color: str, background: str) -> bool:
    """A shape must never take the background's color (it would vanish)."""
    return COLORS[color] == BACKGROUNDS[background] or color == background


def format_caption(color: str, shape: str, motion: str,
                   background: str = DEFAULT_BACKGROUND,
                   say_background: bool = True) -> str:
    """Build the caption string for one spec (the only place that knows the
    surface grammar besides evaluate.parse_caption)."""
    verb = f"moving {motion}" if motion in DIRECTIONS else motion
    text = f"a {color} {shape} {verb}"
    if say_background:
        text += f" on a {background} background"
    return text


def sample_caption(rng) -> dict:
    """Draw (color, shape, motion, background) uniformly over the valid
    combinations and phrase it.  Returns
    dict(color, shape, motion, background, caption)."""
    rng = np.random.default_rng(rng)
    colors, bgs = list(COLORS), list(BACKGROUNDS)
    while True:  # rejection keeps the draw uniform over non-clashing tuples
        color = colors[rng.integers(len(colors))]
        background = bgs[rng.integers(len(bgs))]
        if not clashes(color, background):
            break
    shape = SHAPES[rng.integers(len(SHAPES))]
    motion = MOTIONS[rng.integers(len(MOTIONS))]
    say_bg = background != "black" or rng.random() >= P_OMIT_BLACK
    return dict(color=color, shape=shape, motion=motion, background=background,
                caption=format_caption(color, shape, motion, background, say_bg))


def all_caption_words() -> list[str]:
    """Every word the grammar can produce (sorted), for tokenizer training."""
    words = {"a", "moving", "on", "background", "growing", "shrinking"}
    words.update(COLORS, SHAPES, DIRECTIONS, BACKGROUNDS)
    return sorted(words)


def all_captions() -> list[str]:
    """Every caption the generator can emit (both background phrasings)."""
    out = []
    for color in COLORS:
        for shape in SHAPES:
            for motion in MOTIONS:
                for bg in BACKGROUNDS:
                    if clashes(color, bg):
                        continue
                    out.append(format_caption(color, shape, motion, bg, True))
                    if bg == DEFAULT_BACKGROUND:
                        out.append(format_caption(color, shape, motion, bg, False))
    return out


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

def _uniform(rng, lo_hi, scale=1.0) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1])) * scale


def _safe_uniform(rng, lo: float, hi: float) -> float:
    # Degenerate ranges only happen on tiny/odd frames; fall back to the middle.
    return float(rng.uniform(lo, hi)) if hi > lo else 0.5 * (lo + hi)


def sample_path(spec: dict, rng, frames: int = 17, height: int = 128,
                width: int = 128) -> dict:
    """Per-frame centroid and size for one clip: dict(cx, cy, size), each a
    float32 [frames] array.  The whole path keeps the shape inside the frame
    with MARGIN to spare."""
    rng = np.random.default_rng(rng)
    k = min(height, width) / 128.0
    m = MARGIN * k
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    motion = spec["motion"]

    if motion in DIRECTIONS:
        s = _uniform(rng, MOVE_SIZE, k)
        horizontal = motion in ("left", "right")
        along, across = (width, height) if horizontal else (height, width)
        sign = 1.0 if motion in ("right", "down") else -1.0
        if REVISION == 1:
            # Shorten the trip if the frame cannot hold it (small frames only).
            travel = min(_uniform(rng, MOVE_TRAVEL, k), max(along - 2 * (s + m), 0.0))
            lo, hi = s + m, along - s - m - travel
            start = _safe_uniform(rng, lo, hi)
            if sign < 0:
                start += travel  # start at the far end so the path stays inside
        else:
            travel = _uniform(rng, MOVE_TRAVEL_2, k)
            start = _safe_uniform(rng, s + m, along - s - m)
            room = along - m - start if sign > 0 else start - m
            travel = max(min(travel, room), 0.0)
        pos = start + sign * travel * t
        other = np.full(frames, _safe_uniform(rng, s + m, across - s - m))
        cx, cy = (pos, other) if horizontal else (other, pos)
        size = np.full(frames, s)
    elif motion in ("growing", "shrinking"):
        small, large = _uniform(rng, GROW_SMALL, k), _uniform(rng, GROW_LARGE, k)
        s0, s1 = (small, large) if motion == "growing" else (large, small)
        cx = np.full(frames, _safe_uniform(rng, large + m, width - large - m))
        cy = np.full(frames, _safe_uniform(rng, large + m, height - large - m))
        size = s0 + (s1 - s0) * t  # linear in size (area grows quadratically)
    else:
        raise ValueError(f"unknown motion {motion!r}")
    f32 = np.float32
    return dict(cx=cx.astype(f32), cy=cy.astype(f32), size=size.astype(f32))


@functools.lru_cache(maxsize=64)
def _blend_lut(fg: tuple, bg: tuple) -> np.ndarray:
    """[256, 3] uint8: color at coverage i/255 between background and shape."""
    a = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    bgf = np.asarray(bg, np.float32)
    return (bgf + a * (np.asarray(fg, np.float32) - bgf) + 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=16)
def _background_frame(height: int, width: int, bg: tuple) -> np.ndarray:
    """One filled [H, W, 3] frame; copying it per frame is a near-memcpy,
    unlike broadcasting a 3-vector over the whole clip."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[...] = np.asarray(bg, np.uint8)
    frame.flags.writeable = False
    return frame


def _draw(video: np.ndarray, shape: str, path: dict, fg, bg) -> None:
    """Composite the shape over an already background-filled video in place.

    Works on the union bounding box of the shape over all frames and
    vectorizes over frames, so one clip is a handful of numpy ops.  Coverage
    is a 1-pixel ramp on a signed distance, i.e. anti-aliased edges over a
    flat interior color."""
    F, H, W, _ = video.shape
    cx, cy, r = path["cx"], path["cy"], path["size"]
    x0 = max(int(np.floor((cx - r).min())) - 2, 0)
    x1 = min(int(np.ceil((cx + r).max())) + 3, W)
    y0 = max(int(np.floor((cy - r).min())) - 2, 0)
    y1 = min(int(np.ceil((cy + r).max())) + 3, H)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1, dtype=np.float32)[None, None, :] - cx[:, None, None]
    dy = np.arange(y0, y1, dtype=np.float32)[None, :, None] - cy[:, None, None]
    rr = r[:, None, None]
    if shape == "circle":
        sdf = np.sqrt(dx * dx + dy * dy) - rr
    elif shape == "square":  # axis-aligned, half-side rr
        sdf = np.maximum(np.abs(dx), np.abs(dy)) - rr
    elif shape == "triangle":
        # Equilateral, apex up, circumradius rr, centroid at (cx, cy):
        # apex at y=-rr, base at y=+rr/2.  Max of the three half-plane
        # distances (exact inside, good enough outside for a 1 px ramp).
        sdf = np.maximum(dy - 0.5 * rr,
                         np.float32(0.8660254) * np.abs(dx) - 0.5 * (dy + rr))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    # Quantize coverage to 8 bits and look the blended color up in a 256-entry
    # table: np.take on uint8 indices is ~10x faster than blending per channel.
    idx = np.clip(np.float32(128.0) - np.float32(255.0) * sdf, 0.0, 255.0)
    video[:, y0:y1, x0:x1] = np.take(_blend_lut(tuple(fg), tuple(bg)),
                                     idx.astype(np.uint8), axis=0)


def render_into(out: np.ndarray, spec: dict, rng, colors=None) -> dict:
    """Render one clip into out [F, H, W, 3] uint8 (avoids a copy when
    filling a big dataset array).  colors=(shape RGB, background RGB)
    overrides the spec's colors.  Returns the sampled path."""
    F, H, W, _ = out.shape
    path = sample_path(spec, rng, F, H, W)
    if colors:
        fg, bg = colors
    else:
        fg = COLORS[spec["color"]]
        bg = BACKGROUNDS[spec.get("background") or DEFAULT_BACKGROUND]
    out[...] = _background_frame(H, W, tuple(bg))
    _draw(out, spec["shape"], path, fg, bg)
    return path


def render(spec: dict, rng, frames: int = 17, height: int = 128,
           width: int = 128) -> np.ndarray:
    """Render the clip a spec describes: [frames, height, width, 3] uint8."""
    if clashes(spec["color"], spec.get("background") or DEFAULT_BACKGROUND):
        raise ValueError("shape color equals background color")
    out = np.empty((frames, height, width, 3), np.uint8)
    render_into(out, spec, np.random.default_rng(rng))
    return out


def first_frame_image(spec: dict, rng, frames: int = 17, height: int = 128,
                      width: int = 128) -> np.ndarray:
    """A still [H, W, 3] uint8 for image-to-video evaluation: frame 0 of the
    clip render() would draw with the same rng, so the shape is placed where
    it has room to carry out the spec's motion (pair it with spec["caption"])."""
    return render(spec, rng, frames, height, width)[0]


def clip_rng(seed: int, index: int) -> np.random.Generator:
    """Per-clip generator: clip i of a seed is the same whatever n is, and
    clips can be produced in any order or in parallel."""
    return np.random.default_rng([int(seed), int(index)])


def make_dataset(n: int, seed: int = 0, frames: int = 17, height: int = 128,
                 width: int = 128, out: np.ndarray | None = None):
    """n clips, deterministic from seed.

    Returns (videos uint8 [n, F, H, W, 3], captions list[str], specs
    list[dict]).  20000 clips at 17x128x128 is ~17 GB, so for large n pass
    `out` (e.g. np.lib.format.open_memmap(...)) to stream to disk."""
    shape = (n, frames, height, width, 3)
    if out is None:
        out = np.empty(shape, np.uint8)
    elif out.shape != shape or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 {shape}, got {out.dtype} {out.shape}")
    specs = []
    for i in range(n):
        rng = clip_rng(seed, i)
        spec = sample_caption(rng)
        render_into(out[i], spec, rng)
        specs.append(spec)
    return out, [s["caption"] for s in specs], specs


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def contact_sheet(video: np.ndarray, cols: int = 9, gap: int = 2) -> np.ndarray:
    """Tile a clip's frames into one image (frames left-to-right, top-down)."""
    F, H, W, _ = video.shape
    cols = min(cols, F)
    rows = -(-F // cols)
    sheet = np.full((rows * (H + gap) - gap, cols * (W + gap) - gap, 3), 96, np.uint8)
    for f in range(F):
        r, c = divmod(f, cols)
        sheet[r * (H + gap):r * (H + gap) + H, c * (W + gap):c * (W + gap) + W] = video[f]
    return sheet


def _bench(n: int, frames: int, height: int, width: int, seed: int) -> None:
    # Reuse one chunk buffer: the point is generation speed, not 17 GB of RAM.
    chunk = 256
    buf = np.empty((chunk, frames, height, width, 3), np.uint8)
    t0 = time.perf_counter()
    for base in range(0, n, chunk):
        for j in range(min(chunk, n - base)):
            rng = clip_rng(seed, base + j)
            render_into(buf[j], sample_caption(rng), rng)
    dt = time.perf_counter() - t0
    print(json.dumps(dict(clips=n, frames=frames, height=height, width=width,
                          seconds=round(dt, 2), clips_per_s=round(n / dt, 1))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8, help="number of clips")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--out", help="directory for contact sheets + captions.txt")
    ap.add_argument("--npy", action="store_true",
                    help="also write clip_XXXX.npy and prompts.json (evaluate.py input)")
    ap.add_argument("--bench", type=int, metavar="N",
                    help="time generating N clips (nothing written)")
    args = ap.parse_args(argv)

    if args.bench:
        _bench(args.bench, args.frames, args.height, args.width, args.seed)
        return 0
    if not args.out:
        ap.error("--out is required unless --bench is given")
    from PIL import Image  # only the CLI needs Pillow

    os.makedirs(args.out, exist_ok=True)
    videos, captions, specs = make_dataset(args.n, args.seed, args.frames,
                                           args.height, args.width)
    for i, video in enumerate(videos):
        Image.fromarray(contact_sheet(video)).save(
            os.path.join(args.out, f"clip_{i:04d}.png"))
        if args.npy:
            np.save(os.path.join(args.out, f"clip_{i:04d}.npy"), video)
    with open(os.path.join(args.out, "captions.txt"), "w") as f:
        f.writelines(f"clip_{i:04d}\t{c}\n" for i, c in enumerate(captions))
    if args.npy:
        with open(os.path.join(args.out, "prompts.json"), "w") as f:
            json.dump([dict(s, file=f"clip_{i:04d}.npy") for i, s in enumerate(specs)],
                      f, indent=1)
    print(f"wrote {args.n} clips to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
