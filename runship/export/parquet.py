"""Runs as Parquet (``runship export --to parquet:DEST``), for DuckDB,
Polars, Spark or Trino: one glob reads a whole project.

Layout under DEST (a directory or any fsspec URL)::

    <project>/runs.parquet                                   one row a run: id, name, state, times, tags,
                                                             group, job type, host, config.* and summary.*
    <project>/history/run_id=<id>/part-<first>-<end>.parquet  the history, wide: _step, _timestamp, _runtime,
                                                             one column per key; rows [first, end) of the run
    <project>/system/run_id=<id>/system.parquet              system metrics (rewritten at each export)
    <project>/console/run_id=<id>/console.parquet            console lines (rewritten at each export)

Incremental and idempotent: the number of history rows exported is kept in
the uploader's state store (per destination and run); an export writes
only the rows after it, as a new part named by its row range, and first
deletes parts a killed export may have left past that point. A part's
columns are the keys its rows hold: read with ``union_by_name`` (DuckDB)
or a unified schema (pyarrow.dataset).

    duckdb -c "SELECT run_id, max(\"val/acc\") FROM read_parquet('DEST/mnist/history/*/*.parquet',
               hive_partitioning=true, union_by_name=true) GROUP BY run_id"
"""

from __future__ import annotations

import io
import json
import math
import os
import posixpath
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runship import safefile
from runship.export.place import component, run_names
from runship.reader import arrow
from runship.reader.index import run_info

PART = "part-{first:012d}-{end:012d}.parquet"
OURS = re.compile(r"part-([0-9]{12})-[0-9]{12}\.parquet")  # the parts PART names


