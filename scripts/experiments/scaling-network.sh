#!/usr/bin/env bash
# Scaling over a constrained network (issue "Scaling out"): 2 hosts x 1 rank against 1 rank,
# on a cluster-sim bed whose links are rate-limited (tc tbf), with gradient buckets reduced
# during backward (--overlap on) and after it (off). One OpenBLAS thread per rank, IES off
# (same work everywhere), --batch-size-per-rank 64 (and, for the global batch of 64, 32 per
# rank on 2 ranks). Runs are interleaved (1 rank, 2 hosts on, 2 hosts off) ROUNDS times and
# the median samples/s of each is reported, from metrics.jsonl (training pass only).
# Usage: scripts/experiments/scaling-network.sh [OUT_DIR] [RATE] [ROUNDS] [MODELS...]
# Needs root (network namespaces).
set -euo pipefail
out=${1:-runs/scaling-network}
rate=${2:-1gbit}
rounds=${3:-3}
shift $(( $# > 3 ? 3 : $# ))
models=("${@:-mlp cnn}")
[ ${#models[@]} -eq 1 ] && read -r -a models <<< "${models[0]}"
ies=$PWD/.build/release/ies
sim=scripts/cluster-sim/cluster-sim
bed=scale$$
trap '$sim down $bed >/dev/null 2>&1 || true' EXIT
$sim up $bed 2 --rate "$rate" >/dev/null
mkdir -p "$out"
limit=12800
common=(--ies-threshold 0 --threads 1 --checkpoint-every 0 --no-progress --epochs 1 --limit $limit --test-limit 256 --stall-timeout 0)
for model in "${models[@]}"; do
    extra=()
    [[ $model == resnet18 ]] && extra=(--width 16)
    for round in $(seq 1 "$rounds"); do
        for config in single on off bf16 global; do
            run=$out/$model-$config-$round
            rm -rf "$run"
            case $config in
            single) "$ies" train --model "$model" "${extra[@]}" "${common[@]}" --batch-size 64 --run-dir "$run" >/dev/null ;;
            on|off) $sim mpirun $bed -np 2 "$ies" train --model "$model" "${extra[@]}" "${common[@]}" \
                        --batch-size-per-rank 64 --overlap $config --run-dir "$run" >/dev/null ;;
            bf16) $sim mpirun $bed -np 2 "$ies" train --model "$model" "${extra[@]}" "${common[@]}" \
                        --batch-size-per-rank 64 --overlap on --allreduce-dtype bf16 --run-dir "$run" >/dev/null ;;
            global) $sim mpirun $bed -np 2 "$ies" train --model "$model" "${extra[@]}" "${common[@]}" \
                        --batch-size 64 --overlap on --run-dir "$run" >/dev/null ;;
            esac
        done
    done
done
python3 - "$out" "$rounds" "${models[@]}" <<'PY'
import json, statistics, sys
out, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def read(run):
    m = json.loads(open(f"{out}/{run}/metrics.jsonl").readline())
    return m["samples_per_second"], 1000 * m["allreduce_seconds"] / max(1, m["steps"]), m["train_seconds"]
print("| model | 1 rank samples/s | 2 hosts, overlap on | speedup | wait ms/step | overlap off | speedup | wait ms/step | overlap on + bf16 | speedup | wait ms/step | global batch 64 (overlap on) | speedup |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for model in models:
    r = {c: [read(f"{model}-{c}-{i}") for i in range(1, rounds + 1)] for c in ("single", "on", "off", "bf16", "global")}
    med = {c: statistics.median(x[0] for x in v) for c, v in r.items()}
    wait = {c: statistics.median(x[1] for x in v) for c, v in r.items()}
    print(f"| {model} | {med['single']:.0f} | {med['on']:.0f} | {med['on']/med['single']:.2f}x | {wait['on']:.1f} | "
          f"{med['off']:.0f} | {med['off']/med['single']:.2f}x | {wait['off']:.1f} | "
          f"{med['bf16']:.0f} | {med['bf16']/med['single']:.2f}x | {wait['bf16']:.1f} | "
          f"{med['global']:.0f} | {med['global']/med['single']:.2f}x |")
PY
