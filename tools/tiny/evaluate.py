#!/usr/bin/env python3
"""Prompt-adherence evaluator for "zoetrope-tiny" clips.

Each clip is checked against its caption by plain color segmentation:
the background is the median of each frame's border pixels, the shape is
every pixel far from it, and from the per-frame mask we read presence,
centroid, area and color.  A clip then scores

    color_ok   mean shape color is nearest (among the palette, minus the
               background's own color) to the prompt's color
    motion_ok  moving: centroid went the named way (dominant axis, sign,
               >= 8 px); growing/shrinking: area ratio last/first > 1.2 or
               < 1/1.2
    presence   fraction of frames where the shape was found

Library use:
    from evaluate import analyze, evaluate, parse_caption, read_video
CLI:
    python3 tools/tiny/evaluate.py VIDEO_DIR PROMPTS.json [--per-clip]
    python3 tools/tiny/evaluate.py --self-test
VIDEO_DIR holds *.y4m, *.npy ([F, H, W, 3] uint8) and/or folders of PNG
frames.  PROMPTS.json is a list of captions or spec dicts; an entry may name
its video with "file" (else entries pair with the videos in sorted order).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys

import numpy as np


def _load_data_module():
    # Load data.py by path: tools/tiny is not a package and "data" is too
    # generic a module name to trust on sys.path.
    name = "zoetrope_tiny_data"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data.py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


tiny = _load_data_module()

# Thresholds, in pixels for a 128-pixel frame (scaled with frame size).
FG_DISTANCE = 60.0     # RGB L2 distance from the background to count as shape
MIN_AREA = 20.0        # mask pixels for the shape to count as present
MIN_TRAVEL = 8.0       # centroid displacement for a "moving" clip
SIZE_RATIO = 1.2       # area ratio for growing / shrinking

_CAPTION_RE = re.compile(
    r"a (?P<color>{c}) (?P<shape>{s}) "
    r"(?:moving (?P<dir>{d})|(?P<size>growing|shrinking))"
    r"(?: on a (?P<bg>{b}) background)?".format(
        c="|".join(tiny.COLORS), s="|".join(tiny.SHAPES),
        d="|".join(tiny.DIRECTIONS), b="|".join(tiny.BACKGROUNDS)))


def parse_caption(caption: str) -> dict:
    """Caption -> dict(color, shape, motion, background, caption).

    Accepts exactly the data.py grammar (case and surrounding/repeated
    whitespace are forgiven); anything else raises ValueError, as does a
    shape colored like its background (it could not be measured)."""
    if not isinstance(caption, str):
        raise ValueError(f"caption must be a string, got {type(caption).__name__}")
    text = " ".join(caption.strip().lower().split())
    m = _CAPTION_RE.fullmatch(text)
    if not m:
        raise ValueError(f"caption not in the zoetrope-tiny grammar: {caption!r}")
    spec = dict(color=m["color"], shape=m["shape"], motion=m["dir"] or m["size"],
                background=m["bg"] or tiny.DEFAULT_BACKGROUND, caption=caption)
    if tiny.clashes(spec["color"], spec["background"]):
        raise ValueError(f"shape color equals background color: {caption!r}")
    return spec


def as_spec(item) -> dict:
    """Accept a caption string or a spec dict (with or without "caption")."""
    if isinstance(item, str):
        return parse_caption(item)
    if isinstance(item, dict):
        if all(k in item for k in ("color", "shape", "motion")):
            spec = dict(item)
            spec.setdefault("background", tiny.DEFAULT_BACKGROUND)
            if spec["color"] not in tiny.COLORS or spec["shape"] not in tiny.SHAPES \
                    or spec["motion"] not in tiny.MOTIONS \
                    or spec["background"] not in tiny.BACKGROUNDS:
                raise ValueError(f"spec outside the grammar: {item!r}")
            return spec
        for key in ("caption", "prompt"):
            if key in item:
                return dict(item, **parse_caption(item[key]))
    raise ValueError(f"not a caption or spec: {item!r}")


# --------------------------------------------------------------------------
# Per-clip analysis
# --------------------------------------------------------------------------

def _border_median(frames: np.ndarray) -> np.ndarray:
    """[F, 3] median color of each frame's outermost ring of pixels."""
    top, bottom = frames[:, 0], frames[:, -1]
    left, right = frames[:, 1:-1, 0], frames[:, 1:-1, -1]
    ring = np.concatenate([top, bottom, left, right], axis=1)  # [F, N, 3]
    return np.median(ring, axis=1)


