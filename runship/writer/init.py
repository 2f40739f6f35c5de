"""``runship.init``: the wandb.init signature. ``plan.resolve_start``
decides what to start; ``start(plan)`` starts it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from runship.errors import UsageError
from runship.schema import names, redact
from runship.writer import prior as _prior
from runship.writer import ranks
from runship.writer import resume as _resume
from runship.writer.config_input import filter_keys, load_config, load_defaults
from runship.writer.files import save_code as save_code_files
from runship.writer.hooks import HOOKS
from runship.writer.lifecycle import PROCESS
from runship.writer.plan import Plan, Process, env, reinit_policy, resolve_root, resolve_start
from runship.writer.run import Run, port
from runship.writer.settings import Settings

__all__ = ["OnDisk", "env", "init", "root", "start", "this_process"]


def init(  # wandb.init's signature, parameter for parameter
    job_type: str | None = None, dir: str | os.PathLike[str] | None = None, config: object = None,
    project: str | None = None, entity: str | None = None, reinit: bool | str | None = None,
    tags: Sequence[str] | None = None, group: str | None = None, name: str | None = None, notes: str | None = None,
    magic: object = None, config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None, anonymous: str | None = None, mode: str | None = None,
    allow_val_change: bool | None = None, resume: bool | str | None = None, force: bool | None = None,
    tensorboard: bool | None = None, sync_tensorboard: bool | None = None, monitor_gym: bool | None = None,
    save_code: bool | None = None, id: str | None = None, settings: Settings | dict[str, Any] | None = None,
    *, resume_from: str | None = None, fork_from: str | None = None,
) -> Run:  # fmt: skip
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
    args = dict(locals())
    notebook = _in_notebook()
    s = Settings().update(settings)
    previous = _previous(reinit_policy(reinit if reinit is not None else s.reinit, notebook))
    if previous is not None:
        return previous
    return start(resolve_start(args, this_process(s, notebook), OnDisk()))


def _previous(policy: str) -> Run | None:
    """The active run init() returns instead of starting one ("return_previous");
    with "finish_previous", the active runs finished first."""
    current = PROCESS.current
    if policy == "return_previous" and current is not None and current.active:
        port(current).say(
            "init() called while a run is active: returning that run "
            "(pass reinit='finish_previous' or 'create_new' for a new one)"
        )
        return current
    if policy == "finish_previous":
        for active in list(PROCESS.active):
            active.finish()
    return None


def this_process(settings: Settings | None, notebook: bool = False) -> Process:
    """The facts of this process resolve_start takes (``settings`` None: its
    placement in a distributed job is not looked for)."""
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    return Process(
        environ=os.environ,
        host=os.uname().nodename,
        pid=os.getpid(),
        argv=list(sys.argv),
        cwd=os.getcwd(),
        python=sys.version.split()[0],
        version=HOOKS.version,
        script_dir=os.path.dirname(os.path.abspath(script)) if script else None,
        notebook=notebook,
        placement=ranks.detect(settings=settings) if settings is not None else None,
    )


class OnDisk:
    """What is on disk (plan.Disk), read from the run root."""

    def sessions(self, run_dir: str) -> list[str]:
        return _resume.run_sessions(run_dir)

    def starts(self, run_dir: str, limit: int) -> dict[str, dict[str, Any]]:
        return _resume.session_starts(run_dir, limit=limit, known=_prior.known_starts(run_dir))

    def prior(self, run_dir: str, starts: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return _prior.prior_state(run_dir, starts)

    def alive(self, run_dir: str, session: str, start: dict[str, Any]) -> bool:
        return _resume.session_alive(run_dir, session, start)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def recall(self, root: str) -> tuple[str, str] | None:
        return _resume.recall(root)

    def shadows_package(self, root: str, places: list[str]) -> bool:
        return names.shadows_package(root, places)

    def config(
        self, value: object, include: list[str] | None, exclude: list[str] | None
    ) -> tuple[dict[str, Any], str | None]:
        cfg = filter_keys(load_config(value), include, exclude)
        defaults, problem = load_defaults()
        if defaults:
            cfg = {**defaults, **cfg}  # what init() is given wins over config-defaults.yaml
        return cfg, problem


def root(dir: object = None) -> str:
    """The run root init() would write under (``dir``, else $RUNSHIP_DIR, else ./runship-runs)."""
    return resolve_root(dir, this_process(None), OnDisk())


def start(plan: Plan) -> Run:
    """Start the run ``plan`` says: its directory, streams, start record and
    threads; the notices, hooks and code it asks for; made the current run."""
    interactive = _ipython_shell() is not None
    run_dir = plan.run_dir
    if not plan.disabled:
        try:
            os.makedirs(os.path.join(run_dir, "files"), exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create run directory {run_dir}: {e.strerror or e}") from None
    run = Run(plan)
    if plan.disabled:
        PROCESS.register(run, port(run), make_current=plan.policy != "create_new", interactive=interactive)
        return run
    if plan.placement is not None:
        run.flush_start()  # the start record on disk now: the other ranks look for it
    _say(run, plan.notices)
    if plan.sync_tensorboard:  # mirror TensorBoard writers into the history, as wandb
        hook = HOOKS.sync_tensorboard
        stop = hook(run) if hook is not None else None
        port(run).mirror(stop)
        if stop is None:
            run.notice(
                "sync_tensorboard=True: no TensorBoard writer is installed (torch.utils.tensorboard, tensorboardX)"
            )
    _say(run, plan.later)
    if plan.save_code:
        save_code_files(port(run))
    _resume.remember(plan.root, plan.project, plan.run_id)
    PROCESS.register(run, port(run), make_current=plan.policy != "create_new", interactive=interactive)
    port(run).write_snapshot()
    follower = _start_follower(run, plan.settings) if plan.mode == "online" else None
    port(run).follow(follower)
    if not plan.settings.quiet:
        ship = "uploading as it goes" if follower else "ship it with `runship upload`"
        print(f"runship: {_started(plan)} in {run_dir} ({ship})", file=sys.stderr)
    return run


def _say(run: Run, notices: list[tuple[str, dict[str, Any]]]) -> None:
    for message, fields in notices:
        run.notice(message, **fields)


def _started(plan: Plan) -> str:
    """What init() did, as its line says: a rank other than 0 joins its job's run."""
    placement, what = plan.placement, f"{plan.project}/{plan.run_id}"
    if placement is not None and not placement.primary:
        return f"joined run {what} as rank {placement.rank}"
    return f"{'resumed' if plan.resuming else ('reset' if plan.exists else 'started')} run {what}"


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
