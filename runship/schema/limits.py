"""Size limits of the format, enforced while decoding (never after).

The writer never writes past them (a record over the limit is refused at
``log()`` with an error naming the limit); the reader, the uploader and the
server apply them to whatever bytes they are given, so a file or a request
body costs memory in proportion to its size with a small constant, whatever
its content. ``docs/FORMAT.md`` lists them.
"""

from __future__ import annotations

from collections.abc import Sized

import msgpack

MAX_RECORD_BYTES = 16 * 1024 * 1024  # one record, packed
MAX_BATCH_BYTES = 64 * 1024 * 1024  # one batch (records between two commit records)
WRITER_BATCH_BYTES = 16 * 1024 * 1024  # the writer splits larger batches (a record may go past it)
MAX_ITEMS = 1 << 18  # elements of all maps and arrays of one record, together
MAX_DEPTH = 100  # nesting of maps and arrays in one record (user values: 64, see values.MAX_DEPTH)
MAX_EXT_BYTES = 64  # extension values (the Timestamp extension uses at most 12)
MAX_TIME = 1e10  # record timestamps: 0 <= t < MAX_TIME (the year 2286)
SMALL_RECORD = 64 * 1024  # records up to this size are decoded without counting their items
READ_CHUNK = 1024 * 1024  # bytes read from a file at a time

#: Unpacker limits (a single map or array may not hold more than MAX_ITEMS)
UNPACK_LIMITS = dict(
    max_str_len=MAX_RECORD_BYTES,
    max_bin_len=MAX_RECORD_BYTES,
    max_array_len=MAX_ITEMS,
    max_map_len=MAX_ITEMS,
    max_ext_len=MAX_EXT_BYTES,
)
DECODE = dict(raw=False, strict_map_key=True, timestamp=3, **UNPACK_LIMITS)


class LimitError(ValueError):
    """A record goes past one of the format's limits."""


def decode_counted(data: bytes | memoryview) -> object:
    """Decode one record of more than SMALL_RECORD bytes, counting the
    elements of its maps and arrays as they are built and stopping at
    MAX_ITEMS, so that a small record of many empty maps cannot expand to
    gigabytes."""
    count = 0

    def counted(container: Sized) -> Sized:
        nonlocal count
        count += len(container) + 1
        if count > MAX_ITEMS:
            raise LimitError(f"more than {MAX_ITEMS} elements in one record")
        return container

    return msgpack.unpackb(data, object_hook=counted, list_hook=counted, **DECODE)


def check_packed(data: bytes, what: str) -> None:
    """For the writer: raise LimitError if a packed record would not be read back."""
    if len(data) > MAX_RECORD_BYTES:
        raise LimitError(
            f"{what} is {len(data)} bytes packed; one record may be at most {MAX_RECORD_BYTES} bytes "
            "(save large data as a file with run.save())"
        )
    if len(data) > SMALL_RECORD:
        try:
            decode_counted(data)
        except LimitError:
            raise LimitError(
                f"{what} holds more than {MAX_ITEMS} values in its maps and lists; save it as a file with run.save()"
            ) from None
        except (ValueError, msgpack.ExtraData) as e:
            if "exceeds max_" in str(e):
                raise LimitError(
                    f"{what} holds a map or list of more than {MAX_ITEMS} values; save it as a file with run.save()"
                ) from None
            raise LimitError(f"{what} cannot be read back: {e}") from None
