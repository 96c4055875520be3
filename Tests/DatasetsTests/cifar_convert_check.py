#!/usr/bin/env python3
"""Checks scripts/cifar-to-binary.py on tiny synthetic CIFAR-10 and CIFAR-100 pickles.

The pickles are written the way the official Python version is (a Python 2 cPickle,
protocol 2, of a dict with byte-string keys whose b'data' is a numpy uint8 [N, 3072]
array), by emitting the pickle opcodes directly so that no numpy is needed; when numpy
is importable, they are also cross-checked with numpy, and pickles that numpy itself
writes (protocols 2 and 5) are converted too. The binary output is compared byte for
byte with records built here from the format's description (CIFAR-10: label, 3072
pixels; CIFAR-100: coarse label, fine label, 3072 pixels), which is what
Sources/Datasets/CIFARReader.swift reads. Error cases: a missing batch, a label out of
range, a wrong image width, a pickle that would run code, wrong usage.

With --example DIR it instead writes a small CIFAR-10 and CIFAR-100 python version into
DIR/py10 and DIR/py100, converts them into DIR/bin10 and DIR/bin100 and writes
DIR/expected.json (per dataset and split: labels, and the images base64-encoded), which
CIFARConversionTests.swift loads with DatasetLoader and compares.

Usage: python3 Tests/DatasetsTests/cifar_convert_check.py [--example DIR]
       (exit 0 when all checks pass)
"""
import base64
import json
import io
import os
import pickle
import random
import struct
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERTER = os.path.join(ROOT, "scripts", "cifar-to-binary.py")
PIXELS = 3072
CIFAR10_COUNTS = {"data_batch_1": 3, "data_batch_2": 2, "data_batch_3": 4, "data_batch_4": 1,
                  "data_batch_5": 2, "test_batch": 3}
CIFAR100_COUNTS = {"train": 5, "test": 2}

try:
    import numpy
except ImportError:
    numpy = None


# MARK: - A Python 2 style pickle, opcode by opcode

def _string(value):
    """SHORT_BINSTRING or BINSTRING: a Python 2 str (read back as bytes with encoding='bytes')."""
    if len(value) < 256:
        return b"U" + bytes([len(value)]) + value
    return b"T" + struct.pack("<I", len(value)) + value


def _int(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    return b"J" + struct.pack("<i", value)


def _uint8_array(raw, rows):
    """numpy.core.multiarray._reconstruct(ndarray, (0,), 'b') then BUILD with
    (1, (rows, 3072), dtype('u1'), False, raw), as numpy 1.x under Python 2 pickles it."""
    dtype = (b"cnumpy\ndtype\n" + b"(" + _string(b"u1") + _int(0) + _int(1) + b"tR"
             + b"(" + _int(3) + _string(b"|") + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"tb")
    return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"(" + _int(0) + b"t"
            + _string(b"b") + b"\x87R"
            + b"(" + _int(1) + b"(" + _int(rows) + _int(PIXELS) + b"t" + dtype + b"\x89" + _string(raw) + b"t"
            + b"b")


def py2_pickle(entries):
    """Protocol 2 pickle of a dict: values are bytes (str), lists of ints, or ('array', raw, rows)."""
    out = b"\x80\x02}("
    for key, value in entries.items():
        out += _string(key)
        if isinstance(value, tuple):
            out += _uint8_array(value[1], value[2])
        elif isinstance(value, list):
            out += b"](" + b"".join(_int(v) for v in value) + b"e"
        else:
            out += _string(value)
    return out + b"u."


# MARK: - Synthetic datasets

def make_batch(rng, count, label_keys):
    images = [bytes(rng.randrange(256) for _ in range(PIXELS)) for _ in range(count)]
    labels = {key: [rng.randrange(classes) for _ in range(count)] for key, classes in label_keys}
    return images, labels


def write_py2(path, images, labels):
    entries = {b"batch_label": b"synthetic batch", b"data": ("array", b"".join(images), len(images))}
    entries.update({key: value for key, value in labels.items()})
    entries[b"filenames"] = [0] * len(images)  # a list as in the original; content unused
    with open(path, "wb") as f:
        f.write(py2_pickle(entries))


