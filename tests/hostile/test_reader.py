"""The reader is total: records with valid checksums and hostile content,
links, FIFOs and huge files give results or reported problems, never an
exception, a hang or unbounded memory; one bad run never breaks a listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import msgpack
import pytest
from click.testing import CliRunner

import runship
from runship.cli import cli
from runship.schema import limits
from tests.conftest import child_env
from tests.hostile.craft import T, nested, row, start, write_run

RUNSHIP = [sys.executable, "-m", "runship.cli"]


@pytest.fixture
def hostile_root(tmp_path):
    root = tmp_path / "runs"
    write_run(
        root,
        [
            [
                start(),
                {"k": "config", "n": 1, "t": T, "d": [1, 2]},  # d of the wrong type
                row(0, {"deep": nested(900)}, n=2),  # nested far past any limit
                row(1, {"a": 1}, n=3, t=1e300),  # a timestamp no clock can show
                row(2, {"ok": 1.5}, n=4),
                {"k": "summary", "n": 5, "t": T, "d": {"x": 1}, "del": "not a list"},
                {"k": "finish", "n": 6, "t": T, "exit_code": "zero"},
            ]
        ],
        run="bad",
    )
    write_run(root, [[start(), row(0, {"fine": 2.5})]], run="good")
    return root


def test_hostile_records_become_problems_and_the_rest_reads(hostile_root):
    view = runship.open_run(str(hostile_root / "p" / "bad"))
    assert view.history() == [{"ok": 1.5, "_step": 2, "_timestamp": T, "_runtime": 0.0}]
    assert view.config == {} and view.summary == {"ok": 1.5}
    kinds = [(p.kind, p.offset > 0) for p in view.problems]
    assert kinds == [("bad-record", True)] * 5
    messages = " ".join(p.message for p in view.problems)
    for what in ("'d' must be a map", "nested deeper than 100", "not a time", "'del' must be a list", "exit_code"):
        assert what in messages
    json.dumps(view.to_dict())  # everything a caller gets is plain data


@pytest.mark.parametrize("command", [["ls"], ["show", "p/bad"], ["history", "p/bad"], ["show", "p/bad", "--json"]])
def test_cli_shows_a_hostile_run_without_a_traceback(hostile_root, command):
    out = CliRunner().invoke(cli, ["--root", str(hostile_root), *command])
    assert out.exit_code == 0, out.output
    assert out.exception is None
    if command == ["ls"]:
        assert "bad" in out.output and "CORRUPT" in out.output and "good" in out.output


def test_verify_reports_hostile_records(hostile_root):
    out = CliRunner().invoke(cli, ["--root", str(hostile_root), "verify", "p/bad", "p/good"])
    assert out.exit_code == 1
    assert "CORRUPT p/bad" in out.output and "ok p/good" in out.output
    assert out.output.count("bad-record") == 5


def test_api_runs_lists_a_bad_run_with_its_problems(hostile_root):
    runs = {r.id: r for r in runship.Api(str(hostile_root)).runs("p")}
    assert set(runs) == {"bad", "good"}
    assert {k: v for k, v in runs["good"].summary.items() if not k.startswith("_")} == {"fine": 2.5}


def test_unreadable_record_bytes_are_skipped(tmp_path):
    bad_utf8 = b"\x83\xa1k\xa3row\xa1t\xcb" + msgpack.packb(T)[1:] + b"\xa1d\x81\xa2\xff\xfe\x01"
    int_keys = msgpack.packb({"k": "row", "t": T, "s": 0, "d": {1: 2}})
    ext = msgpack.packb({"k": "row", "t": T, "s": 0, "d": {"x": msgpack.ExtType(5, b"zz")}})
    run_dir = write_run(tmp_path, [[start(), bad_utf8, int_keys, ext, row(3, {"kept": True})]])
    view = runship.open_run(run_dir)
    assert [r["kept"] for r in view.history()] == [True]
    assert [p.kind for p in view.problems] == ["bad-record"] * 3


def test_a_batch_of_empty_maps_costs_neither_memory_nor_time(tmp_path):
    """60 MiB of b'\\x80' (valid msgpack, valid checksum) used to cost ~80
    bytes of memory per byte: now the file is judged not runship's after
    MAX_BAD_RECORDS such maps."""
    run_dir = write_run(tmp_path, [[start(), b"\x80" * (60 * 1024 * 1024), row(0, {"x": 1})]])
    proc = subprocess.Popen(
        [*RUNSHIP, "history", run_dir], env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    verify = subprocess.run([*RUNSHIP, "verify", run_dir], env=child_env(), capture_output=True, text=True, timeout=60)
    assert verify.returncode == 1 and "maps too small to be records" in verify.stdout


@pytest.mark.heavy  # a file of hundreds of MiB: `make test-heavy`
def test_reading_a_huge_file_streams(tmp_path):
    """A 150 MB stream file of legitimate-looking records: opening it holds
    its history columns once (about the file's size: no amplification),
    verify streams it one batch at a time, and once the columns are in the
    cache, opening and verifying it holds none of them."""
    big_row = msgpack.packb(row(0, {"s": "x" * 1000}))
    per_batch = (4 * 1024 * 1024) // len(big_row)
    run_dir = write_run(tmp_path, [[start()]] + [[big_row] * per_batch for _ in range(36)])
    (stream,) = [n for n in os.listdir(run_dir) if n.endswith(".msgpack")]
    size_mb = os.path.getsize(os.path.join(run_dir, stream)) / 2**20
    assert size_mb > 140
    small = write_run(tmp_path / "small", [[start(), row(0, {"s": "x"})]])
    script = (
        "import os, runship\n"
        "from tests.hostile.craft import peak_rss_mb\n"
        f"runship.open_run({small!r}).history()\n"  # the libraries' own memory, once
        "base = peak_rss_mb(os.getpid())\n"
        f"v = runship.open_run({run_dir!r}); p = v.verify()\n"
        "print(sum(sf.records for fs in v.files.values() for sf in fs), len(p), int(base),"
        " int(peak_rss_mb(os.getpid())))\n"
    )
    env = child_env({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    for cold in (True, False):
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        records, problems, base, peak = map(int, out.stdout.split())
        assert records == 1 + 36 * per_batch and problems == 0
        if cold:
            assert peak - base < 1.5 * size_mb, f"{peak - base} MiB to open a file of {size_mb:.0f} MiB"
        else:
            assert peak - base < 40, f"{peak - base} MiB to open a cached file of {size_mb:.0f} MiB"


def test_records_past_the_limits_are_problems_not_memory(tmp_path):
    many_maps = msgpack.packb(row(0, {"m": [{} for _ in range(limits.MAX_ITEMS)]}))  # a big record of small items
    wide = (
        b"\x83\xa1k\xa3row\xa1t\xcb" + msgpack.packb(T)[1:] + b"\xa1d\xdd" + (limits.MAX_ITEMS + 1).to_bytes(4, "big")
    )
    wide += b"\xc0" * (limits.MAX_ITEMS + 1)
    run_dir = write_run(tmp_path, [[start(), many_maps, wide, row(2, {"after": 1})]])
    view = runship.open_run(run_dir)
    assert [r.get("after") for r in view.history()] == [1]
    assert [p.kind for p in view.problems] == ["bad-record", "bad-record"]
    assert f"more than {limits.MAX_ITEMS} elements" in view.problems[0].message


@pytest.mark.parametrize("kind", ["symlink", "fifo", "dev"])
def test_links_and_special_files_in_a_run_directory_are_not_read(tmp_path, kind):
    run_dir = write_run(tmp_path, [[start(), row(0, {"x": 1})]])
    secret = tmp_path / "secret"
    secret.write_bytes(b"the service account's secret")
    name = "run-20260101T000000000Zzzzzzz-000000.msgpack"  # sorts after the real session
    target = os.path.join(run_dir, name)
    if kind == "symlink":
        os.symlink(secret, target)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        os.symlink("/dev/zero", target)
    os.symlink(secret, os.path.join(run_dir, "files", "innocent.txt"))
    out = subprocess.run([*RUNSHIP, "show", run_dir], env=child_env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "not a regular file" in out.stdout and "service account" not in out.stdout
    view = runship.open_run(run_dir)
    with pytest.raises(OSError, match="not a regular file"):
        view.read_file("files/innocent.txt")
