"""Media values: Image, Histogram, Table (and file-backed Audio, Video).

A media object logged in a row becomes a typed reference in the row
(``{"_type": "image-file", "path": "files/media/images/...", ...}``); the file
itself is written by the run's writer thread, so ``log()`` costs the caller a
copy of the data and no encoding. Histograms are small and stored inline.

numpy, Pillow and pandas are optional: each is imported only by the type and
input that needs it, with an error naming what to install.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence, Sized
from types import ModuleType
from typing import Any, cast

from runship import safefile
from runship.schema.values import json_safe, to_plain

MAX_HISTOGRAM_BINS = 512
AUTO_HISTOGRAM_SIZE = 32  # arrays with more elements are logged as histograms
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")

#: a media value as its row holds it (``{"_type": "image-file", "path": ...}``)
Ref = dict[str, Any]
#: a record a writer job makes: (kind, fields), e.g. ("file", {"path": ..., "sha256": ...})
JobRecord = tuple[str, dict[str, Any]]
#: work for the run's writer thread (writing a media file); returns the records it made
Job = Callable[[], list[JobRecord]]


def _need(module: str, what: str, extra: str) -> ModuleType:
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"{what} needs {extra}: pip install {extra}") from None


def safe_key(key: str) -> str:
    """A logged key as part of a media file's name (bounded, so that the
    name stays one runship stores)."""
    return (_SAFE.sub("_", key).strip("_.") or "media")[:100]


class Media:
    """Base of values that are written as files (or inline) when logged."""

    _type = "media"

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        """Return the row's reference and a job for the writer (or None)."""
        raise NotImplementedError

    def _runship_media_(self) -> Ref:
        # logged outside a row (config, summary): the inline description only
        raise TypeError(f"{type(self).__name__} can only be logged in a row (run.log)")


class FileJob:
    """A writer job that writes one file of the run, ``path``: the writer runs
    it once for a path however often it is submitted (a picture named by its
    content, held by many table cells and steps, is written once)."""

    def __init__(self, path: str, run: Callable[[], list[JobRecord]]) -> None:
        self.path = path
        self._run = run

    def __call__(self) -> list[JobRecord]:
        return self._run()


class JobGroup:
    """Several writer jobs submitted together (a table and the pictures of its
    cells): the writer runs each part, its records in order."""

    def __init__(self, parts: list[Job]) -> None:
        self.parts = parts

    def __call__(self) -> list[JobRecord]:
        out: list[JobRecord] = []
        for part in self.parts:
            out += part()
        return out


