"""Runs as TensorBoard event files (``runship export --to tensorboard:DIR``),
written with tensorboardX (``pip install tensorboardX``): ``tensorboard
--logdir DIR`` shows each run as ``<project>/<run id>``.

Per history row, one event holds that step's scalars (with the row's wall
time); histograms as histograms; the config as a markdown table (text) and
as hparams with the numeric summary values as metrics (TensorBoard's
HParams tab); system metrics under ``system/`` (their sample number as the
step). Each export writes the rows after those already exported into a new
event file whose name ends ``.rows-<first>``; an export that was killed
left such a file past what the state knows, which the next one deletes
before writing it again (only a regular file named as this module names
them). ``DIR/<project>/<run id>`` is made and entered without following a
link (``runship.export.place``), and each event file is created anew
(``O_EXCL``, ``O_NOFOLLOW``) in it."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import struct
import time
from typing import Any

SUFFIX = ".rows-{first:012d}"
#: the event files this module writes (tensorboardX's names, with SUFFIX)
OURS = re.compile(r"events\.out\.tfevents\.[0-9]+\.[^/]*\.rows-([0-9]{12})")
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class EventFile:
    """An event file written synchronously (tensorboardX's ``SummaryWriter``
    hands each event to a thread through a multiprocessing queue: half the
    time of an export went there), created in a directory's descriptor."""

    def __init__(self, dir_fd: int, first: int):
        try:
            from tensorboardX.proto.event_pb2 import Event
            from tensorboardX.record_writer import masked_crc32c
        except ImportError:
            raise ImportError("exporting to TensorBoard needs tensorboardX: pip install tensorboardX") from None
        self._crc = masked_crc32c
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}{SUFFIX.format(first=first)}"
        self._file = os.fdopen(os.open(name, _NEW, 0o644, dir_fd=dir_fd), "wb")
        self.write_event(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def write_event(self, event: Any) -> None:
        data = event.SerializeToString()
        header = struct.pack("Q", len(data))
        self._file.write(header + struct.pack("I", self._crc(header)) + data + struct.pack("I", self._crc(data)))

    def close(self) -> None:
        with self._file:
            self._file.flush()
            os.fsync(self._file.fileno())  # as tensorboardX's writer: the file is whole once the state says so


def _remove_leftovers(dir_fd: int, done_rows: int) -> None:
    """Delete what a killed export left: this module's event files of rows
    at or past ``done_rows`` (regular files only; nothing else is touched)."""
    from runship import safefile

    for name, kind, _ in safefile.entries(dir_fd):
        m = OURS.fullmatch(name)
        if m and kind == "file" and int(m.group(1)) >= done_rows:
            os.unlink(name, dir_fd=dir_fd)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


MEDIA_BYTES = 64 * 1024 * 1024  # an image file larger than this is not copied into the event file


def export_run(view: Any, dest: str, done_rows: int) -> int:
    """Write the run's rows after ``done_rows`` into ``dest/<project>/<run
    id>``; returns the rows exported in all."""
    from runship.export.place import open_below, run_names

    logdir = open_below(dest, *run_names(view))
    try:
        _remove_leftovers(logdir, done_rows)
        return _write_rows(view, logdir, done_rows)
    finally:
        os.close(logdir)


def _write_rows(view: Any, logdir: int, done_rows: int) -> int:
    import numpy as np
    import pyarrow as pa
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary

    from runship.reader import arrow
    from runship.reader.columns import MISSING, python_lists

    value_of = Summary.Value  # a scalar as TensorBoard stores it (simple_value), made directly
    writer: Any = None
    end = done_rows

    def emit(summary: Any, step: int, wall: float) -> None:
        writer.write_event(Event(wall_time=wall, step=step, summary=summary))

    try:
        for first, table in view.history_tables(done_rows):
            if writer is None:
                writer = EventFile(logdir, done_rows)
                if done_rows == 0:
                    _write_config(writer, view)
            n = table.num_rows
            end = first + n
            steps = arrow.values(table.column("_step")).tolist()
            walls = arrow.values(table.column("_timestamp")).tolist()
            scalars: list[tuple[str, list[float]]] = []
            extra: dict[int, list[tuple[str, Any]]] = {}
            for name in table.column_names[3:]:
                col = table.column(name)
                typ = col.type
                if pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ):
                    numbers = arrow.values(col).astype(np.float64)
                    numbers[~np.isfinite(numbers)] = np.nan  # neither a missing value nor inf is a point
                    scalars.append((name, numbers.tolist()))
                    continue
                rows = np.flatnonzero(arrow.valid(col))
                for i, value in zip(rows.tolist(), python_lists(col.take(arrow.indices(rows)))):
                    if value is not MISSING:
                        extra.setdefault(i, []).append((name, value))
            for i in range(n):
                points = [
                    value_of(tag=tag, simple_value=column[i]) for tag, column in scalars if column[i] == column[i]
                ]
                if points:  # one event for the step's scalars
                    emit(Summary(value=points), steps[i], walls[i])
                for tag, value in extra.get(i, ()):
                    summary = _other(view, tag, value)
                    if summary is not None:
                        emit(summary, steps[i], walls[i])
        if writer is not None:
            for i, sample in enumerate(view.system()):
                wall = sample.get("_timestamp")
                values = []
                for key, value in sample.items():
                    number = _number(value)
                    if not key.startswith("_") and number is not None:
                        values.append(value_of(tag=f"system/{key}", simple_value=number))
                if values and isinstance(wall, (int, float)):
                    emit(Summary(value=values), i, float(wall))
    finally:
        if writer is not None:
            writer.close()
    return max(end, done_rows)