def _majority3x3(mask: np.ndarray) -> np.ndarray:
    """Keep pixels with >= 5 of their 3x3 neighbourhood set: drops isolated
    speckles (generation noise) that would drag the centroid, while a solid
    shape only loses a sliver at sharp corners."""
    m = np.pad(mask.astype(np.uint8), ((0, 0), (1, 1), (1, 1)))
    H, W = mask.shape[1:]
    count = sum(m[:, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3))
    return mask & (count >= 5)


def analyze(video: np.ndarray, spec, background: str = "border") -> dict:
    """Score one clip [F, H, W, 3] uint8 against a spec dict or caption.

    background: "border" estimates it per frame from the border pixels
    (robust to a model that gets the shade slightly wrong); "caption" uses
    the prompt's background color.  Returns the verdicts plus the per-frame
    measurements (present, centroid, area, color)."""
    spec = as_spec(spec)
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video must be [F, H, W, 3], got {video.shape}")
    F, H, W, _ = video.shape
    k = min(H, W) / 128.0
    frames = video.astype(np.float32)

    if background == "caption":
        bg = np.tile(np.asarray(tiny.BACKGROUNDS[spec["background"]], np.float32), (F, 1))
    elif background == "border":
        bg = _border_median(frames)
    else:
        raise ValueError(f"background must be 'border' or 'caption', got {background!r}")

    dist2 = ((frames - bg[:, None, None, :]) ** 2).sum(-1)
    mask = _majority3x3(dist2 > FG_DISTANCE ** 2)
    area = mask.sum(axis=(1, 2)).astype(np.float64)
    present = area >= max(MIN_AREA * k * k, 4.0)

    # Per-frame centroid and median color (median: the anti-aliased rim
    # is blended toward the background and should not vote).
    ys, xs = np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64)
    safe = np.maximum(area, 1.0)
    cx = (mask.sum(axis=1) * xs).sum(axis=1) / safe
    cy = (mask.sum(axis=2) * ys).sum(axis=1) / safe
    color = np.full((F, 3), np.nan)
    for f in np.flatnonzero(present):
        color[f] = np.median(frames[f][mask[f]], axis=0)

    idx = np.flatnonzero(present)
    result = dict(spec=spec, presence=float(present.mean()) if F else 0.0,
                  present=present.tolist(), area=area.tolist(),
                  centroid=np.stack([cx, cy], 1).round(2).tolist(),
                  color=None, detected_color=None, color_ok=False,
                  motion_ok=False, displacement=None, area_ratio=None)
    if idx.size == 0:
        return result

    # Color: area-weighted mean of per-frame colors, nearest palette entry.
    mean_color = (color[idx] * area[idx, None]).sum(0) / area[idx].sum()
    candidates = [c for c in tiny.COLORS if c != spec["background"]]
    pal = np.array([tiny.COLORS[c] for c in candidates], np.float64)
    detected = candidates[int(np.argmin(((pal - mean_color) ** 2).sum(1)))]
    result.update(color=mean_color.round(1).tolist(), detected_color=detected,
                  color_ok=detected == spec["color"])

    # Motion: compare the average of the first and last few present frames
    # (a short average tolerates a flickery frame at either end).
    if idx.size >= 2:
        n = max(1, min(3, idx.size // 4))
        first, last = idx[:n], idx[-n:]
        dx = float(cx[last].mean() - cx[first].mean())
        dy = float(cy[last].mean() - cy[first].mean())
        ratio = float(area[last].mean() / max(area[first].mean(), 1.0))
        result.update(displacement=[round(dx, 2), round(dy, 2)],
                      area_ratio=round(ratio, 3))
        motion = spec["motion"]
        if motion in tiny.DIRECTIONS:
            horizontal = abs(dx) >= abs(dy)
            along = dx if horizontal else dy
            want_h = motion in ("left", "right")
            want_sign = 1.0 if motion in ("right", "down") else -1.0  # y grows down
            ok = (horizontal == want_h and along * want_sign > 0
                  and abs(along) >= MIN_TRAVEL * k)
        elif motion == "growing":
            ok = ratio > SIZE_RATIO
        else:
            ok = ratio < 1.0 / SIZE_RATIO
        result["motion_ok"] = bool(ok)
    return result


def evaluate(videos, specs, background: str = "border",
             per_clip: bool = False) -> dict:
    """Aggregate analyze() over clips: dict(color_acc, motion_acc, presence,
    n) plus joint_acc (color and motion both right); per_clip=True adds the
    per-clip verdicts under "clips"."""
    specs = list(specs)
    results = []
    for i, video in enumerate(videos):
        if i >= len(specs):
            raise ValueError("more videos than specs")
        results.append(analyze(video, specs[i], background))
    if len(results) != len(specs):
        raise ValueError(f"{len(results)} videos but {len(specs)} specs")
    n = len(results)

    def mean(key):
        return round(float(np.mean([r[key] for r in results])), 4) if n else 0.0

    out = dict(color_acc=mean("color_ok"), motion_acc=mean("motion_ok"),
               presence=mean("presence"), n=n,
               joint_acc=round(float(np.mean([r["color_ok"] and r["motion_ok"]
                                              for r in results])), 4) if n else 0.0)
    if per_clip:
        out["clips"] = [dict(caption=r["spec"].get("caption"),
                             color_ok=r["color_ok"], motion_ok=r["motion_ok"],
                             presence=round(r["presence"], 3),
                             detected_color=r["detected_color"],
                             displacement=r["displacement"],
                             area_ratio=r["area_ratio"]) for r in results]
    return out


# --------------------------------------------------------------------------
# Video I/O
# --------------------------------------------------------------------------

def _yuv_to_rgb(y, u, v, full_range: bool) -> np.ndarray:
    """BT.601 Y'CbCr -> RGB uint8 (planes already at luma resolution)."""
    y = y.astype(np.float32)
    u = u.astype(np.float32) - 128.0
    v = v.astype(np.float32) - 128.0
    if not full_range:  # limited: Y in 16..235, C in 16..240
        y = (y - 16.0) * (255.0 / 219.0)
        u = u * (255.0 / 224.0)
        v = v * (255.0 / 224.0)
    r = y + 1.402 * v
    g = y - 0.344136 * u - 0.714136 * v
    b = y + 1.772 * u
    return np.clip(np.stack([r, g, b], -1) + 0.5, 0, 255).astype(np.uint8)


def _rgb_to_yuv(rgb, full_range: bool):
    """Inverse of _yuv_to_rgb, full-resolution planes (float32)."""
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) / 1.772
    v = (r - y) / 1.402
    if not full_range:
        y = y * (219.0 / 255.0) + 16.0
        u = u * (224.0 / 255.0)
        v = v * (224.0 / 255.0)
    return y, u + 128.0, v + 128.0


def read_y4m(path: str, color_range: str = "auto") -> np.ndarray:
    """YUV4MPEG2 8-bit (4:2:0 in any siting variant, 4:2:2, 4:4:4, mono) ->
    [F, H, W, 3] uint8 RGB via BT.601.  color_range: "auto" trusts an
    XCOLORRANGE=FULL/LIMITED tag (FFmpeg writes one) and otherwise assumes
    limited, which is what the engine's y4m writer produces."""
    with open(path, "rb") as f:
        data = f.read()
    nl = data.find(b"\n")
    header = data[:nl].decode("ascii", "replace").split()
    if not header or header[0] != "YUV4MPEG2":
        raise ValueError(f"{path}: not a YUV4MPEG2 file")
    W = H = None
    cs, tag_range = "420jpeg", None
    for tok in header[1:]:
        if tok[0] == "W":
            W = int(tok[1:])
        elif tok[0] == "H":
            H = int(tok[1:])
        elif tok[0] == "C":
            cs = tok[1:]
        elif tok.startswith("XCOLORRANGE="):
            tag_range = tok.split("=", 1)[1].upper()
    if not W or not H:
        raise ValueError(f"{path}: missing W/H in header")
    cw, ch = -(-W // 2), -(-H // 2)
    if cs.startswith("420"):
        csz = (ch, cw)
    elif cs == "422":
        csz = (H, cw)
    elif cs == "444":
        csz = (H, W)
    elif cs == "mono":
        csz = None
    else:
        raise ValueError(f"{path}: unsupported colorspace C{cs} (8-bit only)")
    if color_range == "auto":
        full = tag_range == "FULL"
    else:
        full = color_range == "full"

    ysz = H * W
    csize = 0 if csz is None else csz[0] * csz[1]
    frames, pos = [], nl + 1
    while pos < len(data):
        if not data.startswith(b"FRAME", pos):
            raise ValueError(f"{path}: bad frame marker at byte {pos}")
        pos = data.index(b"\n", pos) + 1  # frame header may carry params
        end = pos + ysz + 2 * csize
        if end > len(data):
            break  # truncated last frame: keep what is whole
        buf = np.frombuffer(data, np.uint8, ysz + 2 * csize, pos)
        y = buf[:ysz].reshape(H, W)
        if csz is None:
            u = v = np.full((H, W), 128, np.uint8)
        else:
            u = buf[ysz:ysz + csize].reshape(csz)
            v = buf[ysz + csize:].reshape(csz)
            # Nearest-neighbour chroma upsampling: plenty for segmentation.
            ry, rx = -(-H // csz[0]), -(-W // csz[1])
            u = u.repeat(ry, 0).repeat(rx, 1)[:H, :W]
            v = v.repeat(ry, 0).repeat(rx, 1)[:H, :W]
        frames.append(_yuv_to_rgb(y, u, v, full))
        pos = end
    if not frames:
        raise ValueError(f"{path}: no frames")
    return np.stack(frames)


def write_y4m(path: str, video: np.ndarray, fps: int = 8,
              full_range: bool = False) -> None:
    """[F, H, W, 3] uint8 RGB -> 4:2:0 y4m (BT.601; limited range by default,
    like the engine).  Used by the self-test to exercise read_y4m."""
    F, H, W, _ = video.shape
    rng_tag = "FULL" if full_range else "LIMITED"
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{fps}:1 Ip A1:1 C420jpeg "
                f"XCOLORRANGE={rng_tag}\n".encode())
        Hp, Wp = H + H % 2, W + W % 2
        for frame in video:
            y, u, v = _rgb_to_yuv(frame, full_range)
            # Box-average chroma over 2x2 (edge-padded for odd sizes).
            u = np.pad(u, ((0, Hp - H), (0, Wp - W)), mode="edge")
            v = np.pad(v, ((0, Hp - H), (0, Wp - W)), mode="edge")
            u = u.reshape(Hp // 2, 2, Wp // 2, 2).mean((1, 3))
            v = v.reshape(Hp // 2, 2, Wp // 2, 2).mean((1, 3))
            f.write(b"FRAME\n")
            for plane in (y, u, v):
                f.write(np.clip(plane + 0.5, 0, 255).astype(np.uint8).tobytes())


def read_png_dir(path: str) -> np.ndarray:
    """A folder of PNG frames (sorted by name, numbers compared as numbers)."""
    from PIL import Image
    names = sorted((n for n in os.listdir(path) if n.lower().endswith(".png")),
                   key=_natural_key)
    if not names:
        raise ValueError(f"{path}: no PNG frames")
    return np.stack([np.asarray(Image.open(os.path.join(path, n)).convert("RGB"))
                     for n in names])


def read_video(path: str, color_range: str = "auto") -> np.ndarray:
    """Load .y4m, .npy ([F, H, W, 3] uint8) or a PNG-frame folder."""
    if os.path.isdir(path):
        return read_png_dir(path)
    if path.lower().endswith(".y4m"):
        return read_y4m(path, color_range)
    if path.lower().endswith(".npy"):
        v = np.load(path)
        if v.dtype != np.uint8:  # tolerate float dumps in [0, 1] or [0, 255]
            v = np.asarray(v, np.float32)
            v = v * 255.0 if v.max() <= 1.0 else v
            v = np.clip(v + 0.5, 0, 255).astype(np.uint8)
        return v
    raise ValueError(f"{path}: unsupported video (want .y4m, .npy or PNG folder)")


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _list_videos(directory: str) -> list[str]:
    out = []
    for name in sorted(os.listdir(directory), key=_natural_key):
        p = os.path.join(directory, name)
        if name.lower().endswith((".y4m", ".npy")) and os.path.isfile(p):
            out.append(p)
        elif os.path.isdir(p) and any(n.lower().endswith(".png") for n in os.listdir(p)):
            out.append(p)
    return out


def load_pairs(directory: str, prompts_json: str) -> tuple[list[str], list[dict]]:
    """Match videos to prompts: by each entry's "file"/"video" key when every
    entry has one, else in sorted (natural) order."""
    with open(prompts_json) as f:
        items = json.load(f)
    if not isinstance(items, list):
        raise ValueError(f"{prompts_json}: expected a JSON list")
    specs = [as_spec(it) for it in items]
    named = [it.get("file") or it.get("video") if isinstance(it, dict) else None
             for it in items]
    if items and all(named):
        return [os.path.join(directory, n) for n in named], specs
    paths = _list_videos(directory)
    if len(paths) != len(specs):
        raise ValueError(f"{len(paths)} videos in {directory} but {len(specs)} prompts")
    return paths, specs


# --------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------

_OPPOSITE = dict(left="right", right="left", up="down", down="up",
                 growing="shrinking", shrinking="growing")


def self_test(n: int = 200, seed: int = 1234) -> int:
    import tempfile
    import time

    t0 = time.perf_counter()
    videos, captions, specs = tiny.make_dataset(n, seed)
    gen_s = time.perf_counter() - t0
    report, failures = {}, []

    def check(name, ok):
        if not ok:
            failures.append(name)

    # Grammar round trip over every caption the generator can produce.
    for cap in tiny.all_captions():
        s = parse_caption(cap)
        check(f"roundtrip {cap}", tiny.format_caption(
            s["color"], s["shape"], s["motion"], s["background"],
            "background" in cap) == cap)
    for bad in ("a red circle", "a red circle moving sideways",
                "a pink circle growing", "a red hexagon growing",
                "a red circle growing on a blue background",
                "a white square growing on a white background",
                "the red circle growing", "a red circle growing fast"):
        try:
            parse_caption(bad)
            check(f"accepted bad caption {bad!r}", False)
        except ValueError:
            pass

    t0 = time.perf_counter()
    gt = evaluate(videos, captions)  # via captions: exercises parse_caption too
    report["ground_truth"] = gt
    report["eval_seconds"] = round(time.perf_counter() - t0, 2)
    check("gt color_acc == 1", gt["color_acc"] == 1.0)
    check("gt motion_acc >= 0.99", gt["motion_acc"] >= 0.99)
    check("gt presence >= 0.99", gt["presence"] >= 0.99)
    report["ground_truth_caption_bg"] = g2 = evaluate(videos, specs, background="caption")
    check("gt(caption bg) color/motion", g2["color_acc"] == 1.0 and g2["motion_acc"] >= 0.99)

    # Wrong labels must score low.
    wrong_dir = [dict(s, motion=_OPPOSITE[s["motion"]], caption=None) for s in specs]
    report["swapped_motion"] = w = evaluate(videos, wrong_dir)
    check("swapped motion_acc <= 0.02", w["motion_acc"] <= 0.02)
    rng = np.random.default_rng(seed)
    wrong_col = []
    for s in specs:
        others = [c for c in tiny.COLORS
                  if c != s["color"] and not tiny.clashes(c, s["background"])]
        wrong_col.append(dict(s, color=others[rng.integers(len(others))], caption=None))
    report["swapped_color"] = w = evaluate(videos, wrong_col)
    check("swapped color_acc <= 0.02", w["color_acc"] <= 0.02)

    # Moderate noise (sigma 12) must not break ground-truth scoring
    # (a subset: the noise itself is the slow part).
    sub = videos[:60]
    noise = rng.standard_normal(sub.shape, dtype=np.float32) * 12.0
    noisy = np.clip(sub + noise + 0.5, 0, 255).astype(np.uint8)
    report["ground_truth_noise12"] = g3 = evaluate(noisy, specs[:60])
    check("noisy gt >= 0.97", min(g3["color_acc"], g3["motion_acc"], g3["presence"]) >= 0.97)

    # A frozen clip (first frame repeated) fails every motion check.
    frozen = np.repeat(videos[:, :1], videos.shape[1], axis=1)
    report["frozen_first_frame"] = w = evaluate(frozen, specs)
    check("frozen motion_acc == 0", w["motion_acc"] == 0.0)

    # File round trips through the CLI path: y4m (limited 4:2:0), npy, PNG.
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image
        m = min(n, 24)
        prompts = []
        for i in range(m):
            kind = ("y4m", "npy", "png")[i % 3]
            if kind == "y4m":
                name = f"v{i:03d}.y4m"
                write_y4m(os.path.join(tmp, name), videos[i])
            elif kind == "npy":
                name = f"v{i:03d}.npy"
                np.save(os.path.join(tmp, name), videos[i])
            else:
                name = f"v{i:03d}"
                os.makedirs(os.path.join(tmp, name))
                for f, frame in enumerate(videos[i]):
                    Image.fromarray(frame).save(os.path.join(tmp, name, f"{f}.png"))
            prompts.append(dict(file=name, caption=captions[i]))
        pj = os.path.join(tmp, "prompts.json")
        with open(pj, "w") as f:
            json.dump(prompts, f)
        paths, ps = load_pairs(tmp, pj)
        report["file_roundtrip"] = r = evaluate([read_video(p) for p in paths], ps)
        check("file roundtrip", r["color_acc"] == 1.0 and r["motion_acc"] == 1.0
              and r["presence"] == 1.0)
        # y4m pixels must come back close to the source (chroma subsampling
        # only blurs edges, so compare interiors via the median error).
        back = read_y4m(os.path.join(tmp, "v000.y4m"))
        err = np.abs(back.astype(int) - videos[0].astype(int))
        report["y4m_median_abs_err"] = float(np.median(err))
        report["y4m_p99_abs_err"] = float(np.percentile(err, 99))
        check("y4m fidelity", np.median(err) <= 2 and back.shape == videos[0].shape)

    report["generate_seconds"] = round(gen_s, 2)
    report["failures"] = failures[:20]
    report["ok"] = not failures
    print(json.dumps(report, indent=1))
    return 0 if not failures else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Score zoetrope-tiny clips against their prompts.")
    ap.add_argument("videos", nargs="?", help="directory of .y4m / .npy / PNG-frame folders")
    ap.add_argument("prompts", nargs="?", help="JSON list of captions or specs")
    ap.add_argument("--background", choices=("border", "caption"), default="border",
                    help="estimate background from frame borders or trust the caption")
    ap.add_argument("--range", dest="color_range", choices=("auto", "limited", "full"),
                    default="auto", help="y4m YUV range (auto: header tag, else limited)")
    ap.add_argument("--per-clip", action="store_true", help="include per-clip verdicts")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.videos or not args.prompts:
        ap.error("VIDEO_DIR and PROMPTS.json are required (or --self-test)")
    paths, specs = load_pairs(args.videos, args.prompts)
    videos = (read_video(p, args.color_range) for p in paths)  # one at a time
    result = evaluate(videos, specs, args.background, args.per_clip)
    if args.per_clip:
        for clip, p in zip(result["clips"], paths):
            clip["file"] = os.path.basename(p)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
