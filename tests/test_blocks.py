"""Rows blocks (format version 3): rows of plain numbers with the same keys
are written as one ``rows`` record, the summary follows them at every point
a user can look at it, and a block is bounded, sealed in order and read back
exactly by runship's reader and by plain msgpack (tests/plain.py)."""

from __future__ import annotations

import json
import os
import signal
import time

import msgpack
import numpy as np
import pytest

import runship
from runship.schema import format as fmt
from runship.schema import limits
from runship.writer.stream import BLOCK_BYTES
from tests.conftest import popen_python
from tests.plain import records, rows


def _kinds(run_dir: str) -> list[str]:
    return [r["k"] for r in records(run_dir) if r["k"] not in ("heartbeat", "environment")]


def test_rows_with_the_same_keys_are_one_record_sealed_in_order(make_run):
    run = make_run(id="blk")
    for i in range(5):
        run.log({"loss": i / 3, "acc": i})
    run.config.update({"lr": 0.1})  # another record: the block before it is sealed first
    run.log({"loss": 9.0, "acc": 9})
    run.log({"val": True, "acc": None})  # other keys: a new block
    run.log({"tag": "text", "acc": 1})  # a string: a row record of its own
    run.log({"val": False, "acc": -(2**63)})
    run.finish()
    assert _kinds(run.run_dir) == ["start", "rows", "config", "rows", "rows", "row", "rows", "finish"]
    got = rows(run.run_dir)
    want = [(i, {"loss": i / 3, "acc": i}) for i in range(5)]
    want += [(5, {"loss": 9.0, "acc": 9}), (6, {"val": True, "acc": None}), (7, {"tag": "text", "acc": 1})]
    want += [(8, {"val": False, "acc": -(2**63)})]
    assert got == want
    assert [{k: v for k, v in r.items() if not k.startswith("_")} for r in runship.open_run(run.run_dir).history()] == [
        d for _, d in want
    ]
    # sequence numbers still increase in file order; a block's t is its first row's time
    ns = [r["n"] for r in records(run.run_dir) if "n" in r]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    for r in records(run.run_dir, "rows"):
        assert r["t"] == r["ts"][0] and r["ts"] == sorted(r["ts"])


def test_a_block_is_bounded_and_read_back_exactly(make_run):
    run = make_run(id="big")
    n = 20000
    for i in range(n):
        run.log({f"m{j}": i + j / 10 for j in range(10)})
    run.finish()
    blocks = records(run.run_dir, "rows")
    assert len(blocks) > 2
    for r in blocks:  # each well under the size a reader decodes without counting
        assert len(msgpack.packb(r)) <= limits.SMALL_RECORD and len(r["s"]) * (9 * 10 + 18) <= BLOCK_BYTES + 9 * 10 + 18
    got = rows(run.run_dir)
    assert [s for s, _ in got] == list(range(n))
    assert all(d == {f"m{j}": s + j / 10 for j in range(10)} for s, d in got)
    view = runship.open_run(run.run_dir)
    assert view.history_length() == n and view.summary["m3"] == n - 1 + 0.3


def test_rows_that_are_not_for_a_block_are_row_records(make_run):
    run = make_run(id="rec")
    many = {f"k{i}": float(i) for i in range(3000)}  # more keys than a block takes
    long_key = {"x" * 20000: 1.0}  # a key longer than a block takes
    run.log({"a": 1.0})
    run.log(many)
    run.log(long_key)
    with pytest.raises(TypeError, match="at step 3"):  # past 64 bits: refused, nothing of it recorded
        run.log({"big": 2**64, "a": 0.5})
    run.log({"a": 2.0})
    run.finish()
    assert _kinds(run.run_dir) == ["start", "rows", "row", "row", "rows", "finish"]
    assert rows(run.run_dir) == [(0, {"a": 1.0}), (1, many), (2, long_key), (3, {"a": 2.0})]


def test_the_summary_follows_logged_rows_and_explicit_values(make_run):
    run = make_run(id="sum")
    run.log({"a": 1.0, "b": 1})
    assert run.summary["a"] == 1.0 and dict(run.summary) == {"a": 1.0, "b": 1}
    run.log({"a": 2.0, "b": 2})
    run.summary["a"] = 99  # holds until "a" is logged again
    assert run.summary["a"] == 99 and run.summary.b == 2
    run.log({"b": 3})  # another block; "a" keeps its explicit value
    assert run.summary["a"] == 99 and run.summary["b"] == 3
    run.log({"a": 4.0, "b": 4})
    assert run.summary["a"] == 4.0
    del run.summary["b"]
    assert "b" not in run.summary
    run.log({"a": np.float32(0.5)})
    assert run.summary["a"] == 0.5 and type(run.summary["a"]) is float
    run.finish()
    with open(os.path.join(run.run_dir, "run.json")) as f:
        assert json.load(f)["summary"] == {"a": 0.5}
    assert runship.open_run(run.run_dir).summary == {"a": 0.5}


