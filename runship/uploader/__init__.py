"""The uploader: ships run directories to object storage or a runship server.

``runship upload ROOT... --to URL`` (see runship/cli.py); the library is
``Uploader`` (one pass, ``run_pass``) and ``watch`` (the daemon loop).
"""

from runship.uploader.engine import Log, PassStats, Uploader, watch
from runship.uploader.state import Busy, State, default_state_dir
from runship.uploader.target import ConflictError, GapError, Target, TargetError, open_target

__all__ = [
    "Busy",
    "ConflictError",
    "GapError",
    "Log",
    "PassStats",
    "State",
    "Target",
    "TargetError",
    "Uploader",
    "default_state_dir",
    "open_target",
    "watch",
]
