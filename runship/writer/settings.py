"""Writer settings: flush, fsync and rotation intervals, memory bound, policy."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

_DEFAULTS: dict[str, object] = {
    # Seconds between writes of the in-memory batch to the OS.
    "flush_interval": 1.0,
    # Seconds between fsyncs of open segment files (also on flush() and finish()).
    "fsync_interval": 30.0,
    # Seconds without any write after which a heartbeat record is written.
    # Readers judge a run without a finish record "crashed" once nothing was
    # written for 3 * heartbeat_interval + 2 * flush_interval seconds (92 s
    # with the defaults) and "running" until then (`runship ls` shows how old
    # the last write is).
    "heartbeat_interval": 30.0,
    # A segment file is left for the next one once it reaches this size.
    "rotate_bytes": 64 * 1024 * 1024,
    # Bytes queued per stream and not yet written before the policy applies.
    "max_buffer_bytes": 16 * 1024 * 1024,
    # "wait": log() waits for the disk (never loses data); "drop": log() drops
    # the record and the number dropped is itself recorded.
    "on_buffer_full": "wait",
    # Bytes queued that wake the writer before flush_interval has passed.
    "batch_bytes": 1024 * 1024,
    # No notices on stderr.
    "quiet": False,
    # What init() does when a run is already active (see init's docstring).
    "reinit": "default",
    # mode="online": where a detached `runship upload --watch` ships the run
    # (else $RUNSHIP_UPLOAD_TO), and how often it looks.
    "upload_to": None,
    "upload_interval": 10.0,
    # Where use_artifact() looks for versions this root does not hold: upload
    # targets (s3://bucket/prefix, a runship server URL, a directory), in
    # order; else $RUNSHIP_ARTIFACT_REMOTES (comma-separated). A server's
    # token comes from $RUNSHIP_TOKEN, never from here.
    "artifact_remotes": None,
    # System metrics (CPU, memory, disk, network, NVIDIA GPUs) into the
    # "system" stream every stats_interval seconds; stats_source: "auto"
    # (/proc, else psutil), "psutil" or "proc".
    "system_metrics": True,
    "stats_interval": 15.0,
    "stats_source": "auto",
    # stdout/stderr into the "console" stream: "auto" (= "wrap"), "wrap",
    # "redirect" (file descriptors: C libraries and subprocesses too), "off".
    "console": "auto",
    # Host, user, Python, packages, git, scheduler job: recorded once per session.
    "environment": True,
    # A distributed job's ranks (README, "Distributed jobs"): "per-rank"
    # (each rank's rows kept apart from rank 0's, the run's history; every
    # rank's console and each node's system metrics), "shared" (every
    # rank's rows in the run's history, each with a "rank" key), or
    # "primary-only" (ranks other than 0 write nothing).
    "ranks": "per-rank",
    # This process's place in a distributed job, where the environment does
    # not say (torchrun, Slurm, Open MPI and PMI variables are read).
    "rank": None,
    "local_rank": None,
    "world_size": None,
    "node": None,
}

# wandb setting names that mean one of ours
_WANDB_ALIASES: dict[str, tuple[str, Callable[[Any], object]]] = {
    "x_disable_stats": ("system_metrics", lambda v: not v),
    "_disable_stats": ("system_metrics", lambda v: not v),
    "x_stats_sampling_interval": ("stats_interval", float),
    "_stats_sample_rate_seconds": ("stats_interval", float),
    "disable_meta": ("environment", lambda v: not v),
    "x_disable_meta": ("environment", lambda v: not v),
}


class Settings:
    """Settings for a run: ``runship.Settings(flush_interval=0.5, ...)`` or a dict.

    Unknown names (wandb settings that have no meaning here) are kept in
    ``ignored`` and reported once by ``init()``; they never raise.
    """

    __slots__ = ("ignored", *_DEFAULTS)

    # The attributes' types, for type checkers (annotations only: the values
    # come from _DEFAULTS in __init__, and __slots__ holds them).
    flush_interval: float
    fsync_interval: float
    heartbeat_interval: float
    rotate_bytes: int
    max_buffer_bytes: int
    on_buffer_full: str
    batch_bytes: int
    quiet: bool
    reinit: bool | str | None
    upload_to: str | None
    upload_interval: float
    artifact_remotes: list[str] | None
    system_metrics: bool
    stats_interval: float
    stats_source: str
    console: str
    environment: bool
    ranks: str
    rank: int | None
    local_rank: int | None
    world_size: int | None
    node: str | None

    def __init__(self, **kwargs: object):
        self.ignored: dict[str, object] = {}
        for name, default in _DEFAULTS.items():
            setattr(self, name, default)
        env = os.environ
        if env.get("RUNSHIP_SILENT", env.get("WANDB_SILENT", "")).lower() in ("1", "true", "yes"):
            self.quiet = True
        if env.get("RUNSHIP_DISABLE_STATS", env.get("WANDB_X_DISABLE_STATS", "")).lower() in ("1", "true", "yes"):
            self.system_metrics = False
        remotes = env.get("RUNSHIP_ARTIFACT_REMOTES")
        if remotes:
            self.artifact_remotes = [r.strip() for r in remotes.split(",") if r.strip()]
        console = env.get("RUNSHIP_CONSOLE") or env.get("WANDB_CONSOLE")
        if console:
            self.console = cast(str, _check("console", console))  # _check returns console values unchanged
        self.update(kwargs)

    def update(self, values: dict[str, Any] | Settings | None) -> Settings:
        if values is None:
            return self
        if isinstance(values, Settings):
            values = values.to_dict() | values.ignored
        elif not isinstance(values, dict):
            # wandb.Settings-like objects: take their public attributes.
            values = {k: v for k, v in vars(values).items() if not k.startswith("_")}
        for name, value in values.items():
            if name in _DEFAULTS:
                setattr(self, name, _check(name, value))
            elif name in _WANDB_ALIASES and value is not None:
                ours, convert = _WANDB_ALIASES[name]
                setattr(self, ours, _check(ours, convert(value)))
            else:
                self.ignored[name] = value
        return self

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _DEFAULTS}

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def _check(name: str, value: object) -> object:
    default = _DEFAULTS[name]
    if name == "on_buffer_full":
        if value not in ("wait", "drop"):
            raise ValueError(f"settings.on_buffer_full must be 'wait' or 'drop', got {value!r}")
        return value
    if name == "reinit":
        return value
    if name == "console":
        if value not in ("auto", "wrap", "redirect", "off"):
            raise ValueError(f"settings.console must be 'auto', 'wrap', 'redirect' or 'off', got {value!r}")
        return value
    if name == "stats_source":
        if value not in ("auto", "psutil", "proc"):
            raise ValueError(f"settings.stats_source must be 'auto', 'psutil' or 'proc', got {value!r}")
        return value
    if name == "ranks":
        if value not in ("per-rank", "shared", "primary-only"):
            raise ValueError(f"settings.ranks must be 'per-rank', 'shared' or 'primary-only', got {value!r}")
        return value
    if name in ("rank", "local_rank", "world_size"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "world_size" else 0):
            raise ValueError(
                f"settings.{name} must be a whole number{' >= 1' if name == 'world_size' else ' >= 0'}, got {value!r}"
            )
        return value
    if name == "artifact_remotes":
        if value is None:
            return None
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and v for v in items):
            raise ValueError(f"settings.artifact_remotes must be a URL or a list of URLs, got {value!r:.100}")
        return list(items)
    if name == "node":
        if value is not None and not isinstance(value, str):
            raise ValueError(f"settings.node must be a string, got {value!r}")
        return value
    if name == "upload_to":
        if value is not None and not isinstance(value, str):
            raise ValueError(f"settings.upload_to must be a URL string, got {value!r}")
        return value
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"settings.{name} must be a positive number, got {value!r}")
        return type(default)(value)
    return value
