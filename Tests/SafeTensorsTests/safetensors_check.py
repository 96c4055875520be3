#!/usr/bin/env python3
"""Cross-check the Swift safetensors implementation against the reference one.

Used by SafetensorsTests.swift (requires `pip install safetensors numpy`):

  safetensors_check.py check PATH EXPECTED_JSON
      Load PATH with safetensors.numpy.load_file and compare it with
      EXPECTED_JSON = {"tensors": {name: {"dtype": "F32", "shape": [...],
      "values": [flat row-major values]}}, "metadata": {...} | null}.
      Float values may be NaN / Infinity / -Infinity (Python's json accepts
      them); floats compare exactly, NaN equal to NaN, sign of zero checked.
      Prints one line per tensor; exits 1 listing every mismatch.

  safetensors_check.py write PATH
      Write the fixed tensors and metadata of `reference_tensors()` with
      safetensors.numpy.save_file (the Swift test knows the same values).

  safetensors_check.py write-single PATH
      Write {"w": float32 [1, -2]} without metadata, for a byte-for-byte
      comparison with the Swift encoder.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

DTYPES = {
    "F32": np.float32,
    "F64": np.float64,
    "I32": np.int32,
    "I64": np.int64,
    "U8": np.uint8,
}


def reference_tensors():
    """The tensors written by `write`; keep in sync with SafetensorsTests.swift."""
    tensors = {
        "weight": (np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.25)
                   - np.float32(0.5)),
        "bias": np.array([1.5, -2.25, 1e300], dtype=np.float64),
        "steps": np.array([[-(2**63), 2**63 - 1], [0, 42]], dtype=np.int64),
        "labels": np.array([[-1, 0, 7]], dtype=np.int32),
        "mask": np.array([0, 1, 255], dtype=np.uint8),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    metadata = {"format": "np", "note": 'quote " backslash \\ newline \n caf\u00e9'}
    return tensors, metadata


def check(path, expected_json):
    expected = json.loads(expected_json)
    problems = []
    loaded = load_file(path)
    want = expected["tensors"]
    if set(loaded) != set(want):
        problems.append(f"names differ: file has {sorted(loaded)}, expected {sorted(want)}")
    for name in sorted(set(loaded) & set(want)):
        array, spec = loaded[name], want[name]
        print(f"{name!r}: dtype={array.dtype} shape={list(array.shape)}")
        np_dtype = DTYPES.get(spec["dtype"])
        if np_dtype is None:
            problems.append(f"{name!r}: unknown expected dtype {spec['dtype']!r}")
            continue
        if array.dtype != np.dtype(np_dtype):
            problems.append(f"{name!r}: dtype {array.dtype}, expected {np.dtype(np_dtype)}")
            continue
        if list(array.shape) != list(spec["shape"]):
            problems.append(f"{name!r}: shape {list(array.shape)}, expected {spec['shape']}")
            continue
        values = np.array(spec["values"], dtype=np_dtype).reshape(spec["shape"])
        if np.issubdtype(array.dtype, np.floating):
            same = (np.array_equal(array, values, equal_nan=True)
                    and np.array_equal(np.signbit(array), np.signbit(values)))
        else:
            same = np.array_equal(array, values)
        if not same:
            problems.append(f"{name!r}: values {array.ravel().tolist()}, "
                            f"expected {values.ravel().tolist()}")
    with safe_open(path, framework="np") as f:
        metadata = f.metadata()
    if metadata != expected.get("metadata"):
        problems.append(f"metadata {metadata!r}, expected {expected.get('metadata')!r}")
    for problem in problems:
        print("MISMATCH: " + problem)
    if problems:
        return 1
    print(f"OK: {len(loaded)} tensors match")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "write":
        tensors, metadata = reference_tensors()
        save_file(tensors, argv[2], metadata=metadata)
        return 0
    if len(argv) == 3 and argv[1] == "write-single":
        save_file({"w": np.array([1, -2], dtype=np.float32)}, argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
