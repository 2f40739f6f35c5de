"""One more attacker's pass over what issue 24 ("Hostile input III")
added or changed: each test is an attack that worked against that round,
run against real processes (`runship serve`, `runship import wandb`, a
training script), and what now happens instead."""

from __future__ import annotations

import json
import os
import threading
import time

import msgpack
import pytest

from runship.schema import format as fmt
from tests.hostile.craft import SESSION, T, committed, peak_rss_mb, repeated, row
from tests.hostile.test_importers import (
    Log,
    _event,
    _field,
    _tb_rows,
    _tfrecord,
    exit_record,
    history,
    history_of,
    import_wandb,
    import_wandb_peak,
    run_record,
    summary,
)
from tests.hostile.test_secrets import _files_holding, _marker, _records, _run_script, _script, _secret
from tests.servers import RunshipServer, call

READ = RunshipServer.READ_TOKEN
TABLE = "files/media/table/t_0.table.json"


@pytest.fixture
def server(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path))
    s.start()
    yield s
    s.stop()


def _table_run(server, tables: dict[str, bytes]) -> None:
    """Run p/r on the server with a row referring to each table file of ``tables``."""
    refs = {f"t{i}": {"_type": "table-file", "path": path, "ncols": 1, "nrows": 1} for i, path in enumerate(tables)}
    name = fmt.stream_file_name(fmt.RUN_STREAM, SESSION, 0)
    body = repeated([{"k": "row", "t": T, "s": 0, "d": refs}], size=4096)
    status, _, text = call(
        server, "PATCH", f"/v1/runs/p/r/streams/{name}", body, headers={"Upload-Offset": "0"}, timeout=60
    )
    assert status == 204, text[:300]
    for path, data in tables.items():
        status, _, text = call(server, "PUT", f"/v1/runs/p/r/derived/{path}", data, timeout=60)
        assert status == 204, text


# ---- the table scanner (runship/web/tables.py) ---------------------------------------------------
def test_a_table_of_unterminated_escaped_strings_is_answered_at_once(server):
    """A row holding a string that never ends, made of escaped quotes
    (``"\\"\\"\\"...``): the scanner's string pattern tried each quote as
    a string's start and scanned to the end of the file from each, so 100 KB
    took the server's table reader (one table at a time, for every client)
    about 40 s of CPU and 1 MB hours. Now every byte is looked at once: the
    page answers 400 (not JSON) at once, and a good table of the same run
    is paged at once beside it."""
    hostile = b'{"columns": ["a"], "data": [["' + b'\\"' * 50_000 + b"]]}"
    good = b'{"columns": ["a"], "data": [[1], [2]]}'
    bad_path, good_path = TABLE, "files/media/table/t_1.table.json"
    _table_run(server, {bad_path: hostile, good_path: good})
    out: dict = {}

    def page(path: str) -> None:
        t0 = time.monotonic()
        try:
            status, _, body = call(server, "GET", f"/ui/api/table?run=0:p/r&path={path}", token=READ, timeout=15)
        except OSError as e:  # the socket's timeout: still scanning
            status, body = None, str(e).encode()
        out[path] = (status, body, time.monotonic() - t0)

    first = threading.Thread(target=page, args=(bad_path,))
    first.start()
    time.sleep(0.3)
    page(good_path)
    first.join(60)
    status, body, seconds = out[bad_path]
    assert status == 400 and seconds < 5, (status, body[:300], seconds)
    assert b"not JSON" in body
    status, body, seconds = out[good_path]
    assert status == 200 and seconds < 5, (status, body[:300], seconds)
    assert json.loads(body)["rows"] == [[1], [2]]


