"""One rule for every ``runship`` command stopped by a signal (README,
"Exit codes"):

- SIGINT (Ctrl-C) ends any command with exit status 130 and one line on
  stderr: ``runship CMD: interrupted`` and what was left unfinished.
- SIGTERM ends a command that has an end of its own (a one-shot upload or
  export, ls, history, console --follow ...) the same way, with 143.
- SIGTERM is also how a service manager (systemd, Slurm, docker) tells a
  command that runs until stopped (serve, ui, upload --watch, export
  --watch) to stop: it ends what is in flight, says it stopped, exits 0.

The CLI's entry point installs ``raising()``; a command that has to end
what is in flight first (the uploader) installs its own handlers for its
duration and raises ``Interrupted`` itself once it has."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn, ParamSpec, TypeVar

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports a command ended by Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

#: a signal's handler as ``signal.signal`` takes and returns it
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Interrupted(KeyboardInterrupt):
    """A command stopped by ``signum``; ``left``: what was left unfinished,
    in words; ``command``: the command's name (``runship upload``)."""

    def __init__(self, signum: int, left: str = "", command: str = ""):
        super().__init__(signum, left, command)
        self.signum = signum
        self.left = left
        self.command = command

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def line(self, command: str = "runship") -> str:
        how = "interrupted" if self.signum == signal.SIGINT else f"stopped by {signal.Signals(self.signum).name}"
        return f"{self.command or command}: {how}" + (f": {self.left}" if self.left else "")


def raising(command: Callable[[], str] = lambda: "") -> dict[signal.Signals, Handler]:
    """Handlers that raise ``Interrupted`` for SIGINT and SIGTERM, naming
    ``command()`` (called when the signal comes); the previous handlers."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum, command=command())

    return {sig: signal.signal(sig, handler) for sig in SIGNALS}


@contextlib.contextmanager
def serving(server: Any) -> Iterator[None]:
    """Around uvicorn's ``server.run()``: a signal that comes before uvicorn
    has put in its own handlers (or after it took them out) asks the server
    to stop (``should_exit``) instead of raising into asyncio's set-up (a
    coroutine never awaited, a traceback from the event loop); it is raised
    again once the server has stopped."""
    taken: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        taken.append(signum)
        server.should_exit = True

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        restore(previous)
    if taken:
        signal.raise_signal(taken[0])


def restore(previous: dict[signal.Signals, Handler]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def stopping(stop: threading.Event) -> list[int]:
    """Handlers for SIGINT and SIGTERM that set ``stop`` (what is in
    flight ends first); the list the signals that came are added to."""
    came: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        came.append(signum)
        stop.set()

    for sig in SIGNALS:
        signal.signal(sig, handler)
    return came


def _catching(handle: Callable[[Interrupted], T]) -> Callable[[Callable[P, R]], Callable[P, R | T]]:
    """A decorator: an ``Interrupted`` the function raises goes to
    ``handle``, which raises another or says what the function returns."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R | T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | T:
            try:
                return fn(*args, **kwargs)
            except Interrupted as e:
                return handle(e)

        return wrapper

    return decorate


def until_stopped(left: str) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """For a command that runs until it is told to stop (a server): SIGTERM
    is that request (a line saying so, exit 0); SIGINT an interrupt that
    leaves ``left``."""

    def handle(e: Interrupted) -> None:
        if e.signum != signal.SIGTERM:
            raise Interrupted(e.signum, left, e.command) from None
        print(f"{e.command or 'runship'}: stopped (SIGTERM); {left}", file=sys.stderr)

    return _catching(handle)


def leaving(left: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """For a command whose interrupt leaves something to say: ``left``."""

    def handle(e: Interrupted) -> NoReturn:
        raise Interrupted(e.signum, e.left or left, e.command) from None

    return _catching(handle)
