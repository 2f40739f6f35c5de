"""Hypothesis builds committed batches of hostile records: valid framing (a
header, commit records whose checksums hold) around arbitrary content, and
drives the reader, verify, the uploader and the server with them. Never an
exception out of the reader, never a 5xx, and the server's memory stays
bounded (measured)."""

from __future__ import annotations

import http.client
import io
import itertools
import json
import zlib

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runship
from runship import store
from runship.reader import read_all
from runship.schema import format as fmt
from runship.uploader import State, Uploader
from runship.uploader.engine import Log
from tests.hostile.craft import SESSION, T, nested, peak_rss_mb, write_run
from tests.servers import RunshipServer

pytestmark = pytest.mark.heavy  # hundreds of generated runs through reader, uploader and server: `make test-heavy`

KINDS = ["start", "row", "config", "summary", "meta", "file", "metric", "alert", "finish", "signal", "loss",
         "environment", "header", "commit", "stats", "out", "heartbeat", "", "x"]  # fmt: skip
FIELDS = ["s", "d", "del", "n", "path", "size", "settings", "tags", "name", "exit_code", "lost", "text", "version"]

leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8))
    | st.builds(msgpack.Timestamp, st.integers(-(2**40), 2**40), st.integers(0, 999_999_999))
)
values = st.recursive(
    leaves,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6) | st.integers(0, 3), c, max_size=4),
    max_leaves=20,
) | st.integers(90, 400).map(nested)
times = st.floats() | st.integers(-(2**63), 2**63) | st.just(T) | values
records = st.fixed_dictionaries(
    {"k": st.sampled_from(KINDS) | values, "t": times},
    optional={f: values for f in FIELDS},
).map(msgpack.packb)
raw = st.binary(min_size=1, max_size=40)  # bytes that may or may not be msgpack at all
batches = st.lists(st.lists(st.one_of(records, records, records, raw), max_size=6), min_size=1, max_size=4)


def crafted(batch_list, project="p", run="r") -> bytes:
    header = msgpack.packb(fmt.header_record(t=T, project=project, run=run, session=SESSION, stream="run", segment=0))
    out = b""
    for i, batch in enumerate(batch_list):
        body = (header if i == 0 else b"") + b"".join(batch)
        out += body + fmt.commit_record(len(body), zlib.crc32(body), T)
    return out


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@FUZZ
@given(batches)
def test_the_reader_never_raises(batch_list):
    data = crafted(batch_list)
    records, sf = read_all(data, fmt.stream_file_name("run", SESSION, 0))
    for rec in records:  # whatever comes out is plain data a caller can use
        json.dumps(runship.schema.json_safe(rec, strict_json=True))


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


_ids = itertools.count()


@FUZZ
@given(batch_list=batches)
def test_open_run_verify_show_and_upload_never_raise(fuzz_root, batch_list):
    run_id = f"r{next(_ids)}"
    run_dir = write_run(fuzz_root / "runs", [], run=run_id)
    with open(f"{run_dir}/{fmt.stream_file_name('run', SESSION, 0)}", "wb") as f:
        f.write(crafted(batch_list, run=run_id))
    view = runship.open_run(run_dir)
    view.verify()
    json.dumps(runship.schema.json_safe(view.to_dict(), strict_json=True))
    list(view.history())
    from click.testing import CliRunner

    from runship.cli import cli

    for command in (["show", run_dir], ["history", run_dir], ["verify", run_dir]):
        out = CliRunner().invoke(cli, command)
        assert out.exception is None or isinstance(out.exception, SystemExit), (command, out.output)
    state = State(str(fuzz_root / f"state-{run_id}"))
    try:
        uploader = Uploader(
            store.open(f"file://{fuzz_root / 'remote'}"),
            state,
            [str(fuzz_root / "runs")],
            run=run_id,
            log=Log(0, stream=io.StringIO()),
        )
        stats = uploader.run_pass()  # a failure is reported for the run, never raised
        assert stats.runs_seen == 1
    finally:
        state.close()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzzserver")
    s = RunshipServer(str(work / "served"), str(work)).start()
    yield s
    s.stop()


def _call(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(method, path, body=body, headers={"Authorization": f"Bearer {RunshipServer.TOKEN}", **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(batch_list=batches)
def test_the_server_never_answers_5xx(fuzz_server, batch_list):
    run_id = f"f{next(_ids)}"
    name = fmt.stream_file_name("run", SESSION, 0)
    data = crafted(batch_list, run=run_id)
    status = _call(fuzz_server, "PATCH", f"/v1/runs/p/{run_id}/streams/{name}", data, {"Upload-Offset": "0"})
    assert status in (204, 422), status
    for path in (f"/v1/runs/p/{run_id}", f"/v1/runs/p/{run_id}/history", f"/v1/runs/p/{run_id}/files"):
        status = _call(fuzz_server, "GET", path)
        assert status in (200, 404), (path, status)


def test_after_the_fuzz_the_server_is_healthy_and_bounded(fuzz_server):
    assert _call(fuzz_server, "GET", "/v1/projects/p/runs") == 200
    assert "Traceback" not in fuzz_server.log()
    rss = peak_rss_mb(fuzz_server.proc.pid)
    print(f"server peak RSS after the fuzz: {rss:.0f} MiB")
    assert rss < 300
