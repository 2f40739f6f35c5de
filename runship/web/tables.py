"""Pages of a run's table files (``wandb.Table`` as JSON: ``{"columns":
[...], "data": [[...], ...]}``) in memory bounded by the page, whatever the
file holds.

A table file is read once (at most ``MAX_TABLE_BYTES``) to find where each
row starts and ends; nothing but the columns is decoded then. The row
spans (at most ``MAX_TABLE_ROWS`` rows) are kept in a small cache by the
file's identity, so the next page reads and decodes only its own rows,
each at most ``MAX_ROW_BYTES`` (a longer one is shown as a note), a page at
most ``MAX_PAGE_BYTES``. A sort decodes the rows one at a time and keeps
only their sort keys and the order.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_TABLE_BYTES = 64 * 1024 * 1024  # a table file larger is refused
MAX_TABLE_ROWS = 200_000  # rows of one table that can be paged through (the rest are counted as not shown)
MAX_ROW_BYTES = 16 * 1024  # a row longer is shown as a note, not decoded
MAX_PAGE_BYTES = 512 * 1024  # rows of one page, together; past it, rows are shown as a note
MAX_COLUMNS_BYTES = 1024 * 1024
CACHED_TABLES = 8
SORT_TEXT = 200  # characters of a string that a sort compares

_WS = re.compile(rb"\s*")
_FLAT_ROW = re.compile(rb"\[[^\[\]{}\"]*\]")  # a row of numbers, booleans and nulls: found in one C call
# a string (its closing quote optional, so that one never closed is matched
# once, to the end of the bytes, not tried again from each quote inside it:
# that was quadratic), or a bracket
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*("?)|[\[\]{}]', re.DOTALL)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(rb"[^,\]\s]*")
_KEY = re.compile(rb'"(columns|data)"\s*:\s*\[')


class TableError(ValueError):
    """Not a table this page can show (what was wrong is said)."""


@dataclass
class Table:
    columns: list[str]
    starts: array[int]
    ends: array[int]
    more: bool  # rows past MAX_TABLE_ROWS, not shown
    orders: OrderedDict[tuple[str, bool], array[int]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TableCache:
    """The row spans of the last ``CACHED_TABLES`` tables read, by identity."""

    def __init__(self, size: int = CACHED_TABLES):
        self.size = size
        self._tables: OrderedDict[tuple[Any, ...], Table] = OrderedDict()
        self._lock = threading.Lock()
        self._building = threading.Lock()  # one table read at a time: bounded memory

    def get(self, key: tuple[Any, ...], f: Any) -> Table:
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
        with self._building:
            with self._lock:
                if key in self._tables:
                    return self._tables[key]
            f.seek(0)
            table = index_table(f.read(MAX_TABLE_BYTES + 1))
            with self._lock:
                self._tables[key] = table
                while len(self._tables) > self.size:
                    self._tables.popitem(last=False)
            return table


def identity(f: Any) -> tuple[int, str]:
    """(size, hash of its first and last 4 KiB) of an open file."""
    size = f.seek(0, io.SEEK_END)
    if size > MAX_TABLE_BYTES:
        raise TableError(f"a table file of {size} bytes: at most {MAX_TABLE_BYTES} are shown")
    f.seek(0)
    head = f.read(4096)
    f.seek(max(0, size - 4096))
    return size, hashlib.sha256(head + f.read(4096)).hexdigest()


def index_table(buf: bytes) -> Table:
    """The columns and the span of each row of a table file's bytes."""
    if len(buf) > MAX_TABLE_BYTES:
        raise TableError(f"a table file over {MAX_TABLE_BYTES} bytes")
    found = {m.group(1): m.end() - 1 for m in _first_keys(buf)}
    if b"columns" not in found or b"data" not in found:
        raise TableError("not a table (no columns and data)")
    columns = _columns(buf, found[b"columns"])
    starts, ends = array("q"), array("q")
    more = _rows(buf, found[b"data"] + 1, starts, ends)
    return Table(columns, starts, ends, more)


def _first_keys(buf: bytes) -> list[re.Match[bytes]]:
    out: dict[bytes, re.Match[bytes]] = {}
    for m in _KEY.finditer(buf):
        out.setdefault(m.group(1), m)
        if len(out) == 2:
            break
    return list(out.values())


def _columns(buf: bytes, at: int) -> list[str]:
    end = _value_end(buf, at)
    if end is None or end - at > MAX_COLUMNS_BYTES:
        raise TableError(f"the table's columns are not a list of at most {MAX_COLUMNS_BYTES} bytes")
    try:
        columns = json.loads(buf[at:end])
    except ValueError as e:
        raise TableError(f"the table's columns are not JSON ({e})") from None
    except RecursionError:
        raise TableError("the table's columns are nested too deep") from None
    if not isinstance(columns, list):
        raise TableError("the table's columns are not a list")
    return [str(c) for c in columns]


