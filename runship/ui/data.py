"""What the web app shows, read from where runs are: run roots on disk,
fsspec URLs, runship servers (``Place``) or a server's own store
(``StorePlace``). Every answer is built per request from the reader (its
cache and run index make that cheap) and is bounded: nothing here keeps
state that grows with page views."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from runship.errors import RunNotFound
from runship.reader.listing import ListingMemo
from runship.schema import redact
from runship.schema.names import BadName, check_id
from runship.store import TargetError
from runship.ui.tables import TableCache, TableError
from runship.ui.tables import identity as table_identity
from runship.ui.tables import page as table_rows

MAX_SAMPLES = 4000
MAX_MEDIA_ITEMS = 2000
MAX_CONSOLE_LINES = 5000
MAX_LINE_CHARS = 8192  # a console line shown is cut there (the search sees all of it)
MAX_CONSOLE_CHARS = 1024 * 1024  # characters of one answer's lines; past it, lines are cut to 200
MAX_SERIES_KEYS = 64
MAX_SERIES_RUNS = 50
MAX_DIFF_BYTES = 1024 * 1024
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
ROW_MEMO_BYTES = 32 * 1024 * 1024  # runs-table rows kept made, with their JSON
SYSTEM_STAT_KEYS = ("cpu", "memory", "disk", "network", "gpu", "proc")
MEDIA_KINDS = {
    "image-file": "image",
    "histogram": "histogram",
    "table-file": "table",
    "audio-file": "audio",
    "video-file": "video",
    "plot": "plot",
    "plotly-file": "plotly",
    "html-file": "file",
    "object3D-file": "file",
    "molecule-file": "file",
}
FILE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}


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


class BadRequest(ValueError):
    """A request the app cannot answer (400), with what was wrong."""


# ---- where runs are -------------------------------------------------------------------------------
class Place:
    """A run root: a directory, an fsspec URL or a runship server's URL."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None, cache: Any = True):
        if root.startswith("file://"):
            root = root[len("file://") :]
        self.root = root
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
            if "://" in self.root:  # an object store holds no prefix until its first run comes
                return []
            raise  # a local root that went away: said, not shown as an empty table

    def location(self, project: str, run_id: str) -> str:
        if "://" in self.root:
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

    def __init__(self, storage: Any, cache: Any = True):
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


# ---- run references ---------------------------------------------------------------------------------
def make_ref(place: int, project: str, run_id: str) -> str:
    return f"{place}:{project}/{run_id}"


def parse_ref(ref: str, places: int) -> tuple[int, str, str]:
    """(place index, project, run id) of a ref; BadRequest if it is not one."""
    head, _, rest = (ref or "").partition(":")
    project, _, run_id = rest.partition("/")
    try:
        index = int(head) if head.isdigit() and len(head) < 6 else -1
        if not 0 <= index < places:
            raise BadName(f"no place {head!r}")
        check_id(project, "project")
        check_id(run_id, "run id")
    except BadName as e:
        raise BadRequest(f"not a run reference: {ref[:120]!r} ({e})") from None
    return index, project, run_id


def check_project(project: str) -> str:
    try:
        return check_id(project, "project")
    except BadName as e:
        raise BadRequest(str(e)) from None


