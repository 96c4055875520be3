#!/usr/bin/env python3
"""Checks that an ies model.safetensors means what PyTorch would make of it.

Loads the parameters with safetensors (numpy), rebuilds the forward pass of the
equivalent torch.nn.Sequential with PyTorch's semantics written out in numpy
(Conv2d = cross-correlation with weight [out, in, kh, kw] and zero padding,
MaxPool2d floor mode, Flatten in C, H, W order, Linear y = x W^T + b), runs it on
the inputs stored in the second file and compares with the logits ies computed.

Usage: pytorch_semantics_check.py MODEL.safetensors IO.safetensors
Exit status 0 when every logit agrees within 1e-4 (relative to the logits' scale).
"""
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from safetensors.numpy import load_file


def conv2d(x, w, b, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k = w.shape[2]
    windows = sliding_window_view(xp, (k, k), axis=(2, 3))  # N, C, H, W, k, k
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b[None, :, None, None]


def maxpool2(x):
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def relu(x):
    return np.maximum(x, 0)


def forward(params, x, model):
    p = {k: v.astype(np.float64) for k, v in params.items()}
    x = x.astype(np.float64)
    if model == "cnn":
        x = maxpool2(relu(conv2d(x, p["0.weight"], p["0.bias"], 1)))
        x = maxpool2(relu(conv2d(x, p["3.weight"], p["3.bias"], 1)))
        x = x.reshape(x.shape[0], -1)
        x = relu(x @ p["7.weight"].T + p["7.bias"])
        return x @ p["9.weight"].T + p["9.bias"]
    x = x.reshape(x.shape[0], -1)
    x = relu(x @ p["1.weight"].T + p["1.bias"])
    x = relu(x @ p["3.weight"].T + p["3.bias"])
    return x @ p["5.weight"].T + p["5.bias"]


def main():
    params = load_file(sys.argv[1])
    io = load_file(sys.argv[2])
    model = "cnn" if "0.weight" in params else "mlp"
    expected = io["logits"].astype(np.float64)
    actual = forward(params, io["inputs"], model)
    scale = max(1.0, float(np.abs(expected).max()))
    error = float(np.abs(actual - expected).max()) / scale
    print(f"{model}: {len(expected)} inputs, max relative logit difference {error:.2e}")
    sys.exit(0 if error < 1e-4 else 1)


if __name__ == "__main__":
    main()
