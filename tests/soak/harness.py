"""The soak test: an uploader daemon and two servers over one bucket, for a
long compressed period, while everything around them fails.

``runship upload --watch`` ships a run root through a load balancer
(``tests.servers.BalancingProxy``, round robin per request) to two
``runship serve`` over one moto S3 bucket. Meanwhile training-like
processes (``import runship``, a row every 10 ms, ``flush()`` every 40 rows)
start runs, are SIGKILLed or SIGTERMed and requeued with the same run id
(Slurm's ``--requeue``), finish, and resume finished runs by id; the
balancer is stopped and started again (the target drops out); one server
(B) is killed and started again. The other (A) is never restarted, so that
its memory and descriptors can be followed for the whole run.

At the end the writers are stopped, the daemon is given a bounded time to
drain, and:

- every *acknowledged* row is in the bucket exactly once. A row is
  acknowledged when it is a record of a committed batch of the local run
  directory (a batch followed by a commit record whose length and CRC32 check
  out, docs/FORMAT.md "Batches and commit records"): the records runship's
  reader returns from the local run at the end. Each row carries a unique
  ``(w, seq)`` (writer slot, and a sequence number that no other life of the
  slot uses), so that a row uploaded twice shows as a duplicate. The remote
  is read with runship's reader over s3, from the bucket the servers write.
  And every row a writer logged before a ``flush()`` that returned (it
  printed ``ACK seq``) is acknowledged: flush() is the writer's promise.
- RSS (``VmRSS`` of ``/proc/PID/status``) and open descriptors
  (``/proc/PID/fd``) of the daemon and the servers, sampled every second,
  grow no faster than ``BOUNDS`` (a least-squares slope after a warm-up).
- the servers answered no 5xx (seen by the balancer and in their access logs).

Run it as ``make test-soak`` (30 minutes), in CI's short form as ``make
test-soak SOAK_SECONDS=180``, or directly: ``python -m tests.soak.harness
--seconds 120 --report soak.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import RUNSHIP, child_env
from tests.servers import S3_ENV, BalancingProxy, MotoServer, RunshipServer

PROJECT = "soak"
BUCKET = "soak"

# The training process: argv root, run id, writer slot, first seq, seconds (0: until killed), resume.
WRITER = r"""
import sys, time
import runship
root, run_id, w, base, seconds, resume = sys.argv[1:7]
w, base, seconds = int(w), int(base), float(seconds)
run = runship.init(project="soak", id=run_id, dir=root, resume=resume,
                   settings={"quiet": True, "flush_interval": 0.2, "rotate_bytes": 200_000, "stats_interval": 5.0})
print("START", run_id, run.step, flush=True)
end = time.time() + seconds if seconds else float("inf")
i = 0
while time.time() < end:
    row = {"w": w, "seq": base + i, "loss": 1.0 / (1 + i), "lr": 0.001 * (1 + i % 7)}
    if i % 25 == 0:
        row["phase"] = "eval %d" % i  # a string: a row record of its own, between rows blocks
    run.log(row)
    i += 1
    if i % 40 == 0:
        run.flush()
        print("ACK", base + i - 1, flush=True)
    time.sleep(0.01)
run.flush()
print("ACK", base + i - 1, flush=True)
run.finish()
print("DONE", flush=True)
"""

# Growth allowed per hour of the least-squares slope after the warm-up, and
# the noise floor: a slope fails only where it exceeds both the bound and
# floor / (hours measured), so that a short run's noise (a few MiB of
# allocator arenas, a few connections open at the moment) is not read as a
# trend. See docs/RELIABILITY.md, "The soak test".
BOUNDS = {"rss_mib_per_hour": 16.0, "fds_per_hour": 20.0}
FLOORS = {"rss_mib": 4.0, "fds": 8.0}


@dataclasses.dataclass
class Options:
    seconds: float = 180.0
    writers: int = 3
    seed: int = 1
    interval: float = 2.0  # the daemon's --interval
    drain_timeout: float = 240.0
    sample_every: float = 1.0


# ---- processes watched ------------------------------------------------------------------


def proc_sample(pid: int) -> tuple[float, int] | None:
    """(RSS in MiB, open descriptors) of a live process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


