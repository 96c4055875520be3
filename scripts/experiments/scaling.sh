#!/usr/bin/env bash
# Data-parallel scaling (issue: Distributed): cnn on full Fashion-MNIST, one OpenBLAS
# thread per rank, IES off (same work at every rank count), 1 rank vs 2 ranks in one session.
# Usage: scripts/experiments/scaling.sh [OUT_DIR] [EPOCHS]
set -euo pipefail
out=${1:-runs/scaling}
epochs=${2:-3}
mpirun=(mpirun --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
for np in 1 2; do
    rm -rf "$out/np$np"
    "${mpirun[@]}" -np "$np" .build/release/ies train --model cnn --epochs "$epochs" --ies-threshold 0 \
        --threads 1 --checkpoint-every 0 --no-progress --run-dir "$out/np$np" | tail -1
done
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
rows = {}
for np in (1, 2):
    m = [json.loads(l) for l in open(f"{out}/np{np}/metrics.jsonl")]
    sps = statistics.median(e["samples_per_second"] for e in m)
    per_step_ms = statistics.median(1000 * e["allreduce_seconds"] / e["steps"] for e in m)
    fraction = statistics.median(e["allreduce_seconds"] / e["train_seconds"] for e in m)
    rows[np] = sps
    print(f"| {np} | {sps:.0f} | {per_step_ms:.3f} | {100 * fraction:.1f}% |")
print(f"speedup 2 ranks / 1 rank: {rows[2] / rows[1]:.3f}")
PY
