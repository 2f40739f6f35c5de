"""TensorBoard into runship: ``init(sync_tensorboard=True)`` (or
``patch(run)``) mirrors what ``torch.utils.tensorboard`` and ``tensorboardX``
writers write into the run's history, as wandb does; ``Mirror`` also
turns the events of files written without runship into rows
(``tensorboard_import``: ``runship import tensorboard``).

Each event's values (scalars, histograms, images, text) become one history
row holding the writer's step as ``global_step``; consecutive events of
one step are one row. Nothing here imports TensorBoard until it is asked
for, and a failure here never reaches the training code (it is reported
once on the run).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

STEP_KEY = "global_step"
_PATCHED: dict[Any, Any] = {}  # class -> its own add_event, while patched
_LOCK = threading.Lock()


def event_values(event: Any, text: bool = True) -> Iterator[tuple[str, Any]]:
    """(tag, value) of each summary value of a TensorBoard ``Event``:
    floats for scalars, runship Histograms, Images (PNG) and (``text``) text."""
    from runship.media import Histogram, Image

    summary = getattr(event, "summary", None)
    for value in getattr(summary, "value", ()) or ():
        tag = value.tag
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            yield tag, float(value.simple_value)
        elif kind == "histo":
            h = value.histo
            edges = [h.min, *list(h.bucket_limit)[:-1], h.max] if len(h.bucket_limit) else [h.min, h.max]
            counts = list(h.bucket)
            if len(edges) == len(counts) + 1 and counts:
                yield tag, Histogram(np_histogram=(counts, edges))
        elif kind == "image":
            yield tag, Image.from_png(bytes(value.image.encoded_image_string))
        elif kind == "tensor":
            plugin = value.metadata.plugin_data.plugin_name
            tensor = value.tensor
            if plugin == "histograms":  # TensorFlow 2's form: rows of (left edge, right edge, count)
                flat = _tensor_numbers(tensor)
                buckets = flat.reshape(-1, 3) if flat.size and flat.size % 3 == 0 else None
                if buckets is not None:
                    edges = [*buckets[:, 0].tolist(), float(buckets[-1, 1])]
                    yield tag, Histogram(np_histogram=(buckets[:, 2].tolist(), edges))
            elif plugin == "images":  # TensorFlow 2's form: width, height, then encoded images
                if len(tensor.string_val) >= 3:
                    yield tag, Image.from_png(bytes(tensor.string_val[2]))
            elif plugin == "text" or tensor.string_val:
                if not text:
                    continue
                texts = [s.decode("utf-8", "replace") for s in tensor.string_val]
                yield tag.removesuffix("/text_summary"), texts[0] if len(texts) == 1 else texts
            elif tensor.float_val or tensor.double_val:
                vals = list(tensor.float_val) or list(tensor.double_val)
                if len(vals) == 1:
                    yield tag, float(vals[0])
            elif tensor.tensor_content and tensor.dtype in (1, 2):  # DT_FLOAT, DT_DOUBLE
                import numpy as np

                arr = np.frombuffer(tensor.tensor_content, dtype=np.float32 if tensor.dtype == 1 else np.float64)
                if arr.size == 1:
                    yield tag, float(arr[0])


def _tensor_numbers(tensor: Any) -> Any:
    """A TensorProto's float or double values, flat."""
    import numpy as np

    if tensor.tensor_content and tensor.dtype in (1, 2):  # DT_FLOAT, DT_DOUBLE
        return np.frombuffer(tensor.tensor_content, dtype=np.float32 if tensor.dtype == 1 else np.float64)
    return np.asarray(list(tensor.float_val) or list(tensor.double_val), np.float64)