class Sampler:
    """Samples RSS and descriptors of named processes every ``every`` seconds
    in a thread: ``samples[name]`` is a list of (t, pid, rss_mib, fds)."""

    def __init__(self, pids: dict, every: float):
        self.pids = pids  # name -> a function returning the current pid (None while down)
        self.every = every
        self.samples: dict[str, list[tuple[float, int, float, int]]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            now = time.monotonic()
            for name, pid_of in self.pids.items():
                pid = pid_of()
                got = proc_sample(pid) if pid else None
                if got is not None:
                    self.samples[name].append((now, pid, *got))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in points) / var * 3600


def growth(samples: list[tuple[float, int, float, int]], warmup: float) -> dict:
    """RSS and descriptor figures of one process lifetime's samples: the
    slopes per hour after ``warmup`` seconds, the window they cover, the
    bounds they are held to (see BOUNDS) and whether they keep them."""
    if not samples:
        return {"samples": 0, "ok": False, "why": "never sampled"}
    t0 = samples[0][0]
    kept = [s for s in samples if s[0] - t0 >= warmup]
    hours = (kept[-1][0] - kept[0][0]) / 3600 if len(kept) > 1 else 0.0
    out = {
        "samples": len(kept),
        "window_s": round(hours * 3600, 1),
        "rss_mib_first": round(samples[0][2], 1),
        "rss_mib_after_warmup": round(kept[0][2], 1) if kept else None,
        "rss_mib_last": round(samples[-1][2], 1),
        "rss_mib_max": round(max(s[2] for s in samples), 1),
        "fds_first": samples[0][3],
        "fds_last": samples[-1][3],
        "fds_max": max(s[3] for s in samples),
        "rss_mib_per_hour": round(slope_per_hour([(s[0], s[2]) for s in kept]), 2),
        "fds_per_hour": round(slope_per_hour([(s[0], s[3]) for s in kept]), 2),
    }
    step = max(1, len(samples) // 40)  # about 40 points of the whole lifetime, to look at
    out["series"] = [[round(s[0] - t0), round(s[2], 1), s[3]] for s in samples[::step]]
    if hours <= 0:
        return {**out, "ok": False, "why": "no samples after the warm-up"}
    allowed_rss = max(BOUNDS["rss_mib_per_hour"], FLOORS["rss_mib"] / hours)
    allowed_fds = max(BOUNDS["fds_per_hour"], FLOORS["fds"] / hours)
    out["allowed_rss_mib_per_hour"] = round(allowed_rss, 1)
    out["allowed_fds_per_hour"] = round(allowed_fds, 1)
    out["ok"] = out["rss_mib_per_hour"] <= allowed_rss and out["fds_per_hour"] <= allowed_fds
    return out


def lifetimes(samples: list[tuple[float, int, float, int]]) -> list[list[tuple[float, int, float, int]]]:
    """A restarted process's samples, split by pid (one list a lifetime)."""
    out: list[list] = []
    for s in samples:
        if not out or out[-1][-1][1] != s[1]:
            out.append([])
        out[-1].append(s)
    return out


# ---- the training processes -------------------------------------------------------------


class WriterSlot:
    """One job slot of a Slurm array: lives of a training process. A life
    ends by SIGKILL or SIGTERM (then it is requeued: started again with the
    same run id) or by finishing (then the slot resumes that finished run by
    id, or starts a new run)."""

    FATES = (("SIGKILL", 0.55), ("SIGTERM", 0.15), ("finish", 0.30))

    def __init__(self, index: int, root: str, logdir: str, rng: random.Random):
        self.index = index
        self.root = root
        self.logdir = logdir
        self.rng = rng
        self.run_id = f"w{index}-0"
        self.resume = "allow"
        self.proc: subprocess.Popen | None = None
        self.life: dict = {}
        self.lives: list[dict] = []  # run, base (its first seq), out (its stdout), fate, rc
        self.next_start = 0.0
        self.counts = dict.fromkeys(("SIGKILL", "SIGTERM", "requeues", "resumes", "finished", "new_runs"), 0)

    def tick(self, now: float) -> None:
        if self.proc is None:
            if now >= self.next_start:
                self._start(now)
        elif self.proc.poll() is None:
            if self.life["fate"] != "finish" and now >= self.life["end"]:
                self.proc.send_signal(getattr(signal, self.life["fate"]))
                self.counts[self.life["fate"]] += 1
                self.life["end"] = float("inf")
        else:
            self._ended(now)

    def _start(self, now: float) -> None:
        fate = self.rng.choices([f for f, _ in self.FATES], [p for _, p in self.FATES])[0]
        seconds = self.rng.uniform(4.0, 30.0)
        n = len(self.lives)
        self.life = {"run": self.run_id, "base": n * 10_000_000, "fate": fate, "end": now + seconds}
        self.life["out"] = os.path.join(self.logdir, f"writer-{self.index}-{n}.out")
        args = [self.root, self.run_id, str(self.index), str(self.life["base"])]
        args += [f"{seconds:.1f}" if fate == "finish" else "0", self.resume]
        with open(self.life["out"], "wb") as out, open(self.life["out"] + ".err", "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", WRITER, *args], env=child_env(), stdout=out, stderr=err)
        self.lives.append(self.life)

    def _ended(self, now: float) -> None:
        assert self.proc is not None
        self.life["rc"] = self.proc.returncode
        self.proc = None
        if self.life["fate"] != "finish":  # requeued: the same run id, after the scheduler's delay
            self.counts["requeues"] += 1
            self.resume = "allow"
            self.next_start = now + self.rng.uniform(0.5, 3.0)
            return
        self.counts["finished"] += 1
        if self.rng.random() < 0.3:  # the finished run resumed by id (another phase of training)
            self.counts["resumes"] += 1
            self.resume = "must"
        else:
            self.counts["new_runs"] += 1
            self.run_id = f"w{self.index}-{self.counts['new_runs']}"
            self.resume = "allow"
        self.next_start = now + self.rng.uniform(0.2, 2.0)

    def stop(self) -> None:
        """The end of the soak: a running life is sent SIGTERM (the job's time limit)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.life["rc"] = self.proc.wait(120)
            self.life["fate"] = "stopped"
            self.proc = None

    def flushed(self) -> dict[str, set[tuple[int, int]]]:
        """Per run, the (w, seq) of every row logged before a flush() that returned."""
        out: dict[str, set[tuple[int, int]]] = {}
        for life in self.lives:
            with open(life["out"], "rb") as f:
                lines = f.read().decode("utf-8", "replace").split("\n")[:-1]  # whole lines only
            last = max((int(p[1]) for p in map(str.split, lines) if len(p) == 2 and p[0] == "ACK"), default=-1)
            out.setdefault(life["run"], set()).update((self.index, s) for s in range(life["base"], last + 1))
        return out


# ---- the faults, on a schedule ----------------------------------------------------------


def schedule(seconds: float, rng: random.Random) -> list[tuple[float, str, float]]:
    """(when, what, how long) of the target's outages (the balancer stopped for
    3 to 10 s, about every 90 s, never fewer than two) and of server B's
    restarts (killed, started again 1 to 5 s later, about every 120 s, in the
    first half of the run only: its last lifetime is long enough to measure)."""
    events = []
    period = min(90.0, seconds / 3)
    t = rng.uniform(0.15, 0.25) * seconds
    while t < 0.85 * seconds:
        events.append((t, "outage", rng.uniform(3.0, 10.0)))
        t += period * rng.uniform(0.7, 1.3)
    period = min(120.0, seconds / 4)
    t = rng.uniform(0.08, 0.15) * seconds
    while t < 0.5 * seconds:
        events.append((t, "restart", rng.uniform(1.0, 5.0)))
        t += period * rng.uniform(0.7, 1.3)
    return sorted(events)


class Soak:
    """The services, the writers and the faults of one soak run in ``work``."""

    def __init__(self, work: str, opts: Options):
        self.work = work
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.root = os.path.join(work, "runs")
        self.counts = {"server_restarts": 0, "target_outages": 0, "outage_s": 0.0}
        self.moto = MotoServer()
        self.servers: list[RunshipServer] = []
        self.proxy: BalancingProxy | None = None
        self.daemon: subprocess.Popen | None = None
        self.slots: list[WriterSlot] = []
        self.sampler: Sampler | None = None

    @property
    def bucket(self) -> str:
        return f"s3://{BUCKET}/runs"

    @property
    def s3_options(self) -> dict:
        """fsspec's options for the bucket, read here (the servers have theirs in their environment)."""
        return {
            "endpoint_url": self.moto.endpoint,
            "key": S3_ENV["AWS_ACCESS_KEY_ID"],
            "secret": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        }

    def start_services(self) -> None:
        self.moto.start().create_bucket(BUCKET)
        for name in ("a", "b"):
            os.makedirs(os.path.join(self.work, f"server-{name}"))
            server = RunshipServer(
                self.bucket,
                os.path.join(self.work, f"server-{name}"),
                global_args=["-o", f"endpoint_url={self.moto.endpoint}"],
            )
            self.servers.append(server.start())
        self.proxy = BalancingProxy([s.port for s in self.servers]).start()
        os.makedirs(self.root)
        token_file = os.path.join(self.work, "token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(RunshipServer.TOKEN + "\n")
        cmd = [*RUNSHIP, "upload", self.root, "--to", self.proxy.endpoint, "--watch"]
        cmd += ["--interval", str(self.opts.interval), "--state", os.path.join(self.work, "state")]
        cmd += ["--token-file", token_file, "-v"]
        with open(os.path.join(self.work, "daemon.log"), "wb") as log:
            self.daemon = subprocess.Popen(cmd, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
        a, b = self.servers
        pids = {
            "daemon": lambda: self.daemon.pid if self.daemon and self.daemon.poll() is None else None,
            "server-a": lambda: a.proc.pid if a.proc else None,
            "server-b": lambda: b.proc.pid if b.proc else None,
        }
        self.sampler = Sampler(pids, self.opts.sample_every).start()

    def churn(self) -> None:
        """The writers' lives and the faults, for ``opts.seconds``."""
        self.slots = [WriterSlot(k, self.root, self.work, self.rng) for k in range(self.opts.writers)]
        t0 = time.monotonic()
        pending = [(t0 + t, what, span) for t, what, span in schedule(self.opts.seconds, self.rng)]
        undo: list[tuple[float, str]] = []
        while (now := time.monotonic()) < t0 + self.opts.seconds:
            if self.daemon is not None and self.daemon.poll() is not None:
                raise AssertionError(
                    f"the uploader daemon exited ({self.daemon.returncode}): {self.daemon_log()[-3000:]}"
                )
            while pending and pending[0][0] <= now:
                _, what, span = pending.pop(0)
                undo.append((now + span, self._fault(what, span)))
            for due, action in [u for u in undo if u[0] <= now]:
                undo.remove((due, action))
                self._recover(action)
            for slot in self.slots:
                slot.tick(now)
            time.sleep(0.1)
        for _, action in undo:
            self._recover(action)

    def _fault(self, what: str, span: float) -> str:
        assert self.proxy is not None
        if what == "outage":
            self.proxy.stop()
            self.counts["target_outages"] += 1
            self.counts["outage_s"] = round(self.counts["outage_s"] + span, 1)
            return "proxy"
        self.servers[1].kill(self.rng.choice([signal.SIGKILL, signal.SIGTERM]))
        self.counts["server_restarts"] += 1
        return "server-b"

    def _recover(self, action: str) -> None:
        assert self.proxy is not None
        if action == "proxy":
            self.proxy.start()
        else:
            self.servers[1].start()

    def daemon_log(self) -> str:
        with open(os.path.join(self.work, "daemon.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    # ---- the end: stop, drain, compare ------------------------------------------------

    def stop_writers(self) -> None:
        assert self.sampler is not None
        self.sampler.stop()  # the slopes are of the churn: the drain that follows is a quieter load
        for slot in self.slots:
            slot.stop()

    def drain(self) -> float | None:
        """Seconds until the bucket held every local stream file whole (the
        daemon's passes went on meanwhile), None if it did not within
        ``opts.drain_timeout``."""
        from runship import store

        target = store.open(self.bucket, self.s3_options)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < self.opts.drain_timeout:
                if all(target.remote_size(PROJECT, run_id, name) == size for run_id, name, size in self._local_files()):
                    return time.monotonic() - t0
                time.sleep(2.0)
        finally:
            target.close()
        return None

    def _local_files(self) -> list[tuple[str, str, int]]:
        project = os.path.join(self.root, PROJECT)
        out = []
        for run_id in sorted(os.listdir(project)):
            for name in sorted(os.listdir(os.path.join(project, run_id))):
                if name.endswith(".msgpack"):
                    out.append((run_id, name, os.path.getsize(os.path.join(project, run_id, name))))
        return out

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()

    def stop_services(self) -> None:
        """Everything stopped: the daemon first (SIGTERM), the bucket last."""
        self.stop_daemon()
        if self.proxy is not None:
            self.proxy.stop()
        for server in self.servers:
            server.stop()
        for slot in self.slots:
            if slot.proc is not None:
                slot.proc.kill()
                slot.proc.wait()
        self.moto.stop()


def read_rows(location: str, storage_options: dict | None = None) -> list[tuple[int, int]]:
    """The (w, seq) of every row of a run, read with runship's reader (committed records only):
    a local run directory, a run in the bucket (s3://) or one through a server (http://)."""
    import runship
    from runship.errors import RunNotFound

    try:
        view = runship.open_run(location, storage_options=storage_options, cache=False)
    except RunNotFound:
        return []
    return [(r["w"], r["seq"]) for r in view.scan_history(["w", "seq"])]


def compare(soak: Soak) -> dict:
    """Acknowledged rows (the local runs' committed rows) against the rows in the bucket."""
    flushed: dict[str, set] = {}
    for slot in soak.slots:
        for run_id, rows in slot.flushed().items():
            flushed.setdefault(run_id, set()).update(rows)
    out = dict.fromkeys(
        ("runs", "rows_flushed", "rows_acknowledged", "rows_found", "rows_missing", "rows_duplicated"), 0
    )
    out.update(rows_unexpected=0, flushed_not_acknowledged=0, acknowledged_twice_locally=0, examples=[])
    out["runs_read_otherwise_via_server"] = 0  # server A's read path: the same rows as the bucket's, in order
    via = f"{soak.servers[0].url}/{PROJECT}"
    for run_id in sorted(os.listdir(os.path.join(soak.root, PROJECT))):
        local = read_rows(os.path.join(soak.root, PROJECT, run_id))
        remote = read_rows(f"{soak.bucket}/{PROJECT}/{run_id}", soak.s3_options)
        acked, found = set(local), set(remote)
        out["runs"] += 1
        out["rows_flushed"] += len(flushed.get(run_id, ()))
        out["flushed_not_acknowledged"] += len(flushed.get(run_id, set()) - acked)
        out["acknowledged_twice_locally"] += len(local) - len(acked)
        out["rows_acknowledged"] += len(acked)
        out["rows_found"] += len(remote)
        out["rows_missing"] += len(acked - found)
        out["rows_duplicated"] += len(remote) - len(found)
        out["rows_unexpected"] += len(found - acked)
        out["runs_read_otherwise_via_server"] += read_rows(f"{via}/{run_id}", {"token": RunshipServer.TOKEN}) != remote
        if (acked != found or len(remote) != len(found)) and len(out["examples"]) < 5:
            out["examples"].append({"run": run_id, "missing": sorted(acked - found)[:5], "local": len(local)})
    return out


def server_errors(soak: Soak) -> dict:
    """5xx answers, seen by the balancer and in the servers' access logs (a
    killed server's last requests are in neither log nor answer), and
    tracebacks printed by the servers and the daemon."""
    assert soak.proxy is not None
    logged = []
    tracebacks = {}
    for name, server in zip("ab", soak.servers):
        text = server.log()
        tracebacks[f"server-{name}"] = text.count("Traceback")
        for line in text.splitlines():
            if line.startswith("{"):  # an access log line (JSON)
                entry = json.loads(line)
                if entry.get("status", 0) >= 500:
                    logged.append(f"server-{name} {entry['method']} {entry['path']} {entry['status']}")
    daemon = soak.daemon_log()
    tracebacks["daemon"] = daemon.count("Traceback")
    ports = {s.port: f"server-{n}" for n, s in zip("ab", soak.servers)}
    seen = [f"{ports[p]} {m} {path} {st}" for p, m, path, st in soak.proxy.upstream_5xx]
    return {
        "requests": {ports[p]: n for p, n in soak.proxy.requests.items()},
        "requests_rerouted": soak.proxy.skipped,
        "answered_502_none_up": soak.proxy.no_upstream,
        "5xx_answered": len(seen),
        "5xx_logged": len(logged),
        "5xx_examples": sorted(set(seen + logged))[:10],
        "tracebacks": tracebacks,
        # the daemon's passes that shipped something or failed (a quiet pass prints nothing), and its
        # ERROR lines: a run's upload that failed while the target was away, retried by the next pass
        "daemon_passes_logged": daemon.count(" runs seen, "),
        "daemon_error_lines": daemon.count(" ERROR "),
    }


def process_growth(sampler: Sampler, warmup: float) -> dict:
    """Growth figures of the daemon and server A over the whole run, and of
    server B for each lifetime (its longest measured: the one held to the bounds)."""
    out = {name: growth(sampler.samples[name], warmup) for name in ("daemon", "server-a")}
    lives = [growth(life, min(warmup, 30.0)) for life in lifetimes(sampler.samples["server-b"])]
    longest = max(lives, key=lambda g: g.get("window_s", 0), default={"ok": False, "why": "never sampled"})
    out["server-b"] = {
        **longest,
        "lifetimes": len(lives),
        "rss_mib_max_any": max((g["rss_mib_max"] for g in lives if "rss_mib_max" in g), default=None),
    }
    return out


def run_soak(work: str, opts: Options) -> dict:
    """One soak run in ``work``: its figures (see the module's docstring)."""
    soak = Soak(work, opts)
    t0 = time.monotonic()
    try:
        soak.start_services()
        soak.churn()
        soak.stop_writers()
        drain_s = soak.drain()
        soak.stop_daemon()
        rows = compare(soak)
        errors = server_errors(soak)
    finally:
        soak.stop_services()
    assert soak.sampler is not None
    counts: dict = {"lives": sum(len(s.lives) for s in soak.slots)}
    for slot in soak.slots:
        for k, v in slot.counts.items():
            counts[k] = counts.get(k, 0) + v
    failed_lives = [life for s in soak.slots for life in s.lives if life["fate"] == "finish" and life.get("rc") != 0]
    return {
        "seconds": opts.seconds,
        "wall_s": round(time.monotonic() - t0, 1),
        "seed": opts.seed,
        "writers": opts.writers,
        "drain_s": None if drain_s is None else round(drain_s, 1),
        **rows,
        **counts,
        "finished_lives_failed": len(failed_lives),
        **soak.counts,
        **errors,
        "warmup_s": warmup_of(opts.seconds),
        "processes": process_growth(soak.sampler, warmup_of(opts.seconds)),
    }


def warmup_of(seconds: float) -> float:
    """The samples left out of the slopes: a quarter of the run, at most 5 minutes."""
    return min(300.0, seconds / 4)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 180)))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", help="Write the figures here as JSON.")
    ap.add_argument("--keep", action="store_true", help="Keep the working directory (logs, runs).")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="runship-soak-")
    figures = run_soak(work, Options(seconds=args.seconds, seed=args.seed))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
