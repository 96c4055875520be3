#!/usr/bin/env bash
# libxsmm where OpenBLAS's kernels are narrower (issue 23, item 1): builds-vs-torch.sh with a
# BEFORE build (OpenBLAS only) and an AFTER build, named `before` and `after`.
# Usage: scripts/experiments/gemm-routing.sh OUT_DIR BEFORE_IES AFTER_IES PEERS_DIR PYTHON [ROUNDS]
# Writes OUT_DIR/steps.txt and ranks.txt (about 6 minutes a round on 2 cores).
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,5p "$0"; exit 2; }
exec "$(dirname "$0")/builds-vs-torch.sh" "$1" "$4" "$5" "${6:-3}" before="$2" after="$3"
