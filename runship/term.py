"""``wandb.termlog``, ``termwarn`` and ``termerror`` (lines on stderr), and
``wandb.errors.term``'s switches that scripts set: ``_silent`` (nothing is
printed) and ``_show_warnings`` (``termwarn`` prints nothing when False), as
wandb's own examples do (``wandb.errors.term._show_warnings = False``)."""

from __future__ import annotations

import sys
from typing import Any

_silent: bool = False
_show_warnings: bool = True


def termlog(string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    if not _silent:
        print(("runship: " if prefix else "") + str(string), file=sys.stderr, end="\n" if newline else "")


def termwarn(string: str, repeat: bool = True, **kwargs: Any) -> None:
    if _show_warnings:
        termlog(f"WARNING {string}")


def termerror(string: str, repeat: bool = True, **kwargs: Any) -> None:
    termlog(f"ERROR {string}")
