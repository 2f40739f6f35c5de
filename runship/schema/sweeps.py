"""A sweep directory's layout, as the agents write it and the uploader sends it:
``<root>/<project>/.sweeps/<sweep id>/`` holding ``spec.json``,
``claims/<index>.<attempt>[.interrupted]``, ``results/<index>.json`` and
``progress/<index>.<attempt>`` (docs/FORMAT.md, "Sweeps"). The names only:
``runship.sweep.store`` reads and writes the files."""

from __future__ import annotations

SWEEPS = ".sweeps"
MAX_FILE_BYTES = 1 << 20  # any file of a sweep directory, read
MAX_INDEX_DIGITS = 7  # claims/ and results/ names: a trial index below 10^7, an attempt below 10^7
SUBDIRS = ("claims", "results", "progress")
INTERRUPTED = ".interrupted"  # claims/<index>.<attempt>.interrupted: an attempt released by its stopped agent


def is_sweep_file(rel: str) -> bool:
    """Is ``rel`` (relative to a sweep directory) one of a sweep's files:
    ``spec.json``, ``claims/<index>.<attempt>[.interrupted]``,
    ``results/<index>.json``, ``progress/<index>.<attempt>``? (What the
    uploader sends and a remote status reads; nothing else is.)"""
    if rel == "spec.json":
        return True
    sub, slash, name = rel.partition("/")
    parsed = index_name(name, ".") if slash and "/" not in name else None
    if parsed is None:
        return False
    rest = parsed[1]
    if sub == "results":
        return rest == "json"
    if sub == "claims" and rest.endswith(INTERRUPTED):
        rest = rest[: -len(INTERRUPTED)]
    return sub in ("claims", "progress") and rest.isascii() and rest.isdigit() and len(rest) <= MAX_INDEX_DIGITS


def index_name(name: str, sep: str) -> tuple[int, str] | None:
    """(index, the rest) of a claim (``<index>.<attempt>``) or result (``<index>.json``) name."""
    index, dot, rest = name.partition(sep)
    if not dot or not index.isascii() or not index.isdigit() or len(index) > MAX_INDEX_DIGITS:
        return None
    return int(index), rest
