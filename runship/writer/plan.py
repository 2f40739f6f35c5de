"""``init()`` decided: ``resolve_start(args, process, disk)`` turns init()'s
arguments, the facts of this process (its environment variables, host, pid,
placement in a distributed job, ...) and what is on disk into a ``Plan``: the
reinit policy, the mode, the root, project and run id, the resume decision,
the session, the start record, the config, and the notices to record. It
reads nothing itself: what is on disk comes through ``Disk`` (``OnDisk``
reads the run root; a test gives a map), so each rule is testable alone.
``runship.writer.init.start(plan)`` does what the plan says."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from runship.errors import UsageError
from runship.schema import format as fmt
from runship.schema import names, redact
from runship.schema.records import job_of, placement_of, rank_of
from runship.writer import ranks
from runship.writer.settings import Settings

_MODES = {
    "offline": "offline",
    "dryrun": "offline",
    "online": "online",
    "run": "online",
    "shared": "online",
    "disabled": "disabled",
}
_RESUME = {"allow", "must", "never", "auto"}
_REINIT = {"default", "return_previous", "finish_previous", "create_new"}
# Arguments accepted for compatibility that change nothing here.
NO_EFFECT = ("magic", "anonymous", "force", "monitor_gym", "resume_from", "fork_from")
_SWEEP_WINS = (("project", "PROJECT"), ("id", "RUN_ID"), ("dir", "DIR"))  # init()'s argument, the agent's variable


def env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``RUNSHIP_<name>``, else ``WANDB_<name>``, else None (empty counts as unset)."""
    e = os.environ if environ is None else environ
    for prefix in ("RUNSHIP_", "WANDB_"):
        value = e.get(prefix + name)
        if value:
            return value
    return None


@dataclass
class Process:
    """What resolve_start needs to know of this process, read once by init()."""

    environ: Mapping[str, str]
    host: str
    pid: int
    argv: list[str]
    cwd: str
    python: str
    version: str
    script_dir: str | None = None  # the directory of __main__'s file
    notebook: bool = False  # a Jupyter kernel (reinit="default" finishes the previous run there)
    placement: ranks.Placement | None = None  # detected from the environment and the settings


class Disk(Protocol):
    """What is on disk, as resolve_start asks for it."""

    def sessions(self, run_dir: str) -> list[str]:
        """Session ids of the run stream files in run_dir (OSError where it cannot be read)."""
        ...

    def starts(self, run_dir: str, limit: int) -> dict[str, dict[str, Any]]: ...

    def prior(self, run_dir: str, starts: dict[str, dict[str, Any]]) -> dict[str, Any]: ...

    def alive(self, run_dir: str, session: str, start: dict[str, Any]) -> bool: ...

    def exists(self, path: str) -> bool: ...

    def recall(self, root: str) -> tuple[str, str] | None: ...

    def shadows_package(self, root: str, places: list[str]) -> bool: ...

    def config(
        self, value: object, include: list[str] | None, exclude: list[str] | None
    ) -> tuple[dict[str, Any], str | None]:
        """init()'s config (a dict, a Namespace, a file path, ...) filtered,
        over config-defaults.yaml; and a problem reading the defaults file."""
        ...


@dataclass
class Plan:
    """What init() starts: every decision made, nothing done yet."""

    settings: Settings
    policy: str  # the reinit policy
    mode: str  # offline, online, disabled
    root: str
    project: str
    run_id: str
    session: str | None  # None for a disabled run
    start: dict[str, Any]  # the start record (a disabled run's metadata)
    config: dict[str, Any]
    allow_val_change: bool
    placement: ranks.Placement | None = None
    resuming: bool = False
    exists: bool = False
    prior: dict[str, Any] | None = None
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # recorded once the run writes
    later: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # after sync_tensorboard's
    id_given: bool = False  # an id came from the arguments or the environment
    sync_tensorboard: bool = False
    save_code: bool = False

    @property
    def run_dir(self) -> str:
        return os.path.join(self.root, self.project, self.run_id)

    @property
    def disabled(self) -> bool:
        return self.mode == "disabled"