def test_the_summary_after_a_flush_and_in_run_json_on_sigterm(root):
    code = f"""
    import sys, time, runship
    run = runship.init(project="p", id="sig", dir={root!r}, settings={{"quiet": True, "flush_interval": 60}})
    for i in range(1000):
        run.log({{"loss": i / 4, "i": i}})
    print("READY", flush=True)
    time.sleep(60)
    """
    proc = popen_python(code)
    assert proc.stdout.readline().startswith("READY")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    run_dir = os.path.join(root, "p", "sig")
    assert [s for s, _ in rows(run_dir)] == list(range(1000))  # sealed and written by the handler
    assert records(run_dir)[-1]["k"] == "signal"  # after every row logged before it
    with open(os.path.join(run_dir, "run.json")) as f:
        snap = json.load(f)
    assert snap["summary"] == {"loss": 999 / 4, "i": 999} and snap["state"] == "terminated"
    view = runship.open_run(run_dir)
    assert view.state == "terminated" and view.summary == {"loss": 999 / 4, "i": 999}


def test_the_summary_after_a_sigkill_and_on_resume_is_what_run_summary_said_at_flush(root):
    code = f"""
    import json, time, runship
    run = runship.init(project="p", id="kill", dir={root!r}, settings={{"quiet": True, "flush_interval": 60}})
    for i in range(500):
        run.log({{"loss": i / 8, "i": i}})
    run.summary["best"] = 7.5  # explicit: holds, as "loss" and "i" follow the rows
    run.log({{"loss": 0.25}})  # another block: "i" keeps 499
    run.flush()
    print(json.dumps(dict(run.summary)), flush=True)
    time.sleep(60)
    """
    proc = popen_python(code)
    seen = json.loads(proc.stdout.readline())
    assert seen == {"loss": 0.25, "i": 499, "best": 7.5}
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    run_dir = os.path.join(root, "p", "kill")
    view = runship.open_run(run_dir)
    assert view.state != "finished" and dict(view.summary) == seen  # no finish record: the rows say it
    again = runship.init(project="p", id="kill", dir=root, resume="must", settings={"quiet": True})
    assert dict(again.summary) == seen and again.step == 501
    again.log({"i": 501})
    assert dict(again.summary) == {**seen, "i": 501}
    again.finish()
    assert dict(runship.open_run(run_dir).summary) == {**seen, "i": 501}


def test_resume_continues_steps_and_summary_after_blocks(root):
    run = runship.init(project="p", id="res", dir=root, settings={"quiet": True})
    for i in range(10):
        run.log({"x": float(i)})
    run.finish()
    again = runship.init(project="p", id="res", dir=root, resume="must", settings={"quiet": True})
    assert again.step == 10 and again.summary["x"] == 9.0
    again.log({"x": 10.0})
    again.finish()
    assert [s for s, _ in rows(again.run_dir)] == list(range(11))


def test_sigterm_in_a_tight_loop_leaves_no_gap_and_no_half_row(root):
    """The handler may interrupt log() while it adds a row to the block: the
    rows on disk are still 0..k-1, each whole, and the signal record ends them."""
    code = f"""
    import sys, runship
    run = runship.init(project="p", id="tight", dir={root!r}, settings={{"quiet": True, "flush_interval": 0.05}})
    print("GO", flush=True)
    i = 0
    while True:
        run.log({{"a": i, "b": i * 0.5, "c": -i}})
        i += 1
    """
    for trial in range(4):
        proc = popen_python(code)
        assert proc.stdout.readline().startswith("GO")
        time.sleep(0.1 + trial * 0.07)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        run_dir = os.path.join(root, "p", "tight")
        got = rows(run_dir)
        assert got and [s for s, _ in got] == list(range(len(got)))
        assert all(d == {"a": s, "b": s * 0.5, "c": -s} for s, d in got)
        assert records(run_dir)[-1]["k"] == "signal"
        assert not [p for p in runship.open_run(run_dir).verify() if p.is_corruption]
        os.rename(run_dir, run_dir + f".{trial}")


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ({"keys": "ab"}, "'keys' must be a list of strings"),
        ({"keys": ["a", 1]}, "'keys' must be a list of strings"),
        ({"keys": ["a", "a"]}, "must not repeat a key"),
        ({"s": []}, "'s' must be a non-empty list of integers"),
        ({"s": [0, True]}, "'s' must be a non-empty list of integers"),
        ({"ts": [1.7e9]}, "as many times as 's' has steps"),
        ({"ts": [1.7e9, -1.0]}, "not a time"),
        ({"ts": [1.7e9, float("nan")]}, "not a time"),
        ({"ts": [1.7e9, 1e12]}, "not a time"),
        ({"v": [1.0, 2.0, 3.0]}, "len(keys) * len(s)"),
        ({"v": [1.0, 2.0, 3.0, {b"k": 2}]}, "a map key of type bytes in 'v'"),
        ({"v": [1.0, 2.0, 3.0, [[[[0]]]] * 1]}, None),
    ],
)
def test_crafted_blocks_are_reported_and_skipped(block, why):
    from runship.reader.columns import decode_segment, rows_of
    from tests.hostile.craft import committed, row, start
    from tests.hostile.craft import rows as rows_block
    from tests.test_columns import _sf, assert_equivalent

    crafted = {**rows_block([5, 6], ["a", "b"], [1.0, 2.0, 3.0, 4.0], n=2), **block}
    data = committed([[start(), row(4, {"a": 0.5}, n=1), crafted, row(7, {"a": 9.0}, n=3)]])
    assert_equivalent(data)
    sf = _sf()
    got = [r["_step"] for r in rows_of(decode_segment(data, sf).columns)]
    if why is None:
        assert got == [4, 5, 6, 7] and not sf.problems
    else:
        assert got == [4, 7]
        (p,) = sf.problems
        assert p.kind == "bad-record" and why in p.message and fmt.ROWS in p.message


