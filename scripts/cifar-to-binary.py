#!/usr/bin/env python3
"""Converts the Python version of CIFAR-10 or CIFAR-100 to the binary version that
`ies --data` reads.

  CIFAR-10   cifar-10-batches-py/{data_batch_1..5, test_batch}
             -> data_batch_1.bin .. data_batch_5.bin, test_batch.bin
             each record: label byte, 3072 pixel bytes (1024 red, 1024 green, 1024 blue)
  CIFAR-100  cifar-100-python/{train, test}
             -> train.bin, test.bin
             each record: coarse label byte, fine label byte, 3072 pixel bytes

Usage: cifar-to-binary.py SRC DST_DIR

SRC is the extracted directory (cifar-10-batches-py/ or cifar-100-python/), a directory
containing it, or the downloaded archive itself (cifar-10-python.tar.gz,
cifar-100-python.tar.gz). The binary files are written into DST_DIR (created if needed);
when SRC holds both datasets, into DST_DIR/cifar-10-batches-bin/ and
DST_DIR/cifar-100-binary/, as the official binary archives extract. Records keep the
order of the pickles. Then: ies train --data DST_DIR ...

Standard library only: the pickles hold numpy arrays, which are read without numpy
(only numpy's array and dtype reconstruction is accepted from the pickle; anything else
is refused, so a foreign pickle cannot run code). Exit status 1 with a message naming the
file on a missing or malformed input, 2 on wrong usage.
"""
import io
import os
import pickle
import struct
import sys
import tarfile

PIXELS = 3 * 32 * 32
CIFAR10 = {
    "name": "CIFAR-10", "python_dir": "cifar-10-batches-py", "binary_dir": "cifar-10-batches-bin",
    "files": [(f"data_batch_{i}", f"data_batch_{i}.bin") for i in range(1, 6)] + [("test_batch", "test_batch.bin")],
    "labels": [(b"labels", 10)],
}
CIFAR100 = {
    "name": "CIFAR-100", "python_dir": "cifar-100-python", "binary_dir": "cifar-100-binary",
    "files": [("train", "train.bin"), ("test", "test.bin")],
    "labels": [(b"coarse_labels", 20), (b"fine_labels", 100)],
}


class ConversionError(Exception):
    pass


# MARK: - Reading numpy arrays from a pickle without numpy

class _DType:
    """Stand-in for numpy.dtype: keeps the type code ('u1', 'i8', ...) and byte order."""

    def __init__(self, code=b"", align=0, copy=0):
        self.code = code.decode() if isinstance(code, bytes) else str(code)
        self.byteorder = "="

    def __setstate__(self, state):
        order = state[1]
        self.byteorder = order.decode() if isinstance(order, bytes) else str(order)


class _Array:
    """Stand-in for numpy.ndarray: shape, dtype, Fortran order flag and the raw bytes."""

    def __init__(self, shape=(), dtype=None, raw=b"", fortran=False):
        self.shape, self.dtype, self.raw, self.fortran = tuple(shape), dtype, raw, fortran

    def __setstate__(self, state):
        if len(state) == 5:  # (version, shape, dtype, is_fortran, data)
            state = state[1:]
        shape, dtype, fortran, raw = state
        if isinstance(raw, str):  # a Python 2 str read as text
            raw = raw.encode("latin-1")
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("array data is not raw bytes (an object array?)")
        self.__init__(shape, dtype, bytes(raw), bool(fortran))


def _reconstruct(cls, shape, typecode):
    return _Array()


def _frombuffer(buffer, dtype, shape, order):
    return _Array(shape, dtype, bytes(buffer), order == "F")


def _encode(text, encoding="latin1"):
    return text.encode(encoding)  # how Python 3 pickles bytes at protocols below 3


class _CIFARUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): _Array,
        ("numpy", "dtype"): _DType,
        ("_codecs", "encode"): _encode,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR pickle")


def rows(value, path, key):
    """The records' pixel bytes: a list of `PIXELS`-byte strings, from a uint8 [N, 3072] array."""
    if isinstance(value, _Array):
        code = value.dtype.code.lstrip("|=<>") if value.dtype else "?"
        if code not in ("u1", "B", "uint8"):
            raise ConversionError(f"{path}: {key} has dtype {value.dtype.code if value.dtype else '?'}, expected uint8")
        if len(value.shape) != 2 or value.shape[1] != PIXELS or len(value.raw) != value.shape[0] * PIXELS:
            raise ConversionError(f"{path}: {key} has shape {list(value.shape)} ({len(value.raw)} bytes), "
                                  f"expected [N, {PIXELS}] uint8")
        n, raw = value.shape[0], value.raw
        if value.fortran:
            return [raw[i::n] for i in range(n)]
        return [raw[i * PIXELS:(i + 1) * PIXELS] for i in range(n)]
    if isinstance(value, (bytes, bytearray)) and len(value) % PIXELS == 0:
        return [bytes(value[i:i + PIXELS]) for i in range(0, len(value), PIXELS)]
    if isinstance(value, (list, tuple)) and all(len(row) == PIXELS for row in value):
        try:
            return [bytes(row) for row in value]
        except (TypeError, ValueError):
            pass
    raise ConversionError(f"{path}: {key} is not a uint8 [N, {PIXELS}] array")


