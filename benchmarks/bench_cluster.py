"""A cluster's worth of runs, on this machine:

1. 256 rank processes of one job (Slurm variables, launched 32 at a time:
   this machine has few cores) each log 50 rows into one run; then
   ``open_run`` of it cold and warm, and ``runship upload`` of it to the
   moto S3 server (a process, Python's start included).
2. One uploader pass (``runship upload``, a process) over a root of 10,000
   runs of which 100 are live (open in a writer that logs to them between
   passes), after a first pass uploaded everything: its time and the peak
   memory (RSS) of the uploader process.

Usage:
    python benchmarks/bench_cluster.py [--work DIR] [--only ranks,uploader]
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

from bench_read import make_many  # noqa: E402

RANK = """
import os, runship
run = runship.init(project="job", settings={"quiet": True, "environment": False, "console": "off",
                                             "system_metrics": False})
rank = int(os.environ["SLURM_PROCID"])
for i in range(50):
    run.log({"loss": 1.0 / (i + 1) + rank, "rank": rank})
run.finish()
"""


def env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("RUNSHIP_")}, "PYTHONPATH": ROOT, **extra}


MEASURED = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_module("runship.cli", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def timed(args: list[str], **kw) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of ``runship ARGS`` as a process."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURED, "runship", *args], capture_output=True, text=True, **kw)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    rss = int(next(line.split()[1] for line in out.stderr.splitlines() if line.startswith("MAXRSS")))
    return took, rss


def ranks(work: str) -> None:
    from tests.servers import S3_ENV, MotoServer

    print("\n1. 256 ranks of one job, one run")
    root = os.path.join(work, "ranks")
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    world = 256
    for first in range(0, world, 32):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RANK],
                env=env(
                    RUNSHIP_DIR=root,
                    SLURM_JOB_ID="9001",
                    SLURM_STEP_ID="0",
                    SLURM_PROCID=str(r),
                    SLURM_LOCALID=str(r % 8),
                    SLURM_NTASKS=str(world),
                    SLURMD_NODENAME=f"node{r // 8:03d}",
                ),
            )
            for r in range(first, first + 32)
        ]
        for p in procs:
            assert p.wait() == 0
    print(f"  256 rank processes logged 50 rows each (32 at a time)            {time.perf_counter() - t0:8.2f} s")
    run_dir = os.path.join(root, "job", "slurm-9001.0")
    code = f"""
        import time
        from runship.reader.run import open_run
        t0 = time.perf_counter()
        view = open_run({run_dir!r}, cache=True)
        n = len(view.ranks)
        print(time.perf_counter() - t0, n, len(view.history()), len(view.history(rank=200)))
    """
    for what in ("cold (first read, the cache filled)", "warm (the cache kept)"):
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env(), capture_output=True, text=True)
        took, n, rows, rows_200 = out.stdout.split()
        assert int(n) == 256 and int(rows) == 50 and int(rows_200) == 50, out.stdout + out.stderr
        print(f"  open_run, {what:<46} {float(took):8.2f} s  (target warm <= 1 s)")
    moto = MotoServer().start()
    try:
        moto.create_bucket("cluster")
        state = os.path.join(work, "ranks-state")
        shutil.rmtree(state, ignore_errors=True)
        took, _ = timed(
            ["-o", f"endpoint_url={moto.endpoint}", "upload", root, "--to", "s3://cluster/runs", "--state", state],
            env=env(**S3_ENV),
        )
        print(f"  runship upload of it to the moto S3 server (a process)               {took:8.2f} s  (target <= 10 s)")
    finally:
        moto.stop()


LIVE = """
import sys, time, runship
root = sys.argv[1]
runs = [runship.init(project="many", id=f"r{i:05d}", dir=root, resume="must", reinit="create_new",
                     settings={"quiet": True, "environment": False, "console": "off", "system_metrics": False})
        for i in range(0, 10000, 100)]
print("OPEN", flush=True)
for line in sys.stdin:
    for run in runs:
        for s in range(10):
            run.log({"loss": 0.5, "acc": 0.5})
        run.flush()
    print("LOGGED", flush=True)
for run in runs:
    run.finish()
"""


def uploader(work: str) -> None:
    print("\n2. one uploader pass over 10,000 runs, 100 of them live")
    source = os.path.join(work, "many-10000")
    make_many(source, 10_000)
    root = os.path.join(work, "cluster-10000")
    if not os.path.exists(os.path.join(root, ".made")):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(source, root)
        open(os.path.join(root, ".made"), "w").close()
    dest, state = os.path.join(work, "cluster-dest"), os.path.join(work, "cluster-state")
    for d in (dest, state):
        shutil.rmtree(d, ignore_errors=True)
    cmd = ["upload", root, "--to", dest, "--state", state]
    first, _ = timed(cmd, env=env())
    print(f"  first pass (everything uploaded)                                     {first:8.2f} s")
    live = subprocess.Popen(
        [sys.executable, "-c", LIVE, root], env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert live.stdout.readline().strip() == "OPEN"
    try:
        for n in range(3):
            live.stdin.write("go\n")
            live.stdin.flush()
            assert live.stdout.readline().strip() == "LOGGED"
            took, rss = timed(cmd, env=env())
            print(
                f"  a pass after 100 live runs grew (pass {n + 1})                          {took:8.2f} s  "
                f"peak RSS {rss / 1024:.0f} MiB  (targets <= 2 s, <= 100 MiB)"
            )
        took, rss = timed(["--version"], env=env())
        print(
            f"    of which starting Python and runship.cli (--version)               {took:8.2f} s  RSS {rss / 1024:.0f} MiB"
        )
    finally:
        live.stdin.close()
        live.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "runship-bench-read"))
    ap.add_argument("--only", default="ranks,uploader")
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"runship on a cluster's worth of runs, {os.cpu_count()} CPUs; work: {args.work}")
    if "ranks" in only:
        ranks(args.work)
    if "uploader" in only:
        uploader(args.work)


if __name__ == "__main__":
    main()
