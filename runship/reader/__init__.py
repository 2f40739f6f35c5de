"""Reading runs: a local run directory or an fsspec URL, folded into run
state and history. Standard library and msgpack only (fsspec for URLs)."""

from runship.reader.run import RunView, Session, open_run
from runship.reader.stream import Problem, StreamFile, iter_records, read_all

__all__ = ["Problem", "RunView", "Session", "StreamFile", "iter_records", "open_run", "read_all"]