def resolve_start(args: Mapping[str, Any], process: Process, disk: Disk) -> Plan:
    """init()'s arguments (a map of its parameters), the process and the
    disk, decided. Raises ValueError or UsageError as init() does."""
    s = Settings().update(args.get("settings"))
    reinit = args.get("reinit")
    policy = reinit_policy(reinit if reinit is not None else s.reinit, process.notebook)
    environ = trial_environ(process.environ)
    trial = sweep_trial(environ)
    wins, requested = sweep_wins(trial, {k: args.get(k) for k in ("project", "id", "dir")}, environ)
    run_mode = mode_of(args.get("mode") if args.get("mode") is not None else env("MODE", environ))
    project = wins["project"] if wins["project"] is not None else (env("PROJECT", environ) or "uncategorized")
    project = fmt.validate_name(project, "project")
    run_id = wins["id"] if wins["id"] is not None else env("RUN_ID", environ)
    id_given = run_id is not None
    if run_id is not None:
        run_id = fmt.validate_name(run_id, "id")
    placement, run_id, run_mode = _placement(process.placement, s, run_id, run_mode)
    root = resolve_root(wins["dir"], process, disk)
    meta = metadata(args, environ)
    cfg, defaults_problem = disk.config(
        args.get("config"), args.get("config_include_keys"), args.get("config_exclude_keys")
    )
    if trial is not None:  # a trial of a sweep: its params win over the script's config, as wandb
        cfg = {**cfg, **trial["params"]}
        meta["sweep"] = {"id": trial["id"], "trial": trial["trial"], **({"requested": requested} if requested else {})}
    plan = Plan(
        settings=s,
        run_id=run_id or fmt.new_run_id(),
        policy=policy,
        mode=run_mode,
        allow_val_change=bool(args.get("allow_val_change")),
        root=root,
        project=project,
        sync_tensorboard=bool(args.get("sync_tensorboard") or args.get("tensorboard")),
        session=None,
        start=meta,
        save_code=bool(args.get("save_code")),
        config=cfg,
        placement=placement,
        id_given=id_given,
    )
    if run_mode == "disabled":
        return plan
    _decide_resume(plan, args, process, disk, run_id)
    _notices(plan, args, requested, environ, defaults_problem)
    return plan


def _placement(
    placement: ranks.Placement | None, s: Settings, run_id: str | None, run_mode: str
) -> tuple[ranks.Placement | None, str | None, str]:
    """A distributed job's rank: the job's run id, primary-only and shared."""
    if placement is None:
        return None, run_id, run_mode
    if run_id is None and placement.job is not None:  # every rank of the job derives the same id
        run_id = ranks.job_run_id(placement.job)
    if not placement.primary and s.ranks == "primary-only":
        run_mode = "disabled"
    if s.ranks == "shared":
        placement = placement._replace(shared=True)
    return placement, run_id, run_mode


