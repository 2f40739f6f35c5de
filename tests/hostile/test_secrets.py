"""Secrets a training process holds are neither recorded in its run nor
handed to the children runship starts: credentials in a URL-valued setting
(the upload target), secret-looking command-line arguments, a git remote's
token, and the environment of the mode="online" uploader (an allow-list).

Every test runs real processes (a training script, git, `runship serve`,
moto's S3 server) and reads what they left with plain msgpack and bytes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid

import msgpack
import psutil

import runship
from tests.conftest import ROOT, popen_python
from tests.servers import S3_ENV, RunshipServer, call


def _secret(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex}"


def _marker(secret: str) -> str:
    return f"<redacted:{len(secret)}>"


def _files_holding(top, *secrets: str) -> list[tuple[str, str]]:
    """(path, secret) for every file under ``top`` whose bytes hold a secret."""
    found = []
    for d, _, names in os.walk(top):
        for n in names:
            path = os.path.join(d, n)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            found += [(path, s) for s in secrets if s.encode() in data]
    return found


def _records(run_dir: str, kind: str) -> list[dict]:
    """Every record of a kind in a run directory's stream files (plain msgpack)."""
    out = []
    for name in sorted(os.listdir(run_dir)):
        if not name.endswith(".msgpack"):
            continue
        with open(os.path.join(run_dir, name), "rb") as f:
            for obj in msgpack.Unpacker(f, raw=False, strict_map_key=False):
                if isinstance(obj, dict) and obj.get("k") == kind:
                    out.append(obj)
    return out


