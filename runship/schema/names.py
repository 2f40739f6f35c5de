"""Names: the one validator for every name that becomes a path.

The writer, the reader, the uploader and the server all check names here, so
a name the writer accepts is always one the server accepts, and a name from a
run directory or a request can never point outside its place. Every check is
a ``fullmatch`` (``$`` would also match before a trailing newline) with a
length bound.

- project and run ids: printable, no path separator, no control character,
  no ``..``, no leading ``.`` or whitespace, at most 128 characters;
- stream file names: ``<stream>-<session>-<segment>.msgpack``;
- file paths inside a run (``run.json``, ``files/...``): ``/``-separated
  segments of ``[A-Za-z0-9._+=@,~-]``, none ``.``/``..``, none a writer's
  temporary name; ``safe_relpath`` maps any other name onto one that is;
- sweep parameter names (they become ``--name=value`` arguments): a letter
  or ``_``, then letters, digits and ``_ - . /``, at most 128 characters.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

MAX_NAME_LEN = 128  # a project or run id
MAX_SEGMENT_LEN = 200  # one component of a file path inside a run
MAX_PATH_LEN = 512  # a file path inside a run
MAX_PATH_DEPTH = 32  # components of a file path inside a run
MAX_PARAM_LEN = 128  # a sweep parameter's name, nested names joined with '.'

# project and run ids: anything printable but separators, controls and DEL
_ID_BAD = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
# stream files: run-20261127T001036039Zrd4f10-000000.msgpack
STREAM_RE = re.compile(r"([a-z][a-z0-9_]{0,31})-([0-9A-Za-z]{1,64})-([0-9]{6,12})\.msgpack")
_SEGMENT_RE = re.compile(rf"[A-Za-z0-9._+=@,~-]{{1,{MAX_SEGMENT_LEN}}}")
_PARAM_RE = re.compile(rf"[A-Za-z_][A-Za-z0-9_./-]{{0,{MAX_PARAM_LEN - 1}}}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@,~-]+")
#: the writer's temporary files (write, then rename into place): the only
#: files the uploader leaves behind on purpose
TEMP_RE = re.compile(r"\..*\.runship-tmp-[0-9a-z]+")
_TEMP_MARK = ".runship-tmp-"


class BadName(ValueError):
    """A name that cannot be a path in a run directory."""


#: The run root when neither ``dir=`` nor $RUNSHIP_DIR/$WANDB_DIR says
#: otherwise. Not a Python identifier, so it can never be imported as a
#: namespace package in place of ``runship`` (a root named ``runship`` next
#: to a script is, once it exists, on a second run of that script).
DEFAULT_ROOT = "runship-runs"


def default_root(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("RUNSHIP_DIR") or env.get("WANDB_DIR") or DEFAULT_ROOT


def shadows_package(root: str, script_dirs: list[str]) -> bool:
    """Would a directory ``root`` be imported instead of the ``runship``
    package by a script started from one of ``script_dirs`` (the script's
    directory, the working directory)?"""
    root = os.path.realpath(root)
    if os.path.basename(root) != "runship" or os.path.isfile(os.path.join(root, "__init__.py")):
        return False
    return os.path.dirname(root) in {os.path.realpath(d) for d in script_dirs}


def check_id(value: object, what: str) -> str:
    """Check a project or run id; return it, or raise BadName (a ValueError) naming it."""
    if not isinstance(value, str):
        raise BadName(f"{what} must be a string, got {type(value).__name__}: {value!r}")
    if not value:
        raise BadName(f"{what} must not be empty")
    if len(value) > MAX_NAME_LEN:
        raise BadName(f"{what} is {len(value)} characters long, at most {MAX_NAME_LEN} allowed: {value[:40]!r}...")
    if ".." in value:
        raise BadName(f"{what} must not contain '..': {value!r}")
    if value.startswith("."):
        raise BadName(f"{what} must not start with '.': {value!r}")
    if _ID_BAD.search(value) or not value.isprintable():
        raise BadName(f"{what} must be printable and contain no path separator: {value!r}")
    if value != value.strip():
        raise BadName(f"{what} must not start or end with whitespace: {value!r}")
    return value


def safe_id(value: str, fallback: str) -> str:
    """A project or run id made from ``value`` (a directory's name, say) by
    the rules of ``check_id``: each run of separators, controls and other
    unprintable characters becomes ``_``, ``..`` becomes ``.``, leading dots
    and whitespace go, at most ``MAX_NAME_LEN`` characters; ``fallback``
    when nothing is left."""
    out = "".join(c if c.isprintable() and not _ID_BAD.match(c) else "\0" for c in value)
    out = re.sub("\0+", "_", out)
    out = re.sub(r"\.{2,}", ".", out).lstrip(". \t").strip()
    out = out[:MAX_NAME_LEN].rstrip()
    return check_id(out or fallback, "name")


def parse_stream_name(name: str) -> tuple[str, str, int] | None:
    """``(stream, session, segment)`` of a stream file's base name, else None."""
    m = STREAM_RE.fullmatch(name)
    if not m:
        return None
    return m.group(1), m.group(2), int(m.group(3))


def check_stream_name(name: str) -> str:
    if not isinstance(name, str) or parse_stream_name(name) is None:
        shown = name[:100] if isinstance(name, str) else name
        raise BadName(f"not a stream file name (<stream>-<session>-<segment>.msgpack): {shown!r}")
    return name


def is_temp_name(name: str) -> bool:
    """A writer's temporary file (see ``temp_name``)."""
    return TEMP_RE.fullmatch(name) is not None


def temp_name(final: str) -> str:
    """The temporary name a file is written under before it is renamed to
    ``final`` (a base name): hidden, and never a valid stored name."""
    return f".{final[:MAX_SEGMENT_LEN]}{_TEMP_MARK}{os.getpid():x}{os.urandom(4).hex()}"


def segment_ok(part: str) -> bool:
    return (
        part not in (".", "..")
        and _SEGMENT_RE.fullmatch(part) is not None
        and not (part.startswith(".") and _TEMP_MARK in part)
    )


def check_relpath(path: object, what: str = "path") -> str:
    """A file path inside a run: ``run.json`` or ``files/<segment>/...``."""
    if not isinstance(path, str):
        raise BadName(f"{what} must be a string, got {type(path).__name__}")
    if len(path) > MAX_PATH_LEN:
        raise BadName(f"{what} is {len(path)} characters long, at most {MAX_PATH_LEN} allowed: {path[:60]!r}...")
    if path == "run.json":
        return path
    parts = path.split("/")
    if parts[0] != "files" or len(parts) < 2:
        raise BadName(f"{what} must be run.json or files/...: {path[:100]!r}")
    if len(parts) > MAX_PATH_DEPTH:
        raise BadName(f"{what} has {len(parts)} components, at most {MAX_PATH_DEPTH} allowed: {path[:100]!r}")
    for part in parts:
        if not segment_ok(part):
            raise BadName(
                f"bad component {part[:60]!r} in {what} {path[:100]!r} "
                "(allowed: letters, digits and ._+=@,~- ; not '.', '..' or a temporary name)"
            )
    return path


def relpath_ok(path: object) -> bool:
    """Whether ``check_relpath`` takes ``path`` (a path read from a run is kept only then)."""
    try:
        check_relpath(path)
    except BadName:
        return False
    return True


def safe_segment(part: str, max_len: int = MAX_SEGMENT_LEN) -> str:
    """``part`` if it is a valid path component, else a valid one made from
    it: unsafe characters become ``_`` and a short hash of the original is
    added (so that two different names never map to the same one)."""
    if segment_ok(part) and len(part) <= max_len:
        return part
    digest = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem, dot, ext = part.rpartition(".")
    if not stem or len(ext) > 16 or _UNSAFE.search(ext):
        stem, dot, ext = part, "", ""
    stem = _UNSAFE.sub("_", stem).strip("_.") or "file"
    ext = f".{ext}" if dot else ""
    stem = stem[: max(1, max_len - len(ext) - 9)]
    return f"{stem}-{digest}{ext}"


def safe_relpath(rel: str) -> str:
    """A ``/``-separated path below ``files/`` mapped onto valid components
    (``..`` and empty components are dropped first, so the result stays
    below where it is joined)."""
    parts = [p for p in rel.replace(os.sep, "/").split("/") if p not in ("", ".", "..")]
    parts = parts[-(MAX_PATH_DEPTH - 2) :] or ["file"]
    return "/".join(safe_segment(p) for p in parts)


def check_param_name(name: object, what: str = "parameter name") -> str:
    """A sweep parameter's name, as it goes on a command line (``--name=value``):
    identifier-like, never an option or anything a shell or Python would
    read as more than a name. Returns it, or raises BadName naming it."""
    if not isinstance(name, str) or _PARAM_RE.fullmatch(name) is None:
        shown = name[:60] if isinstance(name, str) else name
        raise BadName(
            f"bad {what} {shown!r}: a letter or _ first, then letters, digits and _ - . / "
            f"(at most {MAX_PARAM_LEN} characters)"
        )
    return name
