"""Two `runship serve` processes over one moto S3 bucket, as behind a load
balancer: 16 uploader processes of live runs alternate between them, some
SIGKILLed midway, each pass a fresh process with its own state (another
login node); at the end the bucket holds every run byte for byte, and no
request got a 5xx."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from runship import store
from tests.conftest import upload_cmd, upload_popen
from tests.servers import RunshipServer

WRITER = """
import runship, sys, time
run = runship.init(project="p", id=sys.argv[1], dir=sys.argv[2],
                   settings={"quiet": True, "flush_interval": 0.02, "rotate_bytes": 30000, "system_metrics": False})
for i in range(2500):
    run.log({"i": i, "x": i * 0.5, "s": "row %d" % i})
    if i % 100 == 0:
        time.sleep(0.05)
run.finish()
"""


@pytest.mark.heavy
def test_two_servers_over_one_bucket_take_alternating_killed_uploads_with_nothing_lost_or_twice(tmp_path, moto):
    moto.create_bucket("scale-out")
    root = tmp_path / "runs"
    bucket = "s3://scale-out/runs"
    servers = _servers(tmp_path, bucket, moto)
    env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN}
    rng = random.Random(7)
    try:
        writers = [_writer(WRITER, f"r{k}", str(root)) for k in range(6)]
        uploads = 0
        killed = 0
        while any(w.poll() is None for w in writers) or uploads < 16:
            if not os.path.isdir(root):
                time.sleep(0.05)
                continue
            # four uploaders at once, two a server, each a fresh process with its own state (another
            # login node, or a retry that the load balancer sent to the other server); some killed
            procs = []
            for n in range(4):
                procs.append(upload_popen([root], servers[n % 2].url, tmp_path / f"state-{uploads}", env=env))
                uploads += 1
            time.sleep(rng.uniform(0.05, 0.5))
            for proc in procs:
                if rng.random() < 0.3 and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed += 1
            for proc in procs:
                _, err = proc.communicate(timeout=120)
                assert proc.returncode in (0, -9), err
        for w in writers:
            _, err = w.communicate(timeout=60)
            assert w.returncode == 0, err
        for n in range(2):  # the last passes, through each server
            out = upload_cmd([root], servers[n].url, tmp_path / f"final-{n}", env=env)
            assert out.returncode == 0, out.stderr
        assert uploads >= 16 and killed >= 2
    finally:
        logs = []
        for s in servers:
            s.stop()
            logs.append(s.log())
    statuses = [json.loads(line)["status"] for log in logs for line in log.splitlines() if line.startswith('{"t"')]
    assert statuses and all(st < 500 for st in statuses), [st for st in statuses if st >= 500]
    assert all(any(st in (200, 201, 204) for st in statuses) for log in logs)
    assert "Traceback" not in "".join(logs)
    # the bucket holds every run's files byte for byte: whole objects, no chunk left, nothing twice
    target = store.open(bucket, {"endpoint_url": moto.endpoint})
    for k in range(6):
        local = root / "p" / f"r{k}"
        names = sorted(n for n in os.listdir(local) if n.endswith(".msgpack"))
        assert len(names) > 1  # rotated: several files a run
        for name in names:
            data = (local / name).read_bytes()
            assert target.remote_size("p", f"r{k}", name) == len(data)
            assert target.read_at("p", f"r{k}", name, 0, len(data)) == data
            # behind a server a stream file stays in chunks: they tile it, each byte stored once
            chunks = sorted(target._chunks("p", f"r{k}", name))
            assert sum(end - start for start, end in chunks) == len(data), chunks
            assert [c[0] for c in chunks] == [0] + [c[1] for c in chunks[:-1]]


def _servers(tmp_path, bucket: str, moto, endpoints: list[str] | None = None) -> list[RunshipServer]:
    """Two `runship serve` over one bucket, each with its own working
    directory (another host); ``endpoints``: each one's way to the bucket
    (moto's by default)."""
    endpoints = endpoints or [moto.endpoint, moto.endpoint]
    for n in range(2):
        os.makedirs(tmp_path / f"srv{n}")
    return [
        RunshipServer(bucket, str(tmp_path / f"srv{n}"), global_args=["-o", f"endpoint_url={endpoints[n]}"]).start()
        for n in range(2)
    ]


def _writer(code: str, run_id: str, root: str):
    import subprocess
    import sys

    from tests.conftest import child_env

    return subprocess.Popen(
        [sys.executable, "-c", code, run_id, root],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.heavy
def test_two_servers_racing_on_one_stream_store_each_byte_once(tmp_path, moto):
    """The same stream file appended through both servers at once, at the
    same offsets with different lengths (two uploaders that read the file
    at different moments), many times over: the chunks in the bucket tile
    the file; and different bytes for a range already stored are refused."""
    import threading

    from tests.servers import call
    from tests.uploader.test_conformance import _batches, make_run

    moto.create_bucket("race")
    bucket = "s3://race/runs"
    servers = _servers(tmp_path, bucket, moto)
    try:
        run = make_run(tmp_path / "runs", rows=400)
        name, data, ends = _batches(run.run_dir)
        assert len(ends) > 20
        path = f"/v1/runs/p/r1/streams/{name}"
        statuses: list[int] = []
        offset = 0
        for k in range(0, len(ends) - 3, 3):
            a, b = ends[k + 1], ends[k + 2]  # two uploaders: one sends to batch k+1, the other to k+2

            def send(server, upto, at=offset):
                status, _, _ = call(server, "PATCH", path, data[at:upto], headers={"Upload-Offset": str(at)})
                statuses.append(status)

            threads = [
                threading.Thread(target=send, args=(servers[0], a)),
                threading.Thread(target=send, args=(servers[1], b)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            offset = int(call(servers[k % 2], "HEAD", path)[1]["upload-offset"])
            assert offset in (a, b)
        assert all(s in (204, 409) for s in statuses), statuses  # 409: the other one got there first, told the offset
        target = store.open(bucket, {"endpoint_url": moto.endpoint})
        size = target.remote_size("p", "r1", name)
        assert target.read_at("p", "r1", name, 0, size) == data[:size]
        chunks = sorted(target._chunks("p", "r1", name))
        assert sum(end - start for start, end in chunks) == size, chunks  # each byte stored once
        # different bytes for a range the bucket holds: refused, nothing overwritten
        forged = bytearray(data[ends[0] : ends[1]])
        forged[-9] ^= 0xFF
        status, _, _ = call(servers[1], "PATCH", path, bytes(forged), headers={"Upload-Offset": str(ends[0])})
        assert status in (409, 422)
        assert target.read_at("p", "r1", name, 0, size) == data[:size]
    finally:
        for s in servers:
            s.stop()


@pytest.mark.heavy  # two servers and moto: `make test-heavy`
def test_a_chunk_the_other_server_drops_between_listing_and_reading_is_read_from_the_longer_one(tmp_path, moto):
    """Server A lists a stream file's chunks to check an overlap, and before
    it reads the chunk it found, the other server writes a longer chunk from
    the same offset and drops the one it covers (its tidy-up, run here at
    that exact moment through the same target code, in the request's path
    to the bucket). A reads the bytes from the longer chunk: 204, not 500."""
    from runship.schema import format as fmt
    from tests.servers import FaultyHttpProxy, call
    from tests.uploader.test_conformance import _batches, make_run

    moto.create_bucket("vanish")
    bucket = "s3://vanish/runs"
    proxy = FaultyHttpProxy(moto.port, rate=0)  # A's way to the bucket; B's is direct
    servers = _servers(tmp_path, bucket, moto, [proxy.endpoint, moto.endpoint])
    other = store.open(bucket, {"endpoint_url": moto.endpoint})
    try:
        name, data, ends = _batches(make_run(tmp_path / "runs", rows=60).run_dir)
        path = f"/v1/runs/p/r1/streams/{name}"
        assert call(servers[1], "PATCH", path, data[: ends[1]], headers={"Upload-Offset": "0"})[0] == 204
        first = f"/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(0, ends[1])}"
        dropped = []

        def tidy_first(method: str, target: str) -> None:
            if method == "GET" and target.split("?")[0].endswith(first) and not dropped:
                longer = f"vanish/runs/p/r1/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(0, ends[2])}"
                other._pipe(longer, data[: ends[2]], True)
                other._tidy("p", "r1", name)
                dropped.append(target)

        proxy.before = tidy_first
        status, headers, body = call(servers[0], "PATCH", path, data[: ends[3]], headers={"Upload-Offset": "0"})
        assert dropped  # A did read the chunk the other server dropped
        assert status == 204, (status, body, servers[0].log()[-1500:])
        assert int(headers["upload-offset"]) == ends[3]
        assert other.read_at("p", "r1", name, 0, ends[3]) == data[: ends[3]]
    finally:
        for s in servers:
            s.stop()
        proxy.stop()


@pytest.mark.heavy  # two servers and moto: `make test-heavy`
def test_a_chunk_both_servers_wrote_and_the_other_dropped_before_it_was_compared_is_checked_in_the_longer_one(
    tmp_path, moto
):
    """Server A writes a chunk create-only and finds it there already (the
    other server sent the same bytes at once: two uploaders at the same
    point), a chunk A's last listing did not show; then, before A reads it
    to compare, the other server writes a longer chunk and drops this one.
    A compares its bytes with the bucket's: 204, not 500."""
    from runship.schema import format as fmt
    from tests.servers import FaultyHttpProxy, call
    from tests.uploader.test_conformance import _batches, make_run

    moto.create_bucket("twice")
    bucket = "s3://twice/runs"
    proxy = FaultyHttpProxy(moto.port, rate=0)
    servers = _servers(tmp_path, bucket, moto, [proxy.endpoint, moto.endpoint])
    other = store.open(bucket, {"endpoint_url": moto.endpoint})
    try:
        name, data, ends = _batches(make_run(tmp_path / "runs", rows=60).run_dir)
        path = f"/v1/runs/p/r1/streams/{name}"
        assert call(servers[1], "PATCH", path, data[: ends[1]], headers={"Upload-Offset": "0"})[0] == 204
        chunks = f"twice/runs/p/r1/{fmt.CHUNK_DIR}/{name}"
        mine = f"{chunks}/{fmt.chunk_name(ends[1], ends[2])}"
        seen = []

        def race(method: str, target: str) -> None:
            if not target.split("?")[0].endswith(mine):
                return
            seen.append(method)
            if method == "PUT" and seen.count("PUT") == 1:  # the other server's copy lands first
                other._pipe(mine, data[ends[1] : ends[2]], True)
            elif method == "GET" and seen.count("GET") == 1:  # and is dropped, covered, before A compares
                other._pipe(f"{chunks}/{fmt.chunk_name(ends[1], ends[3])}", data[ends[1] : ends[3]], True)
                other._tidy("p", "r1", name)

        proxy.before = race
        status, headers, body = call(
            servers[0], "PATCH", path, data[ends[1] : ends[2]], headers={"Upload-Offset": str(ends[1])}
        )
        assert status == 204, (status, body, servers[0].log()[-1500:])
        assert seen[0] == "PUT" and "GET" in seen  # A found the chunk there, and read it after it was dropped
        assert other.read_at("p", "r1", name, 0, ends[3]) == data[: ends[3]]
    finally:
        for s in servers:
            s.stop()
        proxy.stop()


def test_a_5xx_names_a_request_id_and_the_server_logs_its_cause_without_the_token(tmp_path, moto):
    """A server over a bucket that is not there answers a PATCH 500: the
    answer carries a request id (X-Request-Id and the body), and the log
    line of that request id names the cause (type and message) and the
    token's label, never the token. Every answer carries a request id."""
    from tests.servers import call
    from tests.uploader.test_conformance import _batches, make_run

    server = RunshipServer(
        "s3://no-such-bucket/runs", str(tmp_path), global_args=["-o", f"endpoint_url={moto.endpoint}"]
    )
    server.start()
    try:
        name, data, ends = _batches(make_run(tmp_path / "runs", rows=20).run_dir)
        path = f"/v1/runs/p/r1/streams/{name}"
        status, headers, body = call(server, "PATCH", path, data[: ends[0]], headers={"Upload-Offset": "0"})
        ok = call(server, "GET", "/health", token=None)
    finally:
        server.stop()
    assert status >= 500, (status, body)
    rid = headers["x-request-id"]
    assert json.loads(body)["request_id"] == rid
    assert ok[0] == 200 and ok[1]["x-request-id"] not in ("", rid)
    log = server.log()
    assert RunshipServer.TOKEN not in log
    (line,) = [json.loads(x) for x in log.splitlines() if f'"request_id": "{rid}"' in x]
    assert line["status"] == status and line["token"] == "writer"
    assert line["error"].startswith("TargetError: upload on s3://no-such-bucket/runs"), line


@pytest.mark.heavy  # two servers and moto: `make test-heavy`
def test_a_staged_upload_the_other_server_finished_while_this_one_checks_it_is_answered_409(tmp_path, moto):
    """A file sent in parts through server A: as A reads the staged upload
    whole to check its checksum, the other server, which got the same last
    part, has finished it and removed the staging (run here at that exact
    moment through the same target code). A answers 409 with Upload-Offset
    0, which the uploader follows (it sends the parts again), not a 500."""
    import base64
    import hashlib

    from tests.servers import FaultyHttpProxy, call

    moto.create_bucket("staged")
    bucket = "s3://staged/runs"
    proxy = FaultyHttpProxy(moto.port, rate=0)
    servers = _servers(tmp_path, bucket, moto, [proxy.endpoint, moto.endpoint])
    other = store.open(bucket, {"endpoint_url": moto.endpoint})
    try:
        blob = os.urandom(3000)
        path = "/v1/runs/p/r1/derived/files/blob.bin"
        checksum = "sha256 " + base64.b64encode(hashlib.sha256(blob).digest()).decode()

        def part(server, start, end):
            headers = {"Upload-Offset": str(start), "Upload-Length": str(len(blob)), "Upload-Checksum": checksum}
            return call(server, "PATCH", path, blob[start:end], headers=headers)

        assert part(servers[1], 0, 1000)[0] == 204
        finished = []

        def finish_elsewhere(method: str, target: str) -> None:
            where = target.split("?")[0]
            if method == "GET" and "/.uploads/" in where and "/.chunks/" in where and not finished:
                area, _, rest = where.split("/.uploads/", 1)[1].partition("/.chunks/")
                other.remove(".uploads", area, rest.split("/")[0])
                finished.append(where)

        proxy.before = finish_elsewhere
        status, headers, body = part(servers[0], 1000, 3000)
        assert finished  # A read the staging after the other server removed it
        assert status == 409, (status, body, servers[0].log()[-1500:])
        assert headers["upload-offset"] == "0"
        proxy.before = None
        assert part(servers[0], 0, 3000)[0] == 204  # the uploader's next try: the file is put in place
        assert other.read_at("p", "r1", "files/blob.bin", 0, 3000) == blob
    finally:
        for s in servers:
            s.stop()
        proxy.stop()


@pytest.mark.heavy  # 500 pushes under tracemalloc: `make test-heavy`
def test_an_object_store_targets_memory_does_not_grow_with_its_pushes(moto):
    """A server (or uploader) over S3 writes for weeks: what it holds must
    not grow with every request. s3fs kept each chunk listing it made, for
    good (2.5 KiB a push; the soak test saw the servers climb 13-16 MiB an
    hour)."""
    import tracemalloc

    from runship.store.objectstore import ObjectStoreBackend

    moto.create_bucket("flat")
    target = ObjectStoreBackend("s3://flat/runs", {"endpoint_url": moto.endpoint})
    name = "run-20261206T000000000Zaaaaaa-000000.msgpack"

    def pushes(first: int, runs: int) -> None:
        for run in range(first, first + runs):
            offset = 0
            for _ in range(10):
                offset += target.push("p", f"r{run}", name, offset, os.urandom(300)) - offset

    tracemalloc.start()
    try:
        pushes(0, 10)  # connections, clients and parsers made once
        before = tracemalloc.get_traced_memory()[0]
        pushes(10, 50)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"{grown} bytes more after 500 pushes"