def _file_job(run_dir: str, rel: str, produce: Callable[[], bytes], extra: dict[str, Any] | None = None) -> Job:
    """A writer job that writes ``produce()`` bytes to ``run_dir/rel``
    (write-then-rename) and returns the ``file`` record."""

    def job() -> list[JobRecord]:
        data = produce()
        safefile.write_atomic(run_dir, rel, data)
        fields = {"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "policy": "media"}
        fields.update(extra or {})
        return [("file", fields)]

    return FileJob(rel, job)


class Image(Media):
    """An image: a numpy array (HxW, HxWxC with C in 1/3/4, or CxHxW), a PIL
    image, a torch tensor, or the path of an image file.

    Float data in [0, 1] is scaled to 0..255 (and [-1, 1] to 0..255, as
    wandb's ``normalize``); other data is clipped to 0..255. PNG files are
    written without Pillow.
    """

    _type = "image-file"
    #: a matplotlib figure's lines (``figure_data``), written beside its picture
    _figure_data: dict[str, Any] | None = None
    format: str
    width: int | None
    height: int | None

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None, **kwargs: Any) -> None:
        self.caption = caption
        self.mode = mode
        self._path: str | None = None
        self._pil: Any = None  # a PIL image
        self._array: Any = None  # a numpy array
        self._png: bytes | None = None
        if kwargs:
            self.ignored = sorted(kwargs)  # grouping, boxes, masks, classes, ...
        if isinstance(data_or_path, Image):
            self.__dict__.update(data_or_path.__dict__)
            return
        if isinstance(data_or_path, (str, os.PathLike)):
            path = os.fspath(data_or_path)
            if not os.path.isfile(path):
                raise ValueError(f"Image: no file at {path!r}")
            self._path = path
            self.format = safe_key(os.path.splitext(path)[1].lstrip(".").lower())[:16] or "png"
            self.width, self.height = _image_size(path)
            return
        figure = matplotlib_figure(data_or_path)
        if figure is not None:  # drawn now: the figure may change after log()
            png = figure_png(figure)
            self._png = png
            self.format = "png"
            self.width, self.height = _png_size(png)
            return
        if type(data_or_path).__module__.startswith("PIL."):
            self._pil = data_or_path.copy()
            self.format = "png"
            self.width, self.height = self._pil.size
            return
        np = _need("numpy", "Image from an array", "numpy")
        arr = data_or_path
        if hasattr(arr, "detach"):  # torch
            arr = arr.detach().cpu().numpy()
        arr = np.array(arr, copy=True)  # the copy the caller pays for
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)  # CHW -> HWC
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
            raise ValueError(f"Image: expected HxW, HxWx1/3/4 or CxHxW data, got shape {tuple(arr.shape)}")
        self._array = arr
        self.format = "png"
        self.height, self.width = int(arr.shape[0]), int(arr.shape[1])

    @classmethod
    def from_png(cls, png: bytes, caption: str | None = None) -> Image:
        """An image from the bytes of a PNG file (as TensorBoard stores them)."""
        image = cls.__new__(cls)
        image.caption, image.mode, image._path, image._pil, image._array = caption, None, None, None, None
        image._png = bytes(png)
        image.format = "png"
        image.width, image.height = _png_size(image._png)
        return image

    def _bytes(self) -> bytes:
        if self._png is not None:
            return self._png
        if self._array is not None:
            return _png(self._array)
        if self._pil is not None:
            import io

            buf = io.BytesIO()
            self._pil.save(buf, format="PNG")
            return buf.getvalue()
        with open(cast(str, self._path), "rb") as f:  # a path when neither an array nor a PIL image
            return f.read()

    def _digest(self) -> str:
        """What the picture's file is named by: the same for the same picture
        (the bytes of its PNG, or of its array with the array's shape and type,
        or of its PIL image with its mode and size), whatever the key or step."""
        h = hashlib.sha256()
        if self._png is not None:
            h.update(self._png)
        elif self._array is not None:
            h.update(f"{self._array.shape}:{self._array.dtype.str}:".encode())
            h.update(self._array.tobytes())
        elif self._pil is not None:
            h.update(f"{self._pil.mode}:{self._pil.size}:".encode())
            h.update(self._pil.tobytes())
        else:
            st = os.stat(cast(str, self._path))  # a path when neither an array nor a PIL image
            h.update(f"{self._path}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:32]

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        # by content: one file for a picture however many cells, rows and steps hold it
        rel = f"files/media/images/{self._digest()}.{self.format}"
        ref: Ref = {"_type": self._type, "path": rel, "format": self.format, "width": self.width, "height": self.height}
        if self.caption is not None:
            ref["caption"] = str(self.caption)
        job = _file_job(run_dir, rel, self._bytes)
        data = self._figure_data
        if data is None:
            return ref, job
        # a matplotlib figure: its lines' data too, so that a reader can draw them again
        body = json.dumps(json_safe(data, strict_json=True)).encode()
        data_rel = f"files/media/figures/{safe_key(key)}_{step}_{hashlib.sha256(body).hexdigest()[:20]}.figure.json"
        ref["figure"] = data_rel
        return ref, _jobs(job, _file_job(run_dir, data_rel, lambda: body))


def _jobs(*jobs: Job) -> Job:
    """One writer job running several (each file job still once a path)."""
    parts: list[Job] = []
    for j in jobs:
        parts += j.parts if isinstance(j, JobGroup) else [j]
    return JobGroup(parts)


# ---- figures (matplotlib, plotly) --------------------------------------------------------
def matplotlib_figure(value: Any) -> Any:
    """The matplotlib Figure that ``value`` is (a Figure, or the pyplot
    module: its current figure), else None. matplotlib is never imported
    here: a value of its classes means the caller imported it."""
    module = type(value).__module__ or ""
    if isinstance(value, type(os)) and getattr(value, "__name__", "") == "matplotlib.pyplot":
        return value.gcf()
    if module.startswith("matplotlib.") and hasattr(value, "savefig") and hasattr(value, "get_axes"):
        return value
    return None


def figure_png(figure: Any) -> bytes:
    import io

    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def figure_data(figure: Any) -> dict[str, Any]:
    """Each axes' title, labels and lines (label, x, y): what a chart needs to draw the figure again."""
    axes = []
    for ax in figure.get_axes():
        lines = []
        for line in ax.get_lines()[:50]:
            x, y = line.get_xdata(), line.get_ydata()
            label = str(line.get_label())
            lines.append({"label": "" if label.startswith("_") else label, "x": to_plain(x), "y": to_plain(y)})
        axes.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "lines": lines})
    return {"axes": axes}


