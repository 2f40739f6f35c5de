"""Clients and secrets: no token over plain http to another host, no secret
in the command line or the environment of any child runship starts, and
reads in a long-lived process that see what was uploaded since the last
call (no stale listings), on S3 (moto) and through a runship server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid

import psutil
import pytest

import runship
from tests.conftest import RUNSHIP, child_env, popen_python, upload_cmd
from tests.servers import S3_ENV, RunshipServer, free_port
from tests.uploader.test_conformance import make_run

SECRET_KEY = "S3CR3T-" + uuid.uuid4().hex
TOKEN_SECRET = "tok-" + uuid.uuid4().hex


def _private(path, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


def test_no_token_over_plain_http_to_another_host(tmp_path):
    root = tmp_path / "runs"
    make_run(root, rows=3)
    token = _private(tmp_path / "token", TOKEN_SECRET)
    out = upload_cmd([root], "http://192.0.2.1:9", tmp_path / "state", "--token-file", token, timeout=60)
    assert out.returncode == 2
    assert "refusing to send a token over plain http:// to 192.0.2.1" in out.stderr
    out = upload_cmd(
        [root],
        "http://192.0.2.1:9",
        tmp_path / "state",
        "--token-file",
        token,
        "--allow-insecure-http",
        "-o",
        "timeout=1",
        "-o",
        "attempts=1",
        timeout=60,
    )
    assert out.returncode == 1 and "refusing" not in out.stderr  # tried, and the host did not answer
    assert TOKEN_SECRET not in out.stderr


def _secrets_absent(proc: psutil.Process, *secrets: str) -> None:
    cmdline = "\0".join(proc.cmdline())
    with open(f"/proc/{proc.pid}/environ", "rb") as f:
        environ = f.read().decode(errors="replace")
    for secret in secrets:
        assert secret not in cmdline, (secret, cmdline)
        assert secret not in environ, secret


def test_online_mode_hands_its_secrets_to_the_uploader_over_a_pipe(tmp_path, moto):
    """mode='online': the follower's command line and environment hold no
    target URL, AWS secret or token, and it still uploads (it got them)."""
    bucket = f"online-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    url = f"s3://{bucket}/runs"
    env = {
        **S3_ENV,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "RUNSHIP_UPLOAD_TO": url,
        "RUNSHIP_TOKEN": TOKEN_SECRET,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    proc = popen_python(
        f"""
        import sys, time, runship
        run = runship.init(project="p", id="online", dir={str(tmp_path / "runs")!r}, mode="online",
                           settings={{"quiet": True, "upload_interval": 0.5, "environment": False, "console": "off"}})
        for i in range(20):
            run.log({{"i": i}})
        run.flush()
        print("ready", flush=True)
        sys.stdin.readline()
        run.finish()
        """,
        env=env,
        stdin=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        (follower,) = [c for c in psutil.Process(proc.pid).children() if "upload" in c.cmdline()]
        _secrets_absent(follower, SECRET_KEY, TOKEN_SECRET, url)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0
        follower.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    view = runship.open_run(f"{url}/p/online", storage_options={"endpoint_url": moto.endpoint})
    assert [r["i"] for r in view.history()] == list(range(20)) and view.state == "finished"


def test_server_workers_get_their_configuration_from_a_private_file(tmp_path):
    """--workers: storage options (which may hold keys) reach the workers in
    a 0600 file, never in their environment or command line."""
    token_file = _private(tmp_path / "tokens", f"{RunshipServer.TOKEN} rw * writer\n")
    port = free_port()
    serve = ["serve", "--root", str(tmp_path / "served"), "--port", str(port), "--token-file", token_file]
    proc = subprocess.Popen(
        [*RUNSHIP, "-o", f"secret_option={SECRET_KEY}", *serve, "--workers", "2"],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.2)
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if "python" in c.name()]
        assert len(workers) >= 2
        for w in workers:
            _secrets_absent(w, SECRET_KEY, RunshipServer.TOKEN)
        config = [v for w in workers for v in [w.environ().get("RUNSHIP_SERVE_CONFIG")] if v]
        assert config and os.stat(config[0]).st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert not os.path.exists(config[0])  # removed when the server stops


@pytest.fixture
def bucket(moto):
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(name)
    return name


def test_reads_on_s3_see_what_was_uploaded_since_the_last_call(tmp_path, moto, bucket):
    url = f"s3://{bucket}/runs"
    so = {"endpoint_url": moto.endpoint}
    env = {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
    root = tmp_path / "runs"
    make_run(root, run_id="a", rows=5)
    assert upload_cmd([root], url, tmp_path / "state", env=env).returncode == 0
    api = runship.Api(url, storage_options=so)
    assert [r.id for r in api.runs("p")] == ["a"]
    first = runship.open_run(f"{url}/p/a", storage_options=so)
    assert len(first.all_sessions) == 1
    make_run(root, run_id="a", rows=5, resume="allow", start=5)  # a second session
    make_run(root, run_id="b", rows=3)  # and a new run
    assert upload_cmd([root], url, tmp_path / "state", env=env).returncode == 0
    again = runship.open_run(f"{url}/p/a", storage_options=so)  # same process, same fsspec instance
    assert len(again.all_sessions) == 2 and again.next_step == 10
    assert sorted(r.id for r in api.runs("p")) == ["a", "b"]
    from runship.reader.listing import run_dirs

    assert [d.rsplit("/", 1)[-1] for d in run_dirs(url, storage_options=so)] == ["a", "b"]


@pytest.mark.heavy  # a real-process story of ~10 s: `make test-heavy` (make test stays under 4 minutes here)
def test_a_server_over_s3_sees_what_others_uploaded_since(tmp_path, moto, bucket):
    """A server is a long-lived reader: another uploader (or server) writes
    to its bucket; its next answer includes that."""
    s = RunshipServer(
        f"s3://{bucket}/served", str(tmp_path), global_args=["-o", f"endpoint_url={moto.endpoint}"]
    ).start()
    try:
        env = {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
        root = tmp_path / "runs"
        make_run(root, run_id="a", rows=5)
        assert upload_cmd([root], f"s3://{bucket}/served", tmp_path / "state", env=env).returncode == 0

        def get(path):
            req = urllib.request.Request(s.url + path, headers={"Authorization": f"Bearer {RunshipServer.TOKEN}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())

        assert get("/v1/runs/p/a")["steps"] == 5
        make_run(root, run_id="a", rows=5, resume="allow", start=5)
        assert upload_cmd([root], f"s3://{bucket}/served", tmp_path / "state", env=env).returncode == 0
        info = get("/v1/runs/p/a")
        assert info["steps"] == 10 and len(info["sessions"]) == 2
        assert [r["_step"] for r in get("/v1/runs/p/a/history")] == list(range(10))
    finally:
        s.stop()


@pytest.mark.heavy  # a real-process story of ~10 s: `make test-heavy` (make test stays under 4 minutes here)
def test_console_follow_on_a_url_sees_new_lines(tmp_path, moto, bucket):
    """`runship console --follow s3://...` polls: each poll sees the lines
    uploaded since the last (no cached listing)."""
    url = f"s3://{bucket}/runs"
    env = {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
    root = tmp_path / "runs"
    run = runship.init(
        project="p",
        id="c",
        dir=str(root),
        reinit="create_new",
        settings={"quiet": True, "environment": False, "console": "off", "system_metrics": False},
    )
    from runship.schema import format as fmt

    console = run._writer.stream(fmt.CONSOLE_STREAM)
    console.write(fmt.OUT, {"s": "stdout", "text": "first line"})
    run.flush()
    assert upload_cmd([root], url, tmp_path / "state", env=env).returncode == 0
    follow = subprocess.Popen(
        [*RUNSHIP, "console", f"{url}/p/c", "--follow"],
        env=child_env(env),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout.readline().strip() == "first line"
        console.write(fmt.OUT, {"s": "stdout", "text": "second line"})
        run.finish()
        assert upload_cmd([root], url, tmp_path / "state", env=env).returncode == 0
        assert follow.stdout.readline().strip() == "second line"
        assert follow.wait(60) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
