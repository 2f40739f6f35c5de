"""A sweep directory: trials claimed and finished by agents on any node of
a shared filesystem, with no server and no lock.

Layout, under ``<root>/<project>/.sweeps/<sweep id>/``::

    spec.json                   the spec (runship.sweep.spec.check), the seed, lost_after
    claims/<index>.<attempt>    created with O_EXCL by the agent that runs the trial (one winner);
                                JSON: params, run id, host, pid, time; its mtime is the agent's heartbeat
    progress/<index>.<attempt>  hyperband: the metric at each bracket so far (replaced whole)
    results/<index>.json        made by link(2) from a private file: exactly one per trial, or EEXIST

A trial whose newest claim has no result and has not been touched for
``lost_after`` seconds (its agent died with its node) is offered again as
the next attempt; the first claim's params are kept (a grid point is one
grid point however many times it is run). O_EXCL and link are atomic on
local disks, NFSv3+ and Lustre: no ``flock`` crosses nodes."""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runship import safefile
from runship.errors import UsageError
from runship.schema import names
from runship.sweep import spec as specs

SWEEPS = ".sweeps"
DEFAULT_LOST_AFTER = 600.0


@dataclass
class Trial:
    index: int
    attempt: int
    params: dict[str, Any]
    run_id: str
    claim: str  # the claim file's path (touched as the heartbeat)


