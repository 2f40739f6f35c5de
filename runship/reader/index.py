"""The run index: what listings need of each run, kept between calls.

``runship ls``, ``Api.runs()`` and the server's project listing show each
run's state, steps, config, summary, tags... Folding every run for each
listing costs a read of every run. The index keeps, per run location, that
fold's result (a few KB) with the run's *signature*: the names, sizes and
modification times (local) or ETags (object stores) of its run stream files.
A listing computes each run's signature from one directory listing and
folds again only the runs whose signature changed.

Like the column cache it is derived and disposable: one SQLite file in the
cache directory (``index.sqlite``), written with WAL so that readers and
writers in several processes do not wait on each other; an entry that
cannot be decoded is folded again; deleting the file at any moment only
costs the next listing a full read. A run that is still running is judged
"running" or "crashed" at read time from its last write, as ``RunView.state``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable
from typing import Any

import msgpack

from runship.schema import limits

INDEX_VERSION = 3  # 2: host and job_id; 3: config and summary cut (listed), "cut"
FILE = "index.sqlite"
_LIVE = ("running", "crashed")


def run_info(view: Any) -> dict[str, Any]:
    """What a listing needs of a run (``RunView``), msgpack-able."""
    last = view.sessions[-1] if view.sessions else None
    env = view.environment or {}
    config, config_cut = listed(view.config)
    summary, summary_cut = listed(view.summary)
    return {
        "location": view.location,
        "project": view.project,
        "id": view.id,
        "name": view.name,
        "entity": view.entity,
        "group": view.group,
        "job_type": view.job_type,
        "tags": view.tags,
        "notes": view.notes,
        "state": view.state,
        "exit_code": view.exit_code,
        "steps": view.next_step,
        "last_step": view.last_step,
        "start_time": view.start_time,
        "last_write": view.last_write,
        "live_t": last.last_t if last is not None else None,
        "stale_after": view.stale_after if view.sessions else None,
        "config": config,
        "summary": summary,
        "cut": [what for what, cut in (("config", config_cut), ("summary", summary_cut)) if cut],
        "lost": view.lost,
        "dropped": view.dropped,
        "sessions": len(view.all_sessions),
        "problems": len([p for p in view.problems if p.is_corruption]),
        "problem_list": [str(p) for p in view.problems if p.is_corruption][:5],
        "error": view.error,
        "host": env.get("host") if isinstance(env.get("host"), str) else None,
        "job_id": job_id(env.get("scheduler")),
    }


LISTED_KEYS = 200  # keys of a run's config or summary that a listing keeps
LISTED_ITEMS = 2000  # elements of their maps and lists, together
LISTED_TEXT = 64 * 1024  # characters of their strings, together
LISTED_STRING = 1000  # characters of one string


def listed(values: Any) -> tuple[dict[str, Any], bool]:
    """What a listing keeps of a config or summary: at most LISTED_KEYS
    keys (then ``"…": "N more keys"``), LISTED_ITEMS elements of maps and
    lists, LISTED_TEXT characters, strings cut to LISTED_STRING. A listing
    costs memory by what it shows, whatever a run holds. Returns the
    values and whether anything was cut (a caller wanting it all then
    reads the run)."""
    if not isinstance(values, dict):
        return {}, bool(values)
    left = [LISTED_ITEMS, LISTED_TEXT]
    out = _cut_map(values, left, LISTED_KEYS, 0)
    return out, out is not values


def _cut_map(values: dict[str, Any], left: list[int], keys: int, depth: int) -> Any:
    out: dict[str, Any] = {}
    changed = False
    for i, (key, value) in enumerate(values.items()):
        if i >= keys or left[0] <= 0:
            out["…"] = f"{len(values) - i} more keys"
            return out
        left[0] -= 1
        kept = _cut(value, left, depth + 1)
        changed = changed or kept is not value
        out[key] = kept
    return out if changed else values


def _cut(value: Any, left: list[int], depth: int) -> Any:
    if isinstance(value, str):
        if len(value) > min(LISTED_STRING, max(0, left[1])):
            value = value[: min(LISTED_STRING, max(0, left[1]))] + f"… ({len(value)} characters)"
        left[1] -= len(value)
        return value
    if isinstance(value, (bytes, bytearray)):
        return value if len(value) <= 64 else f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return _cut_map(value, left, LISTED_KEYS, depth) if depth < 16 else "…"
    if isinstance(value, list):
        if depth >= 16:
            return "…"
        out = []
        for i, item in enumerate(value):
            if left[0] <= 0:
                out.append(f"… {len(value) - i} more")
                return out
            left[0] -= 1
            out.append(_cut(item, left, depth + 1))
        return out if any(a is not b for a, b in zip(out, value)) else value
    return value


def job_id(scheduler: Any) -> str | None:
    """The batch scheduler's job id of a session (an array task as JOB_TASK)."""
    if not isinstance(scheduler, dict) or scheduler.get("job_id") is None:
        return None
    job, task = scheduler.get("array_job_id") or scheduler["job_id"], scheduler.get("array_task_id")
    return f"{job}_{task}" if task is not None else str(scheduler["job_id"])


