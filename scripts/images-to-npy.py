#!/usr/bin/env python3
"""Converts an image folder (one subfolder per class, as ImageNet, Tiny-ImageNet and most
custom data sets come) to the NumPy format that `ies --data` reads.

  SRC/cat/0001.jpg, SRC/cat/0002.png, SRC/dog/x/y.jpeg, ...       (with --test-split)
  SRC/train/cat/..., SRC/test/cat/...  (or SRC/val/cat/...)       (split already made)
  -> DST/train_images.npy   uint8 (N, S, S, 3), or (N, S, S) with --grey
     DST/train_labels.npy   int16 (N,) (int32 beyond 32767 classes)
     DST/test_images.npy, DST/test_labels.npy
     DST/classes.txt        the class names, one a line: label = line number - 1
     DST/train_files.txt, DST/test_files.txt   the source of each row (relative to SRC)

Usage: images-to-npy.py SRC DST --size S [--test-split FRACTION] [--seed N] [--grey] [--jobs N]

Each image is turned upright (EXIF orientation), converted to RGB (L with --grey), its
shorter side resized to S (Pillow's bicubic, which antialiases when shrinking), and the
centre S x S cropped. Classes are the subfolders of SRC (or of SRC/train), sorted by name;
images are found at any depth below a class folder by their extension (.jpg, .jpeg, .png,
.bmp, .gif, .webp, .tif, .tiff) and taken in sorted path order. With --test-split, each
class's images are shuffled with --seed and that fraction of them (rounded) goes to test.

Streaming: one image is held at a time; rows are appended to the .npy files (written
under a .partial name, the header filled in at the end), so memory stays small for
ImageNet-size folders. An image Pillow cannot read is skipped with a warning naming it,
and the count of skipped images is given at the end. Progress (count, rate, ETA) goes to
stderr. Needs numpy and Pillow (scripts/install-deps.sh). Exit status 2 with a one-line
message on wrong usage or an unusable SRC, 1 on a failure while writing.
"""
import argparse
import multiprocessing
import os
import random
import sys
import time

PROGRAM = "images-to-npy"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_SIZE = 4096


class UsageError(Exception):
    """A problem with the arguments or SRC, found before anything is written (exit 2)."""


def require_modules():
    """numpy and Pillow, or exit 2 saying how to install them."""
    missing = []
    try:
        import numpy  # noqa: F401
    except ImportError:
        missing.append("numpy")
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        missing.append("Pillow")
    if missing:
        print(f"{PROGRAM}: needs {' and '.join(missing)} (scripts/install-deps.sh, "
              f"or: pip install numpy pillow, or: apt-get install python3-numpy python3-pil)", file=sys.stderr)
        sys.exit(2)


# The shared .npy writer beside this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from npy_appender import NpyAppender  # noqa: E402


# MARK: - Progress on stderr

