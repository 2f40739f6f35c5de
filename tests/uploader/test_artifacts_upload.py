"""``runship upload`` ships each project's artifact store (``.artifacts/``)
with its runs: to an object store (moto's S3 server on loopback) and to a
real ``runship serve`` (its ``/v1/artifacts`` endpoints), where
``ArtifactStore(area_at(url))`` reads the very versions, aliases, uses and
bytes logged here. Only what the target lacks goes: a second pass sends
nothing, ten versions of a file differing in one chunk send that chunk ten
times and the rest once, and an upload killed midway goes on without
sending a finished blob again. The server refuses a blob whose bytes are
not its name, a manifest that fails its checks, and a token without the
project's scope; a conflicting version is reported, never overwritten; a
link or FIFO in a local store is skipped with a warning."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
import uuid

import pytest

from runship import store
from runship.schema import artifacts as sa
from runship.store.artifact_remote import AreaRefused, FsspecArea, area_at, put_once
from runship.store.artifacts import ArtifactStore, LocalArea
from runship.uploader.engine import Log, Uploader
from runship.uploader.state import State
from tests.conftest import upload_cmd, upload_popen
from tests.servers import S3_ENV, RunshipServer, call

MiB = 1024 * 1024


# ---- helpers -------------------------------------------------------------------------------------
def _log(root: str, project: str, name: str, files: dict[str, bytes], aliases=(), tmp=None) -> dict:
    """Log a version of ``name`` holding ``files`` into the root's store (as a run's log_artifact does)."""
    local = ArtifactStore(LocalArea(root))
    where = tmp or os.path.join(root, "..", "src")
    os.makedirs(where, exist_ok=True)
    entries = {}
    for path, data in files.items():
        src = os.path.join(where, uuid.uuid4().hex)
        with open(src, "wb") as f:
            f.write(data)
        entries[path] = local.add_file(project, src)
    doc = {"name": name, "type": "dataset", "description": None, "metadata": {"n": len(files)}, "files": entries}
    manifest, _ = local.publish(project, doc, list(aliases), run="r1")
    return manifest


def _with_run(root: str, make_run, project: str) -> None:
    """A root with a run in ``project`` (what ``runship upload`` goes through)."""
    run = make_run(project=project)
    run.log({"loss": 1.0})
    run.finish()


def _pass(root: str, url: str, state_dir, options=None, token=None, **kwargs):
    """One upload pass in this process: (its stats, what it logged)."""
    out = io.StringIO()
    target = store.open(url, dict(options or {}), token=token)
    state = State(str(state_dir))
    try:
        stats = Uploader(target, state, [root], log=Log(1, stream=out), **kwargs).run_pass()
    finally:
        state.close()
        if hasattr(target, "close"):
            target.close()
    return stats, out.getvalue()


def _same_store(local: ArtifactStore, remote: ArtifactStore, project: str) -> None:
    """``remote`` holds every version, alias, use and byte ``local`` does."""
    assert remote.names(project) == local.names(project)
    for name in local.names(project):
        assert remote.indexes(project, name) == local.indexes(project, name)
        assert remote.aliases(project, name) == local.aliases(project, name)
        for index in local.indexes(project, name):
            manifest = local.manifest(project, name, index)
            assert remote.manifest(project, name, index) == manifest
            assert remote.users(project, name, index) == local.users(project, name, index)
            for entry in manifest["files"].values():
                assert b"".join(remote.read_file(project, entry)) == b"".join(local.read_file(project, entry))


def _tree(top: str) -> dict[str, bytes]:
    out = {}
    for d, _, files in os.walk(top):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                out[os.path.relpath(os.path.join(d, f), top)] = fh.read()
    return out


@pytest.fixture
def logged(root, make_run):
    """A root with a run and artifacts in project p: ds v0 (a small, an
    empty and a two-chunk file, alias best), ds v1 (one file changed, alias
    prod), a use of v0, and model v0."""
    _with_run(root, make_run, "p")
    big = os.urandom(sa.CHUNK_SIZE + 1000)
    _log(root, "p", "ds", {"a.txt": b"hello", "empty": b"", "data/big.bin": big}, ["best"])
    _log(root, "p", "ds", {"a.txt": b"hello v1", "empty": b"", "data/big.bin": big}, ["prod"])
    ArtifactStore(LocalArea(root)).record_use("p", "ds", 0, "r2")
    _log(root, "p", "model", {"w.bin": os.urandom(5000)})
    return root


@pytest.fixture
def bucket(moto):
    name = f"art-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(name)
    return f"s3://{name}/runs", {"endpoint_url": moto.endpoint}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One ``runship serve`` for the module's tests (each uses its own project)."""
    work = tmp_path_factory.mktemp("artifact-server")
    srv = RunshipServer(str(work / "served"), str(work)).start()
    yield srv
    srv.stop()


