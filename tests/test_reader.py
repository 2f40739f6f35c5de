"""The reader against torn, truncated, corrupted and foreign files."""

from __future__ import annotations

import math
import os
import shutil
import zlib

import msgpack
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runship
from runship.cli import cli
from runship.reader import read_all
from tests.plain import committed_records, rows, stream_files


def _small_run(make_run, run_id="small", batches=6, per_batch=4):
    run = make_run(id=run_id, settings={"flush_interval": 3600})
    step = 0
    for _ in range(batches):
        for _ in range(per_batch):
            run.log({"loss": step / 7, "tag": f"s{step}", "vec": [step, -step]})
            step += 1
        run.flush()
    run.finish()
    (path,) = stream_files(run.run_dir)
    return run, path


def _commit_ends(data: bytes) -> list[int]:
    """Byte offsets just past each commit record, found with plain msgpack."""
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    ends = []
    for obj in u:
        if obj.get("k") == "commit":
            ends.append(u.tell())
    return ends


def _expected_rows(data: bytes, upto: int) -> list[dict]:
    """Rows of batches wholly inside data[:upto], by the independent reader."""
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    out, pending = [], []
    for obj in u:
        if u.tell() > upto:
            break
        if obj["k"] == "commit":
            out.extend(pending)
            pending = []
        elif obj["k"] == "row":
            pending.append(obj["d"])
    return out


def test_truncation_at_every_offset_of_last_batches(make_run, tmp_path):
    run, path = _small_run(make_run)
    data = open(path, "rb").read()
    ends = _commit_ends(data)
    start = ends[-4]  # the last three batches, byte by byte
    full = [h for h in runship.open_run(run.run_dir).history()]
    work = tmp_path / "cut" / run.project / run.id  # where its header says it is
    for k in range(start, len(data) + 1):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(run.run_dir, work)
        with open(work / os.path.basename(path), "r+b") as f:
            f.truncate(k)
        view = runship.open_run(str(work))  # must not raise
        hist = view.history()
        expected = _expected_rows(data, k)
        assert [{k2: h[k2] for k2 in ("loss", "tag", "vec")} for h in hist] == expected, k
        assert hist == full[: len(hist)]
        if k in ends:
            assert not view.problems
        else:
            (p,) = view.problems
            assert p.kind == "uncommitted-tail" and not p.is_corruption
            assert p.offset == max(e for e in ends if e <= k)


def test_every_flipped_byte_in_committed_batches_is_found(make_run):
    run, path = _small_run(make_run, batches=3, per_batch=2)
    data = open(path, "rb").read()
    good = rows(run.run_dir)
    ends = [0, *_commit_ends(data)]
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    commit_spans = []
    pos = 0
    for obj in u:
        if obj["k"] == "commit":
            commit_spans.append((pos, u.tell()))
        pos = u.tell()
    batch_bytes = [k for (s, _), e in zip(commit_spans, ends) for k in range(e, s)]
    assert len(batch_bytes) > 500
    for k in batch_bytes:
        bad = bytearray(data)
        bad[k] ^= 0x55
        records, sf = read_all(bytes(bad), path)
        assert [p for p in sf.problems if p.is_corruption], f"flip at {k} not found: {sf.problems}"
        got = [(r["s"], r["d"]) for r in records if r["k"] == "row"]
        assert got == good[: len(got)], f"flip at {k} returned a wrong row"


def test_verify_cli_reports_corruption_with_offset(make_run):
    run, path = _small_run(make_run, run_id="flip")
    data = bytearray(open(path, "rb").read())
    ends = _commit_ends(bytes(data))
    target = ends[1] + 20  # inside the third batch
    data[target] ^= 0x01
    open(path, "wb").write(bytes(data))
    result = CliRunner().invoke(cli, ["verify", run.run_dir])
    assert result.exit_code == 1
    assert "CORRUPT p/flip" in result.output and f"byte {ends[1]}" in result.output
    assert os.path.basename(path) in result.output
    view = runship.open_run(run.run_dir)
    assert len(view.history()) == 8  # the two batches before the damage
    with pytest.raises(runship.CorruptionError, match=f"at byte {ends[1]}"):
        runship.open_run(run.run_dir, strict=True)


