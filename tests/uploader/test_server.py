"""`runship serve` over real HTTP: auth, names, sizes, offsets, garbage,
SIGKILL of the server mid-upload, the OpenAPI description and a fuzzer."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

import msgpack
import pytest

import runship
from tests.conftest import ROOT, popen_python, upload_cmd, upload_popen
from tests.servers import RunshipServer, call, free_port
from tests.uploader.test_conformance import _batches, assert_same, make_run

TOKEN = RunshipServer.TOKEN


@pytest.fixture
def server(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    yield s
    s.stop()


def stored_files(root):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files]
    return out


def test_health_and_openapi(server):
    status, _, body = call(server, "GET", "/health", token=None)
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = call(server, "GET", "/openapi.json", token=RunshipServer.READ_TOKEN)
    spec = json.loads(body)
    assert status == 200 and "/v1/runs/{project}/{run_id}/streams/{name}" in spec["paths"]


def test_append_protocol(server, tmp_path):
    run = make_run(tmp_path / "runs", rows=40)
    name, data, ends = _batches(run.run_dir)
    path = f"/v1/runs/p/r1/streams/{name}"
    status, headers, _ = call(server, "HEAD", path)
    assert status == 404 and headers["upload-offset"] == "0"
    status, headers, _ = call(server, "PATCH", path, data[: ends[1]], headers={"Upload-Offset": "0"})
    assert status == 204 and headers["upload-offset"] == str(ends[1])
    # a repeat of stored bytes: success, nothing changes
    status, headers, _ = call(server, "PATCH", path, data[: ends[1]], headers={"Upload-Offset": "0"})
    assert status == 204 and headers["upload-offset"] == str(ends[1])
    # a gap: 409 and the stored size
    status, headers, body = call(
        server, "PATCH", path, data[ends[2] : ends[3]], headers={"Upload-Offset": str(ends[2])}
    )
    assert status == 409 and headers["upload-offset"] == str(ends[1]) and json.loads(body)["detail"] == "gap"
    # different bytes over stored ones: 409 and the stored size
    forged = bytearray(data[: ends[1]])
    forged[-3] ^= 0x01
    status, headers, _ = call(server, "PATCH", path, bytes(forged), headers={"Upload-Offset": "0"})
    assert status == 409 and headers["upload-offset"] == str(ends[1])
    status, _, _ = call(server, "PATCH", path, data[ends[1] :], headers={"Upload-Offset": str(ends[1])})
    assert status == 204
    stored = os.path.join(server.root, "p", "r1", name)
    assert open(stored, "rb").read() == data
    status, _, body = call(server, "GET", "/v1/runs/p/r1/history?keys=i&limit=3", token=RunshipServer.READ_TOKEN)
    assert status == 200 and [r["i"] for r in json.loads(body)] == [0, 1, 2]
    status, _, body = call(server, "GET", "/v1/runs/p/r1", token=RunshipServer.READ_TOKEN)
    info = json.loads(body)
    assert info["config"] == {"lr": 0.1} and info["state"] == "finished" and info["steps"] == 40


def test_garbage_and_torn_batches_are_refused(server, tmp_path):
    run = make_run(tmp_path / "runs", rows=20)
    name, data, ends = _batches(run.run_dir)
    path = f"/v1/runs/p/r1/streams/{name}"
    call(server, "PATCH", path, data[: ends[1]], headers={"Upload-Offset": "0"})
    before = open(os.path.join(server.root, "p", "r1", name), "rb").read()
    cases = {
        "not msgpack": b"\xc1\xc1\xc1 not msgpack at all",
        "torn": data[ends[1] : ends[2] - 5],
        "no commit": msgpack.packb({"k": "row", "n": 99, "t": 1.0, "s": 1, "d": {"x": 1}}),
        "bad crc": data[ends[1] : ends[2] - 3] + bytes([data[ends[2] - 3] ^ 1]) + data[ends[2] - 2 : ends[2]],
        "nul tail": b"\x00" * 64,
    }
    for what, body in cases.items():
        status, _, detail = call(server, "PATCH", path, body, headers={"Upload-Offset": str(ends[1])})
        assert status == 422, (what, detail)
        assert open(os.path.join(server.root, "p", "r1", name), "rb").read() == before, what
    # a new file must start with a header naming this run
    other = name.replace("-000000.", "-000001.")
    status, _, _ = call(
        server, "PATCH", f"/v1/runs/p/other/streams/{other}", data[: ends[0]], headers={"Upload-Offset": "0"}
    )
    assert status == 422
    view = runship.open_run(os.path.join(server.root, "p", "r1"))
    assert not view.verify() and len(view.history()) == len(
        runship.open_run(run.run_dir).history()[: len(view.history())]
    )


def test_auth(server, tmp_path):
    run = make_run(tmp_path / "runs", rows=5)
    name, data, ends = _batches(run.run_dir)
    path = f"/v1/runs/p/r1/streams/{name}"
    assert call(server, "PATCH", path, data, token=None, headers={"Upload-Offset": "0"})[0] == 401
    assert call(server, "PATCH", path, data, token="wrong-token-xxxxxxxxxxxx", headers={"Upload-Offset": "0"})[0] == 401
    assert call(server, "PATCH", path, data, token=RunshipServer.READ_TOKEN, headers={"Upload-Offset": "0"})[0] == 403
    assert call(server, "PATCH", path, data, token=RunshipServer.MNIST_TOKEN, headers={"Upload-Offset": "0"})[0] == 403
    assert call(server, "GET", "/v1/projects", token=None)[0] == 401
    assert stored_files(server.root) == []  # nothing written
    assert call(server, "PATCH", path, data, headers={"Upload-Offset": "0"})[0] == 204
    assert call(server, "GET", "/v1/projects", token=RunshipServer.READ_TOKEN)[2] == b'["p"]'
    log = server.log()
    assert TOKEN not in log and RunshipServer.READ_TOKEN not in log
    assert '"token": "writer"' in log and '"status": 401' in log


def test_refused_requests_are_logged_with_the_tokens_label_never_its_value(server, tmp_path):
    """A 403 names the label of the token that was refused; a 401 says
    whether no token or an unknown one came, with no label and never what
    was sent. Each answer's X-Request-Id finds its log line."""
    name, data, _ = _batches(make_run(tmp_path / "runs", rows=5).run_dir)
    path = f"/v1/runs/mnist/r1/streams/{name}"
    unknown = "unknown-token-0123456789abcdef"
    sent = {
        "reader": (RunshipServer.READ_TOKEN, "PATCH", path),  # may read, not write
        "mnist-only": (RunshipServer.MNIST_TOKEN, "GET", "/v1/projects/nlp/runs"),  # another project
        "ui": (RunshipServer.MNIST_TOKEN, "GET", "/ui/api/runs?project=nlp"),  # the web app's API too
        "unknown": (unknown, "GET", "/v1/projects"),
        "none": (None, "GET", "/v1/projects"),
    }
    ids = {}
    for what, (token, method, url) in sent.items():
        status, headers, _ = call(server, method, url, data if method == "PATCH" else None, token=token)
        assert status == (401 if what in ("unknown", "none") else 403), what
        ids[what] = headers["x-request-id"]
    server.stop()
    log = server.log()
    lines = {json.loads(x)["request_id"]: json.loads(x) for x in log.splitlines() if x.startswith('{"t"')}
    assert lines[ids["reader"]]["token"] == "reader" and lines[ids["reader"]]["auth"] == "not allowed"
    assert lines[ids["mnist-only"]]["token"] == "mnist-only"
    assert lines[ids["ui"]]["token"] == "mnist-only" and lines[ids["ui"]]["auth"] == "not allowed"
    assert lines[ids["unknown"]]["token"] is None and lines[ids["unknown"]]["auth"] == "unknown token"
    assert lines[ids["none"]]["token"] is None and lines[ids["none"]]["auth"] == "no token"
    for token in (unknown, RunshipServer.READ_TOKEN, RunshipServer.MNIST_TOKEN, TOKEN):
        assert token not in log