def _png_size(png: bytes) -> tuple[int | None, int | None]:
    if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:
        width, height = struct.unpack(">II", png[16:24])
        return int(width), int(height)
    return None, None


def plotly_figure(value: Any) -> Any:
    """``value`` if it is a plotly figure (never imports plotly)."""
    module = type(value).__module__ or ""
    return value if module.startswith("plotly.") and hasattr(value, "to_json") else None


def figure_media(value: Any) -> Media | None:
    """The media a figure is logged as, as wandb logs it: a matplotlib
    figure (or pyplot) as a plotly chart when plotly is installed and the
    figure holds no image (``mpl_to_plotly``), else as a PNG plus its lines'
    data; a plotly figure as its JSON. None: not a figure."""
    figure = matplotlib_figure(value)
    if figure is not None:
        chart = _as_plotly(figure)
        if chart is not None:
            return chart
        image = Image(figure)
        try:
            image._figure_data = figure_data(figure)
        except Exception:  # an artist runship does not know: the picture alone
            pass
        return image
    if plotly_figure(value) is not None:
        return Plotly(value)
    return None


def _as_plotly(figure: Any) -> Plotly | None:
    """A matplotlib figure as wandb logs it when it can: a plotly chart.
    None where plotly is not installed, the figure holds an image (an
    ``imshow``), or plotly cannot convert it (then: a PNG, never a failed log)."""
    import importlib.util

    if importlib.util.find_spec("plotly") is None or any(len(ax.images) for ax in figure.get_axes()):
        return None
    try:
        return Plotly(figure)
    except Exception:  # an artist plotly's converter does not take
        return None


class Plotly(Media):
    """A plotly figure, stored as its JSON (``plotly-file``):
    ``files/media/plotly/<key>_<step>_<hash>.plotly.json``. A matplotlib
    figure is converted with plotly's own ``tls.mpl_to_plotly`` when plotly
    is installed, else logged as an image."""

    _type = "plotly-file"

    def __init__(self, val: Any) -> None:
        figure = matplotlib_figure(val)
        if figure is not None:
            tools = _need("plotly.tools", "Plotly(matplotlib figure)", "plotly")
            val = tools.tools.mpl_to_plotly(figure) if hasattr(tools, "tools") else tools.mpl_to_plotly(figure)
        if plotly_figure(val) is None and not isinstance(val, dict):
            raise TypeError(f"Plotly takes a plotly figure, a matplotlib figure or a dict, got {type(val).__name__}")
        self._json: str = val.to_json() if hasattr(val, "to_json") else json.dumps(json_safe(val, strict_json=True))

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        body = self._json.encode()
        digest = hashlib.sha256(body).hexdigest()
        rel = f"files/media/plotly/{safe_key(key)}_{step}_{digest[:20]}.plotly.json"
        return {"_type": self._type, "path": rel, "sha256": digest}, _file_job(run_dir, rel, lambda: body)


def _to_uint8(np: ModuleType, arr: Any) -> Any:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8) * 255
    was_float = arr.dtype.kind == "f"
    arr = arr.astype(np.float64)
    if was_float and arr.size:
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if lo >= 0.0 and hi <= 1.0:
            arr = arr * 255.0
        elif -1.0 <= lo < 0.0 and hi <= 1.0:
            arr = (arr + 1.0) * 127.5
    return np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)


