"""Where the web app reads runs: run roots on disk, fsspec URLs and
runship servers (``Place``, for ``runship ui``), or the store of a
``runship serve`` (``StorePlace``). Every answer is built per request from
the reader (its cache and run index make that cheap); nothing here keeps
state that grows with page views."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from runship.errors import RunNotFound
from runship.reader.listing import ListingMemo
from runship.store.location import is_url, local_path
from runship.web.serialize import RowMemo
from runship.web.storage import Storage

DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024


def app_cache(cache: Any = True, memory_bytes: int | None = None) -> Any:
    """The reader's cache for a long-lived app: the one asked for (True:
    the environment's; a directory; False: none), keeping columns it reads
    in memory too, up to ``memory_bytes`` ($RUNSHIP_UI_MEMORY_MB, default
    512 MiB): the same runs are read again at every poll and zoom."""
    from runship.reader.cache import SegmentCache, resolve_cache

    found = resolve_cache(cache)
    if found is None:
        return False
    if memory_bytes is None:
        try:
            memory_bytes = int(float(os.environ.get("RUNSHIP_UI_MEMORY_MB", "512")) * 1024 * 1024)
        except ValueError:
            memory_bytes = DEFAULT_MEMORY_BYTES
    return SegmentCache(found.directory, found.max_bytes, memory_bytes=max(0, memory_bytes))


class Runs(Protocol):
    """What the web app needs of a place: its runs listed and one opened."""

    memo: RowMemo  # the runs table's rows made at the last listing

    def infos(self, project: str | None = None, allowed: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
        """Listing entries (``run_info``) of one project or all, of the projects ``allowed``."""
        ...

    def open(self, project: str, run_id: str) -> Any:
        """The run (a ``RunView``); RunNotFound if it is not there."""
        ...


class Place:
    """A run root: a directory, an fsspec URL or a runship server's URL."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None, cache: Any = True):
        self.root = local_path(root)
        self.storage_options = storage_options or {}
        self.cache = cache
        self.memo = RowMemo()
        self.listed = ListingMemo()
        self._lock = threading.Lock()  # one listing at a time: the next one finds the runs in the memo

    def infos(self, project: str | None = None, allowed: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
        """The runs of one project or all, of the projects ``allowed``."""
        from runship.reader.listing import list_runs

        try:
            with self._lock:
                return list_runs(
                    self.root, project, self.storage_options, cache=self.cache, memo=self.listed, allowed=allowed
                )
        except RunNotFound:
            if is_url(self.root):  # an object store holds no prefix until its first run comes
                return []
            raise  # a local root that went away: said, not shown as an empty table

    def location(self, project: str, run_id: str) -> str:
        if is_url(self.root):
            return f"{self.root.rstrip('/')}/{project}/{run_id}"
        return os.path.join(self.root, project, run_id)

    def open(self, project: str, run_id: str) -> Any:
        from runship.reader.run import open_run

        return open_run(  # below a local root, no link is followed
            self.location(project, run_id), storage_options=self.storage_options, cache=self.cache, root=self.root
        )

    def __str__(self) -> str:
        return self.root


class StorePlace:
    """The store of a ``runship serve``: its projects are its directories."""

    def __init__(self, storage: Storage, cache: Any = True):
        self.storage = storage
        self.cache = cache
        self.memo = RowMemo()

    def infos(self, project: str | None = None, allowed: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
        """The runs of one project or all, of the projects ``allowed``
        (a token's scope: the others are not read)."""
        projects = [project] if project is not None else self.storage.projects()
        out = []
        for p in projects:
            if allowed is None or allowed(p):
                out += self.storage.list_infos(p, cache=self.cache)
        return out

    def open(self, project: str, run_id: str) -> Any:
        from runship.reader.run import open_run

        location = self.storage.run_location(project, run_id)
        return open_run(
            location, storage_options=self.storage.storage_options, cache=self.cache, root=self.storage.root
        )

    def __str__(self) -> str:
        return str(self.storage.root)
