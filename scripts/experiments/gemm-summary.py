#!/usr/bin/env python3
"""Joins gemm-shapes.tsv with the output of gemm-alternatives.sh: per model (threads 1
unless given), every shape with its calls/step, share of the step's sgemm flops, GFLOP/s per
library, ratios to OpenBLAS and errors, then the sgemm milliseconds per step that each
choice predicts (OpenBLAS everywhere; BLIS everywhere; libxsmm where it has a JIT kernel
without a copy, OpenBLAS elsewhere; the fastest library per shape).

usage: gemm-summary.py gemm-shapes.tsv run.tsv [threads] [min-share]"""
import sys

shapes_path, run_path = sys.argv[1], sys.argv[2]
threads = sys.argv[3] if len(sys.argv) > 3 else "1"
min_share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
key = lambda r: tuple(r[c] for c in ("ta", "tb", "m", "n", "k", "lda", "ldb", "ldc", "beta"))

def table(path):
    lines = [l.rstrip("\n").split("\t") for l in open(path) if l.strip() and not l.startswith("#")]
    return [dict(zip(lines[0], l)) for l in lines[1:]]

shapes = table(shapes_path)
for r in shapes:
    r.update(ta=r["transA"], tb=r["transB"])
run = {key(r): r for r in table(run_path)}
models = []
for r in shapes:
    if r["threads"] == threads and r["model"] not in models:
        models.append(r["model"])
for model in models:
    rows = [r for r in shapes if r["model"] == model and r["threads"] == threads]
    print(f"\n{model}, threads {threads}: {rows[0]['step_gemm_flops']} sgemm flops per step")
    print("| shape (tA tB m n k, beta) | calls/step | flop share | OpenBLAS | BLIS | libxsmm | OpenBLAS 4 merged | BLIS/OB | xsmm/OB | max rel err OB / BLIS / xsmm |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ms = {"openblas": 0.0, "blis": 0.0, "xsmm-jit": 0.0, "best": 0.0}
    hidden = 0.0
    for r in rows:
        m = run[key(r)]
        f = float(r["gemm_flops"]) / 1e9
        ob, bl, xs, x4 = (float(m[c]) for c in ("openblas_gflops", "blis_gflops", "libxsmm_gflops", "openblas_x4_gflops"))
        jit = m["libxsmm_mode"] == "jit"
        ms["openblas"] += f / ob * 1e3
        ms["blis"] += f / bl * 1e3
        ms["xsmm-jit"] += f / (max(ob, xs) if jit else ob) * 1e3
        ms["best"] += f / max(ob, bl, xs if xs == xs else 0) * 1e3
        share = float(r["share"])
        if share < min_share:
            hidden += share
            continue
        xsmm = f"{xs:.1f}" + ("" if jit else " (copy)")
        print(f"| {r['ta']} {r['tb']} {r['m']}x{r['n']}x{r['k']}, {r['beta']} | {float(r['calls']):g} | {share:.3f} | {ob:.1f} | {bl:.1f} | {xsmm} | {x4:.1f} "
              f"| {bl / ob:.2f} | {xs / ob:.2f} | {float(m['openblas_err']):.1e} / {float(m['blis_err']):.1e} / {float(m['libxsmm_err']):.1e} |")
    if hidden:
        print(f"| (shapes below {min_share} each) | | {hidden:.3f} | | | | | | | |")
    print("sgemm ms/step: " + ", ".join(f"{k} {v:.2f}" for k, v in ms.items())
          + f"; libxsmm (NN/TN JIT) saves {1 - ms['xsmm-jit'] / ms['openblas']:.1%} of the sgemm time, best-of {1 - ms['best'] / ms['openblas']:.1%}")