class ParquetDest:
    """A destination: a directory or fsspec URL. Every path is the root
    joined with single components (``place.component``); on a local
    directory, files are written and listed below it without following a
    link (``runship.safefile``)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        protocol = self.fs.protocol
        self.local = protocol in ("file", "local") or "file" in (protocol or ())
        if self.local:
            self.root = os.path.abspath(self.root)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *(component(p) for p in parts))

    def write_table(self, table: pa.Table, *parts: str) -> None:
        """Write a whole file: locally to a temporary name then renamed (no
        link followed); an object store writes whole objects anyway."""
        path = self.path(*parts)
        buf = io.BytesIO()
        # dictionaries for text only: numbers rarely repeat, and trying costs twice the time of the write
        text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        pq.write_table(table, buf, compression="zstd", use_dictionary=text)
        data = buf.getvalue()
        if self.local:
            os.makedirs(self.root, exist_ok=True)
            safefile.write_atomic(self.root, "/".join(parts), data)
        else:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            with self.fs.open(path, "wb") as f:
                f.write(data)

    def parts(self, *parts: str) -> list[str]:
        """The names of the files in a directory below the root (a link in
        the way of a local one: NotRegular)."""
        if self.local:
            try:
                return [name for name, kind, _ in _local_entries(self.root, parts) if kind == "file"]
            except FileNotFoundError:
                return []
        try:
            return sorted(posixpath.basename(p) for p in self.fs.ls(self.path(*parts), detail=False))
        except FileNotFoundError:
            return []

    def remove(self, *parts: str) -> None:
        if self.local:
            where = _open_local(self.root, parts[:-1])
            try:
                os.unlink(component(parts[-1]), dir_fd=where)
            except FileNotFoundError:
                pass
            finally:
                os.close(where)
            return
        try:
            self.fs.rm(self.path(*parts))
        except FileNotFoundError:
            pass


def _open_local(root: str, parts: tuple[str, ...]) -> int:
    """A descriptor of the existing directory ``root/parts...``, no link followed."""
    top = safefile.open_dir(root)
    try:
        return safefile.open_subdir(top, "/".join(component(p) for p in parts))
    finally:
        os.close(top)


def _local_entries(root: str, parts: tuple[str, ...]) -> list[tuple[str, str, int]]:
    where = _open_local(root, parts)
    try:
        return safefile.entries(where)
    finally:
        os.close(where)


def _column(values: list[Any]) -> pa.Array:
    """A column from a key's values: numbers as float64 (ints as int64),
    strings as strings, anything else as JSON text."""
    present = [v for v in values if v is not None]
    valid = np.fromiter((v is not None for v in values), bool, count=len(values))
    if present and all(isinstance(v, bool) for v in present):
        return arrow.numbers(np.array([bool(v) for v in values]), pa.bool_(), valid)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in present)
    if present and ints and all(-(2**63) <= v < 2**63 for v in present):
        return arrow.numbers(np.array([0 if v is None else v for v in values], np.int64), pa.int64(), valid)
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return arrow.numbers(np.array([0.0 if v is None else float(v) for v in values]), pa.float64(), valid)
    if present and all(isinstance(v, str) for v in present):
        return arrow.strings(values)
    return arrow.strings([None if v is None else json.dumps(_plain(v), default=str) for v in values])


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _table(rows: list[dict[str, Any]], first: list[str] | None = None) -> pa.Table:
    keys: dict[str, None] = dict.fromkeys(first or [])
    for r in rows:
        keys.update(dict.fromkeys(r))
    return pa.table({k: _column([r.get(k) for r in rows]) for k in keys})


MAX_RUN_COLUMNS = 4096  # columns of runs.parquet made of one run's config (and as many of its summary)


def _flatten(
    prefix: str, mapping: dict[str, Any], out: dict[str, Any], depth: int = 0, left: list[int] | None = None
) -> None:
    """Nested maps as dotted columns, at most MAX_RUN_COLUMNS of them for
    one ``prefix``; past that ``<prefix>…`` says how many keys were left
    out (a run's config of 100,000 keys is not 100,000 columns)."""
    left = [MAX_RUN_COLUMNS] if left is None else left
    for i, (k, v) in enumerate(mapping.items()):
        if left[0] <= 0:
            out[f"{prefix}…"] = f"{len(mapping) - i} more keys"
            return
        key = f"{prefix}{k}"
        if isinstance(v, dict) and "_type" not in v and depth < 6:
            _flatten(key + ".", v, out, depth + 1, left)
            continue
        left[0] -= 1
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[key] = v
        else:
            out[key] = json.dumps(_plain(v))


def mark_of(view: Any, rows: int) -> str:
    """What the run's row ``rows - 1`` is (its step and time): an export
    goes on from there only while that row is still the same."""
    if rows <= 0:
        return ""
    for _, table in view.history_tables(rows - 1, keys=[]):
        return f"{table.column('_step')[0].as_py()}@{table.column('_timestamp')[0].as_py()!r}"
    return "gone"


def _plain_column(col: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Numbers, bools and text as they are; any other value (a media
    reference, a list, a map; msgpack-packed by the reader) as JSON text."""
    if not pa.types.is_large_binary(col.type):
        return col
    import msgpack

    from runship.schema import limits

    return pa.chunked_array(
        [
            arrow.strings(
                [
                    None if v is None else json.dumps(_plain(msgpack.unpackb(v, **limits.DECODE)), default=str)
                    for v in chunk.to_pylist()
                ]
            )
            for chunk in col.chunks
        ],
        pa.large_string(),
    )


def history_part(tables: list[pa.Table]) -> pa.Table:
    """One table of a run's new rows (tables of ``RunView.history_tables``):
    a key with no value in them is left out; a key whose values are numbers
    of two kinds in two files becomes float64, of other kinds JSON text."""
    named: dict[str, None] = {}
    for table in tables:
        for name in table.column_names:
            col = table.column(name)
            if col.null_count < len(col) or name in ("_step", "_timestamp", "_runtime"):
                named[name] = None
    columns: dict[str, Any] = {}
    for name in named:
        cols = []
        for table in tables:
            cols.append(_plain_column(table.column(name)) if name in table.column_names else None)
        types = {c.type for c in cols if c is not None and c.null_count < len(c)}
        if len(types) > 1:
            if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
                typ: pa.DataType = pa.float64()
                cols = [None if c is None else c.cast(pa.float64()) for c in cols]
            else:
                typ = pa.large_string()
                cols = [None if c is None else _as_json(c) for c in cols]
        else:
            typ = types.pop() if types else pa.float64()
        chunks = []
        for c, table in zip(cols, tables):
            if c is None or c.null_count == len(c):
                chunks.append(pa.nulls(table.num_rows, typ))
            else:
                chunks.extend(c.cast(typ).chunks if c.type != typ else c.chunks)
        columns[name] = pa.chunked_array(chunks, typ)
    return pa.table(columns)


def _as_json(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_large_string(col.type) or pa.types.is_string(col.type):
        return col.cast(pa.large_string())
    return pa.chunked_array([arrow.strings([None if v is None else json.dumps(v) for v in col.to_pylist()])])


def export_run(view: Any, dest: ParquetDest, done_rows: int) -> int:
    """Export one run's new history rows (after ``done_rows``), its system
    metrics and console; returns the number of history rows exported in all.
    Only the stream files that hold the new rows are read."""
    project, run_id = run_names(view)
    where = (project, "history", f"run_id={run_id}")
    for name in dest.parts(*where):  # a killed export's parts past what is known done (ours only)
        m = OURS.fullmatch(name)
        if m and int(m.group(1)) >= done_rows:
            dest.remove(*where, name)
    tables = [table for _, table in view.history_tables(done_rows)]
    new: int = sum(t.num_rows for t in tables)
    end = done_rows + new
    if new:
        dest.write_table(history_part(tables), *where, PART.format(first=done_rows, end=end))
    system = list(view.system())
    if system:
        dest.write_table(
            _table(system, ["_timestamp", "_runtime"]), project, "system", f"run_id={run_id}", "system.parquet"
        )
    console = [{"n": i, **line} for i, line in enumerate(view.console())]
    if console:
        dest.write_table(
            _table(console, ["n", "t", "stream", "text"]), project, "console", f"run_id={run_id}", "console.parquet"
        )
    return end


def runs_table(views: list[Any]) -> pa.Table:
    """One row a run: what a listing shows, config and summary flattened."""
    rows = []
    for view in views:
        info = run_info(view)
        row: dict[str, Any] = {
            k: info.get(k)
            for k in (
                "id",
                "name",
                "state",
                "exit_code",
                "group",
                "job_type",
                "host",
                "job_id",
                "start_time",
                "last_write",
                "steps",
            )
        }
        row["tags"] = json.dumps(list(info.get("tags") or []))
        _flatten("config.", view.config, row)  # whole: a listing's info cuts a huge one
        _flatten("summary.", view.summary, row)
        rows.append(row)
    return _table(rows)
