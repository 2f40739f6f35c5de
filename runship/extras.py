"""What a plain ``pip install runship`` leaves out, and the one-line error
that names the extra to install.

A plain install brings msgpack, click and fsspec: the writer, the uploader
and the stream-level commands (``cat``, ``upload``, ``status``). Reading a
run's rows (the reader's columns, numpy and pyarrow), the web app and the
bridges are extras of pyproject.toml; ``EXTRAS`` lists what each brings that
runship imports. An entry point that needs one calls ``require_extra`` first;
``missing_extra`` turns an ImportError of such a module met anywhere else
into the same error."""

from __future__ import annotations

import importlib.util

from runship.errors import Error

# extra -> the top-level modules runship imports from it (pyproject.toml's
# [project.optional-dependencies] installs them)
EXTRAS: dict[str, tuple[str, ...]] = {
    "read": ("numpy", "pyarrow"),
    "ui": ("numpy", "pyarrow", "fastapi", "uvicorn"),
    "server": ("numpy", "pyarrow", "fastapi", "uvicorn"),
    "parquet": ("numpy", "pyarrow"),
    "pandas": ("numpy", "pyarrow", "pandas"),
    "s3": ("s3fs",),
    "yaml": ("yaml",),
    "sweep": ("yaml", "optuna"),
    "tensorboard": ("tensorboardX", "tensorboard"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "gpu": ("pynvml",),
    "system": ("psutil",),
}

# a module met missing outside an entry point's check -> the extra that brings it
_EXTRA_OF = {
    "numpy": "read",
    "pyarrow": "read",
    "fastapi": "ui",
    "starlette": "ui",
    "uvicorn": "ui",
    "pydantic": "ui",
    "anyio": "ui",
    "pandas": "pandas",
    "s3fs": "s3",
    "yaml": "yaml",
    "optuna": "sweep",
    "tensorboardX": "tensorboard",
}


class MissingExtra(Error, ImportError):
    """A feature whose packages a plain install leaves out: the message
    names them and the extras that bring them, on one line."""

    def __init__(self, what: str, extras: list[str], modules: list[str]):
        super().__init__(f"{what} needs {', '.join(modules)}: pip install 'runship[{','.join(extras)}]'")
        self.what = what
        self.extras = extras
        self.modules = modules


def _absent(module: str) -> bool:
    """Whether ``module`` cannot be imported because it is not installed
    (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is None
    except ImportError:  # an import hook that refuses it, as an absent package
        return True
    except ValueError:  # a module in sys.modules with no spec (made at run time): there
        return False


def require_extra(*extras: str, what: str) -> None:
    """Raise MissingExtra if a module of one of ``extras`` is not
    installed; ``what`` names the feature (``runship ui``, ``runship.Api``)."""
    absent: list[str] = []
    short: list[str] = []
    for extra in extras:
        gone = [m for m in EXTRAS[extra] if m not in absent and _absent(m)]
        if gone:  # an extra whose missing modules an earlier one brings is not named
            short.append(extra)
            absent.extend(gone)
    if absent:
        raise MissingExtra(what, short, absent)


def missing_extra(error: BaseException, what: str) -> MissingExtra | None:
    """The MissingExtra an ImportError of a package some extra brings stands
    for (None for any other error): for a path no entry point checked."""
    if isinstance(error, MissingExtra):
        return error
    if not isinstance(error, ImportError) or not error.name:
        return None
    top = error.name.split(".")[0]
    extra = _EXTRA_OF.get(top)
    if extra is None or not _absent(top):
        return None
    return MissingExtra(what, [extra], [top])
