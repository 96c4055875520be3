#!/usr/bin/env python3
"""Developer check (not run by the test suite): whole-model gradients of ies against
PyTorch's autograd in double precision, in training mode (BatchNorm with batch statistics).

Usage: check_gradients_against_torch.py DUMP.safetensors MODEL C H W CLASSES WIDTH LABELS...
DUMP holds the model's tensors (as ies writes them) plus `__input` [N,C,H,W], `__grad` (the
flat parameter gradient ies computed for the summed cross-entropy) and `__logits`.
Needs torch (see ../shared/peers/README.md) and the PyTorch twins in ../shared/peers.
Make DUMP with `.build/release/ies-testbed gradients --model resnet50 --width 2 --output DUMP`
(it prints the labels to pass). Prints the largest difference relative to each tensor's
largest gradient; exit 1 above 1e-2 (Float32 against double through 50 BatchNorm layers
stays near 1e-3).
"""
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../shared/peers"))
from torch_models import build  # noqa: E402


def main():
    path, name = sys.argv[1], sys.argv[2]
    c, h, w, classes, width = map(int, sys.argv[3:8])
    labels = torch.tensor([int(v) for v in sys.argv[8:]])
    dump = load_file(path)
    net = build(name, c, h, w, classes, width).double().train()
    state = {k: (v.double() if v.dtype == torch.float32 else v) for k, v in dump.items() if not k.startswith("__")}
    net.load_state_dict(state, strict=True)
    out = net(dump["__input"].double())
    print(f"logits: max |ies - torch| {(out.float() - dump['__logits']).abs().max().item():.2e}")
    torch.nn.functional.cross_entropy(out, labels, reduction="sum").backward()
    ours, offset, worst = dump["__grad"].double(), 0, 0.0
    for key, p in net.named_parameters():
        g = ours[offset:offset + p.numel()].reshape(p.shape)
        offset += p.numel()
        worst = max(worst, ((g - p.grad).abs().max() / (p.grad.abs().max() + 1e-12)).item())
    print(f"{name}: largest relative gradient difference {worst:.2e} over {offset} parameters")
    sys.exit(0 if worst < 1e-2 and offset == ours.numel() else 1)


if __name__ == "__main__":
    main()
