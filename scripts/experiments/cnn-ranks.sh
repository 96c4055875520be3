#!/usr/bin/env bash
# 2 ranks x 1 thread against 1 rank x 1 thread on one node: a cnn run of 2 epochs over 20,000
# Fashion-MNIST instances with IES off, ROUNDS times, printing each run's last-epoch
# samples/s. Runs in the current directory (run directories `one` and `two`).
# Usage: scripts/experiments/cnn-ranks.sh IES [ROUNDS]
set -uo pipefail
[ $# -ge 1 ] || { sed -n 2,5p "$0"; exit 2; }
ies=$1 rounds=${2:-3}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
log() { echo "== $(date +%T) $*"; }
epoch=(--model cnn --limit 20000 --test-limit 2000 --epochs 2 --ies-threshold 0 --no-progress --checkpoint-every 0)
samples() { tail -n 1 "$1/metrics.jsonl" | grep -o '"samples_per_second":[0-9.]*'; }
for round in $(seq "$rounds"); do
    rm -rf one two
    log "1 rank x 1 thread $round"; "$ies" train "${epoch[@]}" --threads 1 --run-dir one > /dev/null; samples one
    log "2 ranks x 1 thread $round"
    mpirun --oversubscribe --bind-to none -np 2 "$ies" train "${epoch[@]}" --threads 1 --run-dir two > /dev/null
    samples two
done
