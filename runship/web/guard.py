"""Protection against hostile clients, below and around the app.

uvicorn and h11 bound a request head's size and close idle keep-alive
connections, but nothing bounds how long a client may take to send a head or
a body, or how many connections it may hold: a few hundred half-sent
requests (slowloris) exhaust the process's descriptors and every later
``accept()`` fails. Here:

- ``GuardedH11Protocol`` (uvicorn's h11 protocol, extended): a request head
  must arrive within ``head_timeout`` seconds; the connections of one client
  address and of the whole process are capped (the process cap stays below
  its open-file limit), and a new connection over a cap closes the oldest
  connection of the client holding the most, one waiting for a head first,
  so a flood of idle connections never locks out a new request;
- ``RequestGuard`` (an ASGI middleware): a body must keep arriving (at most
  ``body_timeout`` seconds of silence, and at least ``MIN_RATE`` bytes per
  second overall) and stay within ``max_body`` bytes, declared or chunked
  (413); one JSON access-log line per request; every response says the
  body limit (``Runship-Max-Body``) so that clients can size their requests;
- ``RequestGuard`` also answers 400 to a request whose ``Host`` header is
  not a name the server was started for (``allowed_hosts``): a page of
  another site whose name resolves to 127.0.0.1 (DNS rebinding) reaches
  the server's address but not under its name;
- ``quiet_logs``: repeated warnings (bad requests, accept errors) are
  logged at most a few times a minute, so that no client can grow the log
  without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

MIN_RATE = 16 * 1024  # bytes per second a body must average (past body_timeout)
RESERVED_FDS = 128  # descriptors kept for storage, logs and the thread pool
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})


@dataclass
class Limits:
    head_timeout: float = 10.0  # seconds to send a request's line and headers
    body_timeout: float = 30.0  # seconds of silence allowed while a body is sent
    max_connections: int | None = None  # default: the open-file limit less RESERVED_FDS
    per_client: int = 256  # connections of one client address


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def _open_files() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 65536 if soft == resource.RLIM_INFINITY else soft


def accept_backlog() -> int:
    """The listen backlog, which is also how many connections asyncio accepts
    in one go before any of them is looked at: kept small enough that a
    burst never takes the process past its open-file limit (EMFILE makes
    asyncio stop accepting for a second, and log it)."""
    return max(16, min(2048, (_open_files() - RESERVED_FDS) // 4))


def connection_cap(limits: Limits) -> int:
    if limits.max_connections:
        return limits.max_connections
    return max(16, _open_files() - RESERVED_FDS - accept_backlog())


def allowed_hosts(bind_host: str, extra: tuple[str, ...] | list[str] = ()) -> frozenset[str] | None:
    """The names a server listening on ``bind_host`` answers to: the
    loopback names, ``bind_host`` and ``extra`` (``--allow-host``), any
    port. None (any name) on a wildcard address, which has no one name and
    is never without a token (``--no-auth``/``--no-token`` are refused
    there)."""
    if bind_host.strip("[]") in WILDCARD_ADDRESSES:
        return None
    return LOOPBACK_NAMES | {_host_name(bind_host)} | {_host_name(h) for h in extra}


def _host_name(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def host_allowed(header: bytes | None, allowed: frozenset[str]) -> bool:
    """Is ``header`` (a Host header's value) one of ``allowed``, with or
    without a port? ``[v6]`` and ``[v6]:port`` for IPv6 addresses."""
    if not header or len(header) > 300:
        return False
    try:
        value = header.decode("ascii")
    except UnicodeDecodeError:
        return False
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if not sep or (rest and port is None):
            return False
    else:
        name, sep, port_text = value.partition(":")
        port = port_text if sep else None
    if port is not None and not (port.isdigit() and len(port) <= 5):
        return False
    return _host_name(name) in allowed


class _Connections:
    """The live connections of one server process, oldest first."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.cap = connection_cap(limits)
        self.all: OrderedDict[GuardedH11Protocol, None] = OrderedDict()
        self.by_client: dict[str, OrderedDict[GuardedH11Protocol, None]] = {}
        self.closed = {"slow head": 0, "client limit": 0, "process limit": 0}
        self._logged = time.monotonic()

    def admit(self, conn: GuardedH11Protocol) -> None:
        self.all[conn] = None
        mine = self.by_client.setdefault(conn.peer, OrderedDict())
        mine[conn] = None
        if len(mine) > self.limits.per_client:
            self._evict(mine, "client limit", conn)
        if len(self.all) > self.cap:
            busiest = max(self.by_client.values(), key=len)
            self._evict(busiest, "process limit", conn)

    def leave(self, conn: GuardedH11Protocol) -> None:
        self.all.pop(conn, None)
        mine = self.by_client.get(conn.peer)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.by_client[conn.peer]

    def _evict(self, group: OrderedDict[GuardedH11Protocol, None], why: str, newcomer: GuardedH11Protocol) -> None:
        victim = next((c for c in group if c is not newcomer and c.waiting_for_head), None)
        if victim is None:
            victim = next((c for c in group if c is not newcomer), newcomer)
        victim.drop(why)

    def count(self, why: str) -> None:
        self.closed[why] += 1
        now = time.monotonic()
        if now - self._logged >= 60:
            self._logged = now
            total = ", ".join(f"{n} ({k})" for k, n in self.closed.items() if n)
            _log(f"closed connections in the last minute: {total}")
            self.closed = dict.fromkeys(self.closed, 0)


def _log(message: str) -> None:
    print(json.dumps({"t": round(time.time(), 3), "event": message}), file=sys.stderr, flush=True)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and connection caps
    (see the module's docstring). Limits come from ``config.runship_limits``."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        conns = getattr(server_state, "runship_connections", None)
        if conns is None:
            conns = _Connections(getattr(config, "runship_limits", Limits()))
            # runship's own attribute on uvicorn's ServerState (deliberate): one table for the process's connections
            server_state.runship_connections = conns  # type: ignore[attr-defined]
        self._conns: _Connections = conns
        self._head_timer: asyncio.TimerHandle | None = None
        self.peer = "?"

    @property
    def waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    # (asyncio's signature says BaseTransport; uvicorn's h11 protocol is given, and overrides with, a Transport)
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.peer = self.client[0] if self.client else "?"
        self._conns.admit(self)
        if not transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._conns.leave(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.waiting_for_head:
            if self._head_timer is None and not self.transport.is_closing():
                self._arm()  # the first bytes of the next request's head
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # idle now: uvicorn's keep-alive timeout applies

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self._conns.limits.head_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.waiting_for_head:
            self.drop("slow head")

    def drop(self, why: str) -> None:
        """Close the connection now (no response: the client is misbehaving)."""
        self._disarm()
        self._conns.leave(self)
        self._conns.count(why)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.abort()


class _TooBig(Exception):
    pass


class _TooSlow(Exception):
    pass


class RequestGuard:
    """ASGI middleware: body size and pace limits, the access log, and the
    ``Runship-Max-Body`` header (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        body_timeout: float = 30.0,
        access_log: bool = True,
        allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES,
        larger: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.larger = larger or {}  # paths whose bodies may be larger than max_body (a saved workspace)
        self.body_timeout = body_timeout
        self.access_log = access_log
        self.allowed_hosts = allowed_hosts  # None: any Host header
        self._limit_header = (b"runship-max-body", str(max_body).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        state: dict[str, Any] = {
            "status": 500,
            "started": False,
            "bytes": 0,
            "extra": (self._limit_header, (b"x-request-id", rid.encode())),
        }
        try:
            refusal, declared = self._refusal(scope)
            if refusal is not None:
                await _answer(send, state, *refusal)
                return
            await self._guarded(scope, receive, send, state, declared)
        finally:
            entry = _log_entry(scope, state, t0)
            if self.access_log or entry["status"] >= 500:  # a 5xx is logged with its cause, access log or not
                print(json.dumps(entry), file=sys.stderr, flush=True)

    def body_limit(self, scope: Scope) -> int:
        """The most body bytes the request's path takes (``larger``'s, else ``max_body``)."""
        return max(self.max_body, self.larger.get(scope.get("path", ""), 0))

    def _refusal(self, scope: Scope) -> tuple[tuple[int, str] | None, int | None]:
        """((status, detail) for a request refused on its head: a Host header
        not answered to, a bad or too large Content-Length, or None; the
        declared Content-Length)."""
        declared = None
        hosts: list[bytes] = []
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
            elif name == b"host":
                hosts.append(value)
        if self.allowed_hosts is not None and not (len(hosts) == 1 and host_allowed(hosts[0], self.allowed_hosts)):
            return (400, _HOST_REFUSED), declared
        if declared is not None and declared < 0:
            return (400, "a Content-Length that is not a number"), declared
        most = self.body_limit(scope)
        if declared is not None and declared > most:
            return (413, f"request body over {most} bytes"), declared
        return None, declared

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, state: dict[str, Any], declared: int | None
    ) -> None:
        """The app, its body read within the limits; an error it raises is
        answered 500 with the request id (and logged with its cause)."""
        loop = asyncio.get_running_loop()
        most = self.body_limit(scope)
        deadline = loop.time() + self.body_timeout + (declared or 0) / MIN_RATE

        async def guarded_receive() -> Message:
            left = deadline - loop.time()
            if left <= 0:
                raise _TooSlow()
            try:
                message = await asyncio.wait_for(receive(), min(left, self.body_timeout))
            except asyncio.TimeoutError:
                raise _TooSlow() from None
            if message["type"] == "http.request":
                state["bytes"] += len(message.get("body", b""))
                if state["bytes"] > most:
                    raise _TooBig()
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message = {**message, "headers": [*message.get("headers", []), *state["extra"]]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except (_TooBig, _TooSlow) as e:
            if state["started"]:
                raise
            too_big = isinstance(e, _TooBig)
            detail = f"request body over {most} bytes" if too_big else "the request body came too slowly"
            await _answer(send, state, 413 if too_big else 408, detail)
        except Exception as e:  # a bug or an unforeseen failure: its cause goes to the log, never a traceback
            scope["state"]["error"] = cause(e)
            if state["started"]:
                raise
            await _answer(send, state, 500, "internal error")


def cause(exc: BaseException) -> str:
    """An exception's type and message, and where it was raised."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" (at {tb.tb_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno})" if tb is not None else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]


def _log_entry(scope: Scope, state: dict[str, Any], t0: float) -> dict[str, Any]:
    """The access-log line of a request; a 5xx's names its cause. The token
    is named by its label; its value is never written (and is cut out of a
    cause that happens to quote it)."""
    client = scope.get("client")
    notes = scope.get("state") or {}
    entry = {
        "t": round(time.time(), 3),
        "request_id": notes.get("request_id"),
        "method": scope.get("method"),
        "path": scope.get("path", "")[:300],
        "status": state["status"],
        "ms": round((time.perf_counter() - t0) * 1000, 2),
        "client": client[0] if client else None,
        "token": notes.get("token"),
        "bytes_in": state["bytes"],
    }
    if notes.get("auth"):  # a refused token: "no token", "unknown token" or "not allowed" (with its label)
        entry["auth"] = notes["auth"]
    if state["status"] >= 500:
        error = str(notes.get("error") or "no cause recorded")
        for name, value in scope.get("headers", []):
            secret = value.decode("latin-1").partition(" ")[2].strip() if name == b"authorization" else ""
            if len(secret) >= 8:
                error = error.replace(secret, "[token]")
        entry["error"] = error
    return entry


_HOST_REFUSED = (
    "a Host header this server does not answer to: it answers to 127.0.0.1, localhost, [::1], "
    "the address it listens on and the names given with --allow-host"
)


async def _answer(send: Send, state: dict[str, Any], status: int, detail: str) -> None:
    """A JSON answer from the guard itself; it names the request id (a 5xx's
    is in the log with its cause)."""
    rid = state["extra"][1][1].decode()
    body = json.dumps({"detail": detail, "request_id": rid}).encode()
    state["status"] = status
    state["started"] = True
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *state["extra"],
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _RateLimit(logging.Filter):
    """At most ``per_minute`` records of each message a minute, then one line
    saying how many were left out."""

    def __init__(self, per_minute: int = 5):
        super().__init__()
        self.per_minute = per_minute
        self._window = time.monotonic()
        self._seen: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._window >= 60:
            dropped = sum(max(0, n - self.per_minute) for n in self._seen.values())
            self._window, self._seen = now, {}
            if dropped:
                record.msg = f"{record.msg} ({dropped} similar messages left out in the last minute)"
        key = str(record.msg)[:100]
        self._seen[key] = self._seen.get(key, 0) + 1
        if self._seen[key] > self.per_minute:
            record.exc_info = None
            return False
        return True


def quiet_logs() -> None:
    """Rate-limit uvicorn's and asyncio's warnings (one per bad request or
    failed accept otherwise); tracebacks of repeated errors are left out."""
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RateLimit) for f in logger.filters):
            logger.addFilter(_RateLimit())
