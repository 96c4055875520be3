#!/usr/bin/env bash
# 2 ranks x 1 thread against 1 rank x 1 thread on one node: a cnn run of 2 epochs over 20,000
# Fashion-MNIST instances with IES off, ROUNDS times, printing each run's last-epoch
# samples/s; each 2-rank run also prints its step time split into the time each rank spent
# waiting for the gradient reduction and the rest (ms per step, from metrics.jsonl).
# Every VARIANT (a quoted string of extra flags, e.g. "--overlap on") is one more 2-rank
# run per round, interleaved; without any, one run with the defaults. Runs in the current
# directory (run directories `one` and `two`).
# Usage: scripts/experiments/cnn-ranks.sh IES [ROUNDS [VARIANT...]]
set -uo pipefail
[ $# -ge 1 ] || { sed -n 2,9p "$0"; exit 2; }
ies=$1 rounds=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=("")
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
log() { echo "== $(date +%T) $*"; }
epoch=(--model cnn --limit 20000 --test-limit 2000 --epochs 2 --ies-threshold 0 --no-progress --checkpoint-every 0)
samples() { tail -n 1 "$1/metrics.jsonl" | grep -o '"samples_per_second":[0-9.]*'; }
split() {
    tail -n 1 "$1/metrics.jsonl" | python3 -c '
import json, sys
m = json.load(sys.stdin)
step = m["train_seconds"] / m["steps"] * 1e3
waits = [w / m["steps"] * 1e3 for w in m["allreduce_seconds_per_rank"]]
print("step %.2f ms; per rank: wait %s, rest %s" % (
    step, " ".join("%.2f" % w for w in waits), " ".join("%.2f" % (step - w) for w in waits)))'
}
for round in $(seq "$rounds"); do
    rm -rf one two
    log "1 rank x 1 thread $round"; "$ies" train "${epoch[@]}" --threads 1 --run-dir one > /dev/null; samples one
    for variant in "${variants[@]}"; do
        rm -rf two
        log "2 ranks x 1 thread $round${variant:+ ($variant)}"
        # shellcheck disable=SC2086  # a variant is a list of flags
        mpirun --oversubscribe --bind-to none -np 2 "$ies" train "${epoch[@]}" --threads 1 --run-dir two $variant > /dev/null
        samples two
        split two
    done
done
