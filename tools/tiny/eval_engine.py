#!/usr/bin/env python3
"""Prompt-adherence evaluation of the engine running the built-in model.

Drives the zoetrope CLI the way a user would and scores what it writes with
tools/tiny/evaluate.py (the same segmentation the training data is checked
with):

  t2v   N prompts drawn at random from the caption grammar (data.py), each
        with its own random seed:  zoetrope t2v PROMPT --preset tiny --seed S
        -o clip.y4m -q.  Reported: color accuracy, motion accuracy, presence
        (fraction of frames with the shape found), joint accuracy.
  i2v   M cases: a spec from the grammar and the still data.first_frame_image
        draws for it (a PNG), zoetrope i2v PROMPT --preset tiny -i still.png.
        Reported: PSNR of the first output frame against the still (8-bit RGB,
        whole frame), its mean / min / median, the fraction >= 25 dB, and the
        motion (and color) accuracy of the clips.
  time  wall seconds of every engine run (mean, max), and the engine's own
        "seconds" from one --json run (the first t2v prompt).

One JSON object goes to stdout (and to --out FILE); PASS/FAIL lines against
the targets go to stderr.  The exit status is 0 whatever the scores (2 on a
usage error or a missing binary): the thresholds are for the reader.

Usage (from the repository root):
    python3 tools/tiny/eval_engine.py                        # build/zoetrope, models/zoetrope-tiny
    python3 tools/tiny/eval_engine.py --bin build-tiny/zoetrope --out eval.json \\
        --sheet docs/tiny-sheet.png
    python3 tools/tiny/eval_engine.py --models /tmp/tinysmoke/export --n 4 --m 2
--models DIR runs DIR/{transformer,vae,text_encoder}.safetensors and
DIR/spiece.model (on top of --preset tiny for every other setting).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Targets (printed as PASS/FAIL; the JSON carries them too).
T2V_COLOR_MIN = 0.90
T2V_MOTION_MIN = 0.80
T2V_PRESENCE_MIN = 0.95
I2V_PSNR_DB = 25.0
I2V_PSNR_FRAC_MIN = 0.90   # default for --psnr-frac
I2V_MOTION_MIN = 0.80
PSNR_CAP = 99.0            # identical frames: JSON has no infinity
SHEET_FRAMES = (0, 4, 8, 12, 16)


def _load(name: str, filename: str):
    # tools/tiny is not a package: load the sibling modules by path.
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, filename))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


tiny = _load("zoetrope_tiny_data", "data.py")  # the name evaluate.py registers it under
evaluate = _load("zoetrope_tiny_evaluate", "evaluate.py")


# --------------------------------------------------------------------------
# Running the engine
# --------------------------------------------------------------------------

def model_flags(models: str | None) -> list[str]:
    if not models:
        return []
    return ["--model", os.path.join(models, "transformer.safetensors"),
            "--vae", os.path.join(models, "vae.safetensors"),
            "--text-encoder", os.path.join(models, "text_encoder.safetensors"),
            "--tokenizer", os.path.join(models, "spiece.model")]


def run_engine(args, mode: str, prompt: str, seed: int, out: str,
               image: str | None = None, json_summary: bool = False) -> dict:
    """One CLI run; returns dict(ok, wall_s, rc, stderr tail, json)."""
    cmd = [args.bin, mode, prompt, "--preset", args.preset, "--seed", str(seed),
           "-o", out, "-q"]
    if image:
        cmd += ["-i", image]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    cmd += model_flags(args.models)
    if json_summary:
        cmd.append("--json")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=args.timeout)
    except (subprocess.TimeoutExpired, OSError) as e:
        return dict(ok=False, rc=None, wall_s=round(time.perf_counter() - t0, 3), cmd=cmd,
                    error=f"{type(e).__name__}: {e}"[-600:])
    wall = time.perf_counter() - t0
    res = dict(ok=p.returncode == 0 and os.path.exists(out), rc=p.returncode,
               wall_s=round(wall, 3), cmd=cmd)
    if not res["ok"]:
        res["error"] = (p.stderr or p.stdout).strip()[-600:]
    if json_summary and p.returncode == 0:
        for line in reversed(p.stdout.strip().splitlines()):
            try:
                res["json"] = json.loads(line)
                break
            except ValueError:
                continue
    return res


def _read(run: dict, path: str):
    """The run's clip as [F, H, W, 3] uint8, or None (the run then counts as failed)."""
    if not run["ok"]:
        return None
    try:
        return evaluate.read_video(path)
    except (OSError, ValueError) as e:
        run.update(ok=False, error=f"unreadable output: {e}")
        return None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """8-bit RGB PSNR over the whole frame (capped at PSNR_CAP dB)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse <= 0.0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(255.0 ** 2 / mse))


def _stats(xs) -> dict:
    xs = [float(x) for x in xs]
    if not xs:
        return dict(n=0, mean=None, max=None, min=None)
    return dict(n=len(xs), mean=round(float(np.mean(xs)), 3),
                max=round(max(xs), 3), min=round(min(xs), 3))


def _clip_record(spec: dict, seed: int, run: dict, r: dict | None) -> dict:
    rec = dict(caption=spec["caption"], seed=seed, wall_s=run["wall_s"], ok=run["ok"])
    if not run["ok"]:
        rec.update(rc=run["rc"], error=run.get("error"))
    if r is not None:
        rec.update(color_ok=r["color_ok"], motion_ok=r["motion_ok"],
                   presence=round(r["presence"], 3), detected_color=r["detected_color"],
                   color=r["color"], displacement=r["displacement"],
                   area_ratio=r["area_ratio"])
    return rec


# --------------------------------------------------------------------------
# The two evaluations
# --------------------------------------------------------------------------

def eval_t2v(args, work: str, log) -> tuple[dict, list, list]:
    rng = np.random.default_rng([args.seed, 0])
    clips, results, sheet_rows, walls = [], [], [], []
    json_run = None
    for i in range(args.n):
        spec = tiny.sample_caption(rng)
        seed = int(rng.integers(0, 2 ** 31 - 1))
        out = os.path.join(work, f"t2v_{i:03d}.y4m")
        run = run_engine(args, "t2v", spec["caption"], seed, out,
                         json_summary=(i == 0))
        walls.append(run["wall_s"])
        r = None
        video = _read(run, out)
        if video is not None:
            r = evaluate.analyze(video, spec)
            if len(sheet_rows) < args.sheet_k:
                sheet_rows.append((spec["caption"], video))
        if i == 0:
            json_run = dict(caption=spec["caption"], seed=seed, wall_s=run["wall_s"],
                            ok=run["ok"], engine=run.get("json"))
        rec = _clip_record(spec, seed, run, r)
        clips.append(rec)
        results.append(r)
        log(f"t2v {i + 1}/{args.n} {run['wall_s']:.1f}s  {spec['caption']!r} seed {seed}: "
            + (f"color {'ok' if r['color_ok'] else 'no'} ({r['detected_color']}) "
               f"motion {'ok' if r['motion_ok'] else 'no'} presence {r['presence']:.2f}"
               if r else f"FAILED rc {run['rc']}: {run.get('error', '')[-200:]}"))
    n = len(clips)

    def acc(key):
        return round(sum(bool(r and r[key]) for r in results) / n, 4) if n else 0.0

    summary = dict(
        n=n, runs_failed=sum(not c["ok"] for c in clips),
        color_acc=acc("color_ok"), motion_acc=acc("motion_ok"),
        presence=round(sum(r["presence"] if r else 0.0 for r in results) / n, 4) if n else 0.0,
        joint_acc=round(sum(bool(r and r["color_ok"] and r["motion_ok"]) for r in results) / n, 4)
        if n else 0.0)
    # per motion kind, to see which verbs the model has learned
    by_motion = {}
    for c in clips:
        m = evaluate.parse_caption(c["caption"])["motion"]
        by_motion.setdefault(m, []).append(bool(c.get("motion_ok")))
    summary["motion_acc_by_motion"] = {m: dict(n=len(v), acc=round(sum(v) / len(v), 3))
                                       for m, v in sorted(by_motion.items())}
    summary["wall_s"] = _stats(walls)
    if args.per_clip:
        summary["clips"] = clips
    return summary, sheet_rows, [json_run, walls]


def eval_i2v(args, work: str, log) -> tuple[dict, list]:
    from PIL import Image
    rng = np.random.default_rng([args.seed, 1])
    clips, walls, psnrs, results = [], [], [], []
    for i in range(args.m):
        spec = tiny.sample_caption(rng)
        still = tiny.first_frame_image(spec, rng, height=128, width=128)
        seed = int(rng.integers(0, 2 ** 31 - 1))
        png = os.path.join(work, f"i2v_{i:03d}.png")
        Image.fromarray(still).save(png)
        out = os.path.join(work, f"i2v_{i:03d}.y4m")
        run = run_engine(args, "i2v", spec["caption"], seed, out, image=png)
        walls.append(run["wall_s"])
        r, p = None, None
        video = _read(run, out)
        if video is not None:
            r = evaluate.analyze(video, spec)
            p = psnr(video[0], still) if video[0].shape == still.shape else 0.0
        rec = _clip_record(spec, seed, run, r)
        rec["psnr_first_frame"] = None if p is None else round(p, 2)
        clips.append(rec)
        results.append(r)
        psnrs.append(p)
        log(f"i2v {i + 1}/{args.m} {run['wall_s']:.1f}s  {spec['caption']!r} seed {seed}: "
            + (f"first-frame PSNR {p:.2f} dB motion {'ok' if r['motion_ok'] else 'no'} "
               f"presence {r['presence']:.2f}"
               if r else f"FAILED rc {run['rc']}: {run.get('error', '')[-200:]}"))
    m = len(clips)
    got = [p for p in psnrs if p is not None]
    summary = dict(
        n=m, runs_failed=sum(not c["ok"] for c in clips),
        psnr_mean=round(float(np.mean(got)), 3) if got else None,
        psnr_median=round(float(np.median(got)), 3) if got else None,
        psnr_min=round(float(np.min(got)), 3) if got else None,
        psnr_threshold_db=args.psnr_db,
        # failed runs count as below the threshold
        frac_psnr_ge_threshold=round(sum(p is not None and p >= args.psnr_db for p in psnrs) / m, 4)
        if m else 0.0,
        motion_acc=round(sum(bool(r and r["motion_ok"]) for r in results) / m, 4) if m else 0.0,
        color_acc=round(sum(bool(r and r["color_ok"]) for r in results) / m, 4) if m else 0.0,
        presence=round(sum(r["presence"] if r else 0.0 for r in results) / m, 4) if m else 0.0,
        wall_s=_stats(walls))
    if args.per_clip:
        summary["clips"] = clips
    return summary, walls


# --------------------------------------------------------------------------
# Contact sheet
# --------------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 (FreeType)
    except TypeError:
        return ImageFont.load_default()


def write_sheet(path: str, rows, frames=SHEET_FRAMES, tile: int = 128) -> None:
    """rows: [(caption, video [F, H, W, 3] uint8)] -> one PNG.  Each row is a
    clip with its caption above it; columns are the listed frames."""
    from PIL import Image, ImageDraw
    font, small = _font(14), _font(11)
    margin, gap, row_gap, text_h, head_h = 10, 4, 12, 22, 16
    cols = len(frames)
    width = 2 * margin + cols * tile + (cols - 1) * gap
    height = 2 * margin + head_h + len(rows) * (text_h + tile) + max(len(rows) - 1, 0) * row_gap
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, f in enumerate(frames):  # column headings
        x = margin + c * (tile + gap)
        label = f"frame {f}"
        w = draw.textlength(label, font=small)
        draw.text((x + (tile - w) / 2, margin), label, fill=(110, 110, 110), font=small)
    y = margin + head_h
    for caption, video in rows:
        draw.text((margin, y + 2), caption, fill=(0, 0, 0), font=font)
        y += text_h
        for c, f in enumerate(frames):
            x = margin + c * (tile + gap)
            if f < len(video):
                im = Image.fromarray(video[f])
                if im.size != (tile, tile):
                    im = im.resize((tile, tile), Image.BICUBIC)
                sheet.paste(im, (x, y))
            else:  # a short clip: leave a light placeholder
                draw.rectangle([x, y, x + tile - 1, y + tile - 1], fill=(235, 235, 235))
        y += tile + row_gap
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sheet.save(path, optimize=True)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Prompt-adherence evaluation of the zoetrope CLI on the built-in model.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("Usage")[1]
        if "Usage" in __doc__ else None)
    ap.add_argument("--n", type=int, default=48, help="t2v prompts (default 48)")
    ap.add_argument("--m", type=int, default=24, help="i2v cases (default 24)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the prompt / engine-seed draw (default 0)")
    ap.add_argument("--bin", default=os.path.join("build", "zoetrope"),
                    help="engine binary (default build/zoetrope)")
    ap.add_argument("--models", metavar="DIR",
                    help="run DIR/transformer.safetensors, vae.safetensors, "
                         "text_encoder.safetensors, spiece.model instead of the preset's files")
    ap.add_argument("--preset", default="tiny", help="preset for every other setting (tiny)")
    ap.add_argument("--data-rev", type=int, default=tiny.REVISION, choices=[1, 2],
                    help="motion paths the i2v stills are drawn from (data.py REVISION; "
                         "revision 1 places a shape where its direction has room)")
    ap.add_argument("--threads", type=int, default=0,
                    help="--threads for the engine (default: its own, all cores)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per engine run")
    ap.add_argument("--psnr-db", type=float, default=I2V_PSNR_DB,
                    help="i2v first-frame PSNR threshold (default 25)")
    ap.add_argument("--psnr-frac", type=float, default=I2V_PSNR_FRAC_MIN,
                    help="target fraction of i2v cases at or above --psnr-db (default 0.9)")
    ap.add_argument("--workdir", help="keep the stills and clips here (default: a temporary "
                                      "directory, removed at the end)")
    ap.add_argument("--out", metavar="FILE", help="also write the JSON report here")
    ap.add_argument("--sheet", metavar="FILE.png",
                    help="contact sheet of the first --sheet-k t2v clips (frames 0,4,8,12,16)")
    ap.add_argument("--sheet-k", type=int, default=4, help="clips on the sheet (default 4)")
    ap.add_argument("--per-clip", action="store_true", help="per-clip details in the JSON")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    tiny.REVISION = args.data_rev

    if args.n < 0 or args.m < 0:
        ap.error("--n and --m must be >= 0")
    bin_path = shutil.which(args.bin) or (args.bin if os.access(args.bin, os.X_OK) else None)
    if not bin_path:
        print(f"eval_engine: no engine binary at {args.bin!r} (build it, or pass --bin)",
              file=sys.stderr)
        return 2
    args.bin = os.path.abspath(bin_path) if os.path.exists(bin_path) else bin_path
    if args.models:
        missing = [f for f in ("transformer.safetensors", "vae.safetensors",
                               "text_encoder.safetensors", "spiece.model")
                   if not os.path.isfile(os.path.join(args.models, f))]
        if missing:
            print(f"eval_engine: {args.models} lacks {', '.join(missing)}", file=sys.stderr)
            return 2
        args.models = os.path.abspath(args.models)

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    work = args.workdir or tempfile.mkdtemp(prefix="zt_eval_engine_")
    os.makedirs(work, exist_ok=True)
    t_start = time.perf_counter()
    try:
        t2v, sheet_rows, (json_run, t2v_walls) = eval_t2v(args, work, log)
        i2v, i2v_walls = eval_i2v(args, work, log)
        if args.sheet and sheet_rows:
            write_sheet(args.sheet, sheet_rows)
            log(f"contact sheet: {args.sheet} ({len(sheet_rows)} clips)")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    checks = []

    def check(name, value, op, target):
        ok = value is not None and (value >= target if op == ">=" else value <= target)
        checks.append(dict(name=name, value=value, target=f"{op} {target}", pass_=ok))

    if args.n:
        check("t2v color_acc", t2v["color_acc"], ">=", T2V_COLOR_MIN)
        check("t2v motion_acc", t2v["motion_acc"], ">=", T2V_MOTION_MIN)
        check("t2v presence", t2v["presence"], ">=", T2V_PRESENCE_MIN)
    if args.m:
        check(f"i2v frac PSNR >= {args.psnr_db:g} dB", i2v["frac_psnr_ge_threshold"], ">=",
              args.psnr_frac)
        check("i2v motion_acc", i2v["motion_acc"], ">=", I2V_MOTION_MIN)
    for c in checks:  # "pass" is a keyword only in Python
        c["pass"] = c.pop("pass_")

    report = dict(
        settings=dict(n=args.n, m=args.m, seed=args.seed, bin=args.bin, preset=args.preset,
                      models=args.models or "preset files (models/zoetrope-tiny)",
                      threads=args.threads or "engine default",
                      psnr_db=args.psnr_db, psnr_frac=args.psnr_frac,
                      width=128, height=128, frames=17,
                      workdir=args.workdir, sheet=args.sheet),
        t2v=t2v, i2v=i2v,
        timing=dict(t2v_wall_s=_stats(t2v_walls), i2v_wall_s=_stats(i2v_walls),
                    all_wall_s=_stats(list(t2v_walls) + list(i2v_walls)),
                    json_run=json_run,
                    engine_seconds=(json_run or {}).get("engine", {}).get("seconds")
                    if json_run and json_run.get("engine") else None,
                    total_s=round(time.perf_counter() - t_start, 1)),
        checks=checks, all_pass=all(c["pass"] for c in checks))

    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
    for c in checks:
        v = c["value"]
        print(f"{'PASS' if c['pass'] else 'FAIL'} {c['name']} = "
              f"{'n/a' if v is None else f'{v:.4g}'} (target {c['target']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