# ---- values for JSON ----------------------------------------------------------------------------------
def plain(value: Any, depth: int = 0) -> Any:
    """A value as JSON can hold it: NaN and infinities as strings, bytes
    described, depth bounded."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


def flatten(mapping: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Nested config as dotted keys of scalars (lists as short text)."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 6 and "_type" not in v:
            out.update(flatten(v, key + ".", depth + 1))
        elif isinstance(v, (list, tuple)):
            text = repr(plain(list(v)))
            out[key] = text if len(text) <= 200 else text[:199] + "…"
        elif isinstance(v, dict):
            continue  # a media reference: not a value for a table
        else:
            out[key] = plain(v)
    return out


def kind_of(value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        return "number"
    if isinstance(value, dict):
        if "_type" not in value:  # define_metric's summary ({"min": ..., "last": ...}) of a number
            numbers = [v for v in value.values() if isinstance(v, (bool, int, float))]
            return "number" if numbers and len(numbers) == len(value) else "other"
        return MEDIA_KINDS.get(str(value.get("_type")), "other")
    return "other"


# ---- listings ---------------------------------------------------------------------------------------------
def run_row(place: int, info: dict[str, Any]) -> dict[str, Any]:
    """One row of the runs table, from a listing entry (``run_info``)."""
    project, run_id = str(info.get("project") or ""), str(info.get("id") or "")
    if info.get("error"):
        parts = str(info.get("location", "")).rstrip("/").rsplit("/", 2)
        project, run_id = (parts[-2], parts[-1]) if len(parts) >= 2 else (project, run_id)
    start, last = info.get("start_time"), info.get("last_write")
    duration = last - start if isinstance(start, (int, float)) and isinstance(last, (int, float)) else None
    state = "unreadable" if info.get("error") else str(info.get("state"))
    return {
        "ref": make_ref(place, project, run_id),
        "project": project,
        "id": run_id,
        "name": plain(info.get("name")),
        "state": state,
        "live": state == "running",
        "group": plain(info.get("group")),
        "job_type": plain(info.get("job_type")),
        "tags": plain(list(info.get("tags") or [])),
        "host": plain(info.get("host")),
        "job_id": plain(info.get("job_id")),
        "start_time": start,
        "duration": duration,
        "steps": info.get("steps"),
        "last_write": last,
        "config": flatten(info.get("config") or {}),
        "summary": flatten(info.get("summary") or {}),
        "problems": info.get("problems") or 0,
        "error": plain(info.get("error")),
    }


class RowMemo:
    """The table rows made at the last listing, by run location, each with
    its JSON: a run whose files and state are unchanged is not made into a
    row, nor encoded, again. Holds only the runs of the latest listing of
    each project (bounded by them)."""

    def __init__(self, max_bytes: int = ROW_MEMO_BYTES) -> None:
        self._rows: dict[str | None, dict[str, tuple[Any, dict[str, Any], bytes]]] = {}
        self._lock = threading.Lock()
        self.max_bytes = max_bytes  # rows past it are made again at each listing

    def rows(self, place: int, project: str | None, infos: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bytes]]:
        with self._lock:
            before = self._rows.get(project, {})
        now: dict[str, tuple[Any, dict[str, Any], bytes]] = {}
        out = []
        held = sum(len(e) for rows in self._rows.values() for _, _, e in rows.values()) - sum(
            len(e) for _, _, e in before.values()
        )
        for info in infos:
            loc, sig = info.get("location"), info.get("signature")
            key = (sig, info.get("state"))
            hit = before.get(loc) if sig is not None and isinstance(loc, str) else None
            if hit is not None and hit[0] == key:
                row, encoded = hit[1], hit[2]
            else:
                row = run_row(place, info)
                encoded = encode(row)
            if sig is not None and isinstance(loc, str) and held + 2 * len(encoded) <= self.max_bytes:
                now[loc] = (key, row, encoded)
                held += 2 * len(encoded)  # the row and its JSON
            out.append((row, encoded))
        with self._lock:
            if project is None:
                self._rows.clear()  # the listing of every project stands for them all
            self._rows[project] = now
        return out


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def runs(places: list[Any], project: str | None, allowed: Callable[[str], bool]) -> bytes:
    """The runs table as JSON bytes (rows already encoded are reused). A
    place that cannot be listed (a server gone, a root removed) is an entry
    of ``errors`` (its root and why); the other places' runs are listed."""
    rows: list[tuple[dict[str, Any], bytes]] = []
    projects: set[str] = set()
    errors: list[dict[str, Any]] = []
    for i, place in enumerate(places):
        try:
            infos = place.infos(project, allowed)
        except Exception as e:  # one root failing never hides the others' runs
            errors.append({"place": i, "root": redact.for_log(str(place)), "error": _why(e)})
            continue
        for row, encoded in place.memo.rows(i, project, infos):
            if not allowed(row["project"]):
                continue
            projects.add(row["project"])
            rows.append((row, encoded))
    rows.sort(key=lambda r: -(r[0]["start_time"] or 0))
    head = encode({"now": time.time(), "projects": sorted(projects), "errors": errors})
    return head[:-1] + b',"runs":[' + b",".join(e for _, e in rows) + b"]}"


def _why(e: Exception) -> str:
    """One line saying why a place could not be listed (no traceback, no credentials)."""
    if isinstance(e, OSError) and e.strerror:
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    elif isinstance(e, (ValueError, OSError, TargetError)):
        text = str(e)
    else:
        text = f"{type(e).__name__}: {e}"
    return redact.for_log(" ".join(text.split()))[:500]


