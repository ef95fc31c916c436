#!/usr/bin/env python3
"""The Wan2.1-1.3B DiT's attention alone on the GPU: torch's SDPA (bf16 [1, H, L, 128],
the backend torch picks, as diffusers calls it) against Zoetrope's CUDA op
(tools/gpu/attn_bench.c: f32 in and out, the bf16 packing included) with its default
kernel, the Hopper kernel's second schedule (ZT_CUDA_ATTN=overlap) and the sm_80 kernel
(ZT_CUDA_ATTN=mma), on one card in one run. Self-attention
over 32760 tokens (81 frames at 480x832) and cross-attention to 512 text tokens.
Prints one JSON line per shape."""
import argparse
import json
import os
import subprocess

import torch
import torch.nn.functional as F


def sdpa_ms(lq, lk, heads, repeat):
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(1, heads, lq, 128, device="cuda", generator=g).bfloat16()
    k = torch.randn(1, heads, lk, 128, device="cuda", generator=g).bfloat16()
    v = torch.randn(1, heads, lk, 128, device="cuda", generator=g).bfloat16()
    for _ in range(2):
        F.scaled_dot_product_attention(q, k, v)
    times = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        F.scaled_dot_product_attention(q, k, v)
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def zt(bench, lq, lk, heads, repeat, kernel):
    env = dict(os.environ)
    if kernel:
        env["ZT_CUDA_ATTN"] = kernel
    out = subprocess.run([bench, str(lq), str(lk), str(heads), str(repeat)], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-300:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zt-bench", required=True, help="path of the attn_bench program")
    ap.add_argument("--tokens", type=int, default=32760)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    fail = 0
    for name, lq, lk in (("self", a.tokens, a.tokens), ("cross", a.tokens, 512)):
        flop = 4.0 * lq * lk * a.heads * 128
        res = {"gpu": torch.cuda.get_device_name(), "attention": name, "lq": lq, "lk": lk,
               "heads": a.heads, "sdpa_ms": round(sdpa_ms(lq, lk, a.heads, a.repeat), 3)}
        res["sdpa_tflops"] = round(flop / res["sdpa_ms"] / 1e9, 1)
        for label, kernel in (("zoetrope", None), ("zoetrope_overlap", "overlap"),
                              ("zoetrope_mma", "mma")):
            r = zt(a.zt_bench, lq, lk, a.heads, a.repeat, kernel)
            if "error" in r:
                res[label + "_error"] = r["error"]
                fail = 1
                continue
            res[label + "_ms"] = r["ms"]
            res[label + "_tflops"] = r["tflops"]
            res[label + "_over_sdpa"] = round(r["ms"] / res["sdpa_ms"], 3)
        print(json.dumps(res), flush=True)
    raise SystemExit(fail)


if __name__ == "__main__":
    main()