@pytest.mark.parametrize("explicit_step", [False, True])
def test_a_sigterm_that_returns_mid_log_loses_and_shifts_nothing(root, monkeypatch, explicit_step):
    """A SIGTERM handler that returns (the program's own, chained after
    runship's) lets training go on. runship's handler seals and writes the
    open block while log() is adding a row (here: between the row's values
    and its time, the clock being log()'s next step): that row still goes in
    whole, at its step, on the fast path and on the long one (step=)."""
    import runship.writer.run as writer_run
    from runship.writer.lifecycle import PROCESS

    run = runship.init(project="p", id=f"mid{explicit_step}", dir=root, settings={"quiet": True, "environment": False})
    seen = []
    monkeypatch.setattr(PROCESS, "_prev_sigterm", lambda signum, frame: seen.append(signum))  # the program's handler
    clock = writer_run._time
    calls = []

    def clock_with_a_signal() -> float:
        calls.append(1)
        if len(calls) == 3:  # during the row of step 2
            PROCESS._on_sigterm(signal.SIGTERM, None)
        return clock()

    monkeypatch.setattr(writer_run, "_time", clock_with_a_signal)
    for i in range(4):
        if explicit_step:
            run.log({"x": float(i)}, step=i, commit=True)
        else:
            run.log({"x": float(i)})
    monkeypatch.setattr(writer_run, "_time", clock)
    assert seen == [signal.SIGTERM] and run.summary["x"] == 3.0
    run.finish()
    assert rows(run.run_dir) == [(i, {"x": float(i)}) for i in range(4)]
    assert runship.open_run(run.run_dir).lost == 0


def test_bad_keys_and_steps_are_refused_on_every_path(make_run):
    run = make_run(id="bad")
    run.log({"a": 1.0})
    for call in (
        lambda: run.log({1: 0.5, "a": 1.0}, step=3),  # step=: the pending row
        lambda: run.log({1: 0.5, "a": 1.0}, commit=False),
        lambda: run.log({1: 0.5}),  # the fast path
        lambda: run.log({(1, 2): np.float32(0.5)}),  # converted first
    ):
        with pytest.raises(TypeError, match="keys must be strings"):
            call()
    with pytest.raises(TypeError, match="below 2\\*\\*63"):
        run.log({"a": 2.0}, step=2**63)
    run.log({"a": 3.0})
    run.finish()
    assert rows(run.run_dir) == [(0, {"a": 1.0}), (1, {"a": 3.0})]
    assert runship.open_run(run.run_dir).lost == 0


def test_a_crafted_step_past_int64_is_a_bad_record():
    from runship.reader.columns import decode_segment, rows_of
    from tests.hostile.craft import committed, row, start
    from tests.hostile.craft import rows as rows_block
    from tests.test_columns import _sf, assert_equivalent

    data = committed([[start(), row(2**63, {"a": 1.0}, n=1), rows_block([0, 2**64 - 1], ["a"], [1.0, 2.0], n=2)]])
    assert_equivalent(data)
    sf = _sf()
    assert list(rows_of(decode_segment(data, sf).columns)) == []
    assert [p.message for p in sf.problems] == [
        "row record: 's' is a step past int64",
        "rows record: 's' holds a step past int64",
    ]
