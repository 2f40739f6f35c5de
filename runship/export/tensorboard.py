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
before writing it again."""

from __future__ import annotations

import json
import math
import os
from typing import Any

SUFFIX = ".rows-{first:012d}"


def _writer(logdir: str, first: int) -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("exporting to TensorBoard needs tensorboardX: pip install tensorboardX") from None
    return SummaryWriter(logdir, filename_suffix=SUFFIX.format(first=first), flush_secs=3600, max_queue=10_000)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def export_run(view: Any, dest: str, done_rows: int, frame: Any = None) -> int:
    """Write the run's rows after ``done_rows``; returns the rows exported in all."""
    from tensorboardX.proto.summary_pb2 import Summary

    value_of = Summary.Value  # a scalar as TensorBoard stores it (simple_value), made directly

    logdir = os.path.join(dest, view.project, view.id)
    os.makedirs(logdir, exist_ok=True)
    for name in os.listdir(logdir):  # a killed export's file past what is known done
        if ".rows-" in name:
            first = name.rsplit(".rows-", 1)[1]
            if first.isdigit() and int(first) >= done_rows:
                os.unlink(os.path.join(logdir, name))
    rows = 0
    writer = None
    try:
        for n, row in enumerate(view.scan_history()):
            rows = n + 1
            if n < done_rows:
                continue
            if writer is None:
                writer = _writer(logdir, done_rows)
                if done_rows == 0:
                    _write_config(writer, view)
            step, wall = int(row["_step"]), float(row["_timestamp"])
            values = []
            for key, value in row.items():
                if key.startswith("_"):
                    continue
                number = _number(value)
                if number is not None:
                    values.append(value_of(tag=key, simple_value=number))
                elif isinstance(value, dict) and value.get("_type") == "histogram":
                    _histogram(writer, key, value, step, wall)
            if values:  # one event for the step's scalars
                writer.file_writer.add_summary(Summary(value=values), step, wall)
        if writer is not None:
            for i, sample in enumerate(view.system()):
                wall = sample.get("_timestamp")
                values = []
                for key, value in sample.items():
                    number = _number(value)
                    if not key.startswith("_") and number is not None:
                        values.append(value_of(tag=f"system/{key}", simple_value=number))
                if values and isinstance(wall, (int, float)):
                    writer.file_writer.add_summary(Summary(value=values), i, float(wall))
    finally:
        if writer is not None:
            writer.close()
    return max(rows, done_rows)


def _histogram(writer: Any, key: str, value: dict[str, Any], step: int, wall: float) -> None:
    counts, bins = value.get("values") or [], value.get("bins") or []
    if len(bins) != len(counts) + 1 or not counts:
        return
    centers = [(bins[i] + bins[i + 1]) / 2 for i in range(len(counts))]
    num = float(sum(counts))
    total = sum(c * x for c, x in zip(counts, centers))
    squares = sum(c * x * x for c, x in zip(counts, centers))
    writer.add_histogram_raw(
        key,
        min=float(bins[0]),
        max=float(bins[-1]),
        num=num,
        sum=total,
        sum_squares=squares,
        bucket_limits=[float(b) for b in bins[1:]],
        bucket_counts=[float(c) for c in counts],
        global_step=step,
        walltime=wall,
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
    if flat:
        lines = ["| key | value |", "|---|---|"] + [f"| {k} | {json.dumps(v, default=str)} |" for k, v in flat.items()]
        writer.add_text("config", "\n".join(lines), 0)
    hparams = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v, default=str) for k, v in flat.items()}
    metrics = {f"summary/{k}": n for k, v in view.summary.items() if (n := _number(v)) is not None}
    if hparams and metrics:
        from tensorboardX.summary import hparams as hparams_summary

        for summary in hparams_summary(hparams, metrics):
            writer.file_writer.add_summary(summary)
        for key, value in metrics.items():
            writer.add_scalar(key, value, 0)