def _png(arr: Any) -> bytes:
    """Encode an HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA) array as PNG."""
    import numpy as np

    arr = _to_uint8(np, np.ascontiguousarray(arr))
    height, width = arr.shape[:2]
    color = 0 if arr.ndim == 2 else (2 if arr.shape[2] == 3 else 6)  # gray, RGB, RGBA
    rows = arr.reshape(height, -1)
    raw = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)  # filter byte 0 on each row
    raw[:, 1:] = rows

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _image_size(path: str) -> tuple[int | None, int | None]:
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return w, h
    try:
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            width, height = im.size
            return int(width), int(height)
    except Exception:
        return None, None


class Histogram(Media):
    """A histogram, stored inline in the row:
    ``{"_type": "histogram", "values": [...], "bins": [...]}``.

    ``Histogram(sequence, num_bins=64)`` bins a sequence (numpy not needed for
    plain sequences); ``Histogram(np_histogram=(values, bin_edges))`` takes
    numpy's result as it is. At most 512 bins, as wandb.
    """

    _type = "histogram"

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64) -> None:
        if np_histogram is not None:
            if len(np_histogram) != 2:
                raise ValueError("Histogram: np_histogram must be a (values, bin_edges) pair")
            values, bins = (cast(Sized, to_plain(np_histogram[0])), cast(Sized, to_plain(np_histogram[1])))
        elif sequence is not None:
            if not isinstance(num_bins, int) or num_bins < 1:
                raise ValueError(f"Histogram: num_bins must be a positive integer, got {num_bins!r}")
            values, bins = _histogram(sequence, num_bins)
        else:
            raise ValueError("Histogram needs a sequence or np_histogram=")
        if len(values) > MAX_HISTOGRAM_BINS:
            raise ValueError(f"Histogram: at most {MAX_HISTOGRAM_BINS} bins, got {len(values)}")
        if len(bins) != len(values) + 1:
            raise ValueError(f"Histogram: {len(values)} values need {len(values) + 1} bin edges, got {len(bins)}")
        self.values = values
        self.bins = bins

    def to_dict(self) -> Ref:
        return {"_type": self._type, "values": self.values, "bins": self.bins}

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        return self.to_dict(), None

    def _runship_media_(self) -> Ref:
        return self.to_dict()


def _histogram(sequence: Any, num_bins: int) -> tuple[list[int], list[float]]:
    if hasattr(sequence, "detach"):
        sequence = sequence.detach().cpu().numpy()
    if type(sequence).__module__ == "numpy":
        import numpy as np

        np_counts, np_edges = np.histogram(np.asarray(sequence, dtype=np.float64).ravel(), bins=num_bins)
        return np_counts.tolist(), np_edges.tolist()
    data = [float(x) for x in sequence]
    if not data:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = min(data), max(data)
    if lo == hi:  # numpy's convention for a single value
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / num_bins
    edges = [lo + i * width for i in range(num_bins)] + [hi]
    counts = [0] * num_bins
    for x in data:
        i = min(int((x - lo) / width), num_bins - 1)
        counts[i] += 1
    return counts, edges


