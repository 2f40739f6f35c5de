"""What the layers above the writer plug into it.

The writer never imports those layers (``runship.integration``,
``runship.reader``, the ``runship`` facade): the facade installs these when
it is imported, which is before any run starts (importing ``runship.writer``
imports the ``runship`` package first).

- ``version``: the runship version a start record names.
- ``sync_tensorboard``: called by ``init(sync_tensorboard=True)`` with the
  new run; mirrors TensorBoard writers into it and returns what stops the
  mirror (writing its last row) at ``finish()``, or None where no
  TensorBoard writer is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runship.writer.run import Run

Stop = Callable[[], None]


class Hooks:
    __slots__ = ("sync_tensorboard", "version")

    def __init__(self) -> None:
        self.version = "unknown"
        self.sync_tensorboard: Callable[[Run], Stop | None] | None = None


HOOKS = Hooks()


def install(*, version: str | None = None, sync_tensorboard: Callable[[Run], Stop | None] | None = None) -> None:
    """Set the hooks given (those not given stay as they are)."""
    if version is not None:
        HOOKS.version = version
    if sync_tensorboard is not None:
        HOOKS.sync_tensorboard = sync_tensorboard
