"""What an artifact is on both sides of the format: a checked name, a type,
a description, metadata, aliases, a version once logged; and the artifact
store's layout and documents (docs/FORMAT.md, "Artifacts").

A project's artifacts live beside its runs, in ``<root>/<project>/.artifacts/``::

    blobs/sha256/<2 hex>/<64 hex>     bytes by their SHA-256 (a small file whole,
                                      a large file's CHUNK_SIZE chunks one by one)
    names/<name>/v<N>.json            version N's manifest (created once, never rewritten)
    names/<name>/digests/<64 hex>     "v<N>": the version whose contents have that digest
    names/<name>/aliases/<seq>.json   an alias moved (or removed): the highest seq wins
    names/<name>/used/v<N>/<run id>   a run used version N (use_artifact)

Every file there is created once (a private temporary file linked into place
with link(2), which fails if the name is taken) and never changed, so many
processes on many nodes write the store at once without locks. This module
holds the pure parts: names, paths, manifests and their checks; the store
itself is ``runship.store.artifacts``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import zlib
from typing import Any

from runship.schema import names

STORE_DIR = ".artifacts"  # in a project's directory (a name no run id takes)
CHUNK_SIZE = 4 * 1024 * 1024  # a file larger is stored as chunks of this size
MANIFEST_FORMAT = "runship.artifact"
MANIFEST_SCHEMA = 1
MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a manifest larger is not read
#: files and references of one version: past this, a manifest is not read nor made (500,000 files
#: of 40-character paths are already about 64 MiB; the bound is for crafted ones, tiny references)
MAX_MANIFEST_FILES = 500_000
MAX_SMALL_DOC = 64 * 1024  # an alias event, a digest or use marker
MAX_ENTRY_PATH = 1024  # characters of a file's path inside an artifact
MAX_ENTRY_DEPTH = 32
MAX_ALIAS_LEN = 128
IMPLICIT_ALIASES = ("latest",)  # never stored: ``latest`` is the highest version
_HEX64 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"v(0|[1-9][0-9]{0,8})")
_ALIAS = re.compile(r"[A-Za-z0-9_.\-+=@,~ ]{1,128}")
_SEQ = re.compile(r"([0-9]{12})\.json")


class BadArtifact(ValueError):
    """A manifest, alias or name that is not what the layout says (a
    crafted or damaged store file, or a bad argument)."""


def run_table_name(run_id: str, key: str) -> str:
    """The name of the ``run_table`` artifact of a table logged under
    ``key``: ``run-<id>-<key>``, made a valid name as wandb makes it (what is
    not a letter, digit, ``_``, ``-`` or ``.`` dropped, then ``-`` and the
    CRC-32 of the whole name, URL-safe base64, so that two keys differing
    only there do not meet)."""
    name = f"run-{run_id}-{key}"
    kept = re.sub(r"[^a-zA-Z0-9_\-.]+", "", name)
    if kept == name:
        return name
    crc = zlib.crc32(name.encode("utf-8")).to_bytes(4, "big")
    return f"{kept}-{base64.urlsafe_b64encode(crc).rstrip(b'=').decode('ascii')}"


class ArtifactBase:
    """An artifact's name and what is said about it (see the module's doc)."""

    def __init__(
        self,
        name: str,
        type: str = "unspecified",
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        **_: object,
    ):
        check_name(name)
        self.name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self.aliases: list[str] = []
        self.version: str | None = None
        self._tmp: str | None = None  # new_file: where the files it makes are written


# ---- names and references ------------------------------------------------------------------
def check_name(name: object) -> str:
    """An artifact's name, as a directory of the store takes it (not hidden:
    a name starting with ``.`` would be taken for a temporary file)."""
    if (
        not isinstance(name, str)
        or not names.segment_ok(name)
        or len(name) > names.MAX_NAME_LEN
        or name.startswith(".")
    ):
        raise BadArtifact(
            f"artifact name {name!r:.80} must be 1 to {names.MAX_NAME_LEN} letters, digits, '.', '_' or '-' "
            "(and '+=@,~'), not starting with '.'"
        )
    return name


def safe_name(text: str) -> str:
    """An artifact name made from ``text`` (a registry path's last part, a
    model's title): what ``check_name`` refuses becomes ``-``."""
    out = "".join(c if (c.isalnum() and c.isascii()) or c in "._-+=@,~" else "-" for c in text).lstrip(".")
    return out[: names.MAX_NAME_LEN] or "artifact"


def check_alias(alias: object) -> str:
    """An alias (``best``, ``production``): not a version (``v3``), not ``latest``."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias != alias.strip():
        raise BadArtifact(f"alias {alias!r:.80} must be 1 to {MAX_ALIAS_LEN} letters, digits and '._-+=@,~'")
    if _VERSION.fullmatch(alias):
        raise BadArtifact(f"alias {alias!r} would read as a version: pick another name")
    return alias


def version_index(text: str) -> int | None:
    """3 for ``v3``; None for anything else."""
    m = _VERSION.fullmatch(text)
    return int(m.group(1)) if m else None


def parse_ref(ref: str) -> tuple[str | None, str, str]:
    """``[entity/][project/]name[:alias|vN]`` as (project or None, name,
    selector: ``latest`` when none is given)."""
    if not isinstance(ref, str) or not ref:
        raise BadArtifact(f"artifact reference must be a non-empty string, got {ref!r:.80}")
    path, _, selector = ref.partition(":")
    parts = path.split("/")
    if len(parts) > 3 or not all(parts):
        raise BadArtifact(f"artifact reference {ref!r:.120} must be [entity/][project/]name[:alias or vN]")
    project = parts[-2] if len(parts) >= 2 else None
    if project is not None:
        names.check_id(project, "project")
    return project, check_name(parts[-1]), selector or "latest"


# ---- paths below <project>/.artifacts/ ----------------------------------------------------
def blob_rel(digest: str) -> str:
    return f"blobs/sha256/{check_digest(digest)[:2]}/{digest}"


def name_dir(name: str) -> str:
    return f"names/{check_name(name)}"


def manifest_rel(name: str, index: int) -> str:
    return f"{name_dir(name)}/v{int(index)}.json"


def digest_rel(name: str, digest: str) -> str:
    return f"{name_dir(name)}/digests/{check_digest(digest)}"


def alias_rel(name: str, seq: int) -> str:
    return f"{name_dir(name)}/aliases/{int(seq):012d}.json"


def alias_seq(file: str) -> int | None:
    m = _SEQ.fullmatch(file)
    return int(m.group(1)) if m else None


def use_rel(name: str, index: int, run_id: str) -> str:
    return f"{name_dir(name)}/used/v{int(index)}/{names.check_id(run_id, 'run id')}"


def is_digest(value: object) -> bool:
    """A SHA-256 digest as the store names blobs: 64 lowercase hex digits."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def check_digest(digest: object) -> str:
    if not isinstance(digest, str) or not is_digest(digest):
        raise BadArtifact(f"not a SHA-256 digest (64 lowercase hex digits): {digest!r:.80}")
    return digest


def check_entry_path(path: object) -> str:
    """A file's path inside an artifact: ``/``-separated components, none
    empty, ``.``, ``..``, or holding a backslash or a control character."""
    if not isinstance(path, str) or not 0 < len(path) <= MAX_ENTRY_PATH:
        raise BadArtifact(f"artifact file path must be 1 to {MAX_ENTRY_PATH} characters: {path!r:.80}")
    parts = path.split("/")
    if len(parts) > MAX_ENTRY_DEPTH or any(p in ("", ".", "..") or "\\" in p or not p.isprintable() for p in parts):
        raise BadArtifact(f"bad artifact file path {path!r:.120}: no empty, '.' or '..' component, no '\\\\'")
    return path


def entry_path(path: str) -> str:
    """``path`` (a name given to ``add_file``, OS separators allowed) as an artifact's file path."""
    return check_entry_path("/".join(p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".")))


