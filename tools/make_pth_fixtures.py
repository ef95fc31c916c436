#!/usr/bin/env python3
"""Write the small PyTorch checkpoint fixtures the C tests read (tests/data/pth/).

Valid checkpoints, written by torch.save itself (fixed seeds, so the bytes repeat):

    tensors.pth        prefix "tensors": F32/F16/BF16/F64/I64/I32/I16/I8/U8/BOOL and
                       F8_E4M3 (torch writes that one with _rebuild_tensor_v3), a 0-D and
                       a 5-D tensor, an empty one, views into one storage at offsets
                       ("view", "row"), a tied tensor, Parameters (with and without
                       Python state), a nested dict, and ints/strings/None/floats/lists
                       that a reader skips
    module.pth         prefix "archive": the OrderedDict state_dict of a small module
                       (BUILD sets its _metadata)
    checkpoint_p4.pth  prefix "Wan2.1_VAE", pickle protocol 4 (FRAME, MEMOIZE,
                       STACK_GLOBAL): {"state_dict": ..., "optimizer": {"state": {0: ...}}}
    zip64.pth          tensors.pth re-packed with ZIP64 records throughout (as torch
                       writes files over 4 GiB), checked with torch.load
    tensors.safetensors, module.safetensors, checkpoint_p4.safetensors
                       what the C reader must find in each (zip64.pth: as tensors.pth),
                       by flattened name, written by the safetensors library

Invalid ones, each to be refused with a clear message (the C test lists them):

    evil_os_system.pth    hand-written pickle calling os.system (never unpickled here)
    evil_eval.pth         protocol 4 STACK_GLOBAL builtins.eval
    bad_opcode.pth        an opcode outside the subset (INT, 0x49)
    deflate.pth           storages deflate-compressed
    noncontig.pth         a transposed view saved as it is
    missing_storage.pth   one data/<key> record removed
    short_storage.pth     one storage record cut short
    big_endian.pth        byteorder "big"
    legacy.pth            the pre-1.6 format (_use_new_zipfile_serialization=False)
    top_tensor.pth        a bare tensor, not a dict
    uint16.pth            a dtype zoetrope has no place for

Usage: python3 tools/make_pth_fixtures.py   (needs torch)
"""
import io
import os
import re
import struct
import sys
import zipfile
import zlib

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pth")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)

gen = torch.Generator().manual_seed(1234)


def vals(*shape):
    """k/64 with |k| <= 128: exact in f32, f16 and bf16."""
    return torch.randint(-128, 129, shape, generator=gen).float() / 64


def out(name):
    return os.path.join(OUT, name)


def save(obj, name, **kw):
    """torch.save to out(name); the archive prefix is the stem of the file name given."""
    torch.save(obj, out(name), **kw)


def flatten(obj, prefix=""):
    """What the C reader makes of a saved dict: tensors by dotted name."""
    res = {}
    for k, v in obj.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, torch.Tensor):
            res[name] = v
        elif isinstance(v, dict):
            res.update(flatten(v, name))
    return res


def companion(obj, name):
    """The flattened tensors as safetensors (copies: it refuses shared storage)."""
    save_file({k: v.detach().clone().contiguous() for k, v in flatten(obj).items()}, out(name))


def check_load(name, obj, weights_only=True):
    """torch.load gives back what was saved."""
    got = torch.load(out(name), weights_only=weights_only)
    want, have = flatten(obj), flatten(got)
    assert sorted(want) == sorted(have), name
    for k in want:
        assert want[k].dtype == have[k].dtype and torch.equal(want[k], have[k]), (name, k)


def tensors():
    big = vals(12)
    f32 = vals(2, 3)
    param_state = torch.nn.Parameter(vals(2))
    param_state.note = "python state"  # saved through _rebuild_parameter_with_state
    t = {
        "f32": f32,
        "f16": vals(4).half(),
        "bf16": vals(2, 2).bfloat16(),
        "f64": vals(3).double(),
        "i64": torch.arange(-3, 3).reshape(2, 3),
        "i32": torch.tensor([7, -1, 2**31 - 1, 0], dtype=torch.int32),
        "i16": torch.tensor([-300, 5], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 3], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 9], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "f8": torch.tensor([1.0, -2.0, 0.5, 448.0]).to(torch.float8_e4m3fn),
        "scalar": torch.tensor(2.5),
        "five": vals(1, 2, 1, 2, 3),
        "empty": torch.zeros(0, 3),
        "big": big,
        "view": big[2:4],                # the whole storage is saved; offset 2
        "row": big.view(4, 3)[1:2],      # shape (1, 3), stride (3, 1), offset 3
        "tied": f32,                     # the same tensor under two names
        "param": torch.nn.Parameter(vals(3)),
        "param_state": param_state,
        "nested": {"inner": {"w": vals(2)}, "count": 3},
        "step": 1000, "name": "fixture", "none": None, "lr": 0.5, "ids": [1, 2],
    }
    save(t, "tensors.pth")
    check_load("tensors.pth", t)
    return t


def module():
    torch.manual_seed(7)
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3),
                            torch.nn.Conv2d(3, 1, 1))
    sd = m.state_dict()
    buf = io.BytesIO()  # a buffer gets the prefix "archive"
    torch.save(sd, buf)
    with open(out("module.pth"), "wb") as f:
        f.write(buf.getvalue())
    check_load("module.pth", sd)
    return sd


