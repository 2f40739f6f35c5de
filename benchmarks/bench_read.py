"""What reading costs: runship's reader next to plain ``msgpack.Unpacker``
over the same files and ``pyarrow.parquet.read_table`` of the same columns
written once as Parquet, in the same invocation.

1. A run of ROWS rows x 10 floats: open_run and history() without a cache
   (cold), building the cache, and from the cache (warm): open_run, one key,
   history_df() (with its peak RSS next to the DataFrame's size), samples.
2. A run of BIG_ROWS rows: samples=1000 of one key, warm, and its peak RSS;
   ``series()`` of one key, 1,000 points (what ``/ui/api/series`` reads):
   the whole run (target <= 50 ms), a zoom to 80% of it and one to 0.2%.
3. RUNS small runs: Api.runs() with a config filter and `runship ls`, warm.
4. moto's S3 server on 127.0.0.1: `runship ls s3://...` of S3_RUNS runs, and
   one key of the ROWS-row run read from S3, warm.

Times are the best of several tries (warm: after one read that fills the
cache). Runs are kept in --work between invocations (they take a while to
make); delete it to start again.

Before and after a change: ``--code DIR`` measures the runship of another
checkout (``--code /path/to/main``) on the same runs (each code its own cache).

Usage:
    python benchmarks/bench_read.py [--rows 1000000] [--big-rows 10000000] [--runs 10000] [--s3-runs 500]
                                    [--work DIR] [--only local,big,many,s3] [--code DIR]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def code_root(argv: list[str]) -> str:
    """The checkout whose runship is measured: ``--code DIR`` (e.g. main's,
    for the figures before a change), else this one."""
    for i, a in enumerate(argv):
        if a == "--code" and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
        if a.startswith("--code="):
            return os.path.abspath(a.split("=", 1)[1])
    return ROOT


CODE = code_root(sys.argv)
sys.path.insert(0, ROOT)
sys.path.insert(0, CODE)

import msgpack  # noqa: E402

import runship  # noqa: E402

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}
KEY = "metric_3"


def best(fn, tries: int = 5) -> float:
    out = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def child(code: str, env: dict | None = None) -> str:
    full = {**os.environ, "PYTHONPATH": CODE, **(env or {})}
    out = subprocess.run(  # in CODE: python -c puts the working directory first on the path
        [sys.executable, "-c", textwrap.dedent(code)], env=full, capture_output=True, text=True, check=False, cwd=CODE
    )
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout


def cache_dir(work: str) -> str:
    """The reader's cache of the code measured (each code its own: entries differ)."""
    return os.path.join(work, "cache-" + os.path.basename(CODE.rstrip(os.sep)))


def make_run(root: str, run_id: str, rows: int) -> str:
    run_dir = os.path.join(root, "bench", run_id)
    if os.path.exists(os.path.join(run_dir, "run.json")):
        return run_dir
    child(
        f"""
        import runship
        run = runship.init(project="bench", id={run_id!r}, dir={root!r}, settings={SETTINGS!r})
        row = {{f"metric_{{i}}": 0.0 for i in range(10)}}
        for s in range({rows}):
            for i in range(10):
                row[f"metric_{{i}}"] = s * 0.001 + i
            run.log(row)
        run.finish()
        """
    )
    return run_dir


def plain_unpacker(run_dir: str) -> int:
    n = 0
    for path in sorted(glob.glob(os.path.join(run_dir, "run-*.msgpack"))):
        with open(path, "rb") as f:
            records = list(msgpack.Unpacker(f, raw=False))
        n += len(records)
    return n


def parquet_of(run_dir: str, path: str) -> None:
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        df = runship.open_run(run_dir, cache=False).history_df()
        pq.write_table(__import__("pyarrow").Table.from_pandas(df, preserve_index=False), path)


def rss_of(code: str, env: dict) -> tuple[float, float]:
    """(peak RSS MiB, a number the code prints) of code in a fresh process
    (VmHWM: ru_maxrss of a child can carry its parent's)."""
    peak = "\nfor _l in open('/proc/self/status'):\n    if _l.startswith('VmHWM:'): print(int(_l.split()[1]) / 1024)"
    out = child(textwrap.dedent(code) + peak, env).split()
    return float(out[-1]), float(out[-2])


def line(what: str, seconds: float, *others: tuple[str, float]) -> None:
    extra = "".join(f"   {name} {value * 1000:9.1f} ms (x{seconds / value:5.2f})" for name, value in others)
    print(f"  {what:46s} {seconds * 1000:9.1f} ms{extra}", flush=True)