# ---- manifests -----------------------------------------------------------------------------
def contents_digest(files: dict[str, dict[str, Any]], references: dict[str, dict[str, Any]]) -> str:
    """The digest of a version's contents: SHA-256 of its sorted
    ``path\\0digest\\n`` lines (files, then ``ref:``-prefixed references):
    two versions with the same files under the same paths have the same."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(f"{path}\0{files[path]['digest']}\n".encode())
    for path in sorted(references):
        ref = references[path]
        h.update(f"ref:{path}\0{ref.get('uri')}\0{ref.get('digest') or ref.get('etag') or ''}\n".encode())
    return h.hexdigest()


def encode_doc(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode_doc(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise BadArtifact(f"{what} is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadArtifact(f"{what} is not a JSON object")
    return doc


def check_manifest(doc: dict[str, Any], name: str, index: int) -> dict[str, Any]:
    """A manifest read from a store (any store, so never trusted): its
    shape, its name and version those of the file it was read from, each
    file's path, digest, size and chunks, and the contents digest."""
    where = f"{name}:v{index}"
    if doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("schema"), int):
        raise BadArtifact(f"{where}: not a runship artifact manifest")
    if doc["schema"] > MANIFEST_SCHEMA:
        raise BadArtifact(
            f"{where}: manifest schema {doc['schema']} is newer than this runship ({MANIFEST_SCHEMA}): upgrade"
        )
    if doc.get("name") != name or doc.get("version") != f"v{index}":
        raise BadArtifact(f"{where}: the manifest names {doc.get('name')!r:.80}:{doc.get('version')!r:.20}")
    files, refs = doc.get("files"), doc.get("references", {})
    if not isinstance(files, dict) or not isinstance(refs, dict):
        raise BadArtifact(f"{where}: files and references must be objects")
    check_count(where, len(files) + len(refs))
    for path, entry in files.items():
        _check_entry(where, path, entry)
    for path, ref in refs.items():
        check_entry_path(path)
        if not isinstance(ref, dict) or not isinstance(ref.get("uri"), str):
            raise BadArtifact(f"{where}: reference {path!r:.80} has no uri")
    if doc.get("digest") != contents_digest(files, refs):
        raise BadArtifact(f"{where}: the contents digest does not match its files")
    for key, kind in (("type", str), ("metadata", dict), ("aliases", list)):
        if not isinstance(doc.get(key), kind):
            raise BadArtifact(f"{where}: {key} must be a {kind.__name__}")
    return doc


