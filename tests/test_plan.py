"""resolve_start (runship/writer/plan.py): init()'s decisions from its
arguments, the process and what is on disk, without touching a file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runship.errors import UsageError
from runship.writer.plan import Process, resolve_start
from runship.writer.ranks import Placement


class Runs:
    """What is on disk, as a map: run directory -> session id -> start record."""

    def __init__(self, runs: dict[str, dict[str, dict[str, Any]]] | None = None, next_step: int = 0, **kw: Any):
        self.runs = runs or {}
        self.next_step = next_step
        self.alive_sessions: set[str] = kw.get("alive", set())
        self.remembered: tuple[str, str] | None = kw.get("remembered")
        self.asked_prior: list[str] = []

    def sessions(self, run_dir: str) -> list[str]:
        return sorted(self.runs.get(run_dir, {}))

    def starts(self, run_dir: str, limit: int) -> dict[str, dict[str, Any]]:
        return dict(sorted(self.runs.get(run_dir, {}).items())[-limit:])

    def prior(self, run_dir: str, starts: dict[str, dict[str, Any]]) -> dict[str, Any]:
        self.asked_prior.append(run_dir)
        return {"next_step": self.next_step, "config": {"lr": 1}, "summary": {}, "meta": {"name": "before"}}

    def alive(self, run_dir: str, session: str, start: dict[str, Any]) -> bool:
        return session in self.alive_sessions

    def exists(self, path: str) -> bool:
        return path in self.runs

    def recall(self, root: str) -> tuple[str, str] | None:
        return self.remembered

    def shadows_package(self, root: str, places: list[str]) -> bool:
        return root.endswith("/runship")

    def config(self, value: object, include: Any, exclude: Any) -> tuple[dict[str, Any], str | None]:
        return (dict(value) if isinstance(value, dict) else {}), None


def proc(environ: dict[str, str] | None = None, placement: Placement | None = None) -> Process:
    return Process(
        environ=environ or {},
        host="node1",
        pid=42,
        argv=["train.py", "--api-key=abc"],
        cwd="/work",
        python="3.11.0",
        version="0.1.0",
        placement=placement,
    )


S1, S2 = "20260101T000000000Zaaaaaa", "20260102T000000000Zbbbbbb"


def test_a_fresh_run():
    plan = resolve_start({"project": "p", "id": "r1", "config": {"a": 1}}, proc(), Runs())
    assert (plan.root, plan.project, plan.run_id, plan.mode) == ("/work/runship-runs", "p", "r1", "offline")
    assert plan.run_dir == "/work/runship-runs/p/r1"
    assert not plan.resuming and not plan.exists and plan.prior is None and plan.config == {"a": 1}
    start = plan.start
    assert start["session"] == plan.session and start["resumed"] is False and start["reset"] is False
    assert start["first_step"] == 0 and "blind" not in start and start["host"] == "node1" and start["pid"] == 42
    assert start["argv"][1] == "--api-key=<redacted:3>" and start["runship"] == "0.1.0"


def test_resume_allow_continues_an_existing_run_and_keeps_its_metadata():
    disk = Runs({"/runs/p/r1": {S1: {"session": S1}}}, next_step=7)
    plan = resolve_start({"project": "p", "id": "r1", "dir": "/runs", "resume": "allow"}, proc(), disk)
    assert plan.resuming and plan.exists and plan.start["first_step"] == 7 and plan.start["resumed"] is True
    assert plan.start["name"] == "before" and plan.session is not None and plan.session > S1
    assert disk.asked_prior == ["/runs/p/r1"]


def test_an_existing_id_without_resume_is_a_reset():
    disk = Runs({"/runs/p/r1": {S1: {}}})
    plan = resolve_start({"project": "p", "id": "r1", "dir": "/runs"}, proc(), disk)
    assert plan.start["reset"] is True and not plan.resuming and disk.asked_prior == []


def test_resume_must_and_never():
    with pytest.raises(UsageError, match="does not exist"):
        resolve_start({"id": "r1", "dir": "/runs", "resume": "must"}, proc(), Runs())
    with pytest.raises(UsageError, match="already exists"):
        resolve_start(
            {"id": "r1", "dir": "/runs", "resume": "never"}, proc(), Runs({"/runs/uncategorized/r1": {S1: {}}})
        )


def test_resume_allow_where_nothing_is_seen_is_blind():
    plan = resolve_start({"id": "r1", "resume": "allow"}, proc(), Runs())
    assert plan.start["blind"] is True and not plan.resuming


def test_resume_auto_takes_the_remembered_run():
    disk = Runs({"/runs/p/old": {S1: {}}}, remembered=("p", "old"))
    plan = resolve_start({"project": "p", "dir": "/runs", "resume": True}, proc(), disk)
    assert plan.run_id == "old" and plan.resuming


def test_the_environment_gives_what_the_arguments_do_not():
    environ = {"RUNSHIP_PROJECT": "envp", "WANDB_RUN_ID": "envid", "RUNSHIP_TAGS": "a, b", "RUNSHIP_MODE": "disabled"}
    plan = resolve_start({}, proc(environ), Runs())
    assert (plan.project, plan.run_id, plan.mode, plan.start["tags"]) == ("envp", "envid", "disabled", ("a", "b"))
    assert plan.session is None  # a disabled run writes nothing


def test_bad_values_are_refused_before_anything_is_read():
    for args, match in (({"mode": "loud"}, "mode"), ({"resume": "maybe"}, "resume"), ({"id": "../x"}, "id")):
        with pytest.raises(ValueError, match=match):
            resolve_start(args, proc(), Runs())
    with pytest.raises(UsageError, match="would be imported instead"):
        resolve_start({"dir": "/work/runship"}, proc(), Runs())


def test_a_sweep_trial_wins_over_the_script():
    environ = {
        "RUNSHIP_SWEEP_ID": "p/sw1",
        "RUNSHIP_SWEEP_PARAMS": json.dumps({"lr": 0.5}),
        "RUNSHIP_SWEEP_TRIAL": "3",
        "RUNSHIP_RUN_ID": "sw1-3",
        "RUNSHIP_PROJECT": "p",
    }
    plan = resolve_start({"project": "mine", "id": "mine", "config": {"lr": 1, "b": 2}}, proc(environ), Runs())
    assert (plan.project, plan.run_id, plan.config) == ("p", "sw1-3", {"lr": 0.5, "b": 2})
    assert plan.start["sweep"] == {"id": "sw1", "trial": "3", "requested": {"project": "mine", "id": "mine"}}
    assert [fields for _, fields in plan.notices] == [{"warning": True, "requested": {"project": "mine", "id": "mine"}}]


def test_ranks_of_a_job_join_one_run():
    job = "slurm:77.0"
    rank1 = Placement(1, 1, 4, "node1", "slurm", job)
    plan = resolve_start({}, proc(placement=rank1), Runs())
    assert plan.run_id == "slurm-77.0" and plan.start["placement"]["rank"] == 1
    assert plan.settings.system_metrics is False  # local rank 1: the node's sampler is local rank 0's
    rank0 = Placement(0, 0, 4, "node1", "slurm", job)
    disk = Runs({"/work/runship-runs/uncategorized/slurm-77.0": {S1: {"placement": {"rank": 0, "job": job}}}})
    plan = resolve_start({}, proc(placement=rank0), disk)
    assert plan.resuming and plan.start["reset"] is False  # a requeue of the job: rank 0 joins
    plan = resolve_start({"settings": {"ranks": "primary-only"}}, proc(placement=rank1), Runs())
    assert plan.mode == "disabled"


def test_a_live_writer_of_the_same_run_is_warned_of():
    disk = Runs({"/runs/p/r1": {S1: {"host": "node2", "pid": 7}, S2: {"host": "node3", "pid": 8}}}, alive={S2})
    plan = resolve_start({"project": "p", "id": "r1", "dir": "/runs", "resume": "allow"}, proc(), disk)
    warned = [m for m, f in plan.notices if f.get("warning")]
    assert len(warned) == 1 and "host node3 pid 8" in warned[0] and "host node1 pid 42 (this one)" in warned[0]


def test_arguments_without_effect_and_ignored_settings_are_noticed_in_order():
    plan = resolve_start({"magic": True, "force": True, "settings": {"x_label": "a"}}, proc(), Runs())
    assert [f for _, f in plan.notices] == [{"arg": "magic"}, {"arg": "force"}]
    assert plan.start["args"]["magic"] is True and [f for _, f in plan.later] == [{"setting": "x_label"}]
