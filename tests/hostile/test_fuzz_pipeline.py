"""Hypothesis drives valid, checksummed streams of adversarial records
(wide, deep, many small, many keys) and adversarial table files through
the whole path a write token reaches: upload to a real `runship serve`,
its listings, the run page, the table and console pages, and `runship
export` of the stored run. Never a 5xx, never a traceback, and memory
stays bounded: the server's RSS is sampled while each example is served,
the exporter's while it runs.

In `make test-heavy` (each example uploads megabytes and runs an export)."""

from __future__ import annotations

import http.client
import itertools
import os
import subprocess
import threading
import zlib

import msgpack
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from runship.schema import format as fmt
from tests.conftest import RUNSHIP, child_env
from tests.hostile.craft import SESSION, T, nested
from tests.servers import RunshipServer

pytestmark = pytest.mark.heavy

RSS_LIMIT_MB = 300
KINDS = ["config", "summary", "row", "meta", "alert", "file", "metric", "finish", "x"]
TABLE = "files/media/table/t.table.json"


def _wide(n: int) -> list:
    return [[]] * n


# one adversarial value: wide (many empty lists), deep, many keys, or long text
adversarial_values = st.one_of(
    st.integers(1_000, 65_000).map(_wide),
    st.integers(1, 120).map(nested),
    st.integers(100, 20_000).map(lambda n: {f"k{i}": i for i in range(n)}),
    st.integers(1_000, 60_000).map(lambda n: "\x00" * n),
    st.floats() | st.integers(-(2**63), 2**63 - 1) | st.none(),
)
shapes = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(KINDS),
        "value": adversarial_values,
        "count": st.integers(1, 60),  # records of this shape (each under 16 MiB, together under ~4 MiB)
        "fresh_keys": st.booleans(),  # a new key a record (summary and config grow) or one key again
    }
)
tables = st.one_of(
    st.integers(1, 200_000).map(lambda n: b'{"columns": ["a"], "data": [' + b",".join([b"[]"] * n) + b"]}"),
    st.integers(1, 5_000).map(lambda n: b'{"columns": ["a"], "data": [' + b"[" * n + b"]" * n + b"]}"),
    st.binary(max_size=200),
    st.just(b'{"data": [[1]], "columns": ' + b"[" + b'"c",' * 100_000 + b'"c"]}'),
)


def _record(kind: str, value, i: int, fresh: bool) -> dict:
    key = f"k{i}" if fresh else "k"
    if kind == "row":
        return {"k": "row", "n": i, "t": T, "s": i, "d": {key: value}}
    if kind == "alert":
        return {"k": "alert", "n": i, "t": T, "title": "t", "text": value if isinstance(value, str) else str(i)}
    if kind == "file":
        return {"k": "file", "n": i, "t": T, "path": f"files/f{i}", "size": 1, "extra": value}
    return {"k": kind, "n": i, "t": T, "d": {key: value}, "name": key}


def _stream(run: str, shape_list: list[dict], budget: int = 4 << 20) -> bytes:
    """A stream file: the shapes' records in batches of about 1 MiB, each
    committed with a checksum that holds; at most ``budget`` bytes."""
    header = msgpack.packb(fmt.header_record(t=T, project="p", run=run, session=SESSION, stream="run", segment=0))
    ref = {"_type": "table-file", "path": TABLE, "ncols": 1, "nrows": 1}
    out, batch, n = bytearray(), bytearray(header + msgpack.packb(_record("row", ref, 0, False))), 1
    for shape in shape_list:
        for _ in range(shape["count"]):
            packed = msgpack.packb(_record(shape["kind"], shape["value"], n, shape["fresh_keys"]))
            if len(out) + len(batch) + len(packed) > budget:
                break
            batch += packed
            n += 1
            if len(batch) >= 1 << 20:
                out += batch + fmt.commit_record(len(batch), zlib.crc32(batch), T)
                batch = bytearray()
    if batch:
        out += batch + fmt.commit_record(len(batch), zlib.crc32(batch), T)
    return bytes(out)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    s = RunshipServer(str(work / "served"), str(work)).start()
    s.work = work
    yield s
    s.stop()


def _call(server, method, path, body=None, headers=None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    auth = {"Authorization": f"Bearer {RunshipServer.TOKEN}"}
    conn.request(method, path, body=body, headers={**auth, **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The highest RSS of a process, sampled every 20 ms while in use."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, _rss_mb(self.pid))
            except OSError:
                return
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _export(run_dir: str, dest: str) -> tuple[int, float, str]:
    """``runship export RUN --to parquet:DEST``: exit status, peak RSS (MiB), stderr."""
    proc = subprocess.Popen(
        [*RUNSHIP, "export", run_dir, "--to", f"parquet:{dest}"],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with Sampler(proc.pid) as sampled:
        out, err = proc.communicate(timeout=300)
    return proc.returncode, sampled.peak, out + err


_ids = itertools.count()


# no shrinking: an example costs seconds, and the failing one is printed as found
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
)
@given(shape_list=st.lists(shapes, min_size=1, max_size=4), table=tables)
def test_adversarial_streams_through_upload_listing_pages_and_export(server, shape_list, table):
    run = f"a{next(_ids)}"
    name = fmt.stream_file_name("run", SESSION, 0)
    paths = [
        "/v1/projects/p/runs",
        "/ui/api/runs",
        f"/ui/api/run?run=0:p/{run}",
        f"/v1/runs/p/{run}",
        f"/v1/runs/p/{run}/history?limit=100",
        f"/ui/api/table?run=0:p/{run}&path={TABLE}",
        f"/ui/api/table?run=0:p/{run}&path={TABLE}&sort=a&offset=10",
        f"/ui/api/console?run=0:p/{run}",
        f"/ui/api/media?run=0:p/{run}&key=k",
    ]
    with Sampler(server.proc.pid) as sampled:
        status = _call(
            server, "PATCH", f"/v1/runs/p/{run}/streams/{name}", _stream(run, shape_list), {"Upload-Offset": "0"}
        )
        assert status in (204, 422), status
        assert _call(server, "PUT", f"/v1/runs/p/{run}/derived/{TABLE}", table) == 204
        for path in paths:
            status = _call(server, "GET", path)
            assert status < 500, (path, status)
    assert sampled.peak < RSS_LIMIT_MB, f"server RSS reached {sampled.peak:.0f} MiB"
    run_dir = os.path.join(server.root, "p", run)
    if os.path.isdir(run_dir):
        code, peak, said = _export(run_dir, str(server.work / "exported"))
        assert code in (0, 1) and "Traceback" not in said, said[-2000:]
        assert peak < RSS_LIMIT_MB, f"export RSS reached {peak:.0f} MiB"


def test_after_the_pipeline_fuzz_the_server_is_healthy(server):
    assert _call(server, "GET", "/v1/projects/p/runs") == 200
    assert "Traceback" not in server.log()