def _rows(buf: bytes, pos: int, starts: array[int], ends: array[int]) -> bool:
    """Fill the spans of the rows (lists) of the data array from ``pos``;
    True if rows past MAX_TABLE_ROWS were left out."""
    n = len(buf)
    while True:
        pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
        if pos >= n or buf[pos] == 0x5D:  # ]
            return False
        if len(starts) >= MAX_TABLE_ROWS:
            return True
        end = _value_end(buf, pos)
        if end is None:
            raise TableError(f"the table's data is cut short or not JSON (byte {pos})")
        if buf[pos] == 0x5B:  # [: a row; anything else in data is not one
            starts.append(pos)
            ends.append(end)
        pos = _WS.match(buf, end).end()  # type: ignore[union-attr]
        if pos < n and buf[pos] == 0x2C:  # ,
            pos += 1


def _value_end(buf: bytes, pos: int) -> int | None:
    """Where the JSON value at ``pos`` ends (brackets matched, strings
    skipped, nothing decoded); None if the bytes end first."""
    first = buf[pos : pos + 1]
    if first == b"[":
        flat = _FLAT_ROW.match(buf, pos)
        if flat is not None:
            return flat.end()
    if first in (b"[", b"{"):
        depth = 0
        for m in _TOKEN.finditer(buf, pos):
            c = m.group()[:1]
            if c == b'"':
                if not m.group(1):
                    return None  # a string the bytes end in
            elif c in (b"[", b"{"):
                depth += 1
            elif c in (b"]", b"}"):
                depth -= 1
                if depth == 0:
                    return m.end()
        return None
    if first == b'"':
        string = _STRING.match(buf, pos)
        return string.end() if string else None
    return _SCALAR.match(buf, pos).end()  # type: ignore[union-attr]


def page(table: Table, f: Any, offset: int, limit: int, sort: str | None, desc: bool) -> dict[str, Any]:
    """Rows [offset, offset + limit) of the table, sorted by a column."""
    total = len(table.starts)
    order = _order(table, f, sort, desc) if sort is not None else None
    rows, spent = [], 0
    for i in range(offset, min(total, offset + limit)):
        j = order[i] if order is not None else i
        size = table.ends[j] - table.starts[j]
        spent += size
        if size > MAX_ROW_BYTES:
            rows.append([f"<a row of {size} bytes: not shown (at most {MAX_ROW_BYTES})>"])
        elif spent > MAX_PAGE_BYTES:
            rows.append([f"<not shown: this page's rows are over {MAX_PAGE_BYTES} bytes; ask for fewer>"])
        else:
            rows.append(_row(f, table.starts[j], size))
    out: dict[str, Any] = {"columns": table.columns, "rows": rows, "total": total}
    if table.more:
        out["more"] = f"only the first {MAX_TABLE_ROWS} rows can be shown"
    return out


def _row(f: Any, start: int, size: int) -> list[Any]:
    f.seek(start)
    return _decoded(f.read(size))


def _decoded(raw: bytes) -> list[Any]:
    try:
        row = json.loads(raw)
    except ValueError as e:
        return [f"<a row that is not JSON: {e}>"]
    except RecursionError:
        return ["<a row nested too deep to show>"]
    return row if isinstance(row, list) else [row]


def _order(table: Table, f: Any, sort: str, desc: bool) -> array[int]:
    if sort not in table.columns:
        raise TableError(f"no column {sort[:100]!r}")
    with table.lock:
        cached = table.orders.get((sort, desc))
        if cached is not None:
            return cached
        i = table.columns.index(sort)
        f.seek(0)
        buf = f.read(MAX_TABLE_BYTES)  # read once for the sort (a remote file is not read row by row)
        keys = [_sort_key(buf, start, end, i) for start, end in zip(table.starts, table.ends)]
        del buf
        order = array("q", sorted(range(len(keys)), key=keys.__getitem__, reverse=desc))
        table.orders[(sort, desc)] = order
        while len(table.orders) > 4:
            table.orders.popitem(last=False)
        return order


def _sort_key(buf: bytes, start: int, end: int, i: int) -> tuple[int, Any]:
    if end - start > MAX_ROW_BYTES:
        return (2, "")
    row = _decoded(buf[start:end])
    v = row[i] if i < len(row) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v) if v == v else (2, 0)
    return (1, str(v)[:SORT_TEXT]) if v is not None else (2, "")