class Table(Media):
    """A table, written to ``files/media/tables/<key>_<step>_<hash>.table.json``
    as ``{"columns": [...], "data": [[...], ...]}``."""

    _type = "table-file"

    def __init__(
        self,
        columns: Sequence[str | int] | None = None,
        data: Any = None,
        rows: Any = None,
        dataframe: Any = None,
        **kwargs: Any,
    ) -> None:
        if dataframe is not None:
            _need("pandas", "Table(dataframe=...)", "pandas")
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.to_numpy().tolist()
        if data is None:
            data = rows if rows is not None else []
        if hasattr(data, "tolist"):
            data = data.tolist()
        if columns is None:
            columns = ["Input", "Output", "Expected"]
        for c in columns:
            if not isinstance(c, (str, int)):
                raise TypeError(f"Table: column names must be str or int, got {type(c).__name__} {c!r}")
        self.columns: list[str | int] = list(columns)
        self.data: list[list[Any]] = []
        for row in data:
            self.add_data(*row)

    def add_data(self, *data: Any) -> None:
        if len(data) != len(self.columns):
            raise ValueError(f"This table expects {len(self.columns)} columns: {self.columns}, found {len(data)}")
        self.data.append([_cell(v) for v in data])

    add_row = add_data

    def add_column(self, name: str | int, data: Any) -> None:
        """A new column of ``data`` (one value a row; for an empty table, its rows)."""
        if not isinstance(name, (str, int)):
            raise TypeError(f"Table: column names must be str or int, got {type(name).__name__} {name!r}")
        if name in self.columns:
            raise ValueError(f"Table already has a column {name!r}")
        values = data.tolist() if hasattr(data, "tolist") else list(data)
        if self.data and len(values) != len(self.data):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(self.data)} rows")
        if not self.data:
            self.data = [[] for _ in values]
        self.columns.append(name)
        for row, value in zip(self.data, values):
            row.append(_cell(value))

    def get_column(self, name: str | int, convert_to: str | None = None) -> Any:
        """One column's values (``convert_to="numpy"``: a numpy array)."""
        if name not in self.columns:
            raise ValueError(f"Table has no column {name!r}; its columns: {self.columns}")
        i = self.columns.index(name)
        values = [row[i] for row in self.data]
        if convert_to == "numpy":
            import numpy as np

            return np.array(values)
        return values

    def get_index(self) -> list[int]:
        return list(range(len(self.data)))

    def add_computed_columns(self, fn: Callable[[int, dict[str | int, Any]], Mapping[str, Any]]) -> None:
        """``fn(index, row) -> {name: value}`` for each row (row: {column: value}); the keys become columns."""
        computed = [fn(i, dict(zip(self.columns, row))) for i, row in enumerate(self.data)]
        names = list(dict.fromkeys(k for c in computed for k in c))
        for name in names:
            self.add_column(name, [c.get(name) for c in computed])

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        jobs: list[Job] = []
        cells: list[list[Any]] = []
        for r, row in enumerate(self.data):
            out: list[Any] = []
            for c, value in enumerate(row):
                if isinstance(value, Media):  # an image in a cell: its own file, a reference in the cell
                    ref, job = value._bind(run_dir, f"{key}.r{r}c{c}", step)
                    if job is not None:
                        jobs.append(job)
                    value = ref
                out.append(value)
            cells.append(out)
        body = json.dumps(json_safe({"columns": self.columns, "data": cells}, strict_json=True)).encode()
        digest = hashlib.sha256(body).hexdigest()
        rel = f"files/media/tables/{safe_key(key)}_{step}_{digest[:20]}.table.json"
        ref = {
            "_type": self._type,
            "path": rel,
            "sha256": digest,
            "size": len(body),
            "ncols": len(self.columns),
            "nrows": len(self.data),
        }
        return ref, _jobs(*jobs, _file_job(run_dir, rel, lambda: body))


def _cell(value: Any) -> Any:
    if isinstance(value, Histogram):
        return value.to_dict()
    if isinstance(value, Media):
        return value  # bound (written as its own file) when the table is logged
    figure = figure_media(value)
    if figure is not None:
        return figure
    return to_plain(value)