def _decide_resume(plan: Plan, args: Mapping[str, Any], process: Process, disk: Disk, given: str | None) -> None:
    """The resume decision, the session and the start record of a run that writes."""
    resume = args.get("resume")
    resume_mode = resume_mode_of(resume if resume is not None else env("RESUME", process.environ))
    plan.run_id = choose_id(plan.root, plan.project, given, resume_mode, disk)
    run_dir, placement = plan.run_dir, plan.placement
    try:
        sessions = disk.sessions(run_dir)
    except OSError as e:
        raise UsageError(f"cannot read run directory {run_dir}: {e.strerror or e}") from None
    exists = bool(sessions)
    peers = (
        # every session of a distributed run (a rank's twin may be any); a resume warns of recent ones
        disk.starts(run_dir, 4096 if placement is not None else 64)
        if exists and (placement is not None or resume_mode is not None)
        else {}
    )
    joining = _joining(placement, peers)
    if resume_mode == "must" and not exists:
        raise UsageError(f"resume='must' but run {plan.project}/{plan.run_id} does not exist under {plan.root}")
    if resume_mode == "never" and exists and not joining:
        raise UsageError(f"resume='never' but run {plan.project}/{plan.run_id} already exists under {plan.root}")
    resuming = exists and (resume_mode in ("allow", "must", "auto") or joining)
    primary = placement is None or placement.primary
    prior = disk.prior(run_dir, peers) if resuming and primary else None
    meta = plan.start
    for key, value in ((prior or {}).get("meta") or {}).items():
        if meta.get(key) in (None, ()) and value not in (None, ()):
            meta[key] = value
    plan.session = fmt.new_session_id(after=sessions[-1] if sessions else None)
    if placement is not None and placement.local_rank not in (None, 0):
        plan.settings.system_metrics = False  # one sampler a node (its local rank 0): the node's GPUs once
    start = start_record(meta, plan, resuming, exists, resume_mode, process, args)
    if placement is not None:
        start["placement"] = placement.to_record()
    start["first_step"] = int(prior.get("next_step", 0)) if prior else 0
    if resume_mode in ("allow", "auto") and not exists:
        start["blind"] = True  # resumed where no earlier session could be seen (a requeue onto a fresh root?)
    plan.start, plan.prior, plan.resuming, plan.exists = start, prior, resuming, exists
    if resuming:
        plan.notices.extend((m, {"warning": True}) for m in claimed(run_dir, peers, placement, process, disk))


def _joining(placement: ranks.Placement | None, peers: dict[str, dict[str, Any]]) -> bool:
    """A rank other than 0 joins (never resets) the run; rank 0 joins one its
    job's rank 0 wrote before (a requeue of the job), else starts it as any
    run starts (a reset, where another job's run was there)."""
    if placement is None:
        return False
    if not placement.primary:
        return True
    return placement.job is not None and any(
        job_of(st) == placement.job and (rank_of(st) == 0 or placement.shared) for st in peers.values()
    )


def _notices(
    plan: Plan, args: Mapping[str, Any], requested: dict[str, str], environ: Mapping[str, str], problem: str | None
) -> None:
    """What init() records and says once the run writes, in its order."""
    first: list[tuple[str, dict[str, Any]]] = []
    for arg in NO_EFFECT:
        if args.get(arg) not in (None, False):
            first.append((f"init({arg}=...) has no effect in runship; it is recorded only", {"arg": arg}))
    placement = plan.placement
    if placement is not None and not plan.id_given and placement.job is None:
        first.append(
            (
                f"rank {placement.rank} of {placement.world_size}: no run id shared by the ranks "
                "(no scheduler job id): give init(id=...) or RUNSHIP_RUN_ID, the same in every rank, "
                "for the ranks to make one run",
                {},
            )
        )
    plan.notices[:0] = first  # before the claims
    if requested:
        asked = ", ".join(f"{k}={v!r}" for k, v in requested.items())
        plan.notices.append(
            (
                f"init({asked}) is ignored in a trial of sweep {env('SWEEP_ID', environ)}: its run is "
                f"{plan.project}/{plan.run_id} in {plan.root}, where the agent reads the trial's result",
                {"warning": True, "requested": requested},
            )
        )
    for key in plan.settings.ignored:
        plan.later.append((f"setting {key!r} has no effect in runship; it is recorded only", {"setting": key}))
    if problem:
        plan.later.append((problem, {}))


