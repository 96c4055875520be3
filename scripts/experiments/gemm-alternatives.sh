#!/bin/sh
# Builds and runs gemm-alternatives.c over every distinct GEMM shape of gemm-shapes.tsv
# (plus sgemm 1024^3 as the peak reference), timed runs under the shared benchmark lock.
# Needs: apt-get install libopenblas-dev libblis-dev libxsmm-dev
# Usage: scripts/experiments/gemm-alternatives.sh [reps] [seconds-per-run] > out.tsv
set -eu
here=$(dirname "$0")
bin=${TMPDIR:-/tmp}/gemm-alternatives
# -lopenblas before -lblis: both export cblas_sgemm/sgemm_, the first one loaded wins, so
# cblas_sgemm and libxsmm's BLAS fallback bind to OpenBLAS; BLIS is called by bli_sgemm only.
gcc -O2 -o "$bin" "$here/gemm-alternatives.c" -lxsmm -lopenblas -lblis -lpthread -ldl -lm
{
  grep -v '^#' "$here/gemm-shapes.tsv" | tail -n +2 | cut -f3-11 | sort -u
  printf 'N\tN\t1024\t1024\t1024\t1024\t1024\t1024\t0\n'
} | flock /tmp/bench.lock "$bin" "${1:-7}" "${2:-0.01}"
