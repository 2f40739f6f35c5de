"""The compute-node side: init(), Run, the writer thread. Standard library and
msgpack only."""

from runship.writer.config import Config, Summary
from runship.writer.init import init
from runship.writer.lifecycle import PROCESS
from runship.writer.run import Run
from runship.writer.settings import Settings

__all__ = ["PROCESS", "Config", "Run", "Settings", "Summary", "init"]
