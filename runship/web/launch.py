"""The two commands that start the web app: ``serve`` (``runship serve``:
the ingest and read server, with the web app at ``/``) and ``serve_ui``
(``runship ui``: the web app over run roots). Both run uvicorn with the
connection guard (``guard.GuardedH11Protocol``: head deadline, connection
caps) under the request guard the app carries, until SIGTERM/SIGINT."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from runship import interrupts
from runship.errors import UsageError
from runship.store.http import is_loopback
from runship.store.location import is_url

__all__ = ["serve", "serve_ui"]

Log = Callable[[str], Any]


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
    storage_options: dict[str, Any] | None = None,
    public_docs: bool = False,
    trusted_proxies: tuple[str, ...] = (),
    limits: Any = None,
    allow_hosts: tuple[str, ...] = (),
    log: Log = print,
) -> None:
    """Run the server until SIGTERM/SIGINT (in-flight requests finish first).
    Requests are answered under the loopback names, ``host`` and
    ``allow_hosts`` only (any name when ``host`` is a wildcard address);
    ``limits``: the connection guard's (``guard.Limits``)."""
    try:
        import uvicorn  # noqa: F401  (the server's packages, all there before anything starts)

        from runship.web.app import DEFAULT_MAX_BODY, ServeConfig, serve_app, write_serve_config
        from runship.web.auth import load_tokens
        from runship.web.guard import Limits, allowed_hosts, raise_open_file_limit
    except ImportError as e:
        raise RuntimeError(f"runship serve cannot start: {e} (pip install 'runship[server]')") from None
    _loopback_only("--no-auth", no_auth, host)
    if token_file is None and not no_auth:
        raise UsageError("token auth is on by default: give --token-file, or --no-auth (loopback addresses only)")
    if (certfile is None) != (keyfile is None):
        raise UsageError("TLS needs both --cert and --key")
    tokens = load_tokens(token_file) if token_file else None
    if no_auth:
        log(f"WARNING: runship serve without authentication on {host}:{port}: anyone on this machine can write runs")
    if not is_url(root):
        os.makedirs(root, exist_ok=True)
    raise_open_file_limit()
    config = ServeConfig(root, tokens, max_body or DEFAULT_MAX_BODY, storage_options or {}, public_docs=public_docs)
    config.limits, config.allowed_hosts = limits or Limits(), allowed_hosts(host, allow_hosts)
    options = _serve_options(host, port, certfile, keyfile, trusted_proxies)
    config_file = None
    if workers > 1:
        config_file = write_serve_config(config, token_file)
        os.environ["RUNSHIP_SERVE_CONFIG"] = config_file
        uv = _uvicorn("runship.web.app:app_from_env", config.limits, factory=True, workers=workers, **options)
    else:
        uv = _uvicorn(serve_app(config), config.limits, **options)
    lines = _banner(root, host, port, certfile is not None, tokens, workers)
    try:
        _run(uv, workers, lines, log)
    finally:
        if config_file:
            os.unlink(config_file)