class Mirror:
    """Events of TensorBoard writers, as history rows of ``run`` (None: the
    current run at each event, as ``runship.tensorboard.patch()`` before
    ``init()``)."""

    def __init__(self, run: Any = None, root_logdir: str | None = None, text: bool = False):
        self._run = run
        self._root = root_logdir or None
        self._text = text
        self._row: dict[str, Any] = {}
        self._step: int | None = None
        self._lock = threading.Lock()
        self._failed = False

    def namespace(self, logdir: str | None) -> str:
        """As wandb: a writer's tags go under its log directory relative to
        the root (``root_logdir``, else the parent of the first log directory
        seen), nothing when they are the same."""
        if not logdir:
            return ""
        logdir = os.path.abspath(str(logdir))
        if self._root is None:
            self._root = os.path.dirname(logdir)
        rel = os.path.relpath(logdir, os.path.abspath(self._root))
        return "" if rel == "." or rel.startswith("..") else rel.replace(os.sep, "/")

    def add(self, event: Any, logdir: str | None = None) -> None:
        try:
            prefix = self.namespace(logdir)
            values = [(f"{prefix}/{tag}" if prefix else tag, v) for tag, v in event_values(event, self._text)]
        except Exception as e:  # a value runship does not know: reported once, never raised
            self._fail(e)
            return
        if not values:
            return
        step = int(getattr(event, "step", 0))
        with self._lock:
            if self._step is not None and step != self._step:
                self._flush_locked()
            self._step = step
            self._row.update(values)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._row:
            return
        row, self._row = {**self._row, STEP_KEY: self._step}, {}
        run = self.run
        try:
            if run is not None and run.active:
                run.log(row)
        except Exception as e:
            self._fail(e)

    @property
    def run(self) -> Any:
        if self._run is not None:
            return self._run
        from runship.writer import PROCESS

        return PROCESS.current

    def _fail(self, e: Exception) -> None:
        if not self._failed and self.run is not None:
            self._failed = True
            try:
                self.run.notice(f"sync_tensorboard: an event could not be mirrored: {type(e).__name__}: {e}")
            except Exception:
                pass


def _writer_classes() -> list[Any]:
    """The EventFileWriter classes of the TensorBoard writers installed
    (``torch.utils.tensorboard`` writes through tensorboard's)."""
    found = []
    for module, name in (
        ("tensorboard.summary.writer.event_file_writer", "EventFileWriter"),
        ("tensorboardX.event_file_writer", "EventFileWriter"),
    ):
        try:
            import importlib

            found.append(getattr(importlib.import_module(module), name))
        except Exception:
            continue
    return found


def patch(run: Any = None, root_logdir: str | None = None) -> Mirror | None:
    """Mirror every TensorBoard writer of this process into ``run`` (None:
    the current run at each event) until ``unpatch``. None when no
    TensorBoard writer is installed. Scalars, histograms and images, as
    wandb (text summaries are not mirrored)."""
    mirror = Mirror(run, root_logdir)
    classes = _writer_classes()
    if not classes:
        return None
    with _LOCK:
        for cls in classes:
            own = _PATCHED.get(cls, cls.add_event)
            _PATCHED[cls] = own

            def add_event(self: Any, event: Any, _own: Any = own) -> Any:
                result = _own(self, event)
                current = _CURRENT.get("mirror")
                if current is not None:
                    current.add(event, getattr(self, "_logdir", None))
                return result

            cls.add_event = add_event
        _CURRENT["mirror"] = mirror
    return mirror


_CURRENT: dict[str, Mirror | None] = {"mirror": None}


def sync(run: Any) -> Callable[[], None] | None:
    """``init(sync_tensorboard=True)``'s hook (runship.writer.hooks, installed
    by the ``runship`` package): mirror into ``run``; what stops the mirror."""
    mirror = patch(run)
    if mirror is None:
        return None
    return lambda: unpatch(mirror)


def unpatch(mirror: Mirror | None = None) -> None:
    """Write the last row and give the writers their own add_event back."""
    with _LOCK:
        current = _CURRENT.get("mirror")
        if mirror is not None and current is not mirror:
            return
        if current is not None:
            current.flush()
        _CURRENT["mirror"] = None
        for cls, own in list(_PATCHED.items()):
            cls.add_event = own
            del _PATCHED[cls]
