"""Files under a run's ``files/``: save(), save_code, log_code, and the
``run_table`` artifact of a logged table (other artifacts: artifacts.py).

Everything here copies (never symlinks: the run directory must stay a
snapshot when the source changes or vanishes), writes to a temporary name
and renames, and runs on the writer thread, so a multi-gigabyte checkpoint
never blocks training. Each copy is recorded in the run stream as a ``file``
record with its size and SHA-256.

glob, hashlib, subprocess and tempfile are imported where used: this module
is imported by ``import runship``, which must stay light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runship import safefile
from runship.schema import format as fmt
from runship.schema import names, redact
from runship.schema.artifacts import run_table_name
from runship.schema.records import ArtifactFields, CodeFields

if TYPE_CHECKING:
    from runship.writer.ports import RunFiles

POLICIES = ("live", "now", "end")
LIVE_CHECK_SECONDS = 2.0
_CODE_SUFFIXES = (".py",)
_CODE_NAMES = ("Dockerfile", "requirements.txt", "environment.yml", "pyproject.toml")
_SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache", "wandb"}


def copy_file(run_dir: str, src: str, rel: str) -> tuple[int, str]:
    """Copy the file ``src`` to ``rel`` below ``run_dir`` (directories made and
    the file written without following links, through a temporary name);
    return (size, sha256)."""
    with open(src, "rb") as fin:
        return safefile.write_atomic(run_dir, rel, fin)


def copy_regular(run: RunFiles, dir_fd: int, rels: list[str], source: str, warn: Callable[[str], None]) -> None:
    """Copy the regular files ``rels`` below the directory ``dir_fd`` (named
    ``source`` in records and warnings) into the run's ``files/``, on the
    writer thread, each opened without following links (one that is no
    longer a regular file is reported with ``warn`` and skipped). Takes
    ``dir_fd`` and closes it."""

    def job() -> None:
        try:
            for rel in rels:
                try:
                    fd = safefile.open_regular(dir_fd, rel)
                except OSError as e:  # safefile.NotRegular: replaced since it was listed
                    warn(f"{source}/{rel}: {e.strerror or e}: not imported")
                    continue
                target = "files/" + stored_path(rel)
                with os.fdopen(fd, "rb") as fin:
                    size, digest = safefile.write_atomic(run.run_dir, target, fin)
                renamed = rel if target != "files/" + rel else None
                run.file_record(target, size, digest, policy="now", source=f"{source}/{rel}", name=renamed)
        finally:
            os.close(dir_fd)

    run.background(job)


def stored_path(rel: str) -> str:
    """Where a file saved under ``files/`` as ``rel`` is stored: ``rel``
    itself when every component is a name runship stores, else a safe name
    made from it (recorded with the original in the ``file`` record)."""
    return names.safe_relpath(rel)


class Saver:
    """The run's save() registrations and the copies they make."""

    def __init__(self, run: RunFiles):
        self.run = run
        self.specs: list[dict[str, Any]] = []
        self._copied: dict[str, tuple[int, int]] = {}  # source -> (mtime_ns, size) copied
        self._last_check = 0.0

    def save(
        self, glob_str: str | os.PathLike[str], base_path: str | os.PathLike[str] | None = None, policy: str = "live"
    ) -> list[str]:
        if policy not in POLICIES:
            raise ValueError(f"save(): policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        glob_str = os.fspath(glob_str)
        if "://" in glob_str:
            self.run.notice(f"save({glob_str!r}): remote paths are not saved by runship")
            return []
        if base_path is None:
            if os.path.isabs(glob_str):
                base = os.path.dirname(os.path.dirname(glob_str))
                self.run.notice("save() of an absolute path without base_path keeps one directory level")
            else:
                base = "."
        else:
            base = os.fspath(base_path)
        base = os.path.abspath(base)
        pattern = os.path.abspath(glob_str)
        rel = os.path.relpath(pattern, base)
        if rel == "." or rel == "":
            raise ValueError("save(): the glob cannot be the same as the base path")
        if rel.startswith(".."):
            raise ValueError(f"save(): the glob {glob_str!r} may not walk above the base path {base}")
        if rel.startswith("*"):
            raise ValueError("save(): the glob may not start with '*' relative to the base path")
        import glob as _glob

        spec = {"pattern": pattern, "base": base, "policy": policy}
        self.specs.append(spec)
        targets = [os.path.join(self.run.run_dir, self._target(m, base)) for m in sorted(_glob.glob(pattern))]
        if policy in ("now", "live"):
            # a disabled run (the one without a writer) returns before saving
            self.run.background(lambda: self._copy_spec(spec, force=True))
        return targets

    def _target(self, source: str, base: str) -> str:
        """The run-relative stored path of ``source`` saved relative to ``base``."""
        return "files/" + stored_path(os.path.relpath(source, base))

    def _copy_spec(self, spec: dict[str, Any], force: bool = False) -> None:
        import glob as _glob

        for source in sorted(_glob.glob(spec["pattern"])):
            if not os.path.isfile(source):
                continue
            try:
                st = os.stat(source)
            except FileNotFoundError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            if not force and self._copied.get(source) == stamp:
                continue
            self._copy(source, spec["base"], spec["policy"])
            self._copied[source] = stamp

    def _copy(self, source: str, base: str, policy: str) -> None:
        rel = self._target(source, base)
        size, digest = copy_file(self.run.run_dir, source, rel)
        original = os.path.relpath(source, base).replace(os.sep, "/")
        renamed = original if rel != "files/" + original else None
        self.run.file_record(rel, size, digest, policy=policy, source=source, name=renamed)

    def tick(self, final: bool) -> None:
        """Called by the writer thread: re-copy live files that changed, and at
        the end copy live and end files."""
        if not self.specs:
            return
        import time

        now = time.monotonic()
        if not final and now - self._last_check < LIVE_CHECK_SECONDS:
            return
        self._last_check = now
        for spec in list(self.specs):
            if spec["policy"] == "live" or (final and spec["policy"] == "end"):
                self._copy_spec(spec)


def save_code(run: RunFiles) -> None:
    """The entry script (or notebook) and the git state, under files/code/."""
    main = __import__("sys").modules.get("__main__")
    program = os.environ.get("JPY_SESSION_NAME") or getattr(main, "__file__", None)
    if not program or not os.path.isfile(program):
        run.notice("save_code=True but there is no entry script file to save")
        return

    def job() -> None:
        import hashlib

        rel = "files/code/" + stored_path(os.path.basename(program))
        size, digest = copy_file(run.run_dir, program, rel)
        run.file_record(rel, size, digest, policy="now", source=program)
        git = git_state(os.path.dirname(os.path.abspath(program)))
        if git is not None:
            diff = git.pop("diff", "")
            if diff:
                data = diff.encode()
                safefile.write_atomic(run.run_dir, "files/code/diff.patch", data)
                run.file_record("files/code/diff.patch", len(data), hashlib.sha256(data).hexdigest(), policy="now")
        run.write(fmt.CODE, CodeFields(program=rel, git=git))

    run.background(job)  # never called for a disabled run (no writer)


def git_state(cwd: str) -> dict[str, Any] | None:
    """commit, branch, remote (its credentials redacted), dirty, diff; None outside git."""
    import subprocess

    # git's own variables (GIT_DIR, GIT_CONFIG_GLOBAL, ...) and the allow-list; no secret
    visible = redact.split_environment(os.environ)[0]
    env = {**visible, **{k: v for k, v in os.environ.items() if k.startswith("GIT_") and not redact.looks_secret(k)}}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, env=env)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    remote = git("config", "--get", "remote.origin.url")
    if remote:  # https://user:TOKEN@host/x.git?access_token=...: both hidden, lengths kept
        remote = redact.text(remote)
    diff = git("diff", "HEAD") or ""
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "remote": remote,
        "dirty": bool(diff),
        "diff": diff,
    }


