"""``runship.init``: the wandb.init signature, resolved into a Run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, cast

from runship.errors import UsageError
from runship.schema import format as fmt
from runship.schema import names, redact
from runship.schema.records import job_of, placement_of, rank_of
from runship.writer import prior as _prior
from runship.writer import ranks
from runship.writer import resume as _resume
from runship.writer.config_input import filter_keys, load_config, load_defaults
from runship.writer.files import save_code as save_code_files
from runship.writer.hooks import HOOKS
from runship.writer.lifecycle import PROCESS
from runship.writer.run import Run
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
_NO_EFFECT = (
    "magic",
    "anonymous",
    "force",
    "monitor_gym",
    "tensorboard",
    "sync_tensorboard",
    "resume_from",
    "fork_from",
)


def env(name: str, environ: dict | None = None) -> str | None:
    """``RUNSHIP_<name>``, else ``WANDB_<name>``, else None (empty counts as unset)."""
    e = os.environ if environ is None else environ
    for prefix in ("RUNSHIP_", "WANDB_"):
        value = e.get(prefix + name)
        if value:
            return value
    return None


def init(
    job_type: str | None = None,
    dir: str | os.PathLike | None = None,
    config: object = None,
    project: str | None = None,
    entity: str | None = None,
    reinit: bool | str | None = None,
    tags: Sequence[str] | None = None,
    group: str | None = None,
    name: str | None = None,
    notes: str | None = None,
    magic: object = None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    anonymous: str | None = None,
    mode: str | None = None,
    allow_val_change: bool | None = None,
    resume: bool | str | None = None,
    force: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    save_code: bool | None = None,
    id: str | None = None,
    settings: Settings | dict | None = None,
    *,
    resume_from: str | None = None,
    fork_from: str | None = None,
) -> Run:
    """Start (or resume) a run and return it. The signature is wandb.init's.

    Writes ``<root>/<project>/<id>/`` where root is ``dir``, else
    ``$RUNSHIP_DIR`` (or ``$WANDB_DIR``), else ``./runship-runs``. Nothing leaves
    the machine: ``runship upload`` ships run directories separately.

    - ``project``: default ``$RUNSHIP_PROJECT``/``$WANDB_PROJECT``, else "uncategorized".
    - ``id``: default ``$RUNSHIP_RUN_ID``/``$WANDB_RUN_ID``, else 8 random base36 characters.
      ``id`` and ``project`` must be printable, without path separators or "..",
      at most 128 characters; otherwise ValueError naming the bad one.
    - ``name``, ``notes``, ``tags``, ``group``, ``job_type``, ``entity``: recorded
      (defaults from ``$RUNSHIP_NAME``, ``_NOTES``, ``_TAGS`` (comma-separated),
      ``_RUN_GROUP``, ``_JOB_TYPE``, ``_ENTITY``). A resumed run keeps earlier
      values that are not given again.
    - ``config``: dict, argparse Namespace, absl flags, or a YAML/JSON file path;
      filtered by ``config_include_keys``/``config_exclude_keys``.
      ``allow_val_change=True`` lets later ``config`` updates change values.
    - ``mode``: "offline" (the default), "online" (written exactly as offline,
      and a detached ``runship upload --watch`` ships the run as it goes to
      ``settings upload_to`` or ``$RUNSHIP_UPLOAD_TO``), "disabled" (a Run
      whose methods do nothing and which writes nothing). Default
      ``$RUNSHIP_MODE``/``$WANDB_MODE``.
    - ``resume``: None/False: a new run; an existing ``id`` is *reset* (a new
      session that readers take as the start of the run; no byte of earlier
      sessions is deleted). "allow": resume ``id`` if it exists, else start it.
      "must": resume ``id``; UsageError if it does not exist. "never": start
      ``id``; UsageError if it exists. "auto"/True: with ``id``, as "allow";
      without, resume the last run started in this root that did not finish
      cleanly, else start a new one. Default ``$RUNSHIP_RESUME``.
    - ``reinit``: when a run is already active: "return_previous" (return it),
      "finish_previous" (finish it, start a new one), "create_new" (start
      another; ``runship.run`` stays the first), "default" (finish_previous in
      a notebook, return_previous otherwise); True is "finish_previous" and
      False "return_previous".
    - ``save_code``: copy the entry script into ``files/code/``.
    - ``settings``: ``runship.Settings`` or a dict (flush/fsync/heartbeat
      intervals, rotation size, memory bound and its policy, quiet).
    - ``magic``, ``anonymous``, ``force``, ``monitor_gym``, ``tensorboard``,
      ``sync_tensorboard``, ``resume_from``, ``fork_from``: accepted and
      recorded; they have no effect here and say so once.
    """
    s = Settings().update(settings)
    policy = _reinit_policy(reinit if reinit is not None else s.reinit)
    current = PROCESS.current
    if policy == "return_previous" and current is not None and current.active:
        current._notice(
            "init() called while a run is active: returning that run "
            "(pass reinit='finish_previous' or 'create_new' for a new one)"
        )
        return current
    if policy == "finish_previous":
        for active in list(PROCESS.active):
            active.finish()

    trial = _sweep_trial()
    wins, requested = _sweep_wins(trial, {"project": project, "id": id, "dir": dir})
    project, id, dir = wins["project"], wins["id"], wins["dir"]
    run_mode = _mode(mode if mode is not None else env("MODE"))
    project = fmt.validate_name(project if project is not None else (env("PROJECT") or "uncategorized"), "project")
    run_id = id if id is not None else env("RUN_ID")
    if run_id is not None:
        run_id = fmt.validate_name(run_id, "id")
    placement = ranks.detect(settings=s)
    if placement is not None:
        if run_id is None and placement.job is not None:  # every rank of the job derives the same id
            run_id = ranks.job_run_id(placement.job)
        if not placement.primary and s.ranks == "primary-only":
            run_mode = "disabled"
        if s.ranks == "shared":
            placement = placement._replace(shared=True)
    root = _root(dir)
    meta = _metadata(name, notes, group, job_type, entity, tags)
    cfg, defaults_problem = _config(config, config_include_keys, config_exclude_keys)
    if trial is not None:  # a trial of a sweep: its params win over the script's config, as wandb
        cfg = {**cfg, **trial["params"]}
        meta["sweep"] = {"id": trial["id"], "trial": trial["trial"], **({"requested": requested} if requested else {})}
    no_effect = {
        k: v
        for k, v in dict(
            magic=magic,
            anonymous=anonymous,
            force=force,
            monitor_gym=monitor_gym,
            resume_from=resume_from,
            fork_from=fork_from,
        ).items()
        if v not in (None, False)
    }
    if run_mode == "disabled":
        run = Run(
            root=root,
            project=project,
            run_id=run_id or fmt.new_run_id(),
            settings=s,
            meta=meta,
            session=None,
            config=cfg,
            allow_val_change=bool(allow_val_change),
            disabled=True,
            mode="disabled",
        )
        PROCESS.register(run, make_current=policy != "create_new", interactive=_ipython_shell() is not None)
        return run

    resume_mode = _resume_mode(resume if resume is not None else env("RESUME"))
    run_id = _choose_id(root, project, run_id, resume_mode)
    run_dir = os.path.join(root, project, run_id)
    try:
        sessions = _resume.run_sessions(run_dir)
    except OSError as e:
        raise UsageError(f"cannot read run directory {run_dir}: {e.strerror or e}") from None
    exists = bool(sessions)
    peers = (
        # every session of a distributed run (a rank's twin may be any); a resume warns of recent ones
        _resume.session_starts(run_dir, limit=4096 if placement is not None else 64, known=_prior.known_starts(run_dir))
        if exists and (placement is not None or resume_mode is not None)
        else {}
    )
    # a rank other than 0 joins (never resets) the run; rank 0 joins one its job's rank 0 wrote before
    # (a requeue of the job), else starts it as any run starts (a reset, where another job's run was there)
    joining = placement is not None and (
        not placement.primary
        or (
            placement.job is not None
            and any(job_of(st) == placement.job and (rank_of(st) == 0 or placement.shared) for st in peers.values())
        )
    )
    if resume_mode == "must" and not exists:
        raise UsageError(f"resume='must' but run {project}/{run_id} does not exist under {root}")
    if resume_mode == "never" and exists and not joining:
        raise UsageError(f"resume='never' but run {project}/{run_id} already exists under {root}")
    resuming = exists and (resume_mode in ("allow", "must", "auto") or joining)
    primary = placement is None or placement.primary
    prior = _prior.prior_state(run_dir, peers) if resuming and primary else None
    claims = _claimed(run_dir, peers, placement) if resuming else []
    if prior:
        for key, value in (prior.get("meta") or {}).items():
            if meta.get(key) in (None, ()) and value not in (None, ()):
                meta[key] = value
    session = fmt.new_session_id(after=sessions[-1] if sessions else None)
    try:
        os.makedirs(os.path.join(run_dir, "files"), exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create run directory {run_dir}: {e.strerror or e}") from None
    args = {
        "reinit": str(reinit) if reinit is not None else None,
        "allow_val_change": allow_val_change,
        "save_code": save_code,
        "config_include_keys": config_include_keys,
        "config_exclude_keys": config_exclude_keys,
        "sync_tensorboard": bool(sync_tensorboard or tensorboard) or None,
        **{k: v if isinstance(v, (str, bool, int)) else repr(v) for k, v in no_effect.items()},
    }
    if placement is not None and placement.local_rank not in (None, 0):
        s.system_metrics = False  # one sampler a node (its local rank 0): the node's GPUs once, not once a rank
    start = _start_record(meta, session, resuming, exists, resume_mode, run_mode, s, args)
    if placement is not None:
        start["placement"] = placement.to_record()
    start["first_step"] = int(prior.get("next_step", 0)) if prior else 0
    if resume_mode in ("allow", "auto") and not exists:
        start["blind"] = True  # resumed where no earlier session could be seen (a requeue onto a fresh root?)
    run = Run(
        root=root,
        project=project,
        run_id=run_id,
        settings=s,
        meta=start,
        session=session,
        resumed=resuming,
        prior=prior,
        config=cfg,
        allow_val_change=bool(allow_val_change),
        mode=run_mode,
    )
    for arg in no_effect:
        run.notice(f"init({arg}=...) has no effect in runship; it is recorded only", arg=arg)
    if placement is not None:
        if run._writer is not None:
            run._writer.flush(fsync=False)  # the start record on disk now: the other ranks look for it
        if id is None and env("RUN_ID") is None and placement.job is None:
            run.notice(
                f"rank {placement.rank} of {placement.world_size}: no run id shared by the ranks "
                "(no scheduler job id): give init(id=...) or RUNSHIP_RUN_ID, the same in every rank, "
                "for the ranks to make one run"
            )
    for other in claims:
        run.notice(other, warning=True)
    if requested:
        _say_sweep_won(run, requested)
    if sync_tensorboard or tensorboard:  # mirror TensorBoard writers into the history, as wandb
        hook = HOOKS.sync_tensorboard
        run._tb_mirror = hook(run) if hook is not None else None
        if run._tb_mirror is None:
            run.notice(
                "sync_tensorboard=True: no TensorBoard writer is installed (torch.utils.tensorboard, tensorboardX)"
            )
    for key in s.ignored:
        run.notice(f"setting {key!r} has no effect in runship; it is recorded only", setting=key)
    if defaults_problem:
        run.notice(defaults_problem)
    if save_code:
        save_code_files(run)
    _resume.remember(root, project, run_id)
    PROCESS.register(run, make_current=policy != "create_new", interactive=_ipython_shell() is not None)
    run._write_snapshot()
    run._follower = _start_follower(run, s) if run_mode == "online" else None
    if not s.quiet:
        ship = "uploading as it goes" if run._follower else "ship it with `runship upload`"
        print(
            f"runship: {_started(project, run_id, placement, resuming, exists)} in {run_dir} ({ship})", file=sys.stderr
        )
    return run


def _started(project: str, run_id: str, placement: ranks.Placement | None, resuming: bool, exists: bool) -> str:
    """What init() did, as its line says: a rank other than 0 joins its job's run."""
    if placement is not None and not placement.primary:
        return f"joined run {project}/{run_id} as rank {placement.rank}"
    return f"{'resumed' if resuming else ('reset' if exists else 'started')} run {project}/{run_id}"


