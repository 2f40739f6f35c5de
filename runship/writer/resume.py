"""Resume by run id: what exists in a run directory, what it left behind, and
the small marker file that ``resume="auto"`` uses."""

from __future__ import annotations

import json
import os
from typing import Any

from runship.schema import format as fmt
from runship.writer import prior

MARKER = ".runship-resume.json"


def run_sessions(run_dir: str) -> list[str]:
    """Session ids of the run stream files in ``run_dir``, oldest first."""
    try:
        names = os.listdir(run_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    sessions = set()
    for name in names:
        parsed = fmt.parse_stream_file_name(name)
        if parsed and parsed[0] == fmt.RUN_STREAM:
            sessions.add(parsed[1])
    return sorted(sessions)


def remember(root: str, project: str, run_id: str) -> None:
    path = os.path.join(root, MARKER)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump({"project": project, "id": run_id}, f)
        os.replace(tmp, path)
    except OSError:
        pass  # auto-resume is a convenience; never fail a run for it


def recall(root: str) -> tuple[str, str] | None:
    try:
        with open(os.path.join(root, MARKER)) as f:
            data = json.load(f)
        return str(data["project"]), str(data["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget(root: str, project: str, run_id: str) -> None:
    if recall(root) == (project, run_id):
        try:
            os.remove(os.path.join(root, MARKER))
        except OSError:
            pass


def session_starts(
    run_dir: str, limit: int = 4096, known: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Each session's start record (session id -> record), read from the
    first records of its first run stream file, oldest first; at most
    ``limit`` sessions (the newest). A file that is a link or cannot be
    read is passed over. ``known``: start records read before (the run's
    state file keeps them), taken as they are."""
    out: dict[str, dict[str, Any]] = {}
    sessions = prior.run_files(run_dir)
    for session in list(sessions)[-limit:]:
        start = (known or {}).get(session) or prior.first_start(run_dir, sessions[session][0])
        if start is not None:
            out[session] = start
    return out


def session_alive(run_dir: str, session: str, start: dict[str, Any]) -> bool:
    """Whether the process of a session still writes: on this host, its pid
    lives; elsewhere, its files were written to within the time after
    which readers call a silent run crashed."""
    import time

    if start.get("host") == os.uname().nodename and isinstance(start.get("pid"), int):
        try:
            os.kill(start["pid"], 0)
        except ProcessLookupError:
            return False
        except OSError:
            pass  # another user's process: it exists
        return True
    found = start.get("settings")
    settings: dict[str, Any] = found if isinstance(found, dict) else {}
    try:
        stale = 3 * float(settings.get("heartbeat_interval") or 30) + 2 * float(settings.get("flush_interval") or 1)
    except (TypeError, ValueError):
        stale = 92.0
    newest = 0.0
    for name in os.listdir(run_dir):
        parsed = fmt.parse_stream_file_name(name)
        if parsed and parsed[1] == session:
            try:
                newest = max(newest, os.lstat(os.path.join(run_dir, name)).st_mtime)
            except OSError:
                continue
    return time.time() - newest < stale
