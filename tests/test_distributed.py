"""Distributed jobs as real processes: ranks of one job (Slurm, torchrun,
Open MPI and PMI variables) make one run; a duplicate rank is warned
about; a blind session of a requeued job continues the step count once
uploaded next to the sessions before it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import runship
from runship.writer import ranks
from tests.conftest import child_env, popen_python, run_python, upload_cmd

RANK_SCRIPT = """
import os, sys, time, runship
run = runship.init(project="dist", config={{"lr": 0.1, "who": "rank"}},
                   settings={{"quiet": True, "environment": False, "stats_interval": 0.05, "flush_interval": 0.05}})
rank = {rank_expr}
print(f"hello from rank {{rank}}", flush=True)
for i in range(20):
    run.log({{"loss": 1.0 / (1 + i) + rank, "rank": rank}})
    time.sleep(0.01)
run.summary["mine"] = rank
time.sleep(0.2)  # a system metrics sample or two
run.finish()
"""


def _slurm_env(rank, world=8, per_node=4, job="4242", step="0"):
    return {
        "SLURM_JOB_ID": job,
        "SLURM_STEP_ID": step,
        "SLURM_PROCID": str(rank),
        "SLURM_LOCALID": str(rank % per_node),
        "SLURM_NTASKS": str(world),
        "SLURM_NODEID": str(rank // per_node),
        "SLURMD_NODENAME": f"node{rank // per_node}",
    }


def _launch(root, envs, rank_expr):
    code = RANK_SCRIPT.format(rank_expr=rank_expr)
    procs = [popen_python(code, env={"RUNSHIP_DIR": root, **env}) for env in envs]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return outs


def test_eight_slurm_tasks_make_one_run_with_the_primary_history_and_every_rank_kept_apart(root):
    _launch(root, [_slurm_env(r) for r in range(8)], 'int(os.environ["SLURM_PROCID"])')
    (run_id,) = os.listdir(os.path.join(root, "dist"))
    assert run_id == "slurm-4242.0"  # every rank derived the same id from the job
    view = runship.open_run(os.path.join(root, "dist", run_id))
    # the run's history, config and summary are rank 0's
    assert [r["loss"] for r in view.history()] == [1.0 / (1 + i) for i in range(20)]
    assert view.steps == 20 and view.last_step == 19 and view.state == "finished"
    assert view.summary["mine"] == 0 and view.summary["rank"] == 0 and view.config["lr"] == 0.1
    # each rank's rows, apart
    for rank in range(8):
        assert [r["loss"] for r in view.history(rank=rank)] == [1.0 / (1 + i) + rank for i in range(20)]
        assert [r["_step"] for r in view.history(rank=rank)] == list(range(20))
    got = [(r["rank"], r["local_rank"], r["world_size"], r["node"], r["rows"], r["claims"]) for r in view.ranks]
    assert got == [(r, r % 4, 8, f"node{r // 4}", 20, 1) for r in range(8)]
    # every rank's console, labelled; one rank's alone
    lines = list(view.console())
    assert sorted((line["rank"], line["text"]) for line in lines) == [(r, f"hello from rank {r}") for r in range(8)]
    assert [line["text"] for line in view.console(rank=5)] == ["hello from rank 5"]
    # system metrics once a node (its local rank 0), named by node
    assert {s["_node"] for s in view.system()} == {"node0", "node1"}
    assert {s["_node"] for s in view.system(node="node1")} == {"node1"}
    assert all(isinstance(s["_runtime"], float) for s in view.system())
    # the dashboard's system page: each node's metrics apart; its console: each line's rank
    from runship.web.views import console, series

    charts = series.system_series(view, 50)["series"]
    assert {k.split("/", 1)[0] for k in charts} == {"node0", "node1"} and "node1/cpu" in charts
    assert sorted(line["text"] for line in console.console(view, 0, None, 100, None)["lines"]) == [
        f"[{r}] hello from rank {r}" for r in range(8)
    ]
    # the same through Api and the CLI
    (api_run,) = runship.Api(root).runs("dist")
    assert [r["loss"] for r in api_run.scan_history(rank=3)] == [1.0 / (1 + i) + 3 for i in range(20)]
    assert len(api_run.ranks) == 8
    show = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", root, "show", f"dist/{run_id}"],
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert "ranks: 8 of 8 on 2 node(s): node0, node1" in show.stdout, show.stderr
    console = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", root, "console", f"dist/{run_id}", "--rank", "6"],
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert console.stdout == "hello from rank 6\n", console.stderr


def test_a_rank_after_rank_0_on_a_new_run_says_it_joined_the_run_as_its_rank(root):
    said = []
    for rank in (0, 1, 2):
        out = run_python(
            'import runship; runship.init(project="dist", settings={"environment": False}).finish(quiet=True)',
            env={"RUNSHIP_DIR": root, **_slurm_env(rank, world=3, job="77")},
        )
        assert out.returncode == 0, out.stderr
        said += [line for line in out.stderr.splitlines() if " run dist/" in line]
    run_dir = os.path.join(root, "dist", "slurm-77.0")
    assert [line.split(" (")[0] for line in said] == [
        f"runship: started run dist/slurm-77.0 in {run_dir}",
        f"runship: joined run dist/slurm-77.0 as rank 1 in {run_dir}",
        f"runship: joined run dist/slurm-77.0 as rank 2 in {run_dir}",
    ]


@pytest.mark.parametrize(
    "launcher",
    [
        lambda r: {"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "4", "TORCHELASTIC_RUN_ID": "abc"},
        lambda r: {
            "OMPI_COMM_WORLD_RANK": str(r),
            "OMPI_COMM_WORLD_LOCAL_RANK": str(r),
            "OMPI_COMM_WORLD_SIZE": "4",
            "PMIX_NAMESPACE": "prterun-x-1@1",
        },
        lambda r: {"PMI_RANK": str(r), "PMI_SIZE": "4", "MPI_LOCALRANKID": str(r), "PMI_JOBID": "77"},
    ],
    ids=["torchrun", "openmpi", "pmi"],
)
def test_other_launchers_variables_make_one_run(root, launcher):
    rank = 'int(os.environ.get("RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ["PMI_RANK"])'
    _launch(root, [launcher(r) for r in range(4)], rank)
    (run_id,) = os.listdir(os.path.join(root, "dist"))
    view = runship.open_run(os.path.join(root, "dist", run_id))
    assert [r["rank"] for r in view.ranks] == [0, 1, 2, 3]
    assert [r["loss"] for r in view.history()] == [1.0 / (1 + i) for i in range(20)]
    assert [r["loss"] for r in view.history(rank=2)] == [1.0 / (1 + i) + 2 for i in range(20)]


def test_detect_reads_each_launcher_and_settings_win():
    env = {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "SLURM_JOB_ID": "9", "SLURM_STEP_ID": "2"}
    got = ranks.detect(env)
    assert (got.rank, got.local_rank, got.world_size, got.source, got.job) == (3, 1, 8, "torchrun", "slurm:9.2")
    # torchrun's own rendezvous id names the launch; run twice in one batch script, two launches
    assert ranks.detect({**env, "TORCHELASTIC_RUN_ID": "r1"}).job == "torchrun:r1"
    in_batch = {"RANK": "3", "WORLD_SIZE": "8", "SLURM_JOB_ID": "9", "TORCHELASTIC_RUN_ID": "none"}
    assert ranks.detect(in_batch).job is None  # no id to share: none derived (the ranks are told)
    # a batch script (SLURM_PROCID and SLURM_NTASKS, no step) is one process, not rank 0 of a job
    assert ranks.detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "9"}) is None
    assert ranks.detect({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process is no distributed job
    assert ranks.detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_ID": "5"}) is None
    assert ranks.detect({"RANK": "9", "WORLD_SIZE": "4"}) is None  # not a rank of that world
    array = {
        "SLURM_PROCID": "1",
        "SLURM_NTASKS": "2",
        "SLURM_JOB_ID": "11",
        "SLURM_ARRAY_JOB_ID": "10",
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURM_STEP_ID": "0",
    }
    assert ranks.detect(array).job == "slurm:10_3.0"
    given = ranks.detect(env, runship.Settings(rank=5, world_size=6, node="n7"))
    assert (given.rank, given.world_size, given.node, given.source) == (5, 6, "n7", "settings")
    assert ranks.job_run_id("slurm:10_3.0") == "slurm-10_3.0"
    with pytest.raises(ValueError, match=r"settings\.rank"):
        runship.Settings(rank=-1)


def test_primary_only_leaves_the_other_ranks_out(root):
    code = RANK_SCRIPT.format(rank_expr='int(os.environ["SLURM_PROCID"])').replace(
        '"flush_interval": 0.05}', '"flush_interval": 0.05, "ranks": "primary-only"}'
    )
    procs = [popen_python(code, env={"RUNSHIP_DIR": root, **_slurm_env(r, world=3)}) for r in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    view = runship.open_run(os.path.join(root, "dist", "slurm-4242.0"))
    assert [r["rank"] for r in view.ranks] == [0] and len(view.all_sessions) == 1


def test_two_processes_claiming_one_rank_are_warned_about_naming_both(root):
    holder = popen_python(
        """
        import runship, sys, time
        run = runship.init(project="dist", settings={"quiet": True, "environment": False})
        print("READY", flush=True)
        sys.stdin.readline()
        run.finish()
        """,
        env={"RUNSHIP_DIR": root, **_slurm_env(2, world=4)},
        stdin=subprocess.PIPE,
    )
    assert holder.stdout.readline().strip() == "READY"
    try:
        second = run_python(
            """
            import runship
            runship.init(project="dist", settings={"environment": False}).finish()
            """,
            env={"RUNSHIP_DIR": root, **_slurm_env(2, world=4)},
        )
        assert second.returncode == 0, second.stderr
        assert "rank 2 of this run is claimed by two processes" in second.stderr
        assert f"pid {holder.pid} (session " in second.stderr  # the other one, then this one
        # a process with no rank information resuming a run another live process writes
        plain = run_python(
            """
            import runship
            runship.init(project="dist", id="slurm-4242.0", resume="allow", settings={"environment": False}).finish()
            """,
            env={"RUNSHIP_DIR": root},
        )
        assert "another process writes this run" in plain.stderr and f"pid {holder.pid}" in plain.stderr
    finally:
        holder.communicate("\n", timeout=30)
    view = runship.open_run(os.path.join(root, "dist", "slurm-4242.0"))
    (two,) = [r for r in view.ranks if r["rank"] == 2]
    assert two["claims"] == 2 and two["pids"][0] == holder.pid
    assert f"and host {os.uname().nodename} pid {two['pids'][1]} (this one)" in second.stderr


BLIND = """
import sys, runship
run = runship.init(project="p", id="job7", resume="allow", settings={{"quiet": True, "environment": False}})
for i in range({rows}):
    {log}
