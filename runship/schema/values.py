"""Conversion of user values into msgpack-safe values.

Training code logs numbers, but also numpy and torch scalars and arrays,
datetimes, nested dicts, tuples, paths, enums and dataclasses. ``to_plain``
turns all of them into the types msgpack packs natively, without importing
numpy or torch (it relies on their ``tolist()``/``item()`` methods), and names
the key path of anything it cannot convert.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import os
from collections.abc import Mapping
from typing import Any

import msgpack

#: Types that are packed as they are. Exact types only: subclasses (numpy's
#: float64 is a float subclass) go through conversion.
SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
MAX_DEPTH = 64


class SerializationError(TypeError):
    """A value cannot be recorded. ``path`` is where, as in ``$.a.b[2]``."""

    def __init__(self, message: str, path: list[Any] | None = None):
        super().__init__(message)
        self.reason = message
        self.path = path if path is not None else []

    def where(self, root: str = "$") -> str:
        out = root
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else f".{p}"
        return out

    def __str__(self) -> str:
        return f"{self.reason} - at `{self.where()}`"


def dict_key(k: object) -> str:
    """A nested dict key as recorded: strings as they are, numbers as strings."""
    if isinstance(k, str):
        return str(k)
    if isinstance(k, (bool, int, float)) or type(k).__name__ in ("int64", "int32", "float64", "float32"):
        return str(k)
    if isinstance(k, enum.Enum):
        return str(k.value)
    raise SerializationError(f"dict keys must be strings or numbers, got {type(k).__name__} {k!r}")


def to_plain(value: object, depth: int = 0) -> object:
    """Return ``value`` as str/int/float/bool/None/bytes/list/dict/Timestamp.

    Raises SerializationError (a TypeError) naming the key path.
    """
    t = type(value)
    if t in SCALAR_TYPES:
        return value
    if depth >= MAX_DEPTH:
        raise SerializationError(f"nested deeper than {MAX_DEPTH} levels (a cycle?)")
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = dict_key(k)
            try:
                out[key] = to_plain(v, depth + 1)
            except SerializationError as e:
                e.path.insert(0, key)
                raise
        return out
    if isinstance(value, (list, tuple)):
        out_list = []
        for i, v in enumerate(value):
            try:
                out_list.append(to_plain(v, depth + 1))
            except SerializationError as e:
                e.path.insert(0, i)
                raise
        return out_list
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, enum.Enum):
        return to_plain(value.value, depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo is not None else value.astimezone()
        return msgpack.Timestamp.from_datetime(aware)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset)):
        try:
            items = sorted(value)
        except TypeError:
            items = list(value)
        return to_plain(items, depth)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    media = getattr(value, "_runship_media_", None)
    if media is not None and callable(media):
        return to_plain(media(), depth + 1)
    # numpy arrays and scalars, torch tensors, jax arrays: all have tolist();
    # tensors on an accelerator are copied to the host by tolist().
    tolist = getattr(value, "tolist", None)
    if tolist is not None and callable(tolist):
        detach = getattr(value, "detach", None)
        if detach is not None and callable(detach):
            value = detach()
            tolist = getattr(value, "tolist", tolist)
        try:
            return to_plain(tolist(), depth + 1)
        except SerializationError:
            raise
        except Exception as e:  # a broken tolist() must not look like our bug
            raise SerializationError(f"{t.__name__}.tolist() failed: {e}") from e
    item = getattr(value, "item", None)
    if item is not None and callable(item) and not isinstance(value, Mapping):
        try:
            return to_plain(item(), depth + 1)
        except Exception as e:
            raise SerializationError(f"{t.__name__}.item() failed: {e}") from e
    if hasattr(value, "__dataclass_fields__"):
        return to_plain({f: getattr(value, f) for f in value.__dataclass_fields__}, depth + 1)
    if t.__name__ == "Namespace" and hasattr(value, "__dict__"):
        return to_plain(vars(value), depth + 1)
    if isinstance(value, complex):
        raise SerializationError("complex numbers cannot be logged; log .real and .imag")
    raise SerializationError(f"cannot record a value of type {t.__module__}.{t.__qualname__}")


def json_safe(value: object, strict_json: bool = False) -> object:
    """A value read back from a stream, made fit for ``json.dumps``.

    With ``strict_json``, NaN and infinities become the strings "NaN",
    "Infinity" and "-Infinity" (JSON has no such numbers).
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v, strict_json) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, strict_json) for v in value]
    if strict_json and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().isoformat()
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def is_finite_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
