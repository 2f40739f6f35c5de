"""``wandb.tensorboard``: ``patch()`` before or after ``init()`` mirrors
TensorBoard writers into the current run (see runship.integration.tensorboard)."""

from __future__ import annotations

from typing import Any

from runship.integration.tensorboard import unpatch as _unpatch

__all__ = ["patch", "unpatch"]


def patch(
    root_logdir: str | None = None, pytorch: bool | None = None, tensorboard_x: bool | None = None, save: bool = True
) -> Any:
    """Mirror every TensorBoard writer of this process into the current run
    (the run current when each event is written). The arguments are wandb's;
    event files stay where the writers put them."""
    from runship.integration.tensorboard import patch as _patch

    return _patch(None, root_logdir)


def unpatch() -> None:
    _unpatch()
