"""How a run is shown in JSON, once for every view: a run's summary (a
listing entry made into the runs table's row, or ``/v1``'s entry of a
project's runs) and its detail (the reader's record of the run, as ``/v1``
answers it and ``runship show --json`` prints it, or the run page's
answer, which adds what the page shows). Values are made fit for JSON
here too: ``finite`` for ``/v1`` (the format's values, NaN as text),
``plain`` for the web app (also bytes described, nesting bounded).

A run is named in the web app's API by a reference, ``<place>:<project>/<run>``
(``make_ref``, ``parse_ref``): the place is the index of the run root the
app serves."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from typing import Any

from runship.schema.names import BadName, check_id
from runship.schema.values import json_safe
from runship.web.errors import BadRequest

MAX_DIFF_BYTES = 1024 * 1024
ROW_MEMO_BYTES = 32 * 1024 * 1024  # runs-table rows kept made, with their JSON
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
def finite(value: Any) -> Any:
    """A value for ``/v1``'s JSON: NaN and infinities as strings."""
    return json_safe(value, strict_json=True)


def plain(value: Any, depth: int = 0) -> Any:
    """A value as the web app's JSON holds it: NaN and infinities as
    strings, bytes described, depth bounded."""
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


def flatten(mapping: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
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


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# ---- a run's summary ------------------------------------------------------------------------------------
def run_summary(info: Mapping[str, Any]) -> dict[str, Any]:
    """A run as a listing shows it, from a listing entry (``run_info``): an
    unreadable run is named by its location and shown with why."""
    project, run_id = str(info.get("project") or ""), str(info.get("id") or "")
    error = info.get("error")
    if error:
        parts = str(info.get("location", "")).rstrip("/").rsplit("/", 2)
        project, run_id = (parts[-2], parts[-1]) if len(parts) >= 2 else (project, run_id)
    start, last = info.get("start_time"), info.get("last_write")
    duration = last - start if isinstance(start, (int, float)) and isinstance(last, (int, float)) else None
    return {
        "project": project,
        "id": run_id,
        "name": info.get("name"),
        "state": "unreadable" if error else info.get("state"),
        "group": info.get("group"),
        "job_type": info.get("job_type"),
        "tags": list(info.get("tags") or []),
        "host": info.get("host"),
        "job_id": info.get("job_id"),
        "start_time": start,
        "duration": duration,
        "steps": info.get("steps"),
        "last_write": last,
        "config": info.get("config") or {},
        "summary": info.get("summary") or {},
        "problems": info.get("problems") or 0,  # how many
        "problem_list": [str(error)] if error else list(info.get("problem_list") or []),
        "error": error,
    }


def summary_row(place: int, info: Mapping[str, Any]) -> dict[str, Any]:
    """The runs table's row of a run (the web app's ``/ui/api/runs``)."""
    s = run_summary(info)
    state = str(s["state"])
    return {
        "ref": make_ref(place, s["project"], s["id"]),
        "project": s["project"],
        "id": s["id"],
        "name": plain(s["name"]),
        "state": state,
        "live": state == "running",
        **{k: plain(s[k]) for k in ("group", "job_type", "tags", "host", "job_id")},
        **{k: s[k] for k in ("start_time", "duration", "steps", "last_write")},
        "config": flatten(s["config"]),
        "summary": flatten(s["summary"]),
        "problems": s["problems"],
        "error": plain(s["error"]),
    }


def summary_entry(info: Mapping[str, Any]) -> dict[str, Any]:
    """``/v1/projects/{project}/runs``' entry of a run: its id, name,
    state, steps and last write, and its problems when it has some."""
    s = run_summary(info)
    entry = {k: s[k] for k in ("id", "name", "state", "steps", "last_write")}
    if s["problem_list"]:
        entry["problems"] = s["problem_list"]
    out: dict[str, Any] = finite(entry)
    return out


# ---- a run's detail ----------------------------------------------------------------------------------------
def run_detail(view: Any) -> dict[str, Any]:
    """The reader's record of a run (``RunView.to_dict``): what ``/v1``
    answers and ``runship show --json`` prints."""
    record: dict[str, Any] = view.to_dict()
    return record


def detail_v1(view: Any) -> dict[str, Any]:
    """``/v1/runs/{project}/{run}``: the run's record, NaN as text."""
    out: dict[str, Any] = finite(run_detail(view))
    return out


def detail_page(ref: str, view: Any) -> dict[str, Any]:
    """The run page's answer (``/ui/api/run``): the run's row and record,
    and what only the page shows (its keys, system metrics, files, metric
    definitions, alerts and the saved git diff); everything but the series."""
    from runship.reader.index import run_info

    record = run_detail(view)
    return {
        **summary_row(0, run_info(view)),
        "ref": ref,
        "diff": _diff(view),
        "location": str(record["location"]),
        "exit_code": record["exit_code"],
        "notes": plain(record["notes"]),
        "last_step": record["last_step"],
        **{k: plain(record[k]) for k in ("config", "summary", "environment", "sessions")},
        "alerts": plain(view.alerts),
        "problems": [str(p) for p in view.problems][:100],
        "lost": record["lost"],
        "dropped": record["dropped"],
        **chart_keys(view),
        "system_keys": _system_keys(view),
        "files": [{"path": rel, "size": rec.get("size")} for rel, rec in sorted(view.saved_files.items())],
    }


def chart_keys(view: Any) -> dict[str, Any]:
    """What a run's charts need of it: its history keys (each with the kind of
    its value) and its metric definitions (step metrics: the panels' x)."""
    return {"metrics": plain(_metrics(view)), "keys": _keys(view)}


def _keys(view: Any) -> list[dict[str, str]]:
    """The history keys and their kinds; a wandb.plot chart (a spec in the
    config over the table at ``<key>_table``) just before its table; a
    wandb.visualize chart (its table under the key itself) as a chart."""
    by_table: dict[str, list[str]] = {}
    for chart_key, chart in view.charts.items():
        by_table.setdefault(chart["table_key"], []).append(chart_key)
    keys = view.history_keys()
    have = set(keys)
    out = []
    for key in keys:
        charts = by_table.get(key, ())
        out += [{"key": c, "kind": "plot"} for c in charts if c not in have]
        out.append({"key": key, "kind": "plot" if key in charts else kind_of(view.summary.get(key, 0.0))})
    return out


def _metrics(view: Any) -> list[dict[str, Any]]:
    return [
        {"name": m.name, "step_metric": m.step_metric, "summary": m.summary, "goal": m.goal, "hidden": m.hidden}
        for m in view.metrics.specs
    ]


def _system_keys(view: Any) -> list[str]:
    """The system metrics' names (the first 200 or so)."""
    keys: dict[str, None] = {}
    for s in view.system():
        keys.update(dict.fromkeys(k for k in s if not k.startswith("_")))
        if len(keys) > 200:
            break
    return sorted(keys)


def _diff(view: Any) -> str | None:
    """The git diff saved with the code, if any (at most MAX_DIFF_BYTES)."""
    if "files/code/diff.patch" not in view.saved_files:
        return None
    try:
        text: str = view.read_file("files/code/diff.patch", MAX_DIFF_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    return text


# ---- the runs table's rows, kept ------------------------------------------------------------------
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
                row = summary_row(place, info)
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
