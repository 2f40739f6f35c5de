"""The run's config and summary objects, and wandb's AlertLevel."""

from __future__ import annotations

import enum
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import TYPE_CHECKING, Any

from runship.errors import ConfigError
from runship.schema import format as fmt
from runship.schema.records import ConfigFields, SummaryFields
from runship.schema.values import SerializationError, to_plain

if TYPE_CHECKING:
    from runship.writer.ports import RunRecords


class AlertLevel(str, enum.Enum):
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class _Items:
    """What Config and Summary share: read access to ``_items``, attribute
    access, item assignment through ``update``, and turning given values into
    recorded ones."""

    _items: dict[str, Any]
    _what = "items"  # for messages
    _hidden = "__"  # attribute names with this prefix are never keys
    _key_error: type[Exception] = TypeError

    def update(self, d: Any) -> None:  # pragma: no cover - each subclass defines it
        raise NotImplementedError

    def _plain(self, key: object, value: object) -> object:
        """``value`` as it will be recorded, or an error naming ``key``."""
        if not isinstance(key, str):
            raise self._key_error(f"{self._what} keys must be strings, got {type(key).__name__} {key!r}")
        try:
            return to_plain(value)
        except SerializationError as e:
            e.path.insert(0, key)
            raise TypeError(f"{self._what}: {e.reason} - at `{e.where(self._what)}`") from None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, key: str) -> Any:
        if key.startswith(self._hidden):
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(f"{self._what} has no key {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def values(self) -> ValuesView[Any]:
        return self._items.values()

    def items(self) -> ItemsView[str, Any]:
        return self._items.items()

    def as_dict(self) -> dict[str, Any]:
        return dict(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Config(_Items):
    """The run's config: attribute and item access, ``update``, ``setdefaults``.

    Changing a value that is already set raises ConfigError unless
    ``allow_val_change=True`` (here, on ``update`` or on ``init``).
    """

    _what = "config"
    _key_error = ConfigError

    def __init__(self, run: RunRecords | None, items: dict[str, Any] | None = None, allow_val_change: bool = False):
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_items", dict(items or {}))
        object.__setattr__(self, "_allow", allow_val_change)

    def update(self, d: Mapping[str, Any] | object, allow_val_change: bool | None = None) -> None:
        from runship.writer.config_input import load_config

        values = load_config(d)
        allow = self._allow if allow_val_change is None else allow_val_change
        changed = {}
        for key, value in values.items():
            value = self._plain(key, value)
            if key in self._items:
                old = self._items[key]
                if old == value:
                    continue
                if not allow:
                    raise ConfigError(
                        f"config key {key!r} is already {old!r}; refusing to change it to {value!r} "
                        "(pass allow_val_change=True to change it)"
                    )
            changed[key] = value
        if changed:
            self._items.update(changed)
            if self._run is not None:
                self._run.record(fmt.CONFIG, ConfigFields(d=changed))

    def keep_recorded(self, key: str, value: Any, recorded: Any) -> None:
        """Hold ``value`` under ``key`` and record ``recorded`` for it: the
        part of it that changed, which readers merge (wandb's ``_wandb``,
        ``runship.schema.charts.merged``)."""
        self._items[key] = value
        if self._run is not None:
            self._run.record(fmt.CONFIG, ConfigFields(d={key: recorded}))

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        self.update({k: v for k, v in dict(d).items() if k not in self._items})

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise ConfigError(f"config keys cannot be deleted (tried {key!r})")


class Summary(_Items):
    """The run's summary: the last logged value of each key, unless set here.

    An explicit ``summary[key] = value`` overrides the logged value until the
    key is logged again.
    """

    _what = "summary"
    _hidden = "_"

    def __init__(self, run: RunRecords | None, items: dict[str, Any] | None = None):
        self._run = run
        self._store: dict[str, Any] = items if items is not None else {}

    @property
    def _items(self) -> dict[str, Any]:  # type: ignore[override]
        """The summary's items, the rows logged so far included (log() leaves the summary to a read)."""
        if self._run is not None:
            self._run.sync_summary()
        return self._store

    def __delitem__(self, key: str) -> None:
        del self._items[key]
        if self._run is not None:
            self._run.record(fmt.SUMMARY, SummaryFields({"d": {}, "del": [key]}))

    def update(self, d: Mapping[str, Any]) -> None:
        values = {key: self._plain(key, value) for key, value in dict(d).items()}
        self._items.update(values)
        if self._run is not None and values:
            self._run.record(fmt.SUMMARY, SummaryFields(d=values))
