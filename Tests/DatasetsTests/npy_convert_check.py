#!/usr/bin/env python3
"""Fixtures for, and checks of, scripts/images-to-npy.py and scripts/imagenet-batches-to-npy.py
(NPYConversionTests.swift runs the converters between the two steps).

  images-fixture DIR   DIR/folder/{alpha,beta,gamma}/: 4 images each (PNG and JPEG, of
                       different sizes and modes) and gamma/broken.jpg (not an image), plus
                       notes.txt (ignored); DIR/split/{train,val}/{alpha,beta}/ for the
                       split-folder layout; DIR/manifest.json: what the known images hold
  images-check DIR     DIR/out (from folder/, --size 8 --test-split 0.25) and DIR/out-split
                       (from split/, --size 8 --grey): shapes, dtypes, labels, classes.txt,
                       the skipped file, and the pixels of the known images
  batches-fixture DIR  DIR/batches/Imagenet8_train/train_data_batch_{1,2} and
                       DIR/batches/Imagenet8_val/val_data (pickles, S = 8), the same as .npz in
                       DIR/npz/, and broken sets: DIR/gap (batches 1 and 3), DIR/label (a label
                       0), DIR/width (batch 2 with S = 4)
  batches-check DIR    DIR/out and DIR/out-npz: each row equals its planar row transposed to
                       (S, S, 3), labels are the 1-based ones minus 1

Each check step prints "npy_convert_check: P passed, F failed" and exits 1 on a failure.
Needs numpy, and Pillow for the image steps.
"""
import json
import os
import pickle
import sys

import numpy as np