# ---- history columns of rows that each bring a new key ---------------------------------------------
def test_rows_that_each_bring_a_new_key_cost_the_server_bounded_memory(server):
    """12,000 row records of 46 bytes, each with a key of its own (550 KB
    uploaded): the reader built every key's column as long as the file
    has rows, 144 million cells, and the server's RSS went past 1 GB on
    the first listing (20,000 rows: 3.3 GB; it grows with the square of
    the rows). Now one file's columns hold at most 16 million cells (or 16
    a byte of the file) and 16,384 keys; the keys with the fewest values
    past that are not built, a not-kept problem the run page shows."""
    batches = [
        [row(i * 1000 + j, {f"k{i * 1000 + j}": 1.0}, n=i * 1000 + j + 1) for j in range(1000)] for i in range(12)
    ]
    name = fmt.stream_file_name(fmt.RUN_STREAM, SESSION, 0)
    status, _, text = call(
        server, "PATCH", f"/v1/runs/p/r/streams/{name}", committed(batches), headers={"Upload-Offset": "0"}, timeout=60
    )
    assert status == 204, text[:300]
    for path in ("/ui/api/runs", "/v1/projects/p/runs", "/ui/api/run?run=0:p/r", "/v1/runs/p/r/history?keys=k1"):
        status, _, body = call(server, "GET", path, token=READ, timeout=120)
        assert status == 200, (path, body[:300])
        peak = peak_rss_mb(server.proc.pid)
        assert peak < 400, f"{path}: server peak RSS {peak:.0f} MiB"
    assert json.loads(body) == [{"k1": 1.0, "_step": 1, "_timestamp": T, "_runtime": 0.0}]
    status, _, body = call(server, "GET", "/ui/api/run?run=0:p/r", token=READ, timeout=120)
    assert "history keys of 12000 not kept" in body.decode(), body[:2000]


# ---- what a reader folds of a run: metric definitions -------------------------------------------
def _metric_definitions(size: int) -> bytes:
    """A run stream of about ``size`` bytes of define_metric records, each of a new name."""
    batches, batch, total, n = [], [], 0, 0
    while total < size:
        packed = msgpack.packb({"k": "metric", "n": n, "t": T, "name": f"m{n}", "summary": "max"})
        batch.append(packed)
        total += len(packed)
        n += 1
        if len(batch) >= 20_000:
            batches.append(batch)
            batch = []
    return committed([*batches, batch] if batch else batches)


@pytest.mark.heavy  # timing many definitions against a server: `make test-heavy`
def test_many_metric_definitions_cost_the_server_linear_time(server):
    """16 MiB of define_metric records, each of a new name (330,000 of
    them): each definition copied the list of those before it, so reading
    the run was quadratic; the listing took over a minute, the run page
    and /v1/runs/p/r about 40 s each, every time the run was read again.
    Now a definition is O(1) and a reader keeps at most 4,096 names (256
    globs) of a run; the rest are a problem that the run page shows."""
    name = fmt.stream_file_name(fmt.RUN_STREAM, SESSION, 0)
    status, _, text = call(
        server,
        "PATCH",
        f"/v1/runs/p/r/streams/{name}",
        _metric_definitions(16 << 20),
        headers={"Upload-Offset": "0"},
        timeout=120,
    )
    assert status == 204, text[:300]
    for path in ("/ui/api/runs", "/ui/api/run?run=0:p/r", "/v1/runs/p/r"):
        t0 = time.monotonic()
        try:
            status, _, body = call(server, "GET", path, token=READ, timeout=90)
        except OSError as e:
            status, body = None, str(e).encode()
        seconds = time.monotonic() - t0
        # a guard against the quadratic read only (over a minute each before, 2-3 s alone, ~16 s under
        # make test's load): what it costs is measured by benchmarks, not asserted here
        assert status == 200 and seconds < 60, (path, status, body[:300], seconds)
    detail = json.loads(body)
    assert any("metric definitions not kept" in str(p) for p in detail["problems"]), detail["problems"]


