"""The agent: claims trials of a sweep one after another and runs each, a
command (``runship sweep agent SWEEP -- python train.py``) or a function
(``runship.agent(sweep_id, function=train)``), with no server.

A trial's run gets the trial's params as its config (they win over what
the script passes to ``init``), the run id ``<sweep>-<index>``, and
``run.sweep_id``; through the environment for a command
(``RUNSHIP_SWEEP_ID``, ``RUNSHIP_SWEEP_PARAMS``, ``RUNSHIP_RUN_ID``,
``RUNSHIP_PROJECT``, ``RUNSHIP_DIR``), and the same variables while the
function runs. The trial's result is the run's summary value of the
metric. While it runs the agent touches its claim (the heartbeat) and,
with ``early_terminate: hyperband``, stops it (SIGTERM) at a bracket where
its metric is not among the best 1/eta of the trials' there.

An agent stopped by SIGINT or SIGTERM (``Interrupt``: Ctrl-C, Slurm's
``scancel``) passes the signal to its trial's child, kills it if it has not
ended ``grace`` seconds later, and releases the trial: marked interrupted,
it is offered again at once to the next agent (``Sweep.release``)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runship.schema import names
from runship.schema.values import format_value
from runship.sweep.store import Sweep, Trial

ENV_SWEEP = "RUNSHIP_SWEEP_ID"
ENV_PARAMS = "RUNSHIP_SWEEP_PARAMS"
ENV_TRIAL = "RUNSHIP_SWEEP_TRIAL"
STOP_GRACE = 10.0  # s a trial's child has to end after the agent is stopped, then SIGKILL (Slurm waits 30 s)


class Interrupt:
    """SIGINT/SIGTERM to the agent (``install`` in the main thread): the
    running trial's child gets the signal (a SIGINT only when a terminal has
    not sent it to the child's process group already) and SIGKILL ``grace``
    seconds later or at a second signal; the agent then releases the trial
    and returns. ``signum``: the first signal, None while none came."""

    def __init__(self, grace: float = STOP_GRACE):
        self.grace = grace
        self.signum: int | None = None
        self.event = threading.Event()
        self.hit = False  # the signal came while the current trial's child ran
        self._proc: subprocess.Popen[bytes] | None = None
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle)

    def handle(self, signum: int, frame: object = None) -> None:
        again = self.signum is not None
        self.signum = self.signum or signum
        self.event.set()
        self._to_child(again)

    def watch(self, proc: subprocess.Popen[bytes] | None) -> None:
        """The trial's child now running (None: it has ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._proc, self.hit = proc, False
        if proc is not None and self.signum is not None:  # the signal came before the child started
            self._to_child(False)

    def _to_child(self, again: bool) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self.hit = True
        if again:
            proc.kill()
            return
        assert self.signum is not None
        if not _terminal_sent(self.signum, proc):
            proc.send_signal(self.signum)
        if self._timer is None:
            self._timer = threading.Timer(self.grace, proc.kill)
            self._timer.daemon = True
            self._timer.start()


def _terminal_sent(signum: int, proc: subprocess.Popen[bytes]) -> bool:
    """Did a Ctrl-C typed at a terminal reach the child already? The
    terminal signals its whole foreground process group: the agent's, which
    the child shares. (A SIGTERM is always passed on: twice is harmless.)"""
    if signum != signal.SIGINT:
        return False
    for fd in (0, 1, 2):
        try:
            if os.tcgetpgrp(fd) == os.getpgrp() == os.getpgid(proc.pid):
                return True
        except OSError:
            continue
    return False


def trial_env(sweep: Sweep, trial: Trial) -> dict[str, str]:
    return {
        ENV_SWEEP: f"{sweep.project}/{sweep.id}",
        ENV_PARAMS: json.dumps(trial.params),
        ENV_TRIAL: f"{trial.index}.{trial.attempt}",
        "RUNSHIP_RUN_ID": trial.run_id,
        "RUNSHIP_PROJECT": sweep.project,
        "RUNSHIP_DIR": sweep.root,
        # wandb's agent's: scripts read them, and one that takes them out of a worker's
        # environment makes that worker's run its own (runship.writer.plan.trial_environ)
        "WANDB_SWEEP_ID": sweep.id,
        "WANDB_RUN_ID": trial.run_id,
        "RUNSHIP_SWEEP_WANDB": "1",
    }


