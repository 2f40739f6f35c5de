"""Sweeps with no server: specs, claiming, agents as real processes (some
SIGKILLed mid-trial), every trial done exactly once; hyperband; the wandb
functions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import runship
from runship.sweep import Sweep, SweepSpecError, check
from runship.sweep import spec as specs
from tests.conftest import child_env, run_python

TRAIN = """
import os, sys, time, runship
run = runship.init(config={"lr": 1.0, "layers": 1, "steps": 6},
                   settings={"quiet": True, "environment": False, "flush_interval": 0.05})
for i in range(run.config["steps"]):
    run.log({"loss": (run.config["lr"] - 0.3) ** 2 + run.config["layers"] / 100 + 1.0 / (i + 1)})
    time.sleep(float(os.environ.get("TRIAL_SLEEP", "0.05")))
assert run.sweep_id == os.environ["RUNSHIP_SWEEP_ID"].rsplit("/", 1)[1]
run.finish()
"""

SPECS = {
    "grid": {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.2, 0.3, 0.4]}, "layers": {"values": [1, 2, 3]}},
    },
    "random": {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "run_cap": 10,
        "parameters": {
            "lr": {"min": 0.01, "max": 1.0, "distribution": "log_uniform_values"},
            "layers": {"min": 1, "max": 4},
        },
    },
    "bayes": {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "run_cap": 10,
        "parameters": {"lr": {"min": 0.0, "max": 1.0}, "layers": {"values": [1, 2, 3]}},
    },
}


def _agent(root, sweep, work, extra_env=None):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runship.cli",
            "--root",
            root,
            "sweep",
            "agent",
            sweep,
            "--",
            sys.executable,
            "train.py",
        ],
        cwd=work,
        env=child_env(extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_concurrent_agents_some_killed_mid_trial_run_every_trial_exactly_once(tmp_path, method):
    root, work = str(tmp_path / "runs"), tmp_path
    (work / "train.py").write_text(TRAIN)
    sweep = Sweep.create(root, "sw", SPECS[method], lost_after=2.0)
    size = sweep.size()
    agents = [_agent(root, f"sw/{sweep.id}", work, {"TRIAL_SLEEP": "0.1"}) for _ in range(4)]
    # kill two agents (their whole process group: the agent and its trial) while they run a trial
    killed = 0
    deadline = time.time() + 60
    while killed < 2 and time.time() < deadline:
        running = {t["pid"] for t in sweep.status()["trials"] if t["state"] == "running"}
        for proc in agents[:2]:
            if proc.returncode is None and proc.pid in running:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
        time.sleep(0.02)
    assert killed == 2
    for proc in agents[2:]:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    status = sweep.status()
    trials = status["trials"]
    assert [t["index"] for t in trials] == list(range(size))
    assert all(t["state"] == "finished" for t in trials), trials
    assert any(t["attempts"] > 1 for t in trials)  # the killed agents' trials were offered again
    results = os.listdir(os.path.join(sweep.dir, "results"))
    assert sorted(results) == sorted(f"{i}.json" for i in range(size))  # one result a trial
    if method == "grid":  # every grid point once
        points = sorted((t["params"]["lr"], t["params"]["layers"]) for t in trials)
        assert points == sorted((lr, n) for lr in (0.1, 0.2, 0.3, 0.4) for n in (1, 2, 3))
    # each result is its run's: the run holds the trial's params as config and its metric as summary
    for t in trials:
        run = runship.open_run(os.path.join(root, "sw", t["run_id"]))
        assert run.state == "finished" and run.steps == 6
        assert {k: run.config[k] for k in ("lr", "layers")} == t["params"]
        assert t["metric"] == run.summary["loss"]
    best = status["best"]
    assert best["metric"] == min(t["metric"] for t in trials)


def test_claims_race_no_trial_twice_none_lost(tmp_path):
    """32 threads claiming one grid of 200 at once."""
    spec = {"method": "grid", "parameters": {"a": {"values": list(range(20))}, "b": {"values": list(range(10))}}}
    sweep = Sweep.create(str(tmp_path), "p", spec)
    got: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        mine = Sweep.open(str(tmp_path), f"p/{sweep.id}")
        while (trial := mine.claim()) is not None:
            with lock:
                got.append(trial.index)
            mine.finish(trial, {"state": "finished"})

    threads = [threading.Thread(target=claimer) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(200))
    assert sweep.done() and sweep.claim() is None


def test_a_lost_trial_is_offered_again_with_its_params_and_a_late_result_does_not_count_twice(tmp_path):
    sweep = Sweep.create(str(tmp_path), "p", SPECS["bayes"], lost_after=5.0)
    first = sweep.claim()
    assert first is not None and first.attempt == 0
    later = time.time() + 6  # its agent stopped touching its claim
    again = sweep.claim(now=later)
    assert (again.index, again.attempt, again.params) == (first.index, 1, first.params)
    assert again.run_id == f"{sweep.id}-{first.index}-r1"
    assert sweep.finish(again, {"state": "finished", "metric": 1.0})
    assert not sweep.finish(first, {"state": "finished", "metric": 2.0})  # the first result stands
    (trial,) = sweep.status()["trials"]
    assert trial["metric"] == 1.0 and trial["attempts"] == 2


def test_random_params_follow_their_distributions_and_are_the_same_for_every_agent(tmp_path):
    spec = check(
        {
            "method": "random",
            "parameters": {
                "lr": {"min": 1e-4, "max": 1e-1, "distribution": "log_uniform_values"},
                "n": {"min": 2, "max": 5},
                "drop": {"min": 0.0, "max": 0.5},
                "opt": {"values": ["adam", "sgd"], "probabilities": [0.9, 0.1]},
                "fixed": {"value": 7},
                "q": {"min": 0, "max": 10, "distribution": "q_uniform", "q": 2},
                "model": {"parameters": {"width": {"values": [64, 128]}}},
            },
        }
    )
    draws = [specs.random_params(spec, 42, i) for i in range(400)]
    assert draws[17] == specs.random_params(spec, 42, 17)
    assert all(1e-4 <= d["lr"] <= 1e-1 and 2 <= d["n"] <= 5 and 0 <= d["drop"] <= 0.5 for d in draws)
    assert all(d["fixed"] == 7 and d["q"] % 2 == 0 and d["model"]["width"] in (64, 128) for d in draws)
    assert isinstance(draws[0]["n"], int)
    assert 300 < sum(d["opt"] == "adam" for d in draws) < 400
    assert sum(d["lr"] < 1e-2 for d in draws) > 100  # log-uniform: two of three decades below 1e-2


@pytest.mark.parametrize(
    "bad, said",
    [
        ({"method": "hill", "parameters": {"a": {"value": 1}}}, "method must be one of grid, random, bayes"),
        (
            {"method": "grid", "parameters": {"a": {"min": 0.0, "max": 1.0}}},
            "method grid needs values for every parameter; a",
        ),
        ({"method": "bayes", "parameters": {"a": {"min": 0.0, "max": 1.0}}}, "method bayes needs a metric"),
        ({"method": "random", "parameters": {"a": {"min": 2, "max": 1}}}, "parameters.a: min 2 is above max 1"),
        ({"method": "random", "parameters": {"a": {"values": []}}}, "parameters.a.values must be a non-empty list"),
        ({"method": "random", "parameters": {}}, "parameters must be a non-empty map"),
        ({"method": "random", "parametres": {}}, "unknown sweep spec key(s): parametres"),
        ({"method": "random", "metric": {"name": "x", "goal": "up"}, "parameters": {"a": {"value": 1}}}, "metric.goal"),
    ],
)
def test_a_bad_spec_is_named(bad, said):
    with pytest.raises(SweepSpecError) as e:
        check(bad)
    assert said in str(e.value)


def test_the_cli_creates_runs_and_reports_a_sweep_and_names_a_bad_spec(tmp_path):
    root = str(tmp_path / "runs")
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  lr: {values: [0.1, 0.4]}\n"
    )
    (tmp_path / "bad.yaml").write_text("method: grid\nparameters:\n  lr: {min: 0.1, max: 0.5}\n")
    cli = [sys.executable, "-m", "runship.cli", "--root", root, "sweep"]
    out = subprocess.run(
        [*cli, "create", "sweep.yaml", "--project", "cli"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    sweep_name = out.stdout.strip()
    assert sweep_name.startswith("cli/")
    bad = subprocess.run([*cli, "create", "bad.yaml"], cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert bad.returncode == 1 and "method grid needs values for every parameter; lr" in bad.stderr
    agent = subprocess.run(
        [*cli, "agent", sweep_name, "--", sys.executable, "train.py"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert agent.returncode == 0, agent.stderr
    status = subprocess.run([*cli, "status", sweep_name], cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert "2 of 2 trials: 2 finished" in status.stdout, status.stdout + status.stderr
    assert "best: trial 1" in status.stdout  # lr 0.4 is nearer 0.3
    as_json = json.loads(
        subprocess.run(
            [*cli, "status", sweep_name, "--json"], cwd=tmp_path, env=child_env(), capture_output=True, text=True
        ).stdout
    )
    assert [t["params"]["lr"] for t in as_json["trials"]] == [0.1, 0.4]
    missing = subprocess.run(
        [*cli, "status", "cli/nosuch"], cwd=tmp_path, env=child_env(), capture_output=True, text=True
    )
    assert missing.returncode == 1 and "no sweep cli/nosuch" in missing.stderr


def test_a_trial_whose_script_asks_for_another_project_id_and_dir_keeps_its_result(tmp_path):
    root = str(tmp_path / "runs")
    (tmp_path / "train.py").write_text(
        "import runship\n"
        'run = runship.init(project="other", id="mine", dir="elsewhere", config={"lr": 1.0},\n'
        '                   settings={"environment": False})\n'
        'run.log({"loss": run.config["lr"] * 2})\n'
    )
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  lr: {values: [0.1, 0.4]}\n"
    )
    cli = [sys.executable, "-m", "runship.cli", "--root", root, "sweep"]
    made = subprocess.run(
        [*cli, "create", "sweep.yaml", "--project", "swept"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip()
    agent = subprocess.run(
        [*cli, "agent", name, "--", sys.executable, "train.py"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert agent.returncode == 0, agent.stderr
    status = Sweep.open(root, name).status()
    assert [(t["state"], t["metric"]) for t in status["trials"]] == [("finished", 0.2), ("finished", 0.8)]
    shown = subprocess.run([*cli, "status", name], cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert "2 of 2 trials: 2 finished" in shown.stdout and "best: trial 0" in shown.stdout, shown.stdout
    # the runs are where the sweep put them, and nothing went where the script asked
    assert sorted(os.listdir(root)) == ["swept"] and not os.path.exists(tmp_path / "elsewhere")
    sweep_id = name.split("/")[1]
    for index in (0, 1):
        view = runship.open_run(os.path.join(root, "swept", f"{sweep_id}-{index}"))
        wanted = {"project": "other", "id": "mine", "dir": "elsewhere"}
        assert view.sessions[-1].start["sweep"]["requested"] == wanted
    # said once a trial, on the trial's stderr (which the agent passes on)
    warned = [line for line in agent.stderr.splitlines() if "is ignored in a trial of sweep" in line]
    assert len(warned) == 2, agent.stderr
    assert warned[0] == (
        f"runship: init(project='other', id='mine', dir='elsewhere') is ignored in a trial of sweep {name}: "
        f"its run is swept/{sweep_id}-0 in {root}, where the agent reads the trial's result"
    )


def test_wandb_sweep_and_agent_functions_run_trials_in_this_process(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            """
import runship as wandb
sweep_id = wandb.sweep({"method": "grid", "metric": {"name": "acc", "goal": "maximize"},
                        "parameters": {"width": {"values": [8, 16, 32]}}}, project="fn")
