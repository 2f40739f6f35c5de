"""``runship import tensorboard LOGDIR``: runship runs from TensorBoard event
files written without runship, one run per directory holding event files
(what TensorBoard calls a run).

Importing again goes on where the last import stopped. A directory's run
id is derived from its resolved path (``run_id_of``), so the same logs
always map to the same run, which a later import resumes. How far each
event file was read is recorded in the run itself, as the hidden summary
key ``_import`` ({source, files: {event file: byte offset}, rows: the run's
step then, reading: the file then being read}), written when a file's
reading starts and at the end; an import reads each file from there and
adds only the rows of events written since. A record still being written
(torn) is left for the next import; an import that finds nothing new opens
no session. Rows a killed import wrote after its last ``_import`` record
are recognised by their number (the run's step against ``rows``) and not
written again. Two imports of one directory never run at once (a lock on
the directory, flock); a run at the derived id that no import of the
directory made is refused, never appended to.

Event files are input, whoever wrote them: nothing below LOGDIR is reached
through a link; an event file that is not a regular file, a record past
``tfrecord.MAX_RECORD_BYTES`` and a record with a bad CRC are reported and
skipped.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runship.integration.tensorboard import Mirror

__all__ = ["MARK", "Imported", "import_logdir", "run_id_of"]

Warn = Callable[[str], None]
#: the summary key where an import records how far it read (hidden: it starts with _)
MARK = "_import"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Imported:
    """What one import did for one directory of event files."""

    name: str
    project: str
    run_id: str
    run_dir: str
    added: int = 0  # rows this import added
    rows: int = 0  # the run's rows in all


def run_id_of(source: str) -> str:
    """The run id of a directory of event files (its resolved path): 12
    base36 digits of its SHA-256, the same on every import."""
    n = int.from_bytes(hashlib.sha256(f"tensorboard\0{source}".encode("utf-8", "surrogatepass")).digest()[:8], "big")
    digits = []
    for _ in range(12):
        n, d = divmod(n, 36)
        digits.append(_DIGITS[d])
    return "".join(digits)


def _key(rel: str) -> str:
    """An event file's name as a key of the record (any name, valid UTF-8)."""
    return os.path.basename(rel).encode("utf-8", "backslashreplace").decode("utf-8")


def _event_files(top_fd: int, logdir: str, warn: Warn) -> dict[str, list[tuple[str, int]]]:
    """{directory relative to ``logdir`` ("." for itself): [(event file
    relative to ``logdir``, its size)]}, found without following links; an
    event file that is a link, FIFO, socket or device is named with
    ``warn``, never read."""
    from runship import safefile

    by_dir: dict[str, list[tuple[str, int]]] = {}
    for rel, kind, size in safefile.walk(top_fd):
        if "tfevents" not in os.path.basename(rel):
            continue
        if kind != "file":
            warn(f"{os.path.join(logdir, rel)}: not a regular file ({kind}): not followed or read")
            continue
        by_dir.setdefault(os.path.dirname(rel) or ".", []).append((rel, size))
    return by_dir


def _events(top_fd: int, rel: str, start: int, shown: str, warn: Warn) -> Iterator[tuple[int, Any]]:
    """(offset past it, the event or None) of each record of one event file
    from byte ``start`` (opened without following links), each bounded and
    checked (``tfrecord``); one that is not an event is reported, its
    event None."""
    from tensorboard.compat.proto import event_pb2

    from runship import safefile
    from runship.integration import tfrecord

    with os.fdopen(safefile.open_regular(top_fd, rel), "rb") as f:
        for end, data in tfrecord.positioned(f, shown, warn, start):
            event = None
            if data is not None:
                try:
                    tfrecord.check_event(data)
                    event = event_pb2.Event.FromString(data)
                except ValueError as e:
                    warn(f"{shown}: an event that is not read ({e}): skipped")
                except Exception as e:  # protobuf's DecodeError: bytes that are not an event
                    warn(f"{shown}: a record that is not an event ({type(e).__name__}): skipped")
            yield end, event


