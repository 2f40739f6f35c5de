"""Runs into MLflow (``runship export --to mlflow:TRACKING_URI``:
``sqlite:///mlflow.db``, ``http://host:5000``, a file store), with
MLflow's own client (``pip install mlflow``): one MLflow run per runship
run, in the experiment named after its project, found again on the next
export by its tag ``runship.id``.

- params: the config flattened (``a.b``), values cut to MLflow's 6000
  characters; the whole config as the artifact ``runship/config.json``;
- metrics: every number of the history at its step and wall time, in
  ``log_batch`` calls of at most 1000 values; system metrics under
  ``system/`` (their sample number as the step);
- tags: ``runship.id``, ``runship.project``, group, job type, host,
  scheduler job; the run's saved files as artifacts; status and end time
  from the run's state."""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any

MAX_BATCH = 1000  # MLflow: metrics + params + tags in one log_batch
MAX_PARAMS = 100  # MLflow: params in one log_batch
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
ROWS_TAG = "runship.rows"
SYSTEM_TAG = "runship.system"
STATUS = {
    "finished": "FINISHED",
    "failed": "FAILED",
    "crashed": "FAILED",
    "terminated": "KILLED",
    "preempted": "KILLED",
}


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError("exporting to MLflow needs mlflow: pip install mlflow") from None
    return MlflowClient(tracking_uri=uri)


def _flat(prefix: str, mapping: dict[str, Any], out: dict[str, str]) -> None:
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and "_type" not in v:
            _flat(key + ".", v, out)
        else:
            text = v if isinstance(v, str) else json.dumps(v, default=str)
            out[key[:MAX_KEY]] = text[:MAX_PARAM_VALUE]


def find_run(client: Any, view: Any) -> tuple[str, bool]:
    """(MLflow run id, made now) of this runship run."""
    experiment = client.get_experiment_by_name(view.project)
    experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(view.project)
    found = client.search_runs([experiment_id], filter_string=f"tags.`runship.id` = '{view.id}'", max_results=1)
    if found:
        return found[0].info.run_id, False
    tags = {"runship.id": view.id, "runship.project": view.project}
    env = view.environment or {}
    for name, value in (
        ("runship.group", view.group),
        ("runship.job_type", view.job_type),
        ("runship.host", env.get("host")),
    ):
        if value:
            tags[name] = str(value)
    sched = env.get("scheduler") if isinstance(env.get("scheduler"), dict) else None
    if sched and sched.get("job_id"):
        tags["runship.scheduler_job"] = f"{sched.get('name')}:{sched['job_id']}"
    for t in view.tags or []:
        tags[f"runship.tag.{t}"[:MAX_KEY]] = "true"
    start = int(view.start_time * 1000) if isinstance(view.start_time, (int, float)) else None
    run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=view.name)
    return run.info.run_id, True


def export_run(view: Any, dest: str, done_rows: int) -> int:
    client = _client(dest)
    run_id, made = find_run(client, view)
    if made or done_rows == 0:
        _send_config(client, run_id, view)
    # rows already in MLflow: each batch carries the count of rows it completes as the tag
    # runship.rows, in the same call, so an export killed between a batch and the state's
    # update resumes after what MLflow holds and logs no point twice
    if not made:
        held = client.get_run(run_id).data.tags.get(ROWS_TAG, "")
        if held.isdigit() and done_rows < int(held) <= done_rows + 10**9:
            done_rows = int(held)
    total: int = view.history_length()
    _send_rows(client, run_id, view, done_rows)
    _send_system(client, run_id, view)
    state = view.state
    if state in STATUS:
        end = int(view.last_write * 1000) if isinstance(view.last_write, (int, float)) else None
        client.set_terminated(run_id, status=STATUS[state], end_time=end)
    return max(total, done_rows)


def _send_config(client: Any, run_id: str, view: Any) -> None:
    """The config as params (flattened) and as ``runship/config.json``, the saved files as artifacts."""
    from mlflow.entities import Param

    from runship.export.files import run_files

    params: dict[str, str] = {}
    _flat("", view.config, params)
    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump(view.config, f, default=str, indent=1)
        client.log_artifact(run_id, path, artifact_path="runship")
        for sub, local in run_files(view, os.path.join(tmp, "files")):
            client.log_artifact(run_id, local, artifact_path=os.path.dirname(sub) or None)


