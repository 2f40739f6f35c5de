"""The web app: one FastAPI app, made by ``create_app``, for both commands.

- ``runship serve`` (``serve_app``): the ingest API, the read API and the
  web app, over one store;
- ``runship ui`` (``ui_app``): the web app alone, over run roots, fsspec
  URLs or runship servers.

Ingest API, in the manner of the tus resumable-upload protocol (``views.ingest``):

- ``HEAD /v1/runs/{project}/{run}/streams/{name}``: the stored size, in the
  ``Upload-Offset`` header (also ``GET`` as JSON).
- ``PATCH /v1/runs/{project}/{run}/streams/{name}`` with ``Upload-Offset: N``:
  append the body at N. Bytes already stored and identical: success, nothing
  changes. A gap or different bytes: 409 with the stored size. The new bytes
  must be whole, committed batches (422 otherwise), so nothing torn or foreign
  ever reaches a stored run.
- ``PUT /v1/runs/{project}/{run}/derived/{path}``: create or replace
  ``run.json`` or ``files/...``. A file larger than one request goes in
  parts: ``PATCH`` with ``Upload-Offset``, ``Upload-Length`` and
  ``Upload-Checksum: sha256 <base64>``; the file is moved into place once
  whole and checked.

Read API: ``/v1/projects`` (only the projects the token may read),
``/v1/projects/{project}/runs``, ``/v1/runs/{project}/{run}`` (metadata,
config, summary, state), ``.../history``, ``.../files``, ``.../raw/{path}``,
``GET .../derived/{path}``. ``/health`` needs no token; ``/openapi.json``
and ``/docs`` need one unless the server was started with ``--public-docs``.

Artifacts (``views.artifacts``; the page's: ``views.artifact_pages``, docs/SERVER.md): ``/v1/artifacts/{projects,list,file,blob}``,
the artifact store's files in its layout, created once, a blob checked against its digest.

The web app: the page at ``/``, its files under ``/ui/static/`` and its
JSON API under ``/ui/api/`` (see docs/UI.md).

Every app answers errors through one mapper (``errors.error_answer``)
and sits behind the request guard (``guard.RequestGuard``: body size and
pace, Host names, the access log); every response carries
``Runship-Max-Body``, the largest body accepted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from runship import __version__
from runship.web.auth import Gate, Token, load_tokens
from runship.web.context import Web
from runship.web.errors import HANDLED, error_answer
from runship.web.guard import LOOPBACK_NAMES, Limits, RequestGuard
from runship.web.places import Runs, StorePlace, app_cache
from runship.web.storage import Storage
from runship.web.views import (
    annotate,
    artifact_pages,
    artifacts,
    console,
    files,
    ingest,
    media,
    operations,
    pages,
    run,
    runs,
    series,
    workspaces,
)

DEFAULT_MAX_BODY = 64 * 1024 * 1024
# each module's ``ui`` router
UI_VIEWS = (pages, runs, run, series, console, media, files, annotate, workspaces, artifact_pages)
READ_VIEWS = (runs, run, series, files)  # each module's ``v1`` router


@dataclass
class AppConfig:
    """What an app is made of. With a ``storage`` (``runship serve``): the
    ingest and read API over it, and the web app; without (``runship ui``):
    the web app alone."""

    places: list[Runs]  # where the web app reads runs
    gate: Gate  # who may read (and write)
    storage: Storage | None = None
    max_body: int = pages.MAX_LOGIN_BODY  # the largest request body taken
    access_log: bool = False
    public_docs: bool = False
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES  # Host header names answered; None: any


def create_app(config: AppConfig) -> FastAPI:
    """The app: its views, its one error mapper and the request guard."""
    serving = config.storage is not None
    docs = serving and config.public_docs
    about: dict[str, Any] = {"title": "runship ui"}
    if serving:
        about = {"title": "runship server", "version": __version__, "description": DESCRIPTION}
    app = FastAPI(
        **about, openapi_url="/openapi.json" if docs else None, docs_url="/docs" if docs else None, redoc_url=None
    )
    app.state.web = Web(config.places, config.gate, config.storage)
    for exc in HANDLED:
        app.add_exception_handler(exc, error_answer)
    if serving:
        app.include_router(operations.health_router)
        if not config.public_docs:
            app.include_router(operations.docs_router)
        app.include_router(ingest.v1)
        for read in READ_VIEWS:
            app.include_router(read.v1)
        app.include_router(workspaces.v1)
        app.include_router(artifacts.v1)
    for view in UI_VIEWS:
        app.include_router(view.ui)
    app.add_middleware(
        RequestGuard,
        max_body=config.max_body,
        larger={
            **workspaces.LARGE_BODY_PATHS,
            **annotate.LARGE_BODY_PATHS,
            **(artifacts.LARGE_BODY_PATHS if serving else {}),
        },
        body_timeout=config.limits.body_timeout,
        access_log=config.access_log,
        allowed_hosts=config.allowed_hosts,
    )
    return app


DESCRIPTION = "Ingest (tus-style appends of committed record batches) and read API for runship runs."


@dataclass
class ServeConfig:
    """What ``runship serve`` is started with (its workers read it from a file)."""

    root: str
    tokens: list[Token] | None = None  # None: no auth (--no-auth, loopback only)
    max_body: int = DEFAULT_MAX_BODY
    storage_options: dict[str, Any] = field(default_factory=dict)
    access_log: bool = True
    public_docs: bool = False
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES


def serve_app(config: ServeConfig) -> FastAPI:
    """``runship serve``'s app: ingest, read and the web app over one store
    (the web app with the read tokens and their project scopes)."""
    storage = Storage(config.root, config.storage_options)
    return create_app(
        AppConfig(
            [StorePlace(storage, app_cache())],
            Gate(config.tokens),
            storage,
            max_body=config.max_body,
            access_log=config.access_log,
            public_docs=config.public_docs,
            limits=config.limits,
            allowed_hosts=config.allowed_hosts,
        )
    )


def ui_app(
    places: list[Runs], gate: Gate, limits: Limits, allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES
) -> FastAPI:
    """``runship ui``'s app: the web app alone, no docs, behind the request
    guard (no body over the sign-in form's 8 KiB but a saved workspace's
    1 MiB or an annotation's 512 KiB, ``limits.body_timeout``,
    only ``allowed_hosts`` in the Host header: None for any, as an
    in-process test client may need)."""
    return create_app(AppConfig(places, gate, limits=limits, allowed_hosts=allowed_hosts))


def write_serve_config(config: ServeConfig, token_file: str | None) -> str:
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


def app_from_env() -> FastAPI:
    """For ``uvicorn --workers``: the config comes from the file named in
    $RUNSHIP_SERVE_CONFIG (JSON, mode 0600, written by ``serve``): the token
    file's path, storage options; never a token in the environment."""
    from runship.safefile import read_private

    raw = json.loads(read_private(os.environ["RUNSHIP_SERVE_CONFIG"], "server config"))
    tokens = load_tokens(raw["token_file"]) if raw.get("token_file") else None
    return serve_app(
        ServeConfig(
            raw["root"],
            tokens,
            raw.get("max_body", DEFAULT_MAX_BODY),
            raw.get("storage_options") or {},
            public_docs=bool(raw.get("public_docs")),
            limits=Limits(**(raw.get("limits") or {})),
            allowed_hosts=None if raw.get("allowed_hosts") is None else frozenset(raw["allowed_hosts"]),
        )
    )