@pytest.mark.parametrize(
    "path",
    [
        "/v1/runs/%2E%2E/r1/streams/run-20261127T000000000Zaaaaaa-000000.msgpack",
        "/v1/runs/p/..%2F..%2Fetc/streams/run-20261127T000000000Zaaaaaa-000000.msgpack",
        "/v1/runs/p/r1/streams/..%2F..%2Fescape.msgpack",
        "/v1/runs/p/r1/streams/%2Fetc%2Fpasswd",
        "/v1/runs/p/r1%00x/streams/run-20261127T000000000Zaaaaaa-000000.msgpack",
        "/v1/runs/p/" + "x" * 300 + "/streams/run-20261127T000000000Zaaaaaa-000000.msgpack",
        "/v1/runs/p/r1/derived/..%2F..%2Fescape",
        "/v1/runs/p/r1/derived/files/../../../escape",
        "/v1/runs/p/r1/derived/%2Fetc%2Fpasswd",
        "/v1/runs/p/r1/derived/notfiles/x",
    ],
)
def test_traversal_names_are_refused(server, tmp_path, path):
    method = "PUT" if "/derived/" in path else "PATCH"
    status, _, _ = call(server, method, path, b"x", headers={"Upload-Offset": "0"})
    assert status in (400, 404, 422)
    assert stored_files(server.root) == []
    assert not os.path.exists(os.path.join(os.path.dirname(server.root), "escape"))


