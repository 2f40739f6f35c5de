"""``runship artifact``: ls, show, get, put, alias, gc over real files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from runship.cli import cli
from runship.schema import artifacts as sa
from runship.store.artifacts import ArtifactStore, LocalArea
from tests.conftest import RUNSHIP, child_env


def invoke(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), "artifact", *map(str, args)], catch_exceptions=False)


def write(path, data: bytes | str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    write(d / "train.csv", "a,b\n1,2\n")
    write(d / "sub" / "labels.txt", "cat\ndog\n")
    return d


def read_tree(d) -> dict[str, bytes]:
    out = {}
    for top, _, files in os.walk(d):
        for f in files:
            p = os.path.join(top, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d).replace(os.sep, "/")] = fh.read()
    return out


def test_put_ls_show_get(tmp_path, data_dir, root):
    out = invoke(root, "put", data_dir, "--name", "mnist", "--type", "dataset", "--project", "vision",
                 "--alias", "raw", "--description", "the digits", "--metadata", '{"rows": 2}')  # fmt: skip
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == "vision/mnist:v0"
    assert "new version (2 files" in out.stderr
    again = invoke(root, "put", data_dir, "--name", "mnist", "--type", "dataset", "--project", "vision")
    assert again.stdout.strip() == "vision/mnist:v0" and "no new version" in again.stderr
    write(data_dir / "extra.bin", b"\0" * 10)
    assert invoke(
        root, "put", data_dir, "--name", "mnist", "--type", "dataset", "--project", "vision"
    ).stdout.strip() == ("vision/mnist:v1")

    ls = invoke(root, "ls")
    assert ls.exit_code == 0
    header, row = ls.stdout.splitlines()
    assert header.split() == ["PROJECT", "NAME", "TYPE", "VERSIONS", "LATEST", "ALIASES", "SIZE"]
    assert row.split() == ["vision", "mnist", "dataset", "2", "v1", "raw:v0", "26", "B"]
    (doc,) = [json.loads(line) for line in invoke(root, "ls", "vision", "--json").stdout.splitlines()]
    assert doc == {"project": "vision", "name": "mnist", "type": "dataset", "versions": 2, "latest": "v1",
                   "aliases": {"raw": "v0"}, "size": 26, "problems": []}  # fmt: skip

    show = invoke(root, "show", "mnist:raw")  # the one project holding it
    assert show.exit_code == 0
    text = show.stdout
    assert text.splitlines()[0] == "vision/mnist:v0"
    assert "aliases:     raw" in text and "the digits" in text and '{"rows": 2}' in text
    assert "sub/labels.txt" in text and "train.csv" in text
    doc = json.loads(invoke(root, "show", "vision/mnist", "--json").stdout)
    assert doc["version"] == "v1" and doc["aliases"] == ["latest"] and doc["project"] == "vision"
    assert set(doc["files"]) == {"train.csv", "sub/labels.txt", "extra.bin"} and doc["size"] == 26
    assert json.loads(invoke(root, "show", "mnist:v0", "--project", "vision", "--json").stdout)["metadata"] == {
        "rows": 2
    }

    dest = tmp_path / "out"
    got = invoke(root, "get", "vision/mnist:raw", "--to", dest)
    assert got.exit_code == 0 and "2 files written" in got.stdout
    assert read_tree(dest) == {"train.csv": b"a,b\n1,2\n", "sub/labels.txt": b"cat\ndog\n"}
    got = invoke(root, "get", "vision/mnist:raw", "--to", dest)
    assert "0 files written" in got.stdout and "2 already there" in got.stdout


def test_get_refuses_to_overwrite_other_bytes_unless_forced(tmp_path, data_dir, root):
    invoke(root, "put", data_dir, "--name", "d", "--type", "dataset", "--project", "p")
    dest = tmp_path / "out"
    write(dest / "train.csv", "mine\n")
    out = invoke(root, "get", "p/d", "--to", dest)
    assert out.exit_code == 1 and "'train.csv'" in out.output and "--force" in out.output
    assert (dest / "train.csv").read_text() == "mine\n" and not (dest / "sub").exists()  # nothing written
    out = invoke(root, "get", "p/d", "--to", dest, "--force")
    assert out.exit_code == 0 and (dest / "train.csv").read_text() == "a,b\n1,2\n"
    # a folder where a file goes, or a link where a folder goes: never replaced
    os.remove(dest / "train.csv")
    os.mkdir(dest / "train.csv")
    out = invoke(root, "get", "p/d", "--to", dest, "--force")
    assert out.exit_code == 1 and "'train.csv'" in out.output
    os.rmdir(dest / "train.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rename(dest / "sub", tmp_path / "old-sub")
    os.symlink(elsewhere, dest / "sub")
    out = invoke(root, "get", "p/d", "--to", dest, "--force")
    assert out.exit_code == 1 and "'sub/labels.txt'" in out.output
    assert os.listdir(elsewhere) == []


def test_get_checks_the_bytes(tmp_path, data_dir, root):
    invoke(root, "put", data_dir / "train.csv", "--name", "d", "--type", "dataset", "--project", "p")
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    blob = os.path.join(root, "p", sa.STORE_DIR, *sa.blob_rel(digest).split("/"))
    os.chmod(blob, 0o644)
    write(blob, "a,b\n6,6\n")  # damaged, same size
    out = invoke(root, "get", "p/d", "--to", tmp_path / "out")
    assert out.exit_code == 1 and "damaged" in out.output
    assert read_tree(tmp_path / "out") == {}  # no temporary file left either
    os.remove(blob)
    out = invoke(root, "get", "p/d", "--to", tmp_path / "out")
    assert out.exit_code == 1 and "missing" in out.output


def test_chunked_file_round_trip(tmp_path, root, monkeypatch):
    monkeypatch.setattr(sa, "CHUNK_SIZE", 1000)
    data = os.urandom(4500)
    write(tmp_path / "big.bin", data)
    assert (
        invoke(root, "put", tmp_path / "big.bin", "--name", "big", "--type", "model", "--project", "p").exit_code == 0
    )
    m = ArtifactStore(LocalArea(str(root))).resolve("p", "big")
    assert len(m["files"]["big.bin"]["chunks"]) == 5
    assert invoke(root, "get", "big", "--to", tmp_path / "out").exit_code == 0
    assert (tmp_path / "out" / "big.bin").read_bytes() == data


def test_alias(data_dir, root):
    for i in range(3):
        write(data_dir / "n.txt", str(i))
        invoke(root, "put", data_dir, "--name", "d", "--type", "dataset", "--project", "p")
    out = invoke(root, "alias", "p/d:v1", "best")
    assert out.exit_code == 0 and "p/d:v1: alias 'best'" in out.stdout
    assert invoke(root, "alias", "d:best", "prod").exit_code == 0  # an alias names the version too
    out = invoke(root, "alias", "d:v2", "best")
    assert "(was v1)" in out.stdout
    store = ArtifactStore(LocalArea(str(root)))
    assert store.aliases("p", "d") == {"best": 2, "prod": 1, "latest": 2}
    out = invoke(root, "alias", "d:v0", "prod", "--rm")  # not where it is
    assert out.exit_code == 1 and "on v1, not v0" in out.output
    assert invoke(root, "alias", "d:v1", "prod", "--rm").exit_code == 0
    assert invoke(root, "alias", "d", "best", "--rm").exit_code == 0
    assert store.aliases("p", "d") == {"latest": 2}
    out = invoke(root, "alias", "d", "best", "--rm")
    assert out.exit_code == 1 and "no alias 'best'" in out.output
    assert invoke(root, "alias", "d:v0", "latest").exit_code == 2
    assert invoke(root, "alias", "d:v0", "v7").exit_code == 2
    out = invoke(root, "alias", "d:v9", "x")
    assert out.exit_code == 1 and "no version v9" in out.output


def test_errors(tmp_path, data_dir, root):
    assert invoke(root, "ls").stdout.strip() == f"no artifacts under {os.path.abspath(root)}"
    out = invoke(root, "put", data_dir, "--name", "bad/name", "--type", "t")
    assert out.exit_code == 2 and "artifact name" in out.output
    out = invoke(root, "put", data_dir, "--name", "d", "--type", "t", "--metadata", "[1]")
    assert out.exit_code == 2 and "JSON object" in out.output
    out = invoke(root, "put", data_dir, "--name", "d", "--type", "t", "--metadata", "{x")
    assert out.exit_code == 2 and "not JSON" in out.output
    out = invoke(root, "put", data_dir, "--name", "d", "--type", "t", "--alias", "v2")
    assert out.exit_code == 2 and "version" in out.output
    (tmp_path / "empty").mkdir()
    assert invoke(root, "put", tmp_path / "empty", "--name", "d", "--type", "t").exit_code == 2
    assert invoke(root, "put", data_dir, "--name", "d", "--type", "t", "--project", "a").exit_code == 0
    assert invoke(root, "put", data_dir, "--name", "d", "--type", "t").stdout.strip() == "uncategorized/d:v0"
    out = invoke(root, "show", "d")
    assert out.exit_code == 2 and "a, uncategorized" in out.output  # in two projects: say which
    out = invoke(root, "show", "a/d", "--project", "b")
    assert out.exit_code == 2 and "choose one" in out.output
    out = invoke(root, "show", "nope")
    assert out.exit_code == 1 and "no artifact 'nope'" in out.output
    out = invoke(root, "show", "a/d:v4")
    assert out.exit_code == 1 and "no version v4 of artifact 'd'" in out.output
    out = invoke(root, "show", "a/d:best")
    assert out.exit_code == 1 and "no alias 'best'" in out.output
    out = invoke(root, "ls", "zzz")
    assert out.exit_code == 1 and "no artifacts in project 'zzz'" in out.output and "a, uncategorized" in out.output
    out = invoke(root, "gc", "--keep-last", "1", "zzz")
    assert out.exit_code == 1
    assert invoke(root, "gc", "a").exit_code == 2  # --keep-last is required
    assert invoke(root, "show", "a/b/c/d").exit_code == 2


def test_gc(tmp_path, data_dir, root):
    for i in range(5):
        write(data_dir / "n.txt", str(i) * 100)
        invoke(root, "put", data_dir, "--name", "d", "--type", "dataset", "--project", "p")
    invoke(root, "alias", "p/d:v1", "best")
    store = ArtifactStore(LocalArea(str(root)))
    store.record_use("p", "d", 2, "run1")
    dry = invoke(root, "gc", "--keep-last", "1", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == [
        "p: would remove d:v0",
        "p: would remove d:v3",
        "p: would remove 2 versions, 2 blobs (200 B)",
    ]
    assert store.indexes("p", "d") == [0, 1, 2, 3, 4]
    out = invoke(root, "gc", "--keep-last", "1", "p")
    assert out.exit_code == 0 and out.stdout.splitlines()[-1] == "p: removed 2 versions, 2 blobs (200 B)"
    assert store.indexes("p", "d") == [1, 2, 4]
    for i in (1, 2, 4):  # the shared files (train.csv, labels.txt) are still held
        assert invoke(root, "get", f"p/d:v{i}", "--to", tmp_path / f"v{i}").exit_code == 0
        assert (tmp_path / f"v{i}" / "n.txt").read_text() == str(i) * 100
    assert invoke(root, "gc", "--keep-last", "0", "p").stdout.splitlines()[-1] == "p: removed 0 versions, 0 blobs (0 B)"


def test_end_to_end_in_a_process(tmp_path, data_dir):
    root = tmp_path / "runs"
    env = child_env({"RUNSHIP_DIR": str(root)})  # the root as other commands find it

    def run(*args):
        return subprocess.run([*RUNSHIP, "artifact", *map(str, args)], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)  # fmt: skip

    put = run("put", data_dir, "--name", "d", "--type", "dataset", "--project", "p", "--alias", "best")
    assert put.returncode == 0 and put.stdout == "p/d:v0\n", put.stderr
    write(data_dir / "train.csv", "changed\n")
    assert run("put", data_dir, "--name", "d", "--type", "dataset", "--project", "p").stdout == "p/d:v1\n"
    assert os.path.isdir(root / "p" / sa.STORE_DIR)
    assert run("ls").stdout.splitlines()[1].split()[:6] == ["p", "d", "dataset", "2", "v1", "best:v0"]
    got = run("get", "d:best", "--to", "out")
    assert got.returncode == 0 and (tmp_path / "out" / "train.csv").read_text() == "a,b\n1,2\n"
    assert run("alias", "d", "best", "--rm").returncode == 0
    gc = run("gc", "--keep-last", "1")
    assert gc.returncode == 0 and gc.stdout.splitlines()[-1] == "p: removed 1 version, 1 blob (8 B)"
    missing = run("show", "d:v0")
    assert missing.returncode == 1 and "no version v0" in missing.stderr


def test_a_place_given_where_a_project_goes_says_to_use_root(tmp_path):
    """``runship artifact ls s3://bucket/runs`` (as ``runship ls URL`` is
    spelled): the place is named, and how to give it."""
    out = CliRunner().invoke(cli, ["--root", str(tmp_path), "artifact", "ls", "s3://bucket/runs"])
    assert out.exit_code == 2
    assert "'s3://bucket/runs' is a place, not a project" in out.output and "--root s3://bucket/runs" in out.output
