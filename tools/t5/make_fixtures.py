#!/usr/bin/env python3
"""Write the T5 / umT5 encoder fixtures the C tests read (tests/data/t5/).

transformers' UMT5EncoderModel (a relative-position table in every layer) and
T5EncoderModel (one table, in layer 0) are built at a tiny size with the umT5-XXL
structure otherwise (gated GELU(tanh) feed-forward, 32 buckets, max distance 128),
a fixed seed, and random layer-norm weights and position tables so neither is
trivial. Files:

    umt5/hf.safetensors        f32, Hugging Face names with shared.weight
    umt5/hf_bf16.safetensors   the weights rounded to bf16, stored as bf16, with the
                               embedding as encoder.embed_tokens.weight (ComfyUI's
                               umt5_xxl files)
    umt5/wan_bf16.pth          the same bf16 weights under Wan's official names
                               (models_t5_umt5-xxl-enc-bf16.pth), by torch.save
    umt5/cases.safetensors     per length L: ids.L [L] (i32, ending with EOS = 1),
                               f32.L [L, d] the encoder output with the f32 weights,
                               bf16.L [L, d] with the bf16-rounded weights (computed in
                               f32); a padded batch: padded_ids [B, P] (i32, pad 0),
                               padded_len [B] (i32) and padded.b [len_b, d], the real
                               rows of the output for the batch with attention_mask
                               (f32 weights); buckets [801] (i32): transformers'
                               bidirectional bucket of relative positions -400..400
    t5/hf.safetensors          f32 T5EncoderModel (shared table), Hugging Face names
    t5/wan.pth                 the same under Wan's names, the table as the top-level
                               pos_embedding of T5Encoder(shared_pos=True)
    t5/cases.safetensors       ids.L and f32.L as above

Lengths 1, 7, 40 and 150 (past max distance 128, so the log-spaced buckets and the
last one are used).

Usage: pip install torch transformers safetensors; python3 tools/t5/make_fixtures.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel
from transformers.models.t5.modeling_t5 import T5Attention

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "t5")
LENGTHS = [1, 7, 40, 150]
PADDED = [7, 150]  # a batch padded to PAD_TO with an attention mask
PAD_TO = 160
VOCAB = 256

COMMON = dict(vocab_size=VOCAB, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
              dropout_rate=0.0, layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1,
              tie_word_embeddings=False)


def randomize(model, gen):
    """Random norms and tables (the default init makes norms all ones)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=gen))


def hf_state(model):
    # encoder.embed_tokens.weight is tied to shared.weight; files hold one of them
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
            if k != "encoder.embed_tokens.weight"}


def wan_name(k):
    """Hugging Face encoder name -> Wan's official T5Encoder name."""
    if k == "shared.weight":
        return "token_embedding.weight"
    if k == "encoder.final_layer_norm.weight":
        return "norm.weight"
    p = k.split(".")  # encoder.block.i.layer.j....
    i, j, rest = p[2], p[4], ".".join(p[5:])
    table = {
        ("0", "layer_norm.weight"): "norm1.weight",
        ("0", "SelfAttention.q.weight"): "attn.q.weight",
        ("0", "SelfAttention.k.weight"): "attn.k.weight",
        ("0", "SelfAttention.v.weight"): "attn.v.weight",
        ("0", "SelfAttention.o.weight"): "attn.o.weight",
        ("0", "SelfAttention.relative_attention_bias.weight"): "pos_embedding.embedding.weight",
        ("1", "layer_norm.weight"): "norm2.weight",
        ("1", "DenseReluDense.wi_0.weight"): "ffn.gate.0.weight",
        ("1", "DenseReluDense.wi_1.weight"): "ffn.fc1.weight",
        ("1", "DenseReluDense.wo.weight"): "ffn.fc2.weight",
    }
    return f"blocks.{i}.{table[(j, rest)]}"


def make_ids(gen, n):
    ids = torch.randint(3, VOCAB, (n,), generator=gen, dtype=torch.int64)
    ids[-1] = 1  # EOS, as the tokenizer appends it
    return ids


