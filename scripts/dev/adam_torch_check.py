#!/usr/bin/env python3
"""Dev-only: compares NN's Adam / AdamW with torch.optim.Adam / AdamW (not run by the tests).

Compiles scripts/dev/adam_driver.swift together with Sources/NN/Optim/{Optimizer,Adam}.swift
(swiftc -O, no package build), runs both optimizers from the same float32 parameters over
the same float32 summed gradients, gradientScale and per-step learning rates (float32
values, passed to torch as the same doubles), and prints per configuration the maximum
absolute difference of the parameters over all steps and the fraction of bit-identical
values. torch runs its single-tensor path (foreach=False) on CPU, once as it is and once
with Tensor.sqrt replaced by a correctly rounded one (as Swift's Float.squareRoot() is):
some CPU builds of torch (AVX512 with MKL) round float32 sqrt off by one ulp. It also
emulates the update in numpy, without and with the fused multiply-adds of torch's CPU
kernels, to show where any remaining difference comes from.

Usage: ~/torchenv/bin/python scripts/dev/adam_torch_check.py [N] [STEPS]
Exit status 0 when every difference is below 1e-5 (relative to the parameters' scale).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(directory):
    binary = os.path.join(directory, "adam_driver")
    # Top-level code must be in a file named main.swift when several files are compiled.
    main = os.path.join(directory, "main.swift")
    shutil.copyfile(os.path.join(ROOT, "scripts/dev/adam_driver.swift"), main)
    sources = [
        main,
        os.path.join(ROOT, "Sources/NN/Optim/Optimizer.swift"),
        os.path.join(ROOT, "Sources/NN/Optim/Adam.swift"),
    ]
    subprocess.run(["swiftc", "-O", "-module-name", "AdamDriver", "-o", binary] + sources, check=True)
    return binary


def correctly_rounded_sqrt(tensor):
    """float32 sqrt through float64: correctly rounded, like Swift's Float.squareRoot()."""
    return torch.sqrt(tensor.double()).float()


def torch_run(params, grads, lrs, scale, weight_decay, decoupled, exact_sqrt=False):
    """torch.optim's trajectory; with exact_sqrt, Tensor.sqrt is replaced for the run (see main)."""
    original = torch.Tensor.sqrt
    if exact_sqrt:
        torch.Tensor.sqrt = correctly_rounded_sqrt
    try:
        return torch_trajectory(params, grads, lrs, scale, weight_decay, decoupled)
    finally:
        torch.Tensor.sqrt = original


def torch_trajectory(params, grads, lrs, scale, weight_decay, decoupled):
    p = torch.nn.Parameter(torch.from_numpy(params.copy()))
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = kind([p], lr=float(lrs[0]), betas=(0.9, 0.999), eps=1e-8,
                     weight_decay=float(weight_decay), foreach=False)
    history = []
    for t in range(len(lrs)):
        for group in optimizer.param_groups:
            group["lr"] = float(lrs[t])
        # The mean gradient as ies forms it: the float32 sum times the float32 scale.
        p.grad = torch.from_numpy((grads[t] * np.float32(scale)).astype(np.float32))
        optimizer.step()
        history.append(p.detach().numpy().copy())
    return np.stack(history)


