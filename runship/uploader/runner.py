"""``runship upload`` and ``runship status``: configuration, signals, exit codes."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from runship import safefile, store
from runship.errors import UsageError
from runship.extras import MissingExtra
from runship.interrupts import Interrupted
from runship.store import TargetError, redact
from runship.store.location import check_location, is_url
from runship.uploader import config as _config
from runship.uploader.engine import Log, PassStats, RunRef, Uploader, watch
from runship.uploader.state import Busy, State, default_state_dir

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BUSY = 75  # EX_TEMPFAIL: another uploader holds the state; try later
EXIT_WAITING = 75  # EX_TEMPFAIL: files of a live run were left to settle; run again
STOP_GRACE = 5.0  # seconds a pass may take to end after SIGTERM before the process exits


@dataclass
class Resolved:
    """Where and what to upload, from the command line over the environment
    over the config file (shared by ``upload`` and ``status``)."""

    to: str
    roots: list[str]
    options: dict[str, Any]
    token: str | None
    state_dir: str
    interval: float


def resolve(
    to: str | None,
    roots: list[str] | None,
    default_root: str,
    storage_options: tuple[str, ...] | list[str] = (),
    token_file: str | None = None,
    config_path: str | None = None,
    state_dir: str | None = None,
    *,
    interval: float | None = None,
    secrets: dict[str, Any] | None = None,
) -> Resolved:
    cfg = _config.load(config_path or _config.default_config_path())
    secrets = secrets or {}
    target = to or secrets.get("to") or cfg.to
    if not target:
        raise UsageError("no upload target: give --to URL, set RUNSHIP_UPLOAD_TO, or 'to' in the config file")
    check_location(target, "--to", absolute=True)
    options = {
        **cfg.storage_options,
        **_config.parse_storage_options(storage_options),
        **(secrets.get("storage_options") or {}),
    }
    return Resolved(
        to=os.path.expanduser(target),
        roots=roots or cfg.roots or [default_root],
        options=options,
        token=secrets.get("token") or _token(token_file),
        state_dir=state_dir or cfg.state or default_state_dir(),
        interval=interval or cfg.interval,
    )


@dataclass
class UploadCommand:
    roots: list[str] | None
    default_root: str
    to: str | None
    mode: str = "once"
    interval: float | None = None
    project: str | None = None
    run_filter: str | None = None
    follow: bool = False
    follow_pid: int | None = None
    dry_run: bool = False
    verify_remote: bool = False
    pass_timeout: float = 3600.0
    state_dir: str | None = None
    storage_options: tuple[str, ...] = ()
    token_file: str | None = None
    config_path: str | None = None
    verbosity: int = 1
    allow_insecure_http: bool = False
    secrets: dict[str, Any] | None = None  # from an inherited descriptor (mode="online"): token, storage options

    def run(self) -> int:
        log = Log(self.verbosity)
        try:
            if self.follow and not (self.run_filter and self.mode == "watch"):
                raise UsageError("--follow needs --watch and --run")
            r = resolve(
                to=self.to,
                roots=self.roots,
                default_root=self.default_root,
                storage_options=self.storage_options,
                token_file=self.token_file,
                config_path=self.config_path,
                state_dir=self.state_dir,
                interval=self.interval,
                secrets=self.secrets,
            )
            _check_roots(r.roots, watching=self.mode == "watch")
            target = store.open(
                r.to, r.options, token=r.token, allow_insecure_http=self.allow_insecure_http, create=not self.dry_run
            )
        except (UsageError, safefile.InsecureFile) as e:
            print(f"Error: {e}", file=sys.stderr)
            return 2
        except TargetError as e:
            _traceback(self.verbosity)
            print(f"Error: {e}", file=sys.stderr)
            return EXIT_FAILED if e.retryable else 2
        except MissingExtra as e:  # a package the target needs (s3fs): a failure at run time, as elsewhere
            print(f"Error: {e}", file=sys.stderr)
            return EXIT_FAILED
        try:
            state = State.for_dry_run(r.state_dir) if self.dry_run else State(r.state_dir)
        except Busy as e:
            if self.verbosity:
                print(f"runship upload: {e}; not running a second one", file=sys.stderr)
            return EXIT_BUSY
        except OSError as e:
            print(f"Error: cannot use the state directory {r.state_dir}: {e.strerror or e}", file=sys.stderr)
            return 2
        stop = threading.Event()
        signals: list[int] = []  # the signals that set ``stop``, in order
        previous = _install_stop(stop, signals)
        progress = None
        if self.mode == "once" and self.verbosity and log.tty and not self.dry_run:
            progress = _progress
        uploader = Uploader(
            target,
            state,
            r.roots,
            project=self.project,
            run=self.run_filter,
            dry_run=self.dry_run,
            log=log,
            stop=stop,
            progress=progress,
            verify_remote=self.verify_remote,
            pass_timeout=self.pass_timeout,
        )
        detail = f" ({_config.describe_options(r.options)})" if r.options else ""
        log.detail(f"{', '.join(uploader.roots)} -> {target.url}{detail}")
        try:
            if self.mode == "watch":
                follow = self.run_filter if self.follow else None
                return _watch(uploader, log, signals, r.interval, follow, self.follow_pid)
            return _one_pass(uploader, log, signals, target.url, dry_run=self.dry_run)
        finally:
            _restore(previous)
            state.close()
            target.close()


def _watch(
    uploader: Uploader, log: Log, signals: list[int], interval: float, follow: str | None, follow_pid: int | None
) -> int:
    """``--watch``: passes until a signal (or, with ``follow``, the run is up)."""
    log.info(f"watching {', '.join(uploader.roots)} -> {uploader.target.url} every {interval:g} s")
    last: list[PassStats] = []

    def on_pass(stats: PassStats) -> None:
        last[:] = [stats]
        if not uploader.stop.is_set():  # a pass a signal cut short is told of by _stopped
            _report(log, stats, daemon=True)

    watch(uploader, interval=interval, follow=follow, follow_pid=follow_pid, on_pass=on_pass)
    return _stopped(log, signals, last)


def _stopped(log: Log, signals: list[int], last: list[PassStats]) -> int:
    """The end of ``--watch``: SIGTERM is a daemon's stop (exit 0); SIGINT
    an interrupt (runship.interrupts). Either says what the pass in flight
    left, if one was."""
    cut = last and (last[0].cut or last[0].runs_seen < last[0].runs_found)
    left = last[0].left() if cut else "between passes, nothing left unfinished"
    if signals and signals[0] != signal.SIGTERM:
        raise Interrupted(signals[0], left, "runship upload")
    log.info(f"stopped: {left}" if signals else "stopped")
    return EXIT_OK


def _one_pass(uploader: Uploader, log: Log, signals: list[int], url: str, dry_run: bool) -> int:
    """A one-shot pass (``--once``, ``--dry-run``) and its exit status; a
    pass stopped by a signal is no failure: it raises ``Interrupted``."""
    stats = uploader.run_pass()
    if signals:
        raise Interrupted(signals[0], "the list is incomplete" if dry_run else stats.left(), "runship upload")
    if dry_run:
        for run, name, n in stats.pending:
            print(f"{run}/{name}: {n} bytes")
        total = sum(n for *_, n in stats.pending)
        print(f"dry run: {len(stats.pending)} files, {total} bytes would be uploaded to {url}")
        for why in stats.empty_roots:
            log.error(why)
        return EXIT_FAILED if stats.missing_roots or stats.empty_roots else EXIT_OK
    for why in stats.empty_roots:  # a one-shot pass at a path with no run: cron must notice
        log.error(why)
    _report(log, stats, daemon=False)
    if stats.failures or stats.unreachable or stats.missing_roots or stats.empty_roots:
        return EXIT_FAILED
    for run, names in stats.waiting:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        log.warning(
            f"{run}: {len(names)} {'file' if len(names) == 1 else 'files'} of the live run "
            f"changed in the last {uploader.stable_seconds:g} s and wait to become stable ({shown}): "
            f"not complete; run again (exit {EXIT_WAITING})"
        )
    return EXIT_WAITING if stats.waiting else EXIT_OK


def _check_roots(roots: list[str], watching: bool) -> None:
    """A path that can never hold runs is a bad argument: a file, or a
    directory inside a run. A path that does not exist fails a one-shot pass
    (exit 1, as a pass that finds nothing) and stops a daemon at its start (a
    typo); a directory with no runs yet is a fresh root to a daemon."""
    from runship.reader.listing import classify_local

    for root in roots:
        located = classify_local(root)
        if located.kind in ("file", "inside") or (watching and located.kind == "missing"):
            raise UsageError(located.reason)


def _traceback(verbosity: int) -> None:
    if verbosity >= 2:
        import traceback

        traceback.print_exc()


def _report(log: Log, stats: PassStats, daemon: bool) -> None:
    """The summary line of a pass. Quiet (-q): nothing unless something
    failed; a daemon: a line only for a pass that did something or failed."""
    line = stats.summary()
    failed = bool(stats.failures or stats.unreachable or stats.missing_roots or (stats.empty_roots and not daemon))
    if failed:
        log.error(line)
    elif log.level == 0 or (daemon and not stats.bytes):
        log.detail(line)
    else:
        log.info(line)


def _progress(items: list[RunRef]) -> Iterable[RunRef]:
    import click

    return click.progressbar(items, label="uploading", file=sys.stderr, item_show_func=lambda r: r.name if r else "")


def read_secrets(fd: int) -> dict[str, Any]:
    """Secrets handed over on an inherited descriptor (never on a command line
    or in an environment variable a child could show): JSON with ``to``,
    ``token``, ``storage_options`` and ``env`` (variables set in this process
    only, after it started, so they are not in /proc/<pid>/environ)."""
    import json

    with os.fdopen(fd, "rb") as f:
        data = f.read(1 << 20)
    try:
        secrets = json.loads(data or b"{}")
    except ValueError:
        raise UsageError("--secrets-fd: not JSON") from None
    if not isinstance(secrets, dict):
        raise UsageError("--secrets-fd: not a JSON object")
    for key, value in (secrets.get("env") or {}).items():
        os.environ[str(key)] = str(value)
    return secrets


def _token(token_file: str | None) -> str | None:
    """The token for a runship server: from a file only its owner can read
    (refused otherwise, as ssh refuses a private key), else $RUNSHIP_TOKEN."""
    if token_file:
        try:
            return safefile.read_private(token_file, "token file", limit=64 * 1024).strip() or None
        except safefile.InsecureFile:
            raise
        except (OSError, ValueError) as e:
            raise UsageError(str(e)) from None
    return os.environ.get("RUNSHIP_TOKEN") or None


def _install_stop(stop: threading.Event, signals: list[int], grace: float = STOP_GRACE) -> dict[int, Any]:
    """SIGTERM/SIGINT (noted in ``signals``): the object in flight finishes
    and the pass ends; if that takes longer than ``grace`` seconds (a call
    that does not return, a file that blocks), or a second signal comes,
    the process exits at once, with 128 + the first signal. Progress is
    committed per object, so the next run continues."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            _exit_now(signals[0], "a second signal")
        signals.append(signum)
        stop.set()
        timer = threading.Timer(grace, _exit_now, args=(signum, f"the pass did not end within {grace:g} s"))
        timer.daemon = True
        timer.start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _exit_now(signum: int, why: str) -> None:
    line = Interrupted(
        signum, f"{why}: stopped at once; the next pass goes on from the last object up", "runship upload"
    )
    try:
        print(line.line(), file=sys.stderr, flush=True)
    finally:
        os._exit(line.exit_code)


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def upload_status(
    roots: list[str] | None,
    default_root: str,
    to: str | None,
    state_dir: str | None,
    ask_remote: bool,
    storage_options: tuple[str, ...] | list[str],
    token_file: str | None = None,
    config_path: str | None = None,
) -> list[dict[str, Any]]:
    """Per run under the roots (the same configuration as ``runship upload``):
    local and uploaded bytes, whether it is all up, and how the run ended."""
    r = resolve(to, roots, default_root, storage_options, token_file, config_path, state_dir)
    target = store.open(r.to, r.options, token=r.token, create=False) if ask_remote else None
    url = target.url if target else redact(r.to.rstrip("/"))
    if not is_url(url):
        url = "file://" + os.path.abspath(url)
    state = State.for_dry_run(r.state_dir)
    known_runs = {(x["project"], x["run"], x["path"]): x for x in state.runs(url)}
    try:
        return [
            _status_row(run_dir, target, state, url, known_runs) for root in r.roots for run_dir in _status_runs(root)
        ]
    finally:
        state.close()
        if target is not None:
            target.close()


