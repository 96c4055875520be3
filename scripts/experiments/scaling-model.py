#!/usr/bin/env python3
"""A projection (not a measurement) of data-parallel step time for 8 to 1,024 ranks.

step time = compute + exposed allreduce + rebalancing (amortized over an epoch's steps)

- compute: measured seconds per step of one rank at its per-rank batch (`ies bench` or a
  1-rank run: batch / samples per second).
- allreduce: ring allreduce of G gradient bytes over p ranks, the textbook cost
  2 (p - 1) / p * G / bandwidth + 2 (p - 1) * latency, with bandwidth and latency measured
  on the link (cluster-sim bed: a 1.7 MB allreduce across two rate-limited hosts, and a
  4 KB one for the latency).
- overlap: with gradient buckets reduced during backward, the part of the allreduce that
  fits in the backward pass after the first bucket is ready is hidden:
  exposed = max(0, allreduce - overlappable * compute); without overlap, exposed = allreduce.
- rebalancing: the planner's cost per epoch (measured at 1,024 ranks), spread over the
  epoch's steps; moving instances is ignored (it happens rarely, once the pools are even).

Usage: scaling-model.py --compute-ms 30 --gradient-mb 1.7 --bandwidth-gbit 1 --latency-us 60
                         [--overlappable 0.6] [--planner-ms 0.05] [--steps-per-epoch 469]
"""
import argparse


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compute-ms", type=float, required=True, help="one rank's step at its per-rank batch")
    p.add_argument("--gradient-mb", type=float, required=True, help="gradient bytes reduced per step, MB")
    p.add_argument("--bandwidth-gbit", type=float, required=True, help="measured link bandwidth")
    p.add_argument("--latency-us", type=float, required=True, help="measured per-message latency")
    p.add_argument("--overlappable", type=float, default=0.6,
                   help="share of the step after the first gradient bucket is ready (backward after the last layers)")
    p.add_argument("--planner-ms", type=float, default=0.05, help="rebalance plan at 1,024 ranks (ies bench)")
    p.add_argument("--steps-per-epoch", type=int, default=469)
    p.add_argument("--label", default="")
    a = p.parse_args()
    compute = a.compute_ms / 1000
    size = a.gradient_mb * 1e6
    bandwidth = a.bandwidth_gbit * 1e9 / 8
    latency = a.latency_us * 1e-6
    print(f"Projection {a.label}: compute {a.compute_ms:.1f} ms/step, {a.gradient_mb:.2f} MB gradients, "
          f"{a.bandwidth_gbit:g} Gbit/s, {a.latency_us:g} us latency")
    print("| ranks | allreduce ms | step ms, no overlap | efficiency | step ms, overlap | efficiency | speedup over 1 rank (overlap) |")
    print("|---|---|---|---|---|---|---|")
    for ranks in (8, 16, 32, 64, 128, 256, 512, 1024):
        ring = 2 * (ranks - 1) / ranks * size / bandwidth + 2 * (ranks - 1) * latency
        plan = a.planner_ms / 1000 / a.steps_per_epoch
        plain = compute + ring + plan
        overlap = compute + max(0.0, ring - a.overlappable * compute) + plan
        print(f"| {ranks} | {ring * 1000:.1f} | {plain * 1000:.1f} | {compute / plain:.0%} | {overlap * 1000:.1f} | "
              f"{compute / overlap:.0%} | {ranks * compute / overlap:.0f}x |")


if __name__ == "__main__":
    main()