def test_nul_tail_is_not_data(make_run):
    run, path = _small_run(make_run, run_id="nul")
    before = runship.open_run(run.run_dir).history()
    with open(path, "ab") as f:
        f.write(b"\x00" * 4096)
    view = runship.open_run(run.run_dir)
    assert view.history() == before
    assert [p.kind for p in view.problems] == ["zero-tail"]


def test_newer_format_version_is_refused_clearly(make_run):
    run, path = _small_run(make_run, run_id="newer")
    header = {"k": "header", "t": 0.0, "format": "runship", "version": 99, "project": "p", "run": "newer",
              "session": "x", "stream": "run", "segment": 0}  # fmt: skip
    body = msgpack.packb(header) + msgpack.packb({"k": "row", "n": 0, "t": 0.0, "s": 0, "d": {"new": 1}})
    commit = msgpack.packb({"k": "commit", "t": 0.0, "len": len(body), "crc": zlib.crc32(body)})
    other = os.path.join(run.run_dir, "run-29991231T000000000Zzzzzzz-000000.msgpack")
    open(other, "wb").write(body + commit)
    result = CliRunner().invoke(cli, ["verify", run.run_dir])
    assert (
        result.exit_code == 1 and "format version 99 is newer" in result.output and "upgrade runship" in result.output
    )


def test_plain_unpacker_reads_every_stream_file(make_run):
    run = make_run(id="plain", settings={"rotate_bytes": 3000, "flush_interval": 0.01})
    for i in range(500):
        run.log({"i": i, "x": [i, {"y": None}]})
        if i % 50 == 0:
            run.flush()
    run.summary["s"] = 1
    run.finish()
    resumed = make_run(id="plain", resume="allow")
    resumed.log({"i": 500})
    resumed.finish()
    files = stream_files(run.run_dir)
    assert len(files) > 3
    for path in files:
        with open(path, "rb") as f:
            values = list(msgpack.Unpacker(f, raw=False))  # a generic reader, no runship code
        assert values and all(isinstance(v, dict) for v in values)
        assert values[0]["k"] == "header" and values[-1]["k"] == "commit"
        assert all(isinstance(v["t"], float) for v in values)
        data_records = [v for v in values if v["k"] not in ("header", "commit")]
        assert [v["n"] for v in data_records] == sorted(v["n"] for v in data_records)
    assert [d["i"] for _, d in rows(run.run_dir)] == list(range(501))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


