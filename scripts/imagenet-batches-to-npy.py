#!/usr/bin/env python3
"""Converts the down-sampled ImageNet (Chrabaszcz, Loshchilov and Hutter 2017, "A
Downsampled Variant of ImageNet as an Alternative to the CIFAR datasets": Imagenet16,
Imagenet32, Imagenet64) to the NumPy format that `ies --data` reads.

  SRC/train_data_batch_1 .. train_data_batch_10, SRC/val_data
      pickled dicts (or the same names with .npz): 'data' uint8 (N, 3*S*S), each row the
      R plane, then G, then B (S*S each, row-major); 'labels' 1-based (1..1000); 'mean'
      (unused)
  -> DST/train_images.npy   uint8 (N, S, S, 3)
     DST/train_labels.npy   int16 (N,), 0-based (label - 1)
     DST/test_images.npy, DST/test_labels.npy   from val_data

Usage: imagenet-batches-to-npy.py SRC DST

SRC is the directory holding the batches, or one whose subdirectories hold them (as
Imagenet32_train/ and Imagenet32_val/ extract). The training batches must be numbered
1..K without a gap (the full set has K = 10); S is inferred from the width of 'data' and
must be the same in every file. Rows keep the order of the batches. The class names are
not in the batches (they are in the data set's map_clsloc.txt), so no classes.txt is written.

Streaming, batch by batch: one batch is held at a time and its rows are appended to the
.npy files (written under a .partial name, the header filled in at the end). Pickles are
read with only numpy's array reconstruction allowed, so a foreign pickle cannot run code.
Progress goes to stderr. Needs numpy (scripts/install-deps.sh). Exit status 2 with a
one-line message naming the file on wrong usage or a missing or malformed input, 1 on a
failure while writing.
"""
import os
import pickle
import re
import sys
import time

PROGRAM = "imagenet-batches-to-npy"
CLASSES = 1000
CHUNK = 4096  # rows transposed at a time, bounding the copy beside the batch


class InputError(Exception):
    """A problem with the arguments or the batches (exit 2)."""


try:
    import numpy as np
except ImportError:
    print(f"{PROGRAM}: needs numpy (scripts/install-deps.sh, or: pip install numpy, "
          f"or: apt-get install python3-numpy)", file=sys.stderr)
    sys.exit(2)


# The shared .npy writer beside this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from npy_appender import NpyAppender  # noqa: E402


# MARK: - Reading a batch

def _numpy_callables():
    """The only globals a batch pickle may name: numpy's array and dtype reconstruction
    (numpy 1.x pickles name numpy.core, numpy 2.x numpy._core; either loads on either)."""
    import codecs
    import importlib
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode}
    for package in ("numpy._core", "numpy.core"):
        try:
            multiarray = importlib.import_module(package + ".multiarray")
            numeric = importlib.import_module(package + ".numeric")
        except ImportError:
            continue
        for prefix in ("numpy._core", "numpy.core"):
            allowed.setdefault((prefix + ".multiarray", "_reconstruct"), multiarray._reconstruct)
            if hasattr(numeric, "_frombuffer"):
                allowed.setdefault((prefix + ".numeric", "_frombuffer"), numeric._frombuffer)
        break
    return allowed


class _BatchUnpickler(pickle.Unpickler):
    ALLOWED = None

    def find_class(self, module, name):
        if _BatchUnpickler.ALLOWED is None:
            _BatchUnpickler.ALLOWED = _numpy_callables()
        try:
            return _BatchUnpickler.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a batch pickle")


def read_batch(path):
    """(data uint8 (N, W), labels int64 (N,)) of one batch file, checked."""
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                batch = {key: archive[key] for key in archive.files}
        else:
            with open(path, "rb") as f:
                batch = _BatchUnpickler(f, encoding="latin1").load()
    except Exception as error:  # pickle and zipfile raise many types on malformed input
        raise InputError(f"{path}: not a down-sampled ImageNet batch ({type(error).__name__}: {error})")
    if not isinstance(batch, dict):
        raise InputError(f"{path}: not a down-sampled ImageNet batch (a {type(batch).__name__}, expected a dict)")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise InputError(f"{path}: no {key!r} entry (keys: {', '.join(map(str, batch))})")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        described = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(f"{path}: 'data' is {described}, expected a uint8 (N, 3*S*S) array")
    try:
        labels = np.asarray(batch["labels"])
    except Exception:
        labels = np.asarray([None])
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise InputError(f"{path}: 'labels' is not a list of integers")
    if len(labels) != len(data):
        raise InputError(f"{path}: {len(labels)} labels for {len(data)} images")
    bad = np.flatnonzero((labels < 1) | (labels > CLASSES))
    if len(bad):
        raise InputError(f"{path}: labels[{bad[0]}] = {labels[bad[0]]}, expected 1..{CLASSES} "
                         f"({len(bad)} out of range)")
    return data, labels


