"""A runship server (``runship serve``) over HTTP(S), both ways.

Writing speaks the server's tus-style protocol: HEAD for a stream file's stored size,
PATCH with ``Upload-Offset`` to append, PUT for derived files, and for a
derived file larger than the server's request limit (``Runship-Max-Body``
on every response), PATCHes of parts to a staging upload named by the file's
SHA-256, which the server moves into place once whole and checked. Retries
with backoff on 5xx and connection errors; every call has a timeout. A token
is never sent over plain ``http://`` to a host that is not this machine
unless that is asked for (``allow_insecure_http``).

Reading: a run is ``<server>/<project>/<run_id>``; its files are listed by
``GET /v1/runs/{project}/{run}/files`` and read with ranged
``GET /v1/runs/{project}/{run}/raw/{name}`` requests, so that the reader
streams them exactly as it streams local files. The reader's token comes
from the storage options (``token``, which the CLI fills from
``--token-file``) or ``$RUNSHIP_TOKEN``.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import ipaddress
import json
import os
import socket
import ssl
import time
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

from runship.errors import RunNotFound
from runship.store.errors import AuthError, ConflictError, GapError, TargetError, TlsError
from runship.store.fileobj import Limited, RangeFile
from runship.store.location import redact
from runship.store.protocol import Capabilities, NamedRun, ReadWhole, RunReads, RunSource

TIMEOUT = 30.0
ATTEMPTS = 4
BACKOFF = 0.5
MAX_BODY_HEADER = "runship-max-body"
LIST_BYTES = 256 * 1024 * 1024  # the most of a listing answer read
READ_BYTES = 1 << 20  # the most one range request of a read asks for


#: OpenSSL's reasons for a handshake with a server that does not speak TLS at all
_NOT_TLS = (
    "WRONG_VERSION_NUMBER",
    "UNKNOWN_PROTOCOL",
    "RECORD_LAYER_FAILURE",
    "HTTP_REQUEST",
    "PACKET_LENGTH_TOO_LONG",
)


def _tls_failure(e: ssl.SSLError, url: str) -> TlsError | None:
    """The permanent error for a TLS failure a retry cannot mend (a plain
    HTTP server, an untrusted certificate), None for one that may pass (a
    connection cut during the handshake)."""
    if isinstance(e, ssl.SSLCertVerificationError):
        return TlsError(
            f"{url}: TLS failed: the server's certificate is not trusted ({e.verify_message or e.reason}); "
            "give the CA with SSL_CERT_FILE=/path/ca.pem"
        )
    if e.reason in _NOT_TLS:
        return TlsError(
            f"{url}: TLS failed ({e.reason}): the server does not seem to speak TLS; "
            f"if it is a plain-HTTP runship serve, use {'http://' + url.split('://', 1)[-1]}"
        )
    return None


def is_loopback(host: str) -> bool:
    """Is ``host`` an address (or a name resolving only to addresses) of this machine's loopback?"""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except OSError:
            return False


