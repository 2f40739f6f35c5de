"""runship: experiment logging for machines that cannot reach the internet.

``import runship as wandb`` and keep your training script as it is::

    run = runship.init(project="mnist", config={"lr": 1e-3})
    for step in range(1000):
        run.log({"loss": loss})
    run.finish()

Importing runship and logging use only the standard library and msgpack.
"""

from __future__ import annotations

import sys as _sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runship.errors import ConfigError, CorruptionError, Error, RunNotFound, UsageError
from runship.term import termerror, termlog, termwarn
from runship.writer import PROCESS as _PROCESS
from runship.writer import Config, Run, Settings, Summary, init
from runship.writer import hooks as _hooks
from runship.writer.config import AlertLevel

if TYPE_CHECKING:
    from runship.schema.metrics import MetricSpec
    from runship.store.artifact_api import Artifact

__version__ = "0.1.0"


def _sync_tensorboard(run: Run) -> Callable[[], None] | None:
    from runship.integration.tensorboard import sync

    return sync(run)


# what the writer calls and never imports (runship/writer/hooks.py)
_hooks.install(version=__version__, sync_tensorboard=_sync_tensorboard)

__all__ = [
    "AlertLevel",
    "Api",
    "Artifact",
    "Audio",
    "Config",
    "ConfigError",
    "CorruptionError",
    "Error",
    "Histogram",
    "Html",
    "Image",
    "Molecule",
    "Object3D",
    "Plotly",
    "Run",
    "RunNotFound",
    "Settings",
    "Summary",
    "Table",
    "UsageError",
    "Video",
    "__version__",
    "agent",
    "alert",
    "define_metric",
    "finish",
    "init",
    "join",
    "link_model",
    "log",
    "log_artifact",
    "log_code",
    "log_model",
    "login",
    "mark_preempting",
    "open_run",
    "plot",
    "plot_table",
    "save",
    "setup",
    "sweep",
    "teardown",
    "tensorboard",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "use_artifact",
    "use_model",
    "visualize",
    "watch",
]

# loaded on first use, so that `import runship` stays light
_LAZY = {
    "Artifact": "runship.store.artifact_api",
    "Image": "runship.media",
    "Histogram": "runship.media",
    "Table": "runship.media",
    "Audio": "runship.media",
    "Video": "runship.media",
    "Plotly": "runship.media",
    "Html": "runship.media",
    "Object3D": "runship.media",
    "Molecule": "runship.media",
    "Api": "runship.reader.api",
    "plot_table": "runship.plot",
    "visualize": "runship.plot",
}


_MODULES = {
    "plot": "runship.plot",
    "util": "runship.util",
    "tensorboard": "runship.tensorboard",
    "sklearn": "runship.integration.sklearn",
    "keras": "runship.integration.keras",
    "xgboost": "runship.integration.xgboost",
    "lightgbm": "runship.integration.lightgbm",
}


def _current(what: str) -> Run:
    run = _PROCESS.current
    if run is None:
        raise UsageError(f"runship.{what}() needs a run: call runship.init() first")
    return run


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``runship.run.log(...)`` for the current run (see Run.log)."""
    _current("log").log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any."""
    run = _PROCESS.current
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def define_metric(name: str, *args: Any, **kwargs: Any) -> MetricSpec:
    return _current("define_metric").define_metric(name, *args, **kwargs)


def save(glob_str: Any = None, base_path: Any = None, policy: str = "live") -> list[str] | bool:
    return _current("save").save(glob_str, base_path, policy)


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    _current("alert").alert(title, text, level, wait_duration)


def watch(  # wandb.watch's signature
    models: Any = None, criterion: Any = None, log: str | None = "gradients", log_freq: int = 1000,
    idx: int | None = None, log_graph: bool = False,
) -> None:  # fmt: skip
    return _current("watch").watch(models, criterion, log, log_freq, idx, log_graph)


def unwatch(models: Any = None) -> None:
    return None


def log_code(root: str = ".", name: str | None = None, include_fn: Any = None, exclude_fn: Any = None) -> None:
    return _current("log_code").log_code(root, name, include_fn, exclude_fn)