def side(width, path):
    """S from a row width of 3*S*S."""
    s = int(round((width / 3) ** 0.5))
    if width == 0 or 3 * s * s != width:
        raise InputError(f"{path}: rows of {width} bytes, expected 3*S*S (3072 for S = 32, 12288 for S = 64)")
    return s


# MARK: - Finding the batches

def find_batches(src):
    """{'train': [paths in batch order], 'test': [val_data path]}."""
    if not os.path.exists(src):
        raise InputError(f"{src}: no such directory")
    if not os.path.isdir(src):
        raise InputError(f"{src}: not a directory (expected train_data_batch_1 .. and val_data in it)")
    directories = [src] + sorted(os.path.join(src, n) for n in os.listdir(src) if os.path.isdir(os.path.join(src, n)))
    train, val = {}, []
    for directory in directories:
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            match = re.fullmatch(r"train_data_batch_(\d+)(\.npz)?", name)
            if match:
                number = int(match.group(1))
                if number in train:
                    raise InputError(f"{path}: batch {number} is also {train[number]}: keep one")
                train[number] = path
            elif re.fullmatch(r"val_data(\.npz)?", name):
                val.append(path)
    if not train:
        raise InputError(f"{src}: no train_data_batch_1 .. (or .npz), directly or in a subdirectory")
    missing = [n for n in range(1, max(train) + 1) if n not in train]
    if missing:
        where = os.path.dirname(train[min(train)])
        raise InputError(f"{os.path.join(where, f'train_data_batch_{missing[0]}')}: missing "
                         f"(found batches {', '.join(map(str, sorted(train)))})")
    if not val:
        raise InputError(f"{src}: no val_data (or val_data.npz), directly or in a subdirectory")
    if len(val) > 1:
        raise InputError(f"{src}: more than one val_data: {', '.join(val)}")
    return {"train": [train[n] for n in sorted(train)], "test": val}


# MARK: - Conversion

def convert(batches, dst):
    os.makedirs(dst, exist_ok=True)
    s = None
    total_files = sum(len(paths) for paths in batches.values())
    done, rows, start = 0, 0, time.monotonic()
    for split in ("train", "test"):
        images = labels = None
        try:
            for path in batches[split]:
                data, batch_labels = read_batch(path)
                batch_side = side(data.shape[1], path)
                if s is None:
                    s = batch_side
                elif batch_side != s:
                    raise InputError(f"{path}: images {batch_side}x{batch_side}, but the earlier batches' are {s}x{s}")
                if images is None:
                    images = NpyAppender(os.path.join(dst, f"{split}_images.npy"), np.uint8, (s, s, 3))
                    labels = NpyAppender(os.path.join(dst, f"{split}_labels.npy"), np.int16, ())
                for first in range(0, len(data), CHUNK):
                    planar = data[first:first + CHUNK].reshape(-1, 3, s, s)  # (n, C, H, W)
                    images.append(planar.transpose(0, 2, 3, 1))  # (n, H, W, C)
                labels.append(batch_labels - 1)
                done += 1
                rows += len(data)
                elapsed = time.monotonic() - start
                eta = elapsed / done * (total_files - done)
                print(f"{PROGRAM}: {done}/{total_files} files, {os.path.basename(path)}: {len(data)} images "
                      f"{s}x{s}, {rows / elapsed:.0f} img/s, ETA {int(eta) // 60}:{int(eta) % 60:02d}",
                      file=sys.stderr, flush=True)
        except BaseException:
            if images is not None:
                images.discard()
                labels.discard()
            raise
        images.close()
        labels.close()
        print(f"{split}: {images.rows} images {s}x{s}x3 from {len(batches[split])} files")


def main(argv):
    if len(argv) != 2 or argv[0] in ("-h", "--help") or any(a.startswith("-") for a in argv):
        if argv and argv[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        print(f"{PROGRAM}: usage: imagenet-batches-to-npy.py SRC DST (see --help)", file=sys.stderr)
        return 2
    src, dst = argv
    try:
        batches = find_batches(src)
        if len(batches["train"]) != 10:
            print(f"{PROGRAM}: note: {len(batches['train'])} training batches (the full down-sampled ImageNet has 10)",
                  file=sys.stderr)
        convert(batches, dst)
    except InputError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; {dst} is incomplete", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