@dataclass
class _Sink:
    """The run a directory's rows go to, opened at its first new row (an
    import with nothing new opens no session). ``step``: the run's step as
    rows come (those of a killed import, ``skip`` of them, are counted and
    passed over: they are in the run already)."""

    open_run: Callable[[], Any]
    source: str
    files: dict[str, int]
    step: int
    skip: int = 0
    run: Any = None
    reading: tuple[str, int, int] | None = None  # the file being read, where it started, the step then
    added: int = 0
    active = True

    def log(self, row: dict[str, Any]) -> None:
        self.step += 1
        if self.skip > 0:
            self.skip -= 1
            return
        if self.run is None:
            self.run = self.open_run()
            self.mark()
        self.run.log(row)
        self.added += 1

    def notice(self, message: str) -> None:
        if self.run is not None:
            self.run.notice(message)

    def start(self, key: str, offset: int) -> None:
        """A file's reading starts at ``offset``."""
        self.reading = (key, offset, self.step)
        if self.run is not None:
            self.mark()

    def done(self, key: str, offset: int) -> None:
        """A file's reading ended at ``offset``."""
        self.files[key] = offset
        self.reading = None

    def mark(self) -> None:
        """Record how far the files were read: the rows after ``rows`` are
        those of ``reading`` from its offset in ``files``."""
        files = dict(self.files)
        record: dict[str, Any] = {"source": self.source, "rows": self.step}
        if self.reading is not None:
            key, files[key], record["rows"] = self.reading
            record["reading"] = key
        self.run.summary[MARK] = {**record, "files": files}


def _prior(run_dir: str, source: str) -> tuple[dict[str, Any], int]:
    """(the last ``_import`` record, the run's next step) of the run at
    ``run_dir``: ({}, 0) when there is none; FileExistsError when a run is
    there that is no import of ``source``."""
    from runship.writer.prior import prior_state
    from runship.writer.resume import run_sessions

    if not run_sessions(run_dir):
        return {}, 0
    prior = prior_state(run_dir)
    mark = prior["summary"].get(MARK)
    if not _mark_of(mark, source):
        raise FileExistsError(
            f"{run_dir}: a run that no import of {source} made is there, under the id derived from that "
            "directory: not appended to (move it, or import with another --project)"
        )
    return mark, int(prior["next_step"])


def _mark_of(mark: Any, source: str) -> bool:
    """Is ``mark`` an ``_import`` record of ``source`` as ``_Sink.mark`` writes them?"""
    if not isinstance(mark, dict) or mark.get("source") != source:
        return False
    files, rows, reading = mark.get("files"), mark.get("rows"), mark.get("reading")
    return (
        isinstance(files, dict)
        and all(isinstance(v, int) and v >= 0 for v in files.values())
        and isinstance(rows, int)
        and rows >= 0
        and (reading is None or reading in files)
    )


def _read(top_fd: int, top: str, rel: str, size: int, sink: _Sink, mirror: Mirror, base: str, say: Warn) -> None:
    """The events of one event file written since its last import, into ``mirror``."""
    key = _key(rel)
    start = sink.files.get(key, 0)
    if size < start:
        say(f"{os.path.join(top, rel)}: {size} bytes, fewer than the {start} already imported: not read again")
        return
    if size == start:
        return
    sink.start(key, start)
    end = start
    for offset, event in _events(top_fd, rel, start, os.path.join(top, rel), say):
        end = offset
        if event is not None:
            mirror.add(event, base)
    mirror.flush()
    sink.done(key, end)


def _lock(top_fd: int, rel: str, shown: str) -> int:
    """A descriptor of the directory ``rel`` below ``top_fd``, locked
    (flock) so that two imports of it never run at once (cron's next run
    while one is still importing); BlockingIOError naming it when another
    holds it. Where the filesystem has no flock, no lock is taken."""
    import fcntl

    from runship import safefile

    fd = os.dup(top_fd) if rel == "." else safefile.open_subdir(top_fd, rel)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BlockingIOError(f"{shown}: another import of these event files is running: not imported now") from None
    except OSError:
        pass  # no flock on this filesystem: imports are not kept apart
    return fd