@torch.no_grad()
def encode(model, ids, mask=None):
    return model(input_ids=ids, attention_mask=mask).last_hidden_state.float()


def build(cls, cfg_cls, seed, **cfg):
    torch.manual_seed(seed)
    model = cls(cfg_cls(**COMMON, **cfg)).float().eval()
    randomize(model, torch.Generator().manual_seed(seed + 1))
    return model


def main():
    gen = torch.Generator().manual_seed(1234)

    # ---- umT5: per-layer tables, three namings, f32 and bf16 ----
    os.makedirs(os.path.join(OUT, "umt5"), exist_ok=True)
    umt5 = build(UMT5EncoderModel, UMT5Config, 0, d_model=64, d_kv=16, num_heads=4, d_ff=64,
                 num_layers=3)
    assert all(f"encoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight"
               in umt5.state_dict() for i in range(3))
    sd = hf_state(umt5)
    save_file(sd, os.path.join(OUT, "umt5", "hf.safetensors"))
    sd16 = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    save_file({("encoder.embed_tokens.weight" if k == "shared.weight" else k): v
               for k, v in sd16.items()}, os.path.join(OUT, "umt5", "hf_bf16.safetensors"))
    torch.save({wan_name(k): v for k, v in sd16.items()},
               os.path.join(OUT, "umt5", "wan_bf16.pth"))
    umt5_16 = build(UMT5EncoderModel, UMT5Config, 0, d_model=64, d_kv=16, num_heads=4,
                    d_ff=64, num_layers=3)
    umt5_16.load_state_dict({k: v.float() for k, v in sd16.items()} |
                            {"encoder.embed_tokens.weight": sd16["shared.weight"].float()})

    cases = {}
    for n in LENGTHS:
        ids = make_ids(gen, n)
        cases[f"ids.{n}"] = ids.to(torch.int32)
        cases[f"f32.{n}"] = encode(umt5, ids[None])[0].contiguous()
        cases[f"bf16.{n}"] = encode(umt5_16, ids[None])[0].contiguous()
    batch = torch.zeros(len(PADDED), PAD_TO, dtype=torch.int64)
    mask = torch.zeros(len(PADDED), PAD_TO, dtype=torch.int64)
    for b, n in enumerate(PADDED):
        batch[b, :n] = make_ids(gen, n)
        mask[b, :n] = 1
    out = encode(umt5, batch, mask)
    for b, n in enumerate(PADDED):
        cases[f"padded.{b}"] = out[b, :n].contiguous()
    cases["padded_ids"] = batch.to(torch.int32)
    cases["padded_len"] = torch.tensor(PADDED, dtype=torch.int32)
    rel = torch.arange(-400, 401)
    cases["buckets"] = T5Attention._relative_position_bucket(
        rel, bidirectional=True, num_buckets=32, max_distance=128).to(torch.int32)
    save_file(cases, os.path.join(OUT, "umt5", "cases.safetensors"),
              metadata={"lengths": ",".join(map(str, LENGTHS)), "bucket_min": "-400"})

    # ---- T5: one shared table in layer 0 ----
    os.makedirs(os.path.join(OUT, "t5"), exist_ok=True)
    t5 = build(T5EncoderModel, T5Config, 10, d_model=32, d_kv=8, num_heads=4, d_ff=48,
               num_layers=2)
    assert "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" not in \
        t5.state_dict()
    sd = hf_state(t5)
    save_file(sd, os.path.join(OUT, "t5", "hf.safetensors"))
    # Wan's T5Encoder(shared_pos=True) keeps the one table at the top level
    table = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
    torch.save({("pos_embedding.embedding.weight" if k == table else wan_name(k)): v
                for k, v in sd.items()}, os.path.join(OUT, "t5", "wan.pth"))
    cases = {}
    for n in LENGTHS:
        ids = make_ids(gen, n)
        cases[f"ids.{n}"] = ids.to(torch.int32)
        cases[f"f32.{n}"] = encode(t5, ids[None])[0].contiguous()
    save_file(cases, os.path.join(OUT, "t5", "cases.safetensors"),
              metadata={"lengths": ",".join(map(str, LENGTHS))})


if __name__ == "__main__":
    main()