seen = []
def train():
    run = wandb.init(config={"width": 1})
    seen.append((run.sweep_id, run.config["width"]))
    run.log({"acc": run.config["width"] / 32})
wandb.agent(sweep_id, function=train, count=2)
wandb.agent(sweep_id, function=train)
print(sweep_id, seen)
""",
        ],
        cwd=tmp_path,
        env=child_env({"RUNSHIP_DIR": str(tmp_path / "runs"), "RUNSHIP_SILENT": "1"}),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    sweep_id, seen = out.stdout.split(" ", 1)
    assert seen.strip() == str([(sweep_id, 8), (sweep_id, 16), (sweep_id, 32)])
    status = Sweep.open(str(tmp_path / "runs"), f"fn/{sweep_id}").status()
    assert [t["metric"] for t in status["trials"]] == [0.25, 0.5, 1.0] and status["best"]["index"] == 2


@pytest.mark.heavy
def test_hyperband_stops_trials_worse_than_the_best_third_at_a_bracket(tmp_path):
    root = str(tmp_path / "runs")
    (tmp_path / "train.py").write_text(
        """
import time, runship
run = runship.init(config={"q": 1}, settings={"quiet": True, "environment": False, "flush_interval": 0.02})
for i in range(40):
    run.log({"loss": run.config["q"] / (i + 1)})
    time.sleep(0.05)