def write_numpy(path, images, labels, protocol):
    array = numpy.frombuffer(b"".join(images), dtype=numpy.uint8).reshape(len(images), PIXELS)
    entries = {b"batch_label": b"synthetic", b"data": array}
    entries.update(labels)
    with open(path, "wb") as f:
        pickle.dump(entries, f, protocol=protocol)


def expected_records(images, labels, label_keys):
    out = b""
    for i, image in enumerate(images):
        out += bytes(labels[key][i] for key, _ in label_keys) + image
    return out


def make_dataset(directory, variant, rng, writer):
    """Writes the python version into directory; returns {binary name: expected bytes}."""
    if variant == 10:
        counts, keys, names = CIFAR10_COUNTS, [(b"labels", 10)], lambda n: n + ".bin"
    else:
        counts, keys, names = CIFAR100_COUNTS, [(b"coarse_labels", 20), (b"fine_labels", 100)], lambda n: n + ".bin"
    os.makedirs(directory, exist_ok=True)
    expected = {}
    for name, count in counts.items():
        images, labels = make_batch(rng, count, keys)
        writer(os.path.join(directory, name), images, labels)
        expected[names(name)] = expected_records(images, labels, keys)
    return expected


# MARK: - Checks

class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}")


def convert(*args):
    result = subprocess.run([sys.executable, CONVERTER, *args], capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def compare(checks, directory, expected, what):
    for name, content in expected.items():
        path = os.path.join(directory, name)
        found = open(path, "rb").read() if os.path.isfile(path) else None
        checks.check(found == content, f"{what}: {name} differs from the expected records")
    extra = set(os.listdir(directory)) - set(expected) if os.path.isdir(directory) else set()
    checks.check(not extra, f"{what}: unexpected files {sorted(extra)}")


def write_example(directory):
    """Python versions, their conversion, and what a reader must find in the binary files."""
    rng = random.Random(11)
    expected = {}
    for variant, source, label_key in ((10, "py10/cifar-10-batches-py", b"labels"),
                                       (100, "py100/cifar-100-python", b"fine_labels")):
        splits = {"train": ([], []), "test": ([], [])}

        def writer(path, images, labels, splits=splits, label_key=label_key):
            write_py2(path, images, labels)
            split = splits["test" if os.path.basename(path).startswith("test") else "train"]
            split[0].extend(images)
            split[1].extend(labels[label_key])

        make_dataset(os.path.join(directory, source), variant, rng, writer)
        target = os.path.join(directory, f"bin{variant}")
        status, output = convert(os.path.join(directory, source.split("/")[0]), target)
        if status != 0:
            raise SystemExit(f"conversion failed: {output}")
        expected[f"cifar{variant}"] = {
            split: {"labels": labels, "images": base64.b64encode(b"".join(images)).decode()}
            for split, (images, labels) in splits.items()}
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f)


