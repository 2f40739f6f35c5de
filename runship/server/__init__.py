"""``runship serve``: the ingest and read server (FastAPI on uvicorn), with
the web app of ``runship ui`` at ``/``."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

from runship import interrupts
from runship.errors import UsageError
from runship.store.http import is_loopback

__all__ = ["is_loopback", "serve"]


def serve(
    root: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token_file: str | None = None,
    no_auth: bool = False,
    workers: int = 1,
    max_body: int | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    storage_options: dict | None = None,
    public_docs: bool = False,
    trusted_proxies: tuple[str, ...] = (),
    head_timeout: float | None = None,
    body_timeout: float | None = None,
    max_connections: int | None = None,
    per_client: int | None = None,
    allow_hosts: tuple[str, ...] = (),
    log=print,
) -> None:
    """Run the server until SIGTERM/SIGINT (in-flight requests finish first).
    Requests are answered under the loopback names, ``host`` and
    ``allow_hosts`` only (any name when ``host`` is a wildcard address)."""
    try:
        import uvicorn

        from runship.server.app import DEFAULT_MAX_BODY, ServerConfig, create_app
        from runship.server.auth import load_tokens
        from runship.server.guard import (
            Limits,
            allowed_hosts,
            quiet_logs,
            raise_open_file_limit,
        )
    except ImportError as e:
        raise RuntimeError(f"runship serve cannot start: {e} (reinstall runship: pip install runship)") from None
    _check_options(host, token_file, no_auth, certfile, keyfile)
    tokens = load_tokens(token_file) if token_file else None
    if no_auth:
        log(f"WARNING: runship serve without authentication on {host}:{port}: anyone on this machine can write runs")
    if "://" not in root:
        os.makedirs(root, exist_ok=True)
    given: dict[str, Any] = {"head_timeout": head_timeout, "body_timeout": body_timeout}
    given.update(max_connections=max_connections, per_client=per_client)
    limits = Limits(**{k: v for k, v in given.items() if v is not None})
    raise_open_file_limit()
    config = ServerConfig(
        root,
        tokens,
        max_body or DEFAULT_MAX_BODY,
        storage_options or {},
        public_docs=public_docs,
        limits=limits,
        allowed_hosts=allowed_hosts(host, allow_hosts),
    )
    options = _uvicorn_options(host, port, certfile, keyfile, trusted_proxies)
    config_file = None
    if workers > 1:
        config_file = _workers_config(config, token_file)
        os.environ["RUNSHIP_SERVE_CONFIG"] = config_file
        uv = uvicorn.Config("runship.server.app:app_from_env", factory=True, workers=workers, **options)
    else:
        uv = uvicorn.Config(create_app(config), **options)
    # runship's own attribute on uvicorn's Config (deliberate): read by GuardedH11Protocol, in every worker
    uv.runship_limits = limits  # type: ignore[attr-defined]
    quiet_logs()
    lines = _banner(root, host, port, certfile is not None, tokens, workers)
    try:
        _run(uv, workers, lines, log)
    finally:
        if config_file:
            os.unlink(config_file)


def _supervise(uv: Any, sock: Any) -> None:
    """uvicorn's worker supervisor until SIGINT/SIGTERM; then the signal
    is raised again with the handlers from before (runship.interrupts'), as
    uvicorn's single-process Server does: the supervisor takes the signals
    over for good and would end as if nothing had stopped it."""
    import signal

    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        def handle_int(self) -> None:
            taken.append(signal.SIGINT)
            super().handle_int()

        def handle_term(self) -> None:
            taken.append(signal.SIGTERM)
            super().handle_term()

    taken: list[int] = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    Supervisor(uv, sockets=[sock]).run()
    for sig, handler in before.items():
        signal.signal(sig, handler)
    if taken:
        signal.raise_signal(taken[0])


def _run(uv: Any, workers: int, lines: list[str], log) -> None:
    """uvicorn until stopped; ``lines`` are logged once the socket listens
    (a port in use: uvicorn's error, and no banner)."""
    import uvicorn

    if workers > 1:
        sock = uv.bind_socket()
        for line in lines:
            log(line)
        _supervise(uv, sock)
        return

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                for line in lines:
                    log(line)

    server = Server(uv)
    with interrupts.serving(server):
        server.run()


def _banner(root: str, host: str, port: int, tls: bool, tokens: list | None, workers: int) -> list[str]:
    """What ``serve`` says when it listens: its URL, root and tokens (each
    by its label and scope, never its value); a warning when tokens would
    cross a network in clear text."""
    from runship.store import redact

    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"{'https' if tls else 'http'}://{shown}:{port}"
    lines = [f"runship serve: listening on {url}" + (f" ({workers} workers)" if workers > 1 else "")]
    lines.append(f"  root: {redact(root) if '://' in root else os.path.abspath(root)}")
    if tokens is None:
        lines.append("  tokens: none (--no-auth)")
    else:
        lines.append(f"  tokens: {len(tokens)}: " + ", ".join(_token_scope(t) for t in tokens))
    if not tls and not is_loopback(host):
        lines.append(
            f"WARNING: listening on {host} without TLS: tokens and runs cross the network in clear text; "
            "give --cert and --key, or listen on 127.0.0.1 behind a TLS reverse proxy"
        )
    return lines


def _token_scope(token: Any) -> str:
    """``label (rw, all projects)``: a token as the banner shows it."""
    access = ("r" if token.read else "") + ("w" if token.write else "")
    projects = "all projects" if token.projects is None else ",".join(sorted(token.projects))
    return f"{token.name} ({access}, {projects})"


def _check_options(host: str, token_file: str | None, no_auth: bool, certfile: str | None, keyfile: str | None) -> None:
    if token_file is None and not no_auth:
        raise UsageError("token auth is on by default: give --token-file, or --no-auth (loopback addresses only)")
    if no_auth and not is_loopback(host):
        raise UsageError(f"--no-auth is refused on {host}: only on a loopback address (127.0.0.1, ::1)")
    if (certfile is None) != (keyfile is None):
        raise UsageError("TLS needs both --cert and --key")


def _workers_config(config: Any, token_file: str | None) -> str:
    """The workers' configuration, in a file only this user can read
    (storage options may hold keys: never the environment); its path."""
    fd, path = tempfile.mkstemp(prefix="runship-serve-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "root": config.root,
                "token_file": os.path.abspath(token_file) if token_file else None,
                "max_body": config.max_body,
                "storage_options": config.storage_options,
                "public_docs": config.public_docs,
                "limits": dataclasses.asdict(config.limits),
                "allowed_hosts": None if config.allowed_hosts is None else sorted(config.allowed_hosts),
            },
            f,
        )
    return path


def _uvicorn_options(
    host: str, port: int, certfile: str | None, keyfile: str | None, trusted_proxies: tuple[str, ...]
) -> dict[str, Any]:
    """uvicorn's settings for runship serve (and its workers)."""
    from runship.server.guard import GuardedH11Protocol, accept_backlog

    return dict(
        host=host,
        port=port,
        access_log=False,  # runship logs one JSON line per request itself
        log_level="warning",
        timeout_graceful_shutdown=30,
        timeout_keep_alive=5,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        http=GuardedH11Protocol,
        backlog=accept_backlog(),
        # X-Forwarded-For and -Proto are believed only from the given proxies
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=",".join(trusted_proxies) if trusted_proxies else None,
        server_header=False,
    )
