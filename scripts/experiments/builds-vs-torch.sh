#!/usr/bin/env bash
# Several builds of ies and PyTorch on the same training steps, interleaved in rounds on one
# machine (issue 23): mlp and cnn on 1x28x28 (1 and 2 threads), resnet18 w16 on 1x28x28 and
# w64 on 3x32x32 (2 threads), batch 64, PyTorch on 2 threads; then 2 ranks x 1 thread
# against 1 rank x 1 thread on a cnn epoch with the last build.
# Usage: scripts/experiments/builds-vs-torch.sh OUT_DIR PEERS_DIR PYTHON ROUNDS NAME=IES [NAME=IES...]
#   e.g. x86-64=/tmp/ies-x86-64 skylake-avx512=.build/release/ies (copies: rebuilds don't disturb)
# Writes OUT_DIR/steps.txt and ranks.txt (about 3 minutes a round and build on 2 cores).
set -uo pipefail
[ $# -ge 5 ] || { sed -n 2,9p "$0"; exit 2; }
out=$1 peers=$2 py=$3 rounds=$4; shift 4
builds=("$@")
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" && cd "$out" || exit 1
log() { echo "== $(date +%T) $*"; }
quick=(--tracker-instances 0 --checkpoint-data '' --repeats 3)
{
    for round in $(seq "$rounds"); do
        for build in "${builds[@]}"; do
            name=${build%%=*} ies=${build#*=}
            log "$name mlp cnn $round"; "$ies" bench --models mlp cnn --threads 1 2 "${quick[@]}"
            log "$name resnet18 w16 $round"; "$ies" bench --models resnet18 --width 16 --threads 2 "${quick[@]}"
            log "$name resnet18 w64 $round"; "$ies" bench --models resnet18 --width 64 --input 3,32,32 --threads 2 --seconds 4 "${quick[@]}"
        done
        for model in mlp cnn; do log "torch $model $round"; "$py" "$peers/torch_bench.py" $model 2; done
        log "torch resnet18 w16 $round"; "$py" "$peers/torch_bench.py" resnet18 2 1 28 28 10 16 64
        log "torch resnet18 w64 $round"; "$py" "$peers/torch_bench.py" resnet18 2 3 32 32 10 64 64
    done
} > steps.txt 2>&1
last=${builds[-1]#*=}
"$here/cnn-ranks.sh" "$last" "$rounds" > ranks.txt 2>&1
