#!/usr/bin/env python3
"""Summarize ies run directories (metrics.jsonl) into Markdown tables.

Usage:
  summarize.py BASELINE_RUN_DIR RUN_DIR...
      one row per run; speedups are relative to the first (baseline) run directory.
  summarize.py --seeds NAME=DIR,DIR,... NAME=DIR,DIR,...
      mean and spread (min-max) over seeds for each named group; the first group is the
      baseline, and each seed's speedup is taken against the baseline run of the same seed
      (the runs of a seed ran at the same time, sharing the machine alike).

Speedup (normalized): each epoch's wall time divided by that epoch's own training time per
trained instance (the machine's speed at that moment, as the run itself saw it), summed: the
run's cost in trained-instance equivalents. Its ratio to the baseline's is the speedup at equal
machine speed, for runs that shared a machine whose speed changed during the runs (runs that
ran side by side measured equal per-instance costs at the same moments).

Backprop saved s: share of instance-epochs not backpropagated. Forward passes saved f: share
of instance-epochs with neither a training pass nor a probe. Ceilings: 1/(1 - 2s/3) when every
mastered instance is probed each epoch (a probe costs a third of a trained instance), 1/(1 - s)
without probes.
"""
import json
import statistics
import sys


def load(run):
    with open(f"{run}/metrics.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def figures(run):
    m = load(run)
    instances = m[0]["trained"] + m[0].get("probed", 0)
    epochs = len(m)
    trained = sum(e["trained"] for e in m)
    probed = sum(e.get("probed", 0) for e in m)
    return {
        "best": max(e["test_accuracy"] for e in m) * 100,
        "final": m[-1]["test_accuracy"] * 100,
        "saved": 1 - trained / (instances * epochs),
        "forward_saved": 1 - (trained + probed) / (instances * epochs),
        "wall": sum(e["seconds"] for e in m),
        "probe_s": sum(e.get("probe_seconds", 0) for e in m),
        "units": sum(e["seconds"] * e["trained"] / e["train_seconds"] for e in m if e["trained"] > 0),
    }


def ceilings(saved):
    return 1 / (1 - 2 * saved / 3), 1 / (1 - saved)


def per_run(runs):
    base = figures(runs[0])
    print("| run | best acc % | final acc % | backprop saved | forward passes saved | wall s | probe s | "
          "speedup (wall) | speedup (normalized) | ceiling with probe every epoch / without probe |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        f = figures(run)
        with_probe, without = ceilings(f["saved"])
        print(f"| {run.rstrip('/').split('/')[-1]} | {f['best']:.2f} | {f['final']:.2f} | {f['saved'] * 100:.1f}% | "
              f"{f['forward_saved'] * 100:.1f}% | {f['wall']:.1f} | {f['probe_s']:.1f} | "
              f"{base['wall'] / f['wall']:.3f} | {base['units'] / f['units']:.3f} | {with_probe:.3f} / {without:.3f} |")


def spread(values, fmt):
    return f"{fmt.format(statistics.mean(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def seeds(groups):
    named = [(g.split("=", 1)[0], g.split("=", 1)[1].split(",")) for g in groups]
    base_runs = [figures(r) for r in named[0][1]]
    print("| schedule | seeds | best acc % | final acc % | backprop saved % | forward passes saved % | "
          "speedup (wall) | speedup (normalized) | ceiling without probe |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, runs in named:
        fs = [figures(r) for r in runs]
        speedups = [b["wall"] / f["wall"] for b, f in zip(base_runs, fs)]
        normalized = [b["units"] / f["units"] for b, f in zip(base_runs, fs)]
        print(f"| {name} | {len(fs)} | {spread([f['best'] for f in fs], '{:.2f}')} | "
              f"{spread([f['final'] for f in fs], '{:.2f}')} | {spread([f['saved'] * 100 for f in fs], '{:.1f}')} | "
              f"{spread([f['forward_saved'] * 100 for f in fs], '{:.1f}')} | {spread(speedups, '{:.3f}')} | {spread(normalized, '{:.3f}')} | "
              f"{spread([ceilings(f['saved'])[1] for f in fs], '{:.3f}')} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--seeds":
        seeds(sys.argv[2:])
    elif len(sys.argv) > 1:
        per_run(sys.argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
