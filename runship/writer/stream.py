"""Record streams and the one background thread that writes them.

Callers pack records in their own thread and append the bytes to a per-stream
list (``Stream.write``). History rows are not packed one by one: consecutive
rows with the same keys are appended, as plain values, to the stream's open
*block* (``Stream.block_keys`` and the three lists beside it), which is sealed
into the queue when the keys change, when another record is queued, when it
is full or when the writer takes the queue; the writer packs each sealed
block as one ``rows`` record. The writer thread (``Writer``) wakes every
``flush_interval`` seconds, or sooner when a batch is large, takes what is
queued, appends it to the stream's current segment file followed by a commit
record (length + CRC32 of the batch), fsyncs on an interval, rotates segments
at a size threshold and writes heartbeats when idle. ``Writer.flush()`` does
the same work synchronously in the caller's thread.

I/O errors never reach the caller: they are reported once through the
``report`` callback, the records of the failed batch are counted as lost, and
a ``loss`` record says so in the stream as soon as a write succeeds again. A
segment whose write failed part-way is left (never written again) so that the
torn bytes stay at the end of a file.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

import msgpack

from runship.schema import format as fmt
from runship.schema import limits
from runship.schema.values import F32Row
from runship.writer.settings import Settings

_packb = msgpack.packb
#: a block is sealed once its rows would pack to about this many bytes: a
#: ``rows`` record stays under limits.SMALL_RECORD (decoded without counting)
BLOCK_BYTES = 60 * 1024
LOCK_SLICE = 0.1  # s: a pass waits for the I/O lock in slices this long (see Writer._take_lock)
MAX_WRITTEN = 100_000  # files of a run remembered as written (a set of paths: about 10 MB)
_ROWS_HEAD = {"k": fmt.ROWS, "n": 0, "t": 0.0, "keys": None, "s": None, "ts": None, "v": None}


class Block:
    """A sealed block of rows, queued until the writer packs it."""

    __slots__ = ("f32", "keys", "n", "size", "steps", "times", "values")

    def __init__(
        self, n: int, keys: tuple[Any, ...], f32: bool, steps: list[Any], times: list[Any], values: list[Any], size: int
    ):
        self.n = n  # its sequence number, taken when it was sealed
        self.keys = keys
        self.f32 = f32
        self.steps = steps
        self.times = times
        self.values = values
        self.size = size  # the bytes it was counted as in _queued


_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class Stream:
    """One record stream of one session: a queue on the caller's side and
    segment files on the writer's side."""

    def __init__(self, writer: Writer, name: str):
        self.name = name
        self._writer = writer
        # a list, not a deque: callers append at its end while the writer takes
        # a prefix with two C-level steps (a slice, then its deletion)
        self._q: list[bytes | Block] = []
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._pack = msgpack.Packer().pack  # used only under self._lock
        self._pack32 = msgpack.Packer(use_single_float=True).pack  # the same (rows of float32 values)
        # the open block (see the module's text): its keys (None: no block
        # open), whether its floats pack as float32, its rows' steps, times
        # and values (row after row), the rows it may take and the bytes a row
        # is counted as. Changed only under self._lock, or by a signal handler
        # that interrupted the lock's holder (see _take).
        self.block_keys: tuple[Any, ...] | None = None
        self.block_type: type = dict  # dict, or F32Row: its floats pack as float32
        self.block_steps: list[int] = []
        self.block_times: list[float] = []
        self.block_values: list[Any] = []
        self.block_rows = 0
        self.block_row_size = 0
        self.block_serial = 0  # counts the blocks sealed: the run's summary knows what it took of the open one
        #: called (with the block open) just before a block is sealed: the run keeps its summary
        self.on_seal: Callable[[], None] | None = None
        self._wpack = msgpack.Packer().pack  # the writer's own (blocks are packed under its I/O lock)
        self._wpack32 = msgpack.Packer(use_single_float=True).pack
        self._queued = 0  # bytes appended by callers
        self._taken = 0  # bytes taken by the writer
        # counters, reported in loss and finish records
        self.records_written = 0
        self.bytes_written = 0
        self.lost_records = 0
        self.dropped_records = 0
        self._dropped_reported = 0  # writer only
        self._dropped_pending = 0  # writer only
        self._lost_unreported: list[tuple[int, str]] = []  # writer only
        self._retry: list[bytes] = []  # a batch whose write failed once (writer only)
        # file side, touched only under the writer's I/O lock
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self._dirty = False

    # ---- caller side -------------------------------------------------
    def write(self, kind: str, fields: Mapping[str, Any] | None = None, t: float | None = None) -> bool:
        """Pack ``{"k": kind, "n": seq, "t": t, **fields}`` and queue it.

        Raises TypeError/ValueError from packing before anything is queued.
        """
        rec = {"k": kind, "n": 0, "t": time.time() if t is None else t}
        if fields:
            rec.update(fields)
        return self.put(rec)

    def put(self, rec: dict[str, Any]) -> bool:
        """Queue ``rec`` (a dict with "k", "n" and "t" keys first); "n" is set here.
        Waits for room when the buffer is full: only rows are ever dropped."""
        w = self._writer
        self.room(droppable=False)
        with self._lock:
            if self.block_steps:  # the rows logged before this record stay before it
                self.seal()
            rec["n"] = next(self._seq)
            b = self._pack(rec)  # a failure here leaves a gap in "n", nothing else
            if len(b) > limits.SMALL_RECORD:
                limits.check_packed(b, f"a {rec['k']} record")
            self._q.append(b)
            self._queued += len(b)
        if self._queued - self._taken > w.batch_bytes and not w._wake.is_set():
            w._wake.set()
        return True

    def open_block(self, keys: tuple[Any, ...], kind: type, row_size: int, rows: int) -> None:
        """Seal the open block (if any) and open one for rows of ``keys``
        (under self._lock); ``row_size``: the bytes a row is counted as."""
        if self.block_steps:
            self.seal()
        self.block_keys = keys
        self.block_type = kind
        self.block_row_size = row_size
        self.block_rows = rows

    def seal_now(self, wait: bool = True) -> None:
        """Seal the open block from outside the lock. ``wait``: for the lock's
        holder, a little, then without the lock (``seal(in_place=True)``): a
        signal handler that interrupted a log() of this thread cannot have
        the lock. Without ``wait``, a block whose lock is held stays open."""
        locked = self._lock.acquire(timeout=0.2 if wait else 0)
        try:
            if locked:
                self.seal()
            elif wait:
                self.seal(in_place=True)
        finally:
            if locked:
                self._lock.release()

    def seal(self, in_place: bool = False) -> None:
        """Queue the open block (under self._lock). ``in_place``: without the
        lock, whose holder may be adding a row (its values, its time, then its
        step, each one list operation; a signal handler runs between them):
        the whole rows are taken out of the block's lists, which stay the open
        block with the row being added, so that it is neither lost nor cut."""
        steps = self.block_steps
        if not steps:
            return
        if self.on_seal is not None:
            self.on_seal()
        if in_place:
            rows = len(steps)  # a row's step is added last: these rows are whole
            cut = rows * len(cast("tuple[Any, ...]", self.block_keys))
            steps, times, values = steps[:rows], self.block_times[:rows], self.block_values[:cut]
            del self.block_steps[:rows], self.block_times[:rows], self.block_values[:cut]
        else:
            times, values = self.block_times, self.block_values
            self.block_steps, self.block_times, self.block_values = [], [], []
        self.block_serial += 1
        size = len(steps) * self.block_row_size
        self._q.append(
            Block(
                next(self._seq),
                cast("tuple[Any, ...]", self.block_keys),
                self.block_type is F32Row,
                steps,
                times,
                values,
                size,
            )
        )
        self._queued += size

    def room(self, droppable: bool = True) -> bool:
        """Make room before queueing: False if the record must be dropped."""
        w = self._writer
        if self._queued - self._taken > w.max_buffer:
            if droppable and w.drop_when_full:
                self._count_drop()
                return False
            w.wait_for_room(self)
        return True

    def has_room(self) -> bool:
        """Would a record be queued now without waiting for room? (For
        records that may be left out instead: the console's partial lines.)"""
        return self._queued - self._taken <= self._writer.max_buffer

    def write_nolock(self, kind: str, fields: Mapping[str, Any] | None = None, after_rows: bool = False) -> None:
        """Queue a record without taking the stream lock: for signal handlers,
        which may interrupt a ``write`` in the same thread. ``after_rows``:
        the open block is sealed first (see ``seal_now``)."""
        if after_rows:
            self.seal_now()
        rec = {"k": kind, "n": next(self._seq), "t": time.time()}
        if fields:
            rec.update(fields)
        b = _packb(rec)
        self._q.append(b)
        self._queued += len(b)

    def _count_drop(self) -> None:
        self.dropped_records += 1  # callers only; the writer reads it

    # ---- writer side (under the I/O lock) ----------------------------
    def _take(self, seal: bool = True) -> list[bytes]:
        """What is queued, packed; with ``seal`` the open block too (a pass
        of the writer's own tries for it without waiting: a log() holds the
        lock, the block stays open until it is full or the next pass)."""
        if self.block_steps:
            self.seal_now(wait=seal)
        q = self._q
        n = len(q)
        if not n:
            return []
        items = q[:n]
        del q[:n]  # what callers appended meanwhile stays, in order
        taken = 0
        out: list[bytes] = []
        for item in items:
            if isinstance(item, Block):
                taken += item.size
                packed = self._pack_block(item)
                if packed:
                    out.append(packed)
            else:
                taken += len(item)
                out.append(item)
        self._taken += taken
        return out

    def _pack_block(self, b: Block) -> bytes:
        """A sealed block as one ``rows`` record (empty if it cannot be packed:
        counted as lost, which the values checked by log() never are)."""
        width = len(b.keys)
        rows = min(len(b.steps), len(b.times), len(b.values) // width if width else len(b.steps))
        try:
            if rows != len(b.steps) or width * rows != len(b.values):  # never (seal takes whole rows): a safety net
                b.steps, b.times, b.values = b.steps[:rows], b.times[:rows], b.values[: width * rows]
            if not rows:
                return b""
            head = dict(_ROWS_HEAD, n=b.n, t=b.times[0], keys=list(b.keys), s=b.steps, ts=b.times)
            return cast(bytes, self._wpack(head)[:-1] + (self._wpack32 if b.f32 else self._wpack)(b.values))
        except Exception as e:
            self.lost_records += rows
            self._lost_unreported.append((rows, f"rows that could not be packed: {type(e).__name__}: {e}"))
            self._writer.report(f"{rows} rows could not be packed and are lost: {type(e).__name__}: {e}")
            return b""

    def _loss_record(self, now: float) -> bytes | None:
        """A ``loss`` record for what was lost or dropped since the last one.
        The counters are cleared by the caller once the record is written."""
        lost = self._lost_unreported
        dropped = self.dropped_records - self._dropped_reported
        if not lost and not dropped:
            return None
        fields: dict[str, Any] = {"k": fmt.LOSS, "n": next(self._seq), "t": now}
        if lost:
            fields["lost"] = sum(c for c, _ in lost)
            fields["reason"] = lost[0][1]
        if dropped:
            fields["dropped"] = dropped
            self._dropped_pending = dropped
        packed: bytes = _packb(fields)
        return packed

    def _path(self, segment: int) -> str:
        w = self._writer
        return os.path.join(w.run_dir, fmt.stream_file_name(self.name, w.session, segment))

    def _open(self, now: float) -> bytes:
        """Open the next segment file; return its packed header."""
        w = self._writer
        for _ in range(1000):
            try:
                self._fd = os.open(self._path(self._segment), _OPEN_FLAGS, 0o644)
                break
            except FileExistsError:
                self._segment += 1
        else:  # pragma: no cover - would need 1000 colliding files
            raise OSError(errno.EEXIST, "no free segment name", self._path(self._segment))
        self._size = 0
        header = fmt.header_record(
            t=now, project=w.project, run=w.run_id, session=w.session, stream=self.name, segment=self._segment
        )
        packed: bytes = _packb(header)
        return packed

    def _leave_segment(self, fsync: bool) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if fsync and self._dirty:
                os.fsync(fd)
        except OSError as e:
            self._writer.report(f"fsync of {self._path(self._segment)} failed: {e}")
        finally:
            os.close(fd)
            self._dirty = False
            self._segment += 1

    def _write_batch(self, now: float, items: list[bytes] | None = None) -> int:
        retry, self._retry = self._retry, []
        if items is None:
            items = self._take()
        if retry:
            items = retry + items
        loss = self._loss_record(now)
        if not items and loss is None:
            return 0
        n_records = len(items)
        if loss is not None:
            items.append(loss)
        try:
            parts = [self._open(now)] if self._fd is None else []
            parts.extend(items)
            fd = cast(int, self._fd)  # opened by _open() when it was None
            wrote = _write_all(fd, _framed(parts, now))
            if os.fstat(fd).st_nlink == 0:
                # the file (or the whole run directory) was deleted under us:
                # what was just written went nowhere
                raise OSError(errno.ENOENT, "the stream file was deleted while being written")
        except OSError as e:
            where = self._path(self._segment)
            self._failed(e)
            if retry:  # second failure of these records: they are lost
                self.lost_records += n_records
                self._lost_unreported.append((n_records, f"{e.strerror or e} ({where})"))
            else:  # try once more, in a new segment, on the next pass
                self._retry = items[:n_records]
            return 0
        if loss is not None:
            self._lost_unreported = []
            self._dropped_reported += self._dropped_pending
            self._dropped_pending = 0
        self._size += wrote
        self._dirty = True
        self.records_written += n_records
        self.bytes_written += wrote
        if self._size >= self._writer.rotate_bytes:
            self._leave_segment(fsync=True)
        return n_records

    def _failed(self, e: OSError) -> None:
        """A write or open failed: report it (once per kind of error) and leave
        the segment, which may now end in a torn batch."""
        where = self._path(self._segment)
        self._dropped_pending = 0
        w = self._writer
        if e.errno not in w._reported_errnos:  # once per kind of error
            w._reported_errnos.add(e.errno)
            w.report(f"cannot write {where}: {e.strerror or e}; training goes on, lost records are counted")
        if self._fd is not None:
            # The file may now end in a torn batch: never append after it.
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
            self._segment += 1

    def _fsync(self) -> None:
        if self._fd is not None and self._dirty:
            try:
                os.fsync(self._fd)
                self._dirty = False
            except OSError as e:
                self._writer.report(f"fsync of {self._path(self._segment)} failed: {e}")


def _framed(parts: list[bytes], now: float) -> list[bytes]:
    """Records as batches, each followed by its commit record; a batch holds
    at most WRITER_BATCH_BYTES unless one record is larger (readers refuse
    batches past MAX_BATCH_BYTES)."""
    if sum(map(len, parts)) <= limits.WRITER_BATCH_BYTES:  # the common case: one batch
        data = b"".join(parts)
        return [data, fmt.commit_record(len(data), fmt.crc32(data), now)]
    out: list[bytes] = []
    group: list[bytes] = []
    size = 0

    def close() -> None:
        data = b"".join(group)
        out.append(data)
        out.append(fmt.commit_record(len(data), fmt.crc32(data), now))

    for b in parts:
        if group and size + len(b) > limits.WRITER_BATCH_BYTES:
            close()
            group, size = [], 0
        group.append(b)
        size += len(b)
    if group:
        close()
    return out


def _write_all(fd: int, parts: list[bytes]) -> int:
    total = sum(map(len, parts))
    n = os.writev(fd, parts)
    if n < total:  # short write: finish it, or let the OSError out
        rest = memoryview(b"".join(parts))[n:]
        while rest:
            k = os.write(fd, rest)
            n += k
            rest = rest[k:]
    return n


class Writer:
    """The background thread of one session, serving all its streams."""

    def __init__(
        self,
        run_dir: str,
        *,
        project: str,
        run_id: str,
        session: str,
        settings: Settings,
        report: Callable[[str], None],
    ):
        self.run_dir = run_dir
        self.project = project
        self.run_id = run_id
        self.session = session
        self.report = report
        self.flush_interval = float(settings.flush_interval)
        self.fsync_interval = float(settings.fsync_interval)
        self.heartbeat_interval = float(settings.heartbeat_interval)
        self.rotate_bytes = int(settings.rotate_bytes)
        self.max_buffer = int(settings.max_buffer_bytes)
        self.batch_bytes = min(int(settings.batch_bytes), self.max_buffer)
        self.drop_when_full = settings.on_buffer_full == "drop"
        self.streams: dict[str, Stream] = {}
        self._reported_errnos: set[int | None] = set()
        self._io = threading.Lock()
        self._in_pass: set[int] = set()  # the threads inside a pass (set operations are atomic)
        # set by a signal handler that interrupted a pass in this thread: run
        # once the pass is over (see lifecycle._on_sigterm)
        # what a signal handler left for the end of the pass it interrupted, by thread: only
        # the thread whose pass it interrupted runs it (the handler's work belongs to the
        # main thread; another thread's pass ending first must not take it)
        self._deferred: dict[int, Callable[[], None]] = {}
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._closing = False
        self._closed = False
        # set once a terminating signal is recorded: no heartbeat follows the signal record
        # (the process is ending; a heartbeat after it would make it the session's last word)
        self.signalled = False
        self._last_write = time.monotonic()
        self._last_fsync = time.monotonic()
        self._jobs: deque[Callable[[], list[Any]]] = deque()
        self._background_jobs: deque[Callable[[], None]] = deque()
        self._jobs_running = 0  # background jobs being run, in any thread
        self._jobs_done = threading.Condition()
        self._written: set[str] = set()  # files of the run its jobs wrote (at most MAX_WRITTEN remembered)
        #: called with ``final`` on every pass of the thread, outside any lock
        self.ticks: list[Callable[[bool], None]] = []
        self._thread = threading.Thread(target=self._loop, name="runship-writer", daemon=True)

    def stream(self, name: str) -> Stream:
        s = self.streams.get(name)
        if s is None:
            s = self.streams[name] = Stream(self, name)
        return s

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ---- the thread ----------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                if self._closed:  # abandoned
                    return
                closing = self._closing
                self._background(final=closing)
                self._pass(fsync=closing, seal=closing)
                if closing:
                    return
        except BaseException as e:  # a bug here must not take training down
            self.report(f"writer thread stopped: {type(e).__name__}: {e}")
        finally:
            with self._room:
                self._room.notify_all()

    def _pass(self, fsync: bool, timeout: float | None = None, seal: bool = True) -> bool:
        """Write what is queued. ``seal``: the open blocks of rows too, waiting
        for a log() that holds a stream's lock (flush(), close())."""
        me = threading.get_ident()
        if me in self._in_pass:
            # a signal handler interrupted this thread's pass: writing again now would
            # interleave two batches (the handler defers its flush: busy_here)
            return False
        # marked before the lock is taken and until after it is let go: a signal landing
        # between the acquire and any mark set after it would find this thread holding the
        # lock, seemingly not writing, and wait on itself
        self._in_pass.add(me)
        try:
            return self._locked_pass(fsync, timeout, seal)
        finally:
            self._in_pass.discard(me)
            with self._room:
                self._room.notify_all()
            deferred = self._deferred.pop(me, None)
            if deferred is not None:
                deferred()

    def defer(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` at the end of the calling thread's pass (a signal
        handler that interrupted it; see ``busy_here``)."""
        self._deferred[threading.get_ident()] = fn

    def _take_lock(self, timeout: float | None) -> bool:
        """The I/O lock, waited for in slices: a thread whose wait a signal
        handler interrupted (and left work for) stops waiting, so that the
        handler's own flush, bounded, runs at once."""
        me = threading.get_ident()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = LOCK_SLICE if deadline is None else min(LOCK_SLICE, max(0.0, deadline - time.monotonic()))
            if self._io.acquire(timeout=left):
                return True
            if me in self._deferred or (deadline is not None and time.monotonic() >= deadline):
                return False

    def _locked_pass(self, fsync: bool, timeout: float | None, seal: bool) -> bool:
        if not self._take_lock(timeout):
            return False
        if self._closed:
            self._io.release()
            return True
        try:
            now = time.time()
            wrote = 0
            # the run stream last: once a reader (the uploader) sees its finish
            # record, the other streams of the session are complete on disk
            streams = sorted(self.streams.values(), key=lambda s: s.name == fmt.RUN_STREAM)
            taken = [s._take(seal) for s in streams]
            if self._jobs:
                # jobs queued before these records (media files their rows
                # refer to) are done before the records are written
                self._run_jobs(now)
            for s, items in zip(streams, taken):
                wrote += s._write_batch(now, items)
                if fsync:
                    s._fsync()
            mono = time.monotonic()
            if wrote:
                self._last_write = mono
            elif (
                not self.signalled
                and mono - self._last_write >= self.heartbeat_interval
                and fmt.RUN_STREAM in self.streams
            ):
                run = self.streams[fmt.RUN_STREAM]
                run.write_nolock(fmt.HEARTBEAT)
                run._write_batch(now, run._take(seal))
                self._last_write = mono
            if fsync or mono - self._last_fsync >= self.fsync_interval:
                for s in self.streams.values():
                    s._fsync()
                self._last_fsync = mono
        finally:
            self._io.release()
        return True

    # ---- jobs: files written by the writer, off the caller's thread ----------
    def submit(self, job: Callable[[], list[Any]]) -> None:
        """Run ``job`` in the writer before the records queued after this call
        are written. It returns ``[(kind, fields), ...]`` for the run stream.
        For small files (media): it runs while the writer holds its I/O lock."""
        self._jobs.extend(getattr(job, "parts", None) or (job,))  # a group: each part apart
        if not self._thread.is_alive() and not self._closed:
            self._wake.set()

    def submit_background(self, job: Callable[[], None]) -> None:
        """Run ``job`` in the writer thread outside any lock (large copies).
        It may write records with ``stream.write``."""
        self._background_jobs.append(job)
        self._wake.set()

    def _wrote(self, path: str) -> None:
        """Remember that ``path`` was written; past MAX_WRITTEN paths the memory
        starts again (a picture written again is the same bytes: only time lost)."""
        if len(self._written) >= MAX_WRITTEN:
            self._written.clear()
        self._written.add(path)

    def _run_jobs(self, now: float) -> None:
        run = self.stream(fmt.RUN_STREAM)
        q = self._jobs
        for _ in range(len(q)):
            job = q.popleft()
            path = getattr(job, "path", None)  # a file of the run: written once (named by its content)
            if path is not None and path in self._written:
                continue
            try:
                records = job()
                if path is not None:
                    self._wrote(path)
            except Exception as e:
                records = [(fmt.NOTICE, {"message": f"a file could not be written: {type(e).__name__}: {e}"})]
                self.report(f"a file could not be written: {type(e).__name__}: {e}")
            for kind, fields in records or ():
                run._q.append(_packb({"k": kind, "n": next(run._seq), "t": now, **fields}))

    def run_background(self) -> None:
        """Run the background jobs queued so far in the calling thread, then
        wait for those another thread (the writer's) took before it and is
        still running: once this returns, every job queued before the call
        is done (flush(): a file saved with policy "now" is copied)."""
        if self._background_jobs:
            self._background(final=False, ticks=False)
        if threading.current_thread() is self._thread:
            return  # a job of the writer thread asking: it would wait on itself
        with self._jobs_done:
            while self._jobs_running:
                self._jobs_done.wait()

    def _background(self, final: bool = False, ticks: bool = True) -> None:
        q = self._background_jobs
        while True:
            with self._jobs_done:
                try:
                    job = q.popleft()  # the writer thread and flush() may both be here
                except IndexError:
                    break
                self._jobs_running += 1  # taken and counted at once: run_background never misses it
            try:
                job()
            except Exception as e:
                self.report(f"a file could not be saved: {type(e).__name__}: {e}")
            finally:
                with self._jobs_done:
                    self._jobs_running -= 1
                    self._jobs_done.notify_all()
        for tick in self.ticks if ticks else ():
            try:
                tick(final)
            except Exception as e:
                self.report(f"saving files failed: {type(e).__name__}: {e}")

    def busy_here(self) -> bool:
        """True inside a pass of the calling thread, from before it takes the
        I/O lock to after it lets it go (a signal handler that interrupted it
        must not start another: it defers its flush to the pass's end)."""
        return threading.get_ident() in self._in_pass

    # ---- caller side -----------------------------------------------------
    def wait_for_room(self, s: Stream) -> None:
        if threading.current_thread() is self._thread:
            return  # a job of the writer thread writing a record: only this thread makes room
        with self._room:
            while s._queued - s._taken > self.max_buffer and self._thread.is_alive() and not self._closed:
                self._wake.set()
                self._room.wait(0.5)

    def flush(self, fsync: bool = True, timeout: float | None = None) -> bool:
        """Write everything queued so far (and fsync). True when done."""
        if self._closed:
            return True
        return self._pass(fsync=fsync, timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is left, fsync and close every file, stop the thread."""
        if self._closed:
            return
        self._closing = True
        if self._thread.is_alive():
            self._wake.set()
            self._thread.join(timeout)
        if self._thread.is_alive():
            self.report("the writer did not finish in time; the run may end in an uncommitted tail")
            return
        if self._background_jobs:  # submitted after the thread's last pass
            self._background(final=False)
        self._pass(fsync=True, timeout=timeout)  # anything queued after the thread left
        for s in self.streams.values():
            s._leave_segment(fsync=True)
        _fsync_dir(self.run_dir)
        self._closed = True

    def abandon(self) -> None:
        """In a forked child: forget the files without touching them (the
        thread does not exist there; elsewhere it stops without writing)."""
        self._closed = True
        for s in self.streams.values():
            s._fd = None
        self._wake.set()


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
