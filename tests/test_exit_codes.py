"""Exit codes of real ``runship`` processes (README, "Exit codes"): a
signal's rule (SIGINT: 130 and one line saying what was left; SIGTERM: 143,
or 0 for a command that runs until stopped) and bad arguments (2)."""

from __future__ import annotations

import signal
import subprocess

import pytest

from runship.reader.listing import list_runs
from tests.conftest import RUNSHIP, child_env, popen_python, upload_cmd, upload_popen
from tests.servers import FaultyHttpProxy, RunshipServer, UIServer


def _make_runs(root, n: int) -> None:
    import runship

    for i in range(n):
        run = runship.init(
            project="p",
            id=f"r{i:02d}",
            dir=str(root),
            reinit="create_new",
            settings={"quiet": True, "environment": False, "console": "off"},
        )
        for step in range(50):
            run.log({"x": step})
        run.finish(quiet=True)


def _interrupted(code: int, err: str, command: str, sig=signal.SIGINT) -> str:
    """The one line a signal's end says; checks the rest of the rule."""
    assert code == 128 + sig, err
    assert "Aborted!" not in err and "Traceback" not in err, err
    how = "interrupted" if sig == signal.SIGINT else f"stopped by {sig.name}"
    (line,) = [x for x in err.splitlines() if x.startswith(f"runship {command}: {how}")]
    return line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_on_runship_ui(tmp_path, sig):
    _make_runs(tmp_path / "runs", 1)
    ui = UIServer([str(tmp_path / "runs")], str(tmp_path)).start()
    code = ui.kill(sig)
    if sig == signal.SIGINT:
        _interrupted(code, ui.log(), "ui")
    else:  # a server's stop
        assert code == 0 and "runship ui: stopped (SIGTERM)" in ui.log() and "Traceback" not in ui.log()


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)])
def test_ctrl_c_and_sigterm_on_runship_serve(tmp_path, sig, workers):
    """SIGTERM is how systemd stops a server: a clean stop, exit 0. With
    workers, their supervisor's stop says the same."""
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--workers", str(workers)]).start()
    code = server.kill(sig)
    if sig == signal.SIGINT:
        _interrupted(code, server.log(), "serve")
    else:
        assert code == 0, server.log()
        assert "runship serve: stopped (SIGTERM)" in server.log() and "Traceback" not in server.log()


def test_ctrl_c_on_console_follow(tmp_path):
    root = tmp_path / "runs"
    writer = popen_python(
        f"""
        import runship, time
        run = runship.init(project="p", id="live", dir={str(root)!r}, settings={{"quiet": True, "environment": False}})
        print("hello", flush=True)
        run.flush()
        time.sleep(600)
        """
    )
    try:
        assert writer.stdout.readline().strip() == "hello"
        follow = subprocess.Popen(
            [*RUNSHIP, "--root", str(root), "console", "--follow", "p/live"],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout.readline().strip() == "hello"  # following now
        follow.send_signal(signal.SIGINT)
        out, err = follow.communicate(timeout=60)
    finally:
        writer.kill()
        writer.wait()
    _interrupted(follow.returncode, err, "console")


def test_ctrl_c_on_upload_watch(tmp_path):
    _make_runs(tmp_path / "runs", 2)
    watcher = upload_popen([tmp_path / "runs"], f"file://{tmp_path / 'remote'}", tmp_path / "state", "--watch")
    line = watcher.stderr.readline()
    while line and "runs seen" not in line:  # the first pass is over
        line = watcher.stderr.readline()
    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=60)
    assert "between passes, nothing left unfinished" in _interrupted(watcher.returncode, err, "upload")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_shot_upload_interrupted_mid_pass(tmp_path, sig):
    """Against a slow server: the pass ends after the object in flight, says
    how far it got, counts no failure, and the next pass finishes the job."""
    _make_runs(tmp_path / "runs", 10)
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    proxy = FaultyHttpProxy(server.port, rate=1.0, delay=0.3)
    proxy.faults = ("delay",)  # every request answered, slowly
    env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN}
    try:
        up = upload_popen([tmp_path / "runs"], proxy.endpoint, tmp_path / "state", "-v", env=env)
        line = up.stderr.readline()
        while line and "bytes to" not in line:  # a run's bytes went up: mid-pass
            line = up.stderr.readline()
        up.send_signal(sig)
        _, err = up.communicate(timeout=120)
        said = _interrupted(up.returncode, err, "upload", sig)
        assert " of 10 runs done" in said and "the next pass goes on from there" in said
        assert "failures" not in err
        proxy.rate = 0.0  # the same target, quick now
        again = upload_cmd([tmp_path / "runs"], proxy.endpoint, tmp_path / "state", env=env)
        assert again.returncode == 0 and "0 failures" in again.stderr, again.stderr
    finally:
        proxy.stop()
        server.stop()
    served = list_runs(str(tmp_path / "served"), None, {}, cache=False)
    assert sorted((r["id"], r["steps"]) for r in served) == [(f"r{i:02d}", 50) for i in range(10)]