class _FileMedia(Media):
    """Audio and Video from a file path: the file is copied under files/media/."""

    _kind = "files"

    def __init__(self, data_or_path: str | os.PathLike[str], caption: str | None = None, **kwargs: Any) -> None:
        if not isinstance(data_or_path, (str, os.PathLike)) or not os.path.isfile(data_or_path):
            raise TypeError(f"runship.{type(self).__name__} takes the path of an existing file")
        self._path = os.fspath(data_or_path)
        self.caption = caption

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        st = os.stat(self._path)
        digest = hashlib.sha256(f"{self._path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:20]
        ext = os.path.splitext(self._path)[1]
        ext = f".{safe_key(ext.lstrip('.'))[:16]}" if ext.strip(".") else ""
        rel = f"files/media/{self._kind}/{safe_key(key)}_{step}_{digest}{ext}"
        ref: Ref = {"_type": self._type, "path": rel}
        if self.caption is not None:
            ref["caption"] = str(self.caption)

        def copy() -> bytes:
            with open(self._path, "rb") as f:
                return f.read()

        return ref, _file_job(run_dir, rel, copy)


class _BytesMedia(Media):
    """Media made from bytes in memory (an array encoded, an HTML string)."""

    _type = "media"
    _kind = "files"
    _ext = ".bin"
    _data: bytes | None = None
    caption: str | None

    def _init_bytes(self, data: bytes, caption: str | None = None, ext: str | None = None) -> None:
        self._data = data
        self.caption = caption
        if ext:
            self._ext = ext

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        data = self._data or b""
        digest = hashlib.sha256(data).hexdigest()
        rel = f"files/media/{self._kind}/{safe_key(key)}_{step}_{digest[:20]}{self._ext}"
        ref: Ref = {"_type": self._type, "path": rel, "sha256": digest, "size": len(data)}
        if getattr(self, "caption", None) is not None:
            ref["caption"] = str(self.caption)
        return ref, _file_job(run_dir, rel, lambda: data)


class Audio(_FileMedia, _BytesMedia):
    """Audio: the path of a file (copied), or a numpy array of samples
    (mono ``(n,)`` or ``(n, channels)``, floats in [-1, 1] or integers) with
    ``sample_rate``, written as 16-bit PCM WAV (the standard library's
    ``wave``)."""

    _type = "audio-file"
    _kind = "audio"

    def __init__(
        self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None, **kwargs: Any
    ) -> None:
        if isinstance(data_or_path, (str, os.PathLike)):
            _FileMedia.__init__(self, data_or_path, caption=caption)
            self._data = None
            return
        if sample_rate is None:
            raise ValueError("Audio from an array needs sample_rate=")
        np = _need("numpy", "Audio from an array", "numpy")
        samples = np.asarray(data_or_path)
        if samples.ndim not in (1, 2):
            raise ValueError(f"Audio: expected (samples,) or (samples, channels), got shape {samples.shape}")
        if samples.dtype.kind == "f":
            pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
        else:
            pcm = samples.astype("<i2")
        import io
        import wave

        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())
        self._init_bytes(buf.getvalue(), caption, ".wav")
        self.sample_rate = int(sample_rate)

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        if getattr(self, "_data", None) is None:
            return _FileMedia._bind(self, run_dir, key, step)
        ref, job = _BytesMedia._bind(self, run_dir, key, step)
        ref["sample_rate"] = self.sample_rate
        return ref, job


class Video(_FileMedia, _BytesMedia):
    """Video: the path of a file (copied), or a numpy array of frames
    ``(time, channels, height, width)`` (wandb's layout; a batch
    ``(batch, time, C, H, W)`` is tiled side by side) encoded as ``format``
    (gif, mp4, webm) at ``fps``; encoding an array needs imageio."""

    _type = "video-file"
    _kind = "videos"

    def __init__(
        self, data_or_path: Any, caption: str | None = None, fps: int = 4, format: str | None = None, **kwargs: Any
    ) -> None:
        if isinstance(data_or_path, (str, os.PathLike)):
            _FileMedia.__init__(self, data_or_path, caption=caption)
            self._data = None
            return
        np = _need("numpy", "Video from an array", "numpy")
        frames = np.asarray(data_or_path)
        if frames.ndim == 5:  # (batch, time, C, H, W): the batch side by side
            frames = np.concatenate(list(frames), axis=-1)
        if frames.ndim != 4:
            raise ValueError(f"Video: expected (time, channels, height, width) frames, got shape {frames.shape}")
        frames = _to_uint8(np, frames.transpose(0, 2, 3, 1))
        if frames.shape[-1] == 1:
            frames = frames[..., 0]
        fmt_name = (format or "gif").lower()
        if fmt_name not in ("gif", "mp4", "webm"):
            raise ValueError(f"Video: format must be gif, mp4 or webm, got {format!r}")
        imageio = _need("imageio.v3", "Video from an array", "imageio")
        v3 = imageio.v3 if hasattr(imageio, "v3") else imageio
        if fmt_name == "gif":
            data = v3.imwrite("<bytes>", frames, extension=".gif", duration=1000 / max(1, fps), loop=0)
        else:
            data = v3.imwrite("<bytes>", frames, extension=f".{fmt_name}", fps=fps)
        self._init_bytes(data, caption, f".{fmt_name}")

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        if getattr(self, "_data", None) is None:
            return _FileMedia._bind(self, run_dir, key, step)
        return _BytesMedia._bind(self, run_dir, key, step)


