#!/usr/bin/env python3
"""Per-module CPU profile of one PyTorch training step, to compare layer by layer with
`ies bench --layers MODEL`.

The step is the one shared/peers/torch_bench.py times (and `ies bench`): batch B of
random inputs, forward, per-instance cross-entropy, backward of the mean,
SGD(lr 0.01, momentum 0.9, weight decay 5e-4). The models are the PyTorch twins of
torch_models.py (found in $IES_PEERS or the project's shared/peers/), so module names are
the state-dict prefixes: `conv1`, `layer1.0.conv1`, `0`, `3`, `features.0.1`...

How: every module's forward runs inside a torch.profiler record_function scope named
after it; a module's forward time is its scope's time less that of the modules inside
it (so a ResNet block's own row is its functional ReLUs and residual add, and the
model's own row, `(model)`, is what its forward does outside any submodule: the ReLU
after bn1, pooling, flatten). Every autograd node carries the sequence number of the
forward op that created it, which gives each backward node to the module whose scope
that op ran in. nn.Sequential containers get no row (they only call their children);
`(outside the rows above)` is what the step spends elsewhere (autograd engine, hooks).
Times are averaged over the profiled steps, after warm-up; the share is of the profiled
step. The profiler adds a few microseconds per op, so the table's step is a bit slower
than the plain step (median of unprofiled steps), whose time is printed too.

On a shared machine, profile when it is otherwise idle: with more runnable threads than
cores, every multi-threaded op waits for descheduled threads and all times inflate.

Usage: torch-profile.py MODEL THREADS [C H W CLASSES WIDTH BATCH] [--steps N] [--ops N]
  MODEL     mlp, cnn, resnet18, resnet34, resnet50, vgg16 (vgg16 needs 3 32 32)
  defaults  C H W CLASSES WIDTH BATCH = 1 28 28 10 64 64 (as torch_bench.py)
  --steps N profiled steps (default 20)
  --ops N   also print PyTorch's own table of the N costliest operators, grouped by
            operator and input shape (default 0: not printed)
Run with a Python that has torch, e.g. ~/torchenv/bin/python.
"""
import contextlib
import os
import sys
import time

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile, record_function



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

SCOPE = "module::"
BACKWARD_NODE = "autograd::engine::evaluate_function: "
PHASES = ("zero_grad", "forward", "loss", "backward", "optimizer")


