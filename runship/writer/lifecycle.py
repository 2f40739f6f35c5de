"""Process-wide hooks: the current run, atexit, SIGTERM, uncaught exceptions, sys.exit, fork.

These are process-wide by nature (there is one atexit, one SIGTERM handler and
one ``runship.run`` per process), so they live in one small object,
``PROCESS``, and nowhere else.

A Python-level SIGTERM handler runs only when the main thread is back in
Python code. A signal that lands between the main thread's last check for
signals and a blocking call it then makes (``time.sleep``, a wait in C++ that
retries on EINTR, a long computation that released the GIL) would be handled
only when that call returns, where the default action would have ended the
process at once. So a watch thread reads the interpreter's wakeup fd (only
when no other library has set one): if the handler has not started 0.2 s
after a SIGTERM, it sends the signal again to the main thread (a blocking
system call returns EINTR and Python runs the handler); if it still has not
started 2 s later and the handler before runship's was the default action, the
watch thread records the signal, flushes every run and ends the process with
SIGTERM's default action itself.

The exit code a run records at exit is the interpreter's: 1 (130 for an
interrupt) after an uncaught exception, which ``sys.excepthook`` sees, and
the code given to ``sys.exit()`` in the main thread, which no hook of the
interpreter's sees (``SystemExit`` never reaches ``sys.excepthook`` and
atexit is not told the code): so, as wandb does, ``sys.exit`` is wrapped;
the wrapper notes the code and exits as it would have. A
``raise SystemExit(n)`` (or the builtin ``exit(n)``), which bypasses
``sys.exit``, is not seen. Under IPython (a notebook or its terminal shell,
which catch ``SystemExit`` and go on) ``sys.exit`` is left alone.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any

    from runship.writer.ports import ProcessEvents
    from runship.writer.run import Run

_POKE_AFTER = 0.2  # s after a SIGTERM without the handler started: the signal sent again, to the main thread
_ACT_AFTER = 2.0  # s more: the watch thread does the handler's work and ends the process (default action only)


class _Process:
    def __init__(self) -> None:
        self.current: Run | None = None
        self.active: list[Run] = []
        self.exit_code: int | None = None  # set by the excepthook and by sys.exit in the main thread
        self.console_owner: Run | None = None  # the one run capturing stdout/stderr
        self._events: dict[int, ProcessEvents] = {}  # id(run) -> what is told of signals and forks
        self._installed = False
        self._prev_sigterm: object = None
        self._sigterm_runs = 0  # times the SIGTERM handler started (read by the watch thread)
        self._claim = threading.Lock()  # the handler or the watch thread: who does a SIGTERM's work
        self._watch_acting = False
        self._watch_fds: tuple[int, int] | None = None
        self._prev_excepthook: Callable[[type[BaseException], BaseException, TracebackType | None], Any] | None = None
        self._prev_exit: Callable[..., NoReturn] | None = None
        self._lock = threading.RLock()

    def register(self, run: Run, events: ProcessEvents, make_current: bool, interactive: bool = False) -> None:
        """``events``: what is told of the process's signals and forks for
        ``run``; ``interactive``: under a shell that catches SystemExit (IPython)."""
        with self._lock:
            self._install(interactive)
            self.active.append(run)
            self._events[id(run)] = events
            if make_current or self.current is None:
                self.current = run

    def unregister(self, run: Run) -> None:
        with self._lock:
            if run in self.active:
                self.active.remove(run)
                self._events.pop(id(run), None)
            if self.current is run:
                self.current = self.active[-1] if self.active else None

    def _install(self, interactive: bool) -> None:
        if self._installed:
            return
        self._installed = True
        atexit.register(self._atexit)
        self._prev_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        if not interactive:
            self._prev_exit = sys.exit
            sys.exit = self._exit
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        if threading.current_thread() is threading.main_thread():
            try:
                self._prev_sigterm = signal.getsignal(signal.SIGTERM)
                signal.signal(signal.SIGTERM, self._on_sigterm)
            except (ValueError, OSError):  # embedded interpreters
                self._prev_sigterm = None
            else:
                self._start_watch()

    # ---- the SIGTERM watch (see the module's docstring) ------------------------
    def _start_watch(self) -> None:
        """Start the watch thread; without it (another library's wakeup fd, a
        platform without these calls, no thread to be had) the handler works alone."""
        try:
            r, w = os.pipe()  # close-on-exec: no child started with exec sees it
        except OSError:
            return
        old: int | None = None
        try:
            os.set_blocking(w, False)  # the interpreter's C handler never blocks on it
            old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            if old == -1:
                threading.Thread(target=self._watch, args=(r,), name="runship-signals", daemon=True).start()
                self._watch_fds = (r, w)
                return
        except (OSError, ValueError, RuntimeError):  # RuntimeError: can't start new thread
            pass
        try:  # another library's wakeup fd (asyncio, trio, twisted) stays theirs, and no watch
            if old is not None:
                signal.set_wakeup_fd(old)
        except (OSError, ValueError):
            pass
        os.close(r)
        os.close(w)

    def _watch(self, r: int) -> None:
        seen = self._sigterm_runs
        while True:
            try:
                data = os.read(r, 512)
            except OSError:
                return
            if not data:
                return
            if signal.SIGTERM not in data:
                continue  # SIGINT and other signals with a Python handler: not ours
            if self._sigterm_runs == seen and not self._wait_for_handler(seen, _POKE_AFTER):
                if not self._handler_is_ours():
                    seen = self._sigterm_runs
                    continue  # the program replaced runship's handler: its signal, its rules
                try:
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
                except (OSError, ValueError):
                    pass
                if not self._wait_for_handler(seen, _ACT_AFTER):
                    self._act(seen)
                self._drain(r)  # the byte of the signal sent again: already answered
            seen = self._sigterm_runs

    def _wait_for_handler(self, seen: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._sigterm_runs == seen:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _handler_is_ours(self) -> bool:
        try:
            return signal.getsignal(signal.SIGTERM) == self._on_sigterm
        except (ValueError, OSError):
            return False

    def _act(self, seen: int) -> None:
        """The main thread is stuck outside Python: if SIGTERM's action before
        runship was the default, do the handler's work here and end the process."""
        prev = self._prev_sigterm
        if callable(prev) or prev == signal.SIG_IGN or not self._handler_is_ours():
            return  # the program's own handler must run in the main thread: it will, when it can
        with self._claim:
            if self._sigterm_runs != seen:
                return  # the handler started meanwhile
            self._watch_acting = True
        try:
            self._record_signal(signal.SIGTERM, lambda: None)
        finally:
            _die_of(signal.SIGTERM)

    @staticmethod
    def _drain(r: int) -> None:
        os.set_blocking(r, False)
        try:
            while os.read(r, 512):
                pass
        except OSError:
            pass
        finally:
            os.set_blocking(r, True)

    def _excepthook(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        self.exit_code = 130 if issubclass(etype, KeyboardInterrupt) else 1  # never SystemExit: not sent here
        hook = self._prev_excepthook or sys.__excepthook__
        hook(etype, value, tb)

    def _exit(self, status: object = None) -> NoReturn:
        """``sys.exit`` while runship is installed: the main thread's code noted
        (in any other thread ``SystemExit`` ends only that thread)."""
        if threading.current_thread() is threading.main_thread():
            self.exit_code = exit_status(status)
        (self._prev_exit or _raise_exit)(status)

    def _atexit(self) -> None:
        code = self.exit_code if self.exit_code is not None else 0
        for run in list(reversed(self.active)):
            try:
                run.finish(exit_code=code)
            except Exception as e:  # never turn a clean exit into a traceback
                print(f"runship: could not finish run {run.id}: {e}", file=sys.stderr)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self._claim.acquire(timeout=1.0):
            self._sigterm_runs += 1
            acting = self._watch_acting
            self._claim.release()
            if acting:
                return  # the watch thread is recording this signal and ending the process
        else:
            self._sigterm_runs += 1
        self._record_signal(signum, lambda: self._chain(signum, frame))

    def _record_signal(self, signum: int, chain: Callable[[], None]) -> None:
        """Every active run records the signal and flushes; ``chain`` runs once they have."""
        waiting = 0

        def then() -> None:
            # a run whose write this signal interrupted is flushed once that
            # write is over; the previous handler runs after the last of them
            nonlocal waiting
            waiting -= 1
            if waiting == 0:
                chain()

        for run in list(self.active):
            try:
                if not self._events[id(run)].on_signal(signum, then):
                    waiting += 1
            except Exception:
                pass
        if waiting == 0:
            chain()

    def _chain(self, signum: int, frame: FrameType | None) -> None:
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
        self._claim = threading.Lock()
        if self._watch_fds is not None:
            # the child's signals must never reach the parent's watch thread (which would
            # send the parent a SIGTERM): its wakeup fd now writes to /dev/null, with no watch
            r, w = self._watch_fds
            self._watch_fds = None
            try:
                null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
                os.dup2(null, w, inheritable=False)
                os.close(null)
                os.close(r)
            except OSError:
                pass
        # runship.run stays, as a run whose log() does nothing, so that code
        # calling runship.log() in a worker does not crash.
        for run in self.active:
            self._events[id(run)].forked()
        self.active = []
        self._events = {}


def exit_status(status: object) -> int:
    """The interpreter's exit status for ``sys.exit(status)``: None is 0, an
    int (a bool too) itself, anything else (a message) 1."""
    if status is None:
        return 0
    if isinstance(status, int):
        return int(status)
    return 1


def exit_code_of(error: BaseException | None) -> int:
    """The exit status of a process that ``error`` ends (None: a clean end)."""
    if error is None:
        return 0
    if isinstance(error, SystemExit):
        return exit_status(error.code)
    return 130 if isinstance(error, KeyboardInterrupt) else 1


def _raise_exit(status: object = None) -> NoReturn:
    raise SystemExit(status)


def _die_of(signum: int) -> None:
    """End the process with ``signum``'s default action, from any thread
    (Python sets handlers only from the main thread: libc does it here)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
        libc.signal.restype = ctypes.c_void_p
        libc.signal(signum, None)  # SIG_DFL
        os.kill(os.getpid(), signum)
        time.sleep(1.0)
    except Exception:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


PROCESS = _Process()