class Html(_BytesMedia):
    """HTML, stored as a file (``html-file``). runship ui offers it as a
    download and never renders it in its own pages."""

    _type = "html-file"
    _kind = "html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False, **kwargs: Any) -> None:
        if hasattr(data, "read"):
            text = data.read()
        elif isinstance(data, (str, os.PathLike)) and not data_is_not_path and os.path.isfile(data):
            with open(data, encoding="utf-8", errors="replace") as f:
                text = f.read()
        elif isinstance(data, str):
            text = data
        else:
            raise TypeError(f"Html takes a string, a file object or a path, got {type(data).__name__}")
        self._init_bytes(text.encode("utf-8") if isinstance(text, str) else bytes(text), None, ".html")


class Object3D(_FileMedia, _BytesMedia):
    """A 3D object: a numpy point cloud ``(N, 3)``, ``(N, 4)`` (x, y, z,
    category) or ``(N, 6)`` (x, y, z, r, g, b), stored as wandb's
    ``.pts.json``; or a file (.obj, .gltf, .glb, .babylon, .stl, .pts.json),
    copied."""

    _type = "object3D-file"
    _kind = "object3D"
    FORMATS = (".obj", ".gltf", ".glb", ".babylon", ".stl", ".pts.json")

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        if isinstance(data_or_path, (str, os.PathLike)):
            if not str(data_or_path).lower().endswith(self.FORMATS):
                raise ValueError(f"Object3D: a file must be one of {', '.join(self.FORMATS)}, got {data_or_path!r}")
            _FileMedia.__init__(self, data_or_path, caption=caption)
            self._data = None
            return
        np = _need("numpy", "Object3D from an array", "numpy")
        points = np.asarray(data_or_path, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] not in (3, 4, 6):
            raise ValueError(f"Object3D: a point cloud is (N, 3), (N, 4) or (N, 6), got shape {points.shape}")
        body = json.dumps({"type": "lidar/beta", "points": points.tolist()}).encode()
        self._init_bytes(body, caption, ".pts.json")

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        if getattr(self, "_data", None) is None:
            return _FileMedia._bind(self, run_dir, key, step)
        return _BytesMedia._bind(self, run_dir, key, step)


class Molecule(_FileMedia):
    """A molecule file (.pdb, .pqr, .mmcif, .mcif, .cif, .sdf, .sd, .gro, .mol2, .mmtf), copied."""

    _type = "molecule-file"
    _kind = "molecule"
    FORMATS = (".pdb", ".pqr", ".mmcif", ".mcif", ".cif", ".sdf", ".sd", ".gro", ".mol2", ".mmtf")

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        if not isinstance(data_or_path, (str, os.PathLike)) or not str(data_or_path).lower().endswith(self.FORMATS):
            raise ValueError(f"Molecule takes the path of a {', '.join(self.FORMATS)} file, got {data_or_path!r}")
        super().__init__(data_or_path, caption=caption)


def auto_histogram(value: Any) -> Ref | None:
    """wandb's rule for arrays in history: more than 32 elements become a
    32-bin histogram; one element a scalar; the rest lists. None if ``value``
    is not an array or tensor."""
    size = getattr(value, "size", None)
    if callable(size):  # torch: size() is the shape, numel() the count
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else None
    if not isinstance(size, int) or not hasattr(value, "tolist"):
        return None
    if size > AUTO_HISTOGRAM_SIZE:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        return Histogram(value, num_bins=AUTO_HISTOGRAM_SIZE).to_dict()
    return None