def local(work: str, rows: int) -> None:
    import pyarrow.parquet as pq

    run_dir = make_run(os.path.join(work, f"one-{rows}"), "one", rows)
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(run_dir, "run-*.msgpack")))
    files = len(glob.glob(os.path.join(run_dir, "run-*.msgpack")))
    print(f"\n1. {rows:,} rows x 10 floats ({size / 1e6:.0f} MB, {files} segments)")
    parquet = os.path.join(work, f"one-{rows}.parquet")
    parquet_of(run_dir, parquet)
    unpack = best(lambda: plain_unpacker(run_dir), 3)
    pq_all = best(lambda: pq.read_table(parquet), 3)
    pq_one = best(lambda: pq.read_table(parquet, columns=["_step", "_timestamp", KEY]), 5)
    print(
        f"  plain msgpack.Unpacker, every record: {unpack * 1000:.0f} ms; pyarrow.parquet.read_table: "
        f"{pq_all * 1000:.1f} ms (all columns), {pq_one * 1000:.1f} ms (_step, _timestamp, {KEY})"
    )

    cold_open = best(lambda: runship.open_run(run_dir, cache=False), 3)
    view = runship.open_run(run_dir, cache=False)
    cold_hist = best(lambda: view.history(), 2)
    line("cold: open_run (no cache)", cold_open)
    line("cold: history() after open", cold_hist)
    line("cold: open_run + history()", cold_open + cold_hist, ("Unpacker", unpack))
    cache = cache_dir(work)

    def build() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        runship.open_run(run_dir, cache=cache)

    building = best(build, 3)
    line("cold: open_run building the cache", building, ("open_run without", cold_open))
    warm_open = best(lambda: runship.open_run(run_dir, cache=cache), 7)
    line("warm: open_run", warm_open)
    one = best(lambda: runship.open_run(run_dir, cache=cache).history_df([KEY]), 7)
    line(f"warm: open_run + history_df(['{KEY}'])", one, ("parquet", pq_one))
    whole = best(lambda: runship.open_run(run_dir, cache=cache).history_df(), 3)
    line("warm: open_run + history_df()", whole, ("parquet", pq_all))
    sampled = best(lambda: runship.open_run(run_dir, cache=cache).history([KEY], samples=1000), 7)
    line(f"warm: open_run + history(['{KEY}'], samples=1000)", sampled)
    warm_hist = best(lambda: runship.open_run(run_dir, cache=cache).history(), 2)
    line("warm: open_run + history() (a dict per row)", warm_hist, ("Unpacker", unpack))
    peak, df_mb = rss_of(
        f"""
        import runship
        df = runship.open_run({run_dir!r}, cache={cache!r}).history_df()
        print(df.memory_usage(deep=True).sum() / 2**20)
        """,
        {},
    )
    base, _ = rss_of("import runship, pyarrow, pandas, numpy\nprint(0)", {})
    print(
        f"  history_df() peak RSS {peak:.0f} MiB ({peak - base:.0f} MiB above the libraries' {base:.0f} MiB), "
        f"DataFrame {df_mb:.0f} MiB: x{(peak - base) / df_mb:.2f}"
    )


def big(work: str, rows: int) -> None:
    t0 = time.perf_counter()
    run_dir = make_run(os.path.join(work, f"big-{rows}"), "big", rows)
    made = time.perf_counter() - t0
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(run_dir, "run-*.msgpack")))
    print(f"\n2. {rows:,} rows x 10 floats ({size / 1e9:.1f} GB{'' if made < 1 else f', made in {made:.0f} s'})")
    cache = cache_dir(work)
    t0 = time.perf_counter()
    runship.open_run(run_dir, cache=cache)
    print(f"  first open_run (builds the cache where missing): {time.perf_counter() - t0:.1f} s")
    sampled = best(lambda: runship.open_run(run_dir, cache=cache).history([KEY], samples=1000), 5)
    line(f"warm: open_run + history(['{KEY}'], samples=1000)", sampled)
    for what, xrange, target in (
        ("the whole run", None, 0.05),
        ("zoom to 80%", (rows * 0.1, rows * 0.9), None),
        ("zoom to 0.2%", (rows * 0.5, rows * 0.502), None),
    ):
        took = best(lambda xr=xrange: runship.open_run(run_dir, cache=cache).series([KEY], 1000, xrange=xr), 5)
        line(f"warm: open_run + series(['{KEY}'], 1000), {what}", took)
        if target is not None:
            print(f"{'':50s}(target <= {target * 1000:.0f} ms: {'met' if took <= target else 'NOT met'})")
    peak, _ = rss_of(
        f"""
        import runship
        print(len(runship.open_run({run_dir!r}, cache={cache!r}).history([{KEY!r}], samples=1000)))
        """,
        {},
    )
    base, _ = rss_of("import runship, pyarrow, pandas, numpy\nprint(0)", {})
    column = rows * 8 * 3 / 2**20
    print(
        f"  its peak RSS: {peak:.0f} MiB ({peak - base:.0f} MiB above the libraries'); "
        f"_step, _t and {KEY} weigh {column:.0f} MiB"
    )


