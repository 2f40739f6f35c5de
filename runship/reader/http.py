"""Reading runs from a runship server (``http(s)://HOST:PORT[/prefix]``).

A run is ``<server>/<project>/<run_id>``: its files are listed by
``GET /v1/runs/{project}/{run}/files`` and read with ranged
``GET /v1/runs/{project}/{run}/raw/{name}`` requests, so that the reader
streams them exactly as it streams local files. The token comes from the
storage options (``token``, which the CLI fills from ``--token-file``) or
``$RUNSHIP_TOKEN``; as the uploader, it is never sent over plain http to
another host unless ``allow_insecure_http`` is set.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

from runship.errors import RunNotFound
from runship.reader.source import RangeFile
from runship.targets import TargetError
from runship.targets.http import LIST_BYTES, HttpTarget

READ_BYTES = 1 << 20


def is_server_url(location: str) -> bool:
    return location.split("://", 1)[0].lower() in ("http", "https") if "://" in location else False


def server(url: str, storage_options: dict[str, Any] | None = None) -> HttpTarget:
    """A connection to the server at ``url`` (its base: scheme, host, port, prefix)."""
    opts = storage_options or {}
    token = opts.get("token") or os.environ.get("RUNSHIP_TOKEN") or None
    return HttpTarget(
        url,
        token=token,
        timeout=float(opts.get("timeout", 30.0)),
        attempts=int(opts.get("attempts", 4)),
        allow_insecure_http=bool(opts.get("allow_insecure_http")),
    )


def _get_json(conn: HttpTarget, path: str, what: str) -> Any:
    status, _, body = conn._request("GET", path, max_answer=LIST_BYTES)
    if status == 404:
        raise RunNotFound(f"{conn.url}: no {what}")
    conn._check(status, body, what)
    return json.loads(body)


def split_run_url(url: str) -> tuple[str, str, str]:
    """(server base URL, project, run id) of ``http(s)://host/prefix/<project>/<run>``."""
    parts = urlsplit(url.rstrip("/"))
    segments = parts.path.split("/")
    if len(segments) < 3 or not segments[-1] or not segments[-2]:
        raise RunNotFound(f"not a run on a runship server (http(s)://HOST/<project>/<run>): {url}")
    base = urlunsplit(parts._replace(path="/".join(segments[:-2]), query="", fragment=""))
    return base, segments[-2], segments[-1]


class HttpRangeFile(RangeFile):
    """A file of a run on a server, read with HTTP range requests."""

    def __init__(self, conn: HttpTarget, path: str, size: int):
        super().__init__(size)
        self._conn = conn
        self._path = path

    def _fetch(self, start: int, end: int) -> bytes:
        end = min(end, start + READ_BYTES)
        try:
            status, _, data = self._conn._request(
                "GET", self._path, headers={"Range": f"bytes={start}-{end - 1}"}, max_answer=READ_BYTES
            )
        except TargetError as e:
            raise OSError(str(e)) from None
        if status not in (200, 206):
            raise OSError(f"{self._conn.url}{self._path}: HTTP {status}")
        return data


class HttpSource:
    """A run directory behind a runship server."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.location = url.rstrip("/")
        base, self.project, self.run_id = split_run_url(self.location)
        self._conn = server(base, storage_options)
        self._prefix = f"/v1/runs/{quote(self.project, safe='')}/{quote(self.run_id, safe='')}"
        try:
            listed = _get_json(self._conn, f"{self._prefix}/files", f"run {self.project}/{self.run_id}")
        except TargetError as e:
            raise OSError(str(e)) from None
        self._sizes = {f["name"]: f.get("size") for f in listed if isinstance(f, dict) and "name" in f}

    def names(self) -> list[str]:
        return sorted(n for n in self._sizes if "/" not in n)

    def kind(self, name: str) -> str:
        return "file"

    def size(self, name: str) -> int | None:
        return self._sizes.get(name)

    def open(self, name: str) -> BinaryIO:
        size = self._sizes.get(name)
        path = f"{self._prefix}/raw/{quote(name, safe='/')}"
        if size is None:  # not listed (run.json): ask for its size
            status, headers, _ = self._conn._request("GET", path, headers={"Range": "bytes=0-0"}, max_answer=1)
            if status not in (200, 206):
                raise FileNotFoundError(f"{self.location}/{name}")
            size = int(headers.get("content-range", "/0").rsplit("/", 1)[-1] or 0)
        return io.BufferedReader(HttpRangeFile(self._conn, path, int(size)), buffer_size=READ_BYTES)

    def stamp(self, name: str, length: int) -> str | None:
        return None  # the server says sizes only: a cached prefix is trusted by its commit record

    def read_at(self, name: str, start: int, length: int) -> bytes:
        """``length`` bytes of a file from ``start``, in one range request."""
        size = self._sizes.get(name)
        end = start + length if size is None else min(int(size), start + length)
        if end <= start:
            return b""
        path = f"{self._prefix}/raw/{quote(name, safe='/')}"
        return HttpRangeFile(self._conn, path, end)._fetch(start, end)

    def read(self, name: str, limit: int = 256 * 1024 * 1024) -> bytes:
        with self.open(name) as f:
            data: bytes = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{self.join(name)} is larger than {limit} bytes")
        return data

    def join(self, name: str) -> str:
        return f"{self.location}/{name}"

    @property
    def basename(self) -> str:
        return self.run_id

    @property
    def parent_name(self) -> str:
        return self.project


def server_run_urls(url: str, project: str | None, storage_options: dict[str, Any] | None) -> list[str]:
    """``<url>/<project>/<run>`` of every run the server holds (that the token may read)."""
    conn = server(url, storage_options)
    try:
        projects = _get_json(conn, "/v1/projects", "projects")
        out: list[str] = []
        for p in projects:
            if project is not None and p != project:
                continue
            runs = _get_json(conn, f"/v1/projects/{quote(p, safe='')}/runs", f"runs of {p}")
            out.extend(f"{url.rstrip('/')}/{p}/{r['id']}" for r in runs if isinstance(r, dict) and "id" in r)
        return out
    finally:
        conn.close()