def _script(tmp_path, body: str) -> str:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def _run_script(script: str, args: list[str], cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    full.update({"PYTHONPATH": ROOT, **(env or {})})
    out = subprocess.run(
        [sys.executable, script, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out


def _wait_finished_on(server: RunshipServer, path: str, timeout: float = 90) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = call(server, "GET", path, token=RunshipServer.READ_TOKEN)
        if status == 200 and json.loads(body).get("state") == "finished":
            return body
        assert time.monotonic() < deadline, (status, body[:300], server.log()[-2000:])
        time.sleep(0.2)


def test_credentials_in_the_upload_url_are_not_recorded_uploaded_or_served(tmp_path):
    """Finding 7: settings upload_to="http://user:PASS@host/?access_token=..."
    keeps neither the password nor the token in the start record; the run is
    uploaded with them all the same, and the server stores and serves none."""
    password, query_token = _secret("PASS"), _secret("QTOK")
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        upload_to = f"http://runner:{password}@127.0.0.1:{server.port}/?access_token={query_token}&region=eu"
        script = _script(
            tmp_path,
            f"""
            import runship
            run = runship.init(project="p", id="r", dir={str(tmp_path / "runs")!r}, mode="online",
                               settings={{"upload_to": {upload_to!r}, "upload_interval": 0.5, "quiet": True,
                                          "console": "off", "system_metrics": False, "environment": False}})
            run.log({{"loss": 0.5}})
            run.finish()
            """,
        )
        env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN, "XDG_STATE_HOME": str(tmp_path / "state")}
        _run_script(script, [], tmp_path, env)
        served = _wait_finished_on(server, "/v1/runs/p/r")
    finally:
        server.stop()
    (start,) = _records(str(tmp_path / "runs" / "p" / "r"), "start")
    assert start["settings"]["upload_to"] == (
        f"http://runner:{_marker(password)}@127.0.0.1:{server.port}/?access_token={_marker(query_token)}&region=eu"
    )
    assert password not in served.decode() and query_token not in served.decode()
    # the run directory, the server's copy, the uploader's state and log: no byte of either
    for top in ("runs", "served", "state"):
        assert _files_holding(tmp_path / top, password, query_token) == []
    assert os.listdir(tmp_path / "state" / "runship" / "follow" / "p" / "r")  # the uploader's log is there
    assert len(_records(str(tmp_path / "served" / "p" / "r"), "start")) == 1  # the server did get the run


def test_secret_looking_arguments_are_recorded_redacted_with_their_length(tmp_path):
    """Finding 10: --api-key=V, --token V, NAME=V with a secret-looking name,
    and a URL's password in argv are recorded as <redacted:N> (N the
    original length), in the start and the environment records alike;
    other arguments are recorded as given."""
    s = {k: _secret(k) for k in ("API", "TOK", "PWD", "AWS", "ENV", "HYD", "URL")}
    args = [
        f"--api-key={s['API']}",
        "--token",
        s["TOK"],
        f"--password={s['PWD']}",
        "--aws-secret-access-key",
        s["AWS"],
        f"WANDB_API_KEY={s['ENV']}",
        f"db.password={s['HYD']}",
        "--db",
        f"postgres://trainer:{s['URL']}@db.example/runs",
        "--lr",
        "0.1",
        "--use-auth-token",
        "--epochs=3",
        "--tokenizer",
        "gpt2",
        "--max_tokens=512",
    ]
    expected = [
        f"--api-key={_marker(s['API'])}",
        "--token",
        _marker(s["TOK"]),
        f"--password={_marker(s['PWD'])}",
        "--aws-secret-access-key",
        _marker(s["AWS"]),
        f"WANDB_API_KEY={_marker(s['ENV'])}",
        f"db.password={_marker(s['HYD'])}",
        "--db",
        f"postgres://trainer:{_marker(s['URL'])}@db.example/runs",
        "--lr",
        "0.1",
        "--use-auth-token",
        "--epochs=3",
        "--tokenizer",
        "gpt2",
        "--max_tokens=512",
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
    run_dir = str(tmp_path / "runs" / "p" / "r")
    (start,) = _records(run_dir, "start")
    (environment,) = _records(run_dir, "environment")
    assert start["argv"] == [script, *expected]
    assert environment["argv"] == [script, *expected]
    assert _files_holding(tmp_path / "runs", *s.values()) == []


def test_a_git_remote_keeps_no_token_in_its_user_or_query(tmp_path):
    """Finding 10: a remote https://user:TOKEN@host/x.git?access_token=T2 is
    recorded with both redacted (lengths kept), in the environment record
    and in save_code's code record."""
    password, query_token = _secret("GITPASS"), _secret("GITQ")
    repo = tmp_path / "repo"
    repo.mkdir()
    remote = f"https://x-access-token:{password}@git.example/lab/x.git?access_token={query_token}&ref=main"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["remote", "add", "origin", remote]):
        subprocess.run([*git, *cmd], cwd=repo, check=True, capture_output=True, timeout=30)
    script = _script(
        repo,
        f"""
        import runship
        run = runship.init(project="p", id="r", dir={str(tmp_path / "runs")!r}, save_code=True,
                           settings={{"quiet": True, "console": "off", "system_metrics": False}})
        run.log({{"loss": 0.5}})
        run.finish()
        """,
    )
    subprocess.run([*git, "add", "train.py"], cwd=repo, check=True, capture_output=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=repo, check=True, capture_output=True, timeout=30)
    _run_script(script, [], repo)
    run_dir = str(tmp_path / "runs" / "p" / "r")
    expected = (
        f"https://x-access-token:{_marker(password)}@git.example/lab/x.git?access_token={_marker(query_token)}&ref=main"
    )
    (environment,) = _records(run_dir, "environment")
    (code,) = _records(run_dir, "code")
    assert environment["git"]["remote"] == expected
    assert code["git"]["remote"] == expected
    assert _files_holding(tmp_path / "runs", password, query_token) == []


# what the mode="online" uploader may find in its environment (docs/SECURITY.md)
_ALLOWED = re.compile(
    r"PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TERM|TMPDIR|TMP|TEMP|LC_\w+|PYTHON\w*|VIRTUAL_ENV|CONDA_PREFIX"
    r"|LD_LIBRARY_PATH|XDG_\w+|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE"
)


def test_the_online_uploader_gets_only_an_allow_listed_environment(tmp_path, moto):
    """Finding 10: the mode="online" uploader's environment holds only
    allow-listed variables: no DATABASE_URL, Azure key or connection string,
    rclone password, nor anything else not on the list; its command line
    holds none of them either, and it still uploads to S3 (the AWS
    credentials reach it over its pipe)."""
    bucket = f"allow-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    url = f"s3://{bucket}/runs"
    s = {k: _secret(k) for k in ("DB", "AZK", "AZC", "RCL", "OTHER", "AWS")}
    env = {
        **S3_ENV,
        "AWS_SECRET_ACCESS_KEY": s["AWS"],
        "AWS_ENDPOINT_URL": moto.endpoint,
        "RUNSHIP_UPLOAD_TO": url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "DATABASE_URL": f"postgres://trainer:{s['DB']}@db.example/runs",
        "AZURE_STORAGE_KEY": s["AZK"],
        "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={s['AZC']}",
        "RCLONE_CONFIG_REMOTE_PASS": s["RCL"],
        "LAB_NOTES": s["OTHER"],
    }
    proc = popen_python(
        f"""
        import sys, runship
        run = runship.init(project="p", id="online", dir={str(tmp_path / "runs")!r}, mode="online",
                           settings={{"quiet": True, "upload_interval": 0.5, "environment": False, "console": "off"}})
        run.log({{"i": 1}})
        run.flush()
        print("ready", flush=True)
        sys.stdin.readline()
        run.finish()
        """,
        env=env,
        stdin=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        (follower,) = [c for c in psutil.Process(proc.pid).children() if "upload" in c.cmdline()]
        with open(f"/proc/{follower.pid}/environ", "rb") as f:
            environ = f.read()
        cmdline = "\0".join(follower.cmdline())
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0
        follower.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    names = [item.split(b"=", 1)[0].decode() for item in environ.split(b"\0") if item]
    assert [n for n in names if not _ALLOWED.fullmatch(n)] == []
    for secret in (*s.values(), url):
        assert secret.encode() not in environ, secret
        assert secret not in cmdline, secret
    view = runship.open_run(f"{url}/p/online", storage_options={"endpoint_url": moto.endpoint})
    assert [r["i"] for r in view.history()] == [1] and view.state == "finished"
