#!/usr/bin/env python3
"""umT5-XXL encoder: Zoetrope against transformers on the CPU, same bf16 weights.

Writes a umT5-XXL encoder (24 layers, d_model 4096, 64 heads, d_ff 10240, vocab
256,384: 5.7 B parameters, ~11 GB) with random bf16 weights from a fixed seed as one
safetensors file under Hugging Face's UMT5EncoderModel names (streamed tensor by
tensor, so the writer never holds the model), and 512 random token ids. Then, one
after the other, each in a fresh process:

    transformers  UMT5EncoderModel.from_pretrained(..., torch_dtype=bfloat16), forward
                  under no_grad (bf16 activations, as Wan runs it on the GPU)
    zoetrope      build/zoetrope text encode --ids ... (bf16 weights as stored, f32
                  activations)

and prints the seconds of the forward pass (loading excluded for both), each
process's peak RSS (VmHWM), the ratios, and how far apart the two outputs are.

With random weights and T5's unscaled attention, the attention is nearly one-hot and
the 24 layers amplify bf16 rounding, so transformers' bf16 output is no reference for
the values. --layers 2 --f32 checks them instead: the same widths, vocabulary and
heads, two layers, transformers computing in f32 from the same bf16 weights.

Usage: python3 tools/t5/bench.py [--zoetrope build/zoetrope] [--work DIR]
       [--tokens 512] [--threads N] [--layers N] [--f32] [--skip-transformers]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bench_common import peak_rss_mib  # noqa: E402

CONFIG = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,
              num_heads=64, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
              layer_norm_epsilon=1e-6, is_encoder_decoder=False)


def tensors():
    """(name, shape, kind) of every tensor, in file order."""
    c = CONFIG
    d, f, hk, h = c["d_model"], c["d_ff"], c["num_heads"] * c["d_kv"], c["num_heads"]
    yield "shared.weight", (c["vocab_size"], d), "embed"
    for i in range(c["num_layers"]):
        p = "encoder.block.%d.layer." % i
        for w in "qkv":
            yield p + "0.SelfAttention.%s.weight" % w, (hk, d), "linear"
        yield p + "0.SelfAttention.o.weight", (d, hk), "linear"
        yield p + "0.SelfAttention.relative_attention_bias.weight", (32, h), "bias"
        yield p + "0.layer_norm.weight", (d,), "norm"
        yield p + "1.DenseReluDense.wi_0.weight", (f, d), "linear"
        yield p + "1.DenseReluDense.wi_1.weight", (f, d), "linear"
        yield p + "1.DenseReluDense.wo.weight", (d, f), "linear"
        yield p + "1.layer_norm.weight", (d,), "norm"
    yield "encoder.final_layer_norm.weight", (d,), "norm"


def write_model(work, device="cpu"):
    """The random umT5 of CONFIG under WORK (reused when there); device "cuda" draws the
    numbers on the GPU (other values than the CPU's, in seconds rather than minutes)."""
    import torch

    mdir = os.path.join(work, "umt5-xxl-random" + ("" if CONFIG["num_layers"] == 24 else
                                                   "-%dlayers" % CONFIG["num_layers"]))
    path = os.path.join(mdir, "model.safetensors")
    if os.path.exists(path):
        return mdir
    os.makedirs(mdir, exist_ok=True)
    try:
        from transformers import UMT5Config
        cfg = UMT5Config(**CONFIG)
        cfg.architectures = ["UMT5EncoderModel"]
        cfg.to_json_file(os.path.join(mdir, "config.json"))
    except ImportError:  # a GPU machine with torch alone: Zoetrope reads only the tensors
        with open(os.path.join(mdir, "config.json"), "w") as f:
            json.dump(dict(CONFIG, model_type="umt5", architectures=["UMT5EncoderModel"]), f)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    items = list(tensors())
    for name, shape, _ in items:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    g = torch.Generator(device).manual_seed(0)
    with open(path + ".tmp", "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for name, shape, kind in items:
            t = torch.randn(shape, generator=g, device=device)
            if kind == "linear":
                t *= shape[1] ** -0.5
            elif kind == "bias":
                t *= 0.5
            elif kind == "norm":
                t = 1.0 + 0.1 * t
            out.write(t.to(torch.bfloat16).cpu().view(torch.int16).numpy().data)
    os.replace(path + ".tmp", path)
    return mdir


def run_transformers(mdir, ids_path, out, threads, f32):
    import torch
    from transformers import UMT5EncoderModel

    if threads:
        torch.set_num_threads(threads)
    dtype = torch.float32 if f32 else torch.bfloat16
    model = UMT5EncoderModel.from_pretrained(mdir, torch_dtype=dtype).eval()
    ids = torch.tensor([[int(x) for x in open(ids_path).read().split()]])
    with torch.no_grad():
        t0 = time.perf_counter()
        h = model(input_ids=ids).last_hidden_state
        secs = time.perf_counter() - t0
    np.save(out, h[0].float().numpy())
    rss = peak_rss_mib()
    print(json.dumps({"encode_seconds": secs, "peak_rss_mib": rss,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoetrope", default=os.path.join(ROOT, "build", "zoetrope"))
    ap.add_argument("--work", default="/tmp/zt_t5_bench")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--f32", action="store_true", help="transformers computes in f32")
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    CONFIG["num_layers"] = a.layers
    if a.child:
        run_transformers(*a.child, threads=a.threads, f32=a.f32)
        return
    os.makedirs(a.work, exist_ok=True)
    t0 = time.perf_counter()
    mdir = write_model(a.work)
    print("model: %s (%.0f s to write)" % (mdir, time.perf_counter() - t0), flush=True)
    rng = np.random.default_rng(1)
    ids = rng.integers(3, CONFIG["vocab_size"], size=a.tokens)
    ids[-1] = 1  # EOS
    ids_path = os.path.join(a.work, "ids_%d.txt" % a.tokens)
    with open(ids_path, "w") as f:
        f.write(" ".join(str(int(i)) for i in ids) + "\n")

    dump = os.path.join(a.work, "zoetrope.f32")
    cmd = [a.zoetrope, "text", "encode", "--text-encoder",
           os.path.join(mdir, "model.safetensors"), "--ids", ids_path, "--json",
           "--dump-f32", dump] + (["--threads", str(a.threads)] if a.threads else [])
    z = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    got = np.fromfile(dump, dtype=np.float32).reshape(a.tokens, CONFIG["d_model"])
    print("Zoetrope: %.2f s, peak RSS %.0f MiB (%d threads)" %
          (z["encode_seconds"], z["peak_rss_mib"], z["threads"]), flush=True)
    if a.skip_transformers:
        return
    ref = os.path.join(a.work, "transformers.npy")
    cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(a.threads),
           "--layers", str(a.layers)] + (["--f32"] if a.f32 else []) + [
           "--child", mdir, ids_path, ref]
    d = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                   .stdout.strip().splitlines()[-1])
    want = np.load(ref)
    err = float(np.abs(got - want).max() / np.abs(want).max())
    cos = float(np.mean(np.sum(got * want, 1) /
                        (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))))
    tdt = "f32" if a.f32 else "bf16"
    print("umT5-XXL encoder%s, %d tokens, random bf16 weights, CPU" %
          ("" if a.layers == 24 else " cut to %d layers" % a.layers, a.tokens))
    print("%-13s %10s %14s" % ("", "seconds", "peak RSS MiB"))
    print("%-13s %10.2f %14.0f   (torch %s, %s, %d threads)" %
          ("transformers", d["encode_seconds"], d["peak_rss_mib"], d["torch"], tdt,
           d["threads"]))
    print("%-13s %10.2f %14.0f   (bf16 weights, f32 activations, %d threads)" %
          ("zoetrope", z["encode_seconds"], z["peak_rss_mib"], z["threads"]))
    print("ratio zoetrope/transformers: time %.2f, peak RSS %.2f" %
          (z["encode_seconds"] / d["encode_seconds"], z["peak_rss_mib"] / d["peak_rss_mib"]))
    print("max |zoetrope - transformers| / max |transformers|: %.3g; mean row cosine %.5f "
          "(transformers computes in %s)" % (err, cos, tdt))


if __name__ == "__main__":
    main()
