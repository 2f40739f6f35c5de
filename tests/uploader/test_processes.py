"""`runship upload` as a real process: SIGKILL mid-pass, a writer logging
while it watches, two at once, the target going away, locks, exit codes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psutil
import pytest

import runship
from runship.uploader import State
from tests.conftest import RUNSHIP, popen_python, upload_cmd, upload_popen
from tests.conftest import child_env as _env
from tests.servers import S3_ENV, MotoServer, TcpProxy
from tests.uploader.conftest import _kind
from tests.uploader.test_conformance import assert_same, make_run

# real uploader processes killed and targets taken away mid-pass (minutes of
# processes): `make test-heavy`, which CI runs after `make test`
pytestmark = pytest.mark.heavy


@pytest.fixture(params=["file", "s3", "http"])
def remote(request, tmp_path):
    """A target reachable from a subprocess: a directory, S3 on moto, a runship server."""
    yield from _kind(request.param, request, tmp_path)


def remote_run(remote, project, run_id):
    return remote.open_remote(project, run_id)


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _same_history(remote, run_id, local) -> bool:
    try:
        view = remote_run(remote, "p", run_id)
    except runship.RunNotFound:
        return False
    return view.state == local.state and view.history() == local.history()


def _same_on_remote(remote, run) -> bool:
    return _same_history(remote, run.id, runship.open_run(run.run_dir))


def test_sigkill_mid_pass_then_rerun_gives_an_exact_copy(remote, tmp_path):
    url, env = remote.url, remote.env
    root = tmp_path / "runs"
    runs = []
    for i in range(24):
        runs.append(make_run(root, run_id=f"k{i:02d}", rows=400, rotate=6000, finish=i % 2 == 0))
    rnd = random.Random(7)
    for _trial in range(3):
        proc = upload_popen([root], url, tmp_path / "state", "-v", env=env)
        line = proc.stderr.readline()  # the first run is up: the pass is under way
        while line and "bytes to" not in line:
            line = proc.stderr.readline()
        time.sleep(rnd.uniform(0, 0.05) if _trial else 0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if _trial == 0:  # the kill landed mid-pass: some runs are up, not all of them
            assert proc.returncode == -signal.SIGKILL
            up = [run.id for run in runs if _same_on_remote(remote, run)]
            assert 0 < len(up) < len(runs), up
    done = upload_cmd([root], url, tmp_path / "state", env=env)
    assert done.returncode == 0, done.stderr
    for run in runs:
        assert_same(run.run_dir, remote_run(remote, "p", run.id))


def test_writer_logging_while_uploader_watches(remote, tmp_path):
    url, env = remote.url, remote.env
    root = tmp_path / "runs"
    writer = popen_python(
        f"""
        import runship, time
        run = runship.init(project="p", id="w", dir={str(root)!r}, settings={{"quiet": True, "flush_interval": 0.05, "rotate_bytes": 30000}})
        for i in range(4000):
            run.log({{"i": i, "loss": 1 / (i + 1)}})
            if i % 200 == 0:
                time.sleep(0.05)
        run.finish()
        """
    )
    while not (root / "p" / "w").exists():
        time.sleep(0.02)
    watcher = upload_popen([root], url, tmp_path / "state", "--watch", "--interval", "0.2", env=env)
    assert writer.wait(60) == 0, writer.stderr.read()
    local = runship.open_run(str(root / "p" / "w"))
    # the watching uploader itself brings the remote to the whole run (no --once pass to repair it)
    assert _wait_until(lambda: _same_history(remote, "w", local), 60)
    watcher.send_signal(signal.SIGTERM)
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert "stopped" in err
    view = remote_run(remote, "p", "w")
    assert_same(str(root / "p" / "w"), view)
    assert [h["i"] for h in view.history()] == list(range(4000))


def test_two_uploaders_with_separate_states_at_once(remote, tmp_path):
    url, env = remote.url, remote.env
    root = tmp_path / "runs"
    writer = popen_python(
        f"""
        import runship, time
        for k in range(3):
            run = runship.init(project="p", id=f"two{{k}}", dir={str(root)!r}, reinit="create_new",
                               settings={{"quiet": True, "flush_interval": 0.02, "rotate_bytes": 20000}})
            for i in range(1500):
                run.log({{"i": i}})
                if i % 100 == 0:
                    time.sleep(0.02)
            run.finish()
        """
    )
    while not root.exists():
        time.sleep(0.02)
    a = upload_popen([root], url, tmp_path / "state-a", "--watch", "--interval", "0.1", env=env)
    b = upload_popen([root], url, tmp_path / "state-b", "--watch", "--interval", "0.13", env=env)
    assert writer.wait(60) == 0, writer.stderr.read()
    locals_ = [runship.open_run(str(root / "p" / f"two{k}")) for k in range(3)]
    assert _wait_until(lambda: all(_same_history(remote, f"two{k}", locals_[k]) for k in range(3)), 60)
    for p in (a, b):
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, p.stderr.read()
    for k in range(3):
        view = remote_run(remote, "p", f"two{k}")
        assert_same(str(root / "p" / f"two{k}"), view)
        assert [h["i"] for h in view.history()] == list(range(1500))


def test_target_going_away_mid_pass_then_coming_back(tmp_path, moto):
    proxy = TcpProxy(moto.port).start()  # the S3 service as the uploader sees it
    env = {"AWS_ENDPOINT_URL": proxy.endpoint, **S3_ENV}
    try:
        moto.create_bucket("flaky")
        root = tmp_path / "runs"
        runs = [make_run(root, run_id=f"f{i:02d}", rows=200) for i in range(30)]
        proc = upload_popen([root], "s3://flaky/runs", tmp_path / "state", "-v", env=env)
        line = proc.stderr.readline()
        while line and "bytes to" not in line:
            line = proc.stderr.readline()
        proxy.stop()  # the target goes away mid-pass
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err
        assert "failures" in err and "ERROR" in err
        proxy.start()  # and comes back
        again = upload_cmd([root], "s3://flaky/runs", tmp_path / "state", env=env)
        assert again.returncode == 0, again.stderr
        for run in runs:
            view = runship.open_run(f"s3://flaky/runs/p/{run.id}", storage_options={"endpoint_url": moto.endpoint})
            assert_same(run.run_dir, view)
    finally:
        proxy.stop()


def test_wiped_remote_is_refilled_with_verify_remote(tmp_path):
    server = MotoServer().start()
    env = {"AWS_ENDPOINT_URL": server.endpoint, **S3_ENV}
    try:
        server.create_bucket("wiped")
        root = tmp_path / "runs"
        runs = [make_run(root, run_id=f"w{i}", rows=50) for i in range(3)]
        assert upload_cmd([root], "s3://wiped/runs", tmp_path / "state", env=env).returncode == 0
        server.stop()  # moto keeps nothing: the remote comes back empty
        server.start()
        server.create_bucket("wiped")
        # finished runs are trusted to be up: a plain pass sends nothing...
        assert " 0 uploaded" in upload_cmd([root], "s3://wiped/runs", tmp_path / "state", env=env).stderr
        # ...--verify-remote asks the remote about every file
        again = upload_cmd([root], "s3://wiped/runs", tmp_path / "state", "--verify-remote", env=env)
        assert again.returncode == 0 and " 3 uploaded" in again.stderr
        for run in runs:
            view = runship.open_run(f"s3://wiped/runs/p/{run.id}", storage_options={"endpoint_url": server.endpoint})
            assert_same(run.run_dir, view)
    finally:
        server.stop()


def test_unreachable_target_fails_fast_under_once(tmp_path):
    root = tmp_path / "runs"
    for i in range(5):
        make_run(root, run_id=f"u{i}", rows=5)
    port = MotoServer().port  # nothing listens there
    t0 = time.monotonic()
    out = upload_cmd(
        [root], "s3://nowhere/runs", tmp_path / "state", env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", **S3_ENV}
    )
    assert out.returncode == 1
    assert "not answering" in out.stderr and "failures" in out.stderr
    assert time.monotonic() - t0 < 120


def test_second_uploader_on_the_same_state_steps_aside(tmp_path):
    root = tmp_path / "runs"
    make_run(root, rows=5)
    holder = State(str(tmp_path / "state"))
    try:
        out = upload_cmd([root], f"file://{tmp_path / 'remote'}", tmp_path / "state")
        assert out.returncode == 75
        assert f"another uploader (pid {os.getpid()})" in out.stderr
    finally:
        holder.close()
    assert upload_cmd([root], f"file://{tmp_path / 'remote'}", tmp_path / "state").returncode == 0


def test_exit_codes_summary_and_quiet(tmp_path):
    root = tmp_path / "runs"
    make_run(root, rows=5)
    make_run(root, run_id="r2", rows=5)
    to = f"file://{tmp_path / 'remote'}"
    out = upload_cmd([root], to, tmp_path / "state")
    assert out.returncode == 0 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()  # one summary line under cron
    assert line.endswith("runship upload: 2 runs seen, 2 uploaded, " + line.split("uploaded, ")[1])
    assert "0 failures" in line
    quiet = upload_cmd([root], to, tmp_path / "state", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""  # cron mails nothing when all is well
    missing = subprocess.run(
        [*RUNSHIP, "upload", str(root), "--state", str(tmp_path / "s2")], env=_env(), capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no upload target" in missing.stderr
    bad = upload_cmd([root], to, tmp_path / "state", "-o", "novalue")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    dry = upload_cmd([root], f"file://{tmp_path / 'other'}", tmp_path / "state3", "--dry-run")
    assert dry.returncode == 0 and "dry run: 2 files" in dry.stdout
    assert not (tmp_path / "other").exists() and not (tmp_path / "state3").exists()  # a dry run changes nothing


def test_config_file_and_environment(tmp_path):
    root = tmp_path / "runs"
    make_run(root, rows=5)
    cfg = tmp_path / "upload.ini"
    cfg.write_text(f"[upload]\nto = file://{tmp_path / 'from-file'}\nroots = {root}\n")
    out = subprocess.run(
        [*RUNSHIP, "upload", "--config", str(cfg), "--state", str(tmp_path / "s")],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "from-file" / "p" / "r1").is_dir()
    env = {"RUNSHIP_UPLOAD_TO": f"file://{tmp_path / 'from-env'}", "RUNSHIP_UPLOAD_ROOTS": str(root)}
    out = subprocess.run(
        [*RUNSHIP, "upload", "--state", str(tmp_path / "s2")], env=_env(env), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "from-env" / "p" / "r1").is_dir()
    cfg.write_text("[upload]\nbogus = 1\n")
    out = subprocess.run([*RUNSHIP, "upload", "--config", str(cfg)], env=_env(), capture_output=True, text=True)
    assert out.returncode == 2 and "unknown keys in [upload]: bogus" in out.stderr


def test_credentials_never_reach_logs_or_run_dirs(tmp_path, moto):
    root = tmp_path / "runs"
    make_run(root, rows=5)
    moto.create_bucket("secretive")
    env = {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV, "AWS_SECRET_ACCESS_KEY": "sup3rs3cret"}
    out = upload_cmd([root], "s3://secretive/runs", tmp_path / "state", "-v", "-o", "secret=sup3rs3cret", env=env)
    assert "sup3rs3cret" not in out.stderr + out.stdout
    for d, _, files in os.walk(tmp_path):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                assert b"sup3rs3cret" not in fh.read(), f


def test_status(tmp_path):
    root = tmp_path / "runs"
    make_run(root, rows=5)
    run2 = make_run(root, run_id="r2", rows=5, finish=False)
    to = f"file://{tmp_path / 'remote'}"
    upload_cmd([root], to, tmp_path / "state")
    run2.log({"loss": 0.0, "i": 99})
    run2.flush()
    out = subprocess.run(
        [*RUNSHIP, "status", str(root), "--to", to, "--state", str(tmp_path / "state"), "--json"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    import json

    rows = {r["id"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows["r2"]["uploaded_bytes"] < rows["r2"]["local_bytes"] and not rows["r2"]["complete"]
    assert rows["r1"]["state"] == "finished" and rows["r1"]["last_upload"] is not None
    asked = subprocess.run(
        [*RUNSHIP, "status", str(root), "--to", to, "--state", str(tmp_path / "state"), "--remote"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert asked.returncode == 0 and "r2" in asked.stdout
    run2.finish()


def test_online_mode_uploads_as_the_run_goes(tmp_path):
    remote_dir = tmp_path / "remote"
    code = f"""
        import runship, time
        run = runship.init(project="p", id="on", dir={str(tmp_path / "runs")!r}, mode="online",
                           settings={{"quiet": True, "upload_interval": 0.1, "flush_interval": 0.05}})
        for i in range(200):
            run.log({{"i": i}})
            time.sleep(0.005)
        run.finish()
        """
    env = {"RUNSHIP_UPLOAD_TO": f"file://{remote_dir}", "XDG_STATE_HOME": str(tmp_path / "xdg")}
    t0 = time.monotonic()
    child = popen_python(code, env=env)
    assert child.wait(60) == 0, child.stderr.read()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            view = runship.open_run(str(remote_dir / "p" / "on"))
            if view.state == "finished" and (remote_dir / "p" / "on" / "run.json").exists():
                break
        except runship.RunNotFound:
            pass
        time.sleep(0.1)
    assert_same(str(tmp_path / "runs" / "p" / "on"), runship.open_run(str(remote_dir / "p" / "on")))
    assert time.monotonic() - t0 < 60
    followers = _followers(tmp_path / "runs" / "p" / "on")
    _, alive = psutil.wait_procs(followers, timeout=30)
    assert alive == []  # the follower has exited


def _followers(run_dir) -> list:
    """The `runship upload --follow` processes following ``run_dir``."""
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "--follow" in cmd and str(run_dir) in cmd:
            out.append(proc)
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_online_mode_follower_ends_when_the_training_process_dies(tmp_path, sig):
    """--follow-pid reaches the follower: once the training process is gone
    (SIGKILL: no finish record ever comes), it makes one last pass and exits."""
    remote_dir = tmp_path / "remote"
    run_dir = tmp_path / "runs" / "p" / "dies"
    code = f"""
        import runship, time
        run = runship.init(project="p", id="dies", dir={str(tmp_path / "runs")!r}, mode="online",
                           settings={{"quiet": True, "upload_interval": 0.2, "environment": False, "console": "off"}})
        for i in range(50):
            run.log({{"i": i}})
        run.flush()
        print("ready", flush=True)
        time.sleep(600)
        """
    env = {"RUNSHIP_UPLOAD_TO": f"file://{remote_dir}", "XDG_STATE_HOME": str(tmp_path / "xdg")}
    child = popen_python(code, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        (follower,) = [c for c in psutil.Process(child.pid).children() if "--follow" in c.cmdline()]
        assert "--follow-pid" in follower.cmdline() and str(child.pid) in follower.cmdline()
        child.send_signal(sig)
        child.wait(30)
        follower.wait(60)  # ends by itself: psutil raises TimeoutExpired otherwise
    finally:
        if child.poll() is None:
            child.kill()
    assert [r["i"] for r in runship.open_run(str(remote_dir / "p" / "dies")).history()] == list(range(50))
    assert _followers(run_dir) == []


def test_online_mode_without_target_says_so(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import runship; runship.init(project='p', dir={str(tmp_path)!r}, mode='online').finish()",
        ],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "without an upload target" in out.stderr