@contextlib.contextmanager
def quiet_stderr():
    """Sends file descriptor 2 to /dev/null for the duration (C++ logging included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def parse(argv):
    options = {"--steps": 20, "--ops": 0}
    positional = []
    i = 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv):
            options[argv[i]] = int(argv[i + 1])
            i += 2
        elif argv[i] in ("-h", "--help"):
            raise SystemExit(__doc__)
        else:
            positional.append(argv[i])
            i += 1
    if len(positional) < 2 or len(positional) > 8:
        raise SystemExit(__doc__)
    model, threads = positional[0], int(positional[1])
    c, h, w, k, width, batch = list(map(int, positional[2:8])) + [1, 28, 28, 10, 64, 64][len(positional[2:8]):]
    return model, threads, (c, h, w, k, width, batch), options["--steps"], options["--ops"]


def scope_hooks(net):
    """Forward pre/post hooks opening and closing a record_function scope per module."""
    stack = []

    def enter(module, inputs, name):
        scope = record_function(SCOPE + (name or "(model)"))
        scope.__enter__()
        stack.append(scope)

    def leave(module, inputs, output):
        stack.pop().__exit__(None, None, None)

    handles = []
    for name, module in net.named_modules():
        handles.append(module.register_forward_pre_hook(lambda m, i, name=name: enter(m, i, name)))
        handles.append(module.register_forward_hook(leave))
    return handles


def enclosing(event, prefix):
    """The nearest ancestor of event (or event itself) whose name starts with prefix."""
    while event is not None and not event.name.startswith(prefix):
        event = event.cpu_parent
    return event


def attribute(events):
    """{row: [forward us, backward us]} summed over all profiled steps, and phase totals."""
    rows = {}
    phases = {p: 0.0 for p in PHASES}
    seq_scope = {}  # forward sequence number -> (start, row)

    def add(row, column, microseconds):
        rows.setdefault(row, [0.0, 0.0])[column] += microseconds

    for e in events:
        if e.name.startswith("step::") and e.cpu_parent is None:
            phases[e.name[len("step::"):]] += e.cpu_time_total
        if e.name.startswith(SCOPE):
            inner = sum(child_scope_time(e))
            add(e.name[len(SCOPE):], 0, e.cpu_time_total - inner)
        elif e.sequence_nr >= 0 and not e.name.startswith(BACKWARD_NODE):
            phase = enclosing(e, "step::")
            if phase is not None and phase.name in ("step::forward", "step::loss"):
                scope = enclosing(e, SCOPE)
                row = scope.name[len(SCOPE):] if scope is not None else "(loss)"
                start = e.time_range.start
                if e.sequence_nr not in seq_scope or seq_scope[e.sequence_nr][0] < start:
                    seq_scope[e.sequence_nr] = (start, row)
    add("(loss)", 0, phases["loss"])
    for e in events:
        if e.name.startswith(BACKWARD_NODE) and enclosing(e.cpu_parent, BACKWARD_NODE) is None:
            node = e.name[len(BACKWARD_NODE):]
            if e.sequence_nr in seq_scope:
                add(seq_scope[e.sequence_nr][1], 1, e.cpu_time_total)
            elif "AccumulateGrad" in node:
                add("(backward: gradient accumulation)", 1, e.cpu_time_total)
            else:
                add(f"(backward: {node})", 1, e.cpu_time_total)
    return rows, phases


def child_scope_time(scope):
    """Times of the module scopes directly inside scope (nested at any op depth)."""
    pending = list(scope.cpu_children)
    while pending:
        child = pending.pop()
        if child.name.startswith(SCOPE):
            yield child.cpu_time_total
        else:
            pending.extend(child.cpu_children)


def main():
    model, threads, (c, h, w, k, width, batch), steps, ops = parse(sys.argv[1:])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build(model, c, h, w, k, width)
    net.train()
    # Full-module backward hooks are not used, so in-place ReLUs can stay as they are.
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, c, h, w)
    y = torch.randint(0, k, (batch,))
    ce = nn.CrossEntropyLoss(reduction="none")

    def step():
        with record_function("step::zero_grad"):
            opt.zero_grad(set_to_none=True)
        with record_function("step::forward"):
            out = net(x)
        with record_function("step::loss"):
            loss = ce(out, y).mean()
        with record_function("step::backward"):
            loss.backward()
        with record_function("step::optimizer"):
            opt.step()

    for _ in range(5):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    plain = sorted(times)[len(times) // 2] * 1e3

    handles = scope_hooks(net)
    for _ in range(2):
        step()
    prof = profile(activities=[ProfilerActivity.CPU], record_shapes=ops > 0)
    with quiet_stderr():  # the profiler's C++ side logs its start and stop there
        prof.__enter__()
    try:
        for _ in range(steps):
            step()
    finally:
        with quiet_stderr():
            prof.__exit__(None, None, None)
    for handle in handles:
        handle.remove()
    events = prof.events()
    rows, phases = attribute(events)

    profiled = sum(phases.values()) / steps / 1e3
    kinds = {name or "(model)": type(module).__name__ for name, module in net.named_modules()}
    print(f"torch {torch.__version__} {model} c{c} {h}x{w} classes {k}"
          + (f" width {width}" if model.startswith("resnet") else "")
          + f" batch {batch} threads {threads}: {steps} steps, "
          f"plain step {plain:.2f} ms (median), profiled step {profiled:.2f} ms")
    print(f"{'module':<34} {'type':<18} {'forward ms':>10} {'backward ms':>11} {'total ms':>9} {'share':>6}")

    def line(name, kind, forward, backward):
        total = forward + backward
        print(f"{name:<34} {kind:<18} {forward:>10.3f} {backward:>11.3f} {total:>9.3f} "
              f"{100 * total / profiled:>5.1f}%")

    # nn.Sequential containers only call their children: their own time (hook overhead) is
    # left to the "outside" row, and an empty one (an identity shortcut) has no row.
    order = [name for name in kinds if name in rows and kinds[name] != "Sequential"]
    order += [r for r in rows if r not in kinds]
    accounted = 0.0
    by_kind = {}
    for name in order:
        forward, backward = (v / steps / 1e3 for v in rows[name])
        accounted += forward + backward
        line(name, kinds.get(name, ""), forward, backward)
        kind = kinds.get(name, name) if name in kinds and name != "(model)" else name
        by_kind.setdefault(kind, [0.0, 0.0, 0])
        by_kind[kind][0] += forward
        by_kind[kind][1] += backward
        by_kind[kind][2] += 1
    for phase in ("zero_grad", "optimizer"):
        value = phases[phase] / steps / 1e3
        accounted += value
        line(f"({phase})", "", value, 0.0)
    line("(outside the rows above)", "", profiled - accounted, 0.0)
    print(f"{'step':<34} {'':<18} {phases['forward'] / steps / 1e3:>10.3f} "
          f"{phases['backward'] / steps / 1e3:>11.3f} {profiled:>9.3f} 100.0%")
    print()
    print(f"{'by type':<34} {'modules':<18} {'forward ms':>10} {'backward ms':>11} {'total ms':>9} {'share':>6}")
    for kind, (forward, backward, count) in sorted(by_kind.items(), key=lambda item: -(item[1][0] + item[1][1])):
        line(kind, str(count), forward, backward)
    if ops > 0:
        print()
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=ops))


if __name__ == "__main__":
    main()
