from __future__ import annotations

import itertools
import uuid

import pytest

import runship
from tests.servers import S3_ENV, RunshipServer

_counter = itertools.count()


class TargetKind:
    """One kind of upload target, for the conformance suite."""

    def __init__(
        self, name: str, url: str, options: dict | None = None, env: dict | None = None, token=None, stored=None
    ):
        self.name = name
        self.url = url
        self.options = options or {}
        self.env = env or {}
        self.token = token
        self.stored = stored  # where a server keeps what it was sent

    def open(self):
        from runship import store

        return store.open(self.url, self.options, token=self.token)

    def run_url(self, project: str, run_id: str) -> str:
        if self.stored is not None:
            return f"{self.stored}/{project}/{run_id}"
        return f"{self.url}/{project}/{run_id}"

    def open_remote(self, project: str, run_id: str):
        return runship.open_run(self.run_url(project, run_id), storage_options=self.options)


def _kind(name, request, tmp_path):
    if name == "file":
        yield TargetKind("file", f"file://{tmp_path / 'remote'}")
    elif name == "memory":
        base = f"memory://t{uuid.uuid4().hex[:8]}"
        yield TargetKind("memory", base)
        import fsspec

        try:
            fsspec.filesystem("memory").rm(base.split("://", 1)[1], recursive=True)
        except FileNotFoundError:
            pass
    elif name == "http":
        server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
        yield TargetKind(
            "http",
            server.url,
            token=RunshipServer.TOKEN,
            stored=str(tmp_path / "served"),
            env={"RUNSHIP_TOKEN": RunshipServer.TOKEN},
        )
        server.stop()
    else:
        moto = request.getfixturevalue("moto")
        bucket = f"runs-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        moto.create_bucket(bucket)
        env = {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
        yield TargetKind("s3", f"s3://{bucket}/prefix", {"endpoint_url": moto.endpoint}, env)


@pytest.fixture(params=["file", "memory", "s3", "http"])
def target_kind(request, tmp_path):
    """Every kind of target."""
    yield from _kind(request.param, request, tmp_path)


@pytest.fixture(params=["memory", "s3"])
def object_kind(request, tmp_path):
    """Object stores only (no append: chunk objects)."""
    yield from _kind(request.param, request, tmp_path)
