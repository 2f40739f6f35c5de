"""Turn what users pass as ``config`` into a dict.

Accepted: a dict (or any Mapping), an argparse Namespace, absl flags, a
dataclass, or the path of a YAML or JSON file. YAML files may use wandb's
``key: {value: ..., desc: ...}`` layout. PyYAML is optional.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any


def load_config(config: object) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, (str, os.PathLike)):
        return _unwrap_wandb_layout(_load_file(os.fspath(config)))
    if hasattr(config, "flag_values_dict") and callable(config.flag_values_dict):  # absl flags
        return dict(config.flag_values_dict())
    if hasattr(config, "__dataclass_fields__"):
        return {f: getattr(config, f) for f in config.__dataclass_fields__}
    if type(config).__name__ == "Namespace" and hasattr(config, "__dict__"):  # argparse
        return dict(vars(config))
    raise TypeError(
        f"config must be a dict, an argparse Namespace, absl flags or a path to a YAML/JSON file, "
        f"got {type(config).__name__}"
    )


def _load_file(path: str) -> dict[str, Any]:
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".yaml", ".yml", ".json"):
        raise ValueError(f"config file {path!r}: expected a .yaml, .yml or .json file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ValueError(f"config file {path!r} cannot be read: {e.strerror or e}") from None
    if ext == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path!r} is not valid JSON: {e}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise ImportError(
                f"config file {path!r} is YAML, which needs PyYAML: pip install pyyaml (or runship[yaml])"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"config file {path!r} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path!r} must hold a mapping at the top, got {type(data).__name__}")
    return data


def _unwrap_wandb_layout(data: dict[str, Any]) -> dict[str, Any]:
    """wandb's config files store ``key: {value: v, desc: ...}``; take the values."""
    items = {k: v for k, v in data.items() if k not in ("wandb_version", "_wandb")}
    if items and all(isinstance(v, dict) and "value" in v for v in items.values()):
        return {k: v["value"] for k, v in items.items()}
    return items


def filter_keys(config: dict[str, Any], include: list[Any] | None, exclude: list[Any] | None) -> dict[str, Any]:
    if include:
        config = {k: v for k, v in config.items() if k in set(include)}
    if exclude:
        config = {k: v for k, v in config.items() if k not in set(exclude)}
    return config


DEFAULTS_FILE = "config-defaults.yaml"


def load_defaults(cwd: str | None = None) -> tuple[dict[str, Any], str | None]:
    """wandb's ``config-defaults.yaml`` in the working directory, if any.

    Returns (values, problem): a file that cannot be read is reported, never
    raised, so that a training script does not fail at init for it.
    """
    path = os.path.join(cwd or os.getcwd(), DEFAULTS_FILE)
    if not os.path.isfile(path):
        return {}, None
    try:
        return _unwrap_wandb_layout(_load_file(path)), None
    except (ImportError, ValueError) as e:
        return {}, f"{DEFAULTS_FILE} was not loaded: {e}"
