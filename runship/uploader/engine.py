"""One upload pass over run roots, and the --watch loop around it."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from runship import safefile
from runship.schema import format as fmt
from runship.schema import names, redact
from runship.store import AuthError, Backend, ConflictError, GapError, TargetError, TlsError
from runship.uploader import tail
from runship.uploader.state import FileState, State

CHUNK_BYTES = 8 * 1024 * 1024  # the most bytes one push carries
STABLE_SECONDS = 2.0  # a derived file of a live run unchanged this long is uploaded
OVER = ("finished", "failed", "terminated", "crashed")  # run states with no writer left: its files are final
UNREACHABLE_AFTER = 3  # consecutive runs failing with retryable errors end a pass


@dataclass
class RunRef:
    root: str
    project: str
    run_id: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.project}/{self.run_id}"


@dataclass
class PassStats:
    runs_seen: int = 0
    runs_skipped: int = 0  # finished and fully uploaded: a stat only
    runs_uploaded: int = 0  # runs with bytes pushed in this pass
    bytes: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    unreachable: bool = False
    seconds: float = 0.0
    pending: list[tuple[str, str, int]] = field(default_factory=list)  # dry run: (run, file, bytes)
    done: set[str] = field(default_factory=set)  # paths of runs fully uploaded
    skipped: int = 0  # files not uploaded on purpose (links, FIFOs, devices, bad names)
    missing_roots: list[str] = field(default_factory=list)
    waiting: list[tuple[str, list[str]]] = field(default_factory=list)  # (run, files of a live run still settling)
    empty_roots: list[str] = field(default_factory=list)  # why each root that holds no run is empty
    runs_found: int = 0  # runs the pass set out to go through
    cut: str = ""  # the run in flight when the pass was stopped (SIGINT/SIGTERM): maybe part-way
    artifact_files: int = 0  # files of the projects' artifact stores sent (blobs and documents)

    def summary(self) -> str:
        line = (
            f"{self.runs_seen} runs seen, {self.runs_uploaded} uploaded, {_human(self.bytes)}, "
            f"{len(self.failures)} failures"
        )
        if self.skipped:
            line += (
                f", {self.skipped} files skipped (not regular files, names no target accepts, "
                "or not what their name says: each named in a warning)"
            )
        if self.artifact_files:
            line += f", {self.artifact_files} artifact {_files(self.artifact_files)} sent"
        if self.waiting:
            n = sum(len(w) for _, w in self.waiting)
            line += f", {n} {_files(n)} waiting to become stable (runs still writing)"
        if self.unreachable:
            line += " (target unreachable: pass cut short)"
        return line

    def left(self) -> str:
        """What a pass stopped by a signal left, in words (what went up is
        recorded per object: the next pass goes on from there)."""
        through = self.runs_seen - (1 if self.cut else 0)
        text = f"{through} of {self.runs_found} runs done ({_human(self.bytes)} sent)"
        if self.cut:
            text += f", {self.cut} part-way"
        return text + "; the next pass goes on from there"


def _files(n: int) -> str:
    return "file" if n == 1 else "files"


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


class RunError(Exception):
    """One run could not be (fully) uploaded; the pass goes on, unless the
    error is the target's refusal of every request (``whole_pass``)."""

    def __init__(self, message: str, retryable: bool = False, whole_pass: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.whole_pass = whole_pass

    @classmethod
    def of(cls, e: TargetError) -> RunError:
        return cls(str(e), retryable=e.retryable, whole_pass=isinstance(e, (AuthError, TlsError)))


class Log:
    """Plain lines on stderr (timestamped when not a terminal)."""

    def __init__(self, level: int = 1, stream: TextIO | None = None):
        self.level = level  # 0 quiet, 1 normal, 2 verbose
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def _emit(self, text: str) -> None:
        stamp = "" if self.tty else time.strftime("%Y-%m-%dT%H:%M:%S ")
        print(f"{stamp}runship upload: {text}", file=self.stream, flush=True)

    def info(self, text: str) -> None:
        if self.level >= 1:
            self._emit(text)

    def detail(self, text: str) -> None:
        if self.level >= 2:
            self._emit(text)

    def error(self, text: str) -> None:
        self._emit(f"ERROR {text}")

    def warning(self, text: str) -> None:
        self._emit(f"WARNING {text}")


PARALLEL = 8  # requests at once for the files of one run (sizes asked, closed files put whole)


class Uploader:
    def __init__(
        self,
        target: Backend,
        state: State,
        roots: list[str],
        *,
        project: str | None = None,
        run: str | None = None,
        dry_run: bool = False,
        log: Log | None = None,
        stop: threading.Event | None = None,
        stable_seconds: float = STABLE_SECONDS,
        chunk_bytes: int = CHUNK_BYTES,
        progress: Callable[[list[RunRef]], Iterable[RunRef]] | None = None,
        verify_remote: bool = False,
        pass_timeout: float | None = None,
    ):
        self.target = target
        self.state = state
        self.roots = [os.path.abspath(os.path.expanduser(r)) for r in roots]
        self.project = project
        self.run = run
        self.dry_run = dry_run
        self.log = log or Log()
        self.stop = stop or threading.Event()
        self.stable_seconds = stable_seconds
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        # ask the remote about every file, even of runs the state says are up
        # (after the remote was wiped or restored from a backup)
        self.verify_remote = verify_remote
        # the backstop for a call that never returns (a library that ignores
        # its own timeouts): a pass longer than this ends the process, exit 1
        self.pass_timeout = pass_timeout
        self._verified: set[tuple[str, str, str]] = set()  # files whose remote size was asked this process
        self._ends: dict[str, list[int]] = {}  # commit boundaries found by this run's scan
        self._warned: set[str] = set()  # skipped paths already named in a warning

    # ---- discovery ----------------------------------------------------------------
    def discover(self, stats: PassStats | None = None) -> list[RunRef]:
        """Run directories under the roots. A root is the operator's choice
        and may be a link; below it, links are never followed: a linked
        project or run directory is skipped with a warning."""
        from runship.reader.listing import classify_local

        stats = stats if stats is not None else PassStats()
        refs = []
        for root in self.roots:
            # a run or project directory is uploaded under the same
            # <project>/<run> names as from its root
            located = classify_local(root)
            if not located.usable:
                self.log.error(located.reason)
                stats.missing_roots.append(root)
                continue
            if located.kind == "empty":
                stats.empty_roots.append(located.reason)  # a fresh root (--watch), or a wrong path (a pass fails)
                continue
            if located.kind == "run":
                parent = os.path.dirname(root)
                ref = RunRef(os.path.dirname(parent), os.path.basename(parent), os.path.basename(root), root)
                if self._selected(ref) and not (self.project and ref.project != self.project):
                    refs.append(ref)
                continue
            if located.kind == "project":
                parent, project = os.path.dirname(root), os.path.basename(root)
                if self.project and project != self.project:
                    continue
                refs.extend(ref for ref in self._runs_of(parent, None, project, stats) if self._selected(ref))
                continue
            try:
                root_fd = safefile.open_dir(root)
            except (FileNotFoundError, NotADirectoryError, safefile.NotRegular):
                self.log.error(f"no run root at {root}")
                stats.missing_roots.append(root)
                continue
            except OSError as e:
                self.log.error(f"cannot read run root {root}: {e.strerror or e}")
                stats.missing_roots.append(root)
                continue
            try:
                for project, kind, _ in safefile.entries(root_fd):
                    if project.startswith(".") or (self.project and project != self.project):
                        continue
                    if kind == "symlink":
                        self._skip(stats, None, os.path.join(root, project), "a symlink, not followed")
                    if kind != "directory":
                        continue
                    for ref in self._runs_of(root, root_fd, project, stats):
                        if self._selected(ref):
                            refs.append(ref)
            finally:
                os.close(root_fd)
        return refs

    def _runs_of(self, root: str, root_fd: int | None, project: str, stats: PassStats) -> list[RunRef]:
        """The runs of ``<root>/<project>``; ``root_fd`` None: the project
        directory was named as a root (and may be a link: the operator's choice)."""
        try:
            if root_fd is None:
                pfd = safefile.open_dir(os.path.join(root, project))
            else:
                pfd = safefile.open_subdir(root_fd, project)
        except OSError as e:
            self.log.error(f"cannot read {os.path.join(root, project)}: {e.strerror or e}")
            return []
        try:
            found = []
            for run_id, kind, _ in safefile.entries(pfd):
                if run_id.startswith("."):
                    continue
                path = os.path.join(root, project, run_id)
                if kind == "symlink":
                    self._skip(stats, None, path, "a symlink, not followed")
                elif kind == "directory":
                    found.append(RunRef(root, project, run_id, path))
            return found
        finally:
            os.close(pfd)

    def _selected(self, ref: RunRef) -> bool:
        if not self.run:
            return True
        return self.run in (ref.run_id, ref.name, ref.path, os.path.abspath(self.run))

    def _open_run_dir(self, ref: RunRef) -> int:
        """The run directory's descriptor, reached from its root without
        following a link on the way."""
        if ref.path in self.roots:
            return safefile.open_dir(ref.path)  # a run directory named as a root: the operator's choice
        project_dir = os.path.dirname(ref.path)
        if project_dir in self.roots:  # a project directory named as a root
            pfd = safefile.open_dir(project_dir)
            try:
                return safefile.open_subdir(pfd, ref.run_id)
            finally:
                os.close(pfd)
        root_fd = safefile.open_dir(ref.root)
        try:
            return safefile.open_subdir(root_fd, f"{ref.project}/{ref.run_id}")
        finally:
            os.close(root_fd)

    def _skip(self, stats: PassStats, skipped: list[str] | None, path: str, why: str) -> None:
        """A file or directory not uploaded on purpose: counted, named once in a warning."""
        stats.skipped += 1
        if skipped is not None:
            skipped.append(f"{path} ({why})")
        if path not in self._warned:
            self._warned.add(path)
            self.log.warning(f"{path}: {why}: skipped, not uploaded")

    # ---- a pass ------------------------------------------------------------------------
    def run_pass(self) -> PassStats:
        if self.pass_timeout is None:
            return self._run_pass()
        watchdog = threading.Timer(self.pass_timeout, self._stuck)
        watchdog.daemon = True
        watchdog.start()
        try:
            return self._run_pass()
        finally:
            watchdog.cancel()

    def _stuck(self) -> None:
        self.log.error(
            f"a pass took longer than {self.pass_timeout:g} s (a call to {self.target.url} did not return); exiting"
        )
        os._exit(1)  # progress is committed per object: the next run continues

    def _run_pass(self) -> PassStats:
        t0 = time.monotonic()
        stats = PassStats()
        done = self.state.done_runs(self.target.url)
        refs = self.discover(stats)
        failing = 0
        stats.runs_found = len(refs)
        items = self.progress(refs) if self.progress else refs
        for ref in items:
            if self.stop.is_set():
                break
            stats.runs_seen += 1
            signature = _signature(ref.path)
            if signature is not None and done.get(ref.path) == signature and not self.verify_remote:
                stats.runs_skipped += 1
                stats.done.add(ref.path)
                continue
            try:
                try:
                    sent, is_done = self.upload_run(ref, signature, stats)
                except (RunError, KeyboardInterrupt):
                    raise
                except Exception as e:  # a bug or an unexpected library error: this run only
                    raise RunError(f"{type(e).__name__}: {e}") from e
                failing = 0
            except RunError as e:
                if e.whole_pass:  # said once, not once per run
                    stats.failures.append((self.target.url, str(e)))
                    self.log.error(str(e))
                    break
                stats.failures.append((ref.name, str(e)))
                self.log.error(f"{ref.name}: {e}")
                if not self.dry_run:
                    self.state.set_run(
                        self.target.url,
                        ref.project,
                        ref.run_id,
                        ref.path,
                        done=False,
                        signature="",
                        error=str(e),
                        uploaded=0,
                    )
                failing = failing + 1 if e.retryable else 0
                if failing >= UNREACHABLE_AFTER:
                    stats.unreachable = True
                    self.log.error(f"{self.target.url} is not answering; ending this pass")
                    break
                continue
            if self.stop.is_set():
                stats.cut = ref.name
            if sent:
                stats.runs_uploaded += 1
                stats.bytes += sent
            if is_done:
                stats.done.add(ref.path)
        if not (self.dry_run or self.run or self.stop.is_set() or stats.unreachable):
            self._send_sweeps(stats)
            self._send_workspaces(stats)
        if not (self.run or self.stop.is_set() or stats.unreachable):
            self._send_artifacts(stats)  # a dry run lists what it would send
        stats.seconds = time.monotonic() - t0
        return stats

    def _send_sweeps(self, stats: PassStats) -> None:
        """The roots' sweep directories, beside the runs (runship.uploader.sweeps)."""
        from runship.uploader import sweeps

        try:
            stats.bytes += sweeps.send(
                self.target,
                self.state,
                self.roots,
                self.project,
                lambda path, why: self._skip(stats, None, path, why),
                self.stop,
            )
        except TargetError as e:
            stats.failures.append((f"{self.target.url} (sweeps)", str(e)))
            self.log.error(f"sweeps: {e}")

    def _send_workspaces(self, stats: PassStats) -> None:
        """The roots' saved workspaces, beside the runs (runship.uploader.workspaces):
        one refused (a token's scope: HTTP 403) is a failure named, and the rest go on."""
        from runship.uploader import workspaces

        def fail(what: str, why: str) -> None:
            stats.failures.append((what, why))
            self.log.error(f"workspace {what}: {why}")

        try:
            stats.bytes += workspaces.send(
                self.target,
                self.state,
                self.roots,
                self.project,
                lambda path, why: self._skip(stats, None, path, why),
                fail,
                self.stop,
            )
        except TargetError as e:
            stats.failures.append((f"{self.target.url} (workspaces)", str(e)))
            self.log.error(f"workspaces: {e}")

    def _send_artifacts(self, stats: PassStats) -> None:
        """The projects' artifact stores, beside the runs (runship.uploader.artifacts):
        what the target lacks, blobs before the manifests naming them; a file
        refused (a conflicting version, a token's scope) is a failure named."""
        from runship.uploader import artifacts

        def fail(what: str, why: str) -> None:
            what, why = redact.text(what), redact.text(why)  # a target's error may quote a URL
            stats.failures.append((what, why))
            self.log.error(f"artifact {what}: {why}")

        try:
            sent = artifacts.send(
                self.target,
                self.state,
                self.roots,
                self.project,
                lambda path, why: self._skip(stats, None, path, why),
                fail,
                self.stop,
                dry_run=self.dry_run,
                verify=self.verify_remote,
            )
        except TargetError as e:
            stats.failures.append((f"{self.target.url} (artifacts)", redact.text(str(e))))
            self.log.error(f"artifacts: {redact.text(str(e))}")
            return
        stats.bytes += sent.bytes
        stats.artifact_files += sent.files
        stats.pending.extend(sent.pending)
        if sent.files:
            self.log.detail(
                f"artifacts: {sent.files} files ({sent.blobs} blobs), {sent.bytes} bytes to {self.target.url}"
            )

    def upload_run(self, ref: RunRef, signature: str | None, stats: PassStats) -> tuple[int, bool]:
        """Push what is new in one run; return (bytes sent, fully uploaded)."""
        try:
            dfd = self._open_run_dir(ref)
        except safefile.NotRegular as e:
            raise RunError(f"{ref.path}: {e.strerror}") from None
        except OSError as e:
            raise RunError(f"cannot open {ref.path}: {e.strerror or e}") from None
        try:
            return self._upload_run(ref, dfd, signature, stats)
        finally:
            os.close(dfd)

    def _upload_run(self, ref: RunRef, dfd: int, signature: str | None, stats: PassStats) -> tuple[int, bool]:
        target, url = self.target, self.target.url
        try:
            entries = safefile.entries(dfd)
        except OSError as e:
            raise RunError(f"cannot list {ref.path}: {e.strerror or e}") from None
        files, odd = tail.stream_files(entries)
        skipped: list[str] = []
        for name, kind in odd:
            self._skip(stats, skipped, os.path.join(ref.path, name), f"a {kind}, not a regular file")
        known = self.state.files(url, ref.project, ref.run_id)
        # what the remote holds of each file not known final, asked of several files at once
        # (a run of many sessions, such as a distributed job's ranks, is many files)
        asks = [
            f.name
            for f in files
            if not ((fs0 := known.get(f.name)) is not None and fs0.final and not self.verify_remote)
            and (ref.project, ref.run_id, f.name) not in self._verified
        ]
        remote = self._remote_sizes(ref, asks) if len(asks) > 1 and self.target.capabilities.concurrent else {}
        todo, finished_sessions, corrupt = self._scan_run(ref, dfd, files, known, remote, stats, skipped)
        left = tail.left_files(files, finished_sessions)
        sent = self._push_run(ref, dfd, todo, left, remote, stats)
        waiting: list[str] = []
        newest = tail.newest_session(files)
        if not self.dry_run:
            derived_sent, waiting = self._derived(
                ref, dfd, stats, skipped, lambda: newest in finished_sessions or _run_over(ref.path)
            )
            sent += derived_sent
            if waiting:
                stats.waiting.append((ref.name, waiting))
        if corrupt:
            raise RunError(corrupt)
        all_final = all(fs.final for _, fs in todo)  # files not in todo were final already
        is_done = bool(files) and all_final and newest in finished_sessions and not waiting and not self.stop.is_set()
        if not self.dry_run:
            self._record_run(ref, is_done, signature, sent, skipped, waiting)
        if sent:
            self.log.detail(f"{ref.name}: {sent} bytes to {target.url}")
        return sent, is_done

    def _scan_run(
        self,
        ref: RunRef,
        dfd: int,
        files: list[tail.LocalFile],
        known: dict[str, FileState],
        remote: dict[str, int],
        stats: PassStats,
        skipped: list[str],
    ) -> tuple[list[tuple[tail.LocalFile, FileState]], set[str], str | None]:
        """Phase 1 of a run: what is committed and verified of each file not
        known final, and which sessions finished. Returns (the files to push
        with their state, the finished sessions, a corruption found or None)."""
        corrupt: str | None = None
        todo: list[tuple[tail.LocalFile, FileState]] = []
        finished_sessions: set[str] = set()
        for f in files:
            fs = known.get(f.name)
            if fs is not None and fs.final and self.verify_remote:
                fs.final = False  # ask again below
            if fs is not None and fs.final:
                if fs.finished:
                    finished_sessions.add(f.session)
                continue
            try:
                fp = tail.fingerprint(dfd, f.name)
            except safefile.NotRegular as e:
                self._skip(stats, skipped, os.path.join(ref.path, f.name), f"a {e.kind}, not a regular file")
                continue
            except OSError as e:
                raise RunError(f"cannot read {os.path.join(ref.path, f.name)}: {e.strerror or e}") from None
            if fs is None or fs.fingerprint != fp:
                fs = FileState(fp, 0, 0, False, False)
            corrupt = self._scan_file(ref, dfd, f, fs, remote) or corrupt
            if fs.finished and f.stream == fmt.RUN_STREAM:
                finished_sessions.add(f.session)
            todo.append((f, fs))
        return todo, finished_sessions, corrupt

    def _push_run(
        self,
        ref: RunRef,
        dfd: int,
        todo: list[tuple[tail.LocalFile, FileState]],
        left: set[str],
        remote: dict[str, int],
        stats: PassStats,
    ) -> int:
        """Phase 2 of a run: push what is new; closed files (not in ``left``)
        go up as whole objects where the backend needs it, several at once
        where it may be called so. A dry run counts what is pending. Returns
        the bytes sent."""
        sent = 0
        caps = self.target.capabilities
        if not self.dry_run and caps.needs_finalize:
            whole = [(f, fs) for f, fs in todo if f.name in left and (fs.uploaded < fs.scanned or not fs.final)]
            if len(whole) > 1 and caps.concurrent:
                empty = {name for name, size in remote.items() if size == 0}  # asked this pass: nothing there
                sent += self._finalize_many(ref, dfd, whole, empty)
        for f, fs in todo:
            if self.stop.is_set():
                break
            if self.dry_run:
                if fs.scanned > fs.uploaded:
                    stats.pending.append((ref.name, f.name, fs.scanned - fs.uploaded))
                continue
            sent += self._push_file(ref, dfd, f, fs, final=f.name in left)
        return sent

    def _record_run(
        self, ref: RunRef, done: bool, signature: str | None, sent: int, skipped: list[str], waiting: list[str]
    ) -> None:
        """What this pass left of the run, in the state store."""
        self.state.set_run(
            self.target.url,
            ref.project,
            ref.run_id,
            ref.path,
            done=done,
            signature=signature or "",
            error=None,
            uploaded=sent,
            skipped=skipped,
            waiting=waiting,
        )

    def _scan_file(self, ref: RunRef, dfd: int, f: tail.LocalFile, fs: FileState, remote: dict[str, int]) -> str | None:
        """Bring ``fs`` up to date with the file and the remote (asked once
        per process) and keep its commit ends for the push; a corruption
        found, said as the run's error, or None."""
        key = (ref.project, ref.run_id, f.name)
        if key not in self._verified:  # the remote is the truth: ask it once per process
            fs.uploaded = remote[f.name] if f.name in remote else self._remote_size(ref, f.name)
            self._verified.add(key)
        # scan from what the remote holds (a commit boundary: pushes end
        # at one) when it is behind, so that every push can end at one
        start = fs.uploaded if fs.uploaded < fs.scanned else fs.scanned
        self._ends[f.name] = []
        if f.size <= start:
            return None
        where = os.path.join(ref.path, f.name)
        try:
            sc = tail.scan(dfd, f.name, start, f.size)
        except OSError as e:
            raise RunError(f"cannot read {where}: {e.strerror or e}") from None
        fs.scanned = max(fs.scanned, sc.boundary)
        fs.finished = fs.finished or sc.finished
        self._ends[f.name] = sc.ends
        bad = sc.corrupt
        if bad is None:
            return None
        return f"{where}: {bad.message} (byte {bad.offset}, {bad.kind}) - not uploaded past byte {sc.boundary}"

    def _remote_sizes(self, ref: RunRef, names: list[str]) -> dict[str, int]:
        """``_remote_size`` of several files, asked at once (a few threads)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(names))) as pool:
            return dict(zip(names, pool.map(lambda name: self._remote_size(ref, name), names)))

    def _finalize_many(
        self, ref: RunRef, dfd: int, files: list[tuple[tail.LocalFile, FileState]], fresh_names: set[str]
    ) -> int:
        """Closed files as whole objects, several at once; each one's state
        is written here (in this thread) once its object is in place."""
        from concurrent.futures import ThreadPoolExecutor

        def one(item: tuple[tail.LocalFile, FileState]) -> int:
            f, fs = item
            fresh = fs.uploaded == 0 and f.name in fresh_names
            try:
                with os.fdopen(safefile.open_regular(dfd, f.name), "rb") as src:
                    return self.target.finalize(ref.project, ref.run_id, f.name, src, fs.scanned, fresh=fresh)
            except TargetError as e:
                raise RunError.of(e) from None
            except OSError as e:
                raise RunError(f"cannot read {os.path.join(ref.path, f.name)}: {e.strerror or e}") from None

        sent = 0
        failed: RunError | None = None
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(files))) as pool:
            futures = [(item, pool.submit(one, item)) for item in files if not self.stop.is_set()]
            for (f, fs), future in futures:
                try:
                    sent += future.result()
                except RunError as e:
                    failed = failed or e
                    continue
                fs.uploaded = fs.scanned
                fs.final = True
                self.state.set_file(self.target.url, ref.project, ref.run_id, f.name, fs)
        if failed is not None:
            raise failed
        return sent

    def _remote_size(self, ref: RunRef, name: str) -> int:
        try:
            return self.target.remote_size(ref.project, ref.run_id, name)
        except TargetError as e:
            raise RunError.of(e) from None

    def _push_file(self, ref: RunRef, dfd: int, f: tail.LocalFile, fs: FileState, final: bool) -> int:
        sent = 0
        url = self.target.url
        if final and self.target.capabilities.needs_finalize:
            # closed: one whole object (any chunks pushed earlier are dropped)
            if fs.uploaded < fs.scanned or not fs.final:
                try:
                    with os.fdopen(safefile.open_regular(dfd, f.name), "rb") as src:
                        sent += self.target.finalize(ref.project, ref.run_id, f.name, src, fs.scanned)
                except TargetError as e:
                    raise RunError.of(e) from None
                except OSError as e:
                    raise RunError(f"cannot read {os.path.join(ref.path, f.name)}: {e.strerror or e}") from None
                fs.uploaded = fs.scanned
            fs.final = True
            self.state.set_file(url, ref.project, ref.run_id, f.name, fs)
            return sent
        ends = self._ends.pop(f.name, [])
        limit = self.chunk_bytes
        if self.target.max_request:
            limit = min(limit, self.target.max_request)
        while fs.uploaded < fs.scanned and not self.stop.is_set():
            # end the push at a commit boundary (a server checks whole batches),
            # carrying at most `limit` bytes unless a single batch is bigger
            ahead = [e for e in ends if e > fs.uploaded]
            fits = [e for e in ahead if e <= fs.uploaded + limit]
            end = fits[-1] if fits else (ahead[0] if ahead else fs.scanned)
            try:
                data = tail.read_range(dfd, f.name, fs.uploaded, end)
            except OSError as e:
                raise RunError(f"cannot read {os.path.join(ref.path, f.name)}: {e.strerror or e}") from None
            try:
                fs.uploaded = self.target.push(ref.project, ref.run_id, f.name, fs.uploaded, data)
            except GapError as e:  # the remote has less than we thought: continue from there
                self.log.info(f"{ref.name}/{f.name}: remote holds {e.size} bytes, continuing from there")
                fs.uploaded = e.size
                self.state.set_file(url, ref.project, ref.run_id, f.name, fs)
                continue
            except ConflictError as e:
                raise RunError(f"{e} - the remote is not a copy of this run; nothing overwritten") from None
            except TargetError as e:
                raise RunError.of(e) from None
            sent += len(data)
            self.state.set_file(url, ref.project, ref.run_id, f.name, fs)
        if final and fs.uploaded >= fs.scanned and not self.stop.is_set():
            fs.final = True
        self.state.set_file(url, ref.project, ref.run_id, f.name, fs)
        return sent

    def _derived(
        self, ref: RunRef, dfd: int, stats: PassStats, skipped: list[str], over: Callable[[], bool]
    ) -> tuple[int, list[str]]:
        """run.json and files/: uploaded when changed and stable, or at once
        when the run is over (``over()``: finished, or its writer gone: its
        files are final). Returns (bytes sent, the files of a live run that
        changed too recently and wait to become stable). Regular
        files only, never through a link; the writer's temporary files are
        left out; a name no target accepts is skipped and counted."""
        known = {} if self.verify_remote else self.state.derived(self.target.url, ref.project, ref.run_id)
        now = time.time()
        sent = 0
        pending: list[str] = []
        is_over: bool | None = None  # asked once, when a file is young
        for rel, kind in _derived_files(dfd):
            if self.stop.is_set():
                break
            where = os.path.join(ref.path, rel)
            if names.is_temp_name(rel.rsplit("/", 1)[-1]):
                continue  # a write-then-rename in progress
            if kind != "file":
                self._skip(stats, skipped, where, f"a {kind}, not a regular file")
                continue
            try:
                names.check_relpath(rel)
            except names.BadName:
                self._skip(stats, skipped, where, "a name that runship does not store")
                continue
            try:
                fd = safefile.open_regular(dfd, rel)
            except safefile.NotRegular as e:
                self._skip(stats, skipped, where, f"a {e.kind}, not a regular file")
                continue
            except OSError:
                continue  # vanished or unreadable: next pass
            with os.fdopen(fd, "rb") as src:
                st = os.fstat(fd)
                stamp = f"{st.st_size}:{st.st_mtime_ns}"
                if known.get(rel) == stamp:
                    continue
                if rel != "run.json" and now - st.st_mtime < self.stable_seconds:
                    if is_over is None:
                        is_over = over()
                    if not is_over:
                        pending.append(rel)  # may still be being written (run.json is replaced atomically)
                        continue
                try:
                    self.target.put_file(ref.project, ref.run_id, rel, src, st.st_size)
                except TargetError as e:
                    raise RunError.of(e) from None
                except OSError:
                    continue  # unreadable part-way: next pass
            self.state.set_derived(self.target.url, ref.project, ref.run_id, rel, stamp)
            sent += st.st_size
        return sent, pending


def _signature(path: str) -> str | None:
    """What changes when a run directory gains or replaces a file: its mtime."""
    try:
        return str(os.stat(path, follow_symlinks=False).st_mtime_ns)
    except OSError:
        return None


def _run_over(path: str) -> bool:
    """Whether the run has no writer left: it finished, failed or was
    terminated, or it crashed (no finish record, heartbeat overdue)."""
    from runship.reader.listing import summarize

    return summarize(path).get("state") in OVER


def _derived_files(dfd: int) -> Iterator[tuple[str, str]]:
    """(relative path, kind) of run.json and everything below files/."""
    for name, kind, _ in safefile.entries(dfd):
        if name == "run.json":
            yield name, kind
        elif name == "files":
            if kind != "directory":
                yield name, kind
                continue
            try:
                sub = safefile.open_subdir(dfd, "files")
            except OSError:
                continue
            try:
                for rel, k, _ in safefile.walk(sub, "files/"):
                    yield rel, k
            finally:
                os.close(sub)


def watch(
    uploader: Uploader,
    *,
    interval: float,
    max_backoff: float = 600.0,
    follow: str | None = None,
    follow_pid: int | None = None,
    on_pass: Callable[[PassStats], None] | None = None,
) -> int:
    """Pass after pass until ``uploader.stop`` is set (SIGTERM/SIGINT) or, with
    ``follow``, until that run is finished and fully uploaded. Backs off
    exponentially while the target is unreachable."""
    failures_in_a_row = 0
    while not uploader.stop.is_set():
        stats = uploader.run_pass()
        if on_pass:
            on_pass(stats)
        if follow is not None and os.path.abspath(follow) in stats.done:
            return 0
        if follow_pid is not None and not _alive(follow_pid):
            # the training process is gone without finishing: one last pass
            uploader.run_pass()
            return 0
        if stats.unreachable or (
            stats.failures and stats.runs_uploaded == 0 and len(stats.failures) == stats.runs_seen - stats.runs_skipped
        ):
            failures_in_a_row += 1
            delay = min(max_backoff, interval * 2**failures_in_a_row)
            uploader.log.info(f"backing off for {delay:.0f} s")
        else:
            failures_in_a_row = 0
            delay = interval
        uploader.stop.wait(delay)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