# ---- runship import wandb: records that decode but do not make a row --------------------------
def _item_at(path: list[str], value_json: str) -> bytes:
    """A HistoryItem/SummaryItem named by its nested_key path (wandb >= 0.19)."""
    return b"".join(_field(2, p) for p in path) + _field(16, value_json)


def _write(run_dir, run_id: str, records: list[bytes]) -> None:
    os.makedirs(os.path.join(run_dir, "files"), exist_ok=True)
    log = Log()
    for r in records:
        log.add(r)
    with open(os.path.join(run_dir, f"run-{run_id}.wandb"), "wb") as f:
        f.write(log.data)


def test_wandb_records_whose_keys_or_values_make_no_row_are_reported_and_skipped(tmp_path):
    """Records that decode but whose keys clash (``a`` = 1 and ``a.b`` = 2
    in one row or one summary), whose key path is 5,000 levels deep or
    whose value is nested past what a run keeps: each ended the whole
    import with one line (``TypeError: 'int' object does not support item
    assignment``), the deep one after the run was started, leaving it
    unfinished. Now each is reported and skipped like any undecodable
    record; the other rows, the summary and the exit code are imported."""
    run_dir = tmp_path / "offline-run-20260101_000000-clash"
    deep_value = "[" * 80 + "]" * 80  # valid JSON, nested past the 64 levels a run keeps
    records = [
        run_record("clash"),
        history({"loss": 0.0, "_step": 0}),
        _field(
            2,
            _field(1, _item_at(["a"], "1"))
            + _field(1, _item_at(["a", "b"], "2"))
            + _field(1, _item_at(["_step"], "1")),
        ),
        _field(2, _field(1, _item_at(["k"] * 5000, "1")) + _field(1, _item_at(["_step"], "2"))),
        _field(2, _field(1, _item_at(["deep"], deep_value)) + _field(1, _item_at(["_step"], "3"))),
        _field(2, _field(1, _item_at(["huge"], "[" * 100_000 + "]" * 100_000)) + _field(1, _item_at(["_step"], "4"))),
        history({"loss": 5.0, "_step": 5}),
        _field(3, _field(1, _item_at(["s"], '"x"')) + _field(1, _item_at(["s", "t"], "2"))),
        summary({"best": 1.5}),
        exit_record(3),
    ]
    _write(run_dir, "clash", records)
    out = import_wandb(tmp_path / "root", run_dir)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "TypeError" not in out.stderr
    for n in (2, 3, 5):  # the clash, the deep key, the value too deep for Python's parser
        assert f"record {n}:" in out.stderr, out.stderr
    assert "history row 1 (step 3): log(): nested deeper than 64 levels" in out.stderr, out.stderr
    assert "the summary value of 's.t' cannot be kept" in out.stderr, out.stderr
    rows = history_of(tmp_path / "root", "wb/clash")
    assert [(r.get("_step"), r.get("loss")) for r in rows] == [(0, 0.0), (5, 5.0)], rows
    run_json = json.loads((tmp_path / "root" / "wb" / "clash" / "run.json").read_text())
    assert run_json["summary"]["best"] == 1.5 and run_json["state"] == "failed" and run_json["exit_code"] == 3


def test_a_wandb_record_of_empty_key_parts_is_imported_in_bounded_memory(tmp_path):
    """One history record under the 16 MiB record limit holding a single
    item whose key path is 7 million empty nested_key parts (two bytes
    each): every part became a Python string and then a nested dict, so the
    import took about 2 GB for 14 MB of log. A key path is now at most 64
    parts (the nesting a run keeps) and a record at most 262,144 items (the
    format's MAX_ITEMS), checked as they are decoded: the record is
    reported and skipped in a small, bounded memory."""
    run_dir = tmp_path / "offline-run-20260101_000000-parts"
    parts = _field(2, _field(1, b"\x12\x00" * 7_000_000 + _field(16, "1")))
    items = _field(2, b"\x0a\x00" * 7_000_000)  # 7 million empty items
    _write(run_dir, "parts", [run_record("parts"), parts, items, history({"loss": 1.0, "_step": 1}), exit_record(0)])
    out, peak = import_wandb_peak(tmp_path / "root", run_dir)
    assert out.returncode == 0, out.stderr
    assert "record 1:" in out.stderr and "record 2:" in out.stderr, out.stderr
    assert peak < 250, f"peak RSS {peak:.0f} MiB"
    assert [r.get("loss") for r in history_of(tmp_path / "root", "wb/parts")] == [1.0]


