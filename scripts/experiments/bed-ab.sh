#!/usr/bin/env bash
# Builds or settings side by side on the cluster-sim bed: 2 hosts x 1 rank at RATE (default
# 1gbit), against one rank alone, in ROUNDS interleaved rounds; IES off, one thread per rank,
# batch 64 per rank, one epoch of LIMIT instances (default 38400). Prints, per run, samples/s,
# ms per step and each rank's wait per step; then per configuration the speedups over the
# round's one-rank run and their median.
#
# Usage: scripts/experiments/bed-ab.sh OUT_DIR ROUNDS SPEC...
#   SPEC = LABEL:BINARY[:IES_ARGS[:MPIRUN_ARGS]]
#   LABEL single*: one rank alone (the reference; give one per round)
#   LABEL local*:  2 ranks on this host (plain mpirun), not on the bed
#   otherwise:     2 ranks on the bed's two hosts
#   LABEL ending in -pinned: each rank pinned to CPU (its rank) with taskset, as if each
#   simulated host had a core of its own.
# Environment: MODEL (cnn), MODELARGS (e.g. "--width 16"), LIMIT, RATE.
# Example: scripts/experiments/bed-ab.sh runs/bed-ab 6 single:A/ies bf16:A/ies:"--allreduce-dtype bf16" \
#            bf16-new:B/ies:"--allreduce-dtype bf16"
# Needs root (network namespaces). Never sets OPENBLAS_* variables.
set -euo pipefail
out=$1
rounds=$2
shift 2
sim=$(cd "$(dirname "$0")/../cluster-sim" && pwd)/cluster-sim
bed=bedab$$
trap '$sim down $bed >/dev/null 2>&1 || true' EXIT
$sim up $bed 2 --rate "${RATE:-1gbit}" >/dev/null
mkdir -p "$out"
read -r -a model_args <<<"${MODELARGS:-}"
common=(--ies-threshold 0 --threads 1 --checkpoint-every 0 --no-progress --epochs 1 --limit "${LIMIT:-38400}"
    --test-limit 256 --stall-timeout 0 --model "${MODEL:-cnn}" "${model_args[@]}")
pin=(sh -c 'exec taskset -c "$OMPI_COMM_WORLD_RANK" "$0" "$@"')
for round in $(seq 1 "$rounds"); do
    for spec in "$@"; do
        IFS=: read -r label binary ies_args mpirun_args <<<"$spec"
        read -r -a ies_extra <<<"${ies_args:-}"
        read -r -a mpi_extra <<<"${mpirun_args:-}"
        run=$out/$label-$round
        rm -rf "$run"
        launch=("$binary")
        [[ $label == *-pinned ]] && launch=("${pin[@]}" "$binary")
        train=(train "${common[@]}" --batch-size-per-rank 64 --run-dir "$run" "${ies_extra[@]}")
        case $label in
            single*) "$binary" train "${common[@]}" --batch-size 64 --run-dir "$run" "${ies_extra[@]}" >/dev/null ;;
            local*) OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none \
                -np 2 "${mpi_extra[@]}" "${launch[@]}" "${train[@]}" >/dev/null ;;
            *) $sim mpirun $bed -np 2 "${mpi_extra[@]}" "${launch[@]}" "${train[@]}" >/dev/null ;;
        esac
        python3 - "$run" "$label" <<'PY'
import json, sys
m = json.loads(open(sys.argv[1] + "/metrics.jsonl").readline())
waits = [round(1000 * w / m["steps"], 2) for w in m.get("allreduce_seconds_per_rank", [0])]
print(f"{sys.argv[2]:16s} {m['samples_per_second']:7.0f} samples/s  {1000 * m['train_seconds'] / m['steps']:6.2f} ms/step  wait {waits}")
PY
    done
done
python3 - "$out" "$rounds" "$@" <<'PY'
import json, statistics, sys
out, rounds, labels = sys.argv[1], int(sys.argv[2]), [s.split(":")[0] for s in sys.argv[3:]]
rate = lambda run: json.loads(open(f"{out}/{run}/metrics.jsonl").readline())["samples_per_second"]
single = next(l for l in labels if l.startswith("single"))
for label in labels:
    if label == single: continue
    ratios = [rate(f"{label}-{r}") / rate(f"{single}-{r}") for r in range(1, rounds + 1)]
    print(f"{label:16s} x one rank: {' '.join(f'{x:.2f}' for x in ratios)}  median {statistics.median(ratios):.2f}")
PY
