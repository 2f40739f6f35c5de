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
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import msgpack

#: Types that are packed as they are. Exact types only: subclasses (numpy's
#: float64 is a float subclass) go through conversion.
SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
# what log() writes as it is: SCALAR_TYPES, and subclasses of float met since (np.float64)
PLAIN_TYPES = set(SCALAR_TYPES)
#: the types of values a rows block takes as they are (msgpack packs them as
#: numbers); np.float64, a float, joins the first two once it is met
FLOAT_TYPES = {float, bool, type(None)}
NUMBER_TYPES = {float, int, bool, type(None)}
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
    found, plain = _array_like(value, t, depth)
    if found:
        return plain
    if hasattr(value, "__dataclass_fields__"):
        return to_plain({f: getattr(value, f) for f in value.__dataclass_fields__}, depth + 1)
    if t.__name__ == "Namespace" and hasattr(value, "__dict__"):
        return to_plain(vars(value), depth + 1)
    if isinstance(value, complex):
        raise SerializationError("complex numbers cannot be logged; log .real and .imag")
    raise SerializationError(f"cannot record a value of type {t.__module__}.{t.__qualname__}")


def _array_like(value: object, t: type, depth: int) -> tuple[bool, object]:
    """(True, plain value) for numpy arrays and scalars, torch tensors, jax
    arrays (``tolist()``; a tensor on an accelerator is copied to the host
    by it) and other scalars with ``item()``; (False, None) otherwise."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None and callable(tolist):
        detach = getattr(value, "detach", None)
        if detach is not None and callable(detach):
            value = detach()
            tolist = getattr(value, "tolist", tolist)
        try:
            return True, to_plain(tolist(), depth + 1)
        except SerializationError:
            raise
        except Exception as e:  # a broken tolist() must not look like our bug
            raise SerializationError(f"{t.__name__}.tolist() failed: {e}") from e
    item = getattr(value, "item", None)
    if item is not None and callable(item) and not isinstance(value, Mapping):
        try:
            return True, to_plain(item(), depth + 1)
        except Exception as e:
            raise SerializationError(f"{t.__name__}.item() failed: {e}") from e
    return False, None


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


def format_value(v: object) -> str:
    """A value as the CLI shows it in one cell or line: floats to 6
    significant digits (0.855, not 0.8550000000000001), maps and lists as
    compact JSON, None as nothing. The CLI's tables and the sweep agent's
    log both use it, so one value reads the same in both."""
    if isinstance(v, float):
        text = f"{v:.6g}"
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, (dict, list)):
        return json.dumps(json_safe(v), separators=(",", ":"))
    return "" if v is None else str(v)


def is_finite_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---- numpy scalars and torch 0-d tensors, fast ------------------------------------------------
# Training code logs np.float64 (scikit-learn, numpy reductions), np.float32 (arrays) and 0-d
# torch tensors (``loss`` for ``loss.item()``). Each type's converter is found once, by the type
# (no numpy or torch import: a value of such a type means its library is imported already).
SLOW = object()  # a converter's answer for a value it does not take (a tensor of more than one element)
DEVICE = object()  # a converter's answer for a 0-d tensor on an accelerator (copied with the row's others)
_CONVERTERS: dict[type, Any] = {}
_UNKNOWN = object()
# A row's values by type: (converter or None for "as it is", float width flag: 1 a float32
# value, 2 a float64 value, 0 no float). Plain types, and numpy's scalar types once met.
_F32, _F64 = 1, 2
_KINDS: dict[type, tuple[Any, int]] = {
    float: (None, _F64),
    int: (None, 0),
    bool: (None, 0),
    str: (None, 0),
    type(None): (None, 0),
}


class F32Row(dict[str, Any]):
    """A plain row whose floats are all float32 values widened to Python
    floats (numpy float32/float16, torch float32/float16/bfloat16 tensors on
    an accelerator; a CPU tensor's dtype is not asked, its float is float64): packed
    with msgpack's float32 (5 bytes, not 9), which holds them exactly."""

    __slots__ = ()


def _numpy_scalar(t: type) -> Any:
    import numpy as np

    if issubclass(t, float):  # np.float64: msgpack packs it as the float it is
        PLAIN_TYPES.add(t)
        FLOAT_TYPES.add(t)
        NUMBER_TYPES.add(t)
        _KINDS[t] = (None, _F64)
        return _same
    if issubclass(t, (np.float16, np.float32)):
        _KINDS[t] = (float, _F32)  # exact: a float32's value widened (5x faster than .item())
        return float
    if issubclass(t, np.integer):
        _KINDS[t] = (int, 0)
        return int
    if issubclass(t, np.bool_):
        _KINDS[t] = (bool, 0)
        return bool
    if issubclass(t, np.floating):
        _KINDS[t] = (t.item, _F64)  # np.longdouble: item() gives a float64
        return t.item
    return None


def _same(v: Any) -> Any:
    return v


def _torch_scalar(v: Any) -> Any:
    """A CPU tensor of one element as its Python value (``item()``: exact
    for every dtype, bfloat16 included); a tensor on a device: SLOW (a row's
    device values are copied at once, ``device_values``); else SLOW."""
    if v.ndim != 0:
        return SLOW
    if not v.is_cpu:
        return DEVICE
    x = v.item()
    return SLOW if type(x) is complex else x


def scalar_converter(t: type) -> Any:
    """How one value of type ``t`` becomes a plain scalar, or None when
    values of ``t`` are not numpy scalars or torch tensors."""
    try:
        return _CONVERTERS[t]
    except KeyError:
        pass
    module = t.__module__ or ""
    conv = None
    if module == "numpy" or module.startswith("numpy."):
        conv = _numpy_scalar(t)
    elif module.startswith("torch") and any(
        c.__name__ == "Tensor" and c.__module__.startswith("torch") for c in t.__mro__
    ):
        conv = _torch_scalar
    _CONVERTERS[t] = conv
    return conv


def device_values(tensors: list[Any]) -> list[Any]:
    """Python values of 0-d tensors on an accelerator, as ``.item()`` gives
    them, copied to the host in one transfer a device (one synchronisation,
    not one per value). The tensors of one dtype are stacked in one
    operation: a row of float32 metrics costs a stack and the copy, however
    many there are (one tensor alone: its ``.item()``). Several dtypes are
    cast to float64 (floats) or reinterpreted as float64 (integers and bools,
    bit for bit) to travel in one copy."""
    import torch

    out: list[Any] = [None] * len(tensors)
    by_device: dict[Any, dict[Any, list[int]]] = {}
    for i, t in enumerate(tensors):
        if t.is_complex():
            raise SerializationError("complex numbers cannot be logged; log .real and .imag")
        by_device.setdefault(t.device, {}).setdefault(t.dtype, []).append(i)
    with torch.no_grad():
        for groups in by_device.values():
            if len(groups) == 1:  # one dtype: its values as they are (a float32's float is exact)
                (idx,) = groups.values()
                got = (
                    [tensors[idx[0]].item()] if len(idx) == 1 else torch.stack([tensors[i] for i in idx]).cpu().tolist()
                )
                for i, x in zip(idx, got):
                    out[i] = x
                continue
            parts, spans = [], []
            for dtype, idx in groups.items():
                stacked = torch.stack([tensors[i] for i in idx])
                if dtype.is_floating_point:
                    parts.append(stacked.to(torch.float64))
                    spans.append(("f", idx))
                else:  # bit for bit: int64 in float64's bytes
                    parts.append(stacked.to(torch.int64).view(torch.float64))
                    spans.append(("b" if dtype == torch.bool else "i", idx))
            host = torch.cat(parts).cpu()  # the one copy (and synchronisation)
            floats = host.tolist()
            ints = host.view(torch.int64).tolist()
            pos = 0
            for kind, idx in spans:
                for i in idx:
                    out[i] = floats[pos] if kind == "f" else (bool(ints[pos]) if kind == "b" else ints[pos])
                    pos += 1
    return out


def values_of_one_type(data: dict[str, Any], t: type) -> tuple[list[Any], bool] | None:
    """The values of ``data``, all of the numpy scalar type ``t`` (each
    converted at C speed: ``list(map(converter, values))``) or all 0-d CPU
    tensors, and whether they are float32 values; None for a type not met
    yet or kept as it is, or tensors that need more (see plain_row)."""
    e = _KINDS.get(t)
    if e is None or e[0] is None:
        if _CONVERTERS.get(t) is _torch_scalar:
            return _cpu_tensor_values(data.values())
        return None
    conv, flags = e
    return list(map(conv, data.values())), flags == _F32


def _cpu_tensor_values(values: Any) -> tuple[list[Any], bool] | None:
    """0-d CPU tensors' values (``item()``, exact; a float as float64: its
    dtype is not asked); None if one is not such a tensor, or is complex."""
    out: list[Any] = []
    append = out.append
    for v in values:
        if v.ndim or not v.is_cpu:
            return None
        append(v.item())
    if complex in set(map(type, out)):
        return None
    return out, False


def plain_row(data: dict[str, Any]) -> dict[str, Any] | None:
    """A row whose values are plain scalars, numpy scalars and 0-d torch
    tensors, with every value a plain scalar (a row's tensors on a device
    copied to the host at once); None when a value needs more (media, an
    array, a nested map) or a key is not a string: the full conversion then.

    A row whose floats all come from float32 (or narrower) values is an
    ``F32Row``: it is stored with 5-byte floats, exactly."""
    out = {}
    device: list[tuple[str, Any]] | None = None
    flags = 0  # _F32 | _F64: the widths of the row's floats
    kind = _KINDS.get
    for k, v in data.items():
        e = kind(type(v))
        if e is None or type(k) is not str:
            if type(k) is not str:
                return None
            conv = scalar_converter(type(v))  # a type not met yet, a tensor, or a value that needs more
            e = kind(type(v))
            if e is None:
                if conv is not _torch_scalar:
                    return None
                x = conv(v)
                if x is SLOW:
                    return None
                if type(x) is float:
                    flags |= _F64  # a CPU tensor's float as float64: asking each tensor its dtype costs 15% of log()
                elif x is DEVICE:
                    if device is None:
                        device = []
                    device.append((k, v))
                    if v.dtype.is_floating_point:  # float32, float16, bfloat16 (and float8): exact as float32
                        flags |= _F32 if v.dtype.itemsize <= 4 else _F64
                out[k] = x
                continue
        c, f = e
        out[k] = v if c is None else c(v)
        flags |= f
    if device:
        for (k, _), x in zip(device, device_values([v for _, v in device])):
            out[k] = x
    return F32Row(out) if flags == _F32 else out
