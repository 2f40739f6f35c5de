"""The columnar cache: stream files, once decoded, kept as Parquet files.

A committed prefix of a stream file never changes, so its decoded form can be
kept: the rows as columns and what the fold needs of the rest (the other
records, each key's last value between them, counts and problems), in one
Parquet file per (file, committed length). The cache is derived, never the
source of truth:

- it lives outside run directories: ``$RUNSHIP_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/runship`` (``~/.cache/runship``); ``RUNSHIP_CACHE=off``
  turns it off. The directory is made private (0700); one that is a link,
  is not the user's own or can be written by others is not used;
- an entry is keyed by the file's identity (a hash of its header record,
  which names project, run, session, stream and segment) and its committed
  length, and it holds a copy of the commit record that ends that length: it
  is used only while the file's bytes there are the same (never inode or
  mtime);
- Parquet's page checksums cover the columns, a CRC32 covers runship's own
  metadata, and each column read must have the type and length the metadata
  names: an entry that fails any check is deleted and the file decoded
  again, so deleting or damaging any cache file at any moment changes no
  result;
- entries are written under a temporary name and renamed (several readers
  at once are fine); a column is read only when asked for (Parquet reads
  only its pages); the least recently used entries are deleted once the
  cache is over its size (``$RUNSHIP_CACHE_MAX_BYTES``, default 2 GiB).

Only files of version 2 and later are cached (their commit records have a fixed size).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import stat
import threading
import time
import zlib
from collections import OrderedDict
from typing import BinaryIO

import msgpack
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runship.reader import arrow, pyramid
from runship.reader.columns import Columns, Segment
from runship.reader.index import RunIndex
from runship.reader.plain import KEY_PREFIX
from runship.reader.stream import Problem, StreamFile, read_header
from runship.schema import format as fmt
from runship.schema import limits, names

ENTRY_VERSION = 4  # 4: with its block summary beside it
BLOCKS_VERSION = 1
ROW_GROUP_ROWS = 1 << 16  # rows of a row group at most: a zoom reads the few its rows are in
DEFAULT_MAX_BYTES = 2 * 1024**3
SUFFIX = ".parquet"
BLOCKS_SUFFIX = ".blocks.parquet"
_META = b"runship.segment"
_META_CRC = b"runship.crc"
_BLOCKS_META = b"runship.blocks"
_ALIASES = ("double", "int64", "bool")


def blocks_path(entry: str) -> str:
    """Where the block summary of the entry at ``entry`` is kept."""
    return entry[: -len(SUFFIX)] + BLOCKS_SUFFIX


def default_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("RUNSHIP_CACHE_DIR") or os.path.join(base, "runship")


def max_bytes_from_env() -> int:
    raw = os.environ.get("RUNSHIP_CACHE_MAX_BYTES")
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


def default_cache(directory: str | None = None) -> SegmentCache | None:
    """The cache the environment asks for (None with RUNSHIP_CACHE=off, or
    when its directory cannot be used safely)."""
    if directory is None and os.environ.get("RUNSHIP_CACHE", "").lower() in ("off", "0", "false", "no"):
        return None
    cache = SegmentCache(directory or default_dir(), max_bytes_from_env())
    return cache if cache.usable() else None


def _arrow_file(path: str) -> pa.NativeFile:
    """The entry at ``path`` opened by Arrow itself, not a link. Arrow's
    threads read a Parquet file (pre-buffering, decoding); handed a Python
    file they hold it, and one of them letting it go after the interpreter
    began to exit aborts the process ("terminate called without an active
    exception", apache/arrow#34314): no Python object is given to them."""
    named = os.lstat(path)
    if not stat.S_ISREG(named.st_mode):  # a link or a FIFO is not opened
        raise ValueError(f"{path}: not a regular file")
    f = pa.OSFile(path, "rb")
    opened = os.fstat(f.fileno())
    if (opened.st_dev, opened.st_ino) != (named.st_dev, named.st_ino):
        f.close()
        raise ValueError(f"{path}: replaced while it was opened")
    return f


class CacheDamaged(Exception):
    """An entry failed a check: it is deleted; the caller decodes the file."""


def private_dir(path: str) -> bool:
    """Make ``path`` (and missing parents) and check that it is a directory
    of this user that nobody else can write (a link is refused)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o022:
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


class MemoryTier:
    """Columns already read and checked, kept in this process up to
    ``max_bytes`` (least recently used out): for a long-lived reader such
    as ``runship ui``, where the same runs are read again and again. Keyed
    by the entry's path and metadata CRC, so a replaced entry is never
    mistaken for the one held; its size never grows past the bound."""

    FOOTERS = 1024  # Parquet footers kept (parsed): a zoom reads a few row groups of many files

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._held: OrderedDict[tuple[str, bytes, str], pa.ChunkedArray] = OrderedDict()
        self._footers: OrderedDict[tuple[str, bytes], pq.FileMetaData] = OrderedDict()
        self._lock = threading.Lock()

    def footer(self, path: str, crc: bytes) -> pq.FileMetaData | None:
        """The parsed footer of the entry at ``path`` whose metadata CRC is ``crc``, if kept."""
        with self._lock:
            meta = self._footers.get((path, crc))
            if meta is not None:
                self._footers.move_to_end((path, crc))
            return meta

    def keep_footer(self, path: str, crc: bytes, meta: pq.FileMetaData) -> None:
        with self._lock:
            self._footers[(path, crc)] = meta
            while len(self._footers) > self.FOOTERS:
                self._footers.popitem(last=False)

    def get(self, key: tuple[str, bytes, str]) -> pa.ChunkedArray | None:
        with self._lock:
            col = self._held.get(key)
            if col is not None:
                self._held.move_to_end(key)
            return col

    def put(self, key: tuple[str, bytes, str], col: pa.ChunkedArray) -> None:
        size = col.nbytes
        if size > self.max_bytes // 4:
            return  # one column may not take the room of many
        with self._lock:
            old = self._held.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._held[key] = col
            self.nbytes += size
            while self.nbytes > self.max_bytes and self._held:
                _, gone = self._held.popitem(last=False)
                self.nbytes -= gone.nbytes


class CachedColumns(Columns):
    """The columns of a cache entry, each read from the Parquet file the
    first time it is used, and checked."""

    def __init__(self, path: str, types: dict[str, str], rows: int, meta_crc: bytes, memory: MemoryTier | None = None):
        super().__init__(None)
        self._path = path
        self._meta_crc = meta_crc  # the entry read at open: the same one must be read again
        self._types = types
        self._names = list(types)
        self._rows = rows
        self._loaded: dict[str, pa.ChunkedArray] = {}
        self._memory = memory

    def load(self, wanted: list[str]) -> None:
        """Read these columns (one pass over the file for all of them)."""
        missing = [n for n in dict.fromkeys(wanted) if n not in self._loaded and n in self._types]
        if self._memory is not None:
            for name in list(missing):
                held = self._memory.get((self._path, self._meta_crc, name))
                if held is not None:
                    self._loaded[name] = held
                    missing.remove(name)
        if not missing:
            return
        try:
            with _arrow_file(self._path) as f:
                table = self._open(f).read(columns=missing, use_threads=True)
        except Exception as e:  # gone (swept, deleted), replaced, cut short, a checksum failed
            _remove(self._path)
            raise CacheDamaged(f"{self._path}: {type(e).__name__}: {e}") from None
        if table.num_rows != self._rows or table.column_names != missing:
            _remove(self._path)
            raise CacheDamaged(f"{self._path}: not the columns its metadata names")
        for name in missing:
            col = table.column(name)
            if str(col.type) != self._types[name]:
                _remove(self._path)
                raise CacheDamaged(f"{self._path}: column {name!r} is {col.type}, not {self._types[name]}")
            self._loaded[name] = col
            if self._memory is not None:
                self._memory.put((self._path, self._meta_crc, name), col)

    def release(self, name: str) -> None:
        self._loaded.pop(name, None)
        self._present.pop(name[len(KEY_PREFIX) :], None)

    def named(self, name: str) -> pa.ChunkedArray:
        col = self._loaded.get(name)
        if col is None:
            if name not in self._types:
                raise KeyError(name)
            self.load([name])
            col = self._loaded[name]
        return col

    def whole(self) -> pa.Table:
        self.load(self._names)
        return pa.table({n: self._loaded[n] for n in self._names})

    def rows_slices(self, names: list[str], ranges: list[tuple[int, int]]) -> list[dict[str, pa.ChunkedArray]]:
        held = {}
        for n in names:
            col = self._loaded.get(n)
            if col is None and self._memory is not None:
                col = self._memory.get((self._path, self._meta_crc, n))
            if col is not None:
                held[n] = col
        missing = [n for n in names if n not in held]
        read = self._read_rows(missing, ranges) if missing else [{} for _ in ranges]
        return [{**{n: c.slice(a, b - a) for n, c in held.items()}, **got} for (a, b), got in zip(ranges, read)]

    def _open(self, f: pa.NativeFile) -> pq.ParquetFile:
        """The entry's Parquet file, checked to be the entry read at open
        (its footer parsed once while the memory tier keeps it)."""
        meta = self._memory.footer(self._path, self._meta_crc) if self._memory is not None else None
        pf = pq.ParquetFile(f, metadata=meta, page_checksum_verification=True)
        if meta is None:
            if (pf.metadata.metadata or {}).get(_META_CRC) != self._meta_crc:
                raise ValueError("another entry's file")
            if self._memory is not None:
                self._memory.keep_footer(self._path, self._meta_crc, pf.metadata)
        return pf

    def _read_rows(self, names: list[str], ranges: list[tuple[int, int]]) -> list[dict[str, pa.ChunkedArray]]:
        """Rows [start, stop) of each range of columns not read yet: only
        the row groups they are in, in one read."""
        try:
            with _arrow_file(self._path) as f:
                pf = self._open(f)
                meta = pf.metadata
                starts = [0]
                for g in range(meta.num_row_groups):
                    starts.append(starts[-1] + meta.row_group(g).num_rows)
                if starts[-1] != self._rows:
                    raise ValueError("not as many rows as its metadata names")
                groups = sorted(
                    {g for a, b in ranges for g in range(meta.num_row_groups) if starts[g] < b and starts[g + 1] > a}
                )
                table = pf.read_row_groups(groups, columns=names, use_threads=False)
        except Exception as e:
            _remove(self._path)
            raise CacheDamaged(f"{self._path}: {type(e).__name__}: {e}") from None
        for n in names:
            if str(table.column(n).type) != self._types[n]:
                _remove(self._path)
                raise CacheDamaged(f"{self._path}: column {n!r} is {table.column(n).type}, not {self._types[n]}")
        at = {}  # a row group's first row -> where it starts in the table read
        done = 0
        for g in groups:
            at[g] = done
            done += starts[g + 1] - starts[g]
        out = []
        for a, b in ranges:
            g = bisect.bisect_right(starts, a) - 1
            first = at[g] + a - starts[g] if b > a else 0
            out.append({n: table.column(n).slice(first, max(0, b - a)) for n in names})
        return out

    def summary(self, key: str, x: str | None = None) -> dict[str, np.ndarray] | None:
        """The block summary kept beside the entry (``blocks_path``); made
        from the columns when it is missing or fails a check."""
        name = KEY_PREFIX + key
        if name in self._types and self._types[name] not in _ALIASES:
            return None  # not numbers
        xname = None if x is None else KEY_PREFIX + x
        wanted = [f"{k}:{n}" for n in pyramid.X_NAMES for k in ("x0", "x1", "ok")]
        if xname is not None:
            wanted += [f"{k}:{xname}" for k in ("x0", "x1", "ok")]
        if name in self._types:
            wanted += [f"{p}.{s}:{name}" for s in pyramid.STATS for p in "rvst"]
            if xname is not None:
                wanted += [pyramid.point_x(s, xname, name) for s in pyramid.STATS]
        got = self._read_blocks(wanted)
        if got is None:
            return super().summary(key, x)
        if any(n not in got for n in wanted if not n.startswith("p.")):
            return None  # an x the summary does not serve
        return pyramid.for_key(got, name, self._rows, xname)

    def _read_blocks(self, wanted: list[str]) -> dict[str, np.ndarray] | None:
        path = blocks_path(self._path)
        out: dict[str, np.ndarray] = {}
        missing = []
        for n in wanted:
            held = self._memory.get((path, self._meta_crc, n)) if self._memory is not None else None
            if held is None:
                missing.append(n)
            else:
                out[n] = arrow.values(held)
        if not missing:
            return out
        try:
            with _arrow_file(path) as f:
                pf = pq.ParquetFile(f, page_checksum_verification=True)
                meta = pf.metadata.metadata or {}
                info = msgpack.unpackb(meta[_BLOCKS_META], **limits.DECODE)
                if zlib.crc32(meta[_BLOCKS_META]) != int(meta[_META_CRC]):
                    raise ValueError("metadata checksum")
                if info != {"v": BLOCKS_VERSION, "block": pyramid.BLOCK, "rows": self._rows, "entry": self._meta_crc}:
                    raise ValueError("not this entry's")
                have = set(pf.schema_arrow.names)
                missing = [n for n in missing if n in have]  # others: not summarized
                table = pf.read(columns=missing, use_threads=False)
        except FileNotFoundError:
            return None
        except Exception:
            _remove(path)
            return None
        blocks = pyramid.blocks_of(self._rows)
        if table.num_rows != blocks or table.column_names != missing:
            _remove(path)
            return None
        for n in missing:
            col = table.column(n)
            if self._memory is not None:
                self._memory.put((path, self._meta_crc, n), col)
            out[n] = arrow.values(col)
        return out


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def identity(head: bytes, sf: StreamFile) -> str | None:
    """The identity of a stream file from its first bytes: a hash of its
    header record (None without a version 2 or later header). Sets ``sf.header``."""
    import io

    end = read_header(io.BytesIO(head), sf)
    if not end or sf.version < 2 or sf.version > fmt.FORMAT_VERSION:
        return None
    return hashlib.sha256(head[:end]).hexdigest()[:40]


class SegmentCache:
    def __init__(self, directory: str, max_bytes: int = DEFAULT_MAX_BYTES, memory_bytes: int = 0):
        """``memory_bytes``: columns read are also kept in this process, up
        to that many bytes (``MemoryTier``); 0: none."""
        self.directory = os.path.abspath(directory)
        self.max_bytes = max_bytes
        self.memory = MemoryTier(memory_bytes) if memory_bytes > 0 else None
        self._written = 0
        self._last_sweep = 0.0
        self._usable: bool | None = None
        self._index: RunIndex | None = None

    def usable(self) -> bool:
        """Is the directory private to this user (made so if missing)?"""
        if self._usable is None:
            self._usable = private_dir(self.directory)
        return self._usable

    def _dir(self, ident: str) -> str:
        return os.path.join(self.directory, "segments", ident[:2], ident)

    def index(self) -> RunIndex | None:
        """The run index kept next to the columns (None if the directory cannot be used)."""
        if not self.usable():
            return None
        if self._index is None:
            self._index = RunIndex(self.directory)
        return self._index

    # ---- reading ------------------------------------------------------------------
    def lengths(self, ident: str) -> list[int]:
        """Committed lengths with an entry, longest first."""
        try:
            found = os.listdir(self._dir(ident))
        except OSError:
            return []
        out = [int(n[: -len(SUFFIX)]) for n in found if n.endswith(SUFFIX) and n[: -len(SUFFIX)].isdigit()]
        return sorted(out, reverse=True)

    def load(self, ident: str, length: int, commit: bytes | None, sf: StreamFile) -> Segment | None:
        """The entry of ``length`` committed bytes if its commit record is
        ``commit`` (the file's bytes there; None: known to be), with ``sf``
        filled from it; None when there is none. Raises CacheDamaged for an
        entry that fails a check (it is deleted)."""
        path = os.path.join(self._dir(ident), f"{length}{SUFFIX}")
        try:
            meta = pq.read_metadata(path).metadata or {}
        except FileNotFoundError:
            return None
        except Exception:  # not a Parquet file, cut short
            _remove(path)
            raise CacheDamaged(path) from None
        try:
            blob = meta[_META]
            if zlib.crc32(blob) != int(meta[_META_CRC]):
                raise ValueError("metadata checksum")
            info = msgpack.unpackb(blob, **limits.DECODE)
            if info.get("v") != ENTRY_VERSION:
                return None
            if info["id"] != ident or info["len"] != length:
                raise ValueError("not this entry")
            if commit is not None and info["commit"] != commit:
                return None  # not this file's prefix: the file was replaced
            seg = Segment(
                CachedColumns(path, dict(info["types"]), int(info["rows"]), meta[_META_CRC], self.memory),
                [(int(pos), rec) for pos, rec in info["records_at"]],
                info["first_t"],
                info["last_t"],
                {int(a): (int(b), dict(v)) for a, b, v in info["lasts"]},
                info["last_step"],
                [int(e) for e in info["ends"]] if info["ends"] is not None else None,
                any(Problem(sf.path, int(o), str(k), "").is_corruption for o, k, _ in info["problems"]),
            )
            sf.header = info["header"]
            sf.committed = length
            sf.batches = info["batches"]
            sf.records = info["records"]
            sf.bad_records = info["bad"]
            sf.dropped_problems = info["dropped"]
            sf.problems[:] = [Problem(sf.path, int(o), str(k), str(m)) for o, k, m in info["problems"]]
        except Exception:
            _remove(path)
            raise CacheDamaged(path) from None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return seg

    # ---- writing --------------------------------------------------------------------
    def store(
        self, ident: str, length: int, commit: bytes, seg: Segment, sf: StreamFile, base: int | None = None
    ) -> bool:
        """Keep a decoded prefix of ``length`` committed bytes (best effort:
        a cache that cannot be written changes nothing), with its block
        summary; ``base``: the length of the entry ``seg`` extends (its
        summary's whole blocks are kept). True once kept."""
        problems = [(p.offset, p.kind, p.message) for p in sf.problems if p.offset < length]
        problems = [p for p in problems if p[1] not in ("uncommitted-tail", "zero-tail")]
        try:
            table = seg.columns.whole()
            info = {
                "v": ENTRY_VERSION,
                "id": ident,
                "len": length,
                "commit": commit,
                "header": sf.header,
                "batches": sf.batches,
                "records": sf.records,
                "bad": sf.bad_records,
                "dropped": sf.dropped_problems,
                "problems": problems,
                "records_at": [[pos, rec] for pos, rec in seg.records],
                "first_t": seg.first_t,
                "last_t": seg.last_t,
                "lasts": [[a, b, v] for a, (b, v) in seg.fold_lasts().items()],
                "last_step": seg.last_step,
                "ends": [e for e in sf.ends if e <= length] if sf.ends is not None else None,
                "rows": table.num_rows,
                "types": {n: str(table.column(n).type) for n in table.column_names},
            }
            blob = msgpack.packb(info, datetime=True)
            crc = str(zlib.crc32(blob)).encode()
            table = table.replace_schema_metadata({_META: blob, _META_CRC: crc})
            d = self._dir(ident)
            if not self.usable():
                return False
            os.makedirs(d, mode=0o700, exist_ok=True)
            final = os.path.join(d, f"{length}{SUFFIX}")
            tmp = os.path.join(d, names.temp_name(f"{length}{SUFFIX}"))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            # row groups of at most ~16 MiB, so that writing holds little more than the table
            per_row = max(1, table.nbytes // max(1, table.num_rows))
            group = max(1024, min(ROW_GROUP_ROWS, (16 << 20) // per_row))
            with os.fdopen(fd, "wb") as out:
                pq.write_table(
                    table,
                    out,
                    row_group_size=group,
                    compression="none",
                    write_statistics=False,
                    write_page_checksum=True,
                    use_dictionary=[n for n in table.column_names if not _numeric(table.column(n).type)],
                    # steps and other integers are mostly increasing: a few bits each
                    column_encoding={
                        n: "DELTA_BINARY_PACKED" for n in table.column_names if pa.types.is_int64(table.column(n).type)
                    },
                )
            os.replace(tmp, final)
            self._store_blocks(d, length, table, crc, base)
            for n in os.listdir(d):  # shorter prefixes of the same file are of no more use
                stem = n[: -len(BLOCKS_SUFFIX)] if n.endswith(BLOCKS_SUFFIX) else n[: -len(SUFFIX)]
                if n.endswith(SUFFIX) and stem.isdigit() and int(stem) < length:
                    _remove(os.path.join(d, n))
            self._written += os.path.getsize(final)
        except Exception:
            return False
        if self._written > self.max_bytes // 10 or time.monotonic() - self._last_sweep > 300:
            self.sweep()
        return True

    def _store_blocks(self, d: str, length: int, table: pa.Table, crc: bytes, base: int | None) -> None:
        """Write the block summary of the entry of ``length`` (its metadata
        CRC ``crc``), keeping the whole blocks of entry ``base``'s."""
        prev, prev_rows = None, 0
        if base is not None:
            try:
                with _arrow_file(os.path.join(d, f"{base}{BLOCKS_SUFFIX}")) as f:
                    pf = pq.ParquetFile(f, page_checksum_verification=True)
                    meta = pf.metadata.metadata or {}
                    if zlib.crc32(meta[_BLOCKS_META]) != int(meta[_META_CRC]):
                        raise ValueError("metadata checksum")
                    info = msgpack.unpackb(meta[_BLOCKS_META], **limits.DECODE)
                    if info.get("v") != BLOCKS_VERSION or info.get("block") != pyramid.BLOCK:
                        raise ValueError("another kind of summary")
                    old = pf.read(use_threads=False)
                prev = {n: arrow.values(old.column(n)) for n in old.column_names}
                prev_rows = int(info["rows"])
            except Exception:  # none, or not usable: made again
                prev = None
        summary = pyramid.extend(prev, prev_rows, table)
        info = {"v": BLOCKS_VERSION, "block": pyramid.BLOCK, "rows": table.num_rows, "entry": crc}
        blob = msgpack.packb(info)
        blocks = pa.table({n: _column(a) for n, a in summary.items()})  # no pa.array: it imports pandas
        blocks = blocks.replace_schema_metadata({_BLOCKS_META: blob, _META_CRC: str(zlib.crc32(blob)).encode()})
        final = os.path.join(d, f"{length}{BLOCKS_SUFFIX}")
        tmp = os.path.join(d, names.temp_name(f"{length}{BLOCKS_SUFFIX}"))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as out:
            pq.write_table(
                blocks, out, compression="none", write_statistics=False, write_page_checksum=True, use_dictionary=False
            )
        os.replace(tmp, final)
        self._written += os.path.getsize(final)

    def sweep(self) -> None:
        """Delete the least recently used entries until the cache is at most
        80% of its size limit (and temporary files older than an hour)."""
        self._written = 0
        self._last_sweep = time.monotonic()
        entries: list[tuple[float, int, str]] = []
        root = os.path.join(self.directory, "segments")
        now = time.time()
        try:
            for a in os.scandir(root):
                for b in os.scandir(a.path):
                    for e in os.scandir(b.path):
                        st = e.stat(follow_symlinks=False)
                        if names.is_temp_name(e.name):
                            if now - st.st_mtime > 3600:
                                _remove(e.path)
                            continue
                        entries.append((st.st_mtime, st.st_size, e.path))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):
            _remove(path)
            total -= size
            if total <= self.max_bytes * 0.8:
                break


def _numeric(typ: pa.DataType) -> bool:
    return bool(pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ))


def probe(f: BinaryIO, size: int) -> tuple[bytes, int]:
    """The bytes a cache lookup needs from a file: its first record (up to
    SMALL_RECORD bytes). Returns (bytes, their length)."""
    f.seek(0)
    head = f.read(min(size, limits.SMALL_RECORD))
    return head, len(head)


def commit_at(f: BinaryIO, length: int) -> bytes:
    f.seek(length - fmt.COMMIT_SIZE)
    return f.read(fmt.COMMIT_SIZE)


def tail_after(seg: Segment, tail: Segment) -> Segment:
    """A cached prefix and the segment decoded after it, as one."""
    from runship.reader.columns import concat_columns

    rows = seg.columns.rows
    records = seg.records + [(pos + rows, rec) for pos, rec in tail.records]
    lasts = [t for t in (seg.last_t, tail.last_t) if t is not None]
    return Segment(
        concat_columns(seg.columns, tail.columns),
        records,
        seg.first_t,
        max(lasts) if lasts else None,
        dict(seg.lasts),  # a stretch that goes on into the tail no longer matches: read from the columns
        tail.last_step if tail.last_step is not None else seg.last_step,
    )


def resolve_cache(cache: SegmentCache | str | os.PathLike[str] | bool | None) -> SegmentCache | None:
    """``True``: the environment's cache; a directory: a cache there; a
    SegmentCache; ``False``/None: none."""
    if cache is True:
        return default_cache()
    if isinstance(cache, (str, os.PathLike)):
        return default_cache(os.fspath(cache))
    return cache or None


def _column(values: np.ndarray) -> pa.Array:
    """A block summary's column (int64, float64 or bool numbers) as an arrow array."""
    if values.dtype == np.bool_:
        return arrow.numbers(values, pa.bool_())
    typ = pa.int64() if values.dtype.kind in "iu" else pa.float64()
    return arrow.numbers(values, typ)
