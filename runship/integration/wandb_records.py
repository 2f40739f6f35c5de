"""The records of wandb's run log, decoded from protobuf's wire format.

Only the fields ``runship import wandb`` uses are read, by their numbers in
wandb's ``wandb_internal.proto`` (stable across wandb's releases); every
other field is skipped by its wire type. So no wandb package is needed,
and a record is decoded by a few bounded loops: its bytes (at most
``wandb_log.MAX_RECORD_BYTES``) are walked once, nested messages as ranges
of them, never copied; a record holds at most ``MAX_RECORD_ITEMS`` items
and an item's key path at most ``MAX_KEY_PARTS`` parts, checked as they
are decoded (two bytes of log could otherwise make a Python object of a
hundred). Bytes that are not a record raise ValueError.

Record: history 2, summary 3, config 5, run 17, exit 18 (one of them).
HistoryRecord.item 1, SummaryRecord.update 1, ConfigRecord.update 1: items
of key 1, nested_key 2 (repeated), value_json 16. RunRecord: run_id 1,
project 3, config 4, run_group 6, job_type 7, display_name 8, notes 9,
tags 10 (repeated). RunExitRecord: exit_code 1 (int32).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runship.integration.protowire import FIXED32, FIXED64, LENGTH, VARINT, varint
from runship.schema import limits, values

HISTORY, SUMMARY, CONFIG, RUN, EXIT = 2, 3, 5, 17, 18
_NOT_RECORD_TYPE = {1, 16, 19, 200}  # Record.num, control, uuid, _info: beside the record's type
_KINDS = {HISTORY: "history", SUMMARY: "summary", CONFIG: "config", RUN: "run", EXIT: "exit"}
_RUN_TEXT = {1: "id", 3: "project", 6: "group", 7: "job_type", 8: "name", 9: "notes"}

#: parts of one item's key path (nested_key): the nesting a run keeps
MAX_KEY_PARTS = values.MAX_DEPTH
#: items of one record: the format's limit on the values of one record
MAX_RECORD_ITEMS = limits.MAX_ITEMS

Item = tuple[tuple[str, ...], str]  # (key path, value as JSON text)

__all__ = ["decode"]


def _fields(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value, end of value) of each field of the
    message ``data[pos:end]``: a varint's value, or a length-delimited
    field's start (its bytes are ``data[value:end of value]``); fixed-size
    fields are skipped."""
    while pos < end:
        tag, pos = varint(data, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            value, pos = varint(data, pos, end)
            yield number, wire, value, pos
        elif wire == LENGTH:
            length, start = varint(data, pos, end)
            pos = start + length
            if pos > end:
                raise ValueError(f"field {number} runs past its message")
            yield number, wire, start, pos
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
            if pos > end:
                raise ValueError(f"field {number} runs past its message")
        else:
            raise ValueError(f"field {number} has wire type {wire}, not one of wandb's records")


def _text(data: bytes, start: int, end: int) -> str:
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("a string that is not UTF-8") from None


def _skip(data: bytes, pos: int, end: int, wire: int) -> int:
    """The position after a field's value of wire type ``wire`` at ``pos``."""
    if wire == VARINT:
        return varint(data, pos, end)[1]
    if wire == LENGTH:
        length, pos = varint(data, pos, end)
        return pos + length
    if wire in (FIXED64, FIXED32):
        return pos + (8 if wire == FIXED64 else 4)
    raise ValueError(f"a field of wire type {wire}, not one of wandb's records")


def _field(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start, stop) of the field at ``pos``: a length-delimited
    field's value is ``data[start:stop]`` (``stop`` may lie past ``end``:
    the caller says what ran past what); a field of another wire type is
    skipped (``start == stop``, the position after it). The hot loop of an
    import (millions of items): tags of up to two bytes and lengths of one
    are read inline."""
    tag = data[pos]
    pos += 1
    if tag >= 0x80:
        if pos < end and data[pos] < 0x80:
            tag = (tag & 0x7F) | data[pos] << 7
            pos += 1
        else:
            tag, pos = varint(data, pos - 1, end)
    if tag & 7 != LENGTH:
        pos = _skip(data, pos, end, tag & 7)
        return tag, pos, pos
    length = data[pos] if pos < end else 0x80
    if length < 0x80:
        pos += 1
    else:
        length, pos = varint(data, pos, end)
    return tag, pos, pos + length


def _item(data: bytes, pos: int, end: int) -> Item:
    """A HistoryItem, SummaryItem or ConfigItem: (its key path, its
    value_json), strings decoded in place (UnicodeDecodeError is a
    ValueError)."""
    key, value = "", ""
    nested: list[str] = []
    while pos < end:
        tag, pos, stop = _field(data, pos, end)
        if tag & 7 != LENGTH:
            continue
        if stop > end:
            raise ValueError("a field runs past its message")
        if tag == 0x82:  # 16, value_json
            value = data[pos:stop].decode()
        elif tag == 0x12:  # 2, nested_key
            if len(nested) >= MAX_KEY_PARTS:
                raise ValueError(f"a key of more than {MAX_KEY_PARTS} parts")
            nested.append(data[pos:stop].decode())
        elif tag == 0x0A:  # 1, key
            key = data[pos:stop].decode()
        pos = stop
    if pos > end:
        raise ValueError("a field runs past its message")
    return ((key,) if key else tuple(nested)), value


def _items(data: bytes, pos: int, end: int, field: int = 1) -> list[Item]:
    """The items of a History-, Summary- or ConfigRecord (``field``: item or update)."""
    wanted = field << 3 | LENGTH
    out: list[Item] = []
    while pos < end:
        tag, pos, stop = _field(data, pos, end)
        if tag != wanted:
            pos = stop
            continue
        if stop > end:
            raise ValueError("an item runs past its record")
        if len(out) >= MAX_RECORD_ITEMS:
            raise ValueError(f"more than {MAX_RECORD_ITEMS} items in one record")
        out.append(_item(data, pos, stop))
        pos = stop
    if pos > end:
        raise ValueError("a field runs past its record")
    return out


def _run(data: bytes, pos: int, end: int) -> dict[str, Any]:
    run: dict[str, Any] = {"tags": [], "config": []}
    for number, wire, start, stop in _fields(data, pos, end):
        if wire != LENGTH:
            continue
        if number in _RUN_TEXT:
            run[_RUN_TEXT[number]] = _text(data, start, stop)
        elif number == 10:
            if len(run["tags"]) >= MAX_RECORD_ITEMS:
                raise ValueError(f"more than {MAX_RECORD_ITEMS} tags in one record")
            run["tags"].append(_text(data, start, stop))
        elif number == 4:
            run["config"] = _items(data, start, stop)
    return run


def _exit_code(data: bytes, pos: int, end: int) -> int:
    code = 0
    for number, wire, value, _ in _fields(data, pos, end):
        if (number, wire) == (1, VARINT):
            code = value & 0xFFFFFFFF  # an int32, sign-extended to 10 bytes when negative
            code = code - (1 << 32) if code >= 1 << 31 else code
    return code


def decode(data: bytes) -> tuple[str | None, Any]:
    """(kind, content) of one record: ("history", [items]), ("summary",
    [items]), ("config", [items]), ("run", {id, project, ..., tags, config}),
    ("exit", code); (None, None) for a record of any other kind."""
    kind, at = 0, (0, 0)
    for number, wire, start, stop in _fields(data, 0, len(data)):
        if number in _NOT_RECORD_TYPE:
            continue
        if wire == LENGTH:
            kind, at = number, (start, stop)  # a oneof: the last one set wins, as protobuf's
        elif number in _KINDS:
            raise ValueError(f"field {number} of a record is not a message")
    if kind in (HISTORY, SUMMARY, CONFIG):
        return _KINDS[kind], _items(data, *at)
    if kind == RUN:
        return "run", _run(data, *at)
    if kind == EXIT:
        return "exit", _exit_code(data, *at)
    return None, None
