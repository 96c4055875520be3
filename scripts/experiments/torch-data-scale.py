#!/usr/bin/env python3
"""PyTorch reference for `ies`' data-at-scale benchmark (issue 21).

A DistributedDataParallel job (gloo, N processes x 1 thread on this machine) over a data
set in the NumPy format (`train_images.npy` (N, H, W, C) uint8, `train_labels.npy`), read
through `np.load(..., mmap_mode="r")` with a `DistributedSampler`: the usual way to train
on data larger than memory. Each process prints, as one JSON line, the seconds from its
start to its first optimizer step, its peak resident memory then, and after `--steps`
steps. The model is the `mlp` of `ies` (Linear C*H*W-256-128-classes, ReLU), SGD.

    python3 scripts/experiments/torch-data-scale.py DIR --ranks 2 --steps 2000

Needs torch and numpy (see ../shared/peers/README.md for installing torch).
"""
import argparse
import json
import os
import resource
import sys
import time

START = time.monotonic()


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(rank, args):
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    from torch.utils.data import DataLoader, Dataset, DistributedSampler

    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)

    class MappedImages(Dataset):
        def __init__(self, directory):
            self.images = np.load(os.path.join(directory, "train_images.npy"), mmap_mode="r")
            self.labels = np.load(os.path.join(directory, "train_labels.npy"), mmap_mode="r")

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, index):
            image = torch.from_numpy(np.array(self.images[index], dtype=np.float32) / 255.0).permute(2, 0, 1)
            return image, int(self.labels[index])

    data = MappedImages(args.data)
    _, height, width, channels = data.images.shape
    classes = int(args.classes)
    sampler = DistributedSampler(data, num_replicas=args.ranks, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=args.batch // args.ranks, sampler=sampler, num_workers=0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(channels * height * width, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, classes))
    model = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss_function = nn.CrossEntropyLoss()
    first_step = None
    rss_first = None
    steps = 0
    started = time.monotonic()
    for images, labels in loader:
        optimizer.zero_grad()
        loss_function(model(images), labels).backward()
        optimizer.step()
        steps += 1
        if first_step is None:
            first_step = time.monotonic() - START
            rss_first = peak_rss_mb()
        if steps >= args.steps:
            break
    seconds = time.monotonic() - started
    print(json.dumps({
        "rank": rank, "startup_to_first_step_s": round(first_step, 3), "peak_rss_mb_at_first_step": round(rss_first),
        "steps": steps, "peak_rss_mb_after_steps": round(peak_rss_mb()), "samples_per_s": round(steps * args.batch / seconds),
    }), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="a directory in the NumPy format")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64, help="global batch (default 64)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--port", type=int, default=29533)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.data, "train_images.npy")):
        sys.exit(f"{args.data}: no train_images.npy (expected the NumPy format)")
    import torch.multiprocessing as mp
    mp.start_processes(worker, args=(args,), nprocs=args.ranks, start_method="fork")


if __name__ == "__main__":
    main()
