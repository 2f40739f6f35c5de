"""Arrow arrays made straight from their buffers.

``pyarrow.array()`` looks for pandas on its first call (to tell a pandas
object from others) and so imports it when it is installed: 0.6 s spent by
every command that reads a run, for a library the reader does not use.
These builders make the same arrays from numpy buffers and bytes, and
never call it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_NUMPY = {pa.int64(): np.int64, pa.float64(): np.float64, pa.int32(): np.int32, pa.float32(): np.float32}


def _validity(valid: np.ndarray | None, n: int) -> tuple[pa.Buffer | None, int]:
    if valid is None:
        return None, 0
    valid = np.asarray(valid, bool)
    nulls = n - int(np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def numbers(values: np.ndarray, typ: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """A numeric or bool array of ``typ`` from a numpy array; ``valid``: a
    mask of the rows that have a value (None: all)."""
    n = len(values)
    mask, nulls = _validity(valid, n)
    if pa.types.is_boolean(typ):
        data = pa.py_buffer(np.packbits(np.asarray(values, bool), bitorder="little"))
    else:
        data = pa.py_buffer(np.ascontiguousarray(values, _NUMPY[typ]))
    return pa.Array.from_buffers(typ, n, [mask, data], null_count=nulls)


def indices(rows: np.ndarray) -> pa.Array:
    """Row numbers (for ``take``) as an int64 array."""
    return numbers(np.asarray(rows, np.int64), pa.int64())


LARGE_BINARY = pa.large_binary()


def binaries(items: Sequence[bytes | None], typ: pa.DataType = LARGE_BINARY) -> pa.Array:
    """A large_binary (or, from bytes already UTF-8, large_string) array; None: no value."""
    n = len(items)
    lengths = np.fromiter((0 if b is None else len(b) for b in items), np.int64, count=n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    valid = np.fromiter((b is not None for b in items), bool, count=n)
    mask, nulls = _validity(valid, n)
    data = b"".join(b for b in items if b is not None)
    return pa.Array.from_buffers(typ, n, [mask, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls)


def strings(items: Sequence[str | None]) -> pa.Array:
    """A large_string array; None: no value."""
    return binaries([None if s is None else s.encode("utf-8") for s in items], pa.large_string())


# ---- out of Arrow, into numpy (``to_numpy`` also looks for pandas) ------------------------
def _chunks(col: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buf, np.uint8), bitorder="little")[offset : offset + n].astype(bool)


def _dtype(typ: pa.DataType) -> np.dtype:
    width = typ.bit_width // 8
    if pa.types.is_floating(typ):
        return np.dtype(f"f{width}")
    if pa.types.is_signed_integer(typ):
        return np.dtype(f"i{width}")
    if pa.types.is_unsigned_integer(typ):
        return np.dtype(f"u{width}")
    raise TypeError(f"not a column of numbers: {typ}")


def valid(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A bool mask of the rows that have a value."""
    parts = []
    for chunk in _chunks(col):
        n = len(chunk)
        if chunk.null_count == 0:
            parts.append(np.ones(n, bool))
        elif pa.types.is_null(chunk.type) or chunk.null_count == n:
            parts.append(np.zeros(n, bool))
        else:
            parts.append(_bits(chunk.buffers()[0], chunk.offset, n))
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _chunk_values(chunk: pa.Array, dtype: np.dtype) -> np.ndarray:
    n = len(chunk)
    typ = chunk.type
    if pa.types.is_null(typ) or n == 0:
        return np.zeros(n, dtype)
    if pa.types.is_boolean(typ):
        return _bits(chunk.buffers()[1], chunk.offset, n)
    own = _dtype(typ)
    return np.frombuffer(chunk.buffers()[1], own, count=n, offset=chunk.offset * own.itemsize)


def values(col: pa.Array | pa.ChunkedArray, fill: float | None = None) -> np.ndarray:
    """A column of numbers or bools as a numpy array of its own type; rows
    without a value hold ``fill`` (None: NaN, the array made float64 where
    it is not float already; what such a row holds is otherwise undefined).
    Read-only where it is a view of Arrow's memory."""
    chunks = _chunks(col)
    typ = col.type
    dtype = np.dtype(bool) if pa.types.is_boolean(typ) or pa.types.is_null(typ) else _dtype(typ)
    parts = [_chunk_values(c, dtype) for c in chunks]
    out = parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else np.zeros(0, dtype))
    if col.null_count == 0:
        return out
    missing = ~valid(col)
    if fill is None:
        out = out.astype(np.float64) if out.dtype.kind != "f" else out.copy()
        out[missing] = np.nan
    else:
        out = out.copy()
        out[missing] = fill
    return out
