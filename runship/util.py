"""``wandb.util``: the helpers training scripts import from it."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["generate_id", "get_module", "json_friendly", "make_artifact_name_safe", "to_forward_slash_path"]


def generate_id(length: int = 8) -> str:
    """A random run id (lowercase letters and digits), as wandb's."""
    from runship.schema import format as fmt

    return fmt._random_b36(max(1, int(length)))


def make_artifact_name_safe(name: str) -> str:
    """Characters an artifact name may not hold replaced by ``_``."""
    return re.sub(r"[^a-zA-Z0-9_\-.]", "_", name)[:128]


def to_forward_slash_path(path: str) -> str:
    return path.replace("\\", "/")


def get_module(name: str, required: str | None = None, lazy: bool = True) -> Any:
    """The module ``name``, or None (or ImportError with ``required``'s message)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        if required:
            raise ImportError(required) from None
        return None


def json_friendly(obj: Any) -> tuple[Any, bool]:
    """(a JSON-friendly form of ``obj``, whether it changed), as wandb's."""
    from runship.schema.values import json_safe, to_plain

    plain = json_safe(to_plain(obj))
    try:
        json.dumps(plain)
        return plain, plain is not obj
    except (TypeError, ValueError):
        return str(obj), True
