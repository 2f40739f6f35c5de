"""``runship serve``: the ingest and read server (FastAPI on uvicorn).

Needs the ``server`` extra: ``pip install 'runship[server]'``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except OSError:
            return False


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
    log=print,
) -> None:
    """Run the server until SIGTERM/SIGINT (in-flight requests finish first)."""
    try:
        import uvicorn

        from runship.server.app import DEFAULT_MAX_BODY, ServerConfig, create_app
        from runship.server.auth import load_tokens
    except ImportError as e:
        raise RuntimeError(f"runship serve needs the server extra: pip install 'runship[server]' ({e})") from None
    if token_file is None and not no_auth:
        raise ValueError("token auth is on by default: give --token-file, or --no-auth (loopback addresses only)")
    if no_auth and not is_loopback(host):
        raise ValueError(f"--no-auth is refused on {host}: only on a loopback address (127.0.0.1, ::1)")
    if (certfile is None) != (keyfile is None):
        raise ValueError("TLS needs both --cert and --key")
    tokens = load_tokens(token_file) if token_file else None
    if no_auth:
        log(f"WARNING: runship serve without authentication on {host}:{port}: anyone on this machine can write runs")
    if "://" not in root:
        os.makedirs(root, exist_ok=True)
    config = ServerConfig(root, tokens, max_body or DEFAULT_MAX_BODY, storage_options or {})
    options = dict(
        host=host,
        port=port,
        access_log=False,  # runship logs one JSON line per request itself
        log_level="warning",
        timeout_graceful_shutdown=30,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    if workers > 1:
        os.environ["RUNSHIP_SERVE_CONFIG"] = json.dumps(
            {
                "root": root,
                "token_file": os.path.abspath(token_file) if token_file else None,
                "max_body": config.max_body,
                "storage_options": config.storage_options,
            }
        )
        uvicorn.run("runship.server.app:app_from_env", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(config), **options)
