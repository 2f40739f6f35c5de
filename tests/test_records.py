"""The typed record kinds (``runship.schema.records``) against what the
writer really writes, and the reader's checks of each kind."""

from __future__ import annotations

import os

import pytest

from runship.reader import read_all
from runship.schema import format as fmt
from runship.schema import records
from tests.plain import all_stream_files


def _keys(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(cls.__required_keys__), frozenset(cls.__optional_keys__)


def _busy_run(make_run, tmp_path):
    """A run that writes as many kinds of records as a script can ask for."""
    run = make_run(id="kinds", config={"lr": 0.1}, tags=["a"], notes="n", settings={"flush_interval": 3600})
    run.define_metric("loss", summary="min", goal="minimize")
    run.log({"loss": 1.0, "acc": 0.5})
    run.log({"loss": 0.5, "acc": 0.7})
    run.log({"text": "hello"})
    run.config.update({"layers": 2})
    run.summary["best"] = 3
    del run.summary["best"]
    run.name = "renamed"
    run.alert(title="t", text="x")
    run.mark_preempting()
    path = tmp_path / "weights.bin"
    path.write_bytes(b"w" * 10)
    run.save(str(path), base_path=str(tmp_path), policy="now")
    run.log({"loss": 0.25}, step=10)
    run.finish()
    return run


def test_every_record_the_writer_writes_has_its_kinds_type(make_run, tmp_path):
    """Each record of a real run: its kind is typed, it has the type's
    required keys, no key the type does not name, and it parses."""
    run = _busy_run(make_run, tmp_path)
    kinds = set()
    for path in all_stream_files(run.run_dir):
        with open(path, "rb") as f:
            recs, sf = read_all(f.read(), path)
        assert sf.header is not None
        for rec in [sf.header, *recs]:
            cls = records.RECORD_TYPES.get(rec["k"])
            assert cls is not None, f"kind {rec['k']!r} has no record type"
            required, optional = _keys(cls)
            assert required <= rec.keys(), (rec["k"], required - rec.keys())
            assert rec.keys() <= required | optional, (rec["k"], rec.keys() - required - optional)
            parsed, why = records.parse_record(rec)
            assert why is None and parsed is rec
            kinds.add(rec["k"])
    assert {fmt.START, fmt.CONFIG, fmt.ROWS, fmt.ROW, fmt.SUMMARY, fmt.META, fmt.METRIC, fmt.ALERT} <= kinds
    assert {fmt.FILE, fmt.PREEMPTING, fmt.FINISH, fmt.HEADER} <= kinds
    assert os.path.isdir(run.run_dir)


def test_fields_and_records_agree():
    """A kind's record type is its fields type plus the envelope k, t (and n)."""
    for kind, cls in records.RECORD_TYPES.items():
        required, optional = _keys(cls)
        assert {"k", "t"} <= required, kind
        if kind not in (fmt.HEADER, fmt.COMMIT):
            assert "n" in optional, kind


_GOOD = {"k": fmt.CONFIG, "t": 1.0, "n": 0, "d": {"lr": 0.1}}


@pytest.mark.parametrize(
    ("rec", "said"),
    [
        ({**_GOOD, "d": [1]}, "'d' must be a map, got list"),
        ({**_GOOD, "t": "now"}, "timestamp 't' that is not a time"),
        ({**_GOOD, "n": 1.5}, "sequence number 'n' that is not an integer"),
        ({"k": fmt.ROW, "t": 1.0, "s": 2**63, "d": {}}, "'s' is a step past int64"),
        ({"k": fmt.ROW, "t": 1.0, "s": "1", "d": {}}, "'s' must be an integer, got str"),
        ({"k": fmt.FILE, "t": 1.0, "path": "files/a", "size": "big"}, "'size' must be an integer, got str"),
        ({"k": fmt.START, "t": 1.0, "tags": [1]}, "'tags' must be a list of strings"),
        ({"k": fmt.SIGNAL, "t": 1.0, "signal": 15, "name": 15}, "'name' must be a string, got int"),
        ({"k": fmt.LOSS, "t": 1.0, "lost": -1}, "'lost' must not be negative"),
        ({"k": fmt.FINISH, "t": 1.0, "exit_code": "0"}, "'exit_code' must be an integer, got str"),
        ({"k": fmt.SUMMARY, "t": 1.0, "del": "x"}, "'del' must be a list of strings"),
        ({"k": fmt.ROWS, "t": 1.0, "keys": ["a"], "s": [1], "ts": [1.0], "v": []}, "'v' must be a list"),
        ([1, 2], "not a map"),
    ],
)
def test_parse_record_says_what_is_wrong(rec, said):
    parsed, why = records.parse_record(rec)
    assert parsed is None and why is not None and said in why
    assert records.problem(rec) == why


def test_each_kind_check_is_the_one_problem_uses():
    for kind, check in records.KIND_CHECKS.items():
        assert check is getattr(records, f"check_{kind}")
    assert records.parse_record(_GOOD) == (_GOOD, None)
