"""Where a process stands in a distributed job: its rank, local rank,
world size and node, from the launcher's environment (torchrun /
torch.distributed, Slurm, Open MPI, PMI) or from settings; and the job it
belongs to, so that every rank of one job joins one run.

Nothing here coordinates the ranks: each reads its own environment, and
each writes its own session files in the run directory."""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NamedTuple


class Placement(NamedTuple):  # not a dataclass: dataclasses costs `import runship` 12 ms (inspect)
    rank: int
    local_rank: int | None
    world_size: int
    node: str
    source: str  # "settings", "torchrun", "torch.distributed", "slurm", "openmpi", "pmi"
    job: str | None  # the job every rank shares ("slurm:1234.0"), None where none is known
    shared: bool = False  # settings ranks="shared": this rank's rows go to the run's history

    @property
    def primary(self) -> bool:
        return self.rank == 0

    def to_record(self) -> dict[str, Any]:
        record = self._asdict()
        if not record.pop("shared"):
            return record
        return {**record, "shared": True}  # said only where it holds


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


def slurm_job(environ: dict[str, str]) -> str | None:
    """The Slurm job (array task, step) every task of this step shares."""
    job = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not job:
        return None
    array = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
    if array[0] and array[1]:
        job = f"{array[0]}_{array[1]}"
    step = environ.get("SLURM_STEP_ID") or environ.get("SLURM_STEPID")
    return f"slurm:{job}" + (f".{step}" if step else "")


def _step_of(environ: dict[str, str]) -> str | None:
    return environ.get("SLURM_STEP_ID") or environ.get("SLURM_STEPID")


def _job(environ: dict[str, str]) -> str | None:
    """The one launch all ranks share: a launcher's own id (torchrun's
    rendezvous id, an MPI job), else the Slurm job step the ranks run in.
    A Slurm job without a step (its batch script) is none: two programs
    one after the other in one batch script are two launches, not one."""
    elastic = environ.get("TORCHELASTIC_RUN_ID")
    if elastic and elastic != "none":
        return f"torchrun:{elastic}"
    for name in ("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "PMI_JOBID"):
        if environ.get(name):
            return f"mpi:{environ[name]}"
    if _step_of(environ):
        return slurm_job(environ)
    return None


def detect(environ: dict[str, str] | None = None, settings: Any = None) -> Placement | None:
    """This process's placement, or None where it is not one of several
    ranks (world size 1, or nothing says so). Settings ``rank`` and
    ``world_size`` (and ``local_rank``, ``node``) win over the environment."""
    env = dict(os.environ if environ is None else environ)
    node = env.get("SLURMD_NODENAME") or os.uname().nodename
    job = _job(env)
    if settings is not None and getattr(settings, "rank", None) is not None:
        world = getattr(settings, "world_size", None)
        return Placement(
            int(settings.rank),
            getattr(settings, "local_rank", None),
            int(world) if world is not None else int(settings.rank) + 1,
            str(getattr(settings, "node", None) or node),
            "settings",
            job,
        )
    found: tuple[str, int | None, int | None, int | None] | None = None
    if _int(env.get("RANK")) is not None and _int(env.get("WORLD_SIZE")) is not None:
        found = ("torchrun", _int(env.get("RANK")), _int(env.get("LOCAL_RANK")), _int(env.get("WORLD_SIZE")))
    elif (
        _int(env.get("SLURM_PROCID")) is not None and _int(env.get("SLURM_NTASKS")) is not None and _step_of(env)
    ):  # tasks of an srun step (a batch script has SLURM_PROCID and SLURM_NTASKS too, and runs once)
        found = ("slurm", _int(env.get("SLURM_PROCID")), _int(env.get("SLURM_LOCALID")), _int(env.get("SLURM_NTASKS")))
    elif _int(env.get("OMPI_COMM_WORLD_RANK")) is not None:
        found = (
            "openmpi",
            _int(env.get("OMPI_COMM_WORLD_RANK")),
            _int(env.get("OMPI_COMM_WORLD_LOCAL_RANK")),
            _int(env.get("OMPI_COMM_WORLD_SIZE")),
        )
    elif _int(env.get("PMI_RANK")) is not None:
        local = _int(env.get("MPI_LOCALRANKID")) if env.get("MPI_LOCALRANKID") else _int(env.get("PMI_LOCAL_RANK"))
        found = ("pmi", _int(env.get("PMI_RANK")), local, _int(env.get("PMI_SIZE")))
    if found is None:
        found = _torch_distributed()
    if found is None:
        return None
    source, rank, local, world = found
    if rank is None or world is None or world <= 1 or not 0 <= rank < world:
        return None
    return Placement(rank, local, world, node, source, job)


def _torch_distributed() -> tuple[str, int | None, int | None, int | None] | None:
    """torch.distributed's rank where a script initialised it itself (torch
    is not imported here if the script did not)."""
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return "torch.distributed", int(dist.get_rank()), None, int(dist.get_world_size())
    except Exception:
        return None
    return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@,~-]+")


def job_run_id(job: str) -> str:
    """A run id made from a job (``slurm:1234_7.0`` -> ``slurm-1234_7.0``)."""
    return _UNSAFE.sub("-", job).strip("-.")[:128] or "job"