def integers(value, path, key):
    """Labels as a list of ints, from a list or a 1-D integer array."""
    if isinstance(value, _Array) and len(value.shape) == 1:
        code = value.dtype.code.lstrip("|=<>") if value.dtype else "?"
        formats = {"u1": "B", "i1": "b", "u2": "H", "i2": "h", "u4": "I", "i4": "i", "u8": "Q", "i8": "q"}
        if code in formats:
            order = ">" if value.dtype.byteorder == ">" else "<"
            return list(struct.unpack(f"{order}{value.shape[0]}{formats[code]}", value.raw))
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return list(value)
    raise ConversionError(f"{path}: {key} is not a list of integer labels")


# MARK: - Sources: a directory or a tar archive

class Source:
    """Named member files of SRC (a directory tree or a .tar/.tar.gz archive)."""

    def __init__(self, path):
        self.path = path
        self.tar = None
        if os.path.isdir(path):
            return
        if not os.path.exists(path):
            raise ConversionError(f"{path}: no such file or directory")
        try:
            self.tar = tarfile.open(path)
        except tarfile.TarError as error:
            raise ConversionError(f"{path}: neither a directory nor a tar archive ({error})")
        self.members = {m.name.rstrip("/"): m for m in self.tar.getmembers() if m.isfile()}

    def find(self, subdirectory, name):
        """The path of `name` in SRC itself or in SRC/subdirectory, or None."""
        for candidate in (name, f"{subdirectory}/{name}"):
            if self.tar is None:
                if os.path.isfile(os.path.join(self.path, candidate)):
                    return os.path.join(self.path, candidate)
            elif candidate in self.members or f"./{candidate}" in self.members:
                return candidate if candidate in self.members else f"./{candidate}"
        return None

    def read(self, member):
        if self.tar is None:
            with open(member, "rb") as f:
                return f.read()
        return self.tar.extractfile(self.members[member]).read()

    def describe(self, member):
        return member if self.tar is None else f"{self.path}:{member}"


def convert(source, dataset, destination):
    """Writes the binary files of `dataset`; returns [(file, records)]."""
    first = dataset["files"][0][0]
    anchor = source.find(dataset["python_dir"], first)
    base = os.path.dirname(anchor) if anchor else None
    written = []
    os.makedirs(destination, exist_ok=True)
    for name, output in dataset["files"]:
        member = source.find(dataset["python_dir"], name)
        if member is None or os.path.dirname(member) != base:
            expected = os.path.join(base, name) if source.tar is None else f"{source.path}:{base + '/' if base else ''}{name}"
            all_names = ", ".join(n for n, _ in dataset["files"])
            raise ConversionError(f"{expected}: missing ({dataset['name']} python version needs {all_names})")
        where = source.describe(member)
        try:
            batch = _CIFARUnpickler(io.BytesIO(source.read(member)), encoding="bytes").load()
        except Exception as error:  # pickle raises many types on malformed input
            raise ConversionError(f"{where}: not a CIFAR pickle ({type(error).__name__}: {error})")
        if not isinstance(batch, dict):
            raise ConversionError(f"{where}: not a CIFAR pickle (a {type(batch).__name__}, expected a dict)")
        batch = {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}
        for key in [b"data"] + [k for k, _ in dataset["labels"]]:
            if key not in batch:
                raise ConversionError(f"{where}: no {key.decode()!r} entry (keys: {', '.join(k.decode() for k in batch)})")
        images = rows(batch[b"data"], where, "data")
        label_columns = []
        for key, classes in dataset["labels"]:
            labels = integers(batch[key], where, key.decode())
            if len(labels) != len(images):
                raise ConversionError(f"{where}: {len(labels)} {key.decode()} for {len(images)} images")
            for index, label in enumerate(labels):
                if not 0 <= label < classes:
                    raise ConversionError(f"{where}: {key.decode()}[{index}] = {label}, expected 0..{classes - 1}")
            label_columns.append(labels)
        out = bytearray()
        for index, image in enumerate(images):
            out.extend(bytes(column[index] for column in label_columns))
            out.extend(image)
        target = os.path.join(destination, output)
        temporary = target + ".tmp"
        with open(temporary, "wb") as f:
            f.write(out)
        os.replace(temporary, target)
        written.append((target, len(images)))
    return written


def main(argv):
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = argv
    try:
        source = Source(src)
        present = [d for d in (CIFAR10, CIFAR100) if source.find(d["python_dir"], d["files"][0][0])]
        if not present:
            raise ConversionError(
                f"{src}: no CIFAR python version found (looked for data_batch_1 or train, "
                f"directly or in cifar-10-batches-py/ or cifar-100-python/)")
        for dataset in present:
            destination = os.path.join(dst, dataset["binary_dir"]) if len(present) > 1 else dst
            for path, records in convert(source, dataset, destination):
                print(f"{dataset['name']}: {path}: {records} records")
    except ConversionError as error:
        print(f"cifar-to-binary: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"cifar-to-binary: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