def run_detail(ref: str, view: Any) -> dict[str, Any]:
    """Everything the run page shows but the series."""
    from runship.reader.index import run_info

    row = run_row(0, run_info(view))
    keys = []
    for key in view.history_keys():
        keys.append({"key": key, "kind": kind_of(view.summary.get(key, 0.0))})
    system_keys: dict[str, None] = {}
    for s in view.system():
        system_keys.update(dict.fromkeys(k for k in s if not k.startswith("_")))
        if len(system_keys) > 200:
            break
    files = [{"path": rel, "size": rec.get("size")} for rel, rec in sorted(view.saved_files.items())]
    metrics = [
        {"name": m.name, "step_metric": m.step_metric, "summary": m.summary, "goal": m.goal, "hidden": m.hidden}
        for m in view.metrics.specs
    ]
    diff = None
    if "files/code/diff.patch" in view.saved_files:  # the git diff saved with the code
        try:
            diff = view.read_file("files/code/diff.patch", MAX_DIFF_BYTES).decode("utf-8", "replace")
        except (OSError, ValueError):
            diff = None
    return {
        **row,
        "ref": ref,
        "diff": diff,
        "location": str(view.location),
        "exit_code": view.exit_code,
        "notes": plain(view.notes),
        "last_step": view.last_step,
        "config": plain(view.config),
        "summary": plain(view.summary),
        "environment": plain(view.environment),
        "sessions": plain([s.to_dict() for s in view.all_sessions]),
        "alerts": plain(view.alerts),
        "metrics": plain(metrics),
        "problems": [str(p) for p in view.problems][:100],
        "lost": view.lost,
        "dropped": view.dropped,
        "keys": keys,
        "system_keys": sorted(system_keys),
        "files": files,
    }


