"""The environment of a session, recorded once, off the caller's thread: host,
user, Python, platform, argv, working directory, installed packages, git
state, and the batch scheduler's job (Slurm, PBS, LSF)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from runship.schema import redact

SCHEDULERS = {
    "slurm": {
        "job_id": "SLURM_JOB_ID",
        "array_job_id": "SLURM_ARRAY_JOB_ID",
        "array_task_id": "SLURM_ARRAY_TASK_ID",
        "job_name": "SLURM_JOB_NAME",
        "nodelist": "SLURM_JOB_NODELIST",
        "partition": "SLURM_JOB_PARTITION",
        "restart_count": "SLURM_RESTART_COUNT",
        "ntasks": "SLURM_NTASKS",
        "procid": "SLURM_PROCID",
        "gpus": "SLURM_GPUS_ON_NODE",
        "cluster": "SLURM_CLUSTER_NAME",
    },
    "pbs": {
        "job_id": "PBS_JOBID",
        "array_task_id": "PBS_ARRAY_INDEX",
        "job_name": "PBS_JOBNAME",
        "queue": "PBS_QUEUE",
        "nodefile": "PBS_NODEFILE",
    },
    "lsf": {
        "job_id": "LSB_JOBID",
        "array_task_id": "LSB_JOBINDEX",
        "job_name": "LSB_JOBNAME",
        "queue": "LSB_QUEUE",
        "hosts": "LSB_HOSTS",
    },
}


def scheduler(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    env = os.environ if environ is None else environ
    for name, keys in SCHEDULERS.items():
        if env.get(keys["job_id"]):
            out = {"name": name}
            out.update({k: env[v] for k, v in keys.items() if env.get(v)})
            return out
    return None


_META_FILES = {".dist-info": "METADATA", ".egg-info": "PKG-INFO"}
_NAME_LINES = 16  # a metadata file names its distribution in its first lines ("Name: ...")


def _installed(entry: os.DirEntry[str]) -> tuple[str, str] | None:
    """(name, version) of a ``<name>-<version>.dist-info`` (or ``.egg-info``)
    entry: the version from the entry's name (the wheel spec's), the name as
    its metadata spells it (``scikit-learn``, not the folder's ``scikit_learn``)."""
    suffix = next((x for x in _META_FILES if entry.name.endswith(x)), None)
    if suffix is None:
        return None
    name, dash, rest = entry.name[: -len(suffix)].partition("-")
    if not name or not dash:
        return None
    version = rest.partition("-")[0]  # an egg's "-py3.11" dropped
    try:
        if entry.is_dir(follow_symlinks=False):
            with open(os.path.join(entry.path, _META_FILES[suffix]), encoding="utf-8", errors="replace") as f:
                for _, line in zip(range(_NAME_LINES), f):
                    if line.startswith("Name:"):
                        name = line[5:].strip() or name
                        break
    except OSError:
        pass  # the folder's name stands
    return name, version


def packages_and_platform() -> dict[str, Any]:
    """``name==version`` of every distribution on ``sys.path`` (a
    requirements.txt; the first of a name wins, as imports find it) and the
    platform string. The names of the ``*.dist-info`` folders and the first
    lines of their metadata only, so a few milliseconds and no child process
    (importlib.metadata parses every file, holding the GIL for a good part of
    a second)."""
    import platform

    seen: dict[str, str] = {}
    for folder in list(sys.path):
        try:
            with os.scandir(folder or ".") as entries:
                found = [got for entry in entries if (got := _installed(entry)) is not None]
        except OSError:
            continue
        for name, version in sorted(found):
            seen.setdefault(name.lower().replace("_", "-"), f"{name}=={version}")
    return {"packages": [seen[k] for k in sorted(seen)], "platform": platform.platform()}


# (cwd, interpreter, sys.path) -> (git state, packages and platform): worked out
# once a process, so that many short runs in one process (folds, a sweep agent's
# trials) do not each wait for a child process at finish()
_SEEN: dict[tuple[str, str, tuple[str, ...]], tuple[dict[str, Any] | None, dict[str, Any]]] = {}


def _slow_parts() -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The git state of the working directory and the installed packages:
    the parts that take child processes, the same for every run of this
    process from the same directory."""
    from runship.writer.files import git_state

    key = (os.getcwd(), sys.executable, tuple(sys.path))
    found = _SEEN.get(key)
    if found is None:
        git = git_state(key[0])
        if git is not None:
            git.pop("diff", None)
        found = _SEEN[key] = (git, packages_and_platform())
    return found


def collect() -> dict[str, Any]:
    import getpass

    try:
        user: str | None = getpass.getuser()
    except Exception:
        user = None
    git, listed = _slow_parts()
    return {
        "host": os.uname().nodename,
        "user": user,
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": listed.get("platform"),
        "argv": redact.argv(sys.argv),  # secret-looking values hidden, lengths kept
        "cwd": os.getcwd(),
        "cpu_count": os.cpu_count(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "scheduler": scheduler(),
        "git": dict(git) if git is not None else None,
        "packages": listed.get("packages"),
    }