def _write_new(path: str, data: bytes, sync: bool = False) -> bool:
    """Create ``path`` holding ``data``; False if it exists (someone else won).
    A claim is not synced: one lost with its node is a trial offered again."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    return True


def _publish(path: str, data: bytes) -> bool:
    """Make ``path`` appear whole (a private file linked into place); False if it exists."""
    tmp = f"{path}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links: O_EXCL (a reader may see it half written)
        return _write_new(path, data, sync=True)
    finally:
        os.unlink(tmp)


def _read_json(path: str, limit: int = 1 << 20) -> Any:
    """A sweep file's JSON, or None: a link, a FIFO or anything but a
    regular file is not opened (a sweep directory on a shared filesystem
    is writable by others), nor is a file over ``limit`` or nested past
    what the decoder can take read."""
    try:
        data = safefile.read_bytes(os.path.dirname(path), os.path.basename(path), limit)
        return json.loads(data)
    except (OSError, ValueError, RecursionError):
        return None


class Sweep:
    """A sweep directory (``create`` or ``open``)."""

    def __init__(self, root: str, project: str, sweep_id: str):
        self.root, self.project, self.id = root, project, sweep_id
        self.dir = os.path.join(root, project, SWEEPS, sweep_id)
        found = _read_json(os.path.join(self.dir, "spec.json"))
        if not isinstance(found, dict) or "spec" not in found:
            raise UsageError(
                f"no sweep {project}/{sweep_id} under {root} ({self.dir}/spec.json is missing or unreadable)"
            )
        self.spec: dict[str, Any] = specs.check(found["spec"])
        self.seed = int(found.get("seed", 0))
        self.lost_after = float(found.get("lost_after", DEFAULT_LOST_AFTER))

    # ---- making and finding ---------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str,
        project: str,
        spec: dict[str, Any],
        *,
        sweep_id: str | None = None,
        lost_after: float = DEFAULT_LOST_AFTER,
    ) -> Sweep:
        checked = specs.check(spec)
        sweep_id = sweep_id or "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        if not names.segment_ok(sweep_id) or not names.segment_ok(project):
            raise UsageError(f"not a sweep id or project name: {project!r}/{sweep_id!r}")
        base = os.path.join(root, project, SWEEPS)
        os.makedirs(base, exist_ok=True)
        where = os.path.join(base, sweep_id)
        try:
            os.mkdir(where)
        except FileExistsError:
            raise UsageError(f"sweep {project}/{sweep_id} exists already under {root}") from None
        for sub in ("claims", "results", "progress"):
            os.mkdir(os.path.join(where, sub))
        body = {"spec": checked, "seed": random.SystemRandom().randrange(2**31), "lost_after": float(lost_after)}
        _publish(os.path.join(where, "spec.json"), json.dumps(body, indent=1).encode())
        return cls(root, project, sweep_id)

    @classmethod
    def open(cls, root: str, sweep: str, project: str | None = None) -> Sweep:
        """``PROJECT/ID``, or an ID found under the root's projects (or ``project``'s)."""
        if "/" in sweep:
            project, _, sweep = sweep.rpartition("/")
            project = project.rsplit("/", 1)[-1]  # entity/project/id as wandb writes it
        if project is not None:
            return cls(root, project, sweep)
        try:
            projects = sorted(os.listdir(root))
        except OSError:
            projects = []
        found = [p for p in projects if os.path.isfile(os.path.join(root, p, SWEEPS, sweep, "spec.json"))]
        if len(found) != 1:
            where = "no project" if not found else f"projects {', '.join(found)}"
            raise UsageError(f"sweep {sweep!r}: {where} under {root} has it; give PROJECT/{sweep}")
        return cls(root, found[0], sweep)

    # ---- what is there --------------------------------------------------------------------------------------
    def _claims(self) -> dict[int, list[tuple[int, str, float]]]:
        """index -> [(attempt, path, mtime)], attempts in order."""
        out: dict[int, list[tuple[int, str, float]]] = {}
        where = os.path.join(self.dir, "claims")
        for name in os.listdir(where):
            index, _, attempt = name.partition(".")
            if not (index.isdigit() and attempt.isdigit()):
                continue
            path = os.path.join(where, name)
            try:
                mtime = os.lstat(path).st_mtime
            except OSError:
                continue
            out.setdefault(int(index), []).append((int(attempt), path, mtime))
        for attempts in out.values():
            attempts.sort()
        return out

    def results(self) -> dict[int, dict[str, Any]]:
        out = {}
        where = os.path.join(self.dir, "results")
        for name in os.listdir(where):
            stem, _, ext = name.partition(".")
            if ext == "json" and stem.isdigit():
                found = _read_json(os.path.join(where, name))
                if isinstance(found, dict):
                    out[int(stem)] = found
        return out

    def size(self) -> int | None:
        """How many trials the sweep has (grid: its points; else run_cap; None: no end)."""
        if self.spec["method"] == "grid":
            cap = self.spec.get("run_cap")
            grid = specs.grid_size(self.spec)
            return min(grid, cap) if cap else grid
        return self.spec.get("run_cap")

    def done(self) -> bool:
        size = self.size()
        return size is not None and len(self._finished()) >= size

    def run_id(self, index: int, attempt: int) -> str:
        return f"{self.id}-{index}" + (f"-r{attempt}" if attempt else "")

    # ---- claiming -------------------------------------------------------------------------------------------
    def _finished(self) -> set[int]:
        """Trials with a result (names only: no file is read)."""
        out = set()
        for name in os.listdir(os.path.join(self.dir, "results")):
            stem, _, ext = name.partition(".")
            if ext == "json" and stem.isdigit():
                out.add(int(stem))
        return out

    def claim(self, now: float | None = None) -> Trial | None:
        """The next trial for this agent, claimed (no other agent gets it):
        a lost trial first, else a new one; None when none is left now.
        Two directory listings, then one O_EXCL create per trial tried:
        an agent that loses a trial to another tries the next one."""
        claims, finished = self._claims(), self._finished()
        t = time.time() if now is None else now
        for index in sorted(claims):
            attempts = claims[index]
            last_attempt, _, touched = attempts[-1]
            if index in finished or t - touched < self.lost_after:
                continue
            params = self._params_of(attempts)
            if params is None:
                params = self._new_params(index, claims)
            trial = self._try(index, last_attempt + 1, params)
            if trial is not None:
                return trial  # else another agent took it again: on to the next
        bayes_params = None
        for index in self._free(claims):
            if self.spec["method"] == "bayes":  # one suggestion, whichever index it lands on
                bayes_params = bayes_params or self._new_params(index, claims)
            trial = self._try(index, 0, bayes_params or self._new_params(index, claims))
            if trial is not None:
                return trial
        return None

    def _free(self, claims: dict[int, Any]) -> Iterator[int]:
        """Indexes no agent has claimed, in order."""
        size = self.size()
        if self.spec["method"] == "grid":
            yield from (i for i in range(size or 0) if i not in claims)
            return
        nxt = max(claims) + 1 if claims else 0
        while size is None or nxt < size:
            yield nxt
            nxt += 1

    def _new_params(self, index: int, claims: dict[int, Any]) -> dict[str, Any]:
        method = self.spec["method"]
        if method == "grid":
            return specs.grid_params(self.spec, index)
        if method == "random":
            return specs.random_params(self.spec, self.seed, index)
        from runship.sweep import bayes

        results = self.results()
        running = [p for i, a in claims.items() if i not in results and (p := self._params_of(a)) is not None]
        return bayes.suggest(self.spec, results, running, random.Random(f"{self.seed}:{index}:{time.time()}"))

    def _params_of(self, attempts: list[tuple[int, str, float]]) -> dict[str, Any] | None:
        for _, path, _ in attempts:
            found = _read_json(path)
            if isinstance(found, dict) and isinstance(found.get("params"), dict):
                return found["params"]
        return None

    def _try(self, index: int, attempt: int, params: dict[str, Any]) -> Trial | None:
        run_id = self.run_id(index, attempt)
        body = {"params": params, "run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "t": time.time()}
        path = os.path.join(self.dir, "claims", f"{index}.{attempt}")
        if not _write_new(path, json.dumps(body).encode()):
            return None
        return Trial(index, attempt, params, run_id, path)

    # ---- while a trial runs, and after ----------------------------------------------------------------------
    @staticmethod
    def heartbeat(trial: Trial) -> None:
        try:
            os.utime(trial.claim)
        except OSError:
            pass

    def progress(self, trial: Trial, brackets: dict[int, float]) -> None:
        """A running trial's metric at each hyperband bracket so far (replaced whole)."""
        path = os.path.join(self.dir, "progress", f"{trial.index}.{trial.attempt}")
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({str(k): v for k, v in brackets.items()}, f)
        os.replace(tmp, path)

    def bracket_values(self) -> dict[int, list[float]]:
        """Every trial's metric at each bracket (running trials' and finished ones')."""
        out: dict[int, list[float]] = {}
        per_trial: dict[str, dict[str, float]] = {}
        where = os.path.join(self.dir, "progress")
        for name in os.listdir(where):
            if name.endswith(".tmp"):
                continue
            found = _read_json(os.path.join(where, name))
            if isinstance(found, dict):
                per_trial[name] = found
        for found in per_trial.values():
            for k, v in found.items():
                if k.isdigit() and isinstance(v, (int, float)):
                    out.setdefault(int(k), []).append(float(v))
        return out

    def finish(self, trial: Trial, result: dict[str, Any]) -> bool:
        """Record the trial's result; False if it had one already (it was run twice: the first stands)."""
        body = {
            "index": trial.index,
            "attempt": trial.attempt,
            "run_id": trial.run_id,
            "params": trial.params,
            **result,
        }
        return _publish(os.path.join(self.dir, "results", f"{trial.index}.json"), json.dumps(body).encode())

    # ---- status ---------------------------------------------------------------------------------------------
    def status(self, now: float | None = None) -> dict[str, Any]:
        """Every trial so far: its state (finished, failed, stopped, running, lost), params, metric, run."""
        t = time.time() if now is None else now
        claims, results = self._claims(), self.results()
        trials: list[dict[str, Any]] = []
        for index in sorted(set(claims) | set(results)):
            attempts = claims.get(index, [])
            res = results.get(index)
            if res is not None:
                state = str(res.get("state", "finished"))
            elif attempts and t - attempts[-1][2] >= self.lost_after:
                state = "lost"
            else:
                state = "running"
            found = _read_json(attempts[-1][1]) if attempts else None
            trials.append(
                {
                    "index": index,
                    "state": state,
                    "attempts": len(attempts),
                    "params": (res or {}).get("params") or self._params_of(attempts),
                    "metric": (res or {}).get("metric"),
                    "run_id": (res or {}).get("run_id") or (found or {}).get("run_id"),
                    "host": (found or {}).get("host"),
                    "pid": (found or {}).get("pid"),
                }
            )
        metric = self.spec.get("metric")
        best = None
        if metric:
            scored = [
                x for x in trials if isinstance(x["metric"], (int, float)) and x["state"] in ("finished", "stopped")
            ]
            if scored:
                pick = min if metric["goal"] == "minimize" else max
                best = pick(scored, key=lambda x: x["metric"])
        return {
            "sweep": f"{self.project}/{self.id}",
            "method": self.spec["method"],
            "metric": metric,
            "size": self.size(),
            "trials": trials,
            "best": best,
        }
