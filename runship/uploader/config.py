"""Uploader configuration: command line over environment over a config file.

The file (``--config``, else ``$RUNSHIP_UPLOAD_CONFIG``, else
``~/.config/runship/upload.ini`` when it exists) is INI::

    [upload]
    to = s3://bucket/runs
    roots = /scratch/alice/runship-runs /scratch/bob/runship-runs
    interval = 60
    state = /var/lib/runship-upload

    [storage_options]
    endpoint_url = https://minio.example.org

Environment: ``RUNSHIP_UPLOAD_TO``, ``RUNSHIP_UPLOAD_ROOTS`` (separated by
``:``), ``RUNSHIP_UPLOAD_STATE``, ``RUNSHIP_UPLOAD_INTERVAL``. Credentials
are never read from here: they come from where the storage library looks
(AWS variables and profiles for S3, fsspec's own configuration, ...).
"""

from __future__ import annotations

import configparser
import json
import os
from dataclasses import dataclass, field
from typing import Any

from runship.errors import UsageError
from runship.schema import redact

#: the sections a config file may have
SECTIONS = ("upload", "storage_options")


@dataclass
class UploadConfig:
    to: str | None = None
    roots: list[str] = field(default_factory=list)
    interval: float = 60.0
    state: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)


def default_config_path() -> str | None:
    path = os.environ.get("RUNSHIP_UPLOAD_CONFIG")
    if path:
        return path
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = os.path.join(base, "runship", "upload.ini")
    return path if os.path.isfile(path) else None


def parse_value(text: str) -> Any:
    """``true``/``false``/numbers/JSON as such, anything else as a string."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_storage_options(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--storage-option takes KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        target = out
        parts = key.strip().split(".")  # client_kwargs.region_name=...
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = parse_value(value)
    return out


def load(path: str | None) -> UploadConfig:
    cfg = UploadConfig()
    if path:
        parser = configparser.ConfigParser()
        try:
            with open(path) as f:
                parser.read_file(f)
        except OSError as e:
            raise UsageError(f"cannot read config file {path}: {e.strerror or e}") from None
        except configparser.Error as e:
            raise UsageError(f"config file {path} is not valid INI: {e}") from None
        unknown_sections = [name for name in parser.sections() if name not in SECTIONS]
        if unknown_sections:  # [uplaod]: a typo would otherwise leave every setting unread
            raise UsageError(
                f"config file {path}: unknown section {', '.join(f'[{n}]' for n in unknown_sections)};"
                f" the sections are {', '.join(f'[{n}]' for n in SECTIONS)}"
            )
        if parser.has_section("upload"):
            sec = parser["upload"]
            unknown = set(sec) - {"to", "roots", "interval", "state"}
            if unknown:
                raise UsageError(f"config file {path}: unknown keys in [upload]: {', '.join(sorted(unknown))}")
            cfg.to = sec.get("to") or None
            cfg.roots = sec.get("roots", "").split()
            if "interval" in sec:
                cfg.interval = _positive(sec["interval"], f"{path}: interval")
            cfg.state = sec.get("state") or None
        if parser.has_section("storage_options"):
            cfg.storage_options = parse_storage_options([f"{k}={v}" for k, v in parser["storage_options"].items()])
    env = os.environ
    cfg.to = env.get("RUNSHIP_UPLOAD_TO") or cfg.to
    if env.get("RUNSHIP_UPLOAD_ROOTS"):
        cfg.roots = [r for r in env["RUNSHIP_UPLOAD_ROOTS"].split(":") if r]
    cfg.state = env.get("RUNSHIP_UPLOAD_STATE") or cfg.state
    if env.get("RUNSHIP_UPLOAD_INTERVAL"):
        cfg.interval = _positive(env["RUNSHIP_UPLOAD_INTERVAL"], "RUNSHIP_UPLOAD_INTERVAL")
    return cfg


def _positive(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return value


def describe_options(options: dict[str, Any]) -> str:
    """Storage options for a log line: secret-looking ones by name only."""
    return redact.options(options)