run.finish()
"""
    )
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"q": {"values": [1, 2, 3, 10, 20]}},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
    }
    sweep = Sweep.create(root, "hb", spec, lost_after=4.0)
    agent = subprocess.run(
        [
            sys.executable,
            "-m",
            "runship.cli",
            "--root",
            root,
            "sweep",
            "agent",
            f"hb/{sweep.id}",
            "--",
            sys.executable,
            "train.py",
        ],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert agent.returncode == 0, agent.stderr
    trials = sweep.status()["trials"]
    # trials 0 and 1 have too few to compare with at each bracket; from trial 2 on, each is worse than the best
    assert [t["state"] for t in trials] == ["finished", "finished", "stopped", "stopped", "stopped"]
    rows = [runship.open_run(os.path.join(root, "hb", t["run_id"])).steps for t in trials]
    assert rows[:2] == [40, 40] and all(r < 40 for r in rows[2:])


def test_a_hostile_sweep_directory_neither_hangs_nor_crashes_a_reader(tmp_path):
    """A sweep directory lives on a shared filesystem: a FIFO where a result
    goes, a link where a claim goes, a spec nested past the decoder's
    depth. Status passes over what it cannot read; an unreadable spec is
    named."""
    sweep = Sweep.create(str(tmp_path), "p", {"method": "grid", "parameters": {"a": {"values": [1, 2]}}})
    trial = sweep.claim()
    sweep.finish(trial, {"state": "finished", "metric": 1.0})
    os.mkfifo(os.path.join(sweep.dir, "results", "1.json"))  # opened, it would block the reader
    (tmp_path / "secret").write_text('{"params": {"a": "stolen"}}')
    os.symlink(tmp_path / "secret", os.path.join(sweep.dir, "claims", "7.0"))
    status = sweep.status()  # returns: nothing opened blocks
    assert [t["params"] for t in status["trials"] if t["index"] == 0] == [{"a": 1}]
    assert all(t["params"] != {"a": "stolen"} for t in status["trials"])
    with open(os.path.join(sweep.dir, "spec.json"), "w") as f:
        f.write("[" * 100_000)
    out = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", str(tmp_path), "sweep", "status", f"p/{sweep.id}"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and f"no sweep p/{sweep.id}" in out.stderr and "Traceback" not in out.stderr


STOPPABLE = """
import os, signal, sys, time, runship
run = runship.init(settings={"quiet": True, "environment": False, "flush_interval": 0.05})
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a script that will not stop: the agent kills it
run.log({"loss": 1.0})
with open(os.environ["MARK"] + "." + os.environ["RUNSHIP_SWEEP_TRIAL"], "w") as f:
    f.write(str(os.getpid()))
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
run.finish()
"""


def _wait_for(path, proc, timeout=60.0):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return int(open(path).read() or 0)


@pytest.mark.parametrize(
    "sig, ignore, code", [(signal.SIGTERM, False, 143), (signal.SIGINT, False, 130), (signal.SIGTERM, True, 143)]
)
def test_a_stopped_agent_ends_its_trial_and_releases_it_to_the_next_agent_at_once(tmp_path, sig, ignore, code):
    """scancel (SIGTERM) or Ctrl-C (SIGINT) on an agent mid-trial: the trial's
    child is stopped (killed after --kill-after when it ignores the signal),
    the trial is marked interrupted and the next agent gets it at once,
    although lost_after (600 s) has not passed."""
    root, work, mark = str(tmp_path / "runs"), tmp_path, str(tmp_path / "started")
    (work / "train.py").write_text(STOPPABLE)
    spec = {"method": "grid", "metric": {"name": "loss", "goal": "minimize"}, "parameters": {"x": {"values": [1]}}}
    sweep = Sweep.create(root, "st", spec)
    env = {"MARK": mark, "TRIAL_SLEEP": "300", **({"IGNORE_TERM": "1"} if ignore else {})}
    first = subprocess.Popen(
        [
            *_CLI,
            "--root",
            root,
            "sweep",
            "agent",
            f"st/{sweep.id}",
            *(["--kill-after", "1"] if ignore else []),
            "--",
            sys.executable,
            "train.py",
        ],
        cwd=work,
        env=child_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the signal reaches the agent only: it must pass it on
    )
    child = _wait_for(mark + ".0.0", first)
    first.send_signal(sig)
    _, err = first.communicate(timeout=60)
    assert first.returncode == code, err
    assert f"interrupted ({sig.name}): trial 0 left unfinished: released" in err, err
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the trial's child is gone with its agent
    status = subprocess.run(
        [*_CLI, "--root", root, "sweep", "status", f"st/{sweep.id}"], env=child_env(), capture_output=True, text=True
    )
    assert "1 interrupted" in status.stdout, status.stdout + status.stderr
    # the next agent takes it at once (--no-wait: it would leave at once if the trial were still claimed)
    second = subprocess.run(
        [*_CLI, "--root", root, "sweep", "agent", f"st/{sweep.id}", "--no-wait", "--", sys.executable, "train.py"],
        cwd=work,
        env=child_env({"MARK": mark}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert "trial 0 (attempt 2)" in second.stderr
    (trial,) = sweep.status()["trials"]
    assert (trial["state"], trial["attempts"], trial["run_id"]) == ("finished", 2, f"{sweep.id}-0-r1")


_CLI = [sys.executable, "-m", "runship.cli"]


def test_an_agent_whose_trials_all_failed_exits_1_and_metrics_read_as_in_status(tmp_path):
    """An agent none of whose trials succeeded exits 1 (a Slurm array task
    shows red); one with a success, or one that found the sweep done, exits
    0. The agent's log and `sweep status` print a metric alike (0.855)."""
    root = str(tmp_path / "runs")
    (tmp_path / "train.py").write_text(
        """
import os, sys, runship
run = runship.init(settings={"quiet": True, "environment": False})
run.log({"acc": 0.043 + 0.812})  # 0.8550000000000001 as a float
run.finish()
sys.exit(0 if run.config["ok"] else 3)
"""
    )

    def make(values):
        spec = {
            "method": "grid",
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {"ok": {"values": values}},
        }
        return f"p/{Sweep.create(root, 'p', spec).id}"

    def agent(name):
        return subprocess.run(
            [*_CLI, "--root", root, "sweep", "agent", name, "--", sys.executable, "train.py"],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    failing = make([0, 0])
    out = agent(failing)
    assert out.returncode == 1 and "none of the 2 trial(s) this agent ran succeeded" in out.stderr, out.stderr
    mixed = make([0, 1])
    out = agent(mixed)
    assert out.returncode == 0, out.stderr
    assert "trial 1 finished (metric 0.855)" in out.stderr and "0.8550000000000001" not in out.stderr, out.stderr
    status = subprocess.run(
        [*_CLI, "--root", root, "sweep", "status", mixed], env=child_env(), capture_output=True, text=True
    )
    assert "acc = 0.855," in status.stdout, status.stdout
    again = agent(failing)  # the sweep is done: nothing run, nothing failed
    assert again.returncode == 0 and "ran 0 trial(s)" in again.stderr, again.stderr


def test_a_bayes_sweep_is_refused_where_optuna_cannot_be_imported_and_the_hint_names_the_program(tmp_path):
    """`sweep create` of a bayes spec in a Python where `import optuna`
    fails (sys.modules["optuna"] = None: Python's own way to make an import
    fail as for a missing package) exits 1 naming the install, and makes no
    sweep. Created, the hint names the spec's own program."""
    root = str(tmp_path / "runs")
    (tmp_path / "bayes.yaml").write_text(
        "method: bayes\nprogram: fit model.py\nmetric: {name: loss, goal: minimize}\nparameters:\n  lr: {min: 0.0, max: 1.0}\n"
    )
    without_optuna = (
        "import runpy, sys; sys.modules['optuna'] = None; sys.argv[0] = 'runship'; "
        "runpy.run_module('runship.cli', run_name='__main__')"
    )
    args = ["--root", root, "sweep", "create", "bayes.yaml", "--project", "b"]
    out = subprocess.run(
        [sys.executable, "-c", without_optuna, *args], cwd=tmp_path, env=child_env(), capture_output=True, text=True
    )
    assert out.returncode == 1, out.stderr
    assert "method bayes needs Optuna" in out.stderr and "pip install 'runship[sweep]'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not os.path.exists(os.path.join(root, "b", ".sweeps"))
    made = subprocess.run([*_CLI, *args], cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert f"runship sweep agent {made.stdout.strip()} (runs python 'fit model.py'" in made.stderr, made.stderr
    assert "train.py" not in made.stderr


@pytest.mark.heavy  # a real-process story of ~10 s: `make test-heavy` (make test stays under 4 minutes here)
@pytest.mark.parametrize("kind", ["file", "s3"])
def test_sweeps_go_up_with_the_runs_and_sweep_status_reads_them_on_the_target(tmp_path, kind, request):
    """`runship upload` of a root sends its sweep directories beside the
    runs (a sweep's own files only: a link planted in results/ and a stray
    file are not sent), and `runship --root URL sweep status` reads the
    sweep there as it reads it in the root."""
    from tests.conftest import upload_cmd
    from tests.servers import S3_ENV

    root = str(tmp_path / "runs")
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "secret").write_text('{"index": 7, "state": "finished", "metric": 0.0}')
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.4]}},
    }
    sweep = Sweep.create(root, "up", spec)
    agent = subprocess.run(
        [*_CLI, "--root", root, "sweep", "agent", f"up/{sweep.id}", "--", sys.executable, "train.py"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert agent.returncode == 0, agent.stderr
    os.symlink(tmp_path / "secret", os.path.join(sweep.dir, "results", "7.json"))
    (tmp_path / "runs" / "up" / ".sweeps" / sweep.id / "claims" / "notes.txt").write_text("not a sweep's")
    if kind == "file":
        to, env = f"file://{tmp_path / 'remote'}", {}
    else:
        moto = request.getfixturevalue("moto")
        bucket = f"sweeps-{os.getpid()}-{len(os.listdir(tmp_path))}-{time.monotonic_ns() % 10**9}"
        moto.create_bucket(bucket)
        to, env = f"s3://{bucket}/prefix", {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
    up = upload_cmd([root], to, tmp_path / "state", "--once", env=env)
    assert up.returncode == 0, up.stderr
    assert "7.json: a symlink" in up.stderr, up.stderr

    def status(where, *extra):
        out = subprocess.run(
            [*_CLI, "--root", where, "sweep", "status", f"up/{sweep.id}", *extra],
            env=child_env(env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert status(to) == status(root)
    assert "2 of 2 trials: 2 finished" in status(to)
    remote = json.loads(status(to, "--json"))
    assert [t["index"] for t in remote["trials"]] == [0, 1] and remote["best"]["index"] == 1
    import fsspec

    fs, base = fsspec.core.url_to_fs(to, **({"endpoint_url": env["AWS_ENDPOINT_URL"]} if env else {}))
    sent = sorted(p.split(f"/.sweeps/{sweep.id}/", 1)[1] for p in fs.find(f"{base}/up/.sweeps"))
    assert sent == ["claims/0.0", "claims/1.0", "results/0.json", "results/1.json", "spec.json"]


def test_runship_agent_in_a_script_releases_its_trial_on_ctrl_c(tmp_path):
    """`runship.agent(sweep, function=train)` in a script stopped by
    Ctrl-C (SIGINT: KeyboardInterrupt in the function) releases the trial
    as the command's agent does: interrupted, offered again at once."""
    root, mark = str(tmp_path / "runs"), str(tmp_path / "started")
    spec = {"method": "grid", "parameters": {"w": {"values": [8, 16]}}}
    sweep = Sweep.create(root, "fn", spec)
    script = f"""
import os, time, runship
def train():
    runship.init(settings={{"quiet": True, "environment": False}})
    open({mark!r}, "w").write(str(os.getpid()))
    time.sleep(300)
runship.agent("fn/{sweep.id}", function=train)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=child_env({"RUNSHIP_DIR": root}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_for(mark, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err and proc.returncode != 0, err
    first = sweep.status()["trials"][0]
    assert (first["index"], first["state"]) == (0, "interrupted")
    assert sweep.claim().index == 0  # at once, although lost_after (600 s) has not passed


def test_a_worker_that_took_wandbs_sweep_variables_out_is_a_run_of_its_own(tmp_path):
    """wandb's cross-validation example starts a worker per fold with wandb's
    sweep variables taken out of its environment: its run is its own, not the
    trial's (a torchrun rank keeps them all and joins the trial's run)."""
    from runship.writer.plan import trial_environ

    agent = {
        "RUNSHIP_SWEEP_ID": "p/sw",
        "RUNSHIP_SWEEP_PARAMS": '{"lr": 0.1}',
        "RUNSHIP_SWEEP_TRIAL": "0.0",
        "RUNSHIP_RUN_ID": "sw-0",
        "RUNSHIP_PROJECT": "p",
        "RUNSHIP_DIR": str(tmp_path),
        "WANDB_SWEEP_ID": "sw",
        "WANDB_RUN_ID": "sw-0",
        "RUNSHIP_SWEEP_WANDB": "1",
    }
    assert trial_environ(agent) == agent  # the trial's process, or one of its ranks
    older = {k: v for k, v in agent.items() if not k.startswith("WANDB_") and k != "RUNSHIP_SWEEP_WANDB"}
    assert trial_environ(older) == older  # an earlier runship's agent: its trial as before
    fold = {k: v for k, v in agent.items() if not k.startswith("WANDB_")}
    assert trial_environ(fold) == {"RUNSHIP_PROJECT": "p", "RUNSHIP_DIR": str(tmp_path)}
    code = "import runship; r = runship.init(settings={'quiet': True}); print(r.id, r.config.as_dict()); r.finish()"
    out = run_python(code, env=fold)
    assert out.returncode == 0, out.stderr
    run_id, config = out.stdout.split(" ", 1)
    assert run_id != "sw-0" and config.strip() == "{}"
    out = run_python(code, env=agent)
    assert out.stdout.split(" ", 1)[0] == "sw-0" and "'lr': 0.1" in out.stdout
