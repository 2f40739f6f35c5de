"""protobuf's wire format, the little of it that runship's importers read
by hand (wandb's run log, TensorBoard's event records): the wire types and
a bounded varint."""

from __future__ import annotations

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``data[pos:end]``;
    ValueError when it runs past ``end`` or over 10 bytes."""
    result = shift = 0
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("a varint longer than 10 bytes")
    raise ValueError("a varint runs past its message")
