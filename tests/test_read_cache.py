"""The column cache and the run index are never wrong: every read through
them equals the read without them, whatever the runs hold (sessions, resets,
rotation, torn tails, corruption, appends between reads) and whatever
happens to the cache's files (deleted, damaged, shared by two processes)."""

from __future__ import annotations

import contextlib
import math
import os
import random
import subprocess
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runship
import runship.reader.decode as decode_module
from runship.reader.cache import SegmentCache
from runship.reader.listing import list_runs
from tests.conftest import child_env

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}


def canon(value):
    """A value with NaN made comparable (NaN == NaN) and -0.0 kept apart from 0.0."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return ("f", value, math.copysign(1, value))
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    return value


def frame_canon(df):
    return canon({c: [None if v is None else v for v in df[c].tolist()] for c in df.columns})


def reads(location, cache, keys=("loss", "acc")):
    """Everything a user may read of a run, canonical."""
    view = runship.open_run(location, cache=cache)
    info = view.to_dict()
    info.pop("location")
    out = {
        "info": canon(info),
        "history": canon(view.history()),
        "keys": {k: canon(view.history([k])) for k in keys},
        "both": canon(view.history(list(keys))),
        "any": canon(view.history(list(keys), match="any")),
        "df": frame_canon(view.history_df()),
        "df_keys": frame_canon(view.history_df(list(keys), match="any")),
        "samples": canon(view.history(samples=8)),
        "samples_df": frame_canon(view.history_df(list(keys), samples=12)),
        "history_keys": view.history_keys(),
        # a zoom reads the rows of its range only (a cache entry's row groups)
        "zoom": {k: canon([a.tolist() for a in xy]) for k, xy in view.series(list(keys), 12, xrange=(3, 40)).items()},
    }
    return out


def same_reads(location, cache_dir):
    want = reads(location, False)
    assert reads(location, cache_dir) == want  # building (or extending) the cache
    assert reads(location, cache_dir) == want  # from the cache
    return want


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(0, 9), max_size=2),
    st.fixed_dictionaries({"_type": st.just("image-file"), "path": st.text(max_size=4)}),
)
rows = st.lists(
    st.dictionaries(st.sampled_from(["loss", "acc", "lr", "note"]), values, max_size=4),
    min_size=0,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    sessions=st.lists(
        st.tuples(rows, st.sampled_from(["new", "resume", "reset"]), st.booleans()), min_size=1, max_size=3
    ),
    damage=st.sampled_from(["none", "torn", "flip", "garbage"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_reads_through_the_cache_equal_reads_without_it(tmp_path_factory, sessions, damage, seed):
    tmp = tmp_path_factory.mktemp("runs")
    cache_dir = str(tmp_path_factory.mktemp("cache"))
    rng = random.Random(seed)
    run_dir = None
    for i, (logged, how, metric) in enumerate(sessions):
        resume = "allow" if how == "resume" or i == 0 else None
        if how == "new" and i:
            resume = "allow"
        run = runship.init(
            project="p",
            id="r",
            dir=str(tmp),
            resume=resume,
            reinit="create_new",
            settings={**SETTINGS, "rotate_bytes": 600},
        )
        if metric:
            run.define_metric("loss", summary="min,max,mean,last")
        for j, row in enumerate(logged):
            run.log(row)
            if j % 7 == 3:
                run.summary["note"] = j  # a summary record between rows
            if j % 10 == 9:
                run.flush()
        run.finish()
        run_dir = run.run_dir
        same_reads(run_dir, cache_dir)
    files = sorted(n for n in os.listdir(run_dir) if n.startswith("run-"))
    victim = os.path.join(run_dir, files[-1] if damage == "torn" else rng.choice(files))
    size = os.path.getsize(victim)
    if damage == "torn":
        os.truncate(victim, rng.randrange(size))
    elif damage == "flip" and size:
        with open(victim, "r+b") as f:
            at = rng.randrange(size)
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ (1 << rng.randrange(8))]))
    elif damage == "garbage":
        with open(victim, "ab") as f:
            f.write(rng.randbytes(rng.randrange(1, 200)))
    same_reads(run_dir, cache_dir)


@pytest.mark.parametrize("live_bytes", [1, 10**9])
def test_a_live_run_read_between_appends(tmp_path, monkeypatch, live_bytes):
    """A file still being written: cached once it holds ``live_bytes``
    (here: every commit, or never), then read from the cached length on."""
    monkeypatch.setattr(decode_module, "CACHE_LIVE_BYTES", live_bytes)
    cache_dir = str(tmp_path / "cache")
    run = runship.init(project="p", id="live", dir=str(tmp_path / "runs"), settings={**SETTINGS, "rotate_bytes": 4000})
    for step in range(6):
        for i in range(40):
            value = float("nan") if i == 17 else (step * 40 + i) * 0.5
            run.log({"loss": value, **({"acc": "text"} if i == 3 and step % 2 else {"acc": i})})
        run.flush()
        same_reads(run.run_dir, cache_dir)
    run.finish()
    same_reads(run.run_dir, cache_dir)
    if live_bytes == 1:
        entries = [f for _, _, fs in os.walk(cache_dir) for f in fs if f.endswith(".parquet")]
        assert entries, "nothing was cached"


def make_run(root, rid="r", rows=300, rotate=3000):
    run = runship.init(
        project="p", id=rid, dir=str(root), reinit="create_new", settings={**SETTINGS, "rotate_bytes": rotate}
    )
    for i in range(rows):
        run.log({"loss": 1.0 / (i + 1), "acc": i, **({"note": f"n{i}"} if i % 10 == 0 else {})})
        if i % 50 == 49:
            run.flush()  # a batch each time: files rotate past ``rotate`` bytes
    run.summary["best"] = 1
    run.finish()
    return run.run_dir


def cache_files(cache_dir):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(cache_dir) for f in fs)


@pytest.mark.parametrize("how", ["delete", "truncate", "flip", "zero", "swap", "fifo"])
def test_deleting_or_damaging_any_cache_file_changes_no_result(tmp_path, how):
    run_dir = make_run(tmp_path / "runs")
    cache_dir = str(tmp_path / "cache")
    want = same_reads(run_dir, cache_dir)
    entries = [f for f in cache_files(cache_dir) if f.endswith(".parquet")]
    assert len(entries) > 2
    rng = random.Random(how)
    for path in entries:
        # damage one file after the run was opened (its columns are read
        # later) and before: both reads equal the read without a cache
        view = runship.open_run(run_dir, cache=cache_dir)
        data = open(path, "rb").read()
        if how == "delete":
            os.unlink(path)
        elif how == "truncate":
            os.truncate(path, rng.randrange(len(data)))
        elif how == "flip":
            at = rng.randrange(len(data))
            with open(path, "r+b") as f:
                f.seek(at)
                f.write(bytes([data[at] ^ 0xFF]))
        elif how == "zero":
            with open(path, "r+b") as f:
                f.seek(len(data) // 2)
                f.write(b"\0" * 4096)
        elif how == "swap":  # another entry's bytes under this entry's name
            other = next(e for e in entries if e != path and os.path.exists(e))
            with open(other, "rb") as src, open(path, "wb") as dst:
                dst.write(src.read())
        elif how == "fifo":  # a link to a FIFO: opening it would block the read forever
            fifo = str(tmp_path / f"fifo-{os.path.basename(path)}")
            os.mkfifo(fifo)
            os.unlink(path)
            os.symlink(fifo, path)
        with _watch(path) as opened:
            assert canon(view.history()) == want["history"]
            assert frame_canon(view.history_df()) == want["df"]
            assert reads(run_dir, cache_dir) == want
        assert not opened, "the link to a FIFO was followed"


@contextlib.contextmanager
def _watch(path):
    """While the block runs: is ``path``, when it is a link to a FIFO, opened
    for reading? (A reader found there is let go, so the test fails, not hangs.)"""
    opened: list[bool] = []
    done = threading.Event()

    def watch():
        while not done.wait(0.02) and os.path.islink(path):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO unless a reader has it open
            except OSError:
                continue
            opened.append(True)
            os.close(fd)  # the reader sees end of file

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        done.set()
        thread.join()


@pytest.mark.heavy  # every byte of an entry damaged: `make test-heavy`
def test_every_byte_of_an_entry_damaged_is_caught(tmp_path):
    """A byte flipped anywhere in a cache entry: the read equals the read
    without a cache (Parquet's page checksums, runship's metadata checksum
    and the columns' types and lengths)."""
    run = runship.init(project="p", id="one", dir=str(tmp_path / "runs"), settings=SETTINGS)
    for i in range(20):
        run.log({"loss": i * 0.25, "s": "ab"[i % 2], **({"m": {"x": i}} if i % 3 else {})})
    run.finish()
    cache_dir = str(tmp_path / "cache")
    want = same_reads(run.run_dir, cache_dir)
    (entry,) = [f for f in cache_files(cache_dir) if f.endswith(".parquet") and not f.endswith(".blocks.parquet")]
    good = open(entry, "rb").read()
    for at in range(0, len(good), max(1, len(good) // 400)):
        bad = bytearray(good)
        bad[at] ^= 0x5A
        with open(entry, "wb") as f:
            f.write(bad)
        got = reads(run.run_dir, cache_dir)
        assert got == want, f"byte {at} of {len(good)}"
        with open(entry, "wb") as f:  # put it back (a read may have deleted it)
            f.write(good)


@pytest.mark.heavy  # two processes racing for seconds: `make test-heavy`
def test_two_processes_reading_and_rebuilding_at_once_agree(tmp_path):
    run_dirs = [make_run(tmp_path / "runs", f"r{i}", rows=2000, rotate=8000) for i in range(3)]
    cache_dir = str(tmp_path / "cache")
    script = (
        "import hashlib, os, random, sys, runship\n"
        "from tests.test_read_cache import reads\n"
        "dirs, cache = sys.argv[1].split(','), sys.argv[2]\n"
        "rng = random.Random(os.getpid())\n"
        "out = []\n"
        "for i in range(12):\n"
        "    if i % 3 == 2:\n"  # now and then, wipe part of the cache the other process is using
        "        for d, _, fs in os.walk(cache):\n"
        "            for f in fs:\n"
        "                if f.endswith('.parquet') and rng.random() < 0.5:\n"
        "                    try: os.unlink(os.path.join(d, f))\n"
        "                    except OSError: pass\n"
        "    d = dirs[i % len(dirs)]\n"
        "    out.append((d, hashlib.sha256(repr(reads(d, cache)).encode()).hexdigest()))\n"
        "print(repr(out))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, ",".join(run_dirs), cache_dir],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(eval(out))
    import hashlib

    want = {d: hashlib.sha256(repr(reads(d, False)).encode()).hexdigest() for d in run_dirs}
    for result in results:
        for d, digest in result:
            assert digest == want[d]


# ---- the run index --------------------------------------------------------------------------
def listing(root, cache):
    out = []
    for info in list_runs(str(root), cache=cache, now=2e9):
        info = dict(info)
        info.pop("location")
        out.append(canon(info))
    return out


def test_the_run_index_follows_what_changed(tmp_path):
    root = tmp_path / "runs"
    cache_dir = str(tmp_path / "cache")
    for i in range(4):
        make_run(root, f"r{i}", rows=20)
    assert listing(root, cache_dir) == listing(root, False)
    assert listing(root, cache_dir) == listing(root, False)  # from the index
    # a run goes on (resumed): the index sees its new summary and steps
    run = runship.init(project="p", id="r1", dir=str(root), resume="allow", settings=SETTINGS)
    run.log({"loss": -1.0})
    run.config.update({"lr": 0.5})
    run.finish()
    fresh = listing(root, False)
    assert listing(root, cache_dir) == fresh
    got = {r["id"]: r for r in fresh}
    assert got["r1"]["steps"] == 21 and got["r1"]["config"] == {"lr": ("f", 0.5, 1.0)}
    # a damaged index is read as no index
    index = os.path.join(cache_dir, "index.sqlite")
    with open(index, "r+b") as f:  # not a database any more
        f.write(os.urandom(4096))
    assert listing(root, cache_dir) == fresh
    assert listing(root, cache_dir) == fresh  # a new index file replaced the damaged one
    import sqlite3

    assert sqlite3.connect(index).execute("SELECT count(*) FROM runs").fetchone() == (4,)
    os.unlink(index)
    assert listing(root, cache_dir) == fresh
    # Api.runs answers from the index, and a run's history reads the run
    api = runship.Api(str(root), cache=cache_dir)
    runs = api.runs("p", filters={"config.lr": 0.5})
    assert [r.id for r in runs] == ["r1"]
    assert runs[0].summary["loss"] == -1.0 and runs[0].state == "finished"
    assert len(runs[0].history(samples=1000, pandas=False)) == 21


def test_a_running_run_is_judged_at_read_time(tmp_path):
    root = tmp_path / "runs"
    cache_dir = str(tmp_path / "cache")
    run = runship.init(project="p", id="live", dir=str(root), settings=SETTINGS)
    run.log({"loss": 1.0})
    run.flush()
    t = runship.open_run(run.run_dir, cache=False).last_write
    (now,) = list_runs(str(root), cache=cache_dir, now=t + 1)
    assert now["state"] == "running"
    (later,) = list_runs(str(root), cache=cache_dir, now=t + 10_000)  # from the index: same signature
    assert later["state"] == "crashed"
    run.finish()
    (done,) = list_runs(str(root), cache=cache_dir, now=t + 10_000)
    assert done["state"] == "finished"


# ---- where the cache lives ----------------------------------------------------------------------
def test_a_cache_directory_others_can_write_or_a_link_is_not_used(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path / "runs", rows=10)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    link = tmp_path / "link"
    os.symlink(tmp_path / "elsewhere", link)
    for bad in (shared, link):
        assert not SegmentCache(str(bad)).usable()
        monkeypatch.setenv("RUNSHIP_CACHE_DIR", str(bad))
        assert runship.open_run(run_dir).history()[0]["acc"] == 0  # read, without a cache
        assert not [f for f in cache_files(shared) if f.endswith(".parquet")]
    from click.testing import CliRunner

    from runship.cli import cli

    out = CliRunner().invoke(cli, ["--cache-dir", str(shared), "history", run_dir])
    assert out.exit_code == 2 and "not a private directory" in out.output
    mine = tmp_path / "mine"
    out = CliRunner().invoke(cli, ["--cache-dir", str(mine), "history", run_dir, "--samples", "8", "--format", "jsonl"])
    assert out.exit_code == 0, out.output
    assert oct(os.stat(mine).st_mode & 0o777) == "0o700"
    assert [f for f in cache_files(mine) if f.endswith(".parquet")]
    out = CliRunner().invoke(cli, ["--no-cache", "ls", str(tmp_path / "runs")])
    assert out.exit_code == 0 and "finished" in out.output


def test_the_cache_stays_within_its_size(tmp_path):
    cache = SegmentCache(str(tmp_path / "cache"), max_bytes=60_000)
    for i in range(8):
        run_dir = make_run(tmp_path / "runs", f"r{i}", rows=400, rotate=10**6)
        runship.open_run(run_dir, cache=cache).history()
    cache.sweep()
    total = sum(os.path.getsize(f) for f in cache_files(cache.directory) if f.endswith(".parquet"))
    assert 0 < total <= 60_000


# ---- remote runs -----------------------------------------------------------------------------
class _Counting:
    """What a run's reader asks of a filesystem: the bytes it reads, per file."""

    read: dict[str, int] = {}


def _counting_fs():
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class CountingFS(LocalFileSystem):
        protocol = "counting"

        def _open(self, path, mode="rb", **kw):  # every read goes through here (cat_file too)
            f = super()._open(path, mode=mode, **kw)
            name = os.path.basename(path)
            real = f.read

            def read(n=-1):
                data = real(n)
                _Counting.read[name] = _Counting.read.get(name, 0) + len(data)
                return data

            f.read = read
            return f

    fsspec.register_implementation("counting", CountingFS, clobber=True)


def test_a_remote_run_read_from_the_cache_fetches_only_small_ranges(tmp_path):
    """Reading one key of a run behind an fsspec URL reads the run stream
    only (never the console or system streams); once its closed segments
    are cached, a read fetches a few bytes of each (header, commit record)."""
    _counting_fs()
    run = runship.init(
        project="p",
        id="far",
        dir=str(tmp_path / "runs"),
        settings={**SETTINGS, "rotate_bytes": 20000, "console": "wrap"},
    )
    for i in range(3000):
        run.log({"loss": 1.0 / (i + 1), "acc": i})
        if i % 100 == 99:
            run.flush()
    print("some console output")
    run.finish()
    url = "counting://" + run.run_dir
    cache_dir = str(tmp_path / "cache")
    streams = [n for n in os.listdir(run.run_dir) if n.endswith(".msgpack")]
    run_files = [n for n in streams if n.startswith("run-")]
    assert len(run_files) > 3 and any(not n.startswith("run-") for n in streams)
    want = runship.open_run(run.run_dir, cache=False).history_df(["loss"])
    _Counting.read = {}
    got = runship.open_run(url, cache=cache_dir).history_df(["loss"])
    assert got.equals(want)
    assert set(_Counting.read) <= set(run_files)  # other streams: not a byte
    assert sum(_Counting.read.values()) >= sum(os.path.getsize(os.path.join(run.run_dir, n)) for n in run_files)
    _Counting.read = {}
    got = runship.open_run(url, cache=cache_dir).history_df(["loss"])
    assert got.equals(want)
    assert set(_Counting.read) <= set(run_files)
    assert all(n <= 4096 + 43 for n in _Counting.read.values()), _Counting.read


def test_columns_kept_in_memory_stay_within_their_bound_and_equal_the_files(tmp_path):
    """A long-lived reader (runship ui) keeps columns it read in memory, up
    to its bound: reads through it equal reads without any cache, the bytes
    held never pass the bound, and an entry replaced on disk (another
    entry's bytes under its name) is never answered from memory."""
    from runship.reader.cache import MemoryTier

    root = tmp_path / "runs"
    run_dirs = []
    for n in range(6):
        run = runship.init(project="p", id=f"r{n}", dir=str(root), settings=SETTINGS, reinit="create_new")
        for i in range(5000):
            run.log({"a": i * 0.5 + n, "b": float(i % 7)})
        run.finish()
        run_dirs.append(run.run_dir)
    cache_dir = str(tmp_path / "cache")
    bound = 300_000  # less than the columns of all six runs (about 960 kB)
    cache = SegmentCache(cache_dir, memory_bytes=bound)
    assert isinstance(cache.memory, MemoryTier)
    for _ in range(3):
        for d in run_dirs:
            want = runship.open_run(d, cache=False).history(["a", "b"])
            got = runship.open_run(d, cache=cache).history(["a", "b"])
            assert got == want
            assert cache.memory.nbytes <= bound
    assert cache.memory.nbytes > 0
    entries = sorted(f for f in cache_files(cache_dir) if f.endswith(".parquet") and not f.endswith(".blocks.parquet"))
    first, second = entries[0], entries[1]
    with open(second, "rb") as src, open(first, "wb") as dst:  # the first entry's name, the second's bytes
        dst.write(src.read())
    for d in run_dirs:
        assert runship.open_run(d, cache=cache).history(["a", "b"]) == runship.open_run(d, cache=False).history(
            ["a", "b"]
        )
