"""The framing of TensorBoard's event files (TFRecord), read with bounds.

Each record: ``length (8, little-endian) | masked CRC-32C of the length (4)
| data | masked CRC-32C of the data (4)``. An event file is input, whoever
wrote it: a length whose CRC does not match ends the file (nothing after
it can be trusted), reported; a record longer than ``MAX_RECORD_BYTES`` is
reported and skipped without being read; a record whose data CRC does not
match is reported and skipped, and reading goes on; a torn tail (a file
still being written) ends the file quietly.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from runship.schema import limits

#: the largest event read: runship's batch limit (an event's images are
#: saved as files, so one event may be larger than one runship record)
MAX_RECORD_BYTES = limits.MAX_BATCH_BYTES
_HEAD = struct.Struct("<QI")

__all__ = ["MAX_RECORD_BYTES", "records"]


def _crc32c() -> Callable[[bytes], int]:
    """CRC-32C: the crc32c package's (C, installed with runship[tensorboard]), else TensorBoard's own (Python)."""
    try:
        from crc32c import crc32c
    except ImportError:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c
    return crc32c


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(f: BinaryIO, path: str, warn: Callable[[str], None], limit: int = MAX_RECORD_BYTES) -> Iterator[bytes]:
    """The records of the event file open as ``f`` (named ``path`` in what
    ``warn`` is given), each checked and read whole, at most ``limit`` bytes."""
    crc32c = _crc32c()
    offset = 0
    while len(head := f.read(_HEAD.size)) == _HEAD.size:
        length, length_crc = _HEAD.unpack(head)
        if _masked(crc32c(head[:8])) != length_crc:
            warn(f"{path}: byte {offset}: bad CRC of a record's length: the rest of the file is not read")
            return
        if length > limit:
            warn(f"{path}: byte {offset}: a record of {length} bytes, larger than {limit} bytes: skipped")
            offset += _HEAD.size + length + 4
            f.seek(offset)
            continue
        data = f.read(length)
        tail = f.read(4)
        if len(data) < length or len(tail) < 4:
            return  # torn: still being written
        if _masked(crc32c(data)) != struct.unpack("<I", tail)[0]:
            warn(f"{path}: byte {offset}: bad CRC: the record is skipped")
        else:
            yield data
        offset += _HEAD.size + length + 4