class HttpBackend(RunReads):
    # a server stores whole what it is sent, keeps no sweeps and deletes nothing over HTTP
    capabilities = Capabilities(removes=False)
    max_request: int | None = None

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        allow_insecure_http: bool = False,
    ):
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"not an http(s) URL: {redact(url)}", retryable=False)
        self.url = redact(url.rstrip("/"))
        if token and parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
            raise TargetError(
                f"refusing to send a token over plain http:// to {parts.hostname}, which is not this machine: "
                "use https://, or pass --allow-insecure-http on a network you trust",
                retryable=False,
            )
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._attempts = attempts
        self._conn: http.client.HTTPConnection | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        storage_options: dict[str, Any],
        *,
        token: str | None = None,
        allow_insecure_http: bool = False,
        **kwargs: Any,
    ) -> HttpBackend:
        return cls(
            url,
            token=token,
            timeout=float(storage_options.get("timeout", TIMEOUT)),
            attempts=int(storage_options.get("attempts", ATTEMPTS)),
            allow_insecure_http=allow_insecure_http,
        )

    @classmethod
    def open_run(cls, location: str, storage_options: dict[str, Any] | None, root: str | None) -> RunSource:
        base, project, run_id = split_run_url(location)
        return HttpSource(server(base, storage_options), project, run_id, location)

    # ---- transport ---------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._timeout,
                    context=ssl.create_default_context(),
                    blocksize=1 << 20,
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout, blocksize=1 << 20
                )
        return self._conn

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: tuple[BinaryIO, int] | None = None,
        max_answer: int = 1 << 20,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, retried on connection errors and 5xx. ``stream``: a
        file object and a length to send as the body (rewound on a retry).
        At most ``max_answer`` bytes of the answer are read."""
        hdrs = {"Tus-Resumable": "1.0.0", **(headers or {})}
        if self._token:
            hdrs["Authorization"] = f"Bearer {self._token}"
        if body is not None or stream is not None:
            hdrs.setdefault("Content-Type", "application/offset+octet-stream")
        if stream is not None:
            hdrs["Content-Length"] = str(stream[1])
            start = stream[0].tell()
        last = ""
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                conn = self._connection()
                payload: bytes | Limited | None = body
                if stream is not None:
                    stream[0].seek(start)
                    payload = Limited(stream[0], stream[1])
                conn.request(method, self._prefix + path, body=payload, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read(max_answer)  # never hold more of an answer than asked for
                headers_out = {k.lower(): v for k, v in resp.getheaders()}
                if resp.length:  # more than we read: do not reuse the connection
                    self.close()
                self._learn(headers_out)
                if resp.status >= 500:
                    last = f"HTTP {resp.status}: {_detail(data)}"
                    self.close()
                    continue
                return resp.status, headers_out, data
            except ssl.SSLError as e:
                self.close()
                permanent = _tls_failure(e, self.url)
                if permanent is not None:  # not retried: every attempt would fail the same way
                    raise permanent from None
                last = f"{type(e).__name__}: {e}"
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
                self.close()
        raise TargetError(f"{method} {self.url}{path}: {last} (after {self._attempts} attempts)", retryable=True)

    def _learn(self, headers: dict[str, str]) -> None:
        value = headers.get(MAX_BODY_HEADER)
        if value and value.isdigit():
            self.max_request = int(value)

    def _check(self, status: int, data: bytes, what: str) -> None:
        if status == 401 and not self._token:
            raise AuthError(
                f"{self.url} needs a token and none was given: pass --token-file FILE (mode 600), "
                "or set RUNSHIP_TOKEN to the token"
            )
        if status == 401:
            raise AuthError(f"{self.url} refused the token (HTTP 401): {_detail(data) or 'not accepted'}")
        if status == 403:  # this project only (a token scoped to others): the pass goes on
            raise TargetError(f"{what}: the token may not do this (HTTP 403): {_detail(data)}", retryable=False)
        if status == 413:
            raise TargetError(
                f"{what}: larger than the server accepts (HTTP 413: {_detail(data)}); "
                "the server's operator can raise runship serve --max-body",
                retryable=False,
            )
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
    def _run_path(project: str, run_id: str) -> str:
        return f"/v1/runs/{quote(project, safe='')}/{quote(run_id, safe='')}"

    def _stream_path(self, project: str, run_id: str, name: str) -> str:
        return f"{self._run_path(project, run_id)}/streams/{quote(name, safe='')}"

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

    def put_file(self, project: str, run_id: str, rel: str, src: BinaryIO, size: int) -> None:
        path = f"{self._run_path(project, run_id)}/derived/{quote(rel, safe='/')}"
        what = f"put {project}/{run_id}/{rel}"
        limit = self.max_request
        if limit is None or size <= limit:
            status, _, body = self._request(
                "PUT", path, headers={"Content-Type": "application/octet-stream"}, stream=(src, size)
            )
            if status != 413:
                self._check(status, body, what)
                return
            limit = self.max_request or max(1, size // 2)
        self._put_in_parts(path, src, size, limit, what)

    def _put_in_parts(self, path: str, src: BinaryIO, size: int, limit: int, what: str) -> None:
        """A file larger than one request: appended in parts to a staging
        upload keyed by its SHA-256 (idempotent, resumable), which the server
        checks and moves into place when the last part arrives."""
        start = src.tell()
        h = hashlib.sha256()
        left = size
        while left > 0:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise TargetError(f"{what}: the local file shrank while it was read", retryable=False)
            h.update(chunk)
            left -= len(chunk)
        checksum = "sha256 " + base64.b64encode(h.digest()).decode()
        part = max(1, limit)
        offset = 0
        while offset < size:
            n = min(part, size - offset)
            src.seek(start + offset)
            headers = {
                "Upload-Offset": str(offset),
                "Upload-Length": str(size),
                "Upload-Checksum": checksum,
                "Content-Type": "application/offset+octet-stream",
            }
            status, hdrs, body = self._request("PATCH", path, headers=headers, stream=(src, n))
            if status == 409:  # the staging upload holds another amount: continue from there
                offset = int(hdrs.get("upload-offset", 0))
                continue
            self._check(status, body, what)
            offset = int(hdrs.get("upload-offset", offset + n))

    def get_json(self, path: str, what: str) -> Any:
        """A JSON answer of the server (RunNotFound on 404: no ``what``)."""
        status, _, body = self._request("GET", path, max_answer=LIST_BYTES)
        if status == 404:
            raise RunNotFound(f"{self.url}: no {what}")
        self._check(status, body, what)
        return json.loads(body)

    def list_runs(self, only: str | None = None) -> list[tuple[str, str]]:
        """(project, run_id) of every run the token may read (of project ``only``)."""
        out: list[tuple[str, str]] = []
        for project in self.get_json("/v1/projects", "projects"):
            if only is not None and project != only:
                continue
            runs = self.get_json(f"/v1/projects/{quote(project, safe='')}/runs", f"runs of {project}")
            out.extend((project, r["id"]) for r in runs if isinstance(r, dict) and "id" in r)
        return out

    def run(self, project: str, run_id: str) -> RunSource:
        return HttpSource(self, project, run_id, f"{self.url}/{project}/{run_id}")

    def read_at(self, project: str, run_id: str, name: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        path = f"{self._run_path(project, run_id)}/raw/{quote(name, safe='/')}"
        return HttpRangeFile(self, path, start + length, missing_ok=True).fetch_all(start, start + length)

    def remove(self, project: str, run_id: str, name: str) -> None:
        raise TargetError(f"{self.url}: a runship server deletes nothing over HTTP", retryable=False)


def server(url: str, storage_options: dict[str, Any] | None = None) -> HttpBackend:
    """A reading connection to the server at ``url`` (its base: scheme, host,
    port, prefix); the token from the options or ``$RUNSHIP_TOKEN``."""
    opts = storage_options or {}
    token = opts.get("token") or os.environ.get("RUNSHIP_TOKEN") or None
    return HttpBackend.from_url(url, opts, token=token, allow_insecure_http=bool(opts.get("allow_insecure_http")))


def split_run_url(url: str) -> tuple[str, str, str]:
    """(server base URL, project, run id) of ``http(s)://host/prefix/<project>/<run>``."""
    parts = urlsplit(url.rstrip("/"))
    segments = parts.path.split("/")
    if len(segments) < 3 or not segments[-1] or not segments[-2]:
        raise RunNotFound(f"not a run on a runship server (http(s)://HOST/<project>/<run>): {url}")
    base = urlunsplit(parts._replace(path="/".join(segments[:-2]), query="", fragment=""))
    return base, segments[-2], segments[-1]


