#!/usr/bin/env bash
# Winograd F(4x4, 3x3) against F(2x2, 3x3) (issue 23), interleaved on one machine: single
# convolutions with each algorithm forced; the training steps of resnet18 w64 and VGG-16 on
# 3x32x32 (BEFORE and AFTER builds, PyTorch); the cnn and resnet18 w16 steps (which do not use
# F(4x4)); resnet18 w64's per-layer profile against the FMA peak.
# Usage: scripts/experiments/winograd4.sh OUT_DIR BEFORE_IES AFTER_IES PEERS_DIR PYTHON [ROUNDS]
# Writes OUT_DIR/convs.txt, steps.txt, layers.txt (about 25 minutes on 2 cores).
set -uo pipefail
[ $# -ge 5 ] || { sed -n 2,7p "$0"; exit 2; }
out=$1 before=$2 after=$3 peers=$4 py=$5 rounds=${6:-2}
mkdir -p "$out" && cd "$out" || exit 1
log() { echo "== $(date +%T) $*"; }
quick=(--tracker-instances 0 --checkpoint-data '')
shapes=(64:64:32:3:1 128:128:16:3:1 256:256:8:3:1 512:512:4:3:1 64:64:16:3:1 128:128:8:3:1 512:512:8:3:1
    16:16:32:3:1 32:32:16:3:1 64:64:8:3:1 32:64:14:3:1)
{
    for round in $(seq "$rounds"); do
        for algorithm in winograd winograd4; do
            log "$algorithm $round"; "$after" bench --convs "${shapes[@]}" --conv-algorithm "$algorithm" --threads 2 "${quick[@]}"
        done
    done
} > convs.txt 2>&1
{
    for round in $(seq "$rounds"); do
        for model in resnet18 vgg16; do
            width=(); [ "$model" = resnet18 ] && width=(--width 64)
            for build in before after; do
                ies=${!build}
                log "$build $model $round"
                "$ies" bench --models "$model" "${width[@]}" --input 3,32,32 --threads 2 --repeats 3 --seconds 4 "${quick[@]}"
            done
            log "torch $model $round"; "$py" "$peers/torch_bench.py" "$model" 2 3 32 32 10 64 64
        done
        for build in before after; do
            ies=${!build}
            log "$build cnn, resnet18 w16 $round"; "$ies" bench --models cnn resnet18 --width 16 --threads 2 --repeats 3 "${quick[@]}"
        done
    done
} > steps.txt 2>&1
{
    for build in before after; do
        ies=${!build}
        log "$build resnet18 w64 layers"; "$ies" bench --layers resnet18 --width 64 --input 3,32,32 --threads 2 --checkpoint-data ''
    done
} > layers.txt 2>&1
