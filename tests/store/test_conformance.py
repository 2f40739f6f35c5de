"""One suite, every backend: each method of ``store.Backend`` is called on a
local directory, memory (``mem://``), S3 on moto's server and a real
``runship serve`` over HTTP, and what it stored is read back through the
backend itself (litestream's ``RunWithReplicaClient``)."""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import uuid

import msgpack
import pytest

import runship
from runship import store
from runship.errors import UsageError
from runship.store import Backend, Capabilities, ConflictError, GapError, RunSource, TargetError
from tests.plain import stream_files
from tests.servers import S3_ENV, RunshipServer

_counter = itertools.count()


class Kind:
    """A backend to test: how to open it and how to name one of its runs."""

    def __init__(self, name: str, url: str, options: dict | None = None, token: str | None = None):
        self.name, self.url, self.options, self.token = name, url, options or {}, token

    def open(self) -> Backend:
        return store.open(self.url, self.options, token=self.token)

    def run_location(self, project: str, run_id: str) -> str:
        return f"{self.url}/{project}/{run_id}"

    def read_options(self) -> dict:
        return {**self.options, "token": self.token} if self.token else self.options


@pytest.fixture(params=["local", "memory", "s3", "http"])
def kind(request, tmp_path):
    if request.param == "local":
        yield Kind("local", str(tmp_path / "remote"))
    elif request.param == "memory":
        yield Kind("memory", f"mem://t{uuid.uuid4().hex[:8]}")
    elif request.param == "s3":
        moto = request.getfixturevalue("moto")
        bucket = f"store-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        moto.create_bucket(bucket)
        for k, v in S3_ENV.items():
            os.environ.setdefault(k, v)
        yield Kind("s3", f"s3://{bucket}/prefix", {"endpoint_url": moto.endpoint})
    else:
        server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
        yield Kind("http", server.url, token=RunshipServer.TOKEN)
        server.stop()


@pytest.fixture
def backend(kind):
    """The backend opened, closed after the test."""
    opened = kind.open()
    yield opened
    opened.close()


@pytest.fixture
def stream(tmp_path):
    """(project, run_id, file name, bytes, commit ends) of a real stream file:
    the server takes whole committed batches under a header naming the run."""
    run = runship.init(
        project="p",
        id="r1",
        dir=str(tmp_path / "runs"),
        settings={"quiet": True, "environment": False, "console": "off", "flush_interval": 3600},
        reinit="create_new",
    )
    for i in range(30):
        run.log({"loss": 1 / (i + 1)})
        if i % 10 == 9:
            run.flush()
    run.finish()
    path = stream_files(run.run_dir)[0]
    with open(path, "rb") as f:
        data = f.read()
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    ends = [u.tell() for rec in u if rec["k"] == "commit"]
    assert len(ends) >= 3
    return "p", "r1", os.path.basename(path), data, ends


def test_capabilities_are_typed_and_frozen(kind, backend):
    assert isinstance(backend, Backend)
    assert type(backend.capabilities) is Capabilities
    with pytest.raises(dataclasses.FrozenInstanceError):
        backend.capabilities.concurrent = True  # type: ignore[misc]
    expected = {"local": (False, True, True), "memory": (False, True, True), "s3": (True, True, True)}
    flags = (backend.capabilities.needs_finalize, backend.capabilities.holds_sweeps, backend.capabilities.removes)
    assert flags == expected.get(kind.name, (False, False, False))


def test_push_then_every_read_sees_it(kind, stream, backend):
    project, run_id, name, data, ends = stream
    assert backend.remote_size(project, run_id, name) == 0
    assert backend.read_at(project, run_id, name, 0, 10) == b""
    assert backend.push(project, run_id, name, 0, data[: ends[0]]) == ends[0]
    assert backend.push(project, run_id, name, 0, data[: ends[0]]) == ends[0]  # a repeat: success
    assert backend.remote_size(project, run_id, name) == ends[0]
    first = backend.stamp(project, run_id, name, ends[0])
    assert backend.push(project, run_id, name, ends[0], data[ends[0] : ends[-1]]) == ends[-1]
    assert backend.remote_size(project, run_id, name) == ends[-1]
    assert backend.read_at(project, run_id, name, 0, ends[-1]) == data[: ends[-1]]
    assert backend.read_at(project, run_id, name, 5, 20) == data[5:25]
    assert backend.read_at(project, run_id, name, ends[-1] - 3, 100) == data[ends[-1] - 3 : ends[-1]]
    assert (project, run_id) in backend.list_runs()
    assert name in backend.names(project, run_id)
    with backend.open(project, run_id, name) as f:
        assert f.read() == data[: ends[-1]]
    later = backend.stamp(project, run_id, name, ends[-1])
    if kind.name == "http":
        assert (first, later) == (None, None)  # the server says sizes only
    else:
        assert first is not None and later is not None and first != later