# ---- to an object store and to a server: read back as logged ----------------------------------------
def test_upload_to_s3_reads_back_byte_exact_and_a_second_pass_sends_nothing(logged, bucket, tmp_path):
    url, options = bucket
    first, _ = _pass(logged, url, tmp_path / "state", options)
    assert not first.failures, first.failures
    # blobs: a.txt twice, empty, two chunks, w.bin = 6; documents: 3 manifests, 3 digests, 2 alias events, 1 use
    assert first.artifact_files == 6 + 9
    _same_store(ArtifactStore(LocalArea(logged)), ArtifactStore(area_at(url, options)), "p")

    again, _ = _pass(logged, url, tmp_path / "state", options)
    assert (again.bytes, again.artifact_files, again.failures) == (0, 0, [])
    # a fresh state asks the target, which holds it all: nothing is sent either
    fresh, _ = _pass(logged, url, tmp_path / "state2", options, verify_remote=True)
    assert (fresh.artifact_files, fresh.failures) == (0, [])


def test_upload_to_a_server_stores_the_same_files_and_reads_back(root, make_run, server, tmp_path):
    project = f"p{uuid.uuid4().hex[:6]}"
    _with_run(root, make_run, project)
    _log(root, project, "ds", {"a.txt": b"one", "big": os.urandom(sa.CHUNK_SIZE + 10)}, ["best"])
    _log(root, project, "ds", {"a.txt": b"two"}, ["best"])
    ArtifactStore(LocalArea(root)).record_use(project, "ds", 1, "r9")

    stats, _ = _pass(root, server.url, tmp_path / "state", token=RunshipServer.TOKEN)
    assert not stats.failures, stats.failures
    local = ArtifactStore(LocalArea(root))
    _same_store(local, ArtifactStore(area_at(server.url, {"token": RunshipServer.TOKEN})), project)
    # the server keeps them in its root, in the same layout, byte for byte
    mine = _tree(os.path.join(root, project, sa.STORE_DIR))
    assert _tree(os.path.join(server.root, project, sa.STORE_DIR)) == mine
    assert (
        ArtifactStore(area_at(server.url, {"token": RunshipServer.READ_TOKEN})).resolve(project, "ds", "best")[
            "version"
        ]
        == "v1"
    )

    again, _ = _pass(root, server.url, tmp_path / "state", token=RunshipServer.TOKEN)
    assert (again.bytes, again.artifact_files, again.failures) == (0, 0, [])


def test_ten_versions_differing_in_one_chunk_send_that_chunk_only(root, make_run, server, tmp_path):
    project = f"d{uuid.uuid4().hex[:6]}"
    _with_run(root, make_run, project)
    base = bytearray(os.urandom(2 * sa.CHUNK_SIZE + 1000))  # two whole chunks and a 1000-byte tail
    base[-1] = 0  # (a random last byte of 1 to 9 would make one of the nine below the same contents)
    _log(root, project, "data", {"x.bin": bytes(base)})
    first, _ = _pass(root, server.url, tmp_path / "state", token=RunshipServer.TOKEN)
    assert not first.failures and 2 * sa.CHUNK_SIZE + 1000 <= first.bytes < 2 * sa.CHUNK_SIZE + 64 * 1024

    for i in range(1, 10):
        base[-1] = i  # a small change, in the tail chunk
        _log(root, project, "data", {"x.bin": bytes(base)})
    later, _ = _pass(root, server.url, tmp_path / "state", token=RunshipServer.TOKEN)
    assert not later.failures, later.failures
    # nine tails (1000 bytes each) and nine versions' small documents: not 9 x 8 MiB
    assert 9 * 1000 <= later.bytes < 9 * 1000 + 64 * 1024
    blobs = [f for f in _tree(os.path.join(server.root, project, sa.STORE_DIR)) if f.startswith("blobs/")]
    assert len(blobs) == 2 + 10
    remote = ArtifactStore(area_at(server.url, {"token": RunshipServer.TOKEN}))
    assert remote.indexes(project, "data") == list(range(10))
    assert b"".join(remote.read_file(project, remote.resolve(project, "data")["files"]["x.bin"])) == bytes(base)