def _import_dir(top_fd: int, top: str, rel: str, files_found: list[tuple[str, int]], say: Warn, **run: Any) -> Imported:
    """One directory's new events into its run (``run``: imported_run's
    arguments but the id), no other import of it running meanwhile."""
    source = os.path.normpath(os.path.join(os.path.realpath(top), rel))
    run_id = run_id_of(source)
    root = os.path.abspath(run["root"] if run["root"] is not None else _default_root())
    run_dir = os.path.join(root, run["project"], run_id)
    lock = _lock(top_fd, rel, os.path.join(top, rel) if rel != "." else top)
    try:
        return _import_locked(top_fd, top, rel, files_found, say, source, run_dir, run)
    finally:
        os.close(lock)


def _import_locked(
    top_fd: int, top: str, rel: str, files_found: list[tuple[str, int]], say: Warn, source: str, run_dir: str, run: Any
) -> Imported:
    """``_import_dir``'s work, under its lock: the run at ``run_dir``."""
    from runship.integration import imported_run

    run_id = os.path.basename(run_dir)
    mark, next_step = _prior(run_dir, source)
    rows = mark.get("rows", 0)
    sizes = dict(files_found)
    reading = mark.get("reading") if next_step > rows else None  # a killed import's rows: not again
    if reading is not None and reading not in {_key(p) for p in sizes}:
        say(f"{os.path.join(top, rel, reading)}: read by an import that was stopped, and gone since")
        reading = None
    files = dict(mark.get("files") or {})
    sink = _Sink(lambda: imported_run(id=run_id, **run), source, files, rows if reading else next_step)
    sink.skip = next_step - rows if reading else 0
    base = os.path.join(top, rel) if rel != "." else top
    mirror = Mirror(sink, root_logdir=base, text=True)
    try:
        for path in sorted(sorted(sizes), key=lambda p: _key(p) != reading):  # the killed import's file first
            _read(top_fd, top, path, sizes[path], sink, mirror, base, say)
    finally:
        mirror.flush()
        if sink.run is not None:
            sink.mark()
            sink.run.finish()
    return Imported(run["name"], run["project"], run_id, run_dir, sink.added, sink.step)


def _default_root() -> str:
    from runship.schema import names

    return names.default_root()


def import_logdir(
    logdir: str,
    *,
    project: str,
    name: str | None = None,
    root: str | None = None,
    warn: Warn | None = None,
) -> list[Imported]:
    """Import the event files under ``logdir`` written since the last
    import: one run per directory that holds event files, named by its path
    under ``logdir`` (``name``: the run of ``logdir`` itself, or the prefix
    of the others' names). Each directory's files are read in name order;
    their values become history rows with ``global_step``. Problems are
    reported with ``warn`` (default: stderr). Needs the tensorboard package."""
    from runship import safefile

    try:
        import tensorboard.compat.proto.event_pb2  # noqa: F401
    except ImportError:
        raise ImportError(
            "reading TensorBoard event files needs tensorboard: pip install 'runship[tensorboard]'"
        ) from None
    say = warn or (lambda message: print(f"runship: {message}", file=sys.stderr, flush=True))
    top = os.path.abspath(logdir)
    top_fd = safefile.open_dir(top)  # the directory named may be a link: what is below it is not followed
    try:
        by_dir = _event_files(top_fd, top, say)
        if not by_dir:
            raise FileNotFoundError(f"no TensorBoard event files (events.out.tfevents.*) under {logdir}")
        done = []
        for rel in sorted(by_dir):
            own = name or os.path.basename(top)
            run_name = own if rel == "." else (f"{name}/{rel}" if name else rel)
            done.append(_import_dir(top_fd, top, rel, by_dir[rel], say, root=root, project=project, name=run_name))
        return done
    finally:
        os.close(top_fd)