def checkpoint_p4(sd):
    ck = {"state_dict": sd, "epoch": 3,
          "optimizer": {"state": {0: {"step": torch.tensor(5.0), "exp_avg": vals(2)}},
                        "param_groups": [{"lr": 0.1, "params": [0]}]}}
    save(ck, "Wan2.1_VAE.pth", pickle_protocol=4)
    os.replace(out("Wan2.1_VAE.pth"), out("checkpoint_p4.pth"))
    # torch's weights_only unpickler has no FRAME opcode; the file is our own
    check_load("checkpoint_p4.pth", ck, weights_only=False)
    return ck


def records(name):
    with zipfile.ZipFile(out(name)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip64(name, entries, align=64):
    """A stored zip with ZIP64 sizes and offsets everywhere, data aligned like torch's."""
    buf, central = bytearray(), []
    for fname, data in entries:
        nb = fname.encode()
        off, crc = len(buf), zlib.crc32(data)
        z64 = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        pad = -(off + 30 + len(nb) + len(z64) + 4) % align
        extra = z64 + struct.pack("<HH", 0x4246, pad) + b"\0" * pad  # 'FB': torch's padding
        buf += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(extra)) + nb + extra + data
        central.append((nb, crc, len(data), off))
    cd_off = len(buf)
    for nb, crc, size, off in central:
        extra = struct.pack("<HHQQQ", 1, 24, size, size, off)
        buf += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(extra), 0, 0, 0, 0,
                           0xFFFFFFFF) + nb + extra
    cd_size, n = len(buf) - cd_off, len(central)
    z64_off = len(buf)
    buf += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_off)
    buf += struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1)
    buf += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(out(name), "wb") as f:
        f.write(buf)


def write_zip(name, entries, deflate=()):
    """A zip written by Python's zipfile (stored unless named in deflate)."""
    with zipfile.ZipFile(out(name), "w") as z:
        for fname, data in entries:
            info = zipfile.ZipInfo(fname, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if fname in deflate else zipfile.ZIP_STORED
            z.writestr(info, data)


def pickle_zip(name, prefix, pkl):
    """A hand-written pickle in torch's layout. These are never unpickled."""
    write_zip(name, [(f"{prefix}/data.pkl", pkl), (f"{prefix}/byteorder", b"little"),
                     (f"{prefix}/version", b"3\n")])


def bad_files():
    # {'w': os.system('id')} in protocol 2, as a hostile file would write it
    pickle_zip("evil_os_system.pth", "evil",
               b"\x80\x02}q\x00X\x01\x00\x00\x00wcos\nsystem\nX\x02\x00\x00\x00id\x85Rs.")
    # protocol 4: builtins.eval('1') by STACK_GLOBAL
    pickle_zip("evil_eval.pth", "evil",
               b"\x80\x04}\x94\x8c\x01w\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85Rs.")
    # {'w': 42} with the text opcode INT at byte 9, which torch.save never writes
    pickle_zip("bad_opcode.pth", "bad", b"\x80\x02}X\x01\x00\x00\x00wI42\ns.")

    small = {"a": vals(4), "b": vals(2, 2).half()}
    save(small, "small_tmp.pth")
    ents = records("small_tmp.pth")
    os.remove(out("small_tmp.pth"))
    ren = [(f.replace("small_tmp/", p + "/"), d) for p in ["x"] for f, d in ents]
    write_zip("deflate.pth", ren, deflate={f for f, _ in ren if "/data/" in f})
    write_zip("missing_storage.pth", [(f, d) for f, d in ren if f != "x/data/1"])
    write_zip("short_storage.pth", [(f, d[:5] if f == "x/data/0" else d) for f, d in ren])
    write_zip("big_endian.pth", [(f, b"big" if f.endswith("/byteorder") else d) for f, d in ren])

    save({"t": vals(2, 3).t()}, "noncontig.pth")
    legacy = io.BytesIO()
    torch.save({"x": vals(2)}, legacy, _use_new_zipfile_serialization=False)
    with open(out("legacy.pth"), "wb") as f:  # its storage key is an id(): make it "0"
        f.write(re.sub(rb"X(.\0\0\0)(\d+)q",
                       lambda m: b"X\x01\0\0\x000q" if m.group(1)[0] == len(m.group(2))
                       else m.group(0), legacy.getvalue(), flags=re.S))
    torch.load(out("legacy.pth"), weights_only=True)  # still a valid legacy file
    save(vals(3), "top_tensor.pth")
    save({"u": torch.zeros(3, dtype=torch.uint16)}, "uint16.pth")


def main():
    os.makedirs(OUT, exist_ok=True)
    t = tensors()
    sd = module()
    ck = checkpoint_p4(sd)
    write_zip64("zip64.pth", records("tensors.pth"))
    check_load("zip64.pth", t)
    bad_files()
    companion(t, "tensors.safetensors")
    companion(sd, "module.safetensors")
    companion(ck, "checkpoint_p4.safetensors")
    names = sorted(os.listdir(OUT))
    for n in names:
        os.chmod(out(n), 0o644)
    total = sum(os.path.getsize(out(n)) for n in names)
    print(f"wrote {len(names)} files, {total} bytes, into {os.path.relpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
