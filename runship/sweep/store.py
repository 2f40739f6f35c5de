"""A sweep directory: trials claimed and finished by agents on any node of
a shared filesystem, with no server and no lock.

Layout, under ``<root>/<project>/.sweeps/<sweep id>/``::

    spec.json                   the spec (runship.sweep.spec.check), the seed, lost_after
    claims/<index>.<attempt>    created with O_EXCL by the agent that runs the trial (one winner);
                                JSON: params, run id, host, pid, time; its mtime is the agent's heartbeat
    claims/<index>.<attempt>.interrupted
                                made by an agent stopped (SIGINT, SIGTERM) while it ran that attempt:
                                the trial is offered again at once, not after lost_after
    progress/<index>.<attempt>  hyperband: the metric at each bracket so far (replaced whole)
    results/<index>.json        made by link(2) from a private file: exactly one per trial, or EEXIST

A trial whose newest claim has no result and has not been touched for
``lost_after`` seconds (its agent died with its node) is offered again as
the next attempt; the first claim's params are kept (a grid point is one
grid point however many times it is run). O_EXCL and link are atomic on
local disks, NFSv3+ and Lustre: no ``flock`` crosses nodes.

A sweep directory may be written by another user: everything in it is
input. Below the root, its directories and files are reached relative to
a descriptor without following links (``runship.safefile``), files are
read only when regular and at most MAX_FILE_BYTES, the spec is checked
again on every open, params from a claim are used only when they fit the
spec, and the spec's program is trusted only when spec.json is this
user's (or root's) and no one else may write it (``program_trusted``)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runship import safefile
from runship.errors import Error, UsageError
from runship.schema import names
from runship.schema.sweeps import (
    INTERRUPTED,
    MAX_FILE_BYTES,
    MAX_INDEX_DIGITS,
    SUBDIRS,
    SWEEPS,
    index_name,
)
from runship.sweep import spec as specs

DEFAULT_LOST_AFTER = 600.0
LOST_AFTER_RANGE = (1.0, 1e7)  # seconds, spec.json's lost_after (`sweep create --lost-after`)
MAX_SEED = 2**63  # spec.json's seed: 0 <= seed < MAX_SEED
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class SweepNotUsable(Error, ValueError):
    """No sweep where one was named, or one whose stored spec cannot be
    used: a failure at run time (the CLI's exit 1), not a bad argument."""


class _NoSweep(UsageError):
    """No sweep directory, or no sweep's spec.json in it."""


@dataclass
class Trial:
    index: int
    attempt: int
    params: dict[str, Any]
    run_id: str
    claim: str  # the claim file's path (touched as the heartbeat)


def _write_new(dir_fd: int, name: str, data: bytes, sync: bool = False) -> bool:
    """Create ``name`` in ``dir_fd`` holding ``data``; False if it exists
    (someone else won; a link there counts as existing and is not followed).
    A claim is not synced: one lost with its node is a trial offered again."""
    try:
        fd = os.open(name, _O_NEW, 0o644, dir_fd=dir_fd)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    return True


def _private_temp(dir_fd: int, name: str, data: bytes) -> str:
    """A new file in ``dir_fd`` under a random temporary name, holding
    ``data``, synced; its name. (O_EXCL: a link planted there fails it.)"""
    tmp = f".{name}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, _O_NEW, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _read_json(dir_fd: int, name: str, limit: int = MAX_FILE_BYTES) -> Any:
    """A sweep file's JSON, or None: a link, a FIFO or anything but a
    regular file is not opened, nor is a file over ``limit`` or nested past
    what the decoder can take read."""
    try:
        with os.fdopen(safefile.open_regular(dir_fd, name), "rb") as f:
            data = f.read(limit + 1)
        return json.loads(data) if len(data) <= limit else None
    except (OSError, ValueError, RecursionError):
        return None


class Sweep:
    """A sweep directory (``create`` or ``open``)."""

    def __init__(self, root: str, project: str, sweep_id: str):
        self.root, self.project, self.id = root, project, sweep_id
        self.dir = os.path.join(root, project, SWEEPS, sweep_id)
        if not names.segment_ok(sweep_id) or not names.segment_ok(project):
            raise UsageError(f"not a sweep id or project name: {project!r}/{sweep_id!r}")
        try:
            with self._at("") as fd:
                found, st = _read_spec(fd)
            for sub in SUBDIRS:
                with self._at(sub):
                    pass
            self.spec: dict[str, Any] = specs.check(found["spec"])
            self.seed = _seed(found.get("seed", 0))
            self.lost_after = _lost_after(found.get("lost_after", DEFAULT_LOST_AFTER))
        except _NoSweep as e:
            raise SweepNotUsable(f"no sweep {project}/{sweep_id} under {root} ({e})") from None
        except UsageError as e:
            raise SweepNotUsable(f"sweep {project}/{sweep_id}: {e}") from None
        #: why the spec's program may not be run (None: it may): see ``program_trusted``
        self.untrusted = _untrusted(st)

    @contextlib.contextmanager
    def _at(self, sub: str) -> Iterator[int]:
        """A descriptor of the sweep directory (or its ``sub``), reached from
        the root without following links below it."""
        rel = f"{self.project}/{SWEEPS}/{self.id}" + (f"/{sub}" if sub else "")
        try:
            root_fd = safefile.open_dir(self.root)  # the root is the operator's: it may be a link
        except FileNotFoundError:
            raise _NoSweep(f"{self.root} is missing") from None
        try:
            fd = safefile.open_subdir(root_fd, rel)
        except safefile.NotRegular as e:
            raise UsageError(f"{os.path.join(self.root, rel)} is a {e.kind}, not a directory; not followed") from None
        except FileNotFoundError:
            raise _NoSweep(f"{os.path.join(self.root, rel)} is missing") from None
        finally:
            os.close(root_fd)
        try:
            yield fd
        finally:
            os.close(fd)

    def program_trusted(self) -> bool:
        """May the agent run the spec's program? Only when spec.json is this
        user's (or root's) and neither group nor others may write it: a spec
        written by someone else chooses no code to run."""
        return self.untrusted is None

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
        if checked["method"] == "bayes":  # a sweep every agent would fail: refused here, with how to install
            from runship.sweep import bayes

            why = bayes.missing()
            if why is not None:  # the command is right, this Python lacks a package: a failure (1), not a usage error
                raise Error(why)
        lost_after = _lost_after(lost_after)
        sweep_id = sweep_id or "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        if not names.segment_ok(sweep_id) or not names.segment_ok(project):
            raise UsageError(f"not a sweep id or project name: {project!r}/{sweep_id!r}")
        os.makedirs(root, exist_ok=True)
        fd = _make_dirs(root, [project, SWEEPS])
        try:
            try:
                os.mkdir(sweep_id, dir_fd=fd)
            except FileExistsError:
                raise UsageError(f"sweep {project}/{sweep_id} exists already under {root}") from None
            where = safefile.open_subdir(fd, sweep_id)
        finally:
            os.close(fd)
        try:
            for sub in SUBDIRS:
                os.mkdir(sub, dir_fd=where)
            body = {"spec": checked, "seed": random.SystemRandom().randrange(2**31), "lost_after": lost_after}
            safefile.publish(where, "spec.json", json.dumps(body, indent=1).encode())
        finally:
            os.close(where)
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
        found = [p for p in projects if os.path.lexists(os.path.join(root, p, SWEEPS, sweep, "spec.json"))]
        if len(found) != 1:
            where = "no project" if not found else f"projects {', '.join(found)}"
            raise UsageError(f"sweep {sweep!r}: {where} under {root} has it; give PROJECT/{sweep}")
        return cls(root, found[0], sweep)

    # ---- what is there --------------------------------------------------------------------------------------
    def _claims(self, interrupted: set[tuple[int, int]] | None = None) -> dict[int, list[tuple[int, str, float]]]:
        """index -> [(attempt, claim file name, mtime)], attempts in order;
        the (index, attempt) of each attempt released as interrupted are
        added to ``interrupted`` (names only: nothing is read)."""
        out: dict[int, list[tuple[int, str, float]]] = {}
        with self._at("claims") as fd:
            for name in os.listdir(fd):
                parsed = index_name(name, ".")
                if parsed is not None and interrupted is not None and parsed[1].endswith(INTERRUPTED):
                    attempt = parsed[1][: -len(INTERRUPTED)]
                    if attempt.isascii() and attempt.isdigit() and len(attempt) <= MAX_INDEX_DIGITS:
                        interrupted.add((parsed[0], int(attempt)))
                if parsed is None or not parsed[1].isascii() or not parsed[1].isdigit():
                    continue
                if len(parsed[1]) > MAX_INDEX_DIGITS:
                    continue
                try:
                    mtime = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mtime
                except OSError:
                    continue
                out.setdefault(parsed[0], []).append((int(parsed[1]), name, mtime))
        for attempts in out.values():
            attempts.sort()
        return out

    def results(self) -> dict[int, dict[str, Any]]:
        out = {}
        with self._at("results") as fd:
            for name in os.listdir(fd):
                parsed = index_name(name, ".")
                if parsed is not None and parsed[1] == "json":
                    found = _read_json(fd, name)
                    if isinstance(found, dict):
                        out[parsed[0]] = found
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
        with self._at("results") as fd:
            parsed = [index_name(name, ".") for name in os.listdir(fd)]
        return {p[0] for p in parsed if p is not None and p[1] == "json"}

    def claim(self, now: float | None = None) -> Trial | None:
        """The next trial for this agent, claimed (no other agent gets it):
        a lost trial first, else a new one; None when none is left now.
        Two directory listings, then one O_EXCL create per trial tried:
        an agent that loses a trial to another tries the next one."""
        interrupted: set[tuple[int, int]] = set()
        claims, finished = self._claims(interrupted), self._finished()
        t = time.time() if now is None else now
        for index in sorted(claims):
            attempts = claims[index]
            last_attempt, _, touched = attempts[-1]
            released = (index, last_attempt) in interrupted
            if index in finished or (t - touched < self.lost_after and not released):
                continue
            if last_attempt + 1 >= 10**MAX_INDEX_DIGITS:
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
        while (size is None or nxt < size) and nxt < 10**MAX_INDEX_DIGITS:
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
        """The params of a trial's first claim that holds params of this spec
        (a claim is written by whoever claimed: others are passed over)."""
        with self._at("claims") as fd:
            for _, name, _ in attempts:
                found = _read_json(fd, name)
                if isinstance(found, dict) and specs.fits(self.spec, found.get("params")):
                    params: dict[str, Any] = found["params"]  # fits: a dict of the spec's parameters
                    return params
        return None

    def _try(self, index: int, attempt: int, params: dict[str, Any]) -> Trial | None:
        run_id = self.run_id(index, attempt)
        body = {"params": params, "run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "t": time.time()}
        name = f"{index}.{attempt}"
        with self._at("claims") as fd:
            if not _write_new(fd, name, json.dumps(body).encode()):
                return None
        return Trial(index, attempt, params, run_id, os.path.join(self.dir, "claims", name))

    # ---- while a trial runs, and after ----------------------------------------------------------------------
    def heartbeat(self, trial: Trial) -> None:
        """Touch the trial's claim (never through a link)."""
        try:
            with self._at("claims") as fd:
                os.utime(os.path.basename(trial.claim), dir_fd=fd, follow_symlinks=False)
        except (OSError, UsageError):
            pass

    def release(self, trial: Trial, result: dict[str, Any]) -> None:
        """The trial's agent was stopped while it ran (SIGINT, SIGTERM): the
        attempt is marked interrupted and the trial offered again at once.
        (A marker already there, or one that cannot be made, leaves the
        trial to be offered again after lost_after.)"""
        body = {"state": "interrupted", "exit_code": result.get("exit_code"), "host": socket.gethostname()}
        body["pid"], body["t"] = os.getpid(), time.time()
        try:
            with self._at("claims") as fd:
                _write_new(fd, f"{trial.index}.{trial.attempt}{INTERRUPTED}", json.dumps(body).encode())
        except (OSError, UsageError):
            pass

    def progress(self, trial: Trial, brackets: dict[int, float]) -> None:
        """A running trial's metric at each hyperband bracket so far (replaced whole)."""
        name = f"{trial.index}.{trial.attempt}"
        data = json.dumps({str(k): v for k, v in brackets.items()}).encode()
        with self._at("progress") as fd:
            tmp = _private_temp(fd, name, data)
            try:
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                os.unlink(tmp, dir_fd=fd)
                raise

    def bracket_values(self) -> dict[int, list[float]]:
        """Every trial's metric at each bracket (running trials' and finished ones')."""
        out: dict[int, list[float]] = {}
        per_trial: dict[str, dict[str, float]] = {}
        with self._at("progress") as fd:
            for name in os.listdir(fd):
                if name.endswith(".tmp"):
                    continue
                found = _read_json(fd, name)
                if isinstance(found, dict):
                    per_trial[name] = found
        for found in per_trial.values():
            for k, v in found.items():
                if k.isascii() and k.isdigit() and len(k) <= MAX_INDEX_DIGITS and _finite(v):
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
        with self._at("results") as fd:
            return safefile.publish(fd, f"{trial.index}.json", json.dumps(body).encode())

    # ---- status ---------------------------------------------------------------------------------------------
    def status(self, now: float | None = None) -> dict[str, Any]:
        """Every trial so far: its state (finished, failed, stopped, running,
        lost, interrupted: offered again), params, metric, run."""
        t = time.time() if now is None else now
        interrupted: set[tuple[int, int]] = set()
        claims, results = self._claims(interrupted), self.results()
        trials: list[dict[str, Any]] = []
        with self._at("claims") as fd:
            newest = {i: _read_json(fd, a[-1][1]) for i, a in claims.items()}
        for index in sorted(set(claims) | set(results)):
            attempts = claims.get(index, [])
            res = results.get(index)
            if res is not None:
                state = str(res.get("state", "finished"))
            elif attempts and (index, attempts[-1][0]) in interrupted:
                state = "interrupted"
            elif attempts and t - attempts[-1][2] >= self.lost_after:
                state = "lost"
            else:
                state = "running"
            found = newest.get(index)
            found = found if isinstance(found, dict) else {}
            trials.append(
                {
                    "index": index,
                    "state": state,
                    "attempts": len(attempts),
                    "params": (res or {}).get("params") or self._params_of(attempts),
                    "metric": (res or {}).get("metric"),
                    "run_id": (res or {}).get("run_id") or found.get("run_id"),
                    "host": found.get("host"),
                    "pid": found.get("pid"),
                }
            )
        return {
            "sweep": f"{self.project}/{self.id}",
            "method": self.spec["method"],
            "metric": self.spec.get("metric"),
            "size": self.size(),
            "trials": trials,
            "best": self._best(trials),
        }

    def _best(self, trials: list[dict[str, Any]]) -> dict[str, Any] | None:
        metric = self.spec.get("metric")
        if not metric:
            return None
        scored = [x for x in trials if _finite(x["metric"]) and x["state"] in ("finished", "stopped")]
        if not scored:
            return None
        pick = min if metric["goal"] == "minimize" else max
        return pick(scored, key=lambda x: x["metric"])


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _read_spec(sweep_fd: int) -> tuple[dict[str, Any], os.stat_result]:
    """spec.json's JSON and its stat (of the file read, not of a name)."""
    try:
        fd = safefile.open_regular(sweep_fd, "spec.json")
    except safefile.NotRegular as e:
        raise UsageError(f"spec.json is a {e.kind}; not followed or read") from None
    except OSError as e:
        raise _NoSweep(f"spec.json is missing or unreadable: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"spec.json is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        found = None
    if not isinstance(found, dict) or "spec" not in found:
        raise _NoSweep("spec.json is not a sweep's: JSON with spec, seed, lost_after")
    return found, st


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SEED:
        raise UsageError(f"spec.json: seed must be a whole number from 0 to 2^63, got {str(value)[:40]!r}")
    return value


def _lost_after(value: Any) -> float:
    low, high = LOST_AFTER_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise UsageError(f"lost_after must be {low:g} to {high:g} seconds, got {str(value)[:40]!r}")
    return float(value)


def _untrusted(st: os.stat_result) -> str | None:
    """Why a spec.json with this stat may not choose a program to run, or None."""
    if st.st_uid not in (os.getuid(), 0):
        return f"its spec.json belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"its spec.json is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _make_dirs(root: str, parts: list[str]) -> int:
    """A descriptor of ``root/parts...``, each made if missing, none followed if a link."""
    fd = safefile.open_dir(root)
    try:
        return safefile.open_subdir(fd, "/".join(parts), create=True, mode=0o777)
    except safefile.NotRegular as e:
        shown = os.path.join(root, e.at or "/".join(parts))
        raise UsageError(f"{shown} is a {e.kind}, not a directory; not followed") from None
    finally:
        os.close(fd)