def _metric(sweep: Sweep, run_id: str) -> tuple[Any, int]:
    """(the run's summary value of the sweep's metric, rows logged)."""
    metric = sweep.spec.get("metric")
    try:
        from runship.reader.run import open_run

        view = open_run(os.path.join(sweep.root, sweep.project, run_id))
    except Exception:
        return None, 0
    if not metric:
        return None, view.steps
    value = view.summary.get(metric["name"])
    if isinstance(value, dict):  # summary ops (define_metric): the goal's own
        value = value.get("min" if metric["goal"] == "minimize" else "max", value.get("last"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        value = None
    return value, view.steps


def _brackets(spec: dict[str, Any]) -> list[int]:
    early = spec.get("early_terminate") or {}
    eta = float(early.get("eta", 3))
    if "min_iter" in early:
        first = int(early["min_iter"])
        out: list[int] = []
        b = float(first)
        while b <= 10**7 and len(out) < 32:
            out.append(int(b))
            b *= eta
        return out
    top, s = int(early["max_iter"]), int(early.get("s", 2))
    return sorted({max(1, int(top / eta**k)) for k in range(1, s + 1)})


class _Watch:
    """Heartbeat and hyperband for one running trial, in a thread."""

    def __init__(self, sweep: Sweep, trial: Trial, stop: Callable[[], None]):
        self.sweep, self.trial, self.stop = sweep, trial, stop
        self.stopped = False
        self._done = threading.Event()
        self._brackets = _brackets(sweep.spec) if sweep.spec.get("early_terminate") else []
        self._seen: dict[int, float] = {}
        self._thread = threading.Thread(target=self._loop, name="runship-sweep-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)

    def _loop(self) -> None:
        beat = max(0.05, min(self.sweep.lost_after / 4, 30.0))
        look = max(0.2, min(beat, 2.0))
        next_beat = 0.0
        while not self._done.wait(look):
            now = time.monotonic()
            if now >= next_beat:
                self.sweep.heartbeat(self.trial)
                next_beat = now + beat
            if self._brackets and not self.stopped:
                try:
                    self._hyperband()
                except Exception:
                    pass  # a run being written can be read again at the next look

    def _hyperband(self) -> None:
        from runship.reader.run import open_run

        metric = self.sweep.spec["metric"]
        view = open_run(os.path.join(self.sweep.root, self.sweep.project, self.trial.run_id))
        values = [r[metric["name"]] for r in view.scan_history([metric["name"]])]
        changed = False
        for b in self._brackets:
            if b not in self._seen and len(values) >= b and isinstance(values[b - 1], (int, float)):
                self._seen[b] = float(values[b - 1])
                changed = True
        if not changed:
            return
        self.sweep.progress(self.trial, self._seen)
        eta = float(self.sweep.spec["early_terminate"].get("eta", 3))
        everyone = self.sweep.bracket_values()
        for b, mine in self._seen.items():
            there = sorted(everyone.get(b, []), reverse=metric["goal"] == "maximize")
            if len(there) < eta:
                continue
            keep = max(1, math.ceil(len(there) / eta))
            if (mine > there[keep - 1]) if metric["goal"] == "minimize" else (mine < there[keep - 1]):
                self.stopped = True
                self.stop()
                return


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed agent's trial ends
    except Exception:
        pass


def trial_args(params: dict[str, Any]) -> list[str]:
    """A trial's params as ``--name=value`` arguments (wandb's ``${args}``):
    one argument each, names checked (names.check_param_name), values
    without a NUL; BadName or ValueError otherwise."""
    out = []
    for k, v in _flat(params).items():
        names.check_param_name(k)
        value = v if isinstance(v, str) else json.dumps(v)
        if "\x00" in value:
            raise ValueError(f"the value of parameter {k} holds a NUL character")
        out.append(f"--{k}={value}")
    return out


def _not_run(state: str) -> dict[str, Any]:
    return {"state": state, "exit_code": None, "metric": None, "rows": 0, "seconds": 0.0}


def run_command(
    sweep: Sweep, trial: Trial, command: list[str], args: bool = False, interrupt: Interrupt | None = None
) -> dict[str, Any]:
    """Run one trial as a command (an argv: no shell); its result (state
    ``interrupted`` when ``interrupt`` came while it ran)."""
    if interrupt is not None and interrupt.event.is_set():
        return _not_run("interrupted")
    cmd = list(command)
    if args:
        try:
            cmd += trial_args(trial.params)
        except ValueError as e:  # BadName too: a categorical's value can be a map
            print(f"runship agent: trial {trial.index} not run: {e}", file=sys.stderr)
            return _not_run("failed")
    env = {**os.environ, **trial_env(sweep, trial)}
    env.pop("RUNSHIP_RESUME", None)
    started = time.time()
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None)

    def stop() -> None:
        proc.send_signal(signal.SIGTERM)

    if interrupt is not None:
        interrupt.watch(proc)
    try:
        with _Watch(sweep, trial, stop) as watch:
            code = proc.wait()
    finally:
        hit = interrupt is not None and interrupt.hit
        if interrupt is not None:
            interrupt.watch(None)
    value, rows = _metric(sweep, trial.run_id)
    state = "stopped" if watch.stopped else ("finished" if code == 0 else "failed")
    state = "interrupted" if hit else state
    return {"state": state, "exit_code": code, "metric": value, "rows": rows, "seconds": time.time() - started}


def run_function(sweep: Sweep, trial: Trial, function: Callable[[], Any]) -> dict[str, Any]:
    """Run one trial as a function in this process (``runship.agent``)."""
    from runship.writer import PROCESS  # the process's runs (runship.run is its current one)

    saved = {k: os.environ.get(k) for k in trial_env(sweep, trial)}
    os.environ.update(trial_env(sweep, trial))
    started = time.time()
    code = 0
    try:
        with _Watch(sweep, trial, lambda: None):
            function()
    except Exception as e:
        code = 1
        print(f"runship agent: trial {trial.index} failed: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        current = PROCESS.current
        if current is not None and getattr(current, "active", False):
            current.finish(exit_code=code)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    value, rows = _metric(sweep, trial.run_id)
    return {
        "state": "finished" if code == 0 else "failed",
        "exit_code": code,
        "metric": value,
        "rows": rows,
        "seconds": time.time() - started,
    }


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class Tally:
    """What an agent did: trials run, those that succeeded (finished, or
    stopped by hyperband), and the trial it released when interrupted."""

    ran: int = 0
    succeeded: int = 0
    released: Trial | None = None


def agent(
    sweep: Sweep,
    *,
    command: list[str] | None = None,
    function: Callable[[], Any] | None = None,
    count: int | None = None,
    args: bool = False,
    wait: bool = True,
    poll: float = 2.0,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    interrupt: Interrupt | None = None,
) -> Tally:
    """Claim and run trials until ``count`` are run, the sweep has none
    left or ``interrupt`` comes; with ``wait``, an agent with nothing to
    claim waits while other agents' trials run (one may be lost and offered
    again). A trial interrupted (or left by an exception, KeyboardInterrupt
    too) is released: offered again at once."""
    tally = Tally()
    stopping = interrupt.event if interrupt is not None else threading.Event()
    while (count is None or tally.ran < count) and not stopping.is_set():
        trial = sweep.claim()
        if trial is None:
            if sweep.done() or not wait or not _anything_running(sweep):
                break
            stopping.wait(poll)
            continue
        again = f" (attempt {trial.attempt + 1})" if trial.attempt else ""
        log(f"runship agent: trial {trial.index}{again} of {sweep.project}/{sweep.id}: {json.dumps(trial.params)}")
        try:
            if function is not None:
                result = run_function(sweep, trial, function)
            else:
                assert command is not None
                result = run_command(sweep, trial, command, args=args, interrupt=interrupt)
        except BaseException:
            sweep.release(trial, {"state": "interrupted"})
            raise
        if result["state"] == "interrupted":
            sweep.release(trial, result)
            tally.released = trial
            break
        if not sweep.finish(trial, result):
            log(f"runship agent: trial {trial.index} had a result already (run twice); the first stands")
        metric = f"metric {format_value(result['metric'])}" if result["metric"] is not None else "no metric"
        log(f"runship agent: trial {trial.index} {result['state']} ({metric})")
        tally.ran += 1
        tally.succeeded += result["state"] in ("finished", "stopped")
    return tally


def _anything_running(sweep: Sweep) -> bool:
    return any(t["state"] == "running" for t in sweep.status()["trials"])