SIZE = 8


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}")

    def finish(self):
        print(f"npy_convert_check: {self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def load(path):
    return np.load(path, allow_pickle=False)


# MARK: - Image folders

# Solid images stay their colour through resize and crop (lossless formats only).
SOLID = {
    "alpha/solid-wide.png": ((40, 20), "RGB", (10, 200, 30)),
    "beta/solid-palette.png": ((13, 29), "P", (250, 5, 120)),
    "gamma/solid-rgba.png": ((8, 8), "RGBA", (1, 2, 3)),
}
# 8 wide, 24 high: the shorter side is already 8, so the crop keeps rows 8..15, the middle band.
BANDED = "beta/banded.png"
BAND_INSIDE, BAND_OUTSIDE = (90, 60, 30), (255, 255, 255)


def write_images(root):
    from PIL import Image
    rng = np.random.default_rng(5)
    for path, (size, mode, colour) in SOLID.items():
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        image = Image.new("RGB", size, colour)
        if mode == "P":
            image = image.quantize(colors=4)
        elif mode == "RGBA":
            image = image.convert("RGBA")
        image.save(os.path.join(root, path))
    band = np.full((24, 8, 3), BAND_OUTSIDE, np.uint8)
    band[8:16] = BAND_INSIDE
    Image.fromarray(band).save(os.path.join(root, BANDED))
    noise = {"alpha": [(17, 33, "jpg", "RGB"), (64, 48, "png", "L"), (9, 9, "jpeg", "RGB")],
             "beta": [(100, 30, "jpg", "RGB"), (25, 26, "png", "RGB")],
             "gamma": [(12, 50, "png", "RGB"), (31, 31, "jpg", "L"), (200, 120, "JPG", "RGB")]}
    for cls, specs in noise.items():
        for i, (w, h, ext, mode) in enumerate(specs):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).convert(mode).save(os.path.join(root, cls, f"noise{i}.{ext}"))
    with open(os.path.join(root, "gamma", "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with open(os.path.join(root, "alpha", "notes.txt"), "w") as f:
        f.write("not an image, ignored\n")


def images_fixture(directory):
    write_images(os.path.join(directory, "folder"))
    from PIL import Image
    for split, count in (("train", 3), ("val", 2)):
        for cls, grey in (("alpha", 40), ("beta", 200)):
            folder = os.path.join(directory, "split", split, cls)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                Image.new("L", (10 + i, 12), grey).save(os.path.join(folder, f"{i}.png"))
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump({"solid": {p: c for p, (_, _, c) in SOLID.items()}, "banded": BANDED}, f)


def rows_by_file(out):
    """{relative source path: (split, row)} from the *_files.txt lists."""
    found = {}
    for split in ("train", "test"):
        with open(os.path.join(out, f"{split}_files.txt")) as f:
            for row, line in enumerate(f.read().splitlines()):
                found[line] = (split, row)
    return found


def images_check(directory):
    checks = Checks()
    out = os.path.join(directory, "out")
    with open(os.path.join(out, "classes.txt")) as f:
        checks.check(f.read() == "alpha\nbeta\ngamma\n", "classes.txt lists the sorted class folders")
    arrays = {name: load(os.path.join(out, f"{name}.npy"))
              for name in ("train_images", "train_labels", "test_images", "test_labels")}
    train, test = arrays["train_images"], arrays["test_images"]
    checks.check(train.dtype == np.uint8 and test.dtype == np.uint8, f"images are uint8: {train.dtype}")
    checks.check(train.shape[1:] == (SIZE, SIZE, 3) and test.shape[1:] == (SIZE, SIZE, 3),
                 f"images are (N, 8, 8, 3): {train.shape} {test.shape}")
    checks.check(train.shape[0] + test.shape[0] == 12, f"12 readable images in all: {train.shape[0]} + {test.shape[0]}")
    checks.check(test.shape[0] in (2, 3), f"round(0.25 * files) = 1 per class in test, "
                 f"less gamma's if it drew the broken file: {test.shape[0]}")
    for split, images in (("train", train), ("test", test)):
        labels = arrays[f"{split}_labels"]
        checks.check(labels.dtype.kind == "i" and labels.shape == (images.shape[0],),
                     f"{split} labels are integers (N,): {labels.dtype} {labels.shape}")
    files = rows_by_file(out)
    checks.check("gamma/broken.jpg" not in files and "alpha/notes.txt" not in files,
                 "the broken file and the text file are in neither split")
    checks.check(len(files) == 12, f"one *_files.txt line per row: {len(files)}")
    for path, (split, row) in files.items():
        label = arrays[f"{split}_labels"][row]
        checks.check(label == ["alpha", "beta", "gamma"].index(path.split("/")[0]),
                     f"{path}: label {label} is its class folder's index")
    for path, colour in json.load(open(os.path.join(directory, "manifest.json")))["solid"].items():
        split, row = files[path]
        image = arrays[f"{split}_images"][row]
        checks.check((image == np.array(colour, np.uint8)).all(),
                     f"{path}: a solid {colour} stays that colour, got {image.reshape(-1, 3)[:2].tolist()}")
    split, row = files[BANDED]
    image = arrays[f"{split}_images"][row]
    checks.check((image == np.array(BAND_INSIDE, np.uint8)).all(),
                 f"{BANDED}: the centre crop is the middle band, got {np.unique(image.reshape(-1, 3), axis=0).tolist()}")

    grey = os.path.join(directory, "out-split")
    with open(os.path.join(grey, "classes.txt")) as f:
        checks.check(f.read() == "alpha\nbeta\n", "split layout: classes.txt")
    for split, count in (("train", 6), ("test", 4)):
        images, labels = load(os.path.join(grey, f"{split}_images.npy")), load(os.path.join(grey, f"{split}_labels.npy"))
        checks.check(images.shape == (count, SIZE, SIZE) and images.dtype == np.uint8,
                     f"split layout --grey: {split} images ({count}, 8, 8) uint8, got {images.shape} {images.dtype}")
        want = [0] * (count // 2) + [1] * (count // 2)
        checks.check(labels.tolist() == want, f"split layout: {split} labels {labels.tolist()}, expected {want}")
        checks.check(all((images[i] == (40 if want[i] == 0 else 200)).all() for i in range(count)),
                     f"split layout: {split} grey levels kept")
    checks.finish()


# MARK: - Down-sampled ImageNet batches

def planar_batch(rng, count, s=SIZE, labels=None):
    data = rng.integers(0, 256, (count, 3 * s * s), dtype=np.uint8)
    labels = labels if labels is not None else rng.integers(1, 1001, count).tolist()
    return {"data": data, "labels": labels, "mean": data.mean(axis=0)}


def save_batches(directory, batches, npz=False):
    for relative, batch in batches.items():
        path = os.path.join(directory, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if npz:
            np.savez(path + ".npz", data=batch["data"], labels=np.array(batch["labels"]), mean=batch["mean"])
        else:
            with open(path, "wb") as f:
                pickle.dump(batch, f)


def batches_fixture(directory):
    rng = np.random.default_rng(9)
    batches = {"Imagenet8_train/train_data_batch_1": planar_batch(rng, 5, labels=[1, 1000, 2, 3, 500]),
               "Imagenet8_train/train_data_batch_2": planar_batch(rng, 3),
               "Imagenet8_val/val_data": planar_batch(rng, 4)}
    save_batches(os.path.join(directory, "batches"), batches)
    save_batches(os.path.join(directory, "npz"), batches, npz=True)
    save_batches(os.path.join(directory, "gap"), {"train_data_batch_1": planar_batch(rng, 2),
                                                  "train_data_batch_3": planar_batch(rng, 2),
                                                  "val_data": planar_batch(rng, 2)})
    save_batches(os.path.join(directory, "label"), {"train_data_batch_1": planar_batch(rng, 3, labels=[4, 0, 9]),
                                                    "val_data": planar_batch(rng, 2)})
    save_batches(os.path.join(directory, "width"), {"train_data_batch_1": planar_batch(rng, 2),
                                                    "train_data_batch_2": planar_batch(rng, 2, s=4),
                                                    "val_data": planar_batch(rng, 2)})


def batches_check(directory):
    checks = Checks()
    source = os.path.join(directory, "batches")
    expected = {}
    for split, names in (("train", ["Imagenet8_train/train_data_batch_1", "Imagenet8_train/train_data_batch_2"]),
                         ("test", ["Imagenet8_val/val_data"])):
        batches = [pickle.load(open(os.path.join(source, n), "rb")) for n in names]
        expected[split] = (np.concatenate([b["data"] for b in batches]),
                           np.concatenate([np.array(b["labels"]) for b in batches]))
    for out in ("out", "out-npz"):
        for split, (planar, labels) in expected.items():
            images = load(os.path.join(directory, out, f"{split}_images.npy"))
            got = load(os.path.join(directory, out, f"{split}_labels.npy"))
            n = planar.shape[0]
            checks.check(images.shape == (n, SIZE, SIZE, 3) and images.dtype == np.uint8,
                         f"{out} {split}: images ({n}, 8, 8, 3) uint8, got {images.shape} {images.dtype}")
            checks.check(got.dtype.kind == "i" and got.shape == (n,), f"{out} {split}: labels (N,) integers")
            checks.check(got.tolist() == (labels - 1).tolist(), f"{out} {split}: labels {got.tolist()} are 1-based - 1")
            for i in range(n):
                checks.check((planar[i] == images[i].transpose(2, 0, 1).reshape(-1)).all(),
                             f"{out} {split}[{i}]: the planar row is the HWC image transposed")
            # One pixel by hand: row 0, y = 1, x = 2, green is at G-plane offset 64 + 1 * 8 + 2.
            checks.check(images[0, 1, 2, 1] == planar[0, SIZE * SIZE + 1 * SIZE + 2], f"{out} {split}: green at (1, 2)")
        first = load(os.path.join(directory, out, "train_labels.npy"))[:2].tolist()
        checks.check(first == [0, 999], f"{out}: labels 1 and 1000 become 0 and 999: {first}")
    checks.finish()


def main():
    steps = {"images-fixture": images_fixture, "images-check": images_check,
             "batches-fixture": batches_fixture, "batches-check": batches_check}
    if len(sys.argv) != 3 or sys.argv[1] not in steps:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    steps[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
