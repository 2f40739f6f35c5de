"""Where a run directory's bytes come from: a local path or an fsspec URL."""

from __future__ import annotations

import os

from runship.errors import RunNotFound


class LocalSource:
    def __init__(self, path: str):
        self.location = os.path.abspath(os.fspath(path))
        if not os.path.isdir(self.location):
            raise RunNotFound(f"no run directory at {self.location}")

    def names(self) -> list[str]:
        return sorted(os.listdir(self.location))

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


class FsspecSource:
    """A run directory behind any fsspec URL (s3://, gs://, file://, memory://, ...)."""

    def __init__(self, url: str, storage_options: dict | None = None):
        import fsspec

        self.location = url.rstrip("/")
        self.fs, self._path = fsspec.core.url_to_fs(self.location, **(storage_options or {}))
        if not self.fs.isdir(self._path):
            raise RunNotFound(f"no run directory at {url}")

    def names(self) -> list[str]:
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._path, detail=False))

    def read(self, name: str) -> bytes:
        return self.fs.cat_file(f"{self._path}/{name}")

    def join(self, name: str) -> str:
        return f"{self.location}/{name}"

    @property
    def basename(self) -> str:
        return self._path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent_name(self) -> str:
        parts = self._path.rstrip("/").rsplit("/", 2)
        return parts[-2] if len(parts) >= 2 else ""


def open_source(location, storage_options: dict | None = None):
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        return FsspecSource(text, storage_options)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return LocalSource(text)
