"""Size limits of the format, enforced while decoding (never after).

The writer never writes past them (a record over the limit is refused at
``log()`` with an error naming the limit); the reader, the uploader and the
server apply them to whatever bytes they are given, so a file or a request
body costs memory in proportion to its size with a small constant, whatever
its content. ``docs/FORMAT.md`` lists them.
"""

from __future__ import annotations

from collections.abc import Sized
from itertools import chain, compress
from typing import Any

import msgpack

MAX_RECORD_BYTES = 16 * 1024 * 1024  # one record, packed
MAX_BATCH_BYTES = 64 * 1024 * 1024  # one batch (records between two commit records)
WRITER_BATCH_BYTES = 16 * 1024 * 1024  # the writer splits larger batches (a record may go past it)
MAX_ITEMS = 1 << 18  # elements of all maps and arrays of one record, together
MAX_DEPTH = 100  # nesting of maps and arrays in one record (user values: 64, see values.MAX_DEPTH)
MAX_EXT_BYTES = 64  # extension values (the Timestamp extension uses at most 12)
MAX_TIME = 1e10  # record timestamps: 0 <= t < MAX_TIME (the year 2286)
_CONTAINERS = frozenset({dict, list})
_DICT, _LIST = frozenset({dict}), frozenset({list})
SMALL_RECORD = 64 * 1024  # records up to this size are decoded without counting their items
READ_CHUNK = 1024 * 1024  # bytes read from a file at a time
KEPT_ITEMS = 1 << 18  # values of records other than rows a reader keeps decoded, per stream file and per run fold
KEPT_RESERVE = 1 << 16  # past KEPT_ITEMS: small finish/signal/loss records are still kept, up to this many values
KEPT_CELLS = 1 << 24  # cells (rows x keys) of one stream file's history columns a reader builds, at least
CELLS_PER_BYTE = 16  # ... or this many per byte of the file: past both, its sparsest keys' columns are not built
KEPT_COLUMNS = (
    1 << 14
)  # history keys (columns) of one stream file a reader builds; values of later new keys are not kept
KEPT_ARTIFACTS = 1 << 16  # artifact records (log_artifact, each table's run_table) a reader keeps per run
KEPT_ARTIFACT_FILES = 1 << 16  # files of one artifact record a reader keeps
MAX_ARTIFACT_NAME = 4096  # an artifact's name or type (longer: not an artifact a reader lists)
KEPT_METRICS = 4096  # metric definitions (define_metric names) a reader keeps per run; later new names: a problem
KEPT_METRIC_GLOBS = 32  # of them, globs ("train/*"): each is tried against every key a summary folds
NOT_KEPT = "<not kept: past the reader's limit of values kept per run (runship/schema/limits.py KEPT_ITEMS)>"

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


def count_items(value: object, limit: int) -> int:
    """The elements of the maps and lists in ``value`` (each container
    counts its length plus one), counted level by level until they pass
    ``limit``; the work per element is done in C (``map``, ``chain``)."""
    level: list[Any] = [value] if type(value) in _CONTAINERS else []
    count = 0
    while level:
        count += sum(map(len, level)) + len(level)
        if count > limit:
            break
        types = set(map(type, level))
        lists: Any = compress(level, map(_LIST.__contains__, map(type, level))) if list in types else ()
        dicts: Any = compress(level, map(_DICT.__contains__, map(type, level))) if dict in types else ()
        children: list[Any] = list(chain(chain.from_iterable(lists), chain.from_iterable(map(dict.values, dicts))))
        level = list(compress(children, map(_CONTAINERS.__contains__, map(type, children))))
    return count


class Budget:
    """How many more values a reader may keep decoded (``KEPT_ITEMS``).
    Past it, values are not kept: the caller keeps ``NOT_KEPT`` or a
    problem instead. Once a value did not fit, no more containers are
    taken (what is given back still counts), so refusing stays cheap."""

    def __init__(self, limit: int = KEPT_ITEMS):
        self.left = limit
        self.refused = False

    def take(self, value: object) -> int | None:
        """The elements of ``value`` now counted against what is left (0
        for a scalar), or None: it does not fit, do not keep it."""
        if not isinstance(value, (dict, list)):
            return 0
        if self.refused:
            return None
        n = count_items(value, self.left)
        if n > self.left:
            self.refused = True
            return None
        self.left -= n
        return n

    def give(self, n: int) -> None:
        """``n`` elements taken earlier are no longer kept."""
        self.left += n


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
