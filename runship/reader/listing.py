"""Finding runs under a root and summarising them cheaply (``runship ls``)."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runship.errors import RunNotFound
from runship.schema import annotations as annotation_schema
from runship.schema import format as fmt
from runship.store.location import is_server_url, is_url, local_path


def run_dirs(
    root: str,
    project: str | None = None,
    storage_options: dict[str, Any] | None = None,
    on_error: Callable[[str, OSError], None] | None = None,
) -> Iterator[str]:
    """Yield ``<root>/<project>/<id>`` directories (or URLs) that hold run
    stream files, and those that cannot be read (so that a listing says so).
    ``root`` may be a local path or an fsspec URL. ``on_error(path, error)``
    hears of project directories that cannot be read."""
    from runship.store.http import server_run_urls

    root = local_path(root)
    if is_server_url(root):
        yield from server_run_urls(root, project, storage_options)
        return
    if is_url(root):
        yield from _remote_run_dirs(root, project, storage_options)
        return
    for r in _local_run_entries(root, project, on_error):
        if _has_run_stream(r.path):
            yield r.path


def _local_run_entries(
    root: str,
    project: str | None,
    on_error: Callable[[str, OSError], None] | None,
    allowed: Callable[[str], bool] | None = None,
) -> Iterator[os.DirEntry[str]]:
    """The directories two levels below a local root (``<project>/<run>``),
    in name order: of ``project`` only, or of the projects ``allowed``
    says. Links below a root are not followed (as the uploader does not);
    ``on_error(path, error)`` hears of project directories that cannot be
    read. RunNotFound where there is no root."""
    try:
        projects = sorted(os.scandir(root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        raise RunNotFound(f"no run root at {root}") from None
    for p in projects:
        if p.name.startswith(".") or not p.is_dir(follow_symlinks=False):
            continue
        if (project is not None and p.name != project) or (allowed is not None and not allowed(p.name)):
            continue
        try:
            runs = sorted(os.scandir(p.path), key=lambda e: e.name)
        except OSError as e:
            if on_error is not None:
                on_error(p.path, e)
            continue
        yield from (r for r in runs if r.is_dir(follow_symlinks=False))


def project_names(root: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The projects that hold runs under ``root`` (names only are read)."""
    return sorted({d.rstrip("/").rsplit("/", 2)[-2] for d in run_dirs(root, None, storage_options)})


#: what to give instead of a path that is not runship's
GIVE = "give a runship root (holding <project>/<run>/ directories), a project directory or a run directory"
_UP = 4  # ancestors looked at for a run that a path lies inside (files/media/<key>/...)


@dataclass(frozen=True)
class LocalPath:
    """What a local path given to ``upload`` or ``export`` is.

    ``kind``: ``"root"``, ``"project"`` (its subdirectories are runs),
    ``"run"`` (it holds stream files), ``"empty"`` (a directory holding no
    run down to its runs' depth: a root whose runs have not come yet, or a
    wrong path), ``"missing"`` (does not exist), ``"file"`` (not a
    directory), ``"inside"`` (a directory inside the run ``run_dir``).
    ``reason``: one line saying what is wrong and what to give instead
    (empty for a root, project or run)."""

    path: str
    kind: str
    reason: str = ""
    run_dir: str | None = None

    @property
    def usable(self) -> bool:
        """Runs can be found here, now or later."""
        return self.kind in ("root", "project", "run", "empty")


