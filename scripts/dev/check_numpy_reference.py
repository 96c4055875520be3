#!/usr/bin/env python3
"""Validates Tests/TrainingTests/numpy_reference.py against PyTorch itself (developer tool,
not part of CI: it needs torch).

For each model it builds the PyTorch twin of torch_models.py (in $IES_PEERS
or the project's shared/peers/) with random weights and random BatchNorm statistics, saves its
state_dict as an ies model.safetensors would be (float32 parameters, int64
num_batches_tracked, metadata model/input_shape/classes/width), runs one batch in eval
mode and one in train mode, writes the IO file (inputs, torch's logits, torch's buffers
after the pass as expected.<name>, the Dropout keep masks torch drew as dropout.<name>),
and runs numpy_reference.py on it, which must exit 0. It also checks that a perturbed
logit exits 1 and a missing tensor exits 2.

Usage: ~/torchenv/bin/python scripts/dev/check_numpy_reference.py [MODEL ...]
       (MODEL filters by preset name, e.g. resnet18; default: all)
"""
import copy
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "Tests", "TrainingTests", "numpy_reference.py")


def peers_directory():
    """Where torch_models.py is: $IES_PEERS, else shared/peers beside the repository or its
    parent (a main checkout or a worktree next to the project's shared/ folder)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    repo = repo if os.path.isdir(os.path.join(repo, "Sources")) else os.path.dirname(repo)
    candidates = [os.environ.get("IES_PEERS", "")]
    candidates += [os.path.join(repo, *[".."] * up, "shared", "peers") for up in (1, 2)]
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "torch_models.py")):
            return os.path.normpath(candidate)
    raise SystemExit("torch_models.py not found: set IES_PEERS to the directory holding it")


sys.path.insert(0, peers_directory())
from torch_models import build  # noqa: E402

# (model, C, H, W, classes, width)
CASES = [
    ("mlp", 1, 28, 28, 10, None),
    ("cnn", 1, 28, 28, 10, None),
    ("cnn", 3, 32, 32, 100, None),
    ("resnet18", 1, 28, 28, 10, 8),
    ("resnet18", 1, 28, 28, 10, 16),
    ("resnet18", 3, 32, 32, 10, 8),
    ("resnet18", 3, 32, 32, 100, 16),
    ("resnet34", 3, 32, 32, 10, 8),
    ("resnet50", 3, 32, 32, 10, 8),
    ("resnet50", 1, 28, 28, 10, 8),
    ("vgg16", 3, 32, 32, 10, None),
]
BATCH = 6


def randomize_batchnorm(net, generator):
    """Random affine parameters and running statistics, so that eval mode is not the identity."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=generator))
                module.bias.copy_(0.2 * torch.randn(c, generator=generator))
                module.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(c, generator=generator))
                module.num_batches_tracked.fill_(int(torch.randint(0, 1000, (1,), generator=generator)))


def save_model(net, path, model, c, h, w, classes, width):
    state = {name: tensor.detach().clone().contiguous() for name, tensor in net.state_dict().items()}
    for name, tensor in state.items():
        assert tensor.dtype == (torch.int64 if name.endswith("num_batches_tracked") else torch.float32), name
    metadata = {"format": "ies-model/1", "model": model, "input_shape": f"{c},{h},{w}", "classes": str(classes)}
    if width is not None:
        metadata["width"] = str(width)
    save_file(state, path, metadata=metadata)


def dropout_masks(net):
    """Forward hooks recording the keep mask each Dropout drew (output != 0 where input != 0;
    elsewhere the mask does not matter and 0 is as good as 1). Returns (masks, handles)."""
    masks, handles = {}, []
    for name, module in net.named_modules():
        if isinstance(module, nn.Dropout) and module.training:
            def hook(module, inputs, output, name=name):
                kept = output != 0
                scaled = inputs[0] / (1 - module.p)
                assert torch.allclose(output[kept], scaled[kept]), f"{name}: unexpected dropout scaling"
                masks["dropout." + name] = kept.float().contiguous()
            handles.append(module.register_forward_hook(hook))
    return masks, handles


def run_reference(model_path, io_path, mode):
    result = subprocess.run([sys.executable, REFERENCE, model_path, io_path, mode],
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr


def check(case, directory):
    model, c, h, w, classes, width = case
    torch.manual_seed(len(directory) + sum(map(ord, str(case))))
    generator = torch.Generator().manual_seed(1234)
    net = build(model, c, h, w, classes, width if width is not None else 64)
    randomize_batchnorm(net, generator)
    model_path = os.path.join(directory, "model.safetensors")
    save_model(net, model_path, model, c, h, w, classes, width)
    x = torch.randn(BATCH, c, h, w)
    lines, failures = [], 0

    original = copy.deepcopy(net.state_dict())
    for mode in ("eval", "train"):
        # Not copy.deepcopy(net): the vgg16 twin's forward is a lambda bound to the original.
        twin = net
        twin.load_state_dict(original)
        twin.train(mode == "train")
        masks, handles = dropout_masks(twin)
        with torch.no_grad():
            logits = twin(x)
        for handle in handles:
            handle.remove()
        io = {"inputs": x.contiguous(), "logits": logits.contiguous()}
        if mode == "train":
            io.update(masks)
            for name, tensor in twin.state_dict().items():
                if name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked"):
                    io["expected." + name] = tensor.contiguous()
        io_path = os.path.join(directory, f"io-{mode}.safetensors")
        save_file(io, io_path)
        status, output = run_reference(model_path, io_path, mode)
        lines.append(output.rstrip())
        if status != 0:
            failures += 1
            lines.append(f"  FAILED: exit {status}, expected 0")

    # A wrong logit must be caught (exit 1); a missing tensor is bad input (exit 2).
    io["logits"] = io["logits"].clone()
    io["logits"][0, 0] += 1e-2 * max(1.0, float(io["logits"].abs().max()))
    save_file(io, io_path)
    status, output = run_reference(model_path, io_path, "train")
    if status != 1:
        failures += 1
        lines.append(f"  FAILED: perturbed logit gave exit {status}, expected 1\n{output}")
    state = {n: t.detach().clone().contiguous() for n, t in original.items()}
    missing = sorted(state)[len(state) // 2]
    del state[missing]
    save_file(state, model_path, metadata={"model": model, "input_shape": f"{c},{h},{w}", "classes": str(classes)})
    status, output = run_reference(model_path, io_path, "eval")
    if status != 2 or missing not in output:
        failures += 1
        lines.append(f"  FAILED: missing {missing} gave exit {status}, expected 2 naming it\n{output}")
    return failures, lines


def main():
    wanted = sys.argv[1:]
    torch.set_num_threads(1)
    failures = 0
    for case in CASES:
        if wanted and case[0] not in wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="numpy-reference-") as directory:
            failed, lines = check(case, directory)
        failures += failed
        print(f"== {case[0]} {case[1]}x{case[2]}x{case[3]} classes {case[4]}"
              + (f" width {case[5]}" if case[5] else ""))
        print("\n".join(lines), flush=True)
    print("all agree" if failures == 0 else f"{failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