class Progress:
    """count/total, rate and ETA: redrawn in place on a terminal (tqdm when installed),
    a line every 30 s otherwise; `note` prints a message without tearing the bar."""

    def __init__(self, total, label):
        self.total, self.label, self.count = total, label, 0
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.bar = None
        if self.tty:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=label, unit="img", file=sys.stderr)
            except ImportError:
                pass

    def update(self):
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last >= (0.2 if self.tty else 30) or self.count == self.total:
            self.last = now
            self._draw(now)

    def _draw(self, now):
        elapsed = max(now - self.start, 1e-9)
        rate = self.count / elapsed
        eta = (self.total - self.count) / rate if rate > 0 else 0
        width = 30
        filled = width * self.count // max(self.total, 1)
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.count}/{self.total} "
                f"{rate:.0f} img/s ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        print(("\r" + line + "\x1b[K") if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def note(self, message):
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
            return
        print(("\r\x1b[K" if self.tty else "") + message, file=sys.stderr)
        if self.tty and self.count:
            self._draw(time.monotonic())

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.tty:
            print(file=sys.stderr)


# MARK: - Finding the images

def image_files(folder):
    """Image files at any depth below `folder`, sorted by path."""
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories.sort()
        found.extend(os.path.join(directory, n) for n in names
                     if n.lower().endswith(EXTENSIONS) and not n.startswith("."))
    return sorted(found)


def class_folders(folder):
    return sorted(n for n in os.listdir(folder)
                  if not n.startswith(".") and os.path.isdir(os.path.join(folder, n)))


def plan(src, test_split, seed):
    """(classes, {split: [(path, label)]}) from SRC's layout."""
    if not os.path.exists(src):
        raise UsageError(f"{src}: no such directory")
    if not os.path.isdir(src):
        raise UsageError(f"{src}: not a directory (expected one subfolder per class)")
    test_name = next((n for n in ("test", "val") if os.path.isdir(os.path.join(src, n))), None)
    if os.path.isdir(os.path.join(src, "train")) and test_name:
        if test_split is not None:
            raise UsageError(f"{src} already has train/ and {test_name}/: drop --test-split")
        classes = class_folders(os.path.join(src, "train"))
        if not classes:
            raise UsageError(f"{os.path.join(src, 'train')}: no class folders (expected one subfolder per class)")
        unknown = sorted(set(class_folders(os.path.join(src, test_name))) - set(classes))
        if unknown:
            raise UsageError(f"{os.path.join(src, test_name)}: class folders not in train/: {', '.join(unknown[:5])}"
                             + (" ..." if len(unknown) > 5 else ""))
        splits = {"train": [], "test": []}
        for split, name in (("train", "train"), ("test", test_name)):
            for label, cls in enumerate(classes):
                folder = os.path.join(src, name, cls)
                if os.path.isdir(folder):
                    splits[split].extend((path, label) for path in image_files(folder))
            if not splits[split]:
                raise UsageError(f"{os.path.join(src, name)}: no images ({', '.join(EXTENSIONS)}) in its class folders")
        return classes, splits
    classes = class_folders(src)
    if not classes:
        raise UsageError(f"{src}: no class folders (expected one subfolder per class, "
                         f"or train/ and test/ or val/ holding them)")
    if test_split is None:
        raise UsageError(f"{src} has no train/ and test/ (or val/) subfolders: give --test-split FRACTION")
    rng = random.Random(seed)
    splits = {"train": [], "test": []}
    for label, cls in enumerate(classes):
        files = image_files(os.path.join(src, cls))
        shuffled = files[:]
        rng.shuffle(shuffled)
        test = set(shuffled[:round(test_split * len(files))])
        splits["test"].extend((p, label) for p in files if p in test)
        splits["train"].extend((p, label) for p in files if p not in test)
    if not splits["train"] and not splits["test"]:
        raise UsageError(f"{src}: no images ({', '.join(EXTENSIONS)}) in its class folders")
    if not splits["test"] or not splits["train"]:
        empty = "test" if not splits["test"] else "train"
        raise UsageError(f"--test-split {test_split} leaves no {empty} images "
                         f"({len(splits['train']) + len(splits['test'])} images in {len(classes)} classes)")
    return classes, splits


# MARK: - Decoding

def load(job):
    """(path, size, grey) -> (uint8 array, None) or (None, reason)."""
    path, size, grey = job
    import numpy as np
    from PIL import Image, ImageOps
    try:
        with Image.open(path) as image:
            image.draft("L" if grey else "RGB", (size, size))  # JPEG: decode at a reduced scale >= size
            image = ImageOps.exif_transpose(image)
            image = image.convert("L" if grey else "RGB")
            width, height = image.size
            scale = size / min(width, height)
            resized = (max(size, round(width * scale)), max(size, round(height * scale)))
            if resized != image.size:
                image = image.resize(resized, Image.BICUBIC)
            left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
            image = image.crop((left, top, left + size, top + size))
            return np.asarray(image, dtype=np.uint8), None
    except Exception as error:  # Pillow raises many types on corrupt input
        return None, f"{type(error).__name__}: {error}"


def convert_split(name, entries, dst, src, size, grey, classes, pool):
    """Writes DST/{name}_images.npy, _labels.npy, _files.txt; returns (written, skipped)."""
    import numpy as np
    label_type = np.int16 if len(classes) <= 32767 else np.int32
    row = (size, size) if grey else (size, size, 3)
    images = NpyAppender(os.path.join(dst, f"{name}_images.npy"), np.uint8, row)
    labels = NpyAppender(os.path.join(dst, f"{name}_labels.npy"), label_type, ())
    progress = Progress(len(entries), name)
    skipped = 0
    kept = []
    try:
        jobs = ((path, size, grey) for path, _ in entries)
        results = pool.imap(load, jobs, chunksize=16) if pool else map(load, jobs)
        for (path, label), (pixels, reason) in zip(entries, results):
            progress.update()
            if pixels is None:
                skipped += 1
                progress.note(f"{PROGRAM}: warning: skipping {path}: {reason}")
                continue
            images.append(pixels[None])
            labels.append(np.array([label]))
            kept.append(os.path.relpath(path, src))
    except BaseException:
        progress.close()
        images.discard()
        labels.discard()
        raise
    progress.close()
    images.close()
    labels.close()
    with open(os.path.join(dst, f"{name}_files.txt"), "w") as f:
        f.writelines(p + "\n" for p in kept)
    return images.rows, skipped


def main(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.error = lambda message: (print(f"{PROGRAM}: {message} (see --help)", file=sys.stderr), sys.exit(2))
    parser.add_argument("src", metavar="SRC", help="a folder with one subfolder per class, or train/ and test/ (val/)")
    parser.add_argument("dst", metavar="DST", help="the output directory (created if needed)")
    parser.add_argument("--size", required=True, help=f"the side S of the square images, 1..{MAX_SIZE}")
    parser.add_argument("--test-split", help="the fraction of each class held out for test, in (0, 1)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of --test-split's draw (default 0)")
    parser.add_argument("--grey", action="store_true", help="keep one grey channel: images (N, S, S)")
    parser.add_argument("--jobs", type=int, default=1, help="decoding processes (default 1)")
    args = parser.parse_args(argv)
    try:
        try:
            size = int(args.size)
        except ValueError:
            raise UsageError(f"--size {args.size}: not an integer (the side of the square images, 1..{MAX_SIZE})")
        if not 1 <= size <= MAX_SIZE:
            raise UsageError(f"--size {size}: expected 1..{MAX_SIZE}")
        test_split = None
        if args.test_split is not None:
            try:
                test_split = float(args.test_split)
            except ValueError:
                test_split = -1.0
            if not 0 < test_split < 1:
                raise UsageError(f"--test-split {args.test_split}: expected a fraction in (0, 1), e.g. 0.1")
        if args.jobs < 1:
            raise UsageError(f"--jobs {args.jobs}: expected at least 1")
        require_modules()
        classes, splits = plan(args.src, test_split, args.seed)
    except UsageError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2

    counts = {cls: 0 for cls in classes}
    for _, label in splits["train"]:
        counts[classes[label]] += 1
    empty = [cls for cls, n in counts.items() if n == 0]
    if empty:
        print(f"{PROGRAM}: warning: {len(empty)} classes without training images: {', '.join(empty[:5])}"
              + (" ..." if len(empty) > 5 else ""), file=sys.stderr)
    try:
        os.makedirs(args.dst, exist_ok=True)
        pool = multiprocessing.Pool(args.jobs) if args.jobs > 1 else None
        try:
            total_skipped = 0
            for name in ("train", "test"):
                written, skipped = convert_split(name, splits[name], args.dst, args.src, size, args.grey, classes, pool)
                total_skipped += skipped
                print(f"{name}: {written} images {size}x{size}{'' if args.grey else 'x3'}"
                      + (f" ({skipped} skipped)" if skipped else ""))
        finally:
            if pool:
                pool.terminate()
        with open(os.path.join(args.dst, "classes.txt"), "w") as f:
            f.writelines(cls + "\n" for cls in classes)
    except OSError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; {args.dst} is incomplete", file=sys.stderr)
        return 130
    print(f"{len(classes)} classes in {os.path.join(args.dst, 'classes.txt')}")
    if total_skipped:
        print(f"{PROGRAM}: {total_skipped} unreadable images skipped (warnings above)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
