#!/usr/bin/env bash
# The gradient buckets' MPI_Iallreduce algorithm over a constrained network: 2 hosts x 1
# rank against 1 rank on a cluster-sim bed (tc tbf at RATE), overlap on, with ies's choice
# of libnbc algorithm (the default: recursive doubling for 2 ranks) and with OpenMPI's own
# (`--mca coll_libnbc_iallreduce_algorithm 0`: a binomial tree for in-place calls), fp32 and
# bf16 gradients. One thread per rank, IES off, --batch-size-per-rank 64, ROUNDS interleaved
# rounds; prints the median samples/s of the training pass and rank 0's wait per step.
# Usage: scripts/experiments/allreduce-algorithm.sh [OUT_DIR] [RATE] [ROUNDS] [MODELS...]
# Needs root (network namespaces).
set -euo pipefail
out=${1:-runs/allreduce-algorithm}
rate=${2:-1gbit}
rounds=${3:-3}
shift $(( $# > 3 ? 3 : $# ))
models=("${@:-cnn}")
ies=$PWD/.build/release/ies
sim=scripts/cluster-sim/cluster-sim
bed=ared$$
trap '$sim down $bed >/dev/null 2>&1 || true' EXIT
$sim up $bed 2 --rate "$rate" >/dev/null
mkdir -p "$out"
common=(--ies-threshold 0 --threads 1 --checkpoint-every 0 --no-progress --epochs 1 --limit 12800 --test-limit 256 --stall-timeout 0)
configs=(single ies openmpi ies-bf16 openmpi-bf16)
for model in "${models[@]}"; do
    extra=()
    [[ $model == resnet18 ]] && extra=(--width 16)
    for round in $(seq 1 "$rounds"); do
        for config in "${configs[@]}"; do
            run=$out/$model-$config-$round
            rm -rf "$run"
            if [[ $config == single ]]; then
                "$ies" train --model "$model" "${extra[@]}" "${common[@]}" --batch-size 64 --run-dir "$run" >/dev/null
                continue
            fi
            mca=()
            [[ $config == openmpi* ]] && mca=(--mca coll_libnbc_iallreduce_algorithm 0)
            dtype=()
            [[ $config == *bf16 ]] && dtype=(--allreduce-dtype bf16)
            $sim mpirun $bed -np 2 "${mca[@]}" "$ies" train --model "$model" "${extra[@]}" "${common[@]}" \
                --batch-size-per-rank 64 --overlap on "${dtype[@]}" --run-dir "$run" >/dev/null
        done
    done
done
python3 - "$out" "$rounds" "${configs[*]}" "${models[@]}" <<'PY'
import json, statistics, sys
out, rounds, configs, models = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
def read(run):
    m = json.loads(open(f"{out}/{run}/metrics.jsonl").readline())
    return m["samples_per_second"], 1000 * m["allreduce_seconds"] / max(1, m["steps"])
print("| model | round | " + " | ".join(f"{c} samples/s | wait ms" if c != "single" else "1 rank samples/s" for c in configs)
      + " | speedup ies | speedup openmpi | bf16: ies | bf16: openmpi |")
print("|---" * (3 + 2 * len(configs) - 1 + 4) + "|")
for model in models:
    for i in list(range(1, rounds + 1)) + ["median"]:
        if i == "median":
            r = {c: tuple(statistics.median(read(f"{model}-{c}-{j}")[k] for j in range(1, rounds + 1)) for k in (0, 1))
                 for c in configs}
        else:
            r = {c: read(f"{model}-{c}-{i}") for c in configs}
        cells = [f"{r[c][0]:.0f}" if c == "single" else f"{r[c][0]:.0f} | {r[c][1]:.1f}" for c in configs]
        s = r["single"][0]
        print(f"| {model} | {i} | " + " | ".join(cells) + f" | {r['ies'][0]/s:.2f}x | {r['openmpi'][0]/s:.2f}x | "
              f"{r['ies-bf16'][0]/s:.2f}x | {r['openmpi-bf16'][0]/s:.2f}x |")
PY