class HttpRangeFile(RangeFile):
    """A file of a run on a server, read with HTTP range requests
    (``missing_ok``: a file or range that is not there reads as empty)."""

    def __init__(self, conn: HttpBackend, path: str, size: int, missing_ok: bool = False):
        super().__init__(size)
        self._conn = conn
        self._path = path
        self._missing_ok = missing_ok

    def _fetch(self, start: int, end: int) -> bytes:
        end = min(end, start + READ_BYTES)
        try:
            status, _, data = self._conn._request(
                "GET", self._path, headers={"Range": f"bytes={start}-{end - 1}"}, max_answer=READ_BYTES
            )
        except TargetError as e:
            raise OSError(str(e)) from None
        if self._missing_ok and status in (404, 416):
            return b""
        if status not in (200, 206):
            raise OSError(f"{self._conn.url}{self._path}: HTTP {status}")
        return data


class HttpSource(NamedRun, ReadWhole):
    """A run directory behind a runship server, listed when opened."""

    concurrent = False

    def __init__(self, conn: HttpBackend, project: str, run_id: str, location: str):
        self.location = location.rstrip("/")
        self.project, self.run_id = project, run_id
        self._conn = conn
        self._prefix = HttpBackend._run_path(project, run_id)
        try:
            listed = conn.get_json(f"{self._prefix}/files", f"run {project}/{run_id}")
        except TargetError as e:
            raise OSError(str(e)) from None
        self._sizes = {f["name"]: f.get("size") for f in listed if isinstance(f, dict) and "name" in f}

    def names(self) -> list[str]:
        return sorted(n for n in self._sizes if "/" not in n)

    def kind(self, name: str) -> str:
        return "file"

    def size(self, name: str) -> int | None:
        size = self._sizes.get(name)
        return None if size is None else int(size)

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
        size = self.size(name)
        end = start + length if size is None else min(size, start + length)
        if end <= start:
            return b""
        path = f"{self._prefix}/raw/{quote(name, safe='/')}"
        return HttpRangeFile(self._conn, path, end)._fetch(start, end)


def server_run_urls(url: str, project: str | None, storage_options: dict[str, Any] | None) -> list[str]:
    """``<url>/<project>/<run>`` of every run the server holds (that the token may read)."""
    conn = server(url, storage_options)
    try:
        return [f"{url.rstrip('/')}/{p}/{r}" for p, r in conn.list_runs(project)]
    finally:
        conn.close()


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")
