"""Process-wide hooks: the current run, atexit, SIGTERM, uncaught exceptions, fork.

These are process-wide by nature (there is one atexit, one SIGTERM handler and
one ``runship.run`` per process), so they live in one small object,
``PROCESS``, and nowhere else.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

    from runship.writer.run import Run


class _Process:
    def __init__(self) -> None:
        self.current: Run | None = None
        self.active: list[Run] = []
        self.exit_code: int | None = None  # set by the excepthook
        self.console_owner: Run | None = None  # the one run capturing stdout/stderr
        self._installed = False
        self._prev_sigterm: object = None
        self._prev_excepthook: Callable[[type[BaseException], BaseException, TracebackType | None], Any] | None = None
        self._lock = threading.RLock()

    def register(self, run: Run, make_current: bool) -> None:
        with self._lock:
            self._install()
            self.active.append(run)
            if make_current or self.current is None:
                self.current = run

    def unregister(self, run: Run) -> None:
        with self._lock:
            if run in self.active:
                self.active.remove(run)
            if self.current is run:
                self.current = self.active[-1] if self.active else None

    def _install(self) -> None:
        if self._installed:
            return
        self._installed = True
        atexit.register(self._atexit)
        self._prev_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        if threading.current_thread() is threading.main_thread():
            try:
                self._prev_sigterm = signal.getsignal(signal.SIGTERM)
                signal.signal(signal.SIGTERM, self._on_sigterm)
            except (ValueError, OSError):  # embedded interpreters
                self._prev_sigterm = None

    def _excepthook(self, etype, value, tb) -> None:
        self.exit_code = 130 if issubclass(etype, KeyboardInterrupt) else 1
        hook = self._prev_excepthook or sys.__excepthook__
        hook(etype, value, tb)

    def _atexit(self) -> None:
        code = self.exit_code if self.exit_code is not None else 0
        for run in list(reversed(self.active)):
            try:
                run.finish(exit_code=code)
            except Exception as e:  # never turn a clean exit into a traceback
                print(f"runship: could not finish run {run.id}: {e}", file=sys.stderr)

    def _on_sigterm(self, signum, frame) -> None:
        waiting = 0

        def then() -> None:
            # a run whose write this signal interrupted is flushed once that
            # write is over; the previous handler runs after the last of them
            nonlocal waiting
            waiting -= 1
            if waiting == 0:
                self._chain(signum, frame)

        for run in list(self.active):
            try:
                if not run._on_signal(signum, then):
                    waiting += 1
            except Exception:
                pass
        if waiting == 0:
            self._chain(signum, frame)

    def _chain(self, signum, frame) -> None:
        prev = self._prev_sigterm
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_IGN:
            return
        else:  # SIG_DFL, or a handler not installed from Python
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _after_fork_in_child(self) -> None:
        # A DataLoader worker or any other forked child: the parent's runs are
        # not ours. Never write into the parent's files.
        self._lock = threading.RLock()
        # runship.run stays, as a run whose log() does nothing, so that code
        # calling runship.log() in a worker does not crash.
        for run in self.active:
            run._forked()
        self.active = []


PROCESS = _Process()
