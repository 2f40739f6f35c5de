"""Destinations and roots given on the command line (issue 25, items 3, 4,
9, 12): one parser for every place a command is given, each root of the
UI checked at start and isolated at run time, a TLS mismatch said as such,
an unknown project or config section named."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import RUNSHIP, child_env
from tests.uploader.test_conformance import make_run


def run_cli(*args, env=None, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUNSHIP, *map(str, args)], env=child_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# 3 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dest", ["s3:/x", "htp://x/y", "s3://", "file:/x"])
def test_3_export_refuses_a_malformed_destination(tmp_path, dest):
    """``export --to parquet:s3:/x`` used to write ./s3:/x/... and say it had
    exported: a malformed URL is a usage error naming it, and nothing is made."""
    make_run(tmp_path / "runs", rows=2)
    out = run_cli("export", tmp_path / "runs", "--to", f"parquet:{dest}", "--state", tmp_path / "s", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert repr(dest) in out.stderr and "s3://bucket/prefix" in out.stderr  # the bad value and the form wanted
    assert sorted(os.listdir(tmp_path)) == ["runs"]


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "s3:/x"],
        ["--root", "htp://x", "ls"],
        ["--root", "s3:/x", "show", "p/r1"],
        ["serve", "--root", "s3:/x", "--no-auth"],
        ["upload", "runs", "--to", "s3:/x"],
        ["upload", "runs", "--to", "gs://"],
        ["status", "runs", "--to", "s3:/x"],
    ],
)
def test_3_every_command_refuses_a_malformed_root_or_target(tmp_path, args):
    """The same parser for every root and target: exit 2, the value named."""
    make_run(tmp_path / "runs", rows=2)
    full = [*args, *(["--state", tmp_path / "s"] if args[0] == "upload" else [])]
    out = run_cli(*full, cwd=tmp_path, timeout=30)
    bad = next(a for a in args if ":" in a)
    assert out.returncode == 2 and repr(bad) in out.stderr, out.stdout + out.stderr
    assert sorted(os.listdir(tmp_path)) == ["runs"]


# 12 ------------------------------------------------------------------------------------
def test_12_ls_of_an_unknown_project_names_the_projects(tmp_path):
    """``ls --project nonexist`` said "no runs under ROOT" (exit 0) while
    other projects had runs: the project is unknown, and the others are named."""
    make_run(tmp_path / "runs", project="mnist", rows=2)
    make_run(tmp_path / "runs", project="cifar", run_id="r2", rows=2)
    out = run_cli("ls", tmp_path / "runs", "--project", "mnsit")
    assert out.returncode == 1
    assert "no project 'mnsit'" in out.stderr and "cifar, mnist" in out.stderr
    assert "r2" in run_cli("ls", tmp_path / "runs", "--project", "cifar").stdout


def test_12_an_unknown_config_section_is_named(tmp_path):
    """An ``[uplaod]`` section was ignored: its settings silently unread."""
    make_run(tmp_path / "runs", rows=2)
    config = tmp_path / "upload.ini"
    config.write_text(f"[uplaod]\nto = file://{tmp_path / 'remote'}\n")
    out = run_cli("upload", tmp_path / "runs", "--config", config, "--state", tmp_path / "s")
    assert out.returncode == 2, out.stderr
    assert "[uplaod]" in out.stderr and "[upload], [storage_options]" in out.stderr
    assert not (tmp_path / "remote").exists()


# 9 -------------------------------------------------------------------------------------
def test_9_https_to_a_plain_http_server_says_tls_failed(tmp_path):
    """``upload --to https://`` at a plain-http ``runship serve`` retried an
    SSL error 4 times a run and then said the target "is not answering": a
    TLS failure is said once, as such, with the http:// URL to use instead."""
    from tests.servers import RunshipServer

    for i in range(3):
        make_run(tmp_path / "runs", run_id=f"r{i}", rows=2)
    server = RunshipServer(str(tmp_path / "stored"), str(tmp_path)).start()
    try:
        tokens = tmp_path / "token"
        tokens.write_text(RunshipServer.TOKEN)
        tokens.chmod(0o600)
        to = f"https://127.0.0.1:{server.port}"
        out = run_cli("upload", tmp_path / "runs", "--to", to, "--state", tmp_path / "s", "--token-file", tokens)
        log = server.log()
    finally:
        server.stop()
    assert out.returncode == 1, out.stderr
    assert "TLS failed" in out.stderr and f"use http://127.0.0.1:{server.port}" in out.stderr
    assert "not answering" not in out.stderr and "attempts" not in out.stderr
    assert out.stderr.count("TLS failed") == 1  # once for the pass, not once a run
    assert log.count("Invalid HTTP request") == 1, log  # one handshake tried, not retried


# 4 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "roots", [["/nonexistent/runs"], ["s3:/x"], ["GOOD", "htp://x"], ["GOOD", "GOOD/p/r1/run.json"]]
)
def test_4_ui_checks_each_root_at_start(tmp_path, roots):
    """``runship ui /nonexistent`` and ``runship ui s3:/x`` started and showed
    an empty table; ``runship ui ROOT htp://x`` started and answered every
    listing with 400. Each root is checked at start: exit 2, the root named."""
    make_run(tmp_path / "runs", rows=2)
    roots = [r.replace("GOOD", str(tmp_path / "runs")) for r in roots]
    out = run_cli("ui", *roots, "--no-token", timeout=20)
    assert out.returncode == 2, out.stderr
    assert repr(roots[-1]) in out.stderr


@pytest.mark.heavy  # a real-process story of ~10 s: `make test-heavy` (make test stays under 4 minutes here)
def test_4_a_root_that_fails_at_run_time_is_shown_and_the_others_still_listed(tmp_path):
    """A server root that goes away, a local root removed: each is an error
    in the listing's answer (and on the page), the other roots' runs listed."""
    import json
    import shutil

    from tests.servers import RunshipServer, UIServer
    from tests.test_ui_api import call

    for name in ("runs", "gone", "served"):
        make_run(tmp_path / name, project=name, run_id="r1", rows=2)
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path), no_auth=True).start()
    ui = UIServer([str(tmp_path / "runs"), str(tmp_path / "gone"), server.url], str(tmp_path)).start()
    try:
        status, _, body = call(ui, "/ui/api/runs", token=UIServer.TOKEN)
        assert status == 200 and {r["project"] for r in json.loads(body)["runs"]} == {"runs", "gone", "served"}
        server.stop()
        shutil.rmtree(tmp_path / "gone")
        status, _, body = call(ui, "/ui/api/runs", token=UIServer.TOKEN)
        assert status == 200, body[:500]
        answer = json.loads(body)
        assert [r["project"] for r in answer["runs"]] == ["runs"]
        failed = {e["root"]: e["error"] for e in answer["errors"]}
        assert set(failed) == {str(tmp_path / "gone"), server.url}
        assert "no run root" in failed[str(tmp_path / "gone")] and "Connection refused" in failed[server.url]
    finally:
        ui.stop()
        server.stop()
