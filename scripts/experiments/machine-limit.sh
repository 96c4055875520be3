#!/usr/bin/env bash
# Issue 23's figures on one machine, interleaved in rounds (BEFORE and AFTER builds, PyTorch):
# the mlp and cnn training steps and their share of the sgemm 1024^3 rate on 2 threads;
# resnet18 w64 on 3x32x32 against PyTorch; its per-layer profile (direct-equivalent GFLOP/s
# against the FMA peak); the cnn on 2 ranks x 1 thread against 1 rank x 1 thread.
# Usage: scripts/experiments/machine-limit.sh OUT_DIR BEFORE_IES AFTER_IES PEERS_DIR PYTHON [ROUNDS]
# Writes OUT_DIR/steps.txt, layers.txt, ranks.txt (about 15 minutes on 2 cores).
set -uo pipefail
[ $# -ge 5 ] || { sed -n 2,7p "$0"; exit 2; }
out=$1 before=$2 after=$3 peers=$4 py=$5 rounds=${6:-4}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" && cd "$out" || exit 1
log() { echo "== $(date +%T) $*"; }
quick=(--tracker-instances 0 --checkpoint-data '')
{
    for round in $(seq "$rounds"); do
        for build in before after; do
            ies=${!build}
            log "$build mlp cnn $round"; "$ies" bench --models mlp cnn --threads 2 --repeats 3 "${quick[@]}"
        done
        log "after resnet18 w64 $round"
        "$after" bench --models resnet18 --width 64 --input 3,32,32 --threads 2 --repeats 3 --seconds 4 "${quick[@]}"
        log "torch resnet18 w64 $round"; "$py" "$peers/torch_bench.py" resnet18 2 3 32 32 10 64 64
    done
} > steps.txt 2>&1
{
    log "after resnet18 w64 layers"; "$after" bench --layers resnet18 --input 3,32,32 --width 64 --threads 2
    log "after mlp layers"; "$after" bench --layers mlp --threads 2
    log "before mlp layers"; "$before" bench --layers mlp --threads 2
} > layers.txt 2>&1
"$here/cnn-ranks.sh" "$after" "$rounds" > ranks.txt 2>&1
