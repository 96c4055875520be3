"""A .npy file written row by row (shared by the converters in this folder).

Rows are appended after a reserved header; `close` writes the header with the final row
count and renames `NAME.npy.partial` to `NAME.npy`, so memory stays small however many rows
there are, and an interrupted conversion leaves no file that looks complete.
"""

import os


class NpyAppender:
    """A .npy file written row by row: a fixed-size header is reserved, rows are appended,
    and `close` writes the header with the final row count and renames `.partial` away."""

    HEADER = 128  # magic, version, length and the padded dict: ample for any 4-D shape

    def __init__(self, path, dtype, row_shape):
        import numpy as np
        self.np, self.path, self.dtype, self.row_shape = np, path, np.dtype(dtype), tuple(row_shape)
        self.rows = 0
        self.file = open(path + ".partial", "wb")
        self.file.write(b"\0" * self.HEADER)

    def append(self, rows):
        rows = self.np.ascontiguousarray(rows, dtype=self.dtype)
        assert rows.shape[1:] == self.row_shape, (rows.shape, self.row_shape)
        self.file.write(rows.tobytes())
        self.rows += rows.shape[0]

    def close(self):
        shape = (self.rows,) + self.row_shape
        text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (
            self.np.lib.format.dtype_to_descr(self.dtype), shape)
        prefix = b"\x93NUMPY\x01\x00" + (self.HEADER - 10).to_bytes(2, "little")
        header = prefix + text.encode("latin1").ljust(self.HEADER - 10 - 1) + b"\n"
        assert len(header) == self.HEADER, shape
        self.file.seek(0)
        self.file.write(header)
        self.file.close()
        os.replace(self.path + ".partial", self.path)

    def discard(self):
        self.file.close()
        os.remove(self.path + ".partial")