@pytest.mark.heavy  # ~5 s (a server over moto's S3): make test-heavy
def test_a_server_over_an_object_store_keeps_them_in_the_bucket(logged, moto, tmp_path, monkeypatch):
    name = f"art-served-{uuid.uuid4().hex[:6]}"
    moto.create_bucket(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    srv = RunshipServer(f"s3://{name}/runs", str(tmp_path)).start()
    try:
        stats, _ = _pass(logged, srv.url, tmp_path / "state", token=RunshipServer.TOKEN)
        assert not stats.failures, stats.failures
        local = ArtifactStore(LocalArea(logged))
        _same_store(local, ArtifactStore(area_at(srv.url, {"token": RunshipServer.TOKEN})), "p")
        _same_store(local, ArtifactStore(area_at(f"s3://{name}/runs", {"endpoint_url": moto.endpoint})), "p")
    finally:
        srv.stop()


# ---- object stores that do not keep their word -------------------------------------------------
class _Loose:
    """An S3-compatible store's filesystem that takes ``mode="create"`` (If-None-Match)
    and ignores it; ``after(path, data)`` runs after each write (another writer's, landing next)."""

    def __init__(self, fs, after=None):
        self.fs, self.after = fs, after

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def pipe_file(self, path, data, mode="overwrite", **kwargs):
        self.fs.pipe_file(path, data)
        if self.after is not None:
            self.after(path, data)


def _manifest_doc(name: str, index: int, files: dict[str, bytes]) -> dict:
    entries = {p: {"digest": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()}
    return {
        "format": sa.MANIFEST_FORMAT,
        "schema": sa.MANIFEST_SCHEMA,
        "name": name,
        "version": f"v{index}",
        "type": "dataset",
        "metadata": {},
        "aliases": [],
        "files": entries,
        "digest": sa.contents_digest(entries, {}),
    }


def test_on_a_store_that_ignores_create_only_the_writer_whose_bytes_are_not_there_did_not_make_it(bucket):
    url, options = bucket
    plain = area_at(url, options)
    assert isinstance(plain, FsspecArea)
    theirs = _manifest_doc("ds", 0, {"a": b"theirs"})
    racing: list[bytes] = []

    def other_writer(path, data):  # another writer's PUT of the same name lands right after ours
        if path.endswith("/names/ds/v0.json") and racing:
            plain.fs.pipe_file(path, racing.pop())

    area = FsspecArea(url, options, opened=(_Loose(plain.fs, other_writer), plain.path))
    racing.append(sa.encode_doc(theirs))
    put = put_once(area, "p", "names/ds/v0.json", sa.encode_doc(_manifest_doc("ds", 0, {"a": b"mine"})))
    assert (put.made, put.identical, put.digest) == (False, False, theirs["digest"])

    # a version claimed on such a store: v0 went to the other writer, so this one is v1
    racing.append(sa.encode_doc(theirs))
    mine = _manifest_doc("ds", 0, {"a": b"mine"})
    got, made = ArtifactStore(area).publish(
        "q", {"name": "ds", "type": "dataset", "metadata": {}, "files": mine["files"]}, []
    )
    assert (got["version"], made) == ("v1", True)
    held = ArtifactStore(plain)
    assert held.manifest("q", "ds", 0)["digest"] == theirs["digest"]
    assert held.manifest("q", "ds", 1)["digest"] == mine["digest"]


def test_a_blob_of_the_wrong_size_on_s3_is_replaced_and_never_marked_sent(logged, bucket, tmp_path):
    url, options = bucket
    area = area_at(url, options)
    entry = ArtifactStore(LocalArea(logged)).manifest("p", "model", 0)["files"]["w.bin"]
    digest = entry["digest"]
    area.fs.pipe_file(f"{area.path}/p/{sa.STORE_DIR}/{sa.blob_rel(digest)}", b"cut short")
    stats, _ = _pass(logged, url, tmp_path / "state", options)
    assert not stats.failures, stats.failures
    assert area.blob_size("p", digest) == entry["size"]
    _same_store(ArtifactStore(LocalArea(logged)), ArtifactStore(area_at(url, options)), "p")

    # a store that keeps cutting it: a failure, never "sent"
    data = os.urandom(300)
    d = hashlib.sha256(data).hexdigest()

    def cut(path, written):
        if path.endswith(d):
            area.fs.pipe_file(path, written[:10])

    loose = FsspecArea(url, options, opened=(_Loose(area.fs, cut), area.path))
    with pytest.raises(AreaRefused, match="10 bytes after 300"):
        loose.put_blob("p", d, data)


# ---- an upload killed midway ---------------------------------------------------------------------
def _many_blobs(root: str, make_run, project: str, n: int) -> None:
    _with_run(root, make_run, project)
    _log(root, project, "shards", {f"s{i:04d}": os.urandom(16 * 1024) for i in range(n)})


def _held(top: str) -> list[str]:
    return [f for d, _, fs in os.walk(top) for f in fs]


def test_a_killed_upload_goes_on_without_sending_a_finished_blob_again(root, make_run, server, tmp_path):
    n, project = 200, f"k{uuid.uuid4().hex[:6]}"
    _many_blobs(root, make_run, project, n)
    since = time.time()
    env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN}
    blobs = os.path.join(server.root, project, sa.STORE_DIR, "blobs")
    proc = upload_popen([root], server.url, tmp_path / "state", env=env)
    deadline = time.time() + 60
    while len(_held(blobs)) < 20 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    landed = len(_held(blobs))
    assert 20 <= landed < n, f"{landed} of {n} blobs had landed when the upload was killed"

    out = upload_cmd([root], server.url, tmp_path / "state", env=env)
    assert out.returncode == 0, out.stderr
    assert len(_held(blobs)) == n
    # every blob was stored by exactly one request, across both uploads (this test's requests: since it began)
    puts = [
        e
        for e in map(json.loads, (line for line in server.log().splitlines() if line.startswith("{")))
        if e.get("t", 0) >= since
        and e.get("method") == "PUT"
        and e.get("path") == "/v1/artifacts/blob"
        and e.get("status") == 200
    ]
    assert len(puts) == n
    remote = ArtifactStore(area_at(server.url, {"token": RunshipServer.TOKEN}))
    _same_store(ArtifactStore(LocalArea(root)), remote, project)


@pytest.mark.heavy
def test_a_killed_upload_to_s3_goes_on_without_rewriting_a_finished_blob(root, make_run, tmp_path, bucket, moto):
    import boto3

    n = 200
    _many_blobs(root, make_run, "p", n)
    url, options = bucket
    name = url.split("/")[2]
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")

    def blobs() -> dict[str, object]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix="runs/p/.artifacts/blobs/")
        return {o["Key"]: o["LastModified"] for page in pages for o in page.get("Contents", [])}

    env = {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
    proc = upload_popen([root], url, tmp_path / "state", env=env)
    deadline = time.time() + 60
    while len(blobs()) < 20 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    before = blobs()
    assert 20 <= len(before) < n, f"{len(before)} of {n} blobs had landed when the upload was killed"
    time.sleep(0.05)

    out = upload_cmd([root], url, tmp_path / "state", env=env)
    assert out.returncode == 0, out.stderr
    after = blobs()
    assert len(after) == n
    assert {k: after[k] for k in before} == before  # not one written again
    _same_store(ArtifactStore(LocalArea(root)), ArtifactStore(area_at(url, options)), "p")


# ---- what the server refuses -----------------------------------------------------------------------
def test_the_server_refuses_a_wrong_blob_a_bad_manifest_and_a_foreign_token(server):
    project = f"r{uuid.uuid4().hex[:6]}"
    data = b"some bytes"
    digest = hashlib.sha256(data).hexdigest()
    blob = f"/v1/artifacts/blob?project={project}&digest={digest}"
    status, _, body = call(server, "PUT", blob, b"other bytes")
    assert status == 400 and b"SHA-256" in body
    assert call(server, "HEAD", blob)[0] == 404  # nothing was stored
    big = b"x" * (sa.CHUNK_SIZE + 1)
    assert (
        call(server, "PUT", f"/v1/artifacts/blob?project={project}&digest={hashlib.sha256(big).hexdigest()}", big)[0]
        == 413
    )
    assert call(server, "PUT", blob, data)[0] == 200
    status, headers, _ = call(server, "HEAD", blob)
    assert status == 200 and headers["runship-blob-size"] == str(len(data))

    entry = {"digest": digest, "size": len(data)}
    good = {
        "format": sa.MANIFEST_FORMAT,
        "schema": 1,
        "name": "ds",
        "version": "v0",
        "type": "dataset",
        "metadata": {},
        "aliases": [],
        "files": {"f": entry},
        "digest": sa.contents_digest({"f": entry}, {}),
    }
    put = f"/v1/artifacts/file?project={project}&path=names/ds/v0.json"
    for bad in ({**good, "digest": "0" * 64}, {**good, "version": "v1"}, {**good, "files": {"../f": entry}}):
        status, _, body = call(server, "PUT", put, sa.encode_doc(bad))
        assert status == 400, body
    lacking = {"digest": "ab" * 32, "size": 3}
    orphan = {**good, "files": {"f": lacking}, "digest": sa.contents_digest({"f": lacking}, {})}
    status, _, body = call(server, "PUT", put, sa.encode_doc(orphan))
    assert status == 409 and b"send them first" in body  # a manifest comes after its blobs
    assert call(server, "PUT", f"/v1/artifacts/file?project={project}&path=names/ds/../../x", b"{}")[0] == 400
    assert call(server, "PUT", "/v1/artifacts/file?project=..&path=names/ds/v0.json", b"{}")[0] == 400

    status, _, body = call(server, "PUT", put, sa.encode_doc(good))
    assert status == 200 and json.loads(body) == {"created": True, "identical": True, "digest": None}
    other = {**good, "metadata": {"k": 1}}
    status, _, body = call(server, "PUT", put, sa.encode_doc(other))  # never replaced; the same contents said
    assert status == 200 and json.loads(body) == {"created": False, "identical": False, "digest": good["digest"]}
    assert call(server, "GET", put)[2] == sa.encode_doc(good)

    # scopes: the mnist-only token neither reads nor writes this project; the read token does not write
    for method, path, body in (("PUT", blob, data), ("GET", blob, None), ("GET", put, None), ("HEAD", blob, None)):
        assert call(server, method, path, body, token=RunshipServer.MNIST_TOKEN)[0] == 403, (method, path)
    assert call(server, "PUT", blob, data, token=RunshipServer.READ_TOKEN)[0] == 403
    assert call(server, "GET", blob, token=RunshipServer.READ_TOKEN)[2] == data
    assert call(server, "GET", blob, token=None)[0] == 401
    status, _, body = call(server, "GET", "/v1/artifacts/projects", token=RunshipServer.MNIST_TOKEN)
    assert status == 200 and project not in json.loads(body)["projects"]

    # alias events appended by the server: each checked before any is appended; a writer's only
    append = f"/v1/artifacts/aliases?project={project}&name=ds"
    event = {"alias": "best", "version": "v0", "t": 1.0, "run": None}
    for bad in ({"events": [event, {**event, "alias": "v3"}]}, {"events": [{**event, "t": "now"}]}, {"events": 3}):
        assert call(server, "POST", append, json.dumps(bad).encode())[0] == 400, bad
    assert (
        call(server, "POST", append, json.dumps({"events": [event]}).encode(), token=RunshipServer.READ_TOKEN)[0] == 403
    )
    for seqs in ([0], [None]):
        status, _, body = call(server, "POST", append, json.dumps({"events": [event]}).encode())
        assert status == 200 and json.loads(body) == {"seqs": seqs}


def test_the_server_takes_a_digest_file_only_of_a_version_it_holds_with_that_digest(server):
    project = f"g{uuid.uuid4().hex[:6]}"
    data = b"held"
    digest = hashlib.sha256(data).hexdigest()
    assert call(server, "PUT", f"/v1/artifacts/blob?project={project}&digest={digest}", data)[0] == 200
    doc = _manifest_doc("ds", 0, {"f": data})
    assert (
        call(server, "PUT", f"/v1/artifacts/file?project={project}&path=names/ds/v0.json", sa.encode_doc(doc))[0] == 200
    )

    def put_digest(d: str, body: bytes):
        status, _, answer = call(server, "PUT", f"/v1/artifacts/file?project={project}&path=names/ds/digests/{d}", body)
        return status, answer.decode()

    assert put_digest(doc["digest"], b"vx")[0] == 400
    status, why = put_digest(doc["digest"], b"v9")
    assert status == 409 and "ds:v9 is not held" in why
    status, why = put_digest("ab" * 32, b"v0")
    assert status == 409 and doc["digest"] in why
    assert put_digest(doc["digest"], b"v0")[0] == 200
    assert (
        ArtifactStore(area_at(server.url, {"token": RunshipServer.TOKEN})).publish(
            project, {"name": "ds", "type": "dataset", "metadata": {}, "files": doc["files"]}, []
        )[0]["version"]
        == "v0"
    )  # the digest file names it: the same contents are that version


@pytest.fixture
def app_client(tmp_path):
    """``runship serve``'s app in this process (no auth), for what needs patching."""
    from fastapi.testclient import TestClient

    from runship.web.app import ServeConfig, serve_app

    with TestClient(serve_app(ServeConfig(str(tmp_path / "served"), None, access_log=False, allowed_hosts=None))) as c:
        yield c


def test_the_server_parses_a_manifest_once_bounds_its_files_and_stops_at_the_first_missing_blob(
    app_client, monkeypatch, tmp_path
):
    from runship.store.artifacts import LocalArea as Local
    from runship.web.views import artifacts as views

    parsed, asked = [], []
    decode = sa.decode_doc
    monkeypatch.setattr(sa, "decode_doc", lambda data, what: parsed.append(what) or decode(data, what))
    size = Local.blob_size
    monkeypatch.setattr(Local, "blob_size", lambda self, p, d: asked.append(d) or size(self, p, d))
    put = "/v1/artifacts/file?project=p&path=names/ds/v0.json"
    lacking = _manifest_doc("ds", 0, {f"f{i}": str(i).encode() for i in range(1000)})
    r = app_client.put(put, content=sa.encode_doc(lacking))
    assert r.status_code == 409 and "send them first" in r.text
    assert (len(parsed), len(asked)) == (1, 1)

    monkeypatch.setattr(sa, "MAX_MANIFEST_FILES", 999)
    r = app_client.put(put, content=sa.encode_doc(lacking))
    assert r.status_code == 400 and "at most 999" in r.text
    tiny = {**lacking, "files": {}, "references": {f"r{i}": {"uri": ""} for i in range(5000)}}
    r = app_client.put(put, content=sa.encode_doc(tiny))
    assert r.status_code == 413 and "at most 999" in r.text
    assert len(parsed) == 2  # the last refused before it was parsed
    assert views.MANIFEST_CHECKS == 2
    # nor is such a version made anywhere (it could not be read)
    with pytest.raises(sa.BadArtifact, match="at most 999"):
        ArtifactStore(LocalArea(str(tmp_path / "local"))).publish("p", {**lacking, "version": None}, [])


def test_the_server_checks_two_manifests_at_once_and_asks_a_third_to_come_back(app_client, monkeypatch):
    import threading

    from runship.web.views import artifacts as views

    go, inside = threading.Event(), threading.Semaphore(0)
    check = views._check_manifest

    def slow(*args):
        inside.release()
        go.wait(10)
        return check(*args)

    monkeypatch.setattr(views, "_check_manifest", slow)
    monkeypatch.setattr(views, "MANIFEST_WAIT", 0.3)
    body = sa.encode_doc(_manifest_doc("ds", 0, {"f": b"x"}))
    answers: list = []

    def put():
        answers.append(app_client.put("/v1/artifacts/file?project=p&path=names/ds/v0.json", content=body))

    first = [threading.Thread(target=put) for _ in range(2)]
    for t in first:
        t.start()
    for _ in first:
        assert inside.acquire(timeout=10)
    put()  # a third, while two are being checked
    assert answers[0].status_code == 503 and answers[0].headers["retry-after"] == "5"
    go.set()
    for t in first:
        t.join(10)
    assert sorted(a.status_code for a in answers[1:]) == [409, 409]  # checked (the blob is not held)
    put()  # and the turns are given back
    assert answers[-1].status_code == 409


def test_an_upload_without_the_projects_scope_is_a_failure_named(root, make_run, server, tmp_path):
    project = f"s{uuid.uuid4().hex[:6]}"
    _with_run(root, make_run, project)
    _log(root, project, "ds", {"a": b"x"})
    stats, said = _pass(root, server.url, tmp_path / "state", token=RunshipServer.MNIST_TOKEN, project=project)
    assert any(f"{project} (artifacts)" in what and "403" in why for what, why in stats.failures), stats.failures
    assert not os.path.exists(os.path.join(server.root, project, sa.STORE_DIR))


def test_a_conflicting_version_is_reported_and_left_as_it_is_and_its_aliases_and_uses_stay_home(
    tmp_path, make_run, server
):
    project = f"c{uuid.uuid4().hex[:6]}"
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    for r in (one, two):
        make_run(dir=r, project=project).finish()
    _log(one, project, "ds", {"a": b"from one"})
    _log(two, project, "ds", {"a": b"from two"}, ["best"])
    ArtifactStore(LocalArea(two)).record_use(project, "ds", 0, "r2")
    first, _ = _pass(one, server.url, tmp_path / "s1", token=RunshipServer.TOKEN)
    assert not first.failures
    second, said = _pass(two, server.url, tmp_path / "s2", token=RunshipServer.TOKEN)
    failed = dict(second.failures)
    assert [w for w in failed if w.endswith("names/ds/v0.json")] == list(failed), failed
    assert "other contents" in said
    remote = ArtifactStore(area_at(server.url, {"token": RunshipServer.TOKEN}))
    entry = remote.resolve(project, "ds")["files"]["a"]
    assert b"".join(remote.read_file(project, entry)) == b"from one"  # not overwritten
    # two's alias and use name its v0, not the one there: neither went (best would name one's v0)
    assert remote.aliases(project, "ds") == {"latest": 0}
    assert remote.users(project, "ds", 0) == []
    again, _ = _pass(two, server.url, tmp_path / "s2", token=RunshipServer.TOKEN)
    assert remote.aliases(project, "ds") == {"latest": 0} and len(again.failures) == 1


WRITE_TOKEN = "write-token-0123456789abcdef"


@pytest.fixture
def write_only_server(tmp_path):
    """A ``runship serve`` that also takes a token that writes and cannot read."""
    srv = RunshipServer(str(tmp_path / "served"), str(tmp_path))
    with open(srv.token_file, "a") as f:
        f.write(f"{WRITE_TOKEN} w * uploader\n")
    srv.start()
    yield srv
    srv.stop()


def test_alias_events_of_a_second_root_are_appended_after_those_there(tmp_path, make_run, write_only_server):
    server, project = write_only_server, "a"
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    for r in (one, two):
        make_run(dir=r, project=project).finish()
    # the same contents logged in both roots (v0 in each), each moving its own aliases: both
    # stores number their first event 0
    _log(one, project, "ds", {"a": b"same"}, ["best"])
    _log(two, project, "ds", {"a": b"same"}, ["prod"])
    _log(two, project, "ds", {"a": b"same"}, ["stage"])
    first, _ = _pass(one, server.url, tmp_path / "s1", token=RunshipServer.TOKEN)
    # the second with a token that cannot read: the server appends them
    second, _ = _pass(two, server.url, tmp_path / "s2", token=WRITE_TOKEN)
    assert (first.failures, second.failures) == ([], [])
    remote = ArtifactStore(area_at(server.url, {"token": RunshipServer.TOKEN}))
    assert remote.aliases(project, "ds") == {"latest": 0, "best": 0, "prod": 0, "stage": 0}
    events = remote.alias_events(project, "ds")
    assert [s for s, _ in events] == [0, 1, 2]
    # each as it was made: its alias, version, time and run
    mine = [ev for _, ev in ArtifactStore(LocalArea(two)).alias_events(project, "ds")]
    assert [ev for _, ev in events][1:] == mine
    # nothing goes twice: not on a second pass, nor from a fresh state
    again, _ = _pass(two, server.url, tmp_path / "s2", token=WRITE_TOKEN)
    fresh, _ = _pass(two, server.url, tmp_path / "s3", token=WRITE_TOKEN, verify_remote=True)
    assert (again.artifact_files, fresh.artifact_files, fresh.failures) == (0, 0, [])
    assert len(remote.alias_events(project, "ds")) == 3


def test_alias_events_waiting_for_their_version_hold_back_the_later_moves_of_that_alias(root, make_run, tmp_path):
    _with_run(root, make_run, "p")
    local = ArtifactStore(LocalArea(root))
    _log(root, "p", "ds", {"a": b"zero"}, ["best", "stage"])
    v1 = _log(root, "p", "ds", {"a": b"one"}, ["best"])
    local.move_alias("p", "ds", "best", "v0")  # best: v0, v1, v0 again
    local.move_alias("p", "ds", "stage", "v0", t=1.5)  # stage: not held back by best's wait
    blob = os.path.join(root, "p", sa.STORE_DIR, *sa.blob_rel(v1["files"]["a"]["digest"]).split("/"))
    os.rename(blob, blob + ".away")  # v1 cannot go yet
    target = f"file://{tmp_path / 'remote'}"
    first, _ = _pass(root, target, tmp_path / "state")
    assert [w for w, _ in first.failures] == [os.path.join(root, "p", sa.STORE_DIR, "names/ds/v1.json")]
    remote = ArtifactStore(area_at(str(tmp_path / "remote")))
    assert [ev["alias"] for _, ev in remote.alias_events("p", "ds")] == ["best", "stage", "stage"]
    os.rename(blob + ".away", blob)
    second, _ = _pass(root, target, tmp_path / "state")
    assert not second.failures, second.failures
    assert remote.aliases("p", "ds") == local.aliases("p", "ds") == {"latest": 1, "best": 0, "stage": 0}


def test_a_blob_removed_on_the_target_is_sent_again_with_a_new_version_naming_it(logged, bucket, tmp_path):
    url, options = bucket
    first, _ = _pass(logged, url, tmp_path / "state", options)
    assert not first.failures
    remote = ArtifactStore(area_at(url, options))
    digest = remote.manifest("p", "model", 0)["files"]["w.bin"]["digest"]
    remote.area.remove("p", sa.blob_rel(digest))  # as ``runship artifact gc --root s3://...`` does
    w = b"".join(ArtifactStore(LocalArea(logged)).read_file("p", remote.manifest("p", "model", 0)["files"]["w.bin"]))
    _log(logged, "p", "model", {"w.bin": w, "extra": b"more"})
    again, _ = _pass(logged, url, tmp_path / "state", options)
    assert not again.failures, again.failures
    assert remote.area.blob_size("p", digest) == len(w)
    assert b"".join(remote.read_file("p", remote.manifest("p", "model", 1)["files"]["w.bin"])) == w


# ---- hostile local files, and a dry run ----------------------------------------------------------
def test_links_and_fifos_in_a_local_store_are_skipped_with_a_warning(logged, tmp_path):
    store_dir = os.path.join(logged, "p", sa.STORE_DIR)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not to be sent")
    digest = hashlib.sha256(b"not to be sent").hexdigest()
    os.makedirs(os.path.join(store_dir, "blobs", "sha256", digest[:2]), exist_ok=True)
    os.symlink(secret, os.path.join(store_dir, "blobs", "sha256", digest[:2], digest))
    os.mkfifo(os.path.join(store_dir, "names", "ds", "aliases", "000000000099.json"))
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", os.path.join(store_dir, "names", "linked"))
    with open(os.path.join(store_dir, "names", "ds", "notes.txt"), "w") as f:
        f.write("?")

    target = tmp_path / "remote"
    stats, said = _pass(logged, f"file://{target}", tmp_path / "state")
    assert not stats.failures, stats.failures
    for name in (digest, "000000000099.json", "linked", "notes.txt"):
        assert f"{name}: " in said and "skipped" in said, (name, said)
    sent = _tree(str(target / "p" / sa.STORE_DIR))
    assert not any(digest in k or "000000000099" in k or "notes" in k for k in sent)
    _same_store(ArtifactStore(LocalArea(logged)), ArtifactStore(area_at(str(target))), "p")


def test_a_dry_run_lists_the_artifact_files_it_would_send(logged, tmp_path):
    out = upload_cmd([logged], f"file://{tmp_path / 'remote'}", tmp_path / "state", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "p/.artifacts/names/ds/v1.json:" in out.stdout
    assert out.stdout.count("p/.artifacts/blobs/sha256/") == 6
    assert not (tmp_path / "remote" / "p" / sa.STORE_DIR).exists()