def _points(row: dict[str, Any], ms: int, step: int, prefix: str = "") -> list[Any]:
    """A row's numbers as MLflow metrics (booleans as 0/1, non-finite as NaN)."""
    from mlflow.entities import Metric

    out = []
    for key, value in row.items():
        if key.startswith("_"):
            continue
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)):
            out.append(
                Metric(f"{prefix}{key}"[:MAX_KEY], float(value) if math.isfinite(value) else float("nan"), ms, step)
            )
    return out


def _send_rows(client: Any, run_id: str, view: Any, done_rows: int) -> None:
    """The history rows after ``done_rows``, in batches that each end at a
    row's end and say (tag runship.rows) how many rows they complete."""
    from mlflow.entities import RunTag

    batch: list[Any] = []
    rows_done = done_rows

    def flush() -> None:
        if batch:
            client.log_batch(run_id, metrics=batch, tags=[RunTag(ROWS_TAG, str(rows_done))])
            batch.clear()

    for n, row in enumerate(view.rows_from(done_rows), start=done_rows):
        new = _points(row, int(row["_timestamp"] * 1000), int(row["_step"]))
        if len(batch) + len(new) > MAX_BATCH - 1:  # a batch ends at a row's end (one entity left for the tag)
            flush()
        batch.extend(new[: MAX_BATCH - 1])
        rows_done = n + 1
    flush()


def _send_system(client: Any, run_id: str, view: Any) -> None:
    """System metrics: the samples after those MLflow holds (tag
    runship.system), their sample number as the step."""
    from mlflow.entities import RunTag

    held_system = client.get_run(run_id).data.tags.get(SYSTEM_TAG, "0")
    sent = int(held_system) if held_system.isdigit() else 0
    batch: list[Any] = []
    samples = 0
    for i, sample in enumerate(view.system()):
        samples = i + 1
        t = sample.get("_timestamp")
        if i >= sent and isinstance(t, (int, float)):
            batch.extend(_points(sample, int(t * 1000), i, "system/"))
            if len(batch) >= MAX_BATCH - 1:
                client.log_batch(run_id, metrics=batch, tags=[RunTag(SYSTEM_TAG, str(i + 1))])
                batch.clear()
    if batch:
        client.log_batch(run_id, metrics=batch, tags=[RunTag(SYSTEM_TAG, str(samples))])


def import_experiment(uri: str, experiment: str, *, root: str | None = None, project: str | None = None) -> list[Any]:
    """runship runs from an MLflow experiment's runs: params as config,
    each metric's history at its steps as rows, tags; ids from
    ``runship.id`` where the run came from runship, else MLflow's."""
    from runship.integration import imported_run
    from runship.schema import names

    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise FileNotFoundError(f"no MLflow experiment {experiment!r} at {uri}")
    made = []
    for mr in client.search_runs([found.experiment_id], max_results=10_000):
        tags = mr.data.tags
        run_id = tags.get("runship.id") or mr.info.run_id[:32]
        if not names.segment_ok(run_id):
            run_id = mr.info.run_id[:32]
        rows: dict[int, dict[str, Any]] = {}
        for key in mr.data.metrics:
            if key.startswith("system/"):
                continue
            for m in client.get_metric_history(mr.info.run_id, key):
                rows.setdefault(int(m.step), {})[key] = m.value
        config = {k: _param(v) for k, v in mr.data.params.items()}
        run: Any = imported_run(
            root,
            project=project or experiment,
            id=run_id,
            name=mr.info.run_name,
            group=tags.get("runship.group"),
            job_type=tags.get("runship.job_type"),
            config=config,
        )
        for step in sorted(rows):
            run.log(rows[step], step=step)
        status = mr.info.status
        run.finish(exit_code=0 if status in ("FINISHED", "RUNNING") else 1)
        made.append(run)
    return made


def _param(text: str) -> Any:
    """A param as the value it was (MLflow keeps text): JSON where it parses."""
    try:
        return json.loads(text)
    except ValueError:
        return text
