"""The uploader, run as a service account over run directories that someone
else wrote: it never reads outside a run directory, never blocks on what it
finds there, ends within seconds on SIGTERM, leaves out only the writer's
own temporary files, and uploads every name the writer stores."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import runship
from tests.conftest import RUNSHIP, child_env, upload_cmd, upload_popen
from tests.servers import RunshipServer
from tests.uploader.test_conformance import make_run

SECRET = b"the service account's private key"


def _age(path) -> None:
    """Make a derived file old enough to be uploaded (the uploader waits for
    files/ to stay unchanged for 2 s)."""
    for d, _, names in os.walk(path):
        for n in names:
            p = os.path.join(d, n)
            if not os.path.islink(p) and os.path.isfile(p):
                os.utime(p, (time.time() - 60, time.time() - 60))


def _all_bytes(root) -> bytes:
    out = b""
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out += f.read()
    return out


def _status(root, target, state) -> list[dict]:
    out = subprocess.run(
        [*RUNSHIP, "status", str(root), "--to", target, "--state", str(state), "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_links_fifos_and_devices_are_skipped_named_and_counted(tmp_path):
    root, remote = tmp_path / "runs", tmp_path / "remote"
    run = make_run(root, rows=20)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    files = os.path.join(run.run_dir, "files")
    os.symlink(secret, os.path.join(files, "innocent.txt"))
    os.mkfifo(os.path.join(files, "pipe"))  # once blocked open() forever
    os.symlink("/dev/zero", os.path.join(files, "zeros"))  # once 1.7 GB of RSS, then MemoryError
    os.unlink(os.path.join(run.run_dir, "run.json"))
    os.symlink(secret, os.path.join(run.run_dir, "run.json"))
    os.symlink(secret, os.path.join(run.run_dir, "run-20991231T000000000Zaaaaaa-000000.msgpack"))
    _age(run.run_dir)
    t0 = time.monotonic()
    out = upload_cmd([root], f"file://{remote}", tmp_path / "state", timeout=60)
    assert time.monotonic() - t0 < 30
    assert out.returncode == 0, out.stderr
    assert SECRET not in _all_bytes(remote)
    for name in ("innocent.txt", "pipe", "zeros", "run.json", "run-20991231T000000000Zaaaaaa-000000.msgpack"):
        assert f"{name}: a " in out.stderr and "skipped, not uploaded" in out.stderr, name
    assert "5 files skipped" in out.stderr
    (status,) = _status(root, f"file://{remote}", tmp_path / "state")
    assert status["complete"] and len(status["skipped"]) == 5
    assert any("innocent.txt (a symlink" in s for s in status["skipped"])
    # the run itself went up whole and reads the same
    remote_run = runship.open_run(str(remote / "p" / "r1"))
    assert remote_run.history() == runship.open_run(run.run_dir).history()


def test_linked_project_and_run_directories_are_not_followed(tmp_path):
    root, other, remote = tmp_path / "runs", tmp_path / "other", tmp_path / "remote"
    make_run(root, run_id="mine", rows=5)
    victim = make_run(other, project="victim", run_id="theirs", rows=5)
    os.symlink(other / "victim", root / "victim")  # a linked project
    os.symlink(victim.run_dir, root / "p" / "linked")  # a linked run
    out = upload_cmd([root], f"file://{remote}", tmp_path / "state", timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(remote)) == ["p"] and sorted(os.listdir(remote / "p")) == ["mine"]
    assert f"{root / 'victim'}: a symlink, not followed: skipped" in out.stderr
    assert f"{root / 'p' / 'linked'}: a symlink, not followed: skipped" in out.stderr


def test_only_the_writers_own_temporary_files_are_left_out(tmp_path):
    root, remote = tmp_path / "runs", tmp_path / "remote"
    run = make_run(root, rows=5)
    files = os.path.join(run.run_dir, "files")
    for name in ("config.tmpl.yaml", "weights.tmp", "notes.tmp1234"):
        with open(os.path.join(files, name), "w") as f:
            f.write(name)
    with open(os.path.join(files, ".model.pt.runship-tmp-1f2e3d"), "w") as f:
        f.write("half-written by the writer")
    _age(run.run_dir)
    out = upload_cmd([root], f"file://{remote}", tmp_path / "state", timeout=60)
    assert out.returncode == 0, out.stderr
    stored = sorted(os.listdir(remote / "p" / "r1" / "files"))
    assert stored == ["config.tmpl.yaml", "notes.tmp1234", "weights.tmp"]
    (status,) = _status(root, f"file://{remote}", tmp_path / "state")
    assert status["complete"] and status["skipped"] == []


@pytest.fixture
def small_server(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--max-body", "65536"]).start()
    yield s
    s.stop()


def test_a_file_larger_than_the_servers_limit_goes_up_in_parts(tmp_path, small_server):
    root = tmp_path / "runs"
    big = tmp_path / "checkpoint.bin"
    payload = os.urandom(300_000)  # almost 5 times the server's body limit
    big.write_bytes(payload)
    run = make_run(root, rows=30, finish=False)
    run.save(str(big), base_path=str(tmp_path), policy="now")
    run.finish()
    _age(run.run_dir)
    env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN}
    out = upload_cmd([root], small_server.url, tmp_path / "state", env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    stored = tmp_path / "served" / "p" / "r1" / "files" / "checkpoint.bin"
    assert stored.read_bytes() == payload
    assert not os.path.exists(tmp_path / "served" / ".uploads") or not any(os.scandir(tmp_path / "served" / ".uploads"))
    again = upload_cmd([root], small_server.url, tmp_path / "state", env=env, timeout=120)
    assert again.returncode == 0, again.stderr  # nothing left to do, nothing refused


def test_a_name_the_writer_accepts_is_one_the_server_accepts(tmp_path, small_server):
    root = tmp_path / "runs"
    notes = tmp_path / "my notes (v2).txt"
    notes.write_text("results")
    run = make_run(root, rows=5, finish=False)
    (target,) = run.save(str(notes), base_path=str(tmp_path), policy="now")
    run.finish()
    assert os.path.basename(target).startswith("my_notes_v2-") and target.endswith(".txt")
    _age(run.run_dir)
    out = upload_cmd([root], small_server.url, tmp_path / "state", env={"RUNSHIP_TOKEN": RunshipServer.TOKEN})
    assert out.returncode == 0, out.stderr
    remote = runship.open_run(str(tmp_path / "served" / "p" / "r1"))
    (rec,) = [r for r in remote.saved_files.values() if r.get("name")]
    assert rec["name"] == "my notes (v2).txt" and rec["path"] == "files/" + os.path.basename(target)
    assert remote.read_file(rec["path"]) == b"results"
    assert hashlib.sha256(b"results").hexdigest() == rec["sha256"]


def test_sigterm_ends_the_uploader_within_seconds_whatever_it_is_doing(tmp_path):
    """A target that accepts the connection and never answers: the uploader
    is stuck in a read with a 10-minute timeout; SIGTERM ends it anyway."""
    root = tmp_path / "runs"
    make_run(root, rows=5)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = threading.Event()
    held = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    proc = upload_popen([root], url, tmp_path / "state", "-o", "timeout=600", "-o", "attempts=1")
    try:
        assert accepted.wait(30)
        time.sleep(0.5)  # the request is out; the answer never comes
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        assert time.monotonic() - t0 < 8
        assert code != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
        for c in held:
            c.close()
