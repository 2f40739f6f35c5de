"""``install_as_wandb()``: make ``import wandb`` resolve to runship in this process.

For third-party code that imports wandb itself (HuggingFace Trainer's
WandbCallback, Lightning's WandbLogger, ...). Call it before that code
imports wandb::

    import runship.compat
    runship.compat.install_as_wandb()

See docs/wandb-compat.md for what it covers.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import pathlib
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import runship
from runship import term
from runship.errors import CommError, ConfigError, Error, UsageError

#: what ``wandb.__version__`` reads: the wandb API version runship follows,
#: with runship's own version as the local label
WANDB_API_VERSION = "0.31.0"


_INSTALLED: list[str] = []


class _WandbModule(types.ModuleType):
    """``wandb``: runship's attributes (live: run, config, summary) plus the
    few wandb-only names that integrations touch."""

    # set by install_as_wandb() (annotations only, for type checkers)
    __version__: str
    sdk: types.ModuleType
    errors: types.ModuleType
    wandb_run: types.ModuleType
    Error: type[Error]
    require: Callable[..., None]
    plot: types.ModuleType
    tensorboard: types.ModuleType

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(runship, name)
        except AttributeError:
            if name.startswith("__"):
                raise
            raise AttributeError(
                f"wandb.{name} is not provided by runship; see docs/wandb-compat.md for what is"
            ) from None


DOCS = "docs/wandb-compat.md"


class _MissingWandbModules(importlib.abc.MetaPathFinder):
    """``import wandb.<something runship does not provide>``: an ImportError
    that says so (not "No module named"), naming the docs."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith("wandb.") and isinstance(sys.modules.get("wandb"), _WandbModule):
            target_name = ALIASES.get(fullname)
            if target_name is not None:  # runship's own module of that name, imported when asked for
                return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target_name))
            raise ModuleNotFoundError(
                f"{fullname} is not provided by runship (imported as wandb); see {DOCS} for what is", name=fullname
            )
        return None

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> Iterator[importlib.metadata.Distribution]:
        """A ``wandb`` distribution while runship stands in for it, so that
        code checking ``importlib.metadata`` for wandb (Lightning's
        ``RequirementCache("wandb>=0.12.10")``) accepts it; nothing is
        written to site-packages."""
        name = getattr(context, "name", None)
        if isinstance(sys.modules.get("wandb"), _WandbModule) and name in (None, "wandb"):
            return iter([_WandbDistribution()])
        return iter(())


#: wandb's integration modules and the runship modules that stand in for them
ALIASES = {
    "wandb.integration": "runship.integration",
    "wandb.integration.keras": "runship.integration.keras",
    "wandb.keras": "runship.integration.keras",
    "wandb.integration.xgboost": "runship.integration.xgboost",
    "wandb.xgboost": "runship.integration.xgboost",
    "wandb.integration.lightgbm": "runship.integration.lightgbm",
    "wandb.lightgbm": "runship.integration.lightgbm",
    "wandb.integration.sklearn": "runship.integration.sklearn",
    "wandb.sklearn": "runship.integration.sklearn",
    "wandb.integration.tensorboard": "runship.tensorboard",
}


class _AliasLoader(importlib.abc.Loader):
    """Loads ``wandb.<name>`` as the runship module standing in for it (the
    same module object: its classes are runship's)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _WandbDistribution(importlib.metadata.Distribution):
    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            return (
                "Metadata-Version: 2.1\nName: wandb\n"
                f"Version: {WANDB_API_VERSION}\n"
                f"Summary: runship {runship.__version__} standing in for wandb (runship.compat.install_as_wandb)\n"
            )
        return None

    def locate_file(self, path: str | os.PathLike[str]) -> pathlib.Path:
        return pathlib.Path(os.path.dirname(runship.__file__), str(path))


_FINDER = _MissingWandbModules()


def _module(name: str, **attrs: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.__dict__.update(attrs)
    return mod


class RunDisabled:
    """Placeholder for ``wandb.sdk.lib.RunDisabled`` (a disabled run is a
    ``runship.Run`` with ``disabled=True``)."""


def install_as_wandb(force: bool = False) -> types.ModuleType:
    """Register runship as ``wandb`` (and the submodules integrations import)
    in ``sys.modules``. Returns the module. If the real wandb was imported
    already, raises UsageError unless ``force``."""
    existing = sys.modules.get("wandb")
    if isinstance(existing, _WandbModule):
        return existing
    if existing is not None and not force:
        raise UsageError("the real wandb is already imported in this process; call install_as_wandb() before it is")
    wandb = _WandbModule("wandb", runship.__doc__)
    wandb.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    wandb.__version__ = f"{WANDB_API_VERSION}+runship.{runship.__version__}"
    wandb.__path__ = []  # a package, so that `import wandb.sdk` finds the entries below

    config_util = _module("wandb.sdk.lib.config_util", ConfigError=ConfigError)
    lib = _module("wandb.sdk.lib", RunDisabled=RunDisabled, config_util=config_util)
    wandb_run = _module("wandb.sdk.wandb_run", Run=runship.Run)
    wandb_settings = _module("wandb.sdk.wandb_settings", Settings=runship.Settings)
    sdk = _module("wandb.sdk", lib=lib, wandb_run=wandb_run, wandb_settings=wandb_settings, Settings=runship.Settings)
    errors = _module(
        "wandb.errors", Error=Error, CommError=CommError, UsageError=UsageError, ConfigError=ConfigError, term=term
    )
    top_run = _module("wandb.wandb_run", Run=runship.Run)
    wandb.sdk = sdk
    wandb.errors = errors
    wandb.wandb_run = top_run
    wandb.Error = Error
    wandb.require = lambda *args, **kwargs: None
    # wandb.run, wandb.config and wandb.summary are not set here: the module's
    # __getattr__ serves runship's, which follow the current run
    from runship import plot as plot_module
    from runship import tensorboard as tensorboard_module

    wandb.plot = plot_module
    wandb.tensorboard = tensorboard_module
    if _FINDER not in sys.meta_path:
        # first: wandb.<name> is runship's to answer (its submodules are in sys.modules
        # already; an alias is the runship module itself, never a second copy of its file)
        sys.meta_path.insert(0, _FINDER)
    for name, mod in {
        "wandb": wandb,
        "wandb.plot": plot_module,
        "wandb.tensorboard": tensorboard_module,
        "wandb.sdk": sdk,
        "wandb.sdk.lib": lib,
        "wandb.sdk.lib.config_util": config_util,
        "wandb.sdk.wandb_run": wandb_run,
        "wandb.sdk.wandb_settings": wandb_settings,
        "wandb.errors": errors,
        "wandb.errors.term": term,
        "wandb.wandb_run": top_run,
    }.items():
        sys.modules[name] = mod
        _INSTALLED.append(name)
    return wandb


def uninstall() -> None:
    """Remove what install_as_wandb() put in sys.modules (and its finder)."""
    while _INSTALLED:
        sys.modules.pop(_INSTALLED.pop(), None)
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
