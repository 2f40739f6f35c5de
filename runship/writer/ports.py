"""The narrow views of a run that the writer's other modules get, instead of
the Run's private attributes. ``runship.writer.run.port(run)`` gives a run's
view, which satisfies all three."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class RunRecords(Protocol):
    """What ``Config`` and ``Summary`` (config.py) need of their run."""

    def record(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Write a record to the run stream (nothing once the run has ended)."""
        ...

    def sync_summary(self) -> None:
        """Bring the rows logged so far into the summary."""
        ...


class RunFiles(Protocol):
    """What files.py needs of a run to copy files into it and record them."""

    @property
    def id(self) -> str: ...

    @property
    def root(self) -> str: ...

    @property
    def run_dir(self) -> str: ...

    @property
    def artifact_versions(self) -> dict[str, int]:
        """How many versions of each artifact name this session logged."""
        ...

    def notice(self, message: str, **fields: Any) -> None: ...

    def file_record(
        self, rel: str, size: int, digest: str, policy: str, source: str | None = None, name: str | None = None
    ) -> None:
        """Record a file written under the run directory as ``rel`` (from the writer thread)."""
        ...

    def write(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Write a record to the run stream (from the writer thread)."""
        ...

    def background(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the writer thread, before the next batch is written."""
        ...


class RunStart(Protocol):
    """What init()'s ``start`` (init.py) does to a run it made."""

    def say(self, message: str) -> None:
        """Show ``message`` once on stderr (unless quiet), recording nothing."""
        ...

    def mirror(self, stop: Callable[[], None] | None) -> None:
        """What stops sync_tensorboard's mirror at finish()."""
        ...

    def follow(self, target: str | None) -> None:
        """mode="online": where the detached uploader ships the run."""
        ...

    def write_snapshot(self) -> None:
        """Write run.json now."""
        ...


class ProcessEvents(Protocol):
    """What lifecycle.py tells a run of the process's events."""

    def on_signal(self, signum: int, then: Callable[[], None]) -> bool:
        """Record a terminating signal and flush; False where that waits for
        a write the signal interrupted (``then`` runs after it)."""
        ...

    def forked(self) -> None:
        """This is a forked child: stop writing, touch no file."""
        ...
