#!/usr/bin/env bash
# Load rebalancing (issue: Global load rebalancing): cnn, full Fashion-MNIST, whole classes
# per rank, 2 ranks x 1 thread, 15 epochs, --rebalance on vs off, in one session.
# Usage: scripts/experiments/rebalance.sh [OUT_DIR] [EPOCHS]
set -euo pipefail
out=${1:-runs/rebalance}
epochs=${2:-15}
mpirun=(mpirun --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
for mode in off on; do
    rm -rf "$out/$mode"
    "${mpirun[@]}" -np 2 .build/release/ies train --model cnn --epochs "$epochs" --shard-by class --threads 1 \
        --rebalance "$mode" --checkpoint-every 0 --no-progress --run-dir "$out/$mode" | tail -1
done
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def imbalance(counts):
    total = sum(counts)
    return max(counts) * len(counts) / total if total else 1.0
result = {}
print("| rebalance | first epoch with mastered | mean epoch s (from it) | idle ms/step (max-min allreduce wait) | "
      "best acc % | final acc % | backprop saved | mean imbalance before | max imbalance after a rebalance | moved |")
print("|---|---|---|---|---|---|---|---|---|---|")
for mode in ("off", "on"):
    m = [json.loads(l) for l in open(f"{out}/{mode}/metrics.jsonl")]
    first = next((i for i, e in enumerate(m) if e["probed"] > 0), len(m))  # first epoch with mastered instances
    tail = m[first:]
    mean_epoch = statistics.mean(e["seconds"] for e in tail) if tail else float("nan")
    idle = statistics.mean(
        1000 * (max(e["allreduce_seconds_per_rank"]) - min(e["allreduce_seconds_per_rank"])) / max(1, e["steps"])
        for e in tail) if tail else float("nan")
    # epochs whose unmastered counts were rebalanced (imbalance above the 5% tolerance)
    after = [imbalance(e["unmastered_per_rank_after"]) for e in m if imbalance(e["unmastered_per_rank_before"]) > 1.05]
    mean_before = statistics.mean(imbalance(e["unmastered_per_rank_before"]) for e in tail) if tail else float("nan")
    result[mode] = mean_epoch
    print(f"| {mode} | {first + 1} | {mean_epoch:.2f} | {idle:.3f} | "
          f"{max(e['test_accuracy'] for e in m) * 100:.2f} | {m[-1]['test_accuracy'] * 100:.2f} | "
          f"{m[-1]['backprop_saved'] * 100:.1f}% | {mean_before:.3f} | {max(after) if after else float('nan'):.4f} | "
          f"{sum(e['instances_moved'] for e in m)} |")
    print("   per epoch (s, imbalance before->after): " + ", ".join(
        f"{e['seconds']:.1f} ({imbalance(e['unmastered_per_rank_before']):.3f}->{imbalance(e['unmastered_per_rank_after']):.3f})"
        for e in m))
print(f"mean epoch time off/on from the first epoch with mastered instances: {result['off'] / result['on']:.3f}")
PY