def test_values_are_recorded_as_written_by_hand(make_run):
    """What the writer turns user values into, read back with plain msgpack
    (tests/plain.py) and compared with values written out by hand."""
    import dataclasses
    import datetime
    import enum
    import pathlib
    from argparse import Namespace

    import numpy as np

    class Color(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Opt:
        lr: float
        steps: int

    utc = datetime.timezone.utc
    cases = {
        "np_f32": (np.float32(1.5), 1.5),
        "np_i64": (np.int64(-7), -7),
        "np_bool": (np.bool_(True), True),
        "np_small_array": (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        "tuple": ((1, "a", None), [1, "a", None]),
        "set": ({3, 1, 2}, [1, 2, 3]),
        "enum": (Color.RED, "red"),
        "path": (pathlib.Path("/data/x.csv"), "/data/x.csv"),
        "date": (datetime.date(2026, 11, 28), "2026-11-28"),
        "timedelta": (datetime.timedelta(minutes=1, seconds=30), 90.0),
        "datetime": (datetime.datetime(2026, 11, 28, 12, 0, tzinfo=utc), msgpack.Timestamp(1795867200, 0)),
        "int_keys": ({1: "a", 2.5: "b"}, {"1": "a", "2.5": "b"}),
        "nan_inf": ([float("nan"), float("inf")], [math.nan, math.inf]),
        "bytes": (b"\x00\x01", b"\x00\x01"),
        "dataclass": (Opt(lr=0.1, steps=3), {"lr": 0.1, "steps": 3}),
        "namespace": (Namespace(a=1, b="x"), {"a": 1, "b": "x"}),
    }
    run = make_run(id="values")
    run.log({k: given for k, (given, _) in cases.items()})
    run.finish()
    with open(stream_files(run.run_dir)[0], "rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False, strict_map_key=False)  # timestamps as msgpack.Timestamp
        (row,) = [r["d"] for r in unpacker if r.get("k") == "row"]
    for key, (_, expected) in cases.items():
        assert _same(row[key], expected), (key, row[key], expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(
            st.text(min_size=1, max_size=8).filter(lambda k: k not in ("_step", "_timestamp", "_runtime")),
            json_values,
            max_size=4,
        ),
        min_size=1,
        max_size=20,
    )
)
def test_logged_rows_read_back_exactly(tmp_path_factory, logged):
    d = str(tmp_path_factory.mktemp("h"))
    run = runship.init(project="p", dir=d, reinit="create_new", settings={"quiet": True})
    for row in logged:
        run.log(row)
    run.finish()
    hist = runship.open_run(run.run_dir).history()
    assert len(hist) == len(logged)
    for h, row in zip(hist, logged):
        derived = ("_step", "_timestamp", "_runtime")
        assert _same({k: v for k, v in h.items() if k not in derived}, row)  # plain values are recorded as they are
    assert all(isinstance(r, dict) for p in stream_files(run.run_dir) for r in committed_records(p))


def test_history_df_and_reading_from_an_fsspec_url(make_run):
    import fsspec

    run, path = _small_run(make_run, run_id="url", batches=2, per_batch=3)
    local = runship.open_run(run.run_dir)
    df = local.history_df(keys=["loss"])
    assert list(df.columns) == ["loss", "_step", "_timestamp", "_runtime"]
    assert list(df["_step"]) == list(range(6)) and df["loss"].iloc[3] == 3 / 7
    fs = fsspec.filesystem("memory")
    for name in os.listdir(run.run_dir):
        full = os.path.join(run.run_dir, name)
        if os.path.isfile(full):
            fs.pipe(f"/bucket/p/url/{name}", open(full, "rb").read())
    remote = runship.open_run("memory://bucket/p/url")
    assert remote.history() == local.history()
    assert (remote.project, remote.id, remote.state, remote.config) == ("p", "url", "finished", local.config)
    with pytest.raises(runship.RunNotFound, match="memory://bucket/p/nope"):
        runship.open_run("memory://bucket/p/nope")


def test_the_plain_msgpack_recipe_in_format_md_reads_a_run(make_run, tmp_path, monkeypatch, capsys):
    """docs/FORMAT.md's reader, run as printed there, on a real run."""
    import re

    from tests.conftest import ROOT

    with open(os.path.join(ROOT, "docs", "FORMAT.md")) as f:
        doc = f.read()
    section = doc[doc.index("## Reading a run with plain msgpack") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    run = make_run(id="abc123", project="demo", dir=str(tmp_path / "runship"))
    for i in range(5):
        run.log({"x": i})
        run.flush()
    run.finish()
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "FORMAT.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == [f"{i} {{'x': {i}}}" for i in range(5)]


def test_api_artifact_names_a_version_in_the_store_or_says_what_is_missing(root):
    """``Api().artifact`` resolves ``[entity/]project/name[:alias|vN]`` in the
    root's artifact store; a version or alias not held is a LookupError
    naming it, a bad name a ValueError."""
    from runship.store.artifacts import ArtifactNotFound

    with pytest.raises(ArtifactNotFound, match="no version v3 of artifact 'weights'"):
        runship.Api(root).artifact("me/proj/weights:v3", type="model")
    with pytest.raises(ValueError, match="artifact name"):
        runship.Api(root).artifact("a/..")
    with pytest.raises(ValueError, match="name the project"):
        runship.Api(root).artifact("weights:latest")
