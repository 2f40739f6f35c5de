"""Bad input wherever a user can reach: each gets a clear, specific error,
and nothing already written is lost."""

from __future__ import annotations

import os
import zlib

import msgpack
import pytest
from click.testing import CliRunner

import runship
from runship.cli import cli
from tests.plain import rows


@pytest.fixture
def run_with_a_row(make_run):
    run = make_run(id="bad")
    run.log({"kept": 1})
    run.flush()
    yield run
    run.finish()
    assert rows(run.run_dir)[0] == (0, {"kept": 1})  # nothing already written was lost


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"x": object()}, TypeError, r"cannot record a value of type builtins\.object - at `data\.x`"),
        ({"x": {"y": [1, {2, 3}, lambda: 0]}}, TypeError, r"at `data\.x\.y\[2\]`"),
        ({3: 1}, TypeError, "keys must be strings, got int 3"),
        ({"x": 1j}, TypeError, "complex numbers"),
        ({"x": 2**64}, TypeError, "cannot pack row"),
        ({"x": {(1, 2): 3}}, TypeError, "dict keys must be strings or numbers, got tuple"),
        ("not a dict", TypeError, "takes a dict, got str"),
    ],
)
def test_log_rejects_clearly(run_with_a_row, data, error, match):
    with pytest.raises(error, match=match):
        run_with_a_row.log(data)


def test_deep_and_cyclic_values(run_with_a_row):
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["d"] = {}
        node = node["d"]
    with pytest.raises(TypeError, match="nested deeper than 64"):
        run_with_a_row.log({"deep": deep})
    cyc: list = []
    cyc.append(cyc)
    with pytest.raises(TypeError, match="nested deeper than 64"):
        run_with_a_row.log({"cyc": cyc})
    with pytest.raises(TypeError, match="step must be an integer"):
        run_with_a_row.log({"a": 1}, step="soon")


def test_huge_values_are_written_and_read_back(make_run):
    from runship.schema import limits

    run = make_run(id="huge", settings={"max_buffer_bytes": 1_000_000})
    big = "x" * (limits.MAX_RECORD_BYTES - 4096)  # just inside the record limit
    many = list(range(limits.MAX_ITEMS - 100))  # just inside the item limit
    run.log({"big": big})
    run.log({"list": many})
    run.log({"after": 1})
    run.finish()
    hist = runship.open_run(run.run_dir).history()
    assert hist[0]["big"] == big and hist[1]["list"][-1] == many[-1] and hist[2]["after"] == 1


def test_values_past_the_record_limits_are_refused_naming_the_limit(run_with_a_row):
    from runship.schema import limits

    with pytest.raises(TypeError, match=f"at most {limits.MAX_RECORD_BYTES} bytes"):
        run_with_a_row.log({"big": "x" * (limits.MAX_RECORD_BYTES + 1)})
    with pytest.raises(TypeError, match=f"more than {limits.MAX_ITEMS} values"):
        run_with_a_row.log({"list": list(range(limits.MAX_ITEMS + 1))})
    with pytest.raises(TypeError, match=f"more than {limits.MAX_ITEMS} values"):
        run_with_a_row.log({"maps": [{} for _ in range(limits.MAX_ITEMS)]})
    with pytest.raises(ValueError, match=f"at most {limits.MAX_RECORD_BYTES} bytes"):
        run_with_a_row.config.update({"big": "x" * (limits.MAX_RECORD_BYTES + 1)})


def test_bad_dirs(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(runship.UsageError, match="cannot"):
        runship.init(project="p", dir=str(afile), settings={"quiet": True}, reinit="create_new")


def test_malformed_config_files(make_run, tmp_path):
    bad_yaml = tmp_path / "c.yaml"
    bad_yaml.write_text("a: [1, 2\nb: }\n")
    with pytest.raises(ValueError, match=r"c\.yaml.* is not valid YAML"):
        make_run(config=str(bad_yaml))
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    run = make_run(config=str(empty))
    assert run.config.as_dict() == {}
    run.finish()
    bad_defaults = tmp_path / "config-defaults.yaml"
    bad_defaults.write_text("::: not yaml :::\n  - [")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        run = make_run(id="defaults", settings={"quiet": False})  # a notice, never a failed init
        run.finish()
    finally:
        os.chdir(cwd)


def test_cli_errors_are_one_clear_line(tmp_path, make_run):
    r = CliRunner()
    out = r.invoke(cli, ["nonsense"])
    assert out.exit_code == 2 and "No such command 'nonsense'" in out.output
    out = r.invoke(cli, ["history"])
    assert out.exit_code == 2 and "Missing argument 'RUN'" in out.output
    out = r.invoke(cli, ["history", "x", "--format", "xml"])
    assert out.exit_code == 2
    out = r.invoke(cli, ["--root", str(tmp_path), "show", "nope"])
    assert out.exit_code == 1 and out.output.count("\n") == 1 and out.output.startswith("Error: no run 'nope'")
    out = r.invoke(cli, ["cat", str(tmp_path / "missing.msgpack")])
    assert out.exit_code == 2 and "does not exist" in out.output
    out = r.invoke(cli, ["upload", str(tmp_path), "--to", "file:///x", "--interval", "soon"])
    assert out.exit_code == 2 and "'soon' is not a valid float" in out.output
    out = r.invoke(cli, ["-o", "noequals", "ls", str(tmp_path)])
    assert out.exit_code != 0 and "KEY=VALUE" in (out.output + str(out.exception))


def test_not_a_run_dir_and_foreign_files(tmp_path):
    plain = tmp_path / "notarun"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    out = CliRunner().invoke(cli, ["show", str(plain)])
    assert out.exit_code == 1 and "is not a run directory" in out.output
    # a foreign file named like a stream file: reported, not trusted
    run_dir = tmp_path / "p" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "run-20260101T000000000Zabcdef-000000.msgpack").write_bytes(b"GIF89a not msgpack")
    view = runship.open_run(str(run_dir))
    assert view.history() == [] and view.problems
    out = CliRunner().invoke(cli, ["verify", str(run_dir)])
    assert out.exit_code == 1 and "not a runship stream file" in out.output


def test_newer_format_file_is_refused_everywhere(make_run):
    run = make_run(id="new")
    run.log({"a": 1})
    run.finish()
    body = msgpack.packb(
        {
            "k": "header",
            "t": 0.0,
            "format": "runship",
            "version": 7,
            "project": "p",
            "run": "new",
            "session": "z",
            "stream": "run",
            "segment": 0,
        }
    )
    body += msgpack.packb({"k": "row", "n": 0, "t": 0.0, "s": 5, "d": {"from_the_future": 1}})
    path = os.path.join(run.run_dir, "run-29990101T000000000Zzzzzzz-000000.msgpack")
    with open(path, "wb") as f:
        f.write(body + msgpack.packb({"k": "commit", "t": 0.0, "len": len(body), "crc": zlib.crc32(body)}))
    view = runship.open_run(run.run_dir)
    assert [h.get("a") for h in view.history()] == [1]  # the older data still reads; the newer file is not guessed at
    assert any(p.kind == "newer-version" and "version 7 is newer" in p.message for p in view.problems)
    out = CliRunner().invoke(cli, ["cat", path])
    assert out.exit_code == 1 and "upgrade runship" in out.output
