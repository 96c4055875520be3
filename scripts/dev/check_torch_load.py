#!/usr/bin/env python3
"""Developer check (not run by the tests): an ies model.safetensors loads into its PyTorch
twin with strict=True (parameters and buffers, num_batches_tracked included) and gives the
same test accuracy as `ies eval`.

Usage: check_torch_load.py MODEL.safetensors [DATA_DIR]   (torch from ../shared/peers/README.md)
Reads the IDX test split (Fashion-MNIST by default), normalizes it with the mean and std
the file's metadata records, evaluates in eval mode and prints loss and accuracy.
"""
import gzip
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.environ.get("IES_PEERS", os.path.join(os.path.dirname(__file__), "../../../shared/peers")))
from torch_models import build  # noqa: E402


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    path = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    c, h, w = map(int, meta["input_shape"].split(","))
    net = build(meta["model"], c, h, w, int(meta["classes"]), int(meta.get("width", 64)))
    net.load_state_dict(load_file(path), strict=True)
    net.eval()
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(data, name)):
                return os.path.join(data, name)
        raise SystemExit(f"{data}: no {stem}[.gz]")
    images = idx(find("t10k-images-idx3-ubyte")).astype(np.float32).reshape(-1, c, h, w) / 255
    labels = idx(find("t10k-labels-idx1-ubyte")).astype(np.int64)
    mean = np.array([float(v) for v in meta["normalization_mean"].split(",")], dtype=np.float32)
    std = np.array([float(v) for v in meta["normalization_std"].split(",")], dtype=np.float32)
    x = torch.from_numpy((images - mean[None, :, None, None]) / std[None, :, None, None])
    y = torch.from_numpy(labels)
    correct, loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(y), 256):
            out = net(x[start:start + 256])
            loss += torch.nn.functional.cross_entropy(out, y[start:start + 256], reduction="sum").item()
            correct += (out.argmax(1) == y[start:start + 256]).sum().item()
    print(f"torch strict load ok: test loss {loss / len(y):.4f}  test accuracy {100 * correct / len(y):.2f}% ({correct}/{len(y)})")


if __name__ == "__main__":
    main()
