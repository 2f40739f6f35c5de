"""Saved workspaces: the document a page's layout is saved as, and its names.

A workspace is a JSON object of at most ``MAX_BYTES`` bytes, UTF-8, with
``"format": "runship.workspace/1"``; it is stored as
``<root>/<project>/.workspaces/<name>.json`` (the all-projects view's at
``<root>/.workspaces/``), the default as ``.workspaces/.default.json``
(``{"name": N}``). See docs/FORMAT.md, "Saved workspaces". Readers keep
the fields they do not know. Everything here checks what a request or a
file hands over: the name (it becomes a file name), the size, the nesting
depth (checked before the text is parsed: a deep ``[[[...`` never reaches
the parser's recursion) and the format field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runship.schema.names import BadName, check_id

FORMAT = "runship.workspace/1"
FORMAT_PREFIX = "runship.workspace/"
MAX_BYTES = 1024 * 1024  # a document, as sent and as stored
MAX_DEPTH = 64  # nesting of arrays and objects in a document
MAX_WORKSPACES = 1000  # a listing shows at most this many of one project
DIR = ".workspaces"  # beside the runs of a project (or of the root: the all-projects view)
DEFAULT_FILE = ".default.json"
SUFFIX = ".json"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")


class BadWorkspace(ValueError):
    """A workspace document or name that cannot be stored (what was wrong)."""


def check_name(name: object) -> str:
    """A workspace's name: a letter or digit, then letters, digits, space,
    ``.``, ``_`` and ``-``, at most 100 characters in all (it becomes a
    file name: no separator, no leading dot)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        shown = name[:60] if isinstance(name, str) else type(name).__name__
        raise BadWorkspace(
            f"workspace name {shown!r}: give 1 to 100 characters, letters, digits, space, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_project(project: str | None) -> str | None:
    """A project's name (None or empty: the all-projects view)."""
    if project is None or project == "":
        return None
    try:
        return check_id(project, "project")
    except BadName as e:
        raise BadWorkspace(str(e)) from None


def file_name(name: str) -> str:
    """The file a workspace is stored in (its name checked)."""
    return check_name(name) + SUFFIX


def name_of_file(file: str) -> str | None:
    """The workspace a file of ``.workspaces/`` holds, None for any other file."""
    if not file.endswith(SUFFIX) or file.startswith("."):
        return None
    name = file[: -len(SUFFIX)]
    return name if NAME_RE.fullmatch(name) else None


def check_depth(text: str, most: int = MAX_DEPTH) -> None:
    """BadWorkspace when arrays and objects nest deeper than ``most`` (the
    strings taken out first: brackets in them do not count)."""
    depth = 0
    for m in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > most:
                raise BadWorkspace(f"the workspace nests arrays and objects deeper than {most} levels")
        else:
            depth -= 1


def parse(data: bytes, what: str = "the workspace") -> dict[str, Any]:
    """The document in ``data`` (a request's body, a file's bytes), checked:
    at most MAX_BYTES, UTF-8 JSON, nesting bounded, an object with the
    format field. BadWorkspace naming what was wrong."""
    if len(data) > MAX_BYTES:
        raise BadWorkspace(f"{what} is {len(data)} bytes, at most {MAX_BYTES} allowed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadWorkspace(f"{what} is not UTF-8 (byte {e.start})") from None
    check_depth(text)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise BadWorkspace(f"{what} is not JSON: {e}"[:300]) from None
    return check_document(doc, what)


def check_document(doc: object, what: str = "the workspace") -> dict[str, Any]:
    """``doc`` when it is a workspace object of a format this reads."""
    if not isinstance(doc, dict):
        raise BadWorkspace(f"{what} must be a JSON object, got {type(doc).__name__}")
    fmt = doc.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith(FORMAT_PREFIX):
            raise BadWorkspace(f"{what} is of format {fmt[:60]!r}, newer than this runship reads ({FORMAT})")
        raise BadWorkspace(f'{what} needs "format": "{FORMAT}", got {str(fmt)[:60]!r}')
    for key in ("runs", "charts"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], dict):
            raise BadWorkspace(f"{what}'s {key!r} must be an object, got {type(doc[key]).__name__}")
    return doc


def stamped(doc: dict[str, Any], name: str, project: str | None, saved_at: float) -> bytes:
    """The bytes a document is stored as: its name, project and time of
    saving set by the store (whatever the sender put there)."""
    out = {**doc, "format": FORMAT, "name": name, "project": project, "saved_at": round(saved_at, 3)}
    data = json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) > MAX_BYTES:
        raise BadWorkspace(f"the workspace is {len(data)} bytes once stamped, at most {MAX_BYTES} allowed")
    return data


def parse_default(data: bytes) -> str | None:
    """The default workspace's name in a ``.default.json``; None if it holds none (or garbage)."""
    try:
        value = json.loads(data[:4096].decode("utf-8")).get("name") if len(data) <= 4096 else None
        return check_name(value) if value is not None else None
    except (ValueError, AttributeError):
        return None
