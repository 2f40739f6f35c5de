"""Run.log: wandb's step rules, value conversion, errors, config and summary."""

from __future__ import annotations

import datetime as dt
import enum
import math
import pathlib

import msgpack
import numpy as np
import pytest

import runship
from tests.plain import records, rows


def test_rows_steps_and_derived_columns(make_run):
    run = make_run(id="steps")
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    assert rows(run.run_dir) == [(i, {"loss": 1.0 / (i + 1)}) for i in range(5)]
    hist = runship.open_run(run.run_dir).history()
    assert [h["_step"] for h in hist] == list(range(5))
    ts = [h["_timestamp"] for h in hist]
    assert ts == sorted(ts) and all(abs(t - run.start_time) < 60 for t in ts)
    rts = [h["_runtime"] for h in hist]
    assert all(r >= 0 for r in rts) and rts == sorted(rts)
    # _timestamp is the record's own time: nothing stored twice
    assert all("_timestamp" not in d and "_runtime" not in d for _, d in rows(run.run_dir))


def test_commit_false_accumulates(make_run):
    run = make_run(id="commit")
    run.log({"a": 1}, commit=False)
    run.log({"b": 2}, commit=False)
    run.log({"c": 3})
    run.log({"a": 4})
    run.finish()
    assert rows(run.run_dir) == [(0, {"a": 1, "b": 2, "c": 3}), (1, {"a": 4})]


def test_explicit_steps(make_run, capsys):
    run = make_run(id="explicit", settings={"quiet": False})
    run.log({"a": 1}, step=0)
    run.log({"b": 1}, step=0)  # same step: merged, still pending
    run.log({"a": 2}, step=5)  # higher: commits step 0, moves to 5
    run.log({"a": 3}, step=3)  # lower: dropped with a warning naming both
    run.log({"c": 9}, step=5, commit=True)
    run.log({"a": 6}, step=7)  # pending until finish
    assert run.step == 7
    run.finish(quiet=True)
    err = capsys.readouterr().err
    assert "step 3" in err and "current step 5" in err and "dropped" in err
    assert rows(run.run_dir) == [(0, {"a": 1, "b": 1}), (5, {"a": 2, "c": 9}), (7, {"a": 6})]


def test_step_none_after_explicit_step_continues(make_run):
    run = make_run(id="mix")
    run.log({"a": 1}, step=10, commit=True)
    run.log({"a": 2})
    run.finish()
    assert rows(run.run_dir) == [(10, {"a": 1}), (11, {"a": 2})]


def test_step_warnings_are_bounded(make_run, capsys):
    run = make_run(id="warns", settings={"quiet": False})
    run.log({"a": 1}, step=100, commit=True)
    for _ in range(50):
        run.log({"a": 1}, step=1)
    run.finish(quiet=True)
    err = capsys.readouterr().err
    assert err.count("lower than the current step") == 10 and "further step warnings are not shown" in err


class Color(enum.Enum):
    RED = "red"


def test_value_conversion(make_run):
    run = make_run(id="values")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    run.log(
        {
            "f32": np.float32(1.5),
            "i64": np.int64(7),
            "b": np.bool_(True),
            "arr": np.arange(3),
            "zero_d": np.array(2.5),
            "nan": float("nan"),
            "inf": float("inf"),
            "ninf": -math.inf,
            "when": when,
            "day": dt.date(2026, 1, 2),
            "nested": {"x": {"y": (1, 2)}, 3: "int key"},
            "path": pathlib.Path("/tmp/x"),
            "enum": Color.RED,
            "set": {3, 1, 2},
            "bytes": b"\x00\x01",
        }
    )
    run.finish()
    ((_, d),) = rows(run.run_dir)
    assert d["f32"] == 1.5 and d["i64"] == 7 and d["b"] is True and d["arr"] == [0, 1, 2] and d["zero_d"] == 2.5
    assert math.isnan(d["nan"]) and d["inf"] == math.inf and d["ninf"] == -math.inf
    assert d["when"] == msgpack.Timestamp.from_datetime(when)
    assert d["day"] == "2026-01-02" and d["nested"] == {"x": {"y": [1, 2]}, "3": "int key"}
    assert d["path"] == "/tmp/x" and d["enum"] == "red" and d["set"] == [1, 2, 3] and d["bytes"] == b"\x00\x01"
    (h,) = runship.open_run(run.run_dir).history()
    assert h["when"] == when


