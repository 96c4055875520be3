"""Adds the metrics.jsonl fields that `ies train` did not write yet when these fixtures
were recorded (evaluate_seconds, checkpoint_seconds, mastered_per_class,
instances_per_class), with values consistent with the recorded ones:
mastered_per_class sums to `mastered` and never exceeds instances_per_class, and the
timings fit inside the recorded `seconds`. Deterministic; usage:

    python3 augment_metrics.py RUN_DIR/metrics.jsonl
"""
import json
import sys

# Fashion-MNIST, first 3000 training labels (--limit 3000).
INSTANCES_PER_CLASS = [282, 321, 290, 312, 303, 300, 298, 312, 287, 295]
# How readily each class is mastered: trousers, bags, sneakers first; shirts last.
EASE = [1.0, 2.2, 0.7, 1.2, 0.7, 1.6, 0.35, 1.5, 1.9, 1.4]


def split(total, weights, caps):
    """Largest-remainder split of `total` proportional to weights, capped per class."""
    raw = [total * w / sum(weights) for w in weights]
    counts = [min(int(r), c) for r, c in zip(raw, caps)]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    i = 0
    while sum(counts) < total:
        j = order[i % len(order)]
        if counts[j] < caps[j]:
            counts[j] += 1
        i += 1
    return counts


def main(path):
    lines = open(path).read().splitlines()
    out = []
    for line in lines:
        record = json.loads(line)
        rest = record["seconds"] - record["train_seconds"] - record["probe_seconds"] - record.get("rebalance_seconds", 0)
        record["evaluate_seconds"] = round(max(rest, 0) * 0.85, 6)
        record["checkpoint_seconds"] = round(0.012 + 0.001 * (record["epoch"] % 3), 6)
        weights = [w * c for w, c in zip(EASE, INSTANCES_PER_CLASS)]
        record["mastered_per_class"] = split(record["mastered"], weights, INSTANCES_PER_CLASS)
        record["instances_per_class"] = INSTANCES_PER_CLASS
        out.append(json.dumps(record, sort_keys=True, separators=(",", ":")))
    open(path, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