run.finish()
"""


def test_a_blind_requeued_session_continues_the_step_count_after_upload(tmp_path):
    """The job ran 30 steps on node A (node-local root), was requeued onto
    node B (a fresh root, resume="allow") and ran 5; both roots are
    uploaded to one store: the store's run counts 0..34. A script that logs
    its own global step keeps it."""
    store, state = tmp_path / "store", tmp_path / "state"
    for node, rows, log in (
        ("nodeA", 30, 'run.log({"loss": float(i)})'),
        ("nodeB", 5, 'run.log({"loss": 100.0 + i})'),
    ):
        out = run_python(BLIND.format(rows=rows, log=log), env={"RUNSHIP_DIR": str(tmp_path / node)})
        assert out.returncode == 0, out.stderr
    for node in ("nodeA", "nodeB"):
        up = upload_cmd([str(tmp_path / node)], str(store), str(state))
        assert up.returncode == 0, up.stderr
    view = runship.open_run(str(store / "p" / "job7"))
    history = view.history()
    assert [r["_step"] for r in history] == list(range(35))
    assert [r["loss"] for r in history][28:] == [28.0, 29.0, 100.0, 101.0, 102.0, 103.0, 104.0]
    assert view.last_step == 34 and view.sessions[1].shifted_by == 30
    assert [r["_step"] for r in view.history(samples=8)][-1] == 34
    # node B's own root, resumed there again, goes on from its own steps; in the store it follows on
    out = run_python(
        BLIND.format(rows=2, log='run.log({"loss": 200.0 + i})'), env={"RUNSHIP_DIR": str(tmp_path / "nodeB")}
    )
    assert out.returncode == 0, out.stderr
    assert upload_cmd([str(tmp_path / "nodeB")], str(store), str(state)).returncode == 0
    assert [r["_step"] for r in runship.open_run(str(store / "p" / "job7")).history()] == list(range(37))
    # explicit steps (a checkpoint's global step) are kept as logged
    explicit = tmp_path / "explicit"
    for node, start in (("a", 0), ("b", 1000)):
        code = BLIND.format(rows=3, log=f'run.log({{"loss": 1.0}}, step={start} + i)').replace("job7", "job8")
        assert run_python(code, env={"RUNSHIP_DIR": str(explicit / node)}).returncode == 0
        assert upload_cmd([str(explicit / node)], str(store), str(state)).returncode == 0
    assert [r["_step"] for r in runship.open_run(str(store / "p" / "job8")).history()] == [0, 1, 2, 1000, 1001, 1002]
    show = subprocess.run(
        [sys.executable, "-m", "runship.cli", "show", str(store / "p" / "job7")],
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert "steps moved on by 30" in show.stdout, show.stderr


def test_a_new_job_reusing_the_id_resets_the_run_and_drops_the_old_jobs_ranks(root):
    _launch(root, [_slurm_env(r, world=3, job="1") for r in range(3)], 'int(os.environ["SLURM_PROCID"])')
    code = textwrap.dedent(
        """
        import os, runship
        run = runship.init(project="dist", id="slurm-1.0", settings={"quiet": True, "environment": False})
        run.log({"loss": 9.0})
        run.finish()
        """
    )
    envs = [_slurm_env(r, world=2, job="2") for r in range(2)]
    for env in envs:  # the new job's ranks, rank 1 first: it must not be dropped by rank 0's reset
        out = run_python(code, env={"RUNSHIP_DIR": root, **env})
        assert out.returncode == 0, out.stderr
    view = runship.open_run(os.path.join(root, "dist", "slurm-1.0"))
    assert [r["loss"] for r in view.history()] == [9.0]
    assert [r["rank"] for r in view.ranks] == [0, 1]
    assert [s.placement["job"] for s in view.rank_sessions] == ["slurm:2.0"]


def test_shared_puts_every_ranks_rows_in_the_runs_history_with_its_rank(root):
    code = RANK_SCRIPT.format(rank_expr='int(os.environ["SLURM_PROCID"])').replace(
        '"flush_interval": 0.05}', '"flush_interval": 0.05, "ranks": "shared"}'
    )
    envs = [_slurm_env(r, world=4, job="5") for r in (2, 0, 1, 3)]  # rank 0 not first
    for env in envs:
        out = run_python(code, env={"RUNSHIP_DIR": root, **env})
        assert out.returncode == 0, out.stderr
    view = runship.open_run(os.path.join(root, "dist", "slurm-5.0"))
    history = view.history()
    assert len(history) == 80 and sorted({r["rank"] for r in history}) == [0, 1, 2, 3]
    assert [r["loss"] for r in view.history(rank=3)] == [1.0 / (1 + i) + 3 for i in range(20)]
    assert [r["loss"] for r in history if r["rank"] == 0] == [1.0 / (1 + i) for i in range(20)]
    assert [r["rank"] for r in view.ranks] == [0, 1, 2, 3] and not view.rank_sessions


def test_a_crafted_start_record_cannot_push_steps_out_of_range(tmp_path, monkeypatch):
    """A blind session whose start record says it began far below zero (no
    writer says so: a crafted file with valid checksums) keeps its steps as
    logged instead of overflowing the reader's int64 steps."""
    import importlib

    plan_mod = importlib.import_module("runship.writer.plan")

    def run(where, first_step=None):
        if first_step is not None:
            made = plan_mod.start_record

            class Forged(dict):  # init() sets first_step after making the record: this one keeps its own
                def __setitem__(self, key, value):
                    if key != "first_step":
                        super().__setitem__(key, value)

            monkeypatch.setattr(plan_mod, "start_record", lambda *a, **k: Forged(made(*a, **k), first_step=first_step))
        r = runship.init(
            project="p",
            id="x",
            dir=str(where),
            resume="allow",
            reinit="create_new",
            settings={"quiet": True, "environment": False},
        )
        for i in range(3):
            r.log({"v": float(i)})
        r.finish()
        monkeypatch.undo()
        return r.run_dir

    a = run(tmp_path / "a")
    b = run(tmp_path / "b", first_step=-(2**63))
    store = tmp_path / "store"
    store.mkdir()
    for d in (a, b):
        for name in os.listdir(d):
            if name.endswith(".msgpack"):
                os.link(os.path.join(d, name), store / name)
    view = runship.open_run(str(store))
    assert [r["_step"] for r in view.history()] == [0, 1, 2, 0, 1, 2]
    assert view.sessions[1].shifted_by == 0