def test_a_gap_and_other_bytes_are_refused(kind, stream, backend):
    project, run_id, name, data, ends = stream
    backend.push(project, run_id, name, 0, data[: ends[0]])
    with pytest.raises(GapError) as gap:
        backend.push(project, run_id, name, ends[1], data[ends[1] : ends[2]])
    assert gap.value.size == ends[0] and not gap.value.retryable
    other = bytearray(data[: ends[0]])
    other[ends[0] // 2] ^= 0xFF
    with pytest.raises(ConflictError):
        backend.push(project, run_id, name, 0, bytes(other))
    assert backend.read_at(project, run_id, name, 0, ends[0]) == data[: ends[0]]  # never overwritten


def test_finalize_stores_the_file_whole(kind, stream, backend):
    project, run_id, name, data, ends = stream
    backend.push(project, run_id, name, 0, data[: ends[0]])
    backend.push(project, run_id, name, ends[0], data[ends[0] : ends[-1]])
    size = ends[-1]
    sent = backend.finalize(project, run_id, name, io.BytesIO(data + b"uncommitted tail"), size)
    assert sent == (size if backend.capabilities.needs_finalize else 0)
    assert backend.finalize(project, run_id, name, io.BytesIO(data), size) == 0  # whole already
    assert backend.remote_size(project, run_id, name) == size
    assert backend.read_at(project, run_id, name, 0, size + 100) == data[:size]
    assert backend.names(project, run_id) == [name]  # chunks are not files of the run


def test_put_file_creates_and_replaces(kind, stream, backend):
    project, run_id, name, data, ends = stream
    backend.push(project, run_id, name, 0, data[: ends[0]])
    backend.put_file(project, run_id, "files/note.txt", io.BytesIO(b"first version, and more"), 13)
    with backend.open(project, run_id, "files/note.txt") as f:
        assert f.read() == b"first version"
    body = b'{"state": "finished"}'
    backend.put_file(project, run_id, "run.json", io.BytesIO(body), len(body))
    backend.put_file(project, run_id, "files/note.txt", io.BytesIO(b"second"), 6)
    with backend.open(project, run_id, "files/note.txt") as f:
        assert f.read() == b"second"
    assert backend.run(project, run_id).read("run.json") == body
    assert ("run.json" in backend.names(project, run_id)) == (kind.name != "http")  # a server lists streams


def test_remove_deletes_where_it_can(kind, stream, backend):
    project, run_id, name, data, ends = stream
    backend.push(project, run_id, name, 0, data[: ends[0]])
    if not backend.capabilities.removes:
        with pytest.raises(TargetError):
            backend.remove(project, run_id, name)
        assert backend.remote_size(project, run_id, name) == ends[0]
        return
    backend.push(project, run_id, "other.msgpack", 0, b"x")
    backend.remove(project, run_id, name)
    backend.remove(project, run_id, name)  # not there: nothing to do
    assert backend.remote_size(project, run_id, name) == 0
    assert backend.read_at(project, run_id, name, 0, 10) == b""
    assert backend.names(project, run_id) == ["other.msgpack"]


def test_a_run_reads_the_same_by_its_location(kind, stream, backend):
    project, run_id, name, data, ends = stream
    backend.push(project, run_id, name, 0, data[: ends[-1]])
    by_backend = backend.run(project, run_id)
    by_location = store.open_run(kind.run_location(project, run_id), kind.read_options())
    for source in (by_backend, by_location):
        assert isinstance(source, RunSource)
        assert source.names() == [name]
        assert (source.kind(name), source.size(name)) == ("file", ends[-1])
        assert source.read_at(name, 3, 7) == data[3:10]
        assert source.read(name) == data[: ends[-1]]
        assert (source.parent_name, source.basename) == (project, run_id)
    assert runship.open_run(kind.run_location(project, run_id), storage_options=kind.read_options()).history()


@pytest.mark.parametrize("bad", ["s3:/bucket/runs", "s3:bucket", "htp://host/runs", "mem:/x", ""])
def test_what_is_not_a_location_is_refused_by_both_entries(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError):
        store.open(bad)
    with pytest.raises(UsageError):
        store.open_run(f"{bad}/p/r" if bad else bad)
    assert os.listdir(tmp_path) == []  # not taken for a directory name


def test_the_registry_imports_a_backend_on_first_use():
    import subprocess
    import sys

    code = (
        "import sys; from runship import store; b = store.open('mem://lazy');"
        "print(type(b).__name__, 'runship.store.objectstore' in sys.modules, 'runship.store.http' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["MemoryBackend", "False", "False"]


def test_the_uploader_ships_a_run_to_memory_and_it_reads_the_same(tmp_path):
    """The memory backend behind the real uploader: what a test needs of a
    remote without a server or a bucket."""
    from runship.uploader import State, Uploader

    run = runship.init(
        project="p",
        id="m1",
        dir=str(tmp_path / "runs"),
        settings={"quiet": True, "environment": False, "console": "off"},
        reinit="create_new",
    )
    for i in range(20):
        run.log({"loss": 1 / (i + 1)})
    run.finish()
    url = f"mem://up{uuid.uuid4().hex[:8]}"
    state = State(str(tmp_path / "state"))
    try:
        stats = Uploader(store.open(url), state, [str(tmp_path / "runs")], stable_seconds=0).run_pass()
    finally:
        state.close()
    assert (stats.runs_uploaded, stats.failures) == (1, [])
    assert store.open(url).list_runs() == [("p", "m1")]
    remote = runship.open_run(f"{url}/p/m1")
    assert remote.history() == runship.open_run(run.run_dir).history()
    assert remote.summary == runship.open_run(run.run_dir).summary


def test_the_store_imports_nothing_above_it():
    """store sits right above schema: no reader, writer, uploader, web app or CLI."""
    import ast
    import pathlib

    allowed = {"store", "schema", "errors", "extras", "safefile", "util", "interrupts"}
    here = pathlib.Path(store.__file__).parent
    for path in here.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "runship" else [f"runship.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "runship":
                    assert len(parts) > 1 and parts[1] in allowed, f"{path.name} imports {name}"