def main():
    if sys.argv[1:2] == ["--example"] and len(sys.argv) == 3:
        write_example(sys.argv[2])
        return
    checks = Checks()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="cifar-convert-") as tmp:
        def path(*parts):
            return os.path.join(tmp, *parts)

        # The hand-written pickle is what numpy itself would read.
        images, labels = make_batch(rng, 2, [(b"labels", 10)])
        write_py2(path("probe"), images, labels)
        if numpy is not None:
            loaded = pickle.load(open(path("probe"), "rb"), encoding="bytes")
            checks.check(loaded[b"data"].dtype == numpy.uint8 and loaded[b"data"].shape == (2, PIXELS)
                         and loaded[b"data"].tobytes() == b"".join(images) and loaded[b"labels"] == labels[b"labels"],
                         "the Python 2 style pickle does not load with numpy as the original does")

        # CIFAR-10 from SRC/cifar-10-batches-py (Python 2 style pickles).
        expected10 = make_dataset(path("src10", "cifar-10-batches-py"), 10, rng, write_py2)
        status, output = convert(path("src10"), path("out10"))
        checks.check(status == 0, f"CIFAR-10 conversion failed: {output}")
        compare(checks, path("out10"), expected10, "CIFAR-10")
        checks.check(all(len(c) % 3073 == 0 for c in expected10.values()), "CIFAR-10 record size")

        # CIFAR-100 from the directory itself.
        expected100 = make_dataset(path("src100"), 100, rng, write_py2)
        status, output = convert(path("src100"), path("out100"))
        checks.check(status == 0, f"CIFAR-100 conversion failed: {output}")
        compare(checks, path("out100"), expected100, "CIFAR-100")

        # The downloaded archive itself, holding cifar-100-python/.
        tar_source = path("tar", "cifar-100-python")
        expected_tar = make_dataset(tar_source, 100, rng, write_py2)
        with tarfile.open(path("cifar-100-python.tar.gz"), "w:gz") as archive:
            archive.add(tar_source, arcname="cifar-100-python")
        status, output = convert(path("cifar-100-python.tar.gz"), path("out-tar"))
        checks.check(status == 0, f"archive conversion failed: {output}")
        compare(checks, path("out-tar"), expected_tar, "CIFAR-100 archive")

        # Both datasets under one SRC: one subdirectory each, named as the binary archives.
        both10 = make_dataset(path("both", "cifar-10-batches-py"), 10, rng, write_py2)
        both100 = make_dataset(path("both", "cifar-100-python"), 100, rng, write_py2)
        status, output = convert(path("both"), path("out-both"))
        checks.check(status == 0, f"two-dataset conversion failed: {output}")
        compare(checks, path("out-both", "cifar-10-batches-bin"), both10, "both: CIFAR-10")
        compare(checks, path("out-both", "cifar-100-binary"), both100, "both: CIFAR-100")

        # Pickles written by numpy itself, at protocol 2 (bytes via _codecs.encode) and 5.
        if numpy is not None:
            for protocol in (2, 5):
                expected_np = make_dataset(path(f"np{protocol}"), 100, rng,
                                           lambda p, i, l: write_numpy(p, i, l, protocol))
                status, output = convert(path(f"np{protocol}"), path(f"out-np{protocol}"))
                checks.check(status == 0, f"numpy protocol {protocol} conversion failed: {output}")
                compare(checks, path(f"out-np{protocol}"), expected_np, f"numpy protocol {protocol}")

        # Errors name the file; nothing but numpy arrays may come out of a pickle.
        os.remove(path("src10", "cifar-10-batches-py", "data_batch_3"))
        status, output = convert(path("src10"), path("out-missing"))
        checks.check(status == 1 and os.path.join("cifar-10-batches-py", "data_batch_3") in output,
                     f"a missing batch must exit 1 naming it: {status} {output}")

        images, labels = make_batch(rng, 2, [(b"coarse_labels", 20), (b"fine_labels", 100)])
        labels[b"fine_labels"][1] = 100
        make_dataset(path("badlabel"), 100, rng, write_py2)
        write_py2(path("badlabel", "test"), images, labels)
        status, output = convert(path("badlabel"), path("out-badlabel"))
        checks.check(status == 1 and "test" in output and "fine_labels[1] = 100" in output,
                     f"a label out of range must exit 1 naming file and index: {status} {output}")

        make_dataset(path("badwidth"), 100, rng, write_py2)
        with open(path("badwidth", "train"), "wb") as f:
            f.write(py2_pickle({b"data": ("array", bytes(2 * 1000), 2), b"fine_labels": [1, 2],
                                b"coarse_labels": [1, 2]}).replace(_int(PIXELS), _int(1000)))
        status, output = convert(path("badwidth"), path("out-badwidth"))
        checks.check(status == 1 and "train" in output and "3072" in output,
                     f"a wrong image width must exit 1: {status} {output}")

        make_dataset(path("evil"), 100, rng, write_py2)
        with open(path("evil", "train"), "wb") as f:
            f.write(b"cos\nsystem\n(" + _string(b"touch " + path("evil", "ran").encode()) + b"tR.")
        status, output = convert(path("evil"), path("out-evil"))
        checks.check(status == 1 and not os.path.exists(path("evil", "ran")) and "os.system" in output,
                     f"a pickle calling os.system must be refused: {status} {output}")

        status, output = convert(path("nowhere"), path("out-nowhere"))
        checks.check(status == 1 and "nowhere" in output, f"a missing SRC must exit 1 naming it: {output}")
        status, output = convert(path("src100"))
        checks.check(status == 2, "wrong usage must exit 2")

    print(f"cifar_convert_check: {checks.passed} passed, {checks.failed} failed")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
