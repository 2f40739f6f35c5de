"""What broke when runship was tried as a new user would: one test per
defect found that way (numbers as in the report that found them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

import runship
from runship.cli import cli
from tests.conftest import RUNSHIP, child_env, upload_cmd
from tests.servers import S3_ENV, RunshipServer, free_port
from tests.uploader.test_conformance import make_run


def run_cli(*args, env=None, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUNSHIP, *map(str, args)], env=child_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# 1 -------------------------------------------------------------------------------------
def test_1_the_default_root_never_shadows_the_package(tmp_path):
    """A script run twice in the same directory: the default root is not an
    importable name, so the second run imports runship, not the root."""
    script = tmp_path / "train.py"
    script.write_text("import runship\nrun = runship.init(project='p', settings={'quiet': True})\nrun.log({'x': 1})\n")
    env = child_env()
    for _ in range(2):
        out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(tmp_path / "runship-runs" / "p")) and not (tmp_path / "runship").exists()


def test_1_a_root_that_would_shadow_the_package_is_refused(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import runship\nrunship.init(project='p', dir='runship', settings={'quiet': True})\n")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert out.returncode == 1 and "would be imported instead of the runship package" in out.stderr
    assert not (tmp_path / "runship").exists()
    # RUNSHIP_DIR/WANDB_DIR still choose the root
    script.write_text("import runship\nrunship.init(project='p', settings={'quiet': True}).finish()\n")
    env = child_env({"WANDB_DIR": str(tmp_path / "elsewhere")})
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and (tmp_path / "elsewhere" / "p").is_dir()


# 3, 4, 5 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("to", ["s3:/lab-runs", "backup", "ftpp://host/x"])
def test_3_a_mistyped_target_is_a_usage_error(tmp_path, to):
    make_run(tmp_path / "runs", rows=2)
    out = run_cli("upload", tmp_path / "runs", "--to", to, "--state", tmp_path / "state", cwd=tmp_path)
    assert out.returncode == 2 and repr(to) in out.stderr
    assert sorted(os.listdir(tmp_path)) == ["runs"]  # no ./s3:/lab-runs, no state


def test_4_a_missing_root_fails(tmp_path):
    out = run_cli("upload", tmp_path / "nope", "--to", f"file://{tmp_path / 'r'}", "--state", tmp_path / "s")
    assert out.returncode == 1 and f"no run root at {tmp_path / 'nope'}" in out.stderr


def test_5_interval_and_modes_are_validated(tmp_path):
    base = ["upload", tmp_path, "--to", f"file://{tmp_path / 'r'}", "--state", tmp_path / "s"]
    out = run_cli(*base, "--watch", "--interval", "-1")
    assert out.returncode == 2 and "--interval" in out.stderr
    out = run_cli(*base, "--watch", "--once")
    assert out.returncode == 2 and "choose one" in out.stderr


# 6 -------------------------------------------------------------------------------------
def test_6_network_and_storage_errors_are_one_line(tmp_path):
    make_run(tmp_path / "runs", rows=2)
    port = free_port()
    out = run_cli("upload", tmp_path / "runs", "--to", f"ftp://127.0.0.1:{port}/x", "--state", tmp_path / "s")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert f"ftp://127.0.0.1:{port}/x" in line and "ConnectionRefusedError" in line
    env = {**S3_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    out = run_cli("ls", "s3://bucket", env=env, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("Error: s3://bucket: ") and str(port) in line
    verbose = run_cli("-v", "ls", "s3://bucket", env=env, timeout=120)
    assert "Traceback" in verbose.stderr  # -v shows it


# 7 -------------------------------------------------------------------------------------
def test_7_status_takes_the_uploaders_configuration(tmp_path):
    root = tmp_path / "runs"
    make_run(root, rows=3)
    cfg = tmp_path / "upload.ini"
    cfg.write_text(f"[upload]\nto = file://{tmp_path / 'remote'}\nroots = {root}\nstate = {tmp_path / 'state'}\n")
    assert run_cli("upload", "--config", cfg).returncode == 0
    out = run_cli("status", "--config", cfg, "--json")
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 0 and row["id"] == "r1" and row["complete"] and row["upload"] == "complete"
    env = {"RUNSHIP_UPLOAD_ROOTS": str(root), "RUNSHIP_UPLOAD_TO": f"file://{tmp_path / 'remote'}"}
    out = run_cli("status", "--state", tmp_path / "state", "--json", env=env)
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == ["r1"]


# 8 -------------------------------------------------------------------------------------
def test_8_ls_and_show_agree_on_the_last_write_of_a_copied_run(tmp_path):
    run = make_run(tmp_path / "runs", rows=3)
    time.sleep(1.1)
    shutil.copytree(tmp_path / "runs", tmp_path / "copy")  # new mtimes
    (row,) = [json.loads(line) for line in run_cli("ls", tmp_path / "copy", "--json").stdout.splitlines()]
    shown = json.loads(run_cli("show", tmp_path / "copy" / "p" / "r1", "--json").stdout)
    assert row["last_write"] == shown["last_write"] == runship.open_run(run.run_dir).last_write


# 9 -------------------------------------------------------------------------------------
def _as_nobody(args: list[str]) -> subprocess.CompletedProcess:
    """``runship ARGS`` as a user that permissions stop (root ignores them):
    imports first, then the privileges go (the checkout may be 0700)."""
    drop = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else ""
    code = (
        "import os, sys, configparser, json, csv, datetime, shutil, traceback, fsspec, importlib, pkgutil\n"
        "import runship.cli, runship.reader, runship.store, runship.uploader\n"
        "for pkg in (runship.reader, runship.store, runship.uploader):\n"
        "    for mod in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(mod.name)\n"
        f"{drop}\nsys.argv = ['runship', *{args!r}]\nrunship.cli.main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)


def test_9_an_unreadable_run_directory_says_permission_denied():
    import tempfile

    base = tempfile.mkdtemp(prefix="runship-perm-")  # not under pytest's 0700 tree
    try:
        os.chmod(base, 0o755)
        run = make_run(os.path.join(base, "runs"), rows=2)
        make_run(os.path.join(base, "runs"), run_id="r2", rows=2)
        for d, _, _ in os.walk(base):
            os.chmod(d, 0o755)
        os.chmod(run.run_dir, 0)
        ls = _as_nobody(["ls", os.path.join(base, "runs")])
        assert ls.returncode == 0, ls.stderr
        (r1,) = [line for line in ls.stdout.splitlines() if " r1 " in line]
        assert "unreadable" in r1 and "ermission denied" in r1
        assert " r2 " in ls.stdout
        show = _as_nobody(["show", run.run_dir])
        assert show.returncode == 1 and "permission denied" in show.stderr.lower() and run.run_dir in show.stderr
    finally:
        for d, _, _ in os.walk(base):
            os.chmod(d, 0o755)
        shutil.rmtree(base)


# 10 ------------------------------------------------------------------------------------
@pytest.fixture
def mixed_run(make_run):
    run = make_run(id="mix")
    run.log({"loss": 1.0})
    run.log({"loss": 0.5, "acc": 0.7})
    run.log({"acc": 0.8})
    run.finish()
    return run


def test_10_keys_means_all_of_them_everywhere(mixed_run):
    expected = [(1, 0.5, 0.7)]
    view = runship.open_run(mixed_run.run_dir)
    assert [(r["_step"], r["loss"], r["acc"]) for r in view.history(keys=["loss", "acc"])] == expected
    api_rows = (
        runship.Api(os.path.dirname(os.path.dirname(mixed_run.run_dir)))
        .run("p/mix")
        .history(keys=["loss", "acc"], pandas=False)
    )
    assert [(r["_step"], r["loss"], r["acc"]) for r in api_rows] == expected
    out = CliRunner().invoke(cli, ["history", mixed_run.run_dir, "--keys", "loss,acc", "--format", "jsonl"])
    assert [(r["_step"], r["loss"], r["acc"]) for r in map(json.loads, out.output.splitlines())] == expected
    out = CliRunner().invoke(cli, ["history", mixed_run.run_dir, "--keys", "loss,acc", "--any", "--format", "jsonl"])
    assert [r["_step"] for r in map(json.loads, out.output.splitlines())] == [0, 1, 2]
    assert [r["_step"] for r in view.history(keys=["loss", "acc"], match="any")] == [0, 1, 2]


def test_10_unknown_keys_are_named(mixed_run):
    out = run_cli("history", mixed_run.run_dir, "--keys", "loss,lss")
    assert out.returncode == 0 and "no key 'lss' in this run" in out.stderr and "loss" in out.stderr
    out = run_cli("system", mixed_run.run_dir, "--keys", "cpuu")
    assert "no key 'cpuu'" in out.stderr


# 11 ------------------------------------------------------------------------------------
def test_11_no_token_and_refused_token_are_told_apart_once_per_pass(tmp_path):
    root = tmp_path / "runs"
    for i in range(3):
        make_run(root, run_id=f"r{i}", rows=2)
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        none = upload_cmd([root], server.url, tmp_path / "s1")
        assert none.returncode == 1
        assert none.stderr.count("needs a token and none was given") == 1 and "--token-file" in none.stderr
        wrong = upload_cmd([root], server.url, tmp_path / "s2", env={"RUNSHIP_TOKEN": "x" * 20})
        assert wrong.returncode == 1 and wrong.stderr.count("refused the token") == 1
    finally:
        server.stop()


# 12 ------------------------------------------------------------------------------------
def test_12_a_closed_pipe_ends_quietly(mixed_run):
    stream = next(n for n in os.listdir(mixed_run.run_dir) if n.startswith("run-"))
    path = os.path.join(mixed_run.run_dir, stream)
    for args in (["cat", "--raw", path], ["cat", path], ["history", mixed_run.run_dir, "--format", "jsonl"]):
        pipe = subprocess.Popen([*RUNSHIP, *args], env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pipe.stdout.readline()
        pipe.stdout.close()  # as `| head -1` does
        err = pipe.stderr.read().decode()
        assert pipe.wait(30) in (0, 141) and err == "", (args, err)


# 13: --dry-run changes nothing: tests/uploader/test_processes.py::test_exit_codes_summary_and_quiet


# 14 ------------------------------------------------------------------------------------
def test_14_every_reading_command_reads_from_a_runship_server(tmp_path, mixed_run):
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        root = os.path.dirname(os.path.dirname(mixed_run.run_dir))
        assert (
            upload_cmd([root], server.url, tmp_path / "s", env={"RUNSHIP_TOKEN": RunshipServer.TOKEN}).returncode == 0
        )
        token = tmp_path / "read-token"
        token.write_text(RunshipServer.READ_TOKEN)
        token.chmod(0o600)
        url = f"{server.url}/p/mix"
        ls = run_cli("--token-file", token, "ls", server.url)
        assert ls.returncode == 0 and "mix" in ls.stdout and "finished" in ls.stdout, ls.stderr
        for command in (["show", url], ["history", url], ["verify", url], ["system", url], ["console", url]):
            out = run_cli("--token-file", token, *command)
            assert out.returncode == 0, (command, out.stderr)
        history = run_cli("history", url, "--format", "jsonl", env={"RUNSHIP_TOKEN": RunshipServer.READ_TOKEN})
        assert [json.loads(line)["_step"] for line in history.stdout.splitlines()] == [0, 1, 2]
        assert (
            runship.open_run(url, storage_options={"token": RunshipServer.READ_TOKEN}).history()
            == runship.open_run(mixed_run.run_dir).history()
        )
        refused = run_cli("ls", server.url)
        assert refused.returncode == 1 and "needs a token" in refused.stderr
    finally:
        server.stop()


# 15, 16 ------------------------------------------------------------------------------------
def test_15_a_run_whose_script_raised_reads_failed(tmp_path):
    script = "import runship\nrunship.init(project='p', id='boom', settings={'quiet': True})\nraise ValueError('x')\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert out.returncode == 1
    run_dir = tmp_path / "runship-runs" / "p" / "boom"
    ls = run_cli("ls", tmp_path / "runship-runs")
    assert "failed (" in ls.stdout and "finished" not in ls.stdout
    assert runship.open_run(run_dir).state == "failed"


def test_15_status_says_a_crashed_run_is_uploaded(tmp_path):
    run = make_run(tmp_path / "runs", rows=3, finish=False)
    run._forked()  # as a killed process leaves it
    to = f"file://{tmp_path / 'remote'}"
    assert upload_cmd([tmp_path / "runs"], to, tmp_path / "s").returncode == 0
    env = {"RUNSHIP_UPLOAD_TO": to}
    view = runship.open_run(run.run_dir, stale_after=0)
    assert view.state == "crashed"
    out = run_cli("status", tmp_path / "runs", "--state", tmp_path / "s", "--json", env=env)
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert row["uploaded_bytes"] == row["local_bytes"] and row["upload"].startswith("uploaded")


def test_16_a_live_run_says_how_old_its_last_write_is(make_run):
    run = make_run(id="live")
    run.log({"x": 1})
    run.flush()
    root = os.path.dirname(os.path.dirname(run.run_dir))
    out = CliRunner().invoke(cli, ["ls", root])
    assert "running (last write " in out.output and " s ago)" in out.output
    out = CliRunner().invoke(cli, ["show", run.run_dir])
    assert "read as crashed once no write for 92 s" in out.output


# 17 ------------------------------------------------------------------------------------
def test_17_history_shows_times_and_the_last_rows(mixed_run):
    out = CliRunner().invoke(cli, ["history", mixed_run.run_dir, "--last", "2"])
    lines = out.output.splitlines()
    assert len(lines) == 3 and lines[1].split()[0] == "1" and lines[2].split()[0] == "2"
    stamp = lines[1].split()[1]
    assert stamp[4] == "-" and "T" in stamp and "e+09" not in out.output  # ISO 8601
    csv_out = CliRunner().invoke(cli, ["history", mixed_run.run_dir, "--format", "csv"]).output
    assert csv_out.splitlines()[1].split(",")[1].startswith("17")  # machine formats keep seconds


# docs that said something else than the program ------------------------------------------
def test_online_mode_says_one_thing(tmp_path):
    code = (
        "import runship\n"
        f"run = runship.init(project='p', id='o', dir={str(tmp_path / 'runs')!r}, mode='online',"
        " settings={'environment': False, 'console': 'off'})\n"
        "run.finish(quiet=True)\n"
    )
    env = child_env({"RUNSHIP_UPLOAD_TO": f"file://{tmp_path / 'remote'}", "XDG_STATE_HOME": str(tmp_path / "x")})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "uploading as it goes" in out.stderr and "ship it with" not in out.stderr


def test_disable_stats_turns_off_what_the_readme_says(tmp_path):
    code = (
        "import runship\n"
        f"run = runship.init(project='p', id='s', dir={str(tmp_path)!r}, settings={{'quiet': True}})\n"
        "print(run.settings.system_metrics, run.settings.console, run.settings.environment)\n"
        "run.finish()\n"
    )
    env = child_env({"RUNSHIP_DISABLE_STATS": "1"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "auto", "True"]  # system metrics only, as the README says
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    assert "`RUNSHIP_DISABLE_STATS=1` (or wandb's `WANDB_X_DISABLE_STATS`) turns off the\nsystem metrics only" in readme
