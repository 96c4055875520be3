#!/usr/bin/env bash
# The IES threshold experiment (issue: IES mastery tracking): full Fashion-MNIST,
# SGD lr 0.1, momentum 0.9, weight decay 5e-4, exponential 0.96, batch 64;
# cnn 15 epochs and mlp 30 epochs at thresholds 0, 1e-4, 1e-3, 1e-2.
# Usage: scripts/experiments/ies-thresholds.sh [OUT_DIR]   (release build first)
set -euo pipefail
out=${1:-runs/ies-thresholds}
ies=.build/release/ies
for spec in mlp:30 cnn:15; do
    model=${spec%%:*}; epochs=${spec##*:}
    for t in 0 1e-4 1e-3 1e-2; do
        rm -rf "$out/$model-$t"
        $ies train --model "$model" --epochs "$epochs" --ies-threshold "$t" --lr 0.1 --momentum 0.9 \
            --weight-decay 5e-4 --lr-schedule exponential:0.96 --batch-size 64 --seed 0 --threads 2 \
            --no-progress --run-dir "$out/$model-$t" | tail -1
    done
    python3 scripts/experiments/summarize.py "$out/$model-0" "$out/$model-1e-4" "$out/$model-1e-3" "$out/$model-1e-2"
done