def test_unserializable_value_names_key_path_and_loses_nothing(make_run):
    run = make_run(id="unser")
    run.log({"a": 1})
    with pytest.raises(TypeError, match=r"`data\.outer\.inner\[1\]`") as err:
        run.log({"ok": 1, "outer": {"inner": [1, object()]}})
    assert "builtins.object" in str(err.value)
    with pytest.raises(TypeError, match="complex"):
        run.log({"c": 1j})
    with pytest.raises(TypeError, match="keys must be strings"):
        run.log({1: 2})
    with pytest.raises(TypeError, match="takes a dict"):
        run.log([1, 2])
    run.log({"a": 2})
    run.finish()
    assert rows(run.run_dir) == [(0, {"a": 1}), (1, {"a": 2})]


def test_cycles_and_too_deep_values_are_refused(make_run):
    run = make_run(id="deep")
    cyc: dict = {}
    cyc["self"] = cyc
    with pytest.raises(TypeError, match="nested deeper"):
        run.log({"c": cyc})
    with pytest.raises(TypeError, match="cannot pack row"):
        run.log({"huge": 2**70})
    run.log({"a": 1})
    run.finish()
    assert rows(run.run_dir) == [(0, {"a": 1})]


def test_logged_values_are_a_snapshot(make_run):
    run = make_run(id="snap")
    data = {"x": [1, 2], "y": 1}
    run.log(data)
    data["x"].append(3)
    data["y"] = 100
    pending = {"x": [1]}
    run.log(pending, commit=False)
    pending["x"].append(2)
    run.log({})
    run.finish()
    assert rows(run.run_dir) == [(0, {"x": [1, 2], "y": 1}), (1, {"x": [1]})]


def test_summary_semantics(make_run):
    run = make_run(id="summ")
    run.log({"loss": 3.0, "acc": 0.1})
    run.summary["loss"] = 1.0  # explicit: overrides the logged value
    assert run.summary["loss"] == 1.0
    run.log({"acc": 0.5})  # acc logged again, loss not: loss stays 1.0
    assert run.summary["loss"] == 1.0 and run.summary["acc"] == 0.5
    run.summary.update({"best": 0.9})
    run.log({"loss": 2.0})  # logged again: the last logged value wins again
    del run.summary["best"]
    assert dict(run.summary.items()) == {"loss": 2.0, "acc": 0.5}
    run.finish()
    assert runship.open_run(run.run_dir).summary == {"loss": 2.0, "acc": 0.5}


def test_config_semantics(make_run):
    run = make_run(id="conf", config={"lr": 0.1, "layers": 2})
    assert run.config.lr == 0.1 and run.config["layers"] == 2 and "lr" in run.config
    run.config.batch = 32
    run.config["opt"] = "adam"
    run.config.update({"lr": 0.1})  # same value: fine
    with pytest.raises(runship.ConfigError, match=r"'lr' is already 0\.1.*to 0\.2"):
        run.config.update({"lr": 0.2})
    with pytest.raises(runship.ConfigError, match="layers"):
        run.config.layers = 3
    run.config.update({"lr": 0.2}, allow_val_change=True)
    run.config.setdefaults({"lr": 5, "new": 1})
    with pytest.raises(AttributeError, match="no key 'nope'"):
        _ = run.config.nope
    with pytest.raises(TypeError, match=r"`config\.bad`"):
        run.config.update({"bad": object()})
    run.finish()
    expected = {"lr": 0.2, "layers": 2, "batch": 32, "opt": "adam", "new": 1}
    assert run.config.as_dict() == expected and dict(run.config.items()) == expected
    assert runship.open_run(run.run_dir).config == expected
    # only changes are written: one record per update that changed something
    assert [r["d"] for r in records(run.run_dir, "config")] == [
        {"lr": 0.1, "layers": 2},
        {"batch": 32},
        {"opt": "adam"},
        {"lr": 0.2},
        {"new": 1},
    ]


