#!/usr/bin/env python3
"""Write the small safetensors fixtures the C tests read (tests/data/safetensors/).

Files are written by the reference `safetensors` library (numpy flavour), except
bf16.safetensors: numpy has no bfloat16, so that one is assembled by hand here and
then checked with the reference reader.

    small.safetensors     F32/F16/F64/I64/I32/BOOL, 0-D to 5-D, an empty tensor, metadata
    bf16.safetensors      BF16 and F8_E4M3 (hand-made)
    wan_original.safetensors           a toy "Wan" model under its original names
    wan_diffusers.safetensors          the same values under diffusers names, as F16
    wan_comfy.safetensors              original names with ComfyUI's prefix
    wan_sharded.safetensors.index.json + wan_sharded-0000{1,2}-of-00002.safetensors
                                       diffusers names split over two shards
    expected.json         names, dtypes, shapes and values of all of the above

Usage: pip install safetensors numpy; python3 tools/make_safetensors_fixture.py
"""
import json
import os
import struct
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "safetensors")

# Values k/64 with |k| <= 128 are exact in f32, f16 and bf16, so every naming's copy
# of a tensor holds the same numbers.
rng = np.random.default_rng(1234)


def vals(*shape):
    return (rng.integers(-128, 129, size=shape) / 64.0).astype(np.float32)


def small():
    tensors = {
        "conv.weight": vals(2, 3, 1, 2),                        # 4-D
        "video.latent": vals(1, 2, 2, 1, 2),                     # 5-D
        "norm.weight": vals(5).astype(np.float16),
        "table": vals(2, 2).astype(np.float64),
        "positions": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
        "ids": np.array([7, -1, 2**31 - 1, 0], dtype=np.int32),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float32),               # 0-D
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    meta = {"format": "pt", "source": "zoetrope fixture"}
    save_file(tensors, os.path.join(OUT, "small.safetensors"), metadata=meta)
    return tensors, meta


def f32_to_bf16_bytes(a):
    u = np.asarray(a, dtype=np.float32).view(np.uint32)
    assert np.all((u & 0xFFFF) == 0), "values must be exact in bf16"
    return (u >> 16).astype("<u2").tobytes()


