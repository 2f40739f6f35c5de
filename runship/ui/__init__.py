"""``runship ui``: a web app over run roots, fsspec URLs or runship servers,
served from this machine with everything it needs inside the package (no
CDN, no build step). ``runship serve`` serves the same app at ``/``."""

from __future__ import annotations

import secrets
import socket
from typing import Any

from runship import interrupts
from runship.errors import UsageError
from runship.store.http import is_loopback

__all__ = ["serve_ui"]


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
    log=print,
    ready=None,
) -> None:
    """Serve the app until SIGINT/SIGTERM. ``token``: the one to ask for
    (default: a new random one); ``no_token``: ask for none (loopback
    addresses only); ``limits``: the connection guard's (``Limits``);
    requests are answered under the loopback names, ``host`` and
    ``allow_hosts`` only (any name on a wildcard address). Prints the URL
    to open: a new random token rides in its fragment
    (``/ui/signin#token=``), which the browser never sends; the sign-in
    page posts it once. ``ready(url)`` is
    called once the socket listens."""
    import uvicorn

    from runship.server.guard import (
        GuardedH11Protocol,
        Limits,
        accept_backlog,
        allowed_hosts,
        quiet_logs,
        raise_open_file_limit,
    )
    from runship.ui.app import UIAuth, create_ui_app
    from runship.ui.data import Place, app_cache

    if no_token and token:
        raise UsageError("a token and --no-token: choose one")
    if no_token and not is_loopback(host):
        raise UsageError(f"--no-token is refused on {host}: only on a loopback address (127.0.0.1, ::1)")
    if not roots:
        raise ValueError("no run root to show")
    secret = None if no_token else (token or secrets.token_urlsafe(32))
    shared = app_cache(cache)
    places = [Place(r, storage_options, shared) for r in roots]
    limits = limits or Limits()
    app = create_ui_app(places, UIAuth(secret=secret), limits=limits, allowed_hosts=allowed_hosts(host, allow_hosts))
    raise_open_file_limit()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=accept_backlog())
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    # a new random token is printed in the URL (the only way to learn it, as
    # Jupyter does), in the fragment: never sent, so never in a server's or
    # proxy's log; the page takes it out of the address bar and the session
    # history and posts it once. A token of the user's own (a file, the
    # environment) is never printed.
    url = f"http://{shown}:{bound}/" + (f"ui/signin#token={secret}" if secret and not token else "")
    log(f"runship ui: {', '.join(roots)}")
    log(f"  open {url}" + ("  (sign in with your token)" if token else ""))
    if no_token:
        log("WARNING: --no-token: anyone on this machine can read these runs through this page")
    config = uvicorn.Config(
        app,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=5,
        http=GuardedH11Protocol,
        server_header=False,
    )
    config.runship_limits = limits  # type: ignore[attr-defined]
    quiet_logs()
    server = uvicorn.Server(config)
    if ready is not None:
        ready(url)
    with interrupts.serving(server):
        server.run(sockets=[sock])
