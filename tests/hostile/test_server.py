"""`runship serve` against hostile clients, over real HTTP to a real server
process: slow and idle connections, slow and oversized bodies, names that
end in a newline or are too long, scoped tokens, documentation without a
token, token files others can read, concurrent writes, forged
X-Forwarded-For, hostile records in stored runs, and the worst body to
ingest, with the server's memory measured."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import threading
import time
import zlib

import msgpack
import pytest

from runship.schema import format as fmt
from tests.conftest import RUNSHIP, child_env
from tests.hostile.craft import SESSION, T, committed, nested, peak_rss_mb, row, start, write_run
from tests.servers import RunshipServer, call, free_port, still_open

TOKEN = RunshipServer.TOKEN


@pytest.fixture
def server(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--head-timeout", "2", "--body-timeout", "1"])
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize(
    "caps", [[], ["--per-client", "5000", "--max-connections", "200"]], ids=["per-client cap", "process cap"]
)
@pytest.mark.heavy  # a thousand connections held open: `make test-heavy`
def test_a_thousand_slow_connections_do_not_stop_health(tmp_path, caps):
    """1,000 half-sent requests from one client, against a server whose
    open-file limit is systemd's default of 1,024 (soft and hard): /health
    still answers within 1 s, the held connections are closed once their
    head is overdue, and the log stays small."""
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--head-timeout", "3", *caps], nofile=1024)
    s.start()
    held = []
    try:
        for _ in range(1000):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never the blank line that ends the head
            held.append(c)
        for _ in range(5):
            t0 = time.monotonic()
            status, _, _ = call(s, "GET", "/health", token=None, timeout=5)
            assert status == 200 and time.monotonic() - t0 < 1.0
        time.sleep(4)  # past the head timeout: every slow connection is closed by the server
        assert still_open(held) == 0
        assert os.path.getsize(s.log_path) < 20_000, s.log()[-2000:]
        assert "Too many open files" not in s.log()
    finally:
        for c in held:
            c.close()
        s.stop()


def test_a_slow_body_gets_408_and_an_idle_connection_is_closed(server):
    c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    c.sendall(
        b"PUT /v1/runs/p/r/derived/run.json HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nContent-Length: 1000\r\n\r\n0123456789"
    )
    answer = c.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    c.close()
    assert not os.path.exists(os.path.join(server.root, "p", "r", "run.json"))


def test_a_chunked_body_over_the_limit_is_413(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--max-body", "65536"]).start()
    try:

        def chunks():
            for _ in range(40):
                yield b"x" * 4096

        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.request(
            "PUT",
            "/v1/runs/p/r/derived/files/big.bin",
            body=chunks(),
            headers={"Authorization": f"Bearer {TOKEN}", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        assert resp.status == 413 and resp.getheader("runship-max-body") == "65536"
        assert not os.path.exists(os.path.join(s.root, "p", "r", "files", "big.bin"))
        assert "Traceback" not in s.log()
    finally:
        s.stop()


def test_a_project_scoped_token_sees_only_its_projects(server):
    for project in ("mnist", "secret-project"):
        write_run(server.root, [[start(), row(0, {"x": 1})]], project=project, run="r")
    status, _, body = call(server, "GET", "/v1/projects", token=RunshipServer.MNIST_TOKEN)
    assert status == 200 and json.loads(body) == ["mnist"]
    status, _, body = call(server, "GET", "/v1/projects")
    assert json.loads(body) == ["mnist", "secret-project"]
    status, _, _ = call(server, "GET", "/v1/projects/secret-project/runs", token=RunshipServer.MNIST_TOKEN)
    assert status == 403


def test_docs_need_a_token_unless_public(server, tmp_path):
    for path in ("/docs", "/openapi.json"):
        assert call(server, "GET", path, token=None)[0] == 401
        assert call(server, "GET", path, token=RunshipServer.READ_TOKEN)[0] == 200
    os.makedirs(tmp_path / "public")
    public = RunshipServer(str(tmp_path / "pub"), str(tmp_path / "public"), extra=["--public-docs"]).start()
    try:
        assert call(public, "GET", "/openapi.json", token=None)[0] == 200
    finally:
        public.stop()


def test_names_ending_in_a_newline_or_too_long_are_400(server):
    name = fmt.stream_file_name("run", SESSION, 0)
    data = committed([[start(), row(0, {"x": 1})]])
    status, _, body = call(server, "PATCH", f"/v1/runs/p/r/streams/{name}%0A", data, headers={"Upload-Offset": "0"})
    assert status == 400, body
    status, _, _ = call(server, "PATCH", f"/v1/runs/p/r/streams/{name}", data, headers={"Upload-Offset": "0"})
    assert status == 204
    assert os.listdir(os.path.join(server.root, "p", "r")) == [name]  # one file: rows read once
    long_name = fmt.stream_file_name("run", "a" * 250, 0)
    assert call(server, "HEAD", f"/v1/runs/p/r/streams/{long_name}")[0] == 400
    assert call(server, "PUT", "/v1/runs/p/r/derived/files/" + "x" * 300, b"x")[0] == 400
    assert call(server, "GET", "/v1/runs/p%0A/r")[0] == 400
    assert call(server, "GET", "/v1/runs/" + "p" * 200 + "/r")[0] == 400
    assert "Traceback" not in server.log()


def test_token_files_others_can_read_are_refused(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN} rw * writer\n")
    tokens.chmod(0o644)
    serve = [*RUNSHIP, "serve", "--root", str(tmp_path / "r"), "--port", str(free_port()), "--token-file", str(tokens)]
    out = subprocess.run(serve, env=child_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "accessible by group or others (mode 0644)" in out.stderr
    assert f"chmod 600 {tokens}" in out.stderr
    upload = [*RUNSHIP, "upload", str(tmp_path), "--to", "http://127.0.0.1:9", "--token-file", str(tokens)]
    out = subprocess.run(upload, env=child_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "accessible by group or others" in out.stderr
    tokens.chmod(0o600)
    assert stat.S_IMODE(os.stat(tokens).st_mode) == 0o600


def test_concurrent_puts_of_one_derived_file_all_succeed(server):
    results = []

    def put(i):
        body = json.dumps({"i": i, "pad": "x" * 5000}).encode()
        results.append(call(server, "PUT", "/v1/runs/p/r/derived/run.json", body)[0])

    threads = [threading.Thread(target=put, args=(i,)) for i in range(120)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [204] * 120
    with open(os.path.join(server.root, "p", "r", "run.json")) as f:
        assert json.load(f)["pad"] == "x" * 5000  # one whole write, never a mix
    assert [n for n in os.listdir(os.path.join(server.root, "p", "r")) if n != "run.json"] == []


def _access_entry(srv, path: str) -> dict:
    """The access log's last entry for ``path`` (the server writes it once
    the answer is sent: it may come a moment after the client has it)."""
    deadline = time.monotonic() + 10
    while True:
        entries = [json.loads(line) for line in srv.log().splitlines() if line.startswith("{")]
        found = [e for e in entries if e.get("path") == path]
        if found or time.monotonic() > deadline:
            assert found, f"no access log entry for {path}"
            return found[-1]
        time.sleep(0.02)


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(server, tmp_path):
    call(server, "GET", "/v1/projects", headers={"X-Forwarded-For": "6.6.6.6"})
    assert _access_entry(server, "/v1/projects")["client"] == "127.0.0.1"
    os.makedirs(tmp_path / "proxied")
    proxied = RunshipServer(str(tmp_path / "p2"), str(tmp_path / "proxied"), extra=["--trusted-proxy", "127.0.0.1"])
    proxied.start()
    try:
        call(proxied, "GET", "/v1/projects", headers={"X-Forwarded-For": "6.6.6.6"})
        assert _access_entry(proxied, "/v1/projects")["client"] == "6.6.6.6"
    finally:
        proxied.stop()


def test_a_hostile_run_never_takes_reads_down(server):
    write_run(
        server.root,
        [[start(), {"k": "config", "n": 1, "t": T, "d": [1, 2]}, row(0, {"deep": nested(900)}, n=2), row(1, {"ok": 1}, n=3, t=1e300)]],
        run="bad",
    )  # fmt: skip
    write_run(server.root, [[start(), row(0, {"fine": 1})]], run="good")
    status, _, body = call(server, "GET", "/v1/runs/p/bad")
    assert status == 200 and len(json.loads(body)["problems"]) == 3
    status, _, body = call(server, "GET", "/v1/projects/p/runs")
    assert status == 200
    runs = {r["id"]: r for r in json.loads(body)}
    assert set(runs) == {"bad", "good"} and len(runs["bad"]["problems"]) == 3
    assert call(server, "GET", "/v1/runs/p/bad/history")[0] == 200
    assert "Traceback" not in server.log()


def _plausible_junk(size: int, run: str) -> bytes:
    """The cheapest records that pass the framing checks: 7-byte maps
    {"k": "", "t": 0}, packed into one committed batch after a header."""
    return committed([[b"\x82\xa1k\xa0\xa1t\x00" * (size // 7)]], run=run)


def test_the_worst_body_costs_memory_in_proportion_to_its_size(server):
    name = fmt.stream_file_name("run", SESSION, 0)
    path = f"/v1/runs/p/junk/streams/{name}"
    before = peak_rss_mb(server.proc.pid)
    body = _plausible_junk(16 * 1024 * 1024, "junk")
    status, _, detail = call(server, "PATCH", path, body, headers={"Upload-Offset": "0"}, timeout=120)
    assert status == 204, detail
    grown = peak_rss_mb(server.proc.pid) - before
    assert grown < 5 * len(body) / 2**20, f"{grown:.0f} MiB for a body of {len(body) / 2**20:.0f} MiB"
    # maps too small to be records are refused outright
    empty = committed([[b"\x80" * 4 * 1024 * 1024]], run="empty")
    status, _, _ = call(server, "PATCH", path.replace("junk", "empty"), empty, headers={"Upload-Offset": "0"})
    assert status == 422


def test_the_lock_table_stays_bounded(tmp_path):
    from runship.web.storage import STRIPES, Storage

    storage = Storage(str(tmp_path / "s"))
    data = committed([[start(), row(0, {"x": 1})]], run="r")
    for i in range(2000):
        try:
            storage.append("p", "r", f"run-{SESSION}-{i:06d}.msgpack", 0, data)
        except ValueError:
            pass  # refused (the header names segment 0): a refused request must not grow the table either
    assert len(storage._locks) == STRIPES


def test_a_body_of_hostile_bytes_never_gets_a_5xx(server):
    name = fmt.stream_file_name("run", SESSION, 0)
    header = msgpack.packb(fmt.header_record(t=T, project="p", run="h", session=SESSION, stream="run", segment=0))
    bodies = [
        b"\xc1" * 100,  # never-used msgpack byte
        b"\x91" * 5000 + b"\x90",  # deeper than any stack
        header + b"\xdd\xff\xff\xff\xff",  # an array claiming 4 billion items
        header + b"\xdb\xff\xff\xff\xff",  # a string claiming 4 GB
        header + b"\xc7\xff\x05" + b"x" * 300,  # an extension value
    ]
    for body in bodies:
        data = body + fmt.commit_record(len(body), zlib.crc32(body), T)
        status, _, _ = call(server, "PATCH", f"/v1/runs/p/h/streams/{name}", data, headers={"Upload-Offset": "0"})
        assert status in (400, 409, 422), (status, body[:20])
    assert "Traceback" not in server.log()