def test_allow_val_change_on_init(make_run):
    run = make_run(id="avc", config={"lr": 1}, allow_val_change=True)
    run.config.lr = 2
    run.finish()
    assert runship.open_run(run.run_dir).config == {"lr": 2}


def test_flush_makes_rows_readable(make_run):
    run = make_run(id="flush", settings={"flush_interval": 3600})
    for i in range(100):
        run.log({"i": i})
    run.flush()
    assert [d["i"] for _, d in rows(run.run_dir)] == list(range(100))
    run.finish()


def test_log_after_finish_is_ignored_with_notice(make_run, capsys):
    run = make_run(id="after", settings={"quiet": False})
    run.log({"a": 1})
    run.finish(quiet=True)
    run.log({"a": 2})
    assert "finished run is ignored" in capsys.readouterr().err
    assert rows(run.run_dir) == [(0, {"a": 1})]


def test_finish_is_idempotent_and_records_exit_code(make_run):
    run = make_run(id="fin")
    run.finish(exit_code=3)
    run.finish()
    (fin,) = records(run.run_dir, "finish")
    assert fin["exit_code"] == 3 and fin["lost"] == 0 and fin["dropped"] == 0
    assert runship.open_run(run.run_dir).state == "failed"  # a non-zero exit code: wandb's word


def test_name_can_be_changed(make_run):
    run = make_run(id="ren", name="a")
    run.name = "b"
    run.finish()
    assert runship.open_run(run.run_dir).name == "b"


def test_notes_and_tags_set_after_init_are_recorded(make_run, root):
    """As wandb records them: ``run.notes = ...`` and ``run.tags = run.tags + (...)``
    after init() read back through the reader and the Api (they were lost)."""
    run = make_run(id="later", tags=["first"])
    run.notes = "tried a smaller lr"
    run.tags = run.tags + ("best",)  # noqa: RUF005 - as wandb's docs write it
    run.log({"loss": 1.0})
    run.finish()
    view = runship.open_run(run.run_dir)
    assert (view.notes, view.tags) == ("tried a smaller lr", ["first", "best"])
    (found,) = runship.Api(root).runs("p")
    assert (found.notes, found.tags) == ("tried a smaller lr", ["first", "best"])
    run2 = make_run(id="later2")
    run2.tags = "best"  # one tag (wandb would keep its letters)
    run2.tags = 7  # not iterable: a notice, the tags unchanged, the script goes on
    run2.tags = (t for t in ("x", "y"))  # any iterable
    run2.finish()
    assert runship.open_run(run2.run_dir).tags == ["x", "y"]
    assert [r["tags"] for r in records(run2.run_dir, "meta") if "tags" in r] == [["best"], ["x", "y"]]


def test_wandbs_run_links_and_places_offline(make_run):
    """A cross-validation script of wandb's examples reads ``run.sweep_url``:
    None offline, as wandb's; ``sync_dir`` the run's directory; ``starting_step``
    the step a resumed session's first row gets."""
    run = make_run(id="links")
    assert (run.url, run.project_url, run.sweep_url, run.get_url()) == (None, None, None, None)
    assert run.sync_dir == run.run_dir and run.starting_step == 0
    run.log({"loss": 1.0})
    run.log({"loss": 0.5})
    run.finish()
    again = make_run(id="links", resume="must")
    assert again.starting_step == 2
    again.finish()