BAD_ARGUMENTS = [
    # (arguments, what the error names); ROOT: a root holding a run, REMOTE: a place to write to
    (["status", "ROOT"], "give --to URL"),
    (["status", "ROOT", "--to", "s3:/x"], "'--to': 's3:/x'"),
    (["export", "ROOT", "--to", "nonsense:x"], "--to 'nonsense:x': give KIND:DEST"),
    (["export", "ROOT", "--to", "parquet:REMOTE", "--since", "soon"], "--since 'soon'"),
    (["serve", "--root", "ROOT"], "give --token-file"),
    (["serve", "--root", "ROOT", "--no-auth", "--host", "0.0.0.0"], "--no-auth is refused on 0.0.0.0"),
    (["serve", "--root", "ROOT", "--no-auth", "--cert", "c.pem"], "both --cert and --key"),
    (["serve", "--root", "ROOT", "--no-auth", "--port", "70000"], "'--port'"),
    (["ui", "ROOT", "--no-token", "--host", "0.0.0.0"], "--no-token is refused on 0.0.0.0"),
    (["-o", "endpoint", "ls", "ROOT"], "--storage-option takes KEY=VALUE"),
    (["upload", "ROOT", "--to", "file://REMOTE", "--pass-timeout", "0"], "'--pass-timeout'"),
    (["upload", "ROOT", "--to", "file://REMOTE", "--secrets-fd", "99"], "--secrets-fd 99"),
    (["cat", "ROOT/p/r00/run.json"], "not named like a stream file"),
]


@pytest.mark.parametrize(("args", "named"), BAD_ARGUMENTS, ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_bad_arguments_exit_2_naming_the_option(tmp_path, args, named):
    _make_runs(tmp_path / "runs", 1)
    argv = [a.replace("ROOT", str(tmp_path / "runs")).replace("REMOTE", str(tmp_path / "remote")) for a in args]
    env = child_env({"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")})
    out = subprocess.run([*RUNSHIP, *argv], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    (error,) = [line for line in out.stderr.splitlines() if line.startswith("Error: ")]
    assert named in error and str(tmp_path / "runs") + ":" not in error, out.stderr  # not the source's fault
    assert "Usage: runship" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args", [["show", "p/nosuch"], ["sweep", "status", "p/nosuch"], ["status", "ROOT", "--to", "http://127.0.0.1:9"]]
)
def test_what_fails_at_run_time_still_exits_1(tmp_path, args):
    """Not a bad argument: what names nothing there, or a target down."""
    _make_runs(tmp_path / "runs", 1)
    argv = ["--root", str(tmp_path / "runs"), *[str(tmp_path / "runs") if a == "ROOT" else a for a in args]]
    if args[0] == "status":
        argv += ["--remote"]
    out = subprocess.run([*RUNSHIP, *argv], env=child_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_on_export_watch(tmp_path, sig):
    """SIGINT: 130; SIGTERM: the daemon's stop, 0."""
    _make_runs(tmp_path / "runs", 1)
    lake = f"parquet:{tmp_path / 'lake'}"
    argv = [*RUNSHIP, "export", str(tmp_path / "runs"), "--to", lake, "--state", str(tmp_path / "s"), "--watch"]
    proc = subprocess.Popen(argv, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("exported to ")  # the first export is over
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert "between exports, nothing left unfinished" in _interrupted(proc.returncode, err, "export")
    else:
        assert proc.returncode == 0 and "Traceback" not in err, err