def _other(view: Any, tag: str, value: Any) -> Any:
    """A Summary for a value that is not a number: a histogram, an image
    (its PNG, JPEG or GIF file, read through the reader, which opens no
    link), text; None for what TensorBoard cannot show."""
    from tensorboardX.proto.summary_pb2 import Summary

    if isinstance(value, str):
        from tensorboardX.summary import text

        return text(tag, value)
    if not isinstance(value, dict):
        return None
    kind = value.get("_type")
    if kind == "histogram":
        return _histogram(tag, value)
    if kind == "image-file" and str(value.get("format", "")).lower() in ("png", "jpeg", "jpg", "gif"):
        try:
            data = view.read_file(str(value.get("path")), limit=MEDIA_BYTES)
        except (OSError, ValueError):
            return None  # gone, too large, or not a regular file: not exported
        image = Summary.Image(
            height=int(value.get("height") or 0), width=int(value.get("width") or 0), encoded_image_string=data
        )
        return Summary(value=[Summary.Value(tag=tag, image=image)])
    return None


def _histogram(key: str, value: dict[str, Any]) -> Any:
    from tensorboardX.summary import histogram_raw

    counts, bins = value.get("values") or [], value.get("bins") or []
    if len(bins) != len(counts) + 1 or not counts:
        return None
    centers = [(bins[i] + bins[i + 1]) / 2 for i in range(len(counts))]
    num = float(sum(counts))
    total = sum(c * x for c, x in zip(counts, centers))
    squares = sum(c * x * x for c, x in zip(counts, centers))
    return histogram_raw(
        key,
        min=float(bins[0]),
        max=float(bins[-1]),
        num=num,
        sum=total,
        sum_squares=squares,
        bucket_limits=[float(b) for b in bins[1:]],
        bucket_counts=[float(c) for c in counts],
    )


def _write_config(writer: Any, view: Any) -> None:
    """The config as a markdown table, and as hparams with the summary's numbers as metrics."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, mapping: dict[str, Any]) -> None:
        for k, v in mapping.items():
            if isinstance(v, dict) and "_type" not in v:
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", view.config)
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary
    from tensorboardX.summary import text

    wall = float(view.start_time) if isinstance(view.start_time, (int, float)) else 0.0
    summaries = []
    if flat:
        lines = ["| key | value |", "|---|---|"] + [f"| {k} | {json.dumps(v, default=str)} |" for k, v in flat.items()]
        summaries.append(text("config", "\n".join(lines)))
    hparams = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v, default=str) for k, v in flat.items()}
    metrics = {f"summary/{k}": n for k, v in view.summary.items() if (n := _number(v)) is not None}
    if hparams and metrics:
        from tensorboardX.summary import hparams as hparams_summary

        summaries.extend(hparams_summary(hparams, metrics))
        summaries.append(Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in metrics.items()]))
    for summary in summaries:
        writer.write_event(Event(wall_time=wall, step=0, summary=summary))
