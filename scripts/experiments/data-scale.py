#!/usr/bin/env python3
"""Data at cluster scale (issue 21): synthetic data sets and per-rank memory.

  data-scale.py make DIR --count N --format cifar|npy [--test-count 10000] [--seed 0]
      Writes a synthetic CIFAR-10-format data set of N training instances at 3x32x32,
      streaming in chunks (random pixels from a seeded generator, labels i % 10):
        cifar: data_batch_1..5.bin (N/5 records each: 1 label byte + 3072 pixel bytes,
               channel-major) and test_batch.bin (--test-count records);
        npy:   train_images.npy uint8 (N,32,32,3), train_labels.npy int64,
               test_images.npy, test_labels.npy.

  data-scale.py run --np R --label NAME [--out results.jsonl] -- IES train ARGS...
      Runs `mpirun --allow-run-as-root --oversubscribe --bind-to none -np R
      /usr/bin/time -v -o F.<rank> IES train ARGS...` (each rank writes its own
      /usr/bin/time report), and records the wall time of the whole command, each
      rank's "Maximum resident set size" and the "ready in X s" of the run header
      (binaries that print it). Appends one JSON line to --out and prints the table.

  data-scale.py table results.jsonl
      Prints the table of all recorded runs.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

PIXELS = 3 * 32 * 32
CHUNK = 20000  # instances per write: 61 MB of pixels


def _write_cifar_file(path, start, count, rng):
    with open(path, "wb") as f:
        done = 0
        while done < count:
            c = min(CHUNK, count - done)
            rec = np.empty((c, 1 + PIXELS), dtype=np.uint8)
            rec[:, 0] = (np.arange(start + done, start + done + c) % 10).astype(np.uint8)
            rec[:, 1:] = np.frombuffer(rng.bytes(c * PIXELS), dtype=np.uint8).reshape(c, PIXELS)
            f.write(rec.tobytes())
            done += c


def _write_npy(path, count, rng, start=0):
    """Images (count,32,32,3) uint8, streamed after a .npy 1.0 header."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (count, 32, 32, 3)})
        done = 0
        while done < count:
            c = min(CHUNK, count - done)
            f.write(rng.bytes(c * PIXELS))
            done += c


def make(args):
    n, fmt = args.count, args.format
    os.makedirs(args.dir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    t0 = time.monotonic()
    if fmt == "cifar":
        if n % 5:
            sys.exit("--count must be a multiple of 5 for the CIFAR format")
        per = n // 5
        for b in range(5):
            _write_cifar_file(os.path.join(args.dir, f"data_batch_{b + 1}.bin"), b * per, per, rng)
        _write_cifar_file(os.path.join(args.dir, "test_batch.bin"), 0, args.test_count, rng)
    else:
        _write_npy(os.path.join(args.dir, "train_images.npy"), n, rng)
        np.save(os.path.join(args.dir, "train_labels.npy"), np.arange(n, dtype=np.int64) % 10)
        _write_npy(os.path.join(args.dir, "test_images.npy"), args.test_count, rng)
        np.save(os.path.join(args.dir, "test_labels.npy"),
                np.arange(args.test_count, dtype=np.int64) % 10)
    total = sum(os.path.getsize(os.path.join(args.dir, f)) for f in os.listdir(args.dir))
    print(f"{args.dir}: {fmt}, {n} training instances, {total / 1e9:.2f} GB, "
          f"{time.monotonic() - t0:.1f} s")


def _parse_time_v(text):
    out = {}
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["rss_mb"] = int(m.group(1)) / 1024.0  # MiB
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if m:
        secs = 0.0
        for part in m.group(1).split(":"):
            secs = secs * 60 + float(part)
        out["elapsed_s"] = secs
    m = re.search(r"Exit status: (\d+)", text)
    if m:
        out["exit"] = int(m.group(1))
    return out


def run(args):
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        sys.exit("run: give the ies command after --")
    if not os.path.exists("/usr/bin/time"):
        sys.exit("/usr/bin/time is missing: apt-get install -y time")
    tmp = tempfile.mkdtemp(prefix="data-scale-")
    wrapped = ["sh", "-c",
               'exec /usr/bin/time -v -o "$0.${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" "$@"',
               os.path.join(tmp, "time")] + cmd
    full = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
            "-np", str(args.np)] + wrapped
    t0 = time.monotonic()
    proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t0
    output = proc.stdout
    ranks = []
    for r in range(args.np):
        p = os.path.join(tmp, f"time.{r}")
        ranks.append(_parse_time_v(open(p).read()) if os.path.exists(p) else {})
    shutil.rmtree(tmp, ignore_errors=True)
    m = re.search(r"ready in ([\d.]+) s", output)
    sps = re.findall(r"([\d.,]+) samples/s", output)
    rec = {
        "label": args.label, "np": args.np, "wall_s": round(wall, 2),
        "ready_s": float(m.group(1)) if m else None,
        "rss_mb": [round(r.get("rss_mb", float("nan")), 1) for r in ranks],
        "rank_elapsed_s": [r.get("elapsed_s") for r in ranks],
        "returncode": proc.returncode,
        "samples_per_s": sps[-1] if sps else None,
        "command": " ".join(cmd),
    }
    if args.log:
        with open(args.log, "a") as f:
            f.write(output)
    if proc.returncode != 0:
        sys.stderr.write(output[-4000:])
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
    _print_table([rec])
    return proc.returncode


def _print_table(recs):
    print("| run | ranks | wall (s) | ready in (s) | peak RSS per rank (MiB) | rc |")
    print("|---|---|---|---|---|---|")
    for r in recs:
        ready = f"{r['ready_s']:.2f}" if r.get("ready_s") is not None else "-"
        rss = ", ".join(f"{x:,.0f}" for x in r["rss_mb"])
        print(f"| {r['label']} | {r['np']} | {r['wall_s']:.2f} | {ready} | {rss} | {r['returncode']} |")


def table(args):
    _print_table([json.loads(line) for line in open(args.results) if line.strip()])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    mk = sub.add_parser("make")
    mk.add_argument("dir")
    mk.add_argument("--count", type=int, required=True)
    mk.add_argument("--format", choices=["cifar", "npy"], required=True)
    mk.add_argument("--test-count", type=int, default=10000)
    mk.add_argument("--seed", type=int, default=0)
    rn = sub.add_parser("run")
    rn.add_argument("--np", type=int, default=1)
    rn.add_argument("--label", default="run")
    rn.add_argument("--out", help="append the record (JSON line) here")
    rn.add_argument("--log", help="append the command's output here")
    rn.add_argument("command", nargs=argparse.REMAINDER)
    tb = sub.add_parser("table")
    tb.add_argument("results")
    args = ap.parse_args()
    if args.mode == "make":
        make(args)
    elif args.mode == "run":
        sys.exit(run(args))
    else:
        table(args)


if __name__ == "__main__":
    main()
