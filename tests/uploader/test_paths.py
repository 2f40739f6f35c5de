"""Issue 25, item 1: ``runship upload`` and ``runship export`` are given a
root, a project directory or a run directory, and ship its runs under the
same ``<project>/<run>`` names as from the root; any other path is one error
line naming what it is, and a one-shot pass that finds no runs exits non-zero
(cron must notice a wrong path)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import RUNSHIP, child_env
from tests.uploader.test_conformance import make_run


def cli(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*RUNSHIP, *map(str, args)], env=child_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A root with two projects: mnist (r1, r2) and cifar (c1)."""
    root = tmp_path_factory.mktemp("paths") / "runship-runs"
    make_run(root, "r1", project="mnist", rows=3)
    make_run(root, "r2", project="mnist", rows=3)
    make_run(root, "c1", project="cifar", rows=3)
    return root


def uploaded(remote) -> list[str]:
    """``project/run`` directories in a file:// target."""
    if not remote.exists():
        return []
    return sorted(f"{p}/{r}" for p in os.listdir(remote) for r in os.listdir(remote / p))


@pytest.mark.parametrize(
    "rel, expected",
    [
        (".", ["cifar/c1", "mnist/r1", "mnist/r2"]),
        ("mnist", ["mnist/r1", "mnist/r2"]),
        ("mnist/r2", ["mnist/r2"]),
    ],
    ids=["root", "project", "run"],
)
def test_upload_of_a_root_a_project_or_a_run_directory(root, tmp_path, rel, expected):
    remote = tmp_path / "remote"
    out = cli("upload", root / rel, "--to", f"file://{remote}", "--state", tmp_path / "state")
    assert out.returncode == 0, out.stderr
    assert uploaded(remote) == expected  # the same <project>/<run> names as from the root
    assert f"{len(expected)} runs seen, {len(expected)} uploaded" in out.stderr
    for name in expected:
        assert any(n.startswith("run") for n in os.listdir(remote / name)), os.listdir(remote / name)


@pytest.mark.parametrize(
    "rel, expected",
    [
        (".", ["cifar", "mnist"]),
        ("mnist", ["mnist"]),
        ("mnist/r2", ["mnist"]),
    ],
    ids=["root", "project", "run"],
)
def test_export_of_a_root_a_project_or_a_run_directory(root, tmp_path, rel, expected):
    dest = tmp_path / "lake"
    out = cli("export", root / rel, "--to", f"parquet:{dest}", "--state", tmp_path / "state")
    assert out.returncode == 0, out.stderr
    runs = {"root": 3, "mnist": 2, "mnist/r2": 1}["root" if rel == "." else rel]
    assert f"{runs} run(s) with new rows" in out.stdout
    assert sorted(os.listdir(dest)) == expected


def test_a_directory_inside_a_run_is_an_error_naming_the_run(root, tmp_path):
    inside = root / "mnist" / "r1" / "files"
    assert inside.is_dir()
    for quiet in ([], ["-q"]):
        out = cli("upload", inside, "--to", f"file://{tmp_path / 'remote'}", "--state", tmp_path / "state", *quiet)
        assert out.returncode == 2, out.stderr
        assert str(root / "mnist" / "r1") in out.stderr and "inside the run directory" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert not (tmp_path / "remote").exists() or uploaded(tmp_path / "remote") == []
    out = cli("export", inside, "--to", f"parquet:{tmp_path / 'lake'}", "--state", tmp_path / "state")
    assert out.returncode == 2 and "inside the run directory" in out.stderr, out.stderr
    assert not (tmp_path / "lake").exists()


def test_a_path_with_no_runs_fails_a_one_shot_pass_even_quiet(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a").mkdir()
    (tmp_path / "notes" / "a" / "readme.txt").write_text("not a run")
    for path in (tmp_path / "empty", tmp_path / "notes"):
        for quiet in ([], ["-q"]):
            out = cli("upload", path, "--to", f"file://{tmp_path / 'remote'}", "--state", tmp_path / "state", *quiet)
            assert out.returncode == 1, out.stderr
            assert f"no runs at {path}" in out.stderr and "give " in out.stderr, out.stderr
        out = cli("export", path, "--to", f"parquet:{tmp_path / 'lake'}", "--state", tmp_path / "state")
        assert out.returncode == 1 and f"no runs at {path}" in out.stderr, out.stderr


def test_a_missing_path_is_an_error_quiet_or_not_and_at_the_start_of_watch(tmp_path):
    nope = tmp_path / "nope"
    base = ["upload", nope, "--to", f"file://{tmp_path / 'remote'}", "--state", tmp_path / "state"]
    out = cli(*base, "-q")
    assert out.returncode == 1 and f"no run root at {nope}" in out.stderr, out.stderr
    # a daemon given a typo stops at once, not polling a path that will never hold runs
    out = cli(*base, "--watch", "--interval", "1", timeout=30)
    assert out.returncode == 2 and f"no run root at {nope}" in out.stderr, out.stderr


def test_watch_keeps_an_empty_root(tmp_path):
    """A fresh root (runs come later) is fine for a daemon: a follow run
    that appears after the daemon started is uploaded and ends it."""
    root = tmp_path / "runs"
    root.mkdir()
    remote = tmp_path / "remote"
    watch = ["--watch", "--interval", "1", "--run", root / "p" / "r1", "--follow"]
    proc = subprocess.Popen(
        [*RUNSHIP, "upload", root, "--to", f"file://{remote}", "--state", tmp_path / "state", *watch],
        env=child_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        make_run(root, "r1", project="p", rows=3)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert uploaded(remote) == ["p/r1"]


def test_status_of_a_project_directory(root, tmp_path):
    """``runship status`` takes the same paths as ``runship upload``."""
    remote = tmp_path / "remote"
    assert cli("upload", root / "mnist", "--to", f"file://{remote}", "--state", tmp_path / "s").returncode == 0
    out = cli("status", root / "mnist", "--to", f"file://{remote}", "--state", tmp_path / "s", "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted((r["project"], r["id"], r["upload"]) for r in rows) == [
        ("mnist", "r1", "complete"),
        ("mnist", "r2", "complete"),
    ]
    out = cli("status", root / "mnist" / "r1" / "files", "--to", f"file://{remote}", "--state", tmp_path / "s")
    assert out.returncode != 0 and "inside the run directory" in out.stderr, out