# ---- series ------------------------------------------------------------------------------------------------
def number(value: Any) -> float | None:
    """A y value for a chart: finite numbers; NaN, infinities and anything
    else are gaps."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    return None


def series(
    view: Any,
    keys: list[str],
    x: str,
    samples: int,
    xrange: tuple[float, float] | None,
) -> dict[str, dict[str, list[Any]]]:
    """Per key, the downsampled (x, y) points of one run (each bucket's
    first, last, min and max kept by the reader); NaN and infinities are
    gaps (null)."""
    import numpy as np

    known = set(view.history_keys())
    wanted = [k for k in keys if k in known and k != x]
    out: dict[str, dict[str, list[Any]]] = {k: {"x": [], "y": []} for k in keys}
    if not wanted or (x not in ("_step", "_runtime", "_timestamp") and x not in known):
        return out
    try:
        points = view.series(wanted, samples, x=x, xrange=xrange)
    except ValueError as e:  # an x that is not numbers
        raise BadRequest(str(e)) from None
    for key, (xs, ys) in points.items():
        y = ys.tolist()
        for i in np.flatnonzero(~np.isfinite(ys)).tolist():
            y[i] = None
        out[key] = {"x": xs.tolist(), "y": y}
    return out


def bucketed(points: list[tuple[float, float | None]], samples: int) -> tuple[list[float], list[float | None]]:
    """At most about ``samples`` points: each bucket's first, min, max and last."""
    if len(points) <= samples:
        return [p[0] for p in points], [p[1] for p in points]
    per = max(1, (4 * len(points)) // samples)
    xs: list[float] = []
    ys: list[float | None] = []
    for start in range(0, len(points), per):
        chunk = points[start : start + per]
        valued = [i for i, p in enumerate(chunk) if p[1] is not None]
        keep = {0, len(chunk) - 1}
        if valued:
            keep.add(min(valued, key=lambda i: chunk[i][1]))  # type: ignore[arg-type,return-value]
            keep.add(max(valued, key=lambda i: chunk[i][1]))  # type: ignore[arg-type,return-value]
        for i in sorted(keep):
            xs.append(chunk[i][0])
            ys.append(chunk[i][1])
    return xs, ys


def system_series(view: Any, samples: int) -> dict[str, Any]:
    points: dict[str, list[tuple[float, float | None]]] = {}
    for s in view.system():
        t = s.get("_runtime")
        if not isinstance(t, (int, float)):
            continue
        node = s.get("_node")  # a distributed run: each node's metrics (its GPUs) apart
        for k, v in s.items():
            if k.startswith("_"):
                continue
            if node is not None:
                k = f"{node}/{k}"
            pts = points.get(k)
            if pts is None:
                if len(points) >= 400:
                    continue
                pts = points[k] = []
            pts.append((t, number(v)))
    out = {}
    for k in sorted(points):
        xs, ys = bucketed(points[k], samples)
        out[k] = {"x": xs, "y": ys}
    return {"x": "_runtime", "series": out}


# ---- console -------------------------------------------------------------------------------------------------
def console(view: Any, offset: int, tail: int | None, limit: int, q: str | None) -> dict[str, Any]:
    """Console lines from ``offset`` (or the last ``tail``), at most
    ``limit`` of them; with ``q`` only the lines that hold it."""
    limit = max(1, min(limit, MAX_CONSOLE_LINES))
    needle = q.lower() if q else None
    kept: deque[dict[str, Any]] | list[dict[str, Any]]
    kept = deque(maxlen=min(tail, limit)) if tail else []
    total = spent = 0
    for n, line in enumerate(view.console()):
        total = n + 1
        if n < offset:
            continue
        text = line.get("text")
        text = text if isinstance(text, str) else str(text)
        if "rank" in line:  # a distributed run: which rank wrote it
            text = f"[{line['rank']}] {text}"
        if needle is not None and needle not in text.lower():
            continue
        if isinstance(kept, list) and len(kept) >= limit:
            continue
        if isinstance(kept, deque) and len(kept) == kept.maxlen:
            spent -= len(kept[0]["text"])  # the line the append below drops
        text = _cut_line(text, MAX_LINE_CHARS if spent < MAX_CONSOLE_CHARS else 200)
        spent += len(text)
        t = line.get("t")
        kept.append(
            {"n": n, "t": t if isinstance(t, (int, float)) else None, "stream": line.get("stream"), "text": text}
        )
    lines = list(kept)
    following = isinstance(kept, deque) or len(lines) < limit
    nxt = total if following else lines[-1]["n"] + 1
    return {"lines": lines, "total": total, "next": max(nxt, offset)}


def _cut_line(text: str, most: int) -> str:
    """A console line as shown: at most ``most`` characters, then how many more."""
    if len(text) <= most:
        return text
    return f"{text[:most]}… ({len(text) - most} more characters)"


# ---- media ------------------------------------------------------------------------------------------------------
def media(view: Any, key: str) -> dict[str, Any]:
    """The key's logged media, evenly thinned to MAX_MEDIA_ITEMS (the last kept)."""
    if key not in set(view.history_keys()):
        raise BadRequest(f"the run has no key {key[:200]!r}")
    items: list[dict[str, Any]] = []
    stride, seen, last = 1, 0, None
    kind = None
    for row in view.scan_history([key]):
        value = row.get(key)
        if not isinstance(value, dict) or value.get("_type") not in MEDIA_KINDS:
            continue
        kind = kind or MEDIA_KINDS[str(value["_type"])]
        last = {"step": row.get("_step"), "value": plain(value)}
        if seen % stride == 0:
            items.append(last)
            if len(items) >= 2 * MAX_MEDIA_ITEMS:
                items = items[::2]
                stride *= 2
        seen += 1
    if last is not None and (not items or items[-1] is not last):
        items.append(last)
    if len(items) > MAX_MEDIA_ITEMS:
        every = items[:-1][:: math.ceil((len(items) - 1) / (MAX_MEDIA_ITEMS - 1))]
        items = [*every, items[-1]]
    return {"kind": kind or kind_of(view.summary.get(key)), "items": items}


def table_page(
    view: Any, path: str, offset: int, limit: int, sort: str | None, desc: bool, tables: TableCache
) -> dict[str, Any]:
    """A page of a run's table file (``runship.ui.tables``: memory bounded
    by the page, the file's row spans cached by its identity)."""
    limit = max(1, min(limit, 1000))
    try:
        with view.open_file(path) as f:
            key = (str(view.location), path, *table_identity(f))
            out = table_rows(tables.get(key, f), f, offset, limit, sort, desc)
    except TableError as e:
        raise BadRequest(f"{path}: {e}") from None
    out["rows"] = plain(out["rows"])  # as JSON can hold them: NaN as text, nesting cut at 20 levels
    return out


def file_type(path: str) -> str | None:
    """The media type a run file is served with inline (images, audio and
    video of the run's media); None: served only as a download."""
    if not path.startswith("files/media/"):
        return None
    return FILE_TYPES.get(os.path.splitext(path)[1].lower())


def chunks(f: Any, size: int = 1 << 20) -> Iterator[bytes]:
    with f:
        while chunk := f.read(size):
            yield chunk


def split_keys(raw: str | None, limit: int) -> list[str]:
    keys = [k for k in (raw or "").split(",") if k]
    if len(keys) > limit:
        raise BadRequest(f"at most {limit} keys a request, got {len(keys)}")
    return list(dict.fromkeys(keys))