def classify_local(path: str) -> LocalPath:
    """Is ``path`` a root, a project directory, a run directory, or none of
    these (and why)? Only names are read, and no link below ``path`` is
    followed; the first run found decides."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        return LocalPath(path, "missing", f"no run root at {path}: it does not exist; {GIVE}")
    if not os.path.isdir(path):
        return LocalPath(path, "file", f"{path} is a file, not a directory; {GIVE}")
    if _holds_stream(path):
        return LocalPath(path, "run")
    children = _subdirs(path)
    if any(_holds_stream(c) for c in children):
        return LocalPath(path, "project")
    # a run another user keeps from us still makes a root (listings name it unreadable)
    if any(_holds_stream(g, unreadable=True) for c in children for g in _subdirs(c)):
        return LocalPath(path, "root")
    up = path
    for _ in range(_UP):
        parent = os.path.dirname(up)
        if parent == up:
            break
        up = parent
        if _holds_stream(up):
            return LocalPath(
                path, "inside", f"{path} is inside the run directory {up}, not a run root; give {up} (or its root)", up
            )
    what = "an empty directory" if not _entries(path) else "no run directories (holding run stream files) in it"
    return LocalPath(path, "empty", f"no runs at {path}: {what}; {GIVE}")


def local_runs(located: LocalPath, project: str | None = None) -> list[str]:
    """The run directories of a classified local path (``classify_local``)."""
    if located.kind == "run":
        return [located.path]
    if located.kind == "project":
        return [c for c in _subdirs(located.path) if _has_run_stream(c)]
    if located.kind == "root":
        return list(run_dirs(located.path, project))
    return []


def _entries(path: str) -> list[os.DirEntry[str]]:
    try:
        return sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return []


def _subdirs(path: str) -> list[str]:
    """Subdirectories, not links, not hidden."""
    return [e.path for e in _entries(path) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]


def _holds_stream(path: str, unreadable: bool = False) -> bool:
    """Does the directory hold a stream file? ``unreadable``: the answer for
    one that cannot be listed (permission denied)."""
    try:
        return any(fmt.parse_stream_file_name(n) for n in os.listdir(path))
    except PermissionError:
        return unreadable
    except OSError:
        return False


def _remote_run_dirs(url: str, project: str | None, storage_options: dict[str, Any] | None) -> Iterator[str]:
    import fsspec

    from runship.store.objectstore import fresh_ls, fs_options

    fs, base = fsspec.core.url_to_fs(url.rstrip("/"), **fs_options(url, storage_options))
    base = base.rstrip("/")
    url = url.rstrip("/")
    try:
        projects = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fresh_ls(fs, base))
    except FileNotFoundError:
        raise RunNotFound(f"no run root at {url}") from None
    for p in projects:
        if p.startswith(".") or (project is not None and p != project):
            continue
        try:
            runs = sorted(r.rstrip("/").rsplit("/", 1)[-1] for r in fresh_ls(fs, f"{base}/{p}"))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for r in runs:
            try:
                names = [n.rstrip("/").rsplit("/", 1)[-1] for n in fresh_ls(fs, f"{base}/{p}/{r}")]
            except (FileNotFoundError, NotADirectoryError):
                continue
            if fmt.CHUNK_DIR in names or any(fmt.parse_stream_file_name(n) for n in names):
                yield f"{url}/{p}/{r}"


def _has_run_stream(path: str) -> bool:
    """Does the directory hold a run stream file? True also when it cannot
    be listed (permission denied): what it is must then be said, not hidden."""
    try:
        for name in os.listdir(path):
            parsed = fmt.parse_stream_file_name(name)
            if parsed and parsed[0] == fmt.RUN_STREAM:
                return True
    except PermissionError:
        return True
    except OSError:
        pass
    return False


def summarize(
    run_dir: str, stale_after: float | None = None, storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One row of ``runship ls``. A finished run whose ``run.json`` is newer
    than all its stream files is summarised from it without reading streams.
    Never raises: a run that cannot be read is a row saying why."""
    try:
        return _summarize(run_dir, stale_after, storage_options)
    except Exception as e:  # one bad run must never take a listing down
        name = run_dir.rstrip("/").rsplit("/", 1)[-1]
        parent = run_dir.rstrip("/").rsplit("/", 2)[-2] if "/" in run_dir.rstrip("/") else ""
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return {
            "project": parent,
            "id": name,
            "name": name,
            "state": "unreadable",
            "exit_code": None,
            "steps": None,
            "last_write": None,
            "location": run_dir,
            "problems": 1,
            "error": f"{type(e).__name__}: {reason}",
        }


