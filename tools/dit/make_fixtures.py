"""Fixtures for tests/unit/test_wan_dit.c: a tiny Wan diffusion transformer run by
diffusers' WanTransformer3DModel.

Writes tests/data/dit/:
    diffusers.safetensors       f32 weights, diffusers names
    diffusers_bf16.safetensors  the same rounded to bf16
    wan_bf16.safetensors        the bf16 weights under Wan's original names (the inverse
                                of diffusers' convert_wan_transformer_to_diffusers,
                                checked by converting back)
    cases.safetensors           inputs and diffusers' outputs:
        text                    the text context [7, text_dim]
        text_emb.f32            condition_embedder.text_embedder(text) [7, dim]
        x.NAME                  latents [C_in, F, H, W]
        t.NAME                  the timestep: one value, or one per latent token
        f32.NAME, bf16.NAME     velocity [C_out, F, H, W] with the f32 / bf16 weights

Every model file carries the metadata num_heads (the head count is not in any shape).
The config has head_dim 32 (16 rotary pairs split 6/5/5 over frame/row/column), dim 64
in 2 heads, ffn 96, 2 layers, random norms and modulation tables. Cases: 1 frame and
3 frames of 4x6 latents at t = 937, and 3 frames with Wan2.2's per-token timesteps
(first latent frame t = 0, the rest t = 700).

Usage: pip install torch diffusers safetensors; python3 tools/dit/make_fixtures.py
"""
import os

import torch
from diffusers import WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "dit")
HEADS = 2
CONFIG = dict(patch_size=(1, 2, 2), num_attention_heads=HEADS, attention_head_dim=32,
              in_channels=4, out_channels=4, text_dim=32, freq_dim=256, ffn_dim=96,
              num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
              rope_max_seq_len=1024)
META = {"num_heads": str(HEADS)}


def randomize(model, gen):
    """Random norms and larger modulation tables (the defaults are ones and small)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif "norm" in name and name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif "scale_shift_table" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


# diffusers name fragment -> Wan's original, the inverse of diffusers' single-file table
TO_WAN = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("attn1", "self_attn"), ("attn2", "cross_attn"),
    (".to_out.0.", ".o."), (".to_q.", ".q."), (".to_k.", ".k."), (".to_v.", ".v."),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"),
]


def wan_name(k):
    if k == "scale_shift_table":
        return "head.modulation"
    if k.startswith("proj_out."):
        return "head.head." + k[len("proj_out."):]
    for a, b in TO_WAN:
        k = k.replace(a, b)
    k = k.replace(".scale_shift_table", ".modulation")
    # diffusers' norm2 is Wan's norm3 (the cross-attention norm) and the other way round
    return k.replace(".norm2.", ".norm__x.").replace(".norm3.", ".norm2.").replace(
        ".norm__x.", ".norm3.")


def build():
    torch.manual_seed(0)
    model = WanTransformer3DModel(**CONFIG).float().eval()
    randomize(model, torch.Generator().manual_seed(1))
    return model


@torch.no_grad()
def run(model, x, t, text):
    return model(x[None], t, text[None], return_dict=False)[0][0].contiguous()


def main():
    os.makedirs(OUT, exist_ok=True)
    model = build()
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(OUT, "diffusers.safetensors"), metadata=META)
    sd16 = {k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()}
    save_file(sd16, os.path.join(OUT, "diffusers_bf16.safetensors"), metadata=META)
    wan16 = {wan_name(k): v for k, v in sd16.items()}
    back = convert_wan_transformer_to_diffusers(dict(wan16))
    assert sorted(back) == sorted(sd16), set(back) ^ set(sd16)
    assert all(torch.equal(back[k], sd16[k]) for k in sd16)
    save_file(wan16, os.path.join(OUT, "wan_bf16.safetensors"), metadata=META)
    model16 = build()
    model16.load_state_dict({k: v.float() for k, v in sd16.items()})

    gen = torch.Generator().manual_seed(1234)
    text = torch.randn(7, CONFIG["text_dim"], generator=gen)
    cases = {"text": text}
    with torch.no_grad():
        cases["text_emb.f32"] = model.condition_embedder.text_embedder(text).contiguous()
    names = []
    for name, frames, per_token in [("f1", 1, False), ("f3", 3, False), ("f3tok", 3, True)]:
        x = torch.randn(CONFIG["in_channels"], frames, 4, 6, generator=gen)
        n = frames * 2 * 3
        if per_token:
            t = torch.full((1, n), 700.0)
            t[0, :n // frames] = 0.0
        else:
            t = torch.tensor([937.0])
        cases[f"x.{name}"] = x
        cases[f"t.{name}"] = t.flatten().contiguous()
        cases[f"f32.{name}"] = run(model, x, t, text)
        cases[f"bf16.{name}"] = run(model16, x, t, text)
        names.append(name)
    save_file(cases, os.path.join(OUT, "cases.safetensors"), metadata={"cases": ",".join(names)})


if __name__ == "__main__":
    main()
