#!/usr/bin/env bash
# Every goal of issue 23 ("Toward the machine's limit") for one build, in one session, each
# ratio measured side by side and interleaved in ROUNDS rounds; ends with a table of the
# medians against the goals.
#   - resnet18 w16 step (1x28x28) >= 1.6x PyTorch; resnet18 w64 (3x32x32) >= 1.8x PyTorch and
#     >= 0.9 of the FMA peak in direct-equivalent GFLOP/s (2 threads, torch_bench.py);
#   - the mlp's step >= 0.8 of the sgemm 1024^3 rate on 2 threads (measured in the same process);
#   - 2 ranks x 1 thread >= 1.85x one rank on the cnn, one node, defaults (cnn-ranks.sh);
#   - 2 hosts at 1 Gbit/s (cluster-sim bed, bed-ab.sh): the cnn with bf16 gradients >= 1.6x one
#     rank; resnet18 w16 stays >= 1.8x (fp32 and bf16 gradients).
# Usage: scripts/experiments/issue23-goals.sh OUT_DIR IES PEERS_DIR PYTHON [ROUNDS]
#   IES: a release build of ies; PEERS_DIR: ../shared/peers (torch_bench.py); PYTHON: one with
#   torch. Needs root for the bed (network namespaces). About 40 minutes with 5 rounds on 2 cores.
# Never sets OPENBLAS_* variables.
set -uo pipefail
[ $# -ge 4 ] || { sed -n 2,14p "$0"; exit 2; }
out=$1 ies=$(realpath "$2") peers=$3 py=$4 rounds=${5:-5}
here=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
mkdir -p "$out" && out=$(realpath "$out")
log() { echo "== $(date +%T) $*"; }
quick=(--threads 2 --repeats 3 --tracker-instances 0 --checkpoint-data '')
{
    log "FMA peak"; "$ies" bench --layers mlp --threads 2 --repeats 1 | grep -E "^threads 2: peak"
    for round in $(seq "$rounds"); do
        log "ies w16 $round"; "$ies" bench --models resnet18 --width 16 "${quick[@]}" | grep "^train"
        log "torch w16 $round"; "$py" "$peers/torch_bench.py" resnet18 2 1 28 28 10 16 64 | tail -n 1
        log "ies w64 $round"; "$ies" bench --models resnet18 --width 64 --input 3,32,32 --seconds 4 "${quick[@]}" | grep "^train"
        log "torch w64 $round"; "$py" "$peers/torch_bench.py" resnet18 2 3 32 32 10 64 64 | tail -n 1
        log "ies mlp $round"; "$ies" bench --models mlp "${quick[@]}" | grep "^train"
    done
} > "$out/steps.txt" 2>&1
mkdir -p "$out/ranks" && (cd "$out/ranks" && "$here/cnn-ranks.sh" "$ies" "$rounds") > "$out/ranks.txt" 2>&1
"$here/bed-ab.sh" "$out/bed-cnn" "$rounds" single:"$ies" bf16:"$ies":"--allreduce-dtype bf16" fp32:"$ies" \
    > "$out/bed-cnn.txt" 2>&1
MODEL=resnet18 MODELARGS="--width 16" LIMIT=12800 "$here/bed-ab.sh" "$out/bed-resnet18" "$rounds" single:"$ies" \
    fp32:"$ies" bf16:"$ies":"--allreduce-dtype bf16" > "$out/bed-resnet18.txt" 2>&1
python3 - "$out" <<'PY'
import re, statistics, sys
out = sys.argv[1]
steps = open(f"{out}/steps.txt").read().splitlines()
def values(tag, pattern):
    found, take = [], False
    for line in steps:
        if line.startswith("== "):
            take = line.split(" ", 2)[2].startswith(tag)
        elif take and (m := re.search(pattern, line)):
            found.append(float(m.group(1)))
    return found
ies16, torch16 = values("ies w16", r"(\d+) samples/s"), values("torch w16", r"median (\d+)")
ies64, torch64 = values("ies w64", r"(\d+) samples/s"), values("torch w64", r"median (\d+)")
gflops64 = values("ies w64", r"samples/s.*?([\d.]+) GFLOP/s")
peak = values("FMA peak", r"peak ([\d.]+) GFLOP/s")[0]
mlp = values("ies mlp", r"= ([\d.]+) of sgemm")
ranks = open(f"{out}/ranks.txt").read()
one = [float(x) for x in re.findall(r"1 rank x 1 thread \d+\n\"samples_per_second\":([\d.]+)", ranks)]
two = [float(x) for x in re.findall(r"2 ranks x 1 thread \d+\n\"samples_per_second\":([\d.]+)", ranks)]
def bed(name, label):
    m = re.search(rf"^{label}\s+x one rank: ([\d. ]+?)\s+median", open(f"{out}/{name}.txt").read(), re.M)
    return [float(x) for x in m.group(1).split()] if m else []
rows = [
    ("resnet18 w16 step / PyTorch", [a / b for a, b in zip(ies16, torch16)], 1.6),
    ("resnet18 w64 step / PyTorch", [a / b for a, b in zip(ies64, torch64)], 1.8),
    ("resnet18 w64 direct-equivalent GFLOP/s / FMA peak", [g / peak for g in gflops64], 0.9),
    ("mlp step / sgemm rate (2 threads)", mlp, 0.8),
    ("cnn: 2 ranks x 1 thread / 1 rank, one node", [b / a for a, b in zip(one, two)], 1.85),
    ("cnn, 2 hosts at 1 Gbit/s, bf16 / 1 rank", bed("bed-cnn", "bf16"), 1.6),
    ("cnn, 2 hosts at 1 Gbit/s, fp32 / 1 rank (no goal)", bed("bed-cnn", "fp32"), None),
    ("resnet18 w16, 2 hosts at 1 Gbit/s, fp32 / 1 rank", bed("bed-resnet18", "fp32"), 1.8),
    ("resnet18 w16, 2 hosts at 1 Gbit/s, bf16 / 1 rank", bed("bed-resnet18", "bf16"), 1.8),
]
print("| goal | rounds | median | goal | met |")
print("|---|---|---|---|---|")
for name, xs, goal in rows:
    median = statistics.median(xs) if xs else float("nan")
    met = "-" if goal is None or not xs else ("yes" if median >= goal else "no")
    print(f"| {name} | {' '.join(f'{x:.2f}' for x in xs)} | {median:.2f} | {goal if goal else '-'} | {met} |")
PY