def check_count(where: str, count: int) -> None:
    """A version holds at most MAX_MANIFEST_FILES files and references."""
    if count > MAX_MANIFEST_FILES:
        raise BadArtifact(f"{where}: {count:,} files and references; a version holds at most {MAX_MANIFEST_FILES:,}")


def _check_entry(where: str, path: str, entry: object) -> None:
    check_entry_path(path)
    if not isinstance(entry, dict):
        raise BadArtifact(f"{where}: file {path!r:.80} is not an object")
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadArtifact(f"{where}: file {path!r:.80} has no size")
    check_digest(entry.get("digest"))
    chunks = entry.get("chunks")
    if chunks is None:
        if size > CHUNK_SIZE:
            raise BadArtifact(f"{where}: file {path!r:.80} of {size} bytes has no chunks")
        return
    if not isinstance(chunks, list) or len(chunks) != -(-size // CHUNK_SIZE) or size <= CHUNK_SIZE:
        raise BadArtifact(
            f"{where}: file {path!r:.80} has {len(chunks) if isinstance(chunks, list) else 'no'} chunks for {size} bytes"
        )
    for c in chunks:
        check_digest(c)


def blobs_of(entry: dict[str, Any]) -> list[tuple[str, int]]:
    """(digest, size) of the blobs a manifest's file entry is stored as."""
    size = int(entry["size"])
    chunks = entry.get("chunks")
    if not chunks:
        return [(entry["digest"], size)]
    return [(c, min(CHUNK_SIZE, size - i * CHUNK_SIZE)) for i, c in enumerate(chunks)]


def alias_event(alias: str, version: str | None, t: float, run: str | None) -> dict[str, Any]:
    """An alias moved to ``version`` (None: removed) at ``t`` by ``run``."""
    return {"alias": check_alias(alias), "version": version, "t": t, "run": run}


def event_fields(event: object, where: str) -> tuple[str, str | None, float, str | None]:
    """(alias, version, t, run) of an alias event as runship writes one
    (BadArtifact for anything else)."""
    if not isinstance(event, dict):
        raise BadArtifact(f"{where}: an alias event is a JSON object")
    alias, version, t, run = (event.get(k) for k in ("alias", "version", "t", "run"))
    check_alias(alias)
    if version is not None and (not isinstance(version, str) or version_index(version) is None):
        raise BadArtifact(f"{where}: an alias event's version must be v<N> or null")
    if (
        not isinstance(t, (int, float))
        or isinstance(t, bool)
        or not math.isfinite(t)
        or not isinstance(run, (str, type(None)))
    ):
        raise BadArtifact(f"{where}: an alias event's t must be a number and its run a run id or null")
    return str(alias), version, t, run


def event_key(event: object) -> bytes | None:
    """What tells one alias event from another (its alias, version, t and run,
    other fields ignored); None for one that is not well formed."""
    try:
        return encode_doc(alias_event(*event_fields(event, "")))
    except (BadArtifact, ValueError):
        return None


def fold_aliases(events: list[tuple[int, dict[str, Any]]], versions: set[int]) -> dict[str, int]:
    """alias -> version index, from the alias events in ``seq`` order; an
    event that is not well formed, or names a version not held, is skipped."""
    out: dict[str, int] = {}
    for _seq, ev in sorted(events, key=lambda e: e[0]):
        alias, version = ev.get("alias"), ev.get("version")
        try:
            check_alias(alias)
        except BadArtifact:
            continue
        if version is None:
            out.pop(str(alias), None)
            continue
        index = version_index(version) if isinstance(version, str) else None
        if index is not None and index in versions:
            out[str(alias)] = index
    if versions:
        out["latest"] = max(versions)
    return out