def make_many(root: str, runs: int) -> None:
    marker = os.path.join(root, f".made-{runs}")
    if os.path.exists(marker):
        return
    child(
        f"""
        import random, runship
        rng = random.Random(0)
        for i in range({runs}):
            run = runship.init(project="many", id=f"r{{i:05d}}", dir={root!r}, reinit="create_new",
                               config={{"lr": rng.choice([0.1, 0.01, 0.001]), "seed": i, "opt": {{"name": "adam"}}}},
                               tags=["sweep"], settings={SETTINGS!r})
            for s in range(20):
                run.log({{"loss": 1.0 / (s + 1), "acc": rng.random()}})
            run.finish()
        """
    )
    open(marker, "w").close()


def many(work: str, runs: int) -> None:
    root = os.path.join(work, f"many-{runs}")
    make_many(root, runs)
    cache = cache_dir(work)
    print(f"\n3. {runs:,} runs of 20 rows")
    api = runship.Api(root, cache=cache)
    t0 = time.perf_counter()
    found = api.runs("many", filters={"config.lr": 0.01})
    print(f"  first Api.runs (reads every run changed since the index last saw it): {time.perf_counter() - t0:.2f} s")
    warm = best(lambda: runship.Api(root, cache=cache).runs("many", filters={"config.lr": 0.01}), 5)
    line(f"warm: Api.runs(filters={{'config.lr': 0.01}}) ({len(found)} runs)", warm)
    warm_s = best(lambda: runship.Api(root, cache=cache).runs("many", filters={"summary.acc": {"$gt": 0.9}}), 5)
    line("warm: Api.runs(filters={'summary.acc': {'$gt': 0.9}})", warm_s)
    env = {**os.environ, "RUNSHIP_CACHE_DIR": cache, "PYTHONPATH": CODE}
    cmd = [sys.executable, "-m", "runship.cli", "ls", root]

    def ls() -> None:
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True, cwd=CODE)

    line("warm: `runship ls` (a process, Python's start included)", best(ls, 3))
    start = best(lambda: subprocess.run([sys.executable, "-c", "import runship.cli"], env=env, check=True, cwd=CODE), 3)
    line("  of which starting Python and importing runship.cli", start)


def s3(work: str, runs: int, rows: int) -> None:
    sys.path.insert(0, ROOT)
    from tests.servers import S3_ENV, MotoServer

    os.environ.update(S3_ENV)
    server = MotoServer().start()
    try:
        env = {**os.environ, **S3_ENV, "AWS_ENDPOINT_URL": server.endpoint, "PYTHONPATH": CODE}
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        import boto3

        boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="bench")
        src = os.path.join(work, f"s3-{runs}")
        make_many(src, runs)
        one = make_run(os.path.join(work, f"one-{rows}"), "one", rows)
        url = "s3://bench/runs"
        state = os.path.join(work, "s3-state")
        shutil.rmtree(state, ignore_errors=True)
        t0 = time.perf_counter()
        for root in (src, os.path.dirname(os.path.dirname(one))):
            subprocess.run(
                [sys.executable, "-m", "runship.cli", "upload", root, "--to", url, "--state", state, "--once", "-q"],
                env=env,
                check=True,
                cwd=CODE,
            )
        print(
            f"\n4. moto S3 on 127.0.0.1: {runs} runs and the {rows:,}-row run uploaded in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        cache = os.path.join(work, "s3-cache")
        shutil.rmtree(cache, ignore_errors=True)
        cmd = [sys.executable, "-m", "runship.cli", "ls", f"{url}", "--project", "many"]
        cenv = {**env, "RUNSHIP_CACHE_DIR": cache}
        t0 = time.perf_counter()
        subprocess.run(cmd, env=cenv, stdout=subprocess.DEVNULL, check=True, cwd=CODE)
        line(f"cold: `runship ls {url} --project many` ({runs} runs)", time.perf_counter() - t0)
        line(
            "warm: the same",
            best(lambda: subprocess.run(cmd, env=cenv, stdout=subprocess.DEVNULL, check=True, cwd=CODE), 3),
        )
        remote = f"{url}/bench/one"
        t0 = time.perf_counter()
        runship.open_run(remote, cache=cache).history_df([KEY])
        line(f"cold: one key of the {rows:,}-row run from S3", time.perf_counter() - t0)
        line("warm: the same", best(lambda: runship.open_run(remote, cache=cache).history_df([KEY]), 5))
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--s3-runs", type=int, default=500)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "runship-bench-read"))
    ap.add_argument("--only", default="local,big,many,s3")
    ap.add_argument("--code", default=ROOT, help="the checkout whose runship is measured (default: this one)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    print(f"runship {runship.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; work: {args.work}")
    print(f"code measured: {os.path.dirname(os.path.dirname(os.path.abspath(runship.__file__)))}")
    only = set(args.only.split(","))
    if "local" in only:
        local(args.work, args.rows)
    if "big" in only and args.big_rows:
        big(args.work, args.big_rows)
    if "many" in only:
        many(args.work, args.runs)
    if "s3" in only:
        s3(args.work, args.s3_runs, args.rows)


if __name__ == "__main__":
    main()
