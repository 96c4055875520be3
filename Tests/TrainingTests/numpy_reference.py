#!/usr/bin/env python3
"""Independent numpy forward pass of an ies model.safetensors under PyTorch semantics.

The network is rebuilt from the state-dict names alone (plus the file's
`__metadata__`: `model`, `input_shape` "C,H,W", `classes`, optional `width`), the
way PyTorch's modules would read them, and run in float64:

  mlp       nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU, Linear)  -> 1, 3, 5
  cnn       nn.Sequential(Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten,
            Linear, ReLU, Linear)                                      -> 0, 3, 7, 9
  resnet18/34/50 (any width)  conv1, bn1, layerI.J.{convK, bnK, shortcut.{0,1}}, linear;
            the first block of layer2..4 has stride 2; BasicBlock when a block has no
            conv3, Bottleneck otherwise; adaptive average pool to 1x1 before `linear`
  vgg16     features.S.{3k: Conv2d(bias), 3k+1: BatchNorm2d, 3k+2: ReLU}, MaxPool2d(2, 2)
            ending each stage S; classifier.{0, 3, 6} Linear with ReLU and Dropout(0.5)
            (at classifier.2 and classifier.5) between them

Semantics written out: Conv2d is cross-correlation (weight [out, in, kh, kw], zero
padding kh // 2); BatchNorm2d in train mode normalizes with the batch mean and biased
variance over N, H, W (eps 1e-5), then sets running = 0.9 running + 0.1 batch statistic
(unbiased variance for running_var) and adds 1 to num_batches_tracked; in eval mode it
uses the running statistics; MaxPool2d(2, 2) floors odd sizes; Flatten keeps C, H, W
order; Linear is x W^T + b; Dropout is the identity in eval mode and, in train mode,
x * mask / (1 - p) with the mask given by the caller.

Usage: numpy_reference.py [-v] MODEL.safetensors IO.safetensors MODE

  MODE      train or eval
  IO holds  inputs [N, C, H, W] float32, logits [N, classes] (what ies computed),
            optionally expected.<buffer> (running_mean, running_var, num_batches_tracked
            after the forward pass, compared too) and dropout.<layer> (the 0/1 keep mask
            of that Dropout layer, needed in train mode for vgg16).
  -v        print the difference of every compared buffer, not only the worst per kind

Exit status: 0 when every compared quantity agrees within 1e-4 relative to its scale
(max(1, max |expected|)), 1 when one does not, 2 on bad input (a message names the file
and the tensor).

As a library: `forward(params, buffers, x, mode)` returns (logits, updated buffers);
`load_model(path)` returns (params, buffers, metadata).
"""
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

EPS = 1e-5
MOMENTUM = 0.1
DROPOUT_P = 0.5
TOLERANCE = 1e-4
BUFFER_KINDS = ("running_mean", "running_var", "num_batches_tracked")
MODELS = ("mlp", "cnn", "resnet18", "resnet34", "resnet50", "vgg16")
RESNET_DEPTHS = {("basic", (2, 2, 2, 2)): "resnet18", ("basic", (3, 4, 6, 3)): "resnet34",
                 ("bottleneck", (3, 4, 6, 3)): "resnet50"}


class BadInput(Exception):
    """The files do not describe a model or batch this script understands (exit 2)."""


def is_buffer(name):
    return name.rsplit(".", 1)[-1] in BUFFER_KINDS


# MARK: - Operations (float64 arrays, NCHW)

