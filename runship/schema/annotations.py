"""Annotations: a run renamed, tagged or noted after the fact, by someone
other than its training process (``runship ui``, ``runship serve``,
``runship.Api``).

runship never rewrites a run's streams, so an annotation is a stream file of
its own, ``annotation-<session>-000000.msgpack`` in the run directory: one
header, one ``annotation`` record, one commit record, written whole into a
new file (``docs/FORMAT.md``, "Annotations"). Readers apply the annotations
in file-name order (session ids sort by time) over the name, tags and notes
the training process wrote: the last name and the last notes win; tags are
added and removed in order.

This module is the format's part: the limits, the check of a change asked
for (``check_change``) and of a decoded record (``check_annotation``), the
bytes of an annotation file (``pack_annotation``) and the merge
(``merge``). Reading the files of a run and writing one are the reader's
(``runship.reader.annotations``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from runship.schema import format as fmt

#: the stream (a file name's first part) and the record kind of an annotation
STREAM = "annotation"
KIND = "annotation"

MAX_NAME = 128  # characters of a run's name set by an annotation
MAX_TAG = 64  # characters of one tag
MAX_TAGS = 100  # tags of a run, and tags one annotation adds or removes
MAX_NOTES = 64 * 1024  # bytes (UTF-8) of a run's notes
MAX_BY = 200  # characters of who wrote an annotation
MAX_FILE_BYTES = 256 * 1024  # an annotation file a reader reads (larger: skipped, said)
MAX_FILES = 1000  # annotation files of a run a reader folds (later ones: skipped, said); writers stop there

FIELDS = ("name", "tags_add", "tags_remove", "notes")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOTES_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines and tabs are text


class BadAnnotation(ValueError):
    """An annotation that cannot be stored: the message names the field and why."""


def _text(value: object, what: str, limit: int, notes: bool = False) -> str:
    """A string of at most ``limit`` characters (``notes``: bytes of UTF-8,
    newlines and tabs allowed) without control characters."""
    if not isinstance(value, str):
        raise BadAnnotation(f"{what} must be a string, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8")) if notes else len(value)
    except UnicodeEncodeError:
        raise BadAnnotation(f"{what} is not valid Unicode text (a lone surrogate)") from None
    if size > limit:
        raise BadAnnotation(f"{what} is {size} {'bytes' if notes else 'characters'} long, at most {limit} allowed")
    bad = (_NOTES_CONTROL if notes else _CONTROL).search(value)
    if bad:
        raise BadAnnotation(f"{what} holds a control character (U+{ord(bad.group()):04X})")
    if not notes:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadAnnotation(f"{what} is not valid Unicode text (a lone surrogate)") from None
    return value


def check_tag(value: object, what: str = "a tag") -> str:
    tag = _text(value, what, MAX_TAG)
    if not tag.strip() or tag != tag.strip():
        raise BadAnnotation(f"{what} must not be empty or start or end with whitespace: {tag[:40]!r}")
    return tag


def _tags(value: object, what: str) -> list[str]:
    if not isinstance(value, list):
        raise BadAnnotation(f"{what} must be a list of strings, got {type(value).__name__}")
    if len(value) > MAX_TAGS:
        raise BadAnnotation(f"{what} holds {len(value)} tags, at most {MAX_TAGS} allowed")
    out: list[str] = []
    for i, tag in enumerate(value):
        tag = check_tag(tag, f"{what}[{i}]")
        if tag not in out:
            out.append(tag)
    return out


def check_change(change: object) -> dict[str, Any]:
    """The fields of an annotation from a change asked for (a request's
    body, ``Run.update()``): any of ``name`` (a string of at most 128
    characters; empty: back to the name the run was given), ``tags_add``
    and ``tags_remove`` (lists of at most 100 tags of 1 to 64 characters),
    ``notes`` (at most 64 KiB of text; empty: no notes). Raises
    BadAnnotation naming what is wrong; a key not named here is refused."""
    if not isinstance(change, Mapping):
        raise BadAnnotation(f"an annotation must be an object, got {type(change).__name__}")
    unknown = [str(k)[:40] for k in change if k not in FIELDS]
    if unknown:
        raise BadAnnotation(f"unknown field(s) {', '.join(map(repr, unknown))}: an annotation has {', '.join(FIELDS)}")
    out: dict[str, Any] = {}
    if change.get("name") is not None:
        out["name"] = _text(change["name"], "name", MAX_NAME).strip()
    for key in ("tags_add", "tags_remove"):
        if change.get(key) is not None:
            tags = _tags(change[key], key)
            if tags:
                out[key] = tags
    if change.get("notes") is not None:
        out["notes"] = _text(change["notes"], "notes", MAX_NOTES, notes=True)
    both = set(out.get("tags_add", ())) & set(out.get("tags_remove", ()))
    if both:
        raise BadAnnotation(f"tag {sorted(both)[0]!r} is both added and removed")
    if not out:
        raise BadAnnotation(f"an annotation changes something: give one of {', '.join(FIELDS)}")
    return out


def check_annotation(rec: dict[str, Any]) -> str | None:
    """What is wrong with a decoded annotation record (the fields
    ``check_change`` allows, and ``by``), or None."""
    try:
        check_change({k: rec[k] for k in FIELDS if k in rec})
        if "by" in rec and rec["by"] is not None:
            _text(rec["by"], "by", MAX_BY)
    except BadAnnotation as e:
        return str(e)
    return None


def file_name(session: str) -> str:
    return fmt.stream_file_name(STREAM, session, 0)


def pack_annotation(
    project: str, run_id: str, session: str, fields: Mapping[str, Any], by: str | None = None, t: float | None = None
) -> bytes:
    """The bytes of one annotation file: a header, the ``annotation``
    record (``fields`` from ``check_change``; ``by``: who, for people) and
    the commit record that seals them."""
    now = time.time() if t is None else t
    header = fmt.header_record(t=now, project=project, run=run_id, session=session, stream=STREAM, segment=0)
    rec: dict[str, Any] = {"k": KIND, "t": now, "n": 0, **check_change(dict(fields))}
    if by:
        rec["by"] = _text(by[:MAX_BY], "by", MAX_BY)
    batch: bytes = msgpack.packb(header) + msgpack.packb(rec)
    return batch + fmt.commit_record(len(batch), fmt.crc32(batch), now)


@dataclass
class Merged:
    """A run's name, tags and notes once its annotations are applied over
    what its training process wrote (``name`` None: the run's id stands)."""

    name: str | None = None
    tags: list[Any] = field(default_factory=list)
    notes: str | None = None
    applied: int = 0  # annotations applied
    dropped_tags: int = 0  # tags past MAX_TAGS that were not added


def merge(name: object, tags: object, notes: object, annotations: Iterable[Mapping[str, Any]]) -> Merged:
    """Apply ``annotations`` (checked records, in order) over the writer's
    ``name``, ``tags`` and ``notes``: a name or notes set by an annotation
    replace the writer's (an empty name gives the writer's back); tags are
    removed, then added, in order, never past MAX_TAGS."""
    out = Merged(
        name if isinstance(name, str) and name else None,
        list(tags) if isinstance(tags, list) else [],
        notes if isinstance(notes, str) else None,
    )
    writer_name = out.name
    for rec in annotations:
        out.applied += 1
        if isinstance(rec.get("name"), str):
            out.name = rec["name"] or writer_name
        if isinstance(rec.get("notes"), str):
            out.notes = rec["notes"]
        gone = rec.get("tags_remove") or ()
        out.tags = [t for t in out.tags if t not in gone]
        for tag in rec.get("tags_add") or ():
            if tag in out.tags:
                continue
            if len(out.tags) >= MAX_TAGS:
                out.dropped_tags += 1
                continue
            out.tags.append(tag)
    return out