def serve_ui(
    roots: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    no_token: bool = False,
    storage_options: dict[str, Any] | None = None,
    cache: Any = True,
    limits: Any = None,
    allow_hosts: tuple[str, ...] = (),
    log: Log = print,
    ready: Callable[[str], Any] | None = None,
) -> None:
    """Serve the web app until SIGINT/SIGTERM. ``token``: the one to ask for
    (default: a new random one); ``no_token``: ask for none (loopback
    addresses only); ``limits``: the connection guard's (``guard.Limits``);
    requests are answered under the loopback names, ``host`` and
    ``allow_hosts`` only (any name on a wildcard address). Prints the URL
    to open: a new random token rides in its fragment
    (``/ui/signin#token=``), which the browser never sends; the sign-in
    page posts it once. ``ready(url)`` is called once the socket listens."""
    from runship.web.app import ui_app
    from runship.web.auth import Gate, ui_token
    from runship.web.guard import Limits, accept_backlog, allowed_hosts, raise_open_file_limit
    from runship.web.places import Place, app_cache

    if no_token and token:
        raise UsageError("a token and --no-token: choose one")
    _loopback_only("--no-token", no_token, host)
    if not roots:
        raise ValueError("no run root to show")
    secret = None if no_token else (token or secrets.token_urlsafe(32))
    shared = app_cache(cache)
    places: list[Any] = [Place(r, storage_options, shared) for r in roots]
    limits = limits or Limits()
    gate = Gate(None if secret is None else [ui_token(secret)])
    app = ui_app(places, gate, limits, allowed_hosts(host, allow_hosts))
    raise_open_file_limit()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=accept_backlog())
    shown = f"[{host}]" if ":" in host else host
    # a new random token is printed in the URL (the only way to learn it, as
    # Jupyter does), in the fragment: never sent, so never in a server's or
    # proxy's log; the page takes it out of the address bar and the session
    # history and posts it once. A token of the user's own (a file, the
    # environment) is never printed.
    url = f"http://{shown}:{sock.getsockname()[1]}/" + (f"ui/signin#token={secret}" if secret and not token else "")
    log(f"runship ui: {', '.join(roots)}")
    log(f"  open {url}" + ("  (sign in with your token)" if token else ""))
    if no_token:
        log("WARNING: --no-token: anyone on this machine can read these runs through this page")
    server = _server(_uvicorn(app, limits, timeout_graceful_shutdown=5))
    if ready is not None:
        ready(url)
    with interrupts.serving(server):
        server.run(sockets=[sock])


def _loopback_only(flag: str, given: bool, host: str) -> None:
    if given and not is_loopback(host):
        raise UsageError(f"{flag} is refused on {host}: only on a loopback address (127.0.0.1, ::1)")


def _uvicorn(app: Any, limits: Any, **options: Any) -> Any:
    """uvicorn's settings for a runship web app: every connection through
    the guard's h11 protocol, with these ``limits``; runship logs requests
    itself (one JSON line each), uvicorn's repeated warnings are rate-limited."""
    import uvicorn

    from runship.web.guard import GuardedH11Protocol, quiet_logs

    config = uvicorn.Config(
        app,
        access_log=False,
        log_level="warning",
        timeout_keep_alive=5,
        http=GuardedH11Protocol,
        server_header=False,
        **options,
    )
    # runship's own attribute on uvicorn's Config (deliberate): read by GuardedH11Protocol, in every worker
    config.runship_limits = limits  # type: ignore[attr-defined]
    quiet_logs()
    return config


def _serve_options(
    host: str, port: int, certfile: str | None, keyfile: str | None, trusted_proxies: tuple[str, ...]
) -> dict[str, Any]:
    """uvicorn's settings for runship serve (and its workers)."""
    from runship.web.guard import accept_backlog

    return dict(
        host=host,
        port=port,
        timeout_graceful_shutdown=30,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        backlog=accept_backlog(),
        # X-Forwarded-For and -Proto are believed only from the given proxies
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=",".join(trusted_proxies) if trusted_proxies else None,
    )


def _server(config: Any, lines: list[str] | None = None, log: Log = print) -> Any:
    """uvicorn's single-process server; ``lines`` are logged once the
    socket listens (a port in use: uvicorn's error, and no banner)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                for line in lines or []:
                    log(line)

    return Server(config)


def _run(uv: Any, workers: int, lines: list[str], log: Log) -> None:
    """uvicorn until stopped: one process, or a supervisor of ``workers``."""
    if workers > 1:
        sock = uv.bind_socket()
        for line in lines:
            log(line)
        _supervise(uv, sock)
        return
    server = _server(uv, lines, log)
    with interrupts.serving(server):
        server.run()


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


def _banner(root: str, host: str, port: int, tls: bool, tokens: list[Any] | None, workers: int) -> list[str]:
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