def default_code_filter(path: str, root: str) -> bool:
    name = os.path.basename(path)
    return name.endswith(_CODE_SUFFIXES) or name in _CODE_NAMES


def log_code(
    run: RunFiles,
    root: str = ".",
    name: str | None = None,
    include_fn: Callable[..., Any] | None = None,
    exclude_fn: Callable[..., Any] | None = None,
) -> None:
    root = os.path.abspath(root)
    include = include_fn or default_code_filter
    run_root = os.path.abspath(run.root)
    files = []
    for d, dirs, found in os.walk(root):
        dirs[:] = [x for x in dirs if x not in _SKIP_DIRS and os.path.abspath(os.path.join(d, x)) != run_root]
        for n in found:
            path = os.path.join(d, n)
            if include(path, root) and not (exclude_fn and exclude_fn(path, root)):
                files.append(path)
    target = "files/code/" + (stored_path(name) + "/" if name else "")

    def job() -> None:
        for path in files:
            rel = target + stored_path(os.path.relpath(path, root))
            size, digest = copy_file(run.run_dir, path, rel)
            run.file_record(rel, size, digest, policy="now", source=path)

    run.background(job)  # never called for a disabled run (no writer)


def run_table(run: RunFiles, key: str, ref: dict[str, Any]) -> ArtifactFields:
    """The ``run_table`` artifact of a table logged under ``key``, as wandb
    records one for every table logged (``run-<id>-<key>``, a new version
    each time): its one file is the table file already written, not a copy."""
    name = run_table_name(run.id, key)
    versions = run.artifact_versions
    n = versions.get(name, 0)
    versions[name] = n + 1
    return ArtifactFields(
        name=name, type="run_table", version=f"v{n}", aliases=[], tags=[], metadata={}, files=[str(ref.get("path"))]
    )
