"""Artifacts sent with the runs: each project's ``<root>/<project>/.artifacts/``
goes to the target's (``runship.store.artifact_remote.area_of``: an object
store's ``<url>/<project>/.artifacts/``, a server's ``/v1/artifacts``, a
directory's), file by file, what it lacks only.

Every file of the store is immutable and named for what it holds, so a copy
needs no multipart state: a blob the target holds (with the right size) is
never sent again, and an upload cut anywhere goes on where it stopped. The
order keeps the target whole at every moment: blobs first; a manifest only
once every blob it names is there (asked of the target, for each blob not
sent or seen there in this pass: a gc there may have removed one sent
before; it goes again); then digest files, alias events and use markers,
each only of a version the target holds with these contents. Nothing there
is ever replaced: a different manifest under the same version number (two
roots that logged one artifact) is a failure named in the pass's report,
left as it is, and its alias events and use markers stay here (they would
name the other root's version). An alias event is appended on the target
at its next free seq (another root may have moved aliases of the name),
with its own alias, version, time and run; the events of one alias go in
the order they were made, one waiting for its version holding back the
later ones.

What went up is kept in the state (``derived`` rows, run ``.artifacts``:
path -> size, an alias event by its path here), so that a pass asks the
target little about files it sent before (``--verify-remote`` asks again:
an alias event is then found among the target's by its fields). Only
files of the layout are read (``parse_rel``): a link, FIFO or other odd
file, or a name the layout has no place for, is skipped with a warning
naming it, never followed or sent; a blob whose bytes are not its digest,
or a manifest that fails its checks, likewise. ``dry_run``: what would be sent is listed, the target not asked.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runship import safefile
from runship.schema import artifacts as sa
from runship.schema.artifacts import BadArtifact
from runship.schema.names import BadName, check_id
from runship.store import Backend, TargetError
from runship.store.artifact_remote import AreaRefused, append_events, area_of, parse_rel, put_once
from runship.store.artifacts import Area
from runship.uploader.projects import project_dirs
from runship.uploader.state import State

Skip = Callable[[str, str], None]  # (path, why): a file not sent on purpose
Fail = Callable[[str, str], None]  # (what, why): the target refused it; the pass goes on
STATE_RUN = sa.STORE_DIR  # the state's "run" of a project's artifact files (no run id starts with '.')


@dataclass
class Sent:
    """What a pass sent (or, in a dry run, would send)."""

    files: int = 0  # files created on the target (blobs and documents)
    blobs: int = 0
    bytes: int = 0
    pending: list[tuple[str, str, int]] = field(default_factory=list)  # dry run: (project/.artifacts, path, bytes)


@dataclass
class Local:
    """The files of one project's ``.artifacts``, by what the layout says they are."""

    blobs: list[tuple[str, int, str]] = field(default_factory=list)  # (rel, size, digest)
    manifests: list[tuple[str, int, str, int]] = field(default_factory=list)  # (rel, size, name, index)
    digests: list[tuple[str, int, str]] = field(default_factory=list)  # (rel, size, name)
    aliases: list[tuple[str, int, str, int]] = field(default_factory=list)  # (rel, size, name, seq)
    uses: list[tuple[str, int, str, int]] = field(default_factory=list)  # (rel, size, name, index)

    def __bool__(self) -> bool:
        return bool(self.blobs or self.manifests or self.digests or self.aliases or self.uses)


class _Refused(Exception):
    """The target refused this project's artifacts (a token's scope)."""


def send(
    target: Backend,
    state: State,
    roots: list[str],
    project: str | None,
    skip: Skip,
    fail: Fail,
    stop: threading.Event,
    *,
    dry_run: bool = False,
    verify: bool = False,
) -> Sent:
    """Copy to the target what the artifact stores of the roots' projects
    (of ``project`` only, if given) hold and it lacks. TargetError (the
    target not answering) passes up; a refusal goes to ``fail``."""
    out = Sent()
    area = area_of(target)
    if area is None:
        return out  # a store of runs only (mem://, for tests)
    for where, pfd, name in _projects(roots, project):
        folder = os.path.join(where, sa.STORE_DIR)
        try:
            afd = safefile.open_subdir(pfd, sa.STORE_DIR)
        except safefile.NotRegular as e:
            skip(folder, f"a {e.kind}, not a directory: not followed")
            continue
        except OSError:
            continue  # no artifact here
        finally:
            os.close(pfd)
        try:
            if stop.is_set():
                break
            found = _scan(afd, folder, skip)
            if not found:
                continue
            copy = _Copy(area, target.url, state, name, afd, folder, skip, fail, out)
            copy.dry_run, copy.known = dry_run, {} if verify else state.derived(target.url, name, STATE_RUN)
            try:
                copy.run(found, stop)
            except _Refused:
                continue
        finally:
            os.close(afd)
    return out