def state_of(info: dict[str, Any], now: float | None = None, stale_after: float | None = None) -> str:
    """The run's state now: as folded, except that a run without a finish
    record is running until its heartbeat is overdue, then crashed."""
    state = str(info.get("state"))
    if state not in _LIVE:
        return state
    live, limit = info.get("live_t"), stale_after if stale_after is not None else info.get("stale_after")
    if not isinstance(live, (int, float)) or not isinstance(limit, (int, float)):
        return "crashed"
    return "crashed" if (time.time() if now is None else now) - live > limit else "running"


def remote_signature(entries: Iterable[tuple[str, int, str]]) -> str:
    """A hash of (relative name, size, ETag or modification time) of a run's
    stream objects and chunks."""
    h = hashlib.sha256()
    for name, size, tag in sorted(entries):
        h.update(f"{name}\0{size}\0{tag}\n".encode())
    return h.hexdigest()


class RunIndex:
    """The index file of a cache directory (made private by the cache)."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, FILE)
        self._db: sqlite3.Connection | None = None
        self._failed = False
        self._lock = threading.RLock()  # one connection, used by one thread at a time

    def _conn(self) -> sqlite3.Connection | None:  # with the lock held
        for _ in range(2):  # a file that is not a database is replaced once
            if self._db is not None or self._failed:
                break
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
                os.close(fd)
                db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            except (OSError, sqlite3.Error):
                self._failed = True  # no index: listings fold every run
                break
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS runs (location TEXT PRIMARY KEY, signature TEXT NOT NULL,"
                    " info BLOB NOT NULL, crc INTEGER NOT NULL)"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS seen (location TEXT PRIMARY KEY, stamp TEXT NOT NULL,"
                    " ident TEXT NOT NULL, length INTEGER NOT NULL)"
                )
                self._db = db
            except sqlite3.OperationalError:
                db.close()
                self._failed = True  # busy, read-only, ...: no index this time
            except sqlite3.Error as e:
                db.close()
                self._damaged(e)
        return self._db

    def _get_unlocked(self, locations: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """location -> (signature, info) for those known."""
        db = self._conn()
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        if db is None or not locations:
            return out
        try:
            rows: list[tuple[str, str, bytes, int]] = []
            for i in range(0, len(locations), 500):
                chunk = locations[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows += db.execute(
                    f"SELECT location, signature, info, crc FROM runs WHERE location IN ({marks})", chunk
                ).fetchall()
        except sqlite3.Error as e:
            self._damaged(e)
            return out
        for location, signature, blob, crc in rows:
            if zlib.crc32(blob) != crc:
                continue  # damaged: folded again
            try:
                info = msgpack.unpackb(blob, **limits.DECODE)
            except Exception:
                continue
            if isinstance(info, dict) and info.get("v") == INDEX_VERSION:
                out[location] = (signature, info["run"])
        return out

    def _put_unlocked(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Keep (location, signature, info) entries (best effort)."""
        db = self._conn()
        if db is None or not entries:
            return
        rows = []
        for location, signature, info in entries:
            try:
                blob = msgpack.packb({"v": INDEX_VERSION, "run": info}, datetime=True)
            except Exception:
                continue
            rows.append((location, signature, blob, zlib.crc32(blob)))
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as e:
            self._damaged(e)

    # ---- stream files whose bytes were checked against a cache entry ------------------
    def _seen_unlocked(self, location: str) -> tuple[str, str, int] | None:
        """(stamp, identity, length) last checked for a stream file."""
        db = self._conn()
        if db is None:
            return None
        try:
            row = db.execute("SELECT stamp, ident, length FROM seen WHERE location = ?", (location,)).fetchone()
        except sqlite3.Error:
            return None
        return (str(row[0]), str(row[1]), int(row[2])) if row else None

    def _see_unlocked(self, location: str, stamp: str, ident: str, length: int) -> None:
        """The file, as ``stamp`` says it is, holds the entry's ``length`` bytes."""
        db = self._conn()
        if db is None:
            return
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?)", (location, stamp, ident, length))
        except sqlite3.Error:
            pass

    def _damaged(self, error: sqlite3.Error) -> None:
        """A file that is not a database (damaged, cut short) is deleted: the
        next call starts a new one. Busy or locked: left as it is."""
        if isinstance(error, sqlite3.OperationalError):
            return
        self._close_unlocked()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(self.path + suffix)
            except OSError:
                pass

    def _close_unlocked(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def get(self, locations: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """location -> (signature, info) for those known."""
        with self._lock:
            return self._get_unlocked(locations)

    def put(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Keep (location, signature, info) entries (best effort)."""
        with self._lock:
            self._put_unlocked(entries)

    def seen(self, location: str) -> tuple[str, str, int] | None:
        """(stamp, identity, length) last checked for a stream file."""
        with self._lock:
            return self._seen_unlocked(location)

    def see(self, location: str, stamp: str, ident: str, length: int) -> None:
        """The file, as ``stamp`` says it is, holds the entry's ``length`` bytes."""
        with self._lock:
            self._see_unlocked(location, stamp, ident, length)

    def close(self) -> None:
        with self._lock:
            self._close_unlocked()
