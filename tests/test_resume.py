"""Resume by run id: allow, must, never, auto, and None (reset)."""

from __future__ import annotations

import hashlib
import os

import pytest

import runship
from tests.plain import rows, stream_files


def _digest(paths):
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def _first_session(make_run, run_id="res", steps=3, **kw):
    run = make_run(id=run_id, config={"lr": 0.1}, **kw)
    for i in range(steps):
        run.log({"loss": float(i)})
    run.summary["best"] = 42
    run.finish()
    return run


@pytest.mark.parametrize("mode", ["allow", "must", "auto", True])
def test_resume_continues_step_config_summary(make_run, mode):
    first = _first_session(make_run)
    old_files = stream_files(first.run_dir)
    before = _digest(old_files)
    run = make_run(id="res", resume=mode)
    assert run.resumed and run.step == 3
    assert run.config.lr == 0.1 and run.summary["best"] == 42 and run.summary["loss"] == 2.0
    run.log({"loss": 3.0})
    run.finish()
    new_files = stream_files(run.run_dir)
    assert len(new_files) == 2 and new_files[0] == old_files[0]
    assert _digest(old_files) == before  # old session files never reopened
    assert run.session in os.path.basename(new_files[1]) and run.session > first.session
    assert rows(run.run_dir) == [(i, {"loss": float(i)}) for i in range(4)]
    view = runship.open_run(run.run_dir)
    assert [h["_step"] for h in view.history()] == [0, 1, 2, 3]
    assert len(view.sessions) == 2 and view.sessions[1].start["resumed"] is True
    assert view.config == {"lr": 0.1} and view.summary["best"] == 42


def test_resume_keeps_metadata_not_given_again(make_run):
    _first_session(make_run, name="keepme", tags=["a"], group="g")
    run = make_run(id="res", resume="allow")
    assert run.name == "keepme" and run.tags == ("a",) and run.group == "g"
    run.finish()
    assert runship.open_run(run.run_dir).name == "keepme"


def test_resume_runtime_continues(make_run):
    first = _first_session(make_run)
    run = make_run(id="res", resume="must")
    run.log({"loss": 9.0})
    run.finish()
    hist = runship.open_run(first.run_dir).history()
    assert hist[-1]["_runtime"] >= hist[-2]["_runtime"]


def test_allow_on_missing_run_starts_it(make_run):
    run = make_run(id="fresh", resume="allow")
    assert not run.resumed and run.step == 0
    run.finish()


def test_must_on_missing_run_is_a_clear_error(make_run, root):
    with pytest.raises(runship.UsageError, match=r"resume='must'.*p/ghost.*does not exist"):
        make_run(id="ghost", resume="must")
    assert not os.path.exists(os.path.join(root, "p", "ghost"))


def test_never_on_existing_run_is_a_clear_error(make_run):
    first = _first_session(make_run)
    before = _digest(stream_files(first.run_dir))
    with pytest.raises(runship.UsageError, match=r"resume='never'.*already exists"):
        make_run(id="res", resume="never")
    assert _digest(stream_files(first.run_dir)) == before


def test_none_resets_existing_id_without_deleting(make_run):
    first = _first_session(make_run)
    before = _digest(stream_files(first.run_dir))
    run = make_run(id="res", config={"lr": 0.5})
    assert not run.resumed and run.step == 0
    run.log({"loss": 100.0})
    run.finish()
    for path, digest in before.items():
        assert _digest([path])[path] == digest
    view = runship.open_run(run.run_dir)
    assert [h["loss"] for h in view.history()] == [100.0]
    assert view.config == {"lr": 0.5} and "best" not in view.summary
    assert view.sessions[0].reset and view.all_sessions[0].dropped_by_reset


def test_auto_without_id_resumes_unfinished_run(make_run, root):
    crashed = make_run(resume="auto")
    crashed.log({"a": 1})
    crashed.flush()
    crashed._forked()  # simulate a process that died without finishing
    again = make_run(resume="auto")
    assert again.id == crashed.id and again.resumed and again.step == 1
    again.finish()  # clean finish: forgotten
    third = make_run(resume="auto")
    assert third.id != crashed.id and not third.resumed
    third.finish()


def test_failed_finish_keeps_auto_resume(make_run):
    run = make_run(resume="auto")
    run.finish(exit_code=1)
    again = make_run(resume="auto")
    assert again.id == run.id and again.resumed
    again.finish()


def test_resume_env_var(make_run, monkeypatch):
    _first_session(make_run)
    monkeypatch.setenv("WANDB_RESUME", "must")
    run = make_run(id="res")
    assert run.resumed and run.step == 3
    run.finish()


def test_bad_resume_value(make_run):
    with pytest.raises(ValueError, match="resume must be"):
        make_run(resume="sometimes")