def log_artifact(
    artifact_or_path: Any, name: str | None = None, type: str | None = None, aliases: Any = None, tags: Any = None
) -> Artifact:
    return _current("log_artifact").log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(artifact_or_name: Any, type: str | None = None, aliases: Any = None, use_as: Any = None) -> Artifact:
    return _current("use_artifact").use_artifact(artifact_or_name, type, aliases, use_as)


def log_model(path: Any, name: str | None = None, aliases: Any = None) -> Artifact:
    return _current("log_model").log_model(path, name, aliases)


def use_model(name: str) -> str:
    return _current("use_model").use_model(name)


def link_model(path: Any, registered_model_name: str, name: str | None = None, aliases: Any = None) -> Artifact:
    return _current("link_model").link_model(path, registered_model_name, name, aliases)


def mark_preempting() -> None:
    _current("mark_preempting").mark_preempting()


def login(*args: Any, **kwargs: Any) -> bool:
    """Nothing to log in to: runship writes files. Returns True."""
    return True


def setup(*args: Any, **kwargs: Any) -> None:
    return None


def join(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """wandb's old name of ``finish()``."""
    finish(exit_code=exit_code, quiet=quiet)


def teardown(exit_code: int | None = None) -> None:
    """Finish every active run."""
    for run in list(_PROCESS.active):
        run.finish(exit_code=exit_code)


def sweep(sweep: Any = None, entity: str | None = None, project: str | None = None, prior_runs: Any = None) -> str:
    """wandb.sweep: create a sweep from its spec (a dict, as wandb's sweep
    YAML) under the run root ($RUNSHIP_DIR, else ./runship-runs), with no
    server; returns its id for ``runship.agent`` (see runship.sweep)."""
    import os

    from runship.sweep import Sweep
    from runship.writer.init import env, root

    if not isinstance(sweep, dict):
        raise UsageError("runship.sweep() takes the sweep's spec as a dict (method, metric, parameters)")
    name = project or sweep.get("project") or env("PROJECT") or "uncategorized"
    made = Sweep.create(root(None), name, sweep)
    if (os.environ.get("RUNSHIP_SILENT") or os.environ.get("WANDB_SILENT") or "").lower() not in ("1", "true", "yes"):
        print(f"runship: created sweep {made.project}/{made.id} in {made.dir}", file=_sys.stderr)
    return made.id


def agent(
    sweep_id: str,
    function: Callable[[], object] | None = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
) -> None:
    """wandb.agent: run ``function`` for trials of a sweep (``count`` of
    them, else until none is left), each in its own run, in this process."""
    from runship.sweep import Sweep
    from runship.sweep.agent import agent as run_agent
    from runship.writer.init import env, root

    if function is None:
        raise UsageError("runship.agent() needs function=: the training function each trial runs")
    found = Sweep.open(root(None), str(sweep_id), project or env("PROJECT"))
    run_agent(found, function=function, count=count)


def open_run(path: Any, **kwargs: Any) -> Any:
    """Open a run directory for reading (see runship.reader.open_run); needs
    the ``read`` extra (numpy, pyarrow)."""
    from runship.extras import require_extra

    require_extra("read", what="runship.open_run")
    from runship.reader import open_run as _open

    return _open(path, **kwargs)


def __getattr__(name: str) -> Any:
    # runship.run, runship.config and runship.summary follow the current run.
    if name == "run":
        return _PROCESS.current
    if name == "config":
        run = _PROCESS.current
        return run.config if run is not None else Config(None)
    if name == "summary":
        run = _PROCESS.current
        return run.summary if run is not None else Summary(None)
    if name in _MODULES:  # wandb.plot, wandb.tensorboard, wandb.sklearn, ...: modules, imported when used
        import importlib

        value = importlib.import_module(_MODULES[name])
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        if name == "Api":  # the reader's columns: numpy and pyarrow, an extra
            from runship.extras import require_extra

            require_extra("read", what="runship.Api")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runship' has no attribute {name!r}")
