"""Where a run directory's bytes come from: a local path or an fsspec URL.

On an object store, a stream file that was still being written when it was
uploaded exists as chunk objects (see ``format.CHUNK_DIR``); this module
puts them back together, so that a remote run reads exactly like the local
one.
"""

from __future__ import annotations

import os

from runship.errors import RunNotFound
from runship.schema import format as fmt


class LocalSource:
    def __init__(self, path: str):
        self.location = os.path.abspath(os.fspath(path))
        if not os.path.isdir(self.location):
            raise RunNotFound(f"no run directory at {self.location}")

    def names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.location) if n != fmt.CHUNK_DIR)

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.location, name), "rb") as f:
            return f.read()

    def join(self, name: str) -> str:
        return os.path.join(self.location, name)

    @property
    def basename(self) -> str:
        return os.path.basename(self.location)

    @property
    def parent_name(self) -> str:
        return os.path.basename(os.path.dirname(self.location))


def fs_options(url: str, storage_options: dict | None) -> dict:
    """Storage options for ``url`` with runship's defaults: for S3, the
    standard ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` variables (MinIO,
    Ceph RGW) and timeouts, so that no call can hang a pass."""
    opts = dict(storage_options or {})
    if url.split("://", 1)[0].lower() not in ("s3", "s3a"):
        return opts
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and "endpoint_url" not in opts and "endpoint_url" not in opts.get("client_kwargs", {}):
        opts["endpoint_url"] = endpoint
    config = dict(opts.get("config_kwargs") or {})
    config.setdefault("connect_timeout", 10)
    config.setdefault("read_timeout", 60)
    config.setdefault("retries", {"max_attempts": 3, "mode": "standard"})
    opts["config_kwargs"] = config
    return opts


class FsspecSource:
    """A run directory behind any fsspec URL (s3://, gs://, file://, memory://, ...)."""

    def __init__(self, url: str, storage_options: dict | None = None, fs=None):
        import fsspec

        self.location = url.rstrip("/")
        if fs is None:
            self.fs, self._path = fsspec.core.url_to_fs(self.location, **fs_options(url, storage_options))
        else:
            self.fs, self._path = fs, fs._strip_protocol(self.location)
        self._path = self._path.rstrip("/")
        try:
            entries = self.fs.ls(self._path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        if not entries:
            raise RunNotFound(f"no run directory at {url}")
        self._whole = {}
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if name != fmt.CHUNK_DIR:
                self._whole[name] = e
        self._chunks = (
            self._list_chunks() if any(e["name"].rstrip("/").endswith("/" + fmt.CHUNK_DIR) for e in entries) else {}
        )

    def _list_chunks(self) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        base = f"{self._path}/{fmt.CHUNK_DIR}"
        try:
            paths = self.fs.find(base)
        except FileNotFoundError:
            return out
        for p in paths:
            rel = p[len(base) :].strip("/")
            if "/" not in rel:
                continue
            name, chunk = rel.rsplit("/", 1)
            rng = fmt.parse_chunk_name(chunk)
            if rng is not None:
                out.setdefault(name, []).append(rng)
        return out

    def names(self) -> list[str]:
        return sorted(set(self._whole) | set(self._chunks))

    def read(self, name: str) -> bytes:
        if name in self._whole or name not in self._chunks:
            return self.fs.cat_file(f"{self._path}/{name}")
        parts = []
        pos = 0
        for start, end in fmt.chunk_cover(self._chunks[name]):
            data = self.fs.cat_file(f"{self._path}/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(start, end)}")
            parts.append(data[pos - start :])
            pos = end
        return b"".join(parts)

    def join(self, name: str) -> str:
        return f"{self.location}/{name}"

    @property
    def basename(self) -> str:
        return self._path.rsplit("/", 1)[-1]

    @property
    def parent_name(self) -> str:
        parts = self._path.rsplit("/", 2)
        return parts[-2] if len(parts) >= 2 else ""


def open_source(location, storage_options: dict | None = None):
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        return FsspecSource(text, storage_options)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return LocalSource(text)