def bf16():
    """Hand-made in the reference layout: header padded with spaces to 8 bytes."""
    w = np.array([[1.0, -2.0], [0.5, 3.140625]], dtype=np.float32)
    f8 = bytes([0x38, 0xC0, 0x00, 0x7E])  # e4m3: 1.0, -2.0, 0.0, 448.0
    items = [("w.bf16", "BF16", [2, 2], f32_to_bf16_bytes(w)), ("w.f8", "F8_E4M3", [4], f8)]
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dt, shape, raw in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    path = os.path.join(OUT, "bf16.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    with safe_open(path, framework="numpy") as f:  # the reference reader accepts it
        assert sorted(f.keys()) == ["w.bf16", "w.f8"]
        assert f.get_slice("w.bf16").get_shape() == [2, 2]
    return {"w.bf16": ("BF16", [2, 2], w.ravel().tolist()),
            "w.f8": ("F8_E4M3", [4], [1.0, -2.0, 0.0, 448.0])}


# A toy Wan-like DiT: dim D, two blocks. The C test carries the matching naming table.
D = 4
DIFFUSERS = [
    ("text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight"),
    ("text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight"),
    ("blocks.{}.self_attn.q.weight", "blocks.{}.attn1.to_q.weight"),
    ("blocks.{}.norm3.weight", "blocks.{}.norm2.weight"),
    ("blocks.{}.ffn.0.weight", "blocks.{}.ffn.net.0.proj.weight"),
    ("blocks.{}.ffn.2.weight", "blocks.{}.ffn.net.2.weight"),
    ("blocks.{}.modulation", "blocks.{}.scale_shift_table"),
    ("head.head.weight", "proj_out.weight"),
    ("head.modulation", "scale_shift_table"),
]
COMFY_PREFIX = "model.diffusion_model."


def to_diffusers(name):
    parts = name.split(".")
    for canon, stored in DIFFUSERS:
        c = canon.split(".")
        if len(c) == len(parts) and all(a == b or (a == "{}" and b.isdigit()) for a, b in zip(c, parts)):
            nums = iter(b for a, b in zip(c, parts) if a == "{}")
            return ".".join(next(nums) if s == "{}" else s for s in stored.split("."))
    return name


def wan():
    t = {
        "patch_embedding.weight": vals(D, 2, 1, 2, 2),
        "patch_embedding.bias": vals(D),
        "text_embedding.0.weight": vals(D, 3),
        "text_embedding.2.weight": vals(D, D),
        "head.head.weight": vals(8, D),
        "head.modulation": vals(1, 2, D),
    }
    for i in range(2):
        t[f"blocks.{i}.self_attn.q.weight"] = vals(D, D)
        t[f"blocks.{i}.norm3.weight"] = vals(D)
        t[f"blocks.{i}.ffn.0.weight"] = vals(2 * D, D)
        t[f"blocks.{i}.ffn.2.weight"] = vals(D, 2 * D)
        t[f"blocks.{i}.modulation"] = vals(1, 6, D)
    extra = {"freq_index": np.arange(3, dtype=np.int64)}  # a non-float tensor
    meta = {"format": "pt"}

    save_file({**t, **extra}, os.path.join(OUT, "wan_original.safetensors"), metadata=meta)
    save_file({COMFY_PREFIX + k: v for k, v in {**t, **extra}.items()},
              os.path.join(OUT, "wan_comfy.safetensors"), metadata=meta)
    diff = {to_diffusers(k): v.astype(np.float16) for k, v in t.items()}
    diff.update(extra)
    save_file(diff, os.path.join(OUT, "wan_diffusers.safetensors"), metadata=meta)

    # shards: block 1 and the head in the second file
    names = sorted(diff)
    second = [n for n in names if n.startswith("blocks.1.") or n in ("proj_out.weight", "scale_shift_table")]
    first = [n for n in names if n not in second]
    shards = {"wan_sharded-00001-of-00002.safetensors": first,
              "wan_sharded-00002-of-00002.safetensors": second}
    weight_map, total = {}, 0
    for fname, members in shards.items():
        save_file({n: diff[n] for n in members}, os.path.join(OUT, fname), metadata=meta)
        for n in members:
            weight_map[n] = fname
            total += diff[n].nbytes
    with open(os.path.join(OUT, "wan_sharded.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
                  f, indent=2)
        f.write("\n")
    return t


def describe(tensors):
    out = {}
    for k, v in tensors.items():
        dt = {"float32": "F32", "float16": "F16", "float64": "F64", "int64": "I64",
              "int32": "I32", "bool": "BOOL"}[str(v.dtype)]
        out[k] = {"dtype": dt, "shape": list(v.shape),
                  "values": [float(x) for x in np.asarray(v, dtype=np.float64).ravel()]}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    s, smeta = small()
    b = bf16()
    w = wan()
    # the reference reader agrees with what we wrote
    with safe_open(os.path.join(OUT, "small.safetensors"), framework="numpy") as f:
        for k in s:
            assert np.array_equal(f.get_tensor(k), s[k]), k
        assert f.metadata() == smeta
    expected = {
        "small.safetensors": {"metadata": smeta, "tensors": describe(s)},
        "bf16.safetensors": {"metadata": {"format": "pt"},
                             "tensors": {k: {"dtype": d, "shape": sh, "values": v} for k, (d, sh, v) in b.items()}},
        # canonical names; every wan_* file holds these values under its own naming
        "wan": {"comfy_prefix": COMFY_PREFIX,
                "tensors": {k: {"shape": list(v.shape), "values": v.ravel().tolist()} for k, v in w.items()}},
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    for n in os.listdir(OUT):  # save_file creates files private (0600); these are committed
        os.chmod(os.path.join(OUT, n), 0o644)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, into {os.path.relpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