def _projects(roots: list[str], only: str | None) -> Iterator[tuple[str, int, str]]:
    """(the project's directory, a descriptor of it, its name) of every
    project of the roots (``projects.project_dirs``)."""
    for root, rel, name in project_dirs(roots, only, _project_ok):
        try:
            fd = safefile.open_dir(root) if rel is None else safefile.open_below(root, rel)
        except OSError:
            continue
        yield (root if rel is None else os.path.join(root, rel)), fd, name


def _project_ok(name: str) -> bool:
    try:
        check_id(name, "project")
        return True
    except BadName:
        return False


def _scan(afd: int, where: str, skip: Skip) -> Local:
    """The files of a project's ``.artifacts`` (``afd``, at ``where``) that
    the layout has a place for; anything else named to ``skip`` (never followed)."""
    out = Local()
    try:
        for rel, kind, size in safefile.walk(afd):
            if any(p.startswith(".") for p in rel.split("/")):
                continue  # a temporary file of a write in progress
            path = os.path.join(where, rel)
            if kind != "file":
                skip(path, f"a {kind}, not a regular file: not followed")
                continue
            try:
                what = parse_rel(rel)
            except BadArtifact:
                skip(path, "not a file of the artifact store's layout")
                continue
            if what[0] == "blob":
                out.blobs.append((rel, size, what[1]))
            elif what[0] == "manifest":
                out.manifests.append((rel, size, what[1], what[2]))
            elif what[0] == "digest":
                out.digests.append((rel, size, what[1]))
            elif what[0] == "alias":
                out.aliases.append((rel, size, what[1], what[2]))
            else:
                out.uses.append((rel, size, what[1], what[2]))
    except OSError as e:  # a folder that cannot be read: what was found goes, the rest next pass
        skip(where, f"cannot be read in full: {e.strerror or e}")
    out.manifests.sort(key=lambda m: (m[2], m[3]))
    out.aliases.sort(key=lambda a: (a[2], a[3]))  # each name's events in the order they were made
    return out


