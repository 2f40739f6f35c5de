"""runship: experiment logging for machines that cannot reach the internet.

``import runship as wandb`` and keep your training script as it is::

    run = runship.init(project="mnist", config={"lr": 1e-3})
    for step in range(1000):
        run.log({"loss": loss})
    run.finish()

Importing runship and logging use only the standard library and msgpack.
"""

from __future__ import annotations

from runship.errors import ConfigError, CorruptionError, Error, RunNotFound, UsageError
from runship.writer import PROCESS as _PROCESS
from runship.writer import Config, Run, Settings, Summary, init

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "CorruptionError",
    "Error",
    "Run",
    "RunNotFound",
    "Settings",
    "Summary",
    "UsageError",
    "__version__",
    "finish",
    "init",
    "log",
    "open_run",
]


def _current(what: str) -> Run:
    run = _PROCESS.current
    if run is None:
        raise UsageError(f"runship.{what}() needs a run: call runship.init() first")
    return run


def log(data: dict, step: int | None = None, commit: bool | None = None) -> None:
    """``runship.run.log(...)`` for the current run (see Run.log)."""
    _current("log").log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any."""
    run = _PROCESS.current
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def open_run(path, **kwargs):
    """Open a run directory for reading (see runship.reader.open_run)."""
    from runship.reader import open_run as _open

    return _open(path, **kwargs)


def __getattr__(name: str):
    # runship.run, runship.config and runship.summary follow the current run.
    if name == "run":
        return _PROCESS.current
    if name == "config":
        run = _PROCESS.current
        return run.config if run is not None else Config(None)
    if name == "summary":
        run = _PROCESS.current
        return run.summary if run is not None else Summary(None)
    raise AttributeError(f"module 'runship' has no attribute {name!r}")
