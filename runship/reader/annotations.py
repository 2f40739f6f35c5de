"""A run's annotations (name, tags and notes set after the fact), read and
merged for every reader (``RunView``: ``runship show``, ``Api``, the web
app, listings). Writing them is ``runship.reader.annotate``'s.

The format is ``runship.schema.annotations``'s (``docs/FORMAT.md``,
"Annotations"). An annotation file is input like any other stream file:
it is read only when it is a regular file (no link is followed, a FIFO
never blocks) of at most ``MAX_FILE_BYTES``; at most ``MAX_FILES`` of a
run are read; a record that fails its check is skipped. Each is said in
the run's problems, never raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runship import safefile
from runship.reader.stream import Problem, StreamFile, iter_records
from runship.schema import annotations as schema
from runship.store import RunSource

KEPT_NOTES = 200  # characters kept of notes that later notes replaced


@dataclass
class Annotations:
    """The annotations of a run, checked, in the order they apply, and what
    was found while reading them."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # of the files read

    def supersede_notes(self) -> None:
        """Later notes replace these: the record that set the last ones
        keeps a beginning only (``notes_chars``: how long they were), so
        that what is kept of a run's annotations stays small."""
        for rec in reversed(self.records):
            notes = rec.get("notes")
            if isinstance(notes, str):
                if len(notes) > KEPT_NOTES:
                    rec["notes_chars"] = len(notes)
                    rec["notes"] = notes[:KEPT_NOTES] + "…"
                return

    def merged(self, meta: dict[str, Any]) -> schema.Merged:
        """``meta``'s name, tags and notes (the writer's) with the annotations applied."""
        return schema.merge(meta.get("name"), meta.get("tags"), meta.get("notes"), self.records)


def read_annotations(source: RunSource, files: list[StreamFile], since: str | None = None) -> Annotations:
    """The annotations of a run from its ``annotation`` stream files (in
    session order). ``since``: the session that last reset the run; the
    annotations made before it went with the run it replaced."""
    out = Annotations()
    kept = [sf for sf in files if since is None or sf.session >= since]
    for i, sf in enumerate(kept):
        if i >= schema.MAX_FILES:
            out.problems.append(
                Problem(
                    sf.path,
                    0,
                    "not-kept",
                    f"{len(kept) - i} annotation files past the first {schema.MAX_FILES} not read",
                )
            )
            break
        for rec in _read_one(source, sf, out.problems):
            if isinstance(rec.get("notes"), str):
                out.supersede_notes()
            out.records.append(rec)
        out.sessions.append(sf.session)
    return out


def _read_one(source: RunSource, sf: StreamFile, problems: list[Problem]) -> Iterator[dict[str, Any]]:
    """The checked annotation records of one file (problems said, not raised)."""
    kind, size = source.kind(sf.name), source.size(sf.name)
    if kind != "file":
        problems.append(Problem(sf.path, 0, "not-regular", f"an annotation file that is a {kind}: not read"))
        return
    if size is not None and size > schema.MAX_FILE_BYTES:
        problems.append(
            Problem(
                sf.path,
                0,
                "not-kept",
                f"an annotation file of {size} bytes (at most {schema.MAX_FILE_BYTES}): not read",
            )
        )
        return
    try:
        data = source.read(sf.name, schema.MAX_FILE_BYTES)
    except safefile.NotRegular as e:
        problems.append(Problem(sf.path, 0, "not-regular", f"an annotation file that is a {e.kind}: not read"))
        return
    except ValueError as e:
        problems.append(Problem(sf.path, 0, "not-kept", f"an annotation file not read: {e}"))
        return
    except OSError as e:
        problems.append(Problem(sf.path, 0, "unreadable", f"an annotation file not read: {e.strerror or e}"))
        return
    sf.reset()
    found = [rec for rec in iter_records(data, sf) if rec.get("k") == schema.KIND]
    sf.size = len(data)
    problems.extend(sf.problems)
    yield from found
