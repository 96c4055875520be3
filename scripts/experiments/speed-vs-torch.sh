#!/usr/bin/env bash
# Engine speed beside PyTorch (issue "Convolutions at the machine's limit"), interleaved in one
# session: per-layer profiles (`ies bench --layers` and scripts/torch-profile.py), training
# steps (`ies bench --models` and torch_bench.py), a real cnn epoch (torch_ies.py) and
# 2 ranks x 1 thread data-parallel epochs (torch_ddp_bench.py), for a BEFORE and an AFTER build.
# Usage: scripts/experiments/speed-vs-torch.sh OUT_DIR BEFORE_IES AFTER_IES PEERS_DIR [PYTHON]
#   PEERS_DIR holds torch_bench.py, torch_ies.py, torch_ddp_bench.py, torch_models.py;
#   PYTHON has torch (default python3). BEFORE_IES needs `bench --layers cnn|mlp`, `bench --models`.
# Writes OUT_DIR/layers.txt, steps.txt, epochs.txt (about 15 minutes on 2 cores).
set -uo pipefail
[ $# -ge 4 ] || { sed -n 2,8p "$0"; exit 2; }
out=$1 before=$2 after=$3 peers=$4 py=${5:-python3}
profile=$(cd "$(dirname "$0")/.." && pwd)/torch-profile.py
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
mkdir -p "$out" && cd "$out" || exit 1
log() { echo "== $(date +%T) $*"; }
quick=(--tracker-instances 0 --checkpoint-data '')
samples() { grep -o '"samples_per_second":[0-9.]*' "$1/metrics.jsonl"; }
{
    for round in 1 2; do
        log "before cnn $round"; "$before" bench --layers cnn --threads 2
        log "after cnn $round"; "$after" bench --layers cnn --threads 2
        log "torch cnn $round"; IES_PEERS=$peers "$py" "$profile" cnn 2
    done
    log "before mlp"; "$before" bench --layers mlp --threads 2
    log "after mlp"; "$after" bench --layers mlp --threads 2
    log "torch mlp"; IES_PEERS=$peers "$py" "$profile" mlp 2
    log "after resnet18 w64 3x32x32"; "$after" bench --layers resnet18 --input 3,32,32 --width 64 --threads 2
    log "torch resnet18 w64 3x32x32"; IES_PEERS=$peers "$py" "$profile" resnet18 2 3 32 32 10 64 64
    log "after resnet18 w16 1x28x28"; "$after" bench --layers resnet18 --input 1,28,28 --width 16 --threads 2
    log "torch resnet18 w16 1x28x28"; IES_PEERS=$peers "$py" "$profile" resnet18 2 1 28 28 10 16 64
} > layers.txt 2>&1
{
    for round in 1 2 3; do
        for build in before after; do
            ies=${!build}
            log "$build mlp cnn $round"; "$ies" bench --models mlp cnn --threads 2 --repeats 3 "${quick[@]}"
            log "$build resnet18 w16 $round"; "$ies" bench --models resnet18 --width 16 --threads 2 --repeats 3 "${quick[@]}"
            log "$build resnet18 w64 $round"
            "$ies" bench --models resnet18 --width 64 --input 3,32,32 --threads 2 --repeats 3 --seconds 4 "${quick[@]}"
        done
        log "torch mlp $round"; "$py" "$peers/torch_bench.py" mlp 2
        log "torch cnn $round"; "$py" "$peers/torch_bench.py" cnn 2
        log "torch resnet18 w16 $round"; "$py" "$peers/torch_bench.py" resnet18 2 1 28 28 10 16 64
        log "torch resnet18 w64 $round"; "$py" "$peers/torch_bench.py" resnet18 2 3 32 32 10 64 64
    done
} > steps.txt 2>&1
{
    epoch=(--limit 20000 --epochs 1 --ies-threshold 0 --checkpoint-every 0 --no-progress)
    for round in 1 2 3; do
        for build in before after; do
            rm -rf "epoch-$build"
            log "$build cnn epoch $round"; "${!build}" train --model cnn "${epoch[@]}" --threads 2 --run-dir "epoch-$build" >/dev/null
            samples "epoch-$build"
        done
        log "torch cnn epoch $round"; "$py" "$peers/torch_ies.py" --model cnn --limit 20000 --epochs 1 --threshold 0 --threads 2 | head -1
    done
    for round in 1 2; do
        for model in cnn mlp; do
            for build in before after; do
                rm -rf "ddp-$build"
                log "$build $model 2x1 $round"
                mpirun -np 2 --oversubscribe --bind-to none "${!build}" train --model "$model" "${epoch[@]}" --threads 1 \
                    --run-dir "ddp-$build" >/dev/null
                samples "ddp-$build"
            done
            log "torch DDP $model 2x1 $round"; "$py" "$peers/torch_ddp_bench.py" "$model" 2 20000
        done
    done
} > epochs.txt 2>&1
log done