class _Copy:
    """One project's artifacts copied to the target's area."""

    def __init__(
        self,
        area: Area,
        url: str,
        state: State,
        project: str,
        afd: int,
        where: str,
        skip: Skip,
        fail: Fail,
        out: Sent,
    ):
        self.area, self.url, self.state, self.project = area, url, state, project
        self.afd, self.where = afd, where
        self.skip, self.fail, self.out = skip, fail, out
        self.dry_run = False
        self.known: dict[str, str] = {}
        self.held: set[str] = set()  # digests of the blobs the target holds: sent or seen there in this pass
        self.versions: set[tuple[str, int]] = set()  # (name, index) of the manifests the target holds (these bytes)
        self.local: set[tuple[str, int]] = set()  # (name, index) of the manifests here
        self.never: set[tuple[str, int]] = set()  # ... that will not go: another's there, or not readable here
        self.waiting: set[tuple[str, str]] = set()  # (name, alias) whose next event waits for its version
        self.batch: dict[str, list[tuple[str, int, int, dict[str, Any]]]] = {}  # name -> its events to send

    def run(self, found: Local, stop: threading.Event) -> None:
        for rel, size, digest in found.blobs:
            if stop.is_set():
                return
            self._guarded(rel, self._blob, rel, size, digest)
        self.local = {(name, index) for _, _, name, index in found.manifests}
        for rel, size, name, index in found.manifests:
            if stop.is_set():
                return
            self._guarded(rel, self._manifest, rel, size, name, index)
        for rel, size, name in found.digests:
            if stop.is_set():
                return
            self._guarded(rel, self._doc, "digest", rel, size, name)
        for rel, size, name, _seq in found.aliases:
            self._guarded(rel, self._alias, rel, size, name)
        for name, events in self.batch.items():
            if stop.is_set():
                return
            self._guarded(f"{sa.name_dir(name)}/aliases", self._send_events, name, events)
        for rel, size, name, index in found.uses:
            if stop.is_set():
                return
            if (name, index) in self.versions:  # else: its version is not there (yet), or another's is
                self._guarded(rel, self._doc, "use", rel, size, name)

    def _guarded(self, rel: str, fn: Callable[..., None], *args: Any) -> None:
        """One file; a refusal of it (or of the project: _Refused) named, the rest goes on."""
        path = os.path.join(self.where, rel)
        try:
            fn(*args)
        except AreaRefused as e:
            if e.status in (401, 403, 404):  # the token's scope, or a server without artifacts: the whole project
                self.fail(f"{self.project} (artifacts)", f"{e} (HTTP {e.status})")
                raise _Refused() from None
            self.fail(path, str(e))
        except BadArtifact as e:
            self.fail(path, str(e))
        except TargetError as e:
            if e.retryable:
                raise  # the target not answering: the pass's failure
            self.fail(path, str(e))
        except safefile.TooLarge as e:
            self.skip(path, str(e))
        except OSError as e:  # gone, unreadable, a link put in the way since the scan: not followed
            self.skip(path, f"cannot be read: {e.strerror or e}")

    # ---- each kind of file --------------------------------------------------------------
    def _up(self, rel: str, size: int) -> bool:
        return self.known.get(rel) == str(size)

    def _done(self, rel: str, size: int) -> None:
        if not self.dry_run:
            self.state.set_derived(self.url, self.project, STATE_RUN, rel, str(size))

    def _pending(self, rel: str, size: int) -> None:
        self.out.pending.append((f"{self.project}/{sa.STORE_DIR}", rel, size))

    def _sent(self, rel: str, size: int, blob: bool = False) -> None:
        self.out.files += 1
        self.out.blobs += int(blob)
        self.out.bytes += size
        self._done(rel, size)

    def _read(self, rel: str, limit: int) -> bytes:
        """A file of the project's ``.artifacts`` (no link followed on the way)."""
        with os.fdopen(safefile.open_regular(self.afd, rel), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise safefile.TooLarge(f"larger than such a file may be ({limit:,} bytes)")
        return data

    def _blob(self, rel: str, size: int, digest: str) -> None:
        if self._up(rel, size):
            return  # sent before; checked on the target before a new manifest names it (a gc may have removed it)
        if size > sa.CHUNK_SIZE:
            self.skip(os.path.join(self.where, rel), f"{size:,} bytes: a blob holds at most {sa.CHUNK_SIZE:,}")
            return
        if self.dry_run:
            self.held.add(digest)
            self._pending(rel, size)
            return
        if self.area.blob_size(self.project, digest) == size:  # sent before this state knew it
            self.held.add(digest)
            self._done(rel, size)
            return
        data = self._read(rel, sa.CHUNK_SIZE)
        if hashlib.sha256(data).hexdigest() != digest:
            self.skip(os.path.join(self.where, rel), "damaged: its bytes are not its digest; not sent")
            return
        self.area.put_blob(self.project, digest, data)
        self.held.add(digest)
        self._sent(rel, len(data), blob=True)

    def _manifest(self, rel: str, size: int, name: str, index: int) -> None:
        if self._up(rel, size):
            self.versions.add((name, index))
            return
        data = self._read(rel, sa.MAX_MANIFEST_BYTES)
        try:
            manifest = sa.check_manifest(sa.decode_doc(data, f"{name}:v{index}"), name, index)
        except BadArtifact as e:
            self.never.add((name, index))
            self.skip(os.path.join(self.where, rel), f"not a manifest runship reads ({e}); not sent")
            return
        if self.dry_run:
            self.versions.add((name, index))
            self._pending(rel, len(data))
            return
        missing = self._missing(manifest)
        if missing:
            self.fail(
                f"{self.where}/{rel}",
                f"{len(missing)} of the blobs of {name}:v{index} are neither here nor on {self.url} "
                f"(first: {missing[0]}): the version is not sent",
            )
            return
        put = put_once(self.area, self.project, rel, data)
        if put.made or put.identical or put.digest == manifest["digest"]:
            self.versions.add((name, index))
            if put.made:
                self._sent(rel, len(data))
            else:
                self._done(rel, size)
            return
        self.never.add((name, index))  # nor its alias events and use markers: they would name theirs
        self.fail(
            f"{self.where}/{rel}",
            f"{self.url}/{self.project} holds another {name}:v{index} (other contents): two roots "
            "logged versions of one artifact; left as it is there",
        )

    def _missing(self, manifest: dict[str, Any]) -> list[str]:
        """The digests of the blobs a manifest names that the target does not
        hold and that could not be sent from here now. Every blob not sent or
        seen there in this pass is asked for: the state says what was sent,
        not what is still there (``runship artifact gc`` on the target)."""
        out = []
        seen: set[str] = set()
        for entry in manifest["files"].values():
            for digest, size in sa.blobs_of(entry):
                if digest in self.held or digest in seen:
                    continue
                seen.add(digest)
                if self.area.blob_size(self.project, digest) == size or self._resend(digest, size):
                    self.held.add(digest)
                else:
                    out.append(digest)
        return out

    def _resend(self, digest: str, size: int) -> bool:
        """Send a blob the target lacks from this store: False if it is not here whole."""
        rel = sa.blob_rel(digest)
        try:
            data = self._read(rel, sa.CHUNK_SIZE)
        except (OSError, safefile.TooLarge):
            return False
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            return False
        self.area.put_blob(self.project, digest, data)
        self._sent(rel, len(data), blob=True)
        return True

    def _doc(self, kind: str, rel: str, size: int, name: str) -> None:
        """A digest file or use marker (of a version the target holds, these bytes)."""
        if self._up(rel, size):
            return
        data = self._read(rel, sa.MAX_SMALL_DOC)
        if kind == "digest":
            index = sa.version_index(data.decode("ascii", "replace"))
            if index is None:
                self.skip(os.path.join(self.where, rel), "not a digest file (v<N>); not sent")
                return
            if (name, index) not in self.versions:
                return  # its version is not on the target (yet): a later pass
        else:
            try:
                sa.decode_doc(data, rel)
            except BadArtifact as e:
                self.skip(os.path.join(self.where, rel), f"{e}; not sent")
                return
        if self.dry_run:
            self._pending(rel, len(data))
            return
        if put_once(self.area, self.project, rel, data).made:
            self._sent(rel, len(data))
        else:  # there already: another digest file or use marker of the same version is as good
            self._done(rel, size)

    def _alias(self, rel: str, size: int, name: str) -> None:
        """An alias event: kept for ``_send_events`` if its version is on the
        target with these contents; one of a version not there yet holds back
        the later events of its alias (to a later pass), so that they land
        in order."""
        if self._up(rel, size):
            return
        data = self._read(rel, sa.MAX_SMALL_DOC)
        try:
            alias, version, t, run = sa.event_fields(sa.decode_doc(data, rel), rel)
        except BadArtifact as e:
            self.skip(os.path.join(self.where, rel), f"{e}; not sent")
            return
        if (name, alias) in self.waiting:
            return
        if version is not None:
            index = sa.version_index(version)
            if (name, index) not in self.versions:
                if (name, index) in self.local and (name, index) not in self.never:
                    self.waiting.add((name, alias))  # its version goes in a later pass: it, and what follows, then
                return  # a version not here, or another's there: never sent
        if self.dry_run:
            self._pending(rel, len(data))
            return
        self.batch.setdefault(name, []).append((rel, size, len(data), sa.alias_event(alias, version, t, run)))

    def _send_events(self, name: str, events: list[tuple[str, int, int, dict[str, Any]]]) -> None:
        """A name's alias events appended on the target, in order, after those
        there (its seqs, not this store's: another root may have moved aliases
        of this name); one the target holds already (its alias, version, t and
        run: sent by a pass that stopped before its state row) not again. Two
        uploads of one root at once (two states) may both append one: the
        same move again, after the other's; the rest of that alias's events
        follow it, so that only a pass cut between them leaves the alias
        behind until the next. Accepted: one root is uploaded by one upload."""
        seqs = append_events(self.area, self.project, name, [ev for _, _, _, ev in events])
        for (rel, size, n, _), seq in zip(events, seqs):
            if seq is None:
                self._done(rel, size)
            else:
                self._sent(rel, n)