def _status_row(
    run_dir: str,
    target: store.Backend | None,
    state: State,
    url: str,
    known_runs: dict[tuple[str, str, str], dict[str, Any]],
) -> dict[str, Any]:
    """One run's line of ``upload_status``: uploaded bytes from the target
    (when asked) or from the state database."""
    from runship.reader.listing import summarize
    from runship.uploader import tail

    info = summarize(run_dir)
    try:
        entries = safefile.entries_of(run_dir)
    except OSError:
        entries = []
    files, _ = tail.stream_files(entries)
    local = sum(f.size for f in files)
    if target is not None:
        uploaded = sum(target.remote_size(info["project"], info["id"], f.name) for f in files)
    else:
        known = state.files(url, info["project"], info["id"])
        uploaded = sum(known[f.name].uploaded for f in files if f.name in known)
    row = known_runs.get((info["project"], info["id"], os.path.abspath(run_dir)), {})
    return {
        "project": info["project"],
        "id": info["id"],
        "state": info["state"],
        "local_bytes": local,
        "uploaded_bytes": uploaded,
        "complete": bool(row.get("done")),
        "upload": _upload_state(info["state"], bool(row.get("done")), local, uploaded, row),
        "last_upload": row.get("last_upload"),
        "error": row.get("error"),
        "skipped": row.get("skipped") or [],
        "waiting": row.get("waiting") or [],
        "location": run_dir,
    }


def _status_runs(root: str) -> list[str]:
    """The run directories of a root, a project directory or a run directory,
    as ``runship upload`` takes them."""
    from runship.errors import RunNotFound
    from runship.reader.listing import classify_local, local_runs

    located = classify_local(root)
    if located.kind == "missing":
        raise RunNotFound(located.reason)
    if not located.usable:
        raise UsageError(located.reason)
    return local_runs(located)


def _upload_state(run_state: str, done: bool, local: int, uploaded: int, row: dict[str, Any]) -> str:
    """What is true of a run's upload, in words."""
    if done:
        return "complete"
    if row.get("error"):
        return "failing"
    if not row:
        return "not uploaded"
    waiting = row.get("waiting") or []
    if waiting:  # a live run's files that changed too recently at the last pass
        return f"{len(waiting)} {'file' if len(waiting) == 1 else 'files'} waiting (run still writing)"
    if uploaded >= local and run_state in ("crashed", "terminated"):
        return f"uploaded (run {run_state})"  # it ended without a finish record: nothing more will come
    if uploaded >= local:
        return "uploaded so far (run still writing)" if run_state == "running" else "uploaded"
    return "partly uploaded"