@pytest.mark.compat
def test_a_tensorboard_event_of_many_empty_values_is_skipped_in_bounded_memory(tmp_path):
    """An event record (up to 64 MiB are read) whose summary holds 7
    million empty values, two bytes each: protobuf's parser made each a
    message of about a hundred bytes, so 14 MB of event file took the
    import about 800 MB (a 64 MiB record, 3.7 GB). The fields where an
    event's messages repeat are now counted on its bytes before it is
    parsed, at most 262,144 (limits.MAX_ITEMS): the event is reported and
    skipped, the events around it imported."""
    import struct
    import subprocess
    import sys

    from tests.conftest import RUNSHIP
    from tests.hostile.test_importers import _PEAK, _env

    logdir = tmp_path / "tb"
    logdir.mkdir()
    values = b"\x0a\x00" * 7_000_000
    length = len(values)
    size = bytearray()
    while True:
        size.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    hostile = b"\x09" + struct.pack("<d", 1.7e9) + b"\x10\x01" + b"\x2a" + bytes(size) + values
    (logdir / "events.out.tfevents.1.host").write_bytes(
        _tfrecord(_event(0, 0.5)) + _tfrecord(hostile) + _tfrecord(_event(2, 2.5))
    )
    root = tmp_path / "root"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _PEAK,
            *RUNSHIP,
            "--root",
            str(root),
            "import",
            "tensorboard",
            str(logdir),
            "--project",
            "tb",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    peak = int(out.stdout.splitlines()[-1]) / 1024
    assert peak < 250, f"peak RSS {peak:.0f} MiB"
    assert "an event that is not read (more than 262144 fields" in out.stderr, out.stderr
    assert _tb_rows(root) == [(0, 0.5), (2, 2.5)]


# ---- secrets in argv --------------------------------------------------------------------------
def test_hydra_append_overrides_with_secret_names_are_redacted(tmp_path):
    """Hydra's ``+key=value`` (append) and ``++key=value`` (force) overrides
    (and ``~key=value``, delete) name a key like ``key=value`` does, but the name pattern wanted a
    letter, ``_`` or ``-`` first, so ``+wandb.api_key=SECRET`` was recorded
    as given. Now the ``+``/``++`` prefix is part of the name."""
    s = {k: _secret(k) for k in ("PLUS", "FORCE")}
    s["DEL"] = _secret("DEL")
    args = [
        f"+wandb.api_key={s['PLUS']}",
        f"++db.password={s['FORCE']}",
        f"~hf_token={s['DEL']}",
        "+trainer.max_epochs=3",
    ]
    expected = [
        f"+wandb.api_key={_marker(s['PLUS'])}",
        f"++db.password={_marker(s['FORCE'])}",
        f"~hf_token={_marker(s['DEL'])}",
        "+trainer.max_epochs=3",
    ]
    script = _script(
        tmp_path,
        f"""
        import runship
        run = runship.init(project="p", id="r", dir={str(tmp_path / "runs")!r},
                           settings={{"quiet": True, "console": "off", "system_metrics": False}})
        run.log({{"loss": 0.5}})
        run.finish()
        """,
    )
    _run_script(script, args, tmp_path)
    (start,) = _records(str(tmp_path / "runs" / "p" / "r"), "start")
    assert start["argv"] == [script, *expected]
    assert _files_holding(tmp_path / "runs", *s.values()) == []
