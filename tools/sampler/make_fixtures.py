#!/usr/bin/env python3
"""Write the sampler fixtures the C test reads (tests/data/sampler/cases.safetensors).

Each case runs one diffusers scheduler, configured as diffusers' Wan pipelines
configure it, for a number of steps and a flow shift on a small latent (2x3x4x5 from a
fixed seed), with an analytic stand-in for the transformer that C computes the same
way: the velocity is, elementwise,

    v = f32(C * sin(A * x + B * (t / 1000)))     (float64 arithmetic, Python's libm sin)

where x is the f32 latent and t the timestep diffusers hands the model (an integer for
UniPC and DPM-Solver++, an f32 value for Euler). Schedulers:

    unipc   UniPCMultistepScheduler(prediction_type="flow_prediction",
            use_flow_sigmas=True, flow_shift=s), the rest default (order 2, bh2,
            predict_x0, lower_order_final, corrector on, final sigma 0)
    dpmpp   DPMSolverMultistepScheduler(prediction_type="flow_prediction",
            use_flow_sigmas=True, flow_shift=s), the rest default (dpmsolver++,
            order 2, midpoint, lower_order_final, final sigma 0)
    euler   FlowMatchEulerDiscreteScheduler(shift=s)

Tensors, per case NAME = "<kind>_<steps>_<shift>" (metadata "cases" lists them
comma-separated):

    NAME.sigmas     [steps + 1] f32, scheduler.sigmas (the last is 0)
    NAME.timesteps  [steps] f64, scheduler.timesteps as the model receives them
    NAME.latents    [steps, numel] f32, the latent after every scheduler.step
    x_init          [numel] f32, the starting latent (shared by all cases)

Usage: pip install torch diffusers safetensors; python3 tools/sampler/make_fixtures.py
"""
import math
import os

import torch
from diffusers import (DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler,
                       UniPCMultistepScheduler)
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "sampler")
SHAPE = (2, 3, 4, 5)
# the model's constants; test_sampler.c repeats them
A, B, C = 0.8, 3.0, 1.1

CASES = [("unipc", 1, 5.0), ("unipc", 2, 5.0), ("unipc", 4, 5.0), ("unipc", 4, 3.0),
         ("unipc", 10, 3.0), ("unipc", 10, 5.0), ("unipc", 50, 5.0),
         ("dpmpp", 1, 5.0), ("dpmpp", 4, 5.0), ("dpmpp", 10, 3.0), ("dpmpp", 20, 5.0),
         ("euler", 1, 5.0), ("euler", 4, 5.0), ("euler", 10, 3.0), ("euler", 50, 5.0)]


def make(kind, shift):
    if kind == "unipc":
        return UniPCMultistepScheduler(num_train_timesteps=1000, prediction_type="flow_prediction",
                                       use_flow_sigmas=True, flow_shift=shift)
    if kind == "dpmpp":
        return DPMSolverMultistepScheduler(num_train_timesteps=1000,
                                           prediction_type="flow_prediction",
                                           use_flow_sigmas=True, flow_shift=shift)
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)


def model(x, t):
    """The analytic velocity, element by element in float64 with libm's sin."""
    tt = float(t) / 1000.0
    flat = x.reshape(-1).tolist()
    v = [C * math.sin(A * xi + B * tt) for xi in flat]
    return torch.tensor(v, dtype=torch.float64).to(torch.float32).reshape(x.shape)


def main():
    gen = torch.Generator().manual_seed(1234)
    x_init = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
    tensors = {"x_init": x_init.reshape(-1).clone()}
    names = []
    for kind, steps, shift in CASES:
        name = f"{kind}_{steps}_{shift:g}"
        sched = make(kind, shift)
        sched.set_timesteps(steps)
        x = x_init.clone()
        lat = []
        for t in sched.timesteps:
            v = model(x, t.item())
            x = sched.step(v, t, x, return_dict=False)[0]
            assert x.dtype == torch.float32
            lat.append(x.reshape(-1).clone())
        tensors[name + ".sigmas"] = sched.sigmas.to(torch.float32).clone()
        tensors[name + ".timesteps"] = sched.timesteps.to(torch.float64).clone()
        tensors[name + ".latents"] = torch.stack(lat)
        names.append(name)
        print(name, "timesteps", [round(float(t), 4) for t in sched.timesteps[:6]])
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, "cases.safetensors"),
              metadata={"cases": ",".join(names), "model": f"v = {C}*sin({A}*x + {B}*t/1000)"})


if __name__ == "__main__":
    main()
