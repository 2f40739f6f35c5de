"""The runship command line: ls, show, history, cat, verify, help, errors."""

from __future__ import annotations

import csv
import io
import json
import os

import click
import pytest
from click.testing import CliRunner

import runship
from runship.cli import cli
from tests.plain import stream_files


@pytest.fixture
def two_runs(make_run, root):
    a = make_run(project="vision", id="aaa111", name="resnet", config={"lr": 0.1}, tags=["t1"])
    for i in range(10):
        a.log({"loss": 1.0 / (i + 1), "acc": i / 10})
    a.log({"val": {"top1": 0.5}})
    a.finish()
    b = make_run(project="nlp", id="bbb222")
    b.log({"ppl": 30.0})
    b.flush()
    b._forked()  # leaves it unfinished, as a killed process would
    return root, a, b


def invoke(*args, root=None):
    base = ["--root", root] if root else []
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_ls_table_and_json(two_runs):
    root, a, b = two_runs
    out = invoke("ls", root=root)
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0].split() == ["PROJECT", "ID", "NAME", "STATE", "STEPS", "LAST", "WRITE"]
    assert lines[1].split()[:6] == ["nlp", "bbb222", "bbb222", "running", "(last", "write"]
    assert lines[1].split()[6].isdigit()  # seconds since its last write: 0 unless the machine is busy
    assert lines[1].split()[7:10] == ["s", "ago)", "1"]  # how long since its last write: judge for yourself
    assert lines[2].split()[:5] == ["vision", "aaa111", "resnet", "finished", "11"]
    out = invoke("ls", root, "--project", "vision", "--json")
    (row,) = [json.loads(line) for line in out.output.splitlines()]
    assert row["id"] == "aaa111" and row["state"] == "finished" and row["steps"] == 11


def test_ls_on_missing_root_is_one_line(tmp_path):
    out = CliRunner().invoke(cli, ["ls", str(tmp_path / "nope")])
    assert out.exit_code == 1 and out.output.strip() == f"Error: no run root at {tmp_path / 'nope'}"


def test_show(two_runs):
    root, a, _ = two_runs
    out = invoke("show", "vision/aaa111", root=root)
    assert out.exit_code == 0, out.output
    text = out.output
    assert "vision/aaa111  (resnet)" in text and "finished (exit code 0)" in text
    assert "tags        t1" in text and "lr: 0.1" in text and "loss: 0.1" in text
    assert 'val: {"top1":0.5}' in text and "integrity: ok - 1 stream files" in text
    assert a.session in text
    as_json = json.loads(invoke("show", a.run_dir, "--json").output)
    assert as_json["config"] == {"lr": 0.1} and as_json["summary"]["acc"] == 0.9
    assert as_json["sessions"][0]["rows"] == 11 and as_json["problems"] == []


def test_show_by_bare_id_and_errors(two_runs):
    root, _, _ = two_runs
    assert invoke("show", "bbb222", root=root).exit_code == 0
    out = CliRunner().invoke(cli, ["--root", root, "show", "nope/zzz"])
    assert out.exit_code == 1 and out.output.startswith("Error: no run 'nope/zzz'")
    assert "Traceback" not in out.output
    out = CliRunner().invoke(cli, ["show", root])
    assert out.exit_code == 1 and "is not a run directory" in out.output


def test_history_formats(two_runs):
    root, a, _ = two_runs
    out = invoke("history", "vision/aaa111", "--format", "jsonl", root=root)
    hist = [json.loads(line) for line in out.output.splitlines()]
    assert [h["_step"] for h in hist] == list(range(11)) and hist[3]["loss"] == 0.25
    out = invoke("history", "vision/aaa111", "--keys", "loss,acc", "--format", "csv", root=root)
    table = list(csv.DictReader(io.StringIO(out.output)))
    assert list(table[0]) == ["_step", "_timestamp", "_runtime", "loss", "acc"]
    assert len(table) == 10 and float(table[1]["loss"]) == 0.5
    out = invoke("history", "vision/aaa111", root=root)
    lines = out.output.splitlines()
    assert lines[0].split()[:3] == ["_step", "_timestamp", "_runtime"]
    assert len(lines) == 12 and '{"top1":0.5}' in lines[-1]


def test_cat(two_runs):
    _, a, _ = two_runs
    (path,) = stream_files(a.run_dir)
    out = invoke("cat", path)
    recs = [json.loads(line) for line in out.output.splitlines()]
    assert recs[0]["k"] == "header" and recs[1]["k"] == "start"
    logged = sum(1 if r["k"] == "row" else len(r["s"]) if r["k"] == "rows" else 0 for r in recs)
    assert logged == 11 and recs[-1]["k"] == "finish"
    raw = [json.loads(line) for line in invoke("cat", "--raw", path).output.splitlines()]
    assert raw[0]["offset"] == 0 and raw[-1]["value"]["k"] == "commit"
    out = CliRunner().invoke(cli, ["cat", os.path.join(a.run_dir, "run.json")])
    assert out.exit_code == 2 and "not named like a stream file" in out.output


def test_cat_rows_prints_each_row_of_a_block_on_its_own_line(two_runs):
    _, a, _ = two_runs
    (path,) = stream_files(a.run_dir)
    recs = [json.loads(line) for line in invoke("cat", path).output.splitlines()]
    blocks = [r for r in recs if r["k"] == "rows"]
    assert blocks and sum(len(b["s"]) for b in blocks) == 10  # the ten number rows went to blocks
    lines = [json.loads(line) for line in invoke("cat", "--rows", path).output.splitlines()]
    assert not any(r["k"] == "rows" for r in lines)
    rows = [r for r in lines if r["k"] == "row"]
    assert [r["s"] for r in rows] == list(range(11))
    assert [r["d"] for r in rows[:3]] == [
        {"loss": 1.0, "acc": 0.0},
        {"loss": 0.5, "acc": 0.1},
        {"loss": 1 / 3, "acc": 0.2},
    ]
    assert rows[0]["block"] == blocks[0]["n"] and rows[0]["t"] == blocks[0]["ts"][0]
    assert rows[-1]["d"] == {"val": {"top1": 0.5}} and "block" not in rows[-1]  # a row record as it is
    # everything else is printed as without --rows
    assert [r for r in lines if "block" not in r] == [r for r in recs if r["k"] != "rows"]
    out = CliRunner().invoke(cli, ["cat", "--rows", "--raw", path])
    assert out.exit_code == 2 and "cannot take --rows" in out.output


def test_verify_ok_and_multiple(two_runs):
    root, a, b = two_runs
    out = invoke("verify", "vision/aaa111", "nlp/bbb222", root=root)
    assert out.exit_code == 0
    assert out.output.startswith("ok vision/aaa111: 1 files") and "ok nlp/bbb222" in out.output


def test_version():
    out = invoke("--version")
    assert out.output.strip() == f"runship, version {runship.__version__}"


def _commands(group):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd)
        yield name, cmd


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_example(name):
    for flag in ("--help", "-h"):
        out = invoke(name, flag)
        assert out.exit_code == 0
        assert "Example:" in out.output and "runship " in out.output.split("Example:")[1]


def test_library_uses_no_click_exceptions_for_bad_arguments():
    out = CliRunner().invoke(cli, ["history", "x", "--format", "xml"])
    assert out.exit_code == 2 and "'xml' is not one of" in out.output
