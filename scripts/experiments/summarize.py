#!/usr/bin/env python3
"""Summarize ies run directories (metrics.jsonl) into a Markdown table.

Usage: summarize.py BASELINE_RUN_DIR RUN_DIR...
Speedups are relative to the first (baseline) run directory.
"""
import json
import sys


def load(run):
    with open(f"{run}/metrics.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def row(run, base_wall, base_train):
    m = load(run)
    wall = sum(e["seconds"] for e in m)
    train = sum(e["train_seconds"] + e.get("probe_seconds", 0) for e in m)
    saved = m[-1].get("backprop_saved", 0.0)
    ideal = 1 / (1 - 2 * saved / 3)
    return (f"| {run.rstrip('/').split('/')[-1]} | {max(e['test_accuracy'] for e in m) * 100:.2f} | "
            f"{m[-1]['test_accuracy'] * 100:.2f} | {saved * 100:.1f}% | {wall:.1f} | {train:.1f} | "
            f"{base_wall / wall:.3f} | {base_train / train:.3f} | {ideal:.3f} |")


def main():
    runs = sys.argv[1:]
    base = load(runs[0])
    base_wall = sum(e["seconds"] for e in base)
    base_train = sum(e["train_seconds"] + e.get("probe_seconds", 0) for e in base)
    print("| run | best acc % | final acc % | backprop saved | wall s | train+probe s | "
          "speedup (wall) | speedup (train+probe) | ideal 1/(1-2s/3) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        print(row(run, base_wall, base_train))


if __name__ == "__main__":
    main()
