"""The uploader's progress: a small SQLite database in its own state directory.

A cache, never the truth: the remote is. Rows are keyed by target, project,
run id and file name, with a fingerprint of the file's first bytes (its
header names the session and segment); never by inode or device number,
which change across NFS remounts. A lock file makes a second uploader on the
same state directory step aside.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    target TEXT, project TEXT, run TEXT, name TEXT,
    fingerprint TEXT, scanned INTEGER, uploaded INTEGER,
    final INTEGER, finished INTEGER, updated REAL,
    PRIMARY KEY (target, project, run, name)
);
CREATE TABLE IF NOT EXISTS runs (
    target TEXT, project TEXT, run TEXT, path TEXT,
    done INTEGER, signature TEXT, last_upload REAL, error TEXT, bytes INTEGER,
    PRIMARY KEY (target, project, run, path)
);
CREATE TABLE IF NOT EXISTS derived (
    target TEXT, project TEXT, run TEXT, name TEXT, stamp TEXT,
    PRIMARY KEY (target, project, run, name)
);
"""


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "runship", "upload")


@dataclass
class FileState:
    fingerprint: str
    scanned: int  # offset just past the last verified commit record
    uploaded: int  # bytes the remote holds (as last seen or pushed)
    final: bool  # closed and, for object stores, stored whole
    finished: bool  # a finish record was seen in this file


class Busy(Exception):
    """Another uploader holds the state directory's lock."""


class State:
    def __init__(self, directory: str, lock: bool = True):
        self.directory = os.path.abspath(os.path.expanduser(directory))
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._lock_fd = None
        if lock:
            # close-on-exec: a child (git, a hook) must not inherit the lock
            self._lock_fd = os.open(
                os.path.join(self.directory, "upload.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(self._lock_fd, 64, 0).decode(errors="replace").strip()
                os.close(self._lock_fd)
                raise Busy(f"another uploader (pid {holder or '?'}) uses the state in {self.directory}") from None
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, str(os.getpid()).encode(), 0)
        self.db = sqlite3.connect(os.path.join(self.directory, "upload.sqlite3"), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        if "skipped" not in columns:  # a state database from before skipped files were counted
            self.db.execute("ALTER TABLE runs ADD COLUMN skipped TEXT")
        if "waiting" not in columns:  # from before files waiting to become stable were kept
            self.db.execute("ALTER TABLE runs ADD COLUMN waiting TEXT")

    @classmethod
    def for_dry_run(cls, directory: str) -> State:
        """The state as it is, read-only, creating nothing (not even the
        directory): for ``--dry-run`` and ``runship status``."""
        self = cls.__new__(cls)
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self._lock_fd = None
        path = os.path.join(self.directory, "upload.sqlite3")
        try:
            if not os.path.exists(path):
                raise sqlite3.OperationalError("no state yet")
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None)
            self.db.execute("SELECT 1 FROM runs LIMIT 1")
        except sqlite3.Error:
            self.db = sqlite3.connect(":memory:", isolation_level=None)
            self.db.executescript(SCHEMA)
            self.db.execute("ALTER TABLE runs ADD COLUMN skipped TEXT")
            self.db.execute("ALTER TABLE runs ADD COLUMN waiting TEXT")
        return self

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- runs --------------------------------------------------------------------
    def done_runs(self, target: str) -> dict[str, str]:
        """path -> signature of runs finished and fully uploaded to ``target``."""
        rows = self.db.execute("SELECT path, signature FROM runs WHERE target=? AND done=1", (target,))
        return dict(rows.fetchall())

    def set_run(
        self,
        target: str,
        project: str,
        run: str,
        path: str,
        *,
        done: bool,
        signature: str,
        error: str | None,
        uploaded: int,
        skipped: list[str] | None = None,
        waiting: list[str] | None = None,
    ) -> None:
        """``skipped``: files of the run that are not uploaded on purpose
        (links, FIFOs, devices, names no target accepts), as "path (why)";
        ``waiting``: files of a live run left for a later pass because they
        changed too recently (relative paths)."""
        now = time.time()
        self.db.execute(
            "INSERT INTO runs (target, project, run, path, done, signature, last_upload, error, bytes, skipped, waiting) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(target, project, run, path) DO UPDATE SET "
            "done=excluded.done, signature=excluded.signature, error=excluded.error, "
            "last_upload=CASE WHEN excluded.bytes > 0 THEN excluded.last_upload ELSE runs.last_upload END, "
            "bytes=runs.bytes + excluded.bytes, skipped=excluded.skipped, waiting=excluded.waiting",
            (
                target,
                project,
                run,
                path,
                int(done),
                signature,
                now if uploaded else None,
                error,
                uploaded,
                json.dumps(skipped) if skipped else None,
                json.dumps(waiting) if waiting else None,
            ),
        )

    def runs(self, target: str | None = None) -> list[dict[str, Any]]:
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        waiting = "waiting" if "waiting" in columns else "NULL"  # a read-only state from an older runship
        q = f"SELECT target, project, run, path, done, last_upload, error, bytes, skipped, {waiting} FROM runs"
        rows = self.db.execute(q + (" WHERE target=?" if target else ""), (target,) if target else ())
        keys = ("target", "project", "run", "path", "done", "last_upload", "error", "bytes", "skipped", "waiting")
        out = [dict(zip(keys, r)) for r in rows.fetchall()]
        for r in out:
            r["skipped"] = json.loads(r["skipped"]) if r["skipped"] else []
            r["waiting"] = json.loads(r["waiting"]) if r["waiting"] else []
        return out

    # ---- files -------------------------------------------------------------------
    def file(self, target: str, project: str, run: str, name: str) -> FileState | None:
        row = self.db.execute(
            "SELECT fingerprint, scanned, uploaded, final, finished FROM files WHERE target=? AND project=? AND run=? AND name=?",
            (target, project, run, name),
        ).fetchone()
        if row is None:
            return None
        return FileState(row[0], row[1], row[2], bool(row[3]), bool(row[4]))

    def set_file(self, target: str, project: str, run: str, name: str, fs: FileState) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                target,
                project,
                run,
                name,
                fs.fingerprint,
                fs.scanned,
                fs.uploaded,
                int(fs.final),
                int(fs.finished),
                time.time(),
            ),
        )

    def files(self, target: str, project: str, run: str) -> dict[str, FileState]:
        rows = self.db.execute(
            "SELECT name, fingerprint, scanned, uploaded, final, finished FROM files WHERE target=? AND project=? AND run=?",
            (target, project, run),
        )
        return {r[0]: FileState(r[1], r[2], r[3], bool(r[4]), bool(r[5])) for r in rows.fetchall()}

    # ---- derived files -----------------------------------------------------------------
    def derived(self, target: str, project: str, run: str) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT name, stamp FROM derived WHERE target=? AND project=? AND run=?", (target, project, run)
        )
        return dict(rows.fetchall())

    def set_derived(self, target: str, project: str, run: str, name: str, stamp: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO derived VALUES (?,?,?,?,?)", (target, project, run, name, stamp))
