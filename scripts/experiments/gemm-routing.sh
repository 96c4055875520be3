#!/usr/bin/env bash
# libxsmm where OpenBLAS's kernels are narrower (issue 23, item 1), interleaved on one machine:
# the mlp and cnn training steps on 1 and 2 threads, resnet18 w16 (1x28x28) and w64 (3x32x32)
# on 2 threads, for a BEFORE build (OpenBLAS only) and an AFTER build, with PyTorch's step on
# the same models between them; then 2 ranks x 1 thread against 1 rank on a cnn epoch (AFTER).
# Usage: scripts/experiments/gemm-routing.sh OUT_DIR BEFORE_IES AFTER_IES PEERS_DIR PYTHON [ROUNDS]
# Writes OUT_DIR/steps.txt and ranks.txt (about 6 minutes a round on 2 cores).
set -uo pipefail
[ $# -ge 5 ] || { sed -n 2,7p "$0"; exit 2; }
out=$1 before=$2 after=$3 peers=$4 py=$5 rounds=${6:-3}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" && cd "$out" || exit 1
log() { echo "== $(date +%T) $*"; }
quick=(--tracker-instances 0 --checkpoint-data '' --repeats 3)
{
    for round in $(seq "$rounds"); do
        for build in before after; do
            ies=${!build}
            log "$build mlp cnn $round"; "$ies" bench --models mlp cnn --threads 1 2 "${quick[@]}"
            log "$build resnet18 w16 $round"; "$ies" bench --models resnet18 --width 16 --threads 2 "${quick[@]}"
            log "$build resnet18 w64 $round"
            "$ies" bench --models resnet18 --width 64 --input 3,32,32 --threads 2 --seconds 4 "${quick[@]}"
        done
        for model in mlp cnn; do log "torch $model $round"; "$py" "$peers/torch_bench.py" $model 2; done
        log "torch resnet18 w16 $round"; "$py" "$peers/torch_bench.py" resnet18 2 1 28 28 10 16 64
        log "torch resnet18 w64 $round"; "$py" "$peers/torch_bench.py" resnet18 2 3 32 32 10 64 64
    done
} > steps.txt 2>&1
"$here/cnn-ranks.sh" "$after" "$rounds" > ranks.txt 2>&1