def test_oversized_body_is_413(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--max-body", "1000"]).start()
    try:
        run = make_run(tmp_path / "runs", rows=200)
        name, data, _ = _batches(run.run_dir)
        assert len(data) > 1000
        status, _, _ = call(s, "PATCH", f"/v1/runs/p/r1/streams/{name}", data, headers={"Upload-Offset": "0"})
        assert status == 413
        assert stored_files(s.root) == []
    finally:
        s.stop()


def test_serve_says_where_it_listens_its_root_and_its_tokens_by_label(tmp_path):
    """At start: the URL, the root, the tokens (labels and scopes, never a
    value); a warning when it listens off loopback without TLS."""
    os.makedirs(tmp_path / "wild")
    servers = [
        RunshipServer(str(tmp_path / "served"), str(tmp_path)),
        RunshipServer(str(tmp_path / "served"), str(tmp_path / "wild"), extra=["--host", "0.0.0.0"]),
    ]
    for s in servers:
        s.start().stop()
    local, wild = (s.log() for s in servers)
    assert f"runship serve: listening on http://127.0.0.1:{servers[0].port}" in local
    assert f"root: {tmp_path / 'served'}" in local
    assert "tokens: 3: writer (rw, all projects), reader (r, all projects), mnist-only (rw, mnist)" in local
    assert "WARNING" not in local
    assert f"listening on http://0.0.0.0:{servers[1].port}" in wild
    assert "WARNING: listening on 0.0.0.0 without TLS" in wild
    for token in (TOKEN, RunshipServer.READ_TOKEN, RunshipServer.MNIST_TOKEN):
        assert token not in local + wild


def test_refuses_to_start_without_auth_or_off_loopback(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    serve = [sys.executable, "-m", "runship.cli", "serve", "--root", str(tmp_path / "r"), "--port", str(free_port())]
    out = subprocess.run(serve, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "token auth is on by default" in out.stderr
    out = subprocess.run(
        [*serve, "--no-auth", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "only on a loopback address" in out.stderr
    bad = tmp_path / "tokens"
    bad.write_text("short\n")
    bad.chmod(0o600)
    out = subprocess.run([*serve, "--token-file", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "at least 16 characters" in out.stderr


def test_no_auth_on_loopback_warns(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runship.cli", "serve", "--root", str(tmp_path / "r"), "--port", str(port), "--no-auth"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        assert "WARNING" in line and "without authentication" in line
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/v1/projects")  # no token needed with --no-auth
                assert conn.getresponse().status == 200
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn finishes in-flight requests, then exits with the signal's status
        assert proc.wait(30) in (0, -signal.SIGTERM)


def test_server_killed_mid_upload_loses_nothing_acknowledged(tmp_path):
    port = free_port()
    served = str(tmp_path / "served")
    server = RunshipServer(served, str(tmp_path), port=port).start()
    root = tmp_path / "runs"
    writer = popen_python(
        f"""
        import runship, time
        run = runship.init(project="p", id="k", dir={str(root)!r}, settings={{"quiet": True, "flush_interval": 0.02}})
        for i in range(3000):
            run.log({{"i": i}})
            if i % 100 == 0:
                time.sleep(0.05)
        run.finish()
        """
    )
    uploader = upload_popen(
        [root],
        server.url,
        tmp_path / "state",
        "--watch",
        "--interval",
        "0.1",
        env={"RUNSHIP_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
    )
    stored = os.path.join(served, "p", "k")

    def acked() -> dict:
        """What the uploader was told is stored: its state's record."""
        from runship.uploader import State

        st = State.for_dry_run(str(tmp_path / "state"))
        try:
            return {name: fs.uploaded for name, fs in st.files(server.url, "p", "k").items() if fs.uploaded}
        finally:
            st.close()

    try:
        assert _wait_until(lambda: sum(acked().values()) > 2000, 60)  # some batches are acknowledged
        server.kill(signal.SIGKILL)
        told = acked()
        assert told
        for name, size in told.items():
            assert os.path.getsize(os.path.join(stored, name)) >= size  # nothing acknowledged was lost
        server = RunshipServer(served, str(tmp_path), port=port).start()
        assert writer.wait(60) == 0
        # the --watch uploader carries on by itself once the server is back
        local = runship.open_run(str(root / "p" / "k"))
        assert _wait_until(lambda: _same_rows(local, stored), 60)
    finally:
        uploader.send_signal(signal.SIGTERM)
        uploader.wait(60)
    server.stop()
    assert_same(str(root / "p" / "k"), runship.open_run(stored))


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _same_rows(local, stored_dir) -> bool:
    try:
        remote = runship.open_run(stored_dir)
    except runship.RunNotFound:
        return False
    return remote.state == "finished" and remote.history() == local.history()


def test_schemathesis_fuzz_finds_no_server_error(server):
    """A bounded schema-driven fuzz of every operation of the OpenAPI
    description, with a valid token: no 5xx, no traceback."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    failures = []
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @settings(
            max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        @given(operation.as_strategy())
        def run_case(case):
            calls.append(1)
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code, response.text[:200]))

        run_case()
    assert len(calls) >= 100
    assert failures == []
    assert "Traceback" not in server.log()


def test_server_in_front_of_s3(tmp_path, moto):
    moto.create_bucket("behind-server")
    root = tmp_path / "runs"
    run = make_run(root, rows=50, rotate=1500)
    s = RunshipServer(
        "s3://behind-server/runs", str(tmp_path), global_args=["-o", f"endpoint_url={moto.endpoint}"]
    ).start()
    try:
        out = upload_cmd([root], s.url, tmp_path / "state", env={"RUNSHIP_TOKEN": TOKEN})
        assert out.returncode == 0, out.stderr
        status, _, body = call(s, "GET", "/v1/runs/p/r1", token=RunshipServer.READ_TOKEN)
        assert status == 200 and json.loads(body)["steps"] == 50
    finally:
        s.stop()
    assert_same(
        run.run_dir, runship.open_run("s3://behind-server/runs/p/r1", storage_options={"endpoint_url": moto.endpoint})
    )
