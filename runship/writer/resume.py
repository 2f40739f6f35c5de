"""Resume by run id: what exists in a run directory, what it left behind, and
the small marker file that ``resume="auto"`` uses."""

from __future__ import annotations

import json
import os

from runship.schema import format as fmt

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


def prior_state(run_dir: str) -> dict:
    """What a resumed session continues from: next step, config, summary, metadata."""
    from runship.reader import open_run

    run = open_run(run_dir)
    last = run.last_step
    return {
        "next_step": 0 if last is None else last + 1,
        "config": run.config,
        "summary": run.summary,
        "meta": run.meta,
        "metrics": run.metrics,
    }


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
