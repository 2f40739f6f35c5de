"""Sweeps with no server: ``runship sweep create SPEC.yaml`` writes a
sweep directory under the run root; ``runship sweep agent SWEEP -- CMD``
(any number of them, on any nodes of a shared filesystem: a Slurm array)
claims trials one by one, runs them and records their results;
``runship sweep status SWEEP`` shows them. ``runship.sweep`` and
``runship.agent`` are wandb's functions over the same directories."""

from runship.sweep.spec import SweepSpecError, check, load
from runship.sweep.store import Sweep, Trial

__all__ = ["Sweep", "SweepSpecError", "Trial", "check", "load"]
