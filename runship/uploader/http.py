"""A runship server (``runship serve``) as the target, over HTTP(S).

Speaks the server's tus-style protocol: HEAD for a stream file's stored size,
PATCH with ``Upload-Offset`` to append, PUT for derived files. Retries with
backoff on 5xx and connection errors; every call has a timeout.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from urllib.parse import quote, urlsplit

from runship.uploader.target import ConflictError, GapError, Target, TargetError, redact

TIMEOUT = 30.0
ATTEMPTS = 4
BACKOFF = 0.5


class HttpTarget(Target):
    needs_finalize = False

    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT, attempts: int = ATTEMPTS):
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"not an http(s) URL: {redact(url)}", retryable=False)
        self.url = redact(url.rstrip("/"))
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._attempts = attempts
        self._conn: http.client.HTTPConnection | None = None

    # ---- transport ---------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict, bytes]:
        hdrs = {"Tus-Resumable": "1.0.0", **(headers or {})}
        if self._token:
            hdrs["Authorization"] = f"Bearer {self._token}"
        if body is not None:
            hdrs.setdefault("Content-Type", "application/offset+octet-stream")
        last = ""
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                conn = self._connection()
                conn.request(method, self._prefix + path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                headers_out = {k.lower(): v for k, v in resp.getheaders()}
                if resp.status >= 500:
                    last = f"HTTP {resp.status}: {data[:200]!r}"
                    self.close()
                    continue
                return resp.status, headers_out, data
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
                self.close()
        raise TargetError(f"{method} {self.url}{path}: {last} (after {self._attempts} attempts)", retryable=True)

    def _check(self, status: int, data: bytes, what: str) -> None:
        if status in (401, 403):
            raise TargetError(f"{what}: the server refused the token (HTTP {status}): {_detail(data)}", retryable=False)
        if status >= 400:
            raise TargetError(f"{what}: HTTP {status}: {_detail(data)}", retryable=False)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # ---- the protocol ------------------------------------------------------------------
    @staticmethod
    def _stream_path(project: str, run_id: str, name: str) -> str:
        return f"/v1/runs/{quote(project, safe='')}/{quote(run_id, safe='')}/streams/{quote(name, safe='')}"

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        status, headers, data = self._request("HEAD", self._stream_path(project, run_id, name))
        if status == 404:
            return int(headers.get("upload-offset", 0))
        self._check(status, data, f"size of {project}/{run_id}/{name}")
        return int(headers["upload-offset"])

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        path = self._stream_path(project, run_id, name)
        status, headers, body = self._request("PATCH", path, data, {"Upload-Offset": str(offset)})
        if status == 409:
            size = int(headers.get("upload-offset", 0))
            if _detail(body) == "gap":
                raise GapError(
                    f"{self.url}/{project}/{run_id}/{name} holds {size} bytes, cannot write at {offset}", size
                )
            raise ConflictError(f"{self.url}/{project}/{run_id}/{name} differs from the local file at {offset}")
        self._check(status, body, f"append to {project}/{run_id}/{name}")
        return int(headers.get("upload-offset", offset + len(data)))

    def put_file(self, project: str, run_id: str, rel: str, data: bytes) -> None:
        path = f"/v1/runs/{quote(project, safe='')}/{quote(run_id, safe='')}/derived/{quote(rel, safe='/')}"
        status, _, body = self._request("PUT", path, data, {"Content-Type": "application/octet-stream"})
        self._check(status, body, f"put {project}/{run_id}/{rel}")

    def list_runs(self) -> list[tuple[str, str]]:
        status, _, body = self._request("GET", "/v1/projects")
        self._check(status, body, "list projects")
        out = []
        for project in json.loads(body):
            status, _, runs = self._request("GET", f"/v1/projects/{quote(project, safe='')}/runs")
            self._check(status, runs, f"list runs of {project}")
            out.extend((project, r["id"]) for r in json.loads(runs))
        return out


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")
