"""The framing of TensorBoard's event files (TFRecord), read with bounds.

Each record: ``length (8, little-endian) | masked CRC-32C of the length (4)
| data | masked CRC-32C of the data (4)``. An event file is input, whoever
wrote it: a length whose CRC does not match ends the file (nothing after
it can be trusted), reported; a record longer than ``MAX_RECORD_BYTES`` is
reported and skipped without being read; a record whose data CRC does not
match is reported and skipped, and reading goes on; a torn tail (a file
still being written) ends the file quietly, and ``positioned`` says where
a later read goes on from.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from runship.integration.protowire import varint
from runship.schema import limits

#: the largest event read: runship's batch limit (an event's images are
#: saved as files, so one event may be larger than one runship record)
MAX_RECORD_BYTES = limits.MAX_BATCH_BYTES
_HEAD = struct.Struct("<QI")

#: fields of one event walked (its summary's values, their tensors' shapes
#: and strings): each of those that is a message costs the protobuf parser
#: a hundred bytes or so, and takes two bytes of the record
MAX_EVENT_FIELDS = limits.MAX_ITEMS
# the messages of an Event that may repeat: Event.summary 5 > Summary.value 1
# > Value.tensor 8 > TensorProto.tensor_shape 2 > dim 2, string_val 8
# (None: counted, not walked into)
_REPEATED: dict[int, Any] = {5: {1: {8: {2: {2: None}, 8: None}}}}

__all__ = ["MAX_EVENT_FIELDS", "MAX_RECORD_BYTES", "check_event", "positioned", "records"]


def _crc32c() -> Callable[[bytes], int]:
    """CRC-32C: the crc32c package's (C, installed with runship[tensorboard]), else TensorBoard's own (Python)."""
    try:
        from crc32c import crc32c
    except ImportError:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c  # type: ignore[no-redef,unused-ignore]
    return crc32c


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(f: BinaryIO, path: str, warn: Callable[[str], None], limit: int = MAX_RECORD_BYTES) -> Iterator[bytes]:
    """The records of the event file open as ``f`` (named ``path`` in what
    ``warn`` is given), each checked and read whole, at most ``limit`` bytes."""
    for _end, data in positioned(f, path, warn, limit=limit):
        if data is not None:
            yield data


def positioned(
    f: BinaryIO, path: str, warn: Callable[[str], None], start: int = 0, limit: int = MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """(offset past it, its data) of each record of ``f`` from byte
    ``start`` (a record's own start), data None for one skipped (too large,
    bad CRC): the last offset given is where a later read of the same file
    goes on. A torn record (still being written) or a bad length CRC ends
    the records given before it, so the next read starts there again."""
    crc32c = _crc32c()
    offset = start
    f.seek(start)
    while len(head := f.read(_HEAD.size)) == _HEAD.size:
        length, length_crc = _HEAD.unpack(head)
        if _masked(crc32c(head[:8])) != length_crc:
            warn(f"{path}: byte {offset}: bad CRC of a record's length: the rest of the file is not read")
            return
        if length > limit:
            warn(f"{path}: byte {offset}: a record of {length} bytes, larger than {limit} bytes: skipped")
            offset += _HEAD.size + length + 4
            f.seek(offset)
            yield offset, None
            continue
        data = f.read(length)
        tail = f.read(4)
        if len(data) < length or len(tail) < 4:
            return  # torn: still being written
        at, offset = offset, offset + _HEAD.size + length + 4
        if _masked(crc32c(data)) != struct.unpack("<I", tail)[0]:
            warn(f"{path}: byte {at}: bad CRC: the record is skipped")
            yield offset, None
        else:
            yield offset, data


def check_event(data: bytes, limit: int = MAX_EVENT_FIELDS) -> None:
    """ValueError if the event's bytes hold more than ``limit`` fields where
    an event's messages repeat (summary values, tensor dimensions and
    strings): two bytes of a record could otherwise make a parsed message
    of a hundred. Walks at most ``limit`` fields; never parses."""
    seen = 0
    stack = [(0, len(data), _REPEATED)]
    while stack:
        pos, end, inner = stack.pop()
        while pos < end:
            seen += 1
            if seen > limit:
                raise ValueError(f"more than {limit} fields in its summary")
            tag, pos = varint(data, pos, end)
            wire = tag & 7
            if wire == 0:
                pos = varint(data, pos, end)[1]
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                length, pos = varint(data, pos, end)
                walk = inner.get(tag >> 3)
                if walk is not None and pos + length <= end:
                    stack.append((pos, pos + length, walk))
                pos += length
            else:
                return  # groups: not an event's; the parser decides
