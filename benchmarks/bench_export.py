"""What the bridges cost (`runship export`, `runship import wandb`), each
next to the bare library call doing the same writes where there is one,
in the same invocation:

1. Parquet: a 1,000,000-row run (10 floats a row) exported, then again
   after 1,000 new rows.
   Then the same in a process that stays (``--watch``): no Python start.
2. TensorBoard: scalar values written per second (one event a step).
3. MLflow to sqlite:///: a 100,000-row run (1,000,000 values) against a
   bare ``MlflowClient.log_batch`` loop writing the same values in MLflow's
   largest batches.
4. `runship import wandb` of a wandb offline run of 100,000 rows.

Runs are kept in --work between invocations.

Usage:
    python benchmarks/bench_export.py [--work DIR] [--only parquet,tensorboard,mlflow,wandb]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from bench_read import child, make_run  # noqa: E402

RUNSHIP = [sys.executable, "-m", "runship.cli"]


def run(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})}, capture_output=True)
    return time.perf_counter() - t0


def line(what: str, seconds: float, extra: str = "") -> None:
    print(f"  {what:<66} {seconds:8.2f} s  {extra}")


def grow(run_dir: str, rows: int) -> None:
    root = os.path.dirname(os.path.dirname(run_dir))
    run_id = os.path.basename(run_dir)
    child(
        f"""
        import runship
        run = runship.init(project="bench", id={run_id!r}, dir={root!r}, resume="must",
                           settings={{"quiet": True, "environment": False, "console": "off", "system_metrics": False}})
        start = run.step
        for s in range(start, start + {rows}):
            run.log({{f"metric_{{i}}": s * 0.001 + i for i in range(10)}})
        run.finish()
        """
    )


def parquet(work: str, source: str) -> None:
    print("\n1. Parquet, 1,000,000 rows x 10 floats")
    run_dir = os.path.join(work, "pq-runs", "bench", "one")
    shutil.rmtree(os.path.join(work, "pq-runs"), ignore_errors=True)
    shutil.copytree(source, run_dir)
    dest, state = os.path.join(work, "pq-lake"), os.path.join(work, "pq-state")
    for d in (dest, state):
        shutil.rmtree(d, ignore_errors=True)
    first = run([*RUNSHIP, "export", run_dir, "--to", f"parquet:{dest}", "--state", state])
    line("export (a process, Python's start included)", first, "(target <= 2 s)")
    grow(run_dir, 1000)
    again = run([*RUNSHIP, "export", run_dir, "--to", f"parquet:{dest}", "--state", state])
    line("export again after 1,000 new rows", again, "(target <= 0.2 s)")
    start = run([sys.executable, "-c", "import runship.cli, runship.export.parquet, runship.reader.run"])
    line("  of which starting Python and importing what it uses", start)
    # a process that stays (`runship export --watch`): each pass after the first pays no start
    took = child(
        f"""
        import sys, time
        sys.path.insert(0, {HERE!r})
        from bench_export import grow
        from runship.export import export
        export([{run_dir!r}], "parquet:{dest}", {state!r}, log=lambda s: None)
        grow({run_dir!r}, 1000)
        t0 = time.perf_counter()
        export([{run_dir!r}], "parquet:{dest}", {state!r}, log=lambda s: None)
        print(time.perf_counter() - t0)
        """
    )
    line("export again after 1,000 new rows, in a running --watch process", float(took), "(target <= 0.2 s)")


def tensorboard(work: str, source: str) -> None:
    print("\n2. TensorBoard, 1,000,000 rows x 10 floats")
    dest, state = os.path.join(work, "tb"), os.path.join(work, "tb-state")
    for d in (dest, state):
        shutil.rmtree(d, ignore_errors=True)
    took = run([*RUNSHIP, "export", source, "--to", f"tensorboard:{dest}", "--state", state])
    line("export", took, f"{10_000_000 / took:,.0f} scalar values/s (target >= 200,000)")


def mlflow(work: str) -> None:
    print("\n3. MLflow, sqlite:///, 100,000 rows x 10 floats (1,000,000 values)")
    root = os.path.join(work, "ml-runs")
    run_dir = make_run(root, "ml100k", 100_000)
    db = os.path.join(work, "ml.db")
    bare_db = os.path.join(work, "ml-bare.db")
    for f in (db, bare_db):
        if os.path.exists(f):
            os.unlink(f)
    state = os.path.join(work, "ml-state")
    shutil.rmtree(state, ignore_errors=True)
    ours = run(
        [*RUNSHIP, "export", run_dir, "--to", f"mlflow:sqlite:///{db}", "--state", state],
        env={"MLFLOW_TRACKING_URI": ""},
    )
    bare_code = f"""
        import time, runship
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
        view = runship.open_run({run_dir!r})
        rows = view.history()
        client = MlflowClient("sqlite:///{bare_db}")
        run = client.create_run(client.create_experiment("bare"))
        t0 = time.perf_counter()
        batch = []
        for r in rows:
            ms, step = int(r["_timestamp"] * 1000), r["_step"]
            for k, v in r.items():
                if not k.startswith("_"):
                    batch.append(Metric(k, v, ms, step))
                    if len(batch) == 1000:
                        client.log_batch(run.info.run_id, metrics=batch)
                        batch = []
        if batch:
            client.log_batch(run.info.run_id, metrics=batch)
        print(time.perf_counter() - t0)
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(bare_code)],
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        check=True,
    )
    bare = float(out.stdout.strip().splitlines()[-1])
    line("runship export (a process: Python, imports, the run read, setup)", ours)
    line("bare MlflowClient.log_batch loop, the same values (its writes only)", bare)
    print(f"  runship's speed relative to the bare loop: {bare / ours:.0%} (target >= 80%)")


def wandb(work: str) -> None:
    print("\n4. runship import wandb, a wandb offline run of 100,000 rows")
    where = os.path.join(work, "wb")
    if not os.path.exists(os.path.join(where, "done")):
        shutil.rmtree(where, ignore_errors=True)
        os.makedirs(where)
        code = """
            import wandb
            run = wandb.init(project="bench", mode="offline")
            for s in range(100_000):
                run.log({f"metric_{i}": s * 0.001 + i for i in range(10)})
            run.finish()
        """
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={**os.environ, "WANDB_DIR": where, "WANDB_SILENT": "true"},
            check=True,
            cwd=where,
        )
        open(os.path.join(where, "done"), "w").close()
    (offline,) = [
        os.path.join(where, "wandb", d)
        for d in os.listdir(os.path.join(where, "wandb"))
        if d.startswith("offline-run-")
    ]
    dest = os.path.join(work, "wb-imported")
    shutil.rmtree(dest, ignore_errors=True)
    took = run([*RUNSHIP, "--root", dest, "import", "wandb", offline])
    line("import (a process)", took, "(target <= 5 s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "runship-bench-read"))
    ap.add_argument("--only", default="parquet,tensorboard,mlflow,wandb")
    args = ap.parse_args()
    only = set(args.only.split(","))
    source = make_run(os.path.join(args.work, "one-1000000"), "one", 1_000_000)
    print(f"runship export, {os.cpu_count()} CPUs; work: {args.work}")
    if "parquet" in only:
        parquet(args.work, source)
    if "tensorboard" in only:
        tensorboard(args.work, source)
    if "mlflow" in only:
        mlflow(args.work)
    if "wandb" in only:
        wandb(args.work)


if __name__ == "__main__":
    main()