def conv2d(x, w, b, stride, padding):
    """Cross-correlation of x [N, C, H, W] with w [O, C, kh, kw], zero padding, bias b or None."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((o, n, ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            out += np.tensordot(w[:, :, i, j], patch, axes=([1], [1]))
    out = out.transpose(1, 0, 2, 3)
    if b is not None:
        out = out + b[None, :, None, None]
    return np.ascontiguousarray(out)


def maxpool2(x):
    """MaxPool2d(kernel 2, stride 2), floor mode: an odd last row or column is dropped."""
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def relu(x):
    return np.maximum(x, 0)


# MARK: - Layers looked up by name

class Network:
    """Parameters and buffers by state-dict name; each layer method reads its own tensors,
    records which names it used and, for BatchNorm2d in train mode, the updated buffers."""

    def __init__(self, params, buffers, mode, dropout_masks, source):
        if mode not in ("train", "eval"):
            raise BadInput(f"mode must be train or eval, not {mode!r}")
        self.params, self.buffers = params, buffers
        self.train = mode == "train"
        self.masks = dict(dropout_masks or {})
        self.source = source
        self.used = set()
        self.updated = {}

    def has(self, name):
        return name in self.params or name in self.buffers

    def tensor(self, name, ndim=None):
        if name in self.params:
            value = self.params[name]
        elif name in self.buffers:
            value = self.buffers[name]
        else:
            raise BadInput(f"{self.source}: missing tensor {name}")
        if ndim is not None and value.ndim != ndim:
            raise BadInput(f"{self.source}: tensor {name} has shape {list(value.shape)}, expected {ndim} dimensions")
        self.used.add(name)
        return np.asarray(value, dtype=np.float64)

    def conv(self, x, prefix, stride=1, bias=False):
        w = self.tensor(prefix + ".weight", 4)
        if w.shape[1] != x.shape[1]:
            raise BadInput(f"{self.source}: tensor {prefix}.weight has shape {list(w.shape)} "
                           f"but its input has {x.shape[1]} channels")
        if w.shape[2] % 2 == 0 or w.shape[2] != w.shape[3]:
            raise BadInput(f"{self.source}: tensor {prefix}.weight has shape {list(w.shape)}; expected an odd square kernel")
        b = self.tensor(prefix + ".bias", 1) if bias else None
        if bias and b.shape[0] != w.shape[0]:
            raise BadInput(f"{self.source}: tensor {prefix}.bias has shape {list(b.shape)}, expected [{w.shape[0]}]")
        if not bias and self.has(prefix + ".bias"):
            raise BadInput(f"{self.source}: tensor {prefix}.bias should not exist (this convolution has no bias)")
        return conv2d(x, w, b, stride, w.shape[2] // 2)

    def batchnorm(self, x, prefix):
        c = x.shape[1]
        gamma, beta = self.tensor(prefix + ".weight", 1), self.tensor(prefix + ".bias", 1)
        mean, var = self.tensor(prefix + ".running_mean", 1), self.tensor(prefix + ".running_var", 1)
        count = self.tensor(prefix + ".num_batches_tracked")
        for name, value in (("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var)):
            if value.shape != (c,):
                raise BadInput(f"{self.source}: tensor {prefix}.{name} has shape {list(value.shape)}, expected [{c}]")
        if count.size != 1:
            raise BadInput(f"{self.source}: tensor {prefix}.num_batches_tracked has shape {list(count.shape)}, expected a scalar")
        if self.train:
            n = x.shape[0] * x.shape[2] * x.shape[3]
            if n < 2:
                raise BadInput(f"{self.source}: {prefix} sees {n} value per channel in train mode; PyTorch needs more than 1")
            batch_mean = x.mean(axis=(0, 2, 3))
            batch_var = ((x - batch_mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
            self.updated[prefix + ".running_mean"] = (1 - MOMENTUM) * mean + MOMENTUM * batch_mean
            self.updated[prefix + ".running_var"] = (1 - MOMENTUM) * var + MOMENTUM * batch_var * n / (n - 1)
            self.updated[prefix + ".num_batches_tracked"] = np.asarray(self.buffers[prefix + ".num_batches_tracked"]) + 1
            mean, var = batch_mean, batch_var
        scale = gamma / np.sqrt(var + EPS)
        return (x - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]

    def linear(self, x, prefix):
        w, b = self.tensor(prefix + ".weight", 2), self.tensor(prefix + ".bias", 1)
        if w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
            raise BadInput(f"{self.source}: tensors {prefix}.weight {list(w.shape)} and {prefix}.bias {list(b.shape)} "
                           f"do not fit an input of {x.shape[1]} features")
        return x @ w.T + b

    def dropout(self, x, name):
        mask = self.masks.pop(name, None)
        if not self.train:
            return x
        if mask is None:
            raise BadInput(f"train mode needs the keep mask of Dropout layer {name} as tensor dropout.{name} "
                           f"[{', '.join(map(str, x.shape))}] in the IO file")
        mask = np.asarray(mask, dtype=np.float64)
        if mask.shape != x.shape:
            raise BadInput(f"tensor dropout.{name} has shape {list(mask.shape)}, expected {list(x.shape)}")
        return x * mask / (1 - DROPOUT_P)


# MARK: - Architectures

def sequential_indices(names):
    """Module indices of an nn.Sequential state dict ("0.weight" -> 0), sorted."""
    return sorted({int(first) for first in (n.split(".")[0] for n in names) if first.isdigit()})


def forward_sequential(net, x):
    """mlp and cnn: convolutions (each followed by ReLU and MaxPool2d), Flatten, Linears with
    ReLU between; the index gaps of the names must be those of that nn.Sequential."""
    indices = sequential_indices(net.params)
    expected_next = 0
    linears = 0
    for position, i in enumerate(indices):
        last = position == len(indices) - 1
        weight = net.params.get(f"{i}.weight")
        if weight is not None and weight.ndim == 4:
            if linears or i != expected_next:
                raise BadInput(f"{net.source}: convolution {i}.weight is not where nn.Sequential would put it "
                               f"(expected index {expected_next})")
            x = maxpool2(relu(net.conv(x, str(i), bias=True)))
            expected_next = i + 3  # Conv2d, ReLU, MaxPool2d
        else:
            if linears == 0:
                x = x.reshape(x.shape[0], -1)
                expected_next += 1  # Flatten
            if i != expected_next:
                raise BadInput(f"{net.source}: linear layer {i}.weight is not where nn.Sequential would put it "
                               f"(expected index {expected_next})")
            x = net.linear(x, str(i))
            linears += 1
            if not last:
                x = relu(x)
            expected_next = i + 2  # Linear, ReLU
    if linears == 0:
        raise BadInput(f"{net.source}: no linear layer found")
    return x


def resnet_layout(names):
    """(block kind, blocks per stage) from names layerI.J.convK.weight."""
    counts = []
    while any(n.startswith(f"layer{len(counts) + 1}.0.") for n in names):
        stage = len(counts) + 1
        j = 0
        while f"layer{stage}.{j}.conv1.weight" in names:
            j += 1
        counts.append(j)
    kind = "bottleneck" if "layer1.0.conv3.weight" in names else "basic"
    return kind, tuple(counts)


def forward_resnet(net, x):
    kind, counts = resnet_layout(net.params)
    if not counts:
        raise BadInput(f"{net.source}: no residual blocks layerI.J.conv1.weight found")
    if 0 in counts:
        raise BadInput(f"{net.source}: missing tensor layer{counts.index(0) + 1}.0.conv1.weight")
    x = relu(net.batchnorm(net.conv(x, "conv1"), "bn1"))
    for stage, count in enumerate(counts, start=1):
        for j in range(count):
            p = f"layer{stage}.{j}"
            stride = 2 if j == 0 and stage > 1 else 1
            if kind == "basic":
                y = relu(net.batchnorm(net.conv(x, p + ".conv1", stride), p + ".bn1"))
                y = net.batchnorm(net.conv(y, p + ".conv2"), p + ".bn2")
            else:
                y = relu(net.batchnorm(net.conv(x, p + ".conv1"), p + ".bn1"))
                y = relu(net.batchnorm(net.conv(y, p + ".conv2", stride), p + ".bn2"))
                y = net.batchnorm(net.conv(y, p + ".conv3"), p + ".bn3")
            if net.has(p + ".shortcut.0.weight"):
                shortcut = net.batchnorm(net.conv(x, p + ".shortcut.0", stride), p + ".shortcut.1")
            else:
                shortcut = x
            if shortcut.shape != y.shape:
                raise BadInput(f"{net.source}: block {p} changes shape {list(x.shape[1:])} -> {list(y.shape[1:])} "
                               f"but has no {p}.shortcut.0.weight")
            x = relu(y + shortcut)
    x = x.mean(axis=(2, 3))  # adaptive average pool to 1x1, flatten
    return net.linear(x, "linear")


def forward_vgg(net, x):
    stage = 0
    while net.has(f"features.{stage}.0.weight"):
        k = 0
        while net.has(f"features.{stage}.{k}.weight"):
            p = f"features.{stage}"
            x = relu(net.batchnorm(net.conv(x, f"{p}.{k}", bias=True), f"{p}.{k + 1}"))
            k += 3  # Conv2d, BatchNorm2d, ReLU
        x = maxpool2(x)
        stage += 1
    x = x.reshape(x.shape[0], -1)
    linears = sorted({int(n.split(".")[1]) for n in net.params
                      if n.startswith("classifier.") and n.split(".")[1].isdigit()})
    if not linears:
        raise BadInput(f"{net.source}: no classifier.I.weight found")
    for position, i in enumerate(linears):
        x = net.linear(x, f"classifier.{i}")
        if position < len(linears) - 1:
            x = net.dropout(relu(x), f"classifier.{i + 2}")  # Linear, ReLU, Dropout
    return x


def detect_model(names):
    """The preset a set of state-dict names belongs to, from the names alone."""
    if "features.0.0.weight" in names:
        return "vgg16"
    if "conv1.weight" in names:
        layout = resnet_layout(names)
        return RESNET_DEPTHS.get(layout, f"resnet ({layout[0]} blocks {list(layout[1])})")
    if "0.weight" in names:
        return "cnn"
    if "1.weight" in names:
        return "mlp"
    return None


def forward(params, buffers, x, mode, model=None, dropout_masks=None, source="model"):
    """Logits [N, classes] (float64) of x [N, C, H, W] and the buffers after this forward pass.

    params and buffers map state-dict names to arrays (buffers: *.running_mean,
    *.running_var, *.num_batches_tracked; a combined dict may be passed as params).
    mode is "train" or "eval"; model (a preset name) is checked against the names when
    given; dropout_masks maps a Dropout layer name (e.g. "classifier.2") to its 0/1 keep
    mask, required in train mode. Raises BadInput when the names do not form a model.
    """
    params = dict(params)
    buffers = dict(buffers)
    for name in [n for n in params if is_buffer(n)]:
        buffers[name] = params.pop(name)
    names = set(params) | set(buffers)
    detected = detect_model(names)
    if detected is None:
        raise BadInput(f"{source}: the tensor names ({', '.join(sorted(names)[:4])}, ...) are not those of a known model")
    if model is not None and model != detected:
        raise BadInput(f"{source}: metadata says model {model} but the tensor names are those of {detected}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise BadInput(f"inputs must be [N, C, H, W], got shape {list(x.shape)}")
    net = Network(params, buffers, mode, dropout_masks, source)
    if detected == "vgg16":
        logits = forward_vgg(net, x)
    elif detected.startswith("resnet"):
        logits = forward_resnet(net, x)
    else:
        logits = forward_sequential(net, x)
    unused = sorted(names - net.used)
    if unused:
        raise BadInput(f"{source}: tensor {unused[0]} is not part of {detected}"
                       + (f" (nor {len(unused) - 1} more)" if len(unused) > 1 else ""))
    if net.masks:
        raise BadInput(f"dropout.{sorted(net.masks)[0]} names no Dropout layer of {detected}")
    return logits, {**buffers, **net.updated}


# MARK: - Files

def load_tensors(path, what):
    if not os.path.isfile(path):
        raise BadInput(f"{path}: no such file ({what})")
    try:
        tensors = load_file(path)
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
    except Exception as error:  # safetensors raises several types for malformed files
        raise BadInput(f"{path}: not a readable safetensors file ({what}): {error}")
    return tensors, metadata


def load_model(path):
    """(params, buffers, metadata) of a model.safetensors."""
    tensors, metadata = load_tensors(path, "model")
    params = {n: v for n, v in tensors.items() if not is_buffer(n)}
    buffers = {n: v for n, v in tensors.items() if is_buffer(n)}
    return params, buffers, metadata


def check_metadata(path, metadata, params):
    """The preset name from metadata (validated) and the expected input shape and classes."""
    model = metadata.get("model")
    if model is not None and model not in MODELS:
        raise BadInput(f"{path}: metadata model {model!r} is not one of {', '.join(MODELS)}")
    shape = None
    if "input_shape" in metadata:
        try:
            shape = tuple(int(v) for v in metadata["input_shape"].split(","))
            assert len(shape) == 3
        except (ValueError, AssertionError):
            raise BadInput(f"{path}: metadata input_shape {metadata['input_shape']!r} is not C,H,W")
    classes = None
    if "classes" in metadata:
        try:
            classes = int(metadata["classes"])
        except ValueError:
            raise BadInput(f"{path}: metadata classes {metadata['classes']!r} is not an integer")
    if model and model.startswith("resnet") and "conv1.weight" in params:
        width = params["conv1.weight"].shape[0]
        if "width" in metadata and metadata["width"] != str(width):
            raise BadInput(f"{path}: metadata width {metadata['width']} but tensor conv1.weight has {width} output channels")
    return model, shape, classes


def difference(actual, expected):
    """(max absolute difference, that divided by max(1, max |expected|))."""
    if expected.size == 0:
        return 0.0, 0.0
    absolute = float(np.abs(np.asarray(actual, np.float64) - expected).max())
    return absolute, absolute / max(1.0, float(np.abs(expected).max()))


def run(model_path, io_path, mode, verbose=False):
    """Compares; returns True when everything agrees. Raises BadInput."""
    if mode not in ("train", "eval"):
        raise BadInput(f"MODE must be train or eval, not {mode!r}")
    params, buffers, metadata = load_model(model_path)
    model, shape, classes = check_metadata(model_path, metadata, params)
    io, _ = load_tensors(io_path, "inputs and logits")
    for name in ("inputs", "logits"):
        if name not in io:
            raise BadInput(f"{io_path}: missing tensor {name}")
    x = io["inputs"]
    if shape is not None:
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != int(np.prod(shape)):
            raise BadInput(f"{io_path}: tensor inputs has shape {list(x.shape)}, expected [N, {', '.join(map(str, shape))}] "
                           f"(input_shape of {model_path})")
        x = x.reshape((x.shape[0],) + shape)
    elif x.ndim != 4:
        raise BadInput(f"{io_path}: tensor inputs has shape {list(x.shape)}, expected [N, C, H, W]")
    expected_logits = io["logits"].astype(np.float64)
    masks = {n[len("dropout."):]: v for n, v in io.items() if n.startswith("dropout.")}
    expected_buffers = {n[len("expected."):]: v for n, v in io.items() if n.startswith("expected.")}
    for name in sorted(set(io) - {"inputs", "logits"}):
        if not name.startswith(("dropout.", "expected.")):
            print(f"note: ignoring tensor {name} of {io_path}", file=sys.stderr)
    for name in expected_buffers:
        if name not in buffers:
            raise BadInput(f"{io_path}: tensor expected.{name} names no buffer of {model_path}")
    if mode == "eval" and masks:
        print(f"note: eval mode ignores the dropout masks of {io_path}", file=sys.stderr)
        masks = {}

    logits, updated = forward(params, buffers, x, mode, model, masks, source=model_path)
    if expected_logits.shape != logits.shape:
        raise BadInput(f"{io_path}: tensor logits has shape {list(expected_logits.shape)}, expected {list(logits.shape)}")
    if classes is not None and logits.shape[1] != classes:
        raise BadInput(f"{model_path}: metadata says {classes} classes but the last layer has {logits.shape[1]} outputs")

    name = model or detect_model(set(params) | set(buffers))
    print(f"{name}: {x.shape[0]} inputs {'x'.join(map(str, x.shape[1:]))}, {mode} mode")
    ok = True

    def report(label, absolute, relative, extra=""):
        nonlocal ok
        agrees = relative < TOLERANCE
        ok = ok and agrees
        print(f"  {label}: max abs difference {absolute:.3e}, relative {relative:.3e}{extra} "
              f"{'ok' if agrees else 'DIFFERS'}")

    report("logits", *difference(logits, expected_logits))
    for kind in BUFFER_KINDS:
        compared = sorted(n for n in expected_buffers if n.endswith("." + kind))
        if not compared:
            continue
        worst = (0.0, 0.0, compared[0])
        for n in compared:
            want = expected_buffers[n].astype(np.float64)
            if want.size != updated[n].size:
                raise BadInput(f"{io_path}: tensor expected.{n} has shape {list(want.shape)}, "
                               f"expected {list(np.shape(buffers[n]))}")
            absolute, relative = difference(np.reshape(updated[n], want.shape), want)
            if verbose:
                report(n, absolute, relative)
            elif relative >= TOLERANCE:
                report(n, absolute, relative)
            if (relative, absolute) > (worst[1], worst[0]):
                worst = (absolute, relative, n)
        report(f"{kind} ({len(compared)} tensors)", worst[0], worst[1], f" at {worst[2]}")
    print("agree" if ok else "DIFFER")
    return ok


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    if len(args) != 3 or args[2] not in ("train", "eval"):
        print("usage: numpy_reference.py [-v] MODEL.safetensors IO.safetensors train|eval", file=sys.stderr)
        return 2
    try:
        return 0 if run(args[0], args[1], args[2], verbose) else 1
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
