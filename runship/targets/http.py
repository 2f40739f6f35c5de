"""A runship server (``runship serve``) as the target, over HTTP(S).

Speaks the server's tus-style protocol: HEAD for a stream file's stored size,
PATCH with ``Upload-Offset`` to append, PUT for derived files, and for a
derived file larger than the server's request limit (``Runship-Max-Body``
on every response), PATCHes of parts to a staging upload named by the file's
SHA-256, which the server moves into place once whole and checked. Retries
with backoff on 5xx and connection errors; every call has a timeout. A token
is never sent over plain ``http://`` to a host that is not this machine
unless that is asked for (``allow_insecure_http``).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import socket
import ssl
import time
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from runship.targets import AuthError, ConflictError, GapError, Limited, Target, TargetError, TlsError, redact

TIMEOUT = 30.0
ATTEMPTS = 4
BACKOFF = 0.5
MAX_BODY_HEADER = "runship-max-body"
LIST_BYTES = 256 * 1024 * 1024  # the most of a listing answer read


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


class HttpTarget(Target):
    needs_finalize = False

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
        headers: dict | None = None,
        stream: tuple[BinaryIO, int] | None = None,
        max_answer: int = 1 << 20,
    ) -> tuple[int, dict, bytes]:
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

    def _learn(self, headers: dict) -> None:
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

    def list_runs(self) -> list[tuple[str, str]]:
        status, _, body = self._request("GET", "/v1/projects", max_answer=LIST_BYTES)
        self._check(status, body, "list projects")
        out: list[tuple[str, str]] = []
        for project in json.loads(body):
            status, _, runs = self._request(
                "GET", f"/v1/projects/{quote(project, safe='')}/runs", max_answer=LIST_BYTES
            )
            self._check(status, runs, f"list runs of {project}")
            out.extend((project, r["id"]) for r in json.loads(runs))
        return out


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")