def emulate(params, grads, lrs, scale, weight_decay, decoupled, fused):
    """The update in numpy float32, op by op as documented in Adam.swift (fused=False), or with
    torch's CPU kernels' fused multiply-adds (fused=True): add(alpha), lerp and addcmul are
    single-rounding a * b + c there. fma is emulated through float64 (exact product, then two
    roundings, which differ from one only in rare midpoint cases)."""
    f32, f64 = np.float32, np.float64

    def fma(a, b, c):
        return (f64(a) * f64(b) + f64(c)).astype(f32) if fused else c + a * b

    p = params.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    wd = f32(weight_decay)
    w, b2, c2, eps = f32(1 - 0.9), f32(0.999), f32(1 - 0.999), f32(1e-8)
    history = []
    for t in range(1, len(lrs) + 1):
        lr = float(lrs[t - 1])
        if decoupled and weight_decay != 0:
            p = p * f32(1 - lr * float(wd))
        g = grads[t - 1] * f32(scale)
        if not decoupled and weight_decay != 0:
            g = fma(wd, p, g)
        m = fma(w, g - m, m)
        v = fma(c2 * g, g, v * b2)
        step_size = f32(lr / (1 - 0.9 ** t))
        root = f32((1 - 0.999 ** t) ** 0.5)
        p = p - (step_size * m) / (np.sqrt(v) / root + eps)
        history.append(p.copy())
    return np.stack(history)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = np.random.default_rng(20250101)
    ok = True
    with tempfile.TemporaryDirectory() as directory:
        binary = build(directory)
        configurations = [
            ("Adam, no decay", 0.0, False),
            ("Adam, L2 5e-4", 5e-4, False),
            ("AdamW, 1e-2", 1e-2, True),
            ("AdamW, 0.1", 0.1, True),
        ]
        for name, weight_decay, decoupled in configurations:
            params = rng.normal(0, 0.5, n).astype(np.float32)
            # Summed gradients of a batch of 128 with a drifting mean, varying scales.
            grads = (rng.normal(0.05, 1, (steps, n)) * rng.uniform(0.1, 10, (steps, 1))).astype(np.float32) * 128
            scale = np.float32(1 / 128)
            # Warm-up then cosine decay, rounded to float32 as the trainer passes them.
            base = 1e-3
            lrs = np.array([base * min(1, (t + 1) / 10) * (1 + np.cos(np.pi * t / steps)) / 2 + 1e-5
                            for t in range(steps)], dtype=np.float32)
            wd32 = np.float32(weight_decay)
            for array, file in [(params, "params"), (grads, "grads"), (lrs, "lrs")]:
                array.astype(np.float32).tofile(os.path.join(directory, file + ".f32"))
            subprocess.run([binary, str(n), str(steps), repr(float(scale)), repr(float(wd32)),
                            "1" if decoupled else "0", directory], check=True)
            ours = np.fromfile(os.path.join(directory, "swift.f32"), dtype=np.float32).reshape(steps, n)
            # Ours against the documented formula, and torch (exact sqrt) against the same formula
            # with its fused multiply-adds: both should hold bit for bit.
            formula = emulate(params, grads, lrs, scale, wd32, decoupled, fused=False)
            fused = emulate(params, grads, lrs, scale, wd32, decoupled, fused=True)
            exact_torch = torch_run(params, grads, lrs, scale, wd32, decoupled, exact_sqrt=True)
            print(f"{name:16s} bit-identical: ours vs numpy formula {np.mean(ours == formula):.4%}, "
                  f"torch (exact sqrt) vs numpy formula with FMA {np.mean(exact_torch == fused):.4%}")
            for exact_sqrt in (False, True):
                reference = torch_run(params, grads, lrs, scale, wd32, decoupled, exact_sqrt)
                difference = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
                identical = np.mean(ours.view(np.uint32) == reference.view(np.uint32))
                worst = difference.max()
                first_step = np.abs(ours[0].astype(np.float64) - reference[0]).max()
                label = "torch, exact sqrt" if exact_sqrt else "torch"
                print(f"{name:16s} max |ours - {label}| over {steps} steps x {n} = {worst:.3e} "
                      f"(step 1: {first_step:.3e}), bit-identical {identical:.4%}")
                ok = ok and worst <= 1e-5 * max(1.0, np.abs(reference).max())
        # Why the plain comparison is not bit-identical: torch's CPU sqrt may be off by one ulp.
        sample = torch.from_numpy(np.abs(rng.normal(0, 1e-3, 100000)).astype(np.float32))
        rounded = np.mean(sample.sqrt().numpy() == correctly_rounded_sqrt(sample).numpy())
        print(f"torch.sqrt correctly rounded on {rounded:.2%} of float32 samples "
              f"(CPU capability {torch.backends.cpu.get_cpu_capability()})")
    print("torch", torch.__version__, "OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
