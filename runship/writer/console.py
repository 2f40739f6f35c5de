"""Console capture: stdout and stderr copied into the run's ``console`` stream
while still reaching the terminal (or the Slurm output file) unchanged.

- "wrap" (and "auto"): sys.stdout and sys.stderr are wrapped; what Python
  code prints is copied. Cheap; C libraries and subprocesses are not seen.
- "redirect": file descriptors 1 and 2 go through a pipe read by a thread
  that copies to the original descriptor and records: everything the process
  and its children write is captured.
- "off": nothing.

Lines are recorded when they end; a carriage return (tqdm's progress bars)
starts the line over, so a bar is stored as its last state, not per frame.
A line longer than ``MAX_LINE`` is cut into pieces. Records:
``{"k": "out", "s": "stdout"|"stderr", "text": "..."}``.

The line not ended yet (a bar being drawn) is recorded too, so that a live
console shows it: ``{"k": "out", ..., "partial": true}``, at most every
``PARTIAL_EVERY`` seconds while it changes, by a ticker thread (never by the
thread that prints: printing never waits on it), and only while the writer's
buffer has room (it is left out otherwise). A partial line is superseded by
its stream's next record: readers show it only while it is the newest.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from runship.schema import format as fmt
from runship.schema.records import OutFields

if TYPE_CHECKING:
    from runship.writer.stream import Stream

MAX_LINE = 16 * 1024
MODES = ("auto", "wrap", "redirect", "off")
PARTIAL_EVERY = 0.5  # seconds between two partial-line records of a stream, at most one each
SETTLE = 0.02  # print() writes a line's text and its end apart: text this fresh is given this long to end


class LineSink:
    """Turns written text into line records, collapsing carriage returns."""

    def __init__(self, stream: Stream | None, name: str) -> None:
        self.stream = stream
        self.name = name
        self._line: list[str] = []
        self._len = 0
        self._recorded: str | None = None  # the unfinished line as last recorded (a partial record)
        self._fed = 0.0  # when text last came (time.monotonic())
        # the line being put together, and its records leaving in the order their text came
        self._lock = threading.Lock()

    def feed(self, text: str) -> None:
        if not text or self.stream is None:  # in a forked child: no lock taken (another thread's may be held)
            return
        done: list[str] = []
        self._fed = time.monotonic()
        with self._lock:
            self._take(text, done)
            for line in done:
                self._emit(line)

    def _take(self, text: str, done: list[str]) -> None:
        """Put ``text`` into the line being put together; lines it ends go to ``done``."""
        # splitlines() also ends a part at a lone "\r": there the line
        # starts over (a progress bar redrawing itself)
        for part in text.splitlines(keepends=True):
            body = part.rstrip("\r\n")
            ended = part.endswith("\n")
            if part.endswith("\r") and not ended:
                self._line, self._len = [], 0
                continue
            self._line.append(body)
            self._len += len(body)
            if ended or self._len >= MAX_LINE:
                done.append("".join(self._line))
                self._line, self._len = [], 0
        if done:
            self._recorded = None  # a new line: its first state is new, whatever it says

    def tick(self) -> None:
        """Record the unfinished line if it changed since it was last recorded
        (the ticker's call; left out when the writer's buffer is full)."""
        if self.stream is None or not self._line:
            return
        if time.monotonic() - self._fed < SETTLE:  # maybe a line being printed: its end is on its way
            time.sleep(SETTLE)
        with self._lock:
            text = "".join(self._line)
            if not text or text == self._recorded or not self.stream.has_room():
                return
            self._recorded = text
            self._emit(text, partial=True)

    def _emit(self, line: str, partial: bool = False) -> None:
        if self.stream is None:  # in a forked child
            return
        fields = OutFields(s=self.name, text=line)
        if partial:
            fields["partial"] = True
        try:
            self.stream.write(fmt.OUT, fields)
        except Exception:
            pass  # the console must never break printing

    def close(self) -> None:
        if self.stream is None:
            return
        with self._lock:
            rest = "".join(self._line)
            self._line, self._len, self._recorded = [], 0, None
            if rest:
                self._emit(rest)


class _Tee:
    """Stands in for sys.stdout/sys.stderr: writes through, and copies."""

    def __init__(self, original: TextIO, sink: LineSink) -> None:
        self._original = original
        self._sink = sink

    def write(self, text: str) -> int:
        n = self._original.write(text)
        if isinstance(text, str):
            self._sink.feed(text)
        return n

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer, ...
        return getattr(self._original, name)


class Capture:
    def __init__(self, stream: Stream, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"settings.console must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = "wrap" if mode == "auto" else mode
        self.sinks = {name: LineSink(stream, name) for name in ("stdout", "stderr")}
        self._saved: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._ticker: threading.Thread | None = None
        self.active = False

    def start(self) -> None:
        if self.mode == "off":
            return
        if self.mode == "wrap":
            self._saved = {"stdout": sys.stdout, "stderr": sys.stderr}
            sys.stdout = _Tee(sys.stdout, self.sinks["stdout"])
            sys.stderr = _Tee(sys.stderr, self.sinks["stderr"])
        else:
            for name, fd in (("stdout", 1), ("stderr", 2)):
                getattr(sys, name).flush()
                original = os.dup(fd)
                read_end, write_end = os.pipe()
                os.dup2(write_end, fd)
                os.close(write_end)
                self._saved[name] = (fd, original)
                t = threading.Thread(
                    target=self._pump,
                    args=(read_end, original, self.sinks[name]),
                    name=f"runship-console-{name}",
                    daemon=True,
                )
                t.start()
                self._threads.append(t)
        self._stopping.clear()
        self._ticker = threading.Thread(target=self._tick, name="runship-console-partial", daemon=True)
        self._ticker.start()
        self.active = True

    def _tick(self) -> None:
        """Every PARTIAL_EVERY seconds, the unfinished lines that changed are recorded."""
        while not self._stopping.wait(PARTIAL_EVERY):
            for sink in self.sinks.values():
                sink.tick()

    @staticmethod
    def _pump(read_end: int, original: int, sink: LineSink) -> None:
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            while data := os.read(read_end, 65536):
                view = memoryview(data)
                while view:  # the terminal (or output file) first, unchanged
                    n = os.write(original, view)
                    view = view[n:]
                sink.feed(decoder.decode(data))
        except OSError:
            pass
        finally:
            os.close(read_end)

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(5)
        if self.mode == "wrap":
            for name, original in self._saved.items():
                if getattr(sys, name).__class__ is _Tee:
                    setattr(sys, name, original)
        else:
            for name, (fd, original) in self._saved.items():
                try:
                    getattr(sys, name).flush()
                except Exception:
                    pass
                os.dup2(original, fd)  # the pipe's last writer here closes: the pump drains and ends
            for t in self._threads:
                t.join(5)
            for _, original in self._saved.values():
                os.close(original)  # only once the pumps wrote their last bytes to it
        for sink in self.sinks.values():
            sink.close()