# ---- the rules, one at a time --------------------------------------------------------------
def sweep_wins(
    trial: dict[str, Any] | None, given: dict[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """init()'s ``project``, ``id`` and ``dir`` in a sweep trial: the agent's,
    where it reads the trial's result (wandb too ignores project, entity and id
    in a sweep), and those the script asked for instead."""
    if trial is None:
        return given, {}
    wins, requested = dict(given), {}
    for arg, var in _SWEEP_WINS:
        value, agents = given[arg], env(var, environ)
        if value is None or agents is None:
            continue
        asked = str(os.fspath(value)) if arg == "dir" else str(value)
        if (os.path.abspath(asked) != os.path.abspath(agents)) if arg == "dir" else asked != agents:
            wins[arg], requested[arg] = None, asked
    return wins, requested


_TRIAL_VARS = (
    "RUNSHIP_SWEEP_ID",
    "RUNSHIP_SWEEP_PARAMS",
    "RUNSHIP_SWEEP_TRIAL",
    "RUNSHIP_RUN_ID",
    "RUNSHIP_SWEEP_WANDB",
)


def trial_environ(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment as this process's run reads it. An agent gives a trial
    its variables twice, runship's and wandb's (``WANDB_SWEEP_ID``,
    ``WANDB_RUN_ID``; ``RUNSHIP_SWEEP_WANDB=1`` says so); a process whose
    wandb ones were taken out (wandb's cross-validation example does so in
    each fold's worker, so that the fold is a run of its own) is not the
    trial: runship's are left aside too. A rank that torchrun starts
    inherits them all and joins the trial's run; an agent of an earlier
    runship (no ``RUNSHIP_SWEEP_WANDB``) is taken at its word."""
    if environ.get("RUNSHIP_SWEEP_WANDB") and not environ.get("WANDB_SWEEP_ID"):
        return {k: v for k, v in environ.items() if k not in _TRIAL_VARS}
    return environ


def sweep_trial(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The sweep trial this process runs, from its agent's environment."""
    sweep_id = environ.get("RUNSHIP_SWEEP_ID")
    text = environ.get("RUNSHIP_SWEEP_PARAMS")
    if not sweep_id or not text:
        return None
    import json

    try:
        params = json.loads(text)
    except ValueError:
        raise UsageError("RUNSHIP_SWEEP_PARAMS is not JSON: it is set by `runship sweep agent`") from None
    if not isinstance(params, dict):
        raise UsageError("RUNSHIP_SWEEP_PARAMS is not a JSON map: it is set by `runship sweep agent`")
    return {"id": sweep_id.rsplit("/", 1)[-1], "trial": environ.get("RUNSHIP_SWEEP_TRIAL"), "params": params}


def claimed(
    run_dir: str,
    peers: dict[str, dict[str, Any]],
    placement: ranks.Placement | None,
    process: Process,
    disk: Disk,
) -> list[str]:
    """Warnings for live processes that write this run as this process
    will: the same rank of the same job, or (with no rank information)
    any other process writing the run."""
    here = f"host {process.host} pid {process.pid}"
    out = []
    for session, start in peers.items():
        if placement is not None:
            if placement_of(start) is None or rank_of(start) != placement.rank or job_of(start) != placement.job:
                continue
            what = f"rank {placement.rank} of this run is claimed by two processes"
        else:
            what = "another process writes this run"
        if not disk.alive(run_dir, session, start):
            continue
        out.append(
            f"{what}: host {start.get('host')} pid {start.get('pid')} (session {session}) and {here} (this one); "
            "their rows will be kept apart, by session"
        )
    return out


def resolve_root(dir: object, process: Process, disk: Disk) -> str:
    """The run root: ``dir``, else $RUNSHIP_DIR/$WANDB_DIR, else ./runship-runs.
    A root that would be imported instead of the runship package is refused."""
    given = dir if dir is not None else (env("DIR", process.environ) or names.DEFAULT_ROOT)
    root = os.path.normpath(os.path.join(process.cwd, os.fspath(cast(str, given))))
    places = [process.cwd] + ([process.script_dir] if process.script_dir else [])
    if disk.shadows_package(root, places):
        raise UsageError(
            f"the run root {root} would be imported instead of the runship package the next time a script "
            f"runs from {os.path.dirname(root)} (a directory named 'runship' next to it); "
            f"use another name, e.g. dir='{os.path.join(os.path.dirname(root), names.DEFAULT_ROOT)}' or RUNSHIP_DIR"
        )
    return root


def metadata(args: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The run's metadata from the arguments, else the environment."""
    out: dict[str, Any] = {}
    for key, var in (
        ("name", "NAME"),
        ("notes", "NOTES"),
        ("group", "RUN_GROUP"),
        ("job_type", "JOB_TYPE"),
        ("entity", "ENTITY"),
    ):
        out[key] = args.get(key) if args.get(key) is not None else env(var, environ)
    out["tags"] = tags_of(args.get("tags") if args.get("tags") is not None else env("TAGS", environ))
    return out


def choose_id(root: str, project: str, run_id: str | None, resume_mode: str | None, disk: Disk) -> str:
    """The given id; else with resume="auto" the last run started in this
    root; else a new random one that is not taken."""
    if run_id is None and resume_mode == "auto":
        remembered = disk.recall(root)
        if remembered and remembered[0] == project and disk.sessions(os.path.join(root, *remembered)):
            run_id = remembered[1]
    if run_id is None:
        run_id = fmt.new_run_id()
        while disk.exists(os.path.join(root, project, run_id)):
            run_id = fmt.new_run_id()
    return run_id


def start_record(
    meta: dict[str, Any],
    plan: Plan,
    resuming: bool,
    exists: bool,
    resume_mode: str | None,
    process: Process,
    args: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        **meta,
        "tags": list(meta["tags"] or ()),
        "session": plan.session,
        "resumed": resuming,
        "reset": exists and not resuming,
        "resume": resume_mode,
        "mode": plan.mode,
        "host": process.host,
        "pid": process.pid,
        "argv": redact.argv(process.argv),  # secret-looking values hidden, lengths kept
        "cwd": process.cwd,
        "python": process.python,
        "runship": process.version,
        "settings": redact.values(plan.settings.to_dict()),  # upload_to="https://user:PASS@...": no PASS
        "args": redact.values(recorded_args(args)),
    }


def recorded_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The init() arguments a start record keeps, as given."""
    reinit = args.get("reinit")
    no_effect = {k: args.get(k) for k in NO_EFFECT if args.get(k) not in (None, False)}
    return {
        "reinit": str(reinit) if reinit is not None else None,
        "allow_val_change": args.get("allow_val_change"),
        "save_code": args.get("save_code"),
        "config_include_keys": args.get("config_include_keys"),
        "config_exclude_keys": args.get("config_exclude_keys"),
        "sync_tensorboard": bool(args.get("sync_tensorboard") or args.get("tensorboard")) or None,
        **{k: v if isinstance(v, (str, bool, int)) else repr(v) for k, v in no_effect.items()},
    }


def mode_of(value: object) -> str:
    if value is None:
        return "offline"
    mode = _MODES.get(str(value).lower())
    if mode is None:
        raise ValueError(f"mode must be one of 'offline', 'online', 'disabled', got {value!r}")
    return mode


def resume_mode_of(value: object) -> str | None:
    if value is None or value is False or value == "":
        return None
    if value is True:
        return "auto"
    if isinstance(value, str):
        v = value.lower()
        if v in ("true", "1"):
            return "auto"
        if v in ("false", "0", "none"):
            return None
        if v in _RESUME:
            return v
    raise ValueError(f"resume must be None, True, False, 'allow', 'must', 'never' or 'auto', got {value!r}")


def reinit_policy(value: object, notebook: bool) -> str:
    if value is True:
        return "finish_previous"
    if value is False or value is None:
        value = "default" if value is None else "return_previous"
    if value not in _REINIT:
        raise ValueError(f"reinit must be one of {sorted(_REINIT)} or a bool, got {value!r}")
    if value == "default":
        return "finish_previous" if notebook else "return_previous"
    return str(value)


def tags_of(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    tags = tuple(str(t) for t in cast(Iterable[object], value))  # any other value: an iterable of tags
    for t in tags:
        if len(t) > 256:
            raise ValueError(f"tag is longer than 256 characters: {t[:40]!r}...")
    return tags