_SWEEP_WINS = (("project", "PROJECT"), ("id", "RUN_ID"), ("dir", "DIR"))  # init()'s argument, the agent's variable


def _sweep_wins(trial: dict | None, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """init()'s ``project``, ``id`` and ``dir`` in a sweep trial: the agent's,
    where it reads the trial's result (wandb too ignores project, entity and id
    in a sweep), and those the script asked for instead."""
    if trial is None:
        return given, {}
    wins, requested = dict(given), {}
    for arg, var in _SWEEP_WINS:
        value, agents = given[arg], env(var)
        if value is None or agents is None:
            continue
        asked = str(os.fspath(value)) if arg == "dir" else str(value)
        if (os.path.abspath(asked) != os.path.abspath(agents)) if arg == "dir" else asked != agents:
            wins[arg], requested[arg] = None, asked
    return wins, requested


def _say_sweep_won(run: Run, requested: dict[str, str]) -> None:
    asked = ", ".join(f"{k}={v!r}" for k, v in requested.items())
    run.notice(
        f"init({asked}) is ignored in a trial of sweep {env('SWEEP_ID')}: its run is {run.project}/{run.id} "
        f"in {run.root}, where the agent reads the trial's result",
        warning=True,
        requested=requested,
    )


def _sweep_trial() -> dict | None:
    """The sweep trial this process runs, from its agent's environment."""
    sweep_id = os.environ.get("RUNSHIP_SWEEP_ID")
    text = os.environ.get("RUNSHIP_SWEEP_PARAMS")
    if not sweep_id or not text:
        return None
    import json

    try:
        params = json.loads(text)
    except ValueError:
        raise UsageError("RUNSHIP_SWEEP_PARAMS is not JSON: it is set by `runship sweep agent`") from None
    if not isinstance(params, dict):
        raise UsageError("RUNSHIP_SWEEP_PARAMS is not a JSON map: it is set by `runship sweep agent`")
    return {"id": sweep_id.rsplit("/", 1)[-1], "trial": os.environ.get("RUNSHIP_SWEEP_TRIAL"), "params": params}


def _claimed(run_dir: str, peers: dict[str, dict], placement: ranks.Placement | None) -> list[str]:
    """Warnings for live processes that write this run as this process
    will: the same rank of the same job, or (with no rank information)
    any other process writing the run."""
    here = f"host {os.uname().nodename} pid {os.getpid()}"
    out = []
    for session, start in peers.items():
        if placement is not None:
            if placement_of(start) is None or rank_of(start) != placement.rank or job_of(start) != placement.job:
                continue
            what = f"rank {placement.rank} of this run is claimed by two processes"
        else:
            what = "another process writes this run"
        if not _resume.session_alive(run_dir, session, start):
            continue
        out.append(
            f"{what}: host {start.get('host')} pid {start.get('pid')} (session {session}) and {here} (this one); "
            "their rows will be kept apart, by session"
        )
    return out


def _root(dir) -> str:
    """The run root: ``dir``, else $RUNSHIP_DIR/$WANDB_DIR, else ./runship-runs.
    A root that would be imported instead of the runship package is refused."""
    root = os.path.abspath(os.fspath(dir if dir is not None else (env("DIR") or names.DEFAULT_ROOT)))
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    places = [os.getcwd()] + ([os.path.dirname(os.path.abspath(script))] if script else [])
    if names.shadows_package(root, places):
        raise UsageError(
            f"the run root {root} would be imported instead of the runship package the next time a script "
            f"runs from {os.path.dirname(root)} (a directory named 'runship' next to it); "
            f"use another name, e.g. dir='{os.path.join(os.path.dirname(root), names.DEFAULT_ROOT)}' or RUNSHIP_DIR"
        )
    return root


def _metadata(name, notes, group, job_type, entity, tags) -> dict:
    """The run's metadata from the arguments, else the environment."""
    return {
        "name": name if name is not None else env("NAME"),
        "notes": notes if notes is not None else env("NOTES"),
        "group": group if group is not None else env("RUN_GROUP"),
        "job_type": job_type if job_type is not None else env("JOB_TYPE"),
        "entity": entity if entity is not None else env("ENTITY"),
        "tags": _tags(tags if tags is not None else env("TAGS")),
    }


def _config(config, include, exclude) -> tuple[dict, str | None]:
    """init()'s config, filtered, over config-defaults.yaml; and a problem
    reading the defaults file, if any."""
    cfg = filter_keys(load_config(config), include, exclude)
    defaults, problem = load_defaults()
    if defaults:
        cfg = {**defaults, **cfg}  # what init() is given wins over config-defaults.yaml
    return cfg, problem


def _choose_id(root: str, project: str, run_id: str | None, resume_mode: str | None) -> str:
    """The given id; else with resume="auto" the last run started in this
    root; else a new random one that is not taken."""
    if run_id is None and resume_mode == "auto":
        remembered = _resume.recall(root)
        if remembered and remembered[0] == project and _resume.run_sessions(os.path.join(root, *remembered)):
            run_id = remembered[1]
    if run_id is None:
        run_id = fmt.new_run_id()
        while os.path.exists(os.path.join(root, project, run_id)):
            run_id = fmt.new_run_id()
    return run_id


def _start_record(meta, session, resuming, exists, resume_mode, run_mode, s: Settings, args: dict) -> dict:
    return {
        **meta,
        "tags": list(meta["tags"] or ()),
        "session": session,
        "resumed": resuming,
        "reset": exists and not resuming,
        "resume": resume_mode,
        "mode": run_mode,
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "argv": redact.argv(sys.argv),  # secret-looking values hidden, lengths kept
        "cwd": os.getcwd(),
        "python": sys.version.split()[0],
        "runship": _version(),
        "settings": redact.values(s.to_dict()),  # upload_to="https://user:PASS@...": no PASS
        "args": redact.values(args),
    }


def _mode(value: str | None) -> str:
    if value is None:
        return "offline"
    mode = _MODES.get(str(value).lower())
    if mode is None:
        raise ValueError(f"mode must be one of 'offline', 'online', 'disabled', got {value!r}")
    return mode


def _resume_mode(value: object) -> str | None:
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


def _reinit_policy(value: object) -> str:
    if value is True:
        return "finish_previous"
    if value is False or value is None:
        value = "default" if value is None else "return_previous"
    if value not in _REINIT:
        raise ValueError(f"reinit must be one of {sorted(_REINIT)} or a bool, got {value!r}")
    if value == "default":
        return "finish_previous" if _in_notebook() else "return_previous"
    return value


def _in_notebook() -> bool:
    return type(_ipython_shell()).__name__ == "ZMQInteractiveShell"


def _ipython_shell() -> object:
    """The IPython shell running this code (a notebook's or a terminal's), else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:
        return None


def _tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    tags = tuple(str(t) for t in cast(Iterable[object], value))  # any other value: an iterable of tags
    for t in tags:
        if len(t) > 256:
            raise ValueError(f"tag is longer than 256 characters: {t[:40]!r}...")
    return tags


def _version() -> str:
    return HOOKS.version


def _start_follower(run: Run, s: Settings) -> str | None:
    """mode="online": a detached ``runship upload --watch`` that follows this
    run until it is finished and uploaded (or this process is gone), then
    exits. Training never waits on it.

    No secret goes on its command line or into its environment: that holds
    only the allow-listed variables (``redact.split_environment``); the
    target URL (it may hold credentials) and the variables the uploader may
    need to reach it (RUNSHIP_*, AWS_*, AZURE_*, proxies, ...) are handed
    over as JSON on an inherited pipe, which the child reads once at start.
    Any other variable (DATABASE_URL, WANDB_API_KEY, ...) it never gets."""
    import json
    import subprocess
    import threading

    target = s.upload_to or os.environ.get("RUNSHIP_UPLOAD_TO")
    if not target:
        run.notice(
            "mode='online' without an upload target (settings upload_to or RUNSHIP_UPLOAD_TO): writing offline only"
        )
        return None
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    state = os.path.join(base, "runship", "follow", run.project, run.id)
    child_env, handed = redact.split_environment(os.environ)
    secrets = json.dumps({"to": target, "env": handed}).encode()
    try:
        os.makedirs(state, mode=0o700, exist_ok=True)
        r, w = os.pipe()
    except OSError as e:
        run.notice(f"mode='online': could not start the uploader ({e}); writing offline only")
        return None
    cmd = [
        sys.executable, "-m", "runship.cli", "upload", run.run_dir, "--watch",
        "--interval", str(s.upload_interval), "--run", run.run_dir, "--follow", "--follow-pid", str(os.getpid()),
        "--state", state, "--secrets-fd", str(r), "-q",
    ]  # fmt: skip
    try:
        with open(os.path.join(state, "upload.log"), "ab") as log:
            subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                pass_fds=(r,),
                env=child_env,
            )
    except OSError as e:
        os.close(w)
        run.notice(f"mode='online': could not start the uploader ({e}); writing offline only")
        return None
    finally:
        os.close(r)

    def hand_over() -> None:  # in a thread: a full pipe must never block init()
        try:
            with os.fdopen(w, "wb") as f:
                f.write(secrets)
        except OSError:
            pass

    threading.Thread(target=hand_over, name="runship-follower-secrets", daemon=True).start()
    run.notice(f"uploading to {redact.for_log(target)} as the run goes (log: {state}/upload.log)")
    return target