def _summarize(run_dir: str, stale_after: float | None, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    snap = _fresh_snapshot(run_dir) if not is_url(run_dir) else None
    if snap is not None:
        return {
            "project": snap.get("project"),
            "id": snap.get("id"),
            "name": snap.get("name"),
            "state": snap.get("state"),
            "exit_code": snap.get("exit_code"),
            "steps": snap.get("steps"),
            "last_write": snap.get("last_write"),
            "location": run_dir,
        }
    from runship.reader.run import open_run

    run = open_run(run_dir, stale_after=stale_after, storage_options=storage_options)
    return {
        "project": run.project,
        "id": run.id,
        "name": run.name,
        "state": run.state,
        "exit_code": run.exit_code,
        "steps": run.next_step,
        "last_write": run.last_write,
        "location": run_dir,
        "problems": len([p for p in run.problems if p.is_corruption]),
    }


_SNAPSHOT_TYPES: dict[str, type | tuple[type, ...]] = {
    "project": str,
    "id": str,
    "name": (str, type(None)),
    "steps": int,
    "exit_code": (int, type(None)),
}


def _fresh_snapshot(run_dir: str) -> dict[str, Any] | None:
    """run.json if it is a regular file (never through a link), of the
    expected shape, says finished and is newer than every stream file."""
    from runship import safefile

    try:
        fd = safefile.open_dir(run_dir)
        try:
            entries = safefile.entries(fd)
        finally:
            os.close(fd)
        kinds = {name: kind for name, kind, _ in entries}
        if kinds.get("run.json") != "file":
            return None
        snap_mtime = os.stat(os.path.join(run_dir, "run.json"), follow_symlinks=False).st_mtime
        newest = 0.0
        for name, kind, _ in entries:
            if kind == "file" and fmt.parse_stream_file_name(name):
                newest = max(newest, os.stat(os.path.join(run_dir, name), follow_symlinks=False).st_mtime)
        if newest > snap_mtime:
            return None
        snap = json.loads(safefile.read_bytes(run_dir, "run.json", 16 * 1024 * 1024))
    except (OSError, ValueError):
        return None
    if not isinstance(snap, dict) or snap.get("state") not in ("finished", "failed"):
        return None
    if any(not isinstance(snap.get(k), t) for k, t in _SNAPSHOT_TYPES.items()):
        return None
    if not isinstance(snap.get("last_write"), (int, float)):
        return None  # written by an older runship: the records say when the run last wrote
    return snap


def resolve_run(ref: str, root: str) -> str:
    """A RUN argument: a run directory path, ``project/id`` under ``root``, or
    an ``id`` found under any project of ``root``. URLs are returned as given."""
    if is_url(ref):
        return ref
    if os.path.isdir(ref) and _has_run_stream(ref):
        return ref
    candidate = os.path.join(root, ref)
    if "/" in ref.strip("/") and os.path.isdir(candidate) and _has_run_stream(candidate):
        return candidate
    if "/" not in ref.strip("/") and os.path.isdir(root):
        matches = [d for d in run_dirs(root) if os.path.basename(d) == ref]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(os.path.relpath(m, root) for m in matches)
            raise RunNotFound(f"run id {ref!r} is ambiguous under {root}: {names}; give project/id")
    if os.path.isdir(ref):
        raise RunNotFound(f"{ref} is not a run directory (no run-*.msgpack stream files in it)")
    raise RunNotFound(f"no run {ref!r}: not a run directory, and not project/id or id under {root}")


# ---- listings from the run index ----------------------------------------------------------------
LIST_WORKERS = 16  # runs of an object store opened at once
MEMO_BYTES = 16 * 1024 * 1024  # what a ListingMemo keeps, as the infos' packed size


class ListingMemo:
    """What a long-lived caller (the server, ``runship ui``) keeps of the
    runs it listed, so that a poll reads neither runs nor the index:
    location -> (signature, info), the least recently listed dropped once
    the infos pass ``max_bytes`` (packed; a listing's info is bounded by
    ``index.listed``)."""

    def __init__(self, max_bytes: int = MEMO_BYTES):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[str, dict[str, Any], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, location: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            entry = self._entries.get(location)
        return (entry[0], entry[1]) if entry is not None else None

    def keep(self, location: str, signature: str, info: dict[str, Any], known: bool = False) -> None:
        """Keep (or, ``known``: mark as just listed) a run's info."""
        if self.max_bytes <= 0:
            return
        with self._lock:
            if known and location in self._entries:
                self._entries.move_to_end(location)
                return
        size = _packed_size(info)
        with self._lock:
            old = self._entries.pop(location, None)
            self._bytes -= old[2] if old is not None else 0
            if size > self.max_bytes:
                return
            self._entries[location] = (signature, info, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, _, n) = self._entries.popitem(last=False)
                self._bytes -= n

    @property
    def bytes(self) -> int:
        return self._bytes


def _packed_size(info: dict[str, Any]) -> int:
    import msgpack

    try:
        return len(msgpack.packb(info, datetime=True, default=str))
    except Exception:
        return 1 << 20


def list_runs(
    root: str,
    project: str | None = None,
    storage_options: dict[str, Any] | None = None,
    cache: Any = True,
    stale_after: float | None = None,
    on_error: Callable[[str, OSError], None] | None = None,
    now: float | None = None,
    memo: ListingMemo | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> list[dict[str, Any]]:
    """What a listing shows of every run under ``root`` (a directory or an
    fsspec URL): ``runship.reader.index.run_info`` of each, with ``state``
    as of now. Runs whose run stream files are as the index last saw them
    are not read again; the others are read (a store's, several at once)
    and the index is brought up to date. Never raises for one run: a run
    that cannot be read is an entry with ``state`` "unreadable".

    ``memo``: a long-lived caller's ``ListingMemo``, used before the index.
    ``allowed(project)``: the projects to list (a token's scope), decided
    before anything of the others is read."""
    from runship.reader.index import state_of
    from runship.reader.segments import read_cache

    root = local_path(root)
    cache = read_cache(cache)
    index = cache.index() if cache is not None else None
    found: list[tuple[str, str | None]]
    listing: dict[str, Any] = {}
    if is_server_url(root):
        found = [(d, None) for d in run_dirs(root, project, storage_options)]
    elif is_url(root):
        found = _remote_signatures(root, project, storage_options, listing, allowed)
    else:
        found = _local_signatures(root, project, on_error, allowed)
    held = memo if memo is not None else ListingMemo(0)
    memo_hits = {loc: hit for loc, sig in found if sig is not None and (hit := held.get(loc)) and hit[0] == sig}
    asked = [loc for loc, sig in found if sig is not None and loc not in memo_hits]
    known = index.get(asked) if index is not None and asked else {}
    infos: dict[str, dict[str, Any]] = {}
    todo = []
    for loc, sig in found:
        hit = memo_hits.get(loc) or known.get(loc)
        if sig is not None and hit is not None and hit[0] == sig:
            infos[loc] = hit[1]
        else:
            todo.append((loc, sig))
    fresh = _read_infos(todo, storage_options, cache, parallel=is_url(root), listing=listing)
    if index is not None:
        index.put([(loc, sig, fresh[loc]) for loc, sig in todo if sig is not None and fresh[loc].get("error") is None])
    infos.update(fresh)
    for loc, sig in found:
        if sig is not None and loc in infos:
            held.keep(loc, sig, infos[loc], known=loc in memo_hits)
    out = []
    for loc, sig in found:
        info = infos.get(loc)
        if info is None:
            continue
        info = dict(info, location=loc, signature=sig)
        info["state"] = state_of(info, now, stale_after)
        out.append(info)
    return out


def _read_infos(
    todo: list[tuple[str, str | None]],
    storage_options: dict[str, Any] | None,
    cache: Any,
    parallel: bool,
    listing: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """``listing``: "fs" and, per run location, its objects (from one
    listing of the store): each run is then read without listing it again."""
    from runship.reader.index import run_info

    def one(loc: str) -> tuple[str, dict[str, Any] | None]:
        from runship.reader.run import RunView, open_run, unreadable_run
        from runship.store.objectstore import FsspecSource

        name = loc.rstrip("/").rsplit("/", 1)[-1]
        parent = loc.rstrip("/").rsplit("/", 2)[-2] if "/" in loc.rstrip("/") else ""
        try:
            objects = (listing or {}).get("runs", {}).get(loc)
            if objects is not None:
                source = FsspecSource(loc, fs=(listing or {})["fs"], listed=objects)
                view = RunView(source, cache=cache or None)
            else:
                view = open_run(loc, storage_options=storage_options, cache=cache if cache is not None else False)
        except RunNotFound:
            return loc, None  # gone since it was listed
        except OSError as e:
            view = unreadable_run(loc, parent, name, e)
        except Exception as e:  # one bad run must never take a listing down
            view = unreadable_run(loc, parent, name, OSError(f"{type(e).__name__}: {e}"))
        if not any(view.files.values()) and view.error is None:
            return loc, None
        return loc, run_info(view)

    out: dict[str, dict[str, Any]] = {}
    if parallel and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
            results = list(pool.map(one, [loc for loc, _ in todo]))
    else:
        results = [one(loc) for loc, _ in todo]
    for loc, info in results:
        if info is not None:
            out[loc] = info
    return out


def _local_signatures(
    root: str,
    project: str | None,
    on_error: Callable[[str, OSError], None] | None,
    allowed: Callable[[str], bool] | None = None,
) -> list[tuple[str, str | None]]:
    """(run directory, signature) of every run under a local root, one
    directory listing per run (as ``run_dirs``: links are not followed; a
    run directory that cannot be listed is kept, to be said unreadable)."""
    import hashlib

    out: list[tuple[str, str | None]] = []
    for r in _local_run_entries(root, project, on_error, allowed):
        h = hashlib.sha256()
        found = False
        try:
            with os.scandir(r.path) as it:
                entries = sorted((entry.name, entry) for entry in it)
            for name, entry in entries:
                parsed = fmt.parse_stream_file_name(name)
                if parsed is None or parsed[0] not in _SIGNED:
                    continue
                found = found or parsed[0] == fmt.RUN_STREAM
                st = entry.stat(follow_symlinks=False)
                h.update(f"{name}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except PermissionError:
            out.append((r.path, None))  # listed as unreadable
            continue
        except OSError:
            continue
        if found:
            out.append((r.path, h.hexdigest()))
    return out


def _remote_signatures(
    url: str,
    project: str | None,
    storage_options: dict[str, Any] | None,
    listing: dict[str, Any] | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> list[tuple[str, str | None]]:
    """(run URL, signature) of every run under an fsspec root, from one
    recursive listing (an object store lists its keys a thousand at a time).
    ``listing`` is filled with "fs" and "runs": each run URL's objects."""
    from runship.reader.index import remote_signature
    from runship.store.objectstore import url_to_fs

    fs, base = url_to_fs(url, storage_options)
    url = url.rstrip("/")
    top = f"{base}/{project}" if project else base
    try:
        fs.invalidate_cache(top)
    except Exception:
        pass
    try:
        listed = fs.find(top, detail=True)
    except FileNotFoundError:
        listed = {}
    if not listed and not project:
        try:
            if not fs.exists(base):
                raise RunNotFound(f"no run root at {url}")
        except RunNotFound:
            raise
        except Exception:
            pass
    runs: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    with_run_stream: set[tuple[str, str]] = set()
    for path, entry in listed.items():
        rel = path[len(base) :].strip("/").split("/")
        if len(rel) < 3 or rel[0].startswith(".") or rel[1].startswith("."):
            continue
        if allowed is not None and not allowed(rel[0]):
            continue
        objects.setdefault((rel[0], rel[1]), {})[path] = entry
        name = "/".join(rel[2:])
        stream = fmt.parse_stream_file_name(rel[3] if rel[2] == fmt.CHUNK_DIR and len(rel) > 3 else rel[2])
        if stream is None or stream[0] not in _SIGNED:
            continue
        tag = str(entry.get("ETag") or entry.get("etag") or entry.get("LastModified") or entry.get("mtime") or "")
        runs.setdefault((rel[0], rel[1]), []).append((name, int(entry.get("size") or 0), tag))
        if stream[0] == fmt.RUN_STREAM:
            with_run_stream.add((rel[0], rel[1]))
    runs = {run: entries for run, entries in runs.items() if run in with_run_stream}  # annotations alone: no run
    if listing is not None:
        listing["fs"] = fs
        listing["runs"] = {f"{url}/{p}/{r}": objects[(p, r)] for p, r in runs}
    return [(f"{url}/{p}/{r}", remote_signature(entries)) for (p, r), entries in sorted(runs.items())]


#: the streams whose files make a run's signature: its own events, and its annotations (name, tags, notes)
_SIGNED = (fmt.RUN_STREAM, annotation_schema.STREAM)
