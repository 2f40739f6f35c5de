"""One suite, every target: a local directory (file://), memory://, and S3 on
moto's server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

import runship
from runship.schema import format as fmt
from runship.uploader import State, Uploader
from tests.conftest import popen_python
from tests.plain import all_stream_files, committed_records, stream_files


def make_run(root, run_id="r1", project="p", rows=50, rotate=None, finish=True, resume=None, start=0):
    settings = {"quiet": True, "flush_interval": 3600, "environment": False, "console": "off"}
    if rotate:
        settings["rotate_bytes"] = rotate
    run = runship.init(
        project=project,
        id=run_id,
        dir=str(root),
        settings=settings,
        reinit="create_new",
        resume=resume,
        config={"lr": 0.1},
    )
    for i in range(start, start + rows):
        run.log({"loss": 1 / (i + 1), "i": i})
        if i % 10 == 0:
            run.flush()
    run.summary["best"] = start + rows
    if finish:
        run.finish()
    else:
        run.flush()
    return run


def upload(kind, roots, state_dir, **kwargs):
    state = State(str(state_dir))
    try:
        return Uploader(kind.open(), state, [str(r) for r in roots], **kwargs).run_pass()
    finally:
        state.close()


def assert_same(local_dir, remote):
    local = runship.open_run(local_dir)
    assert sorted(sf.name for fs in remote.files.values() for sf in fs) == sorted(
        os.path.basename(p) for p in all_stream_files(local_dir)
    )
    for stream in local.files:
        assert list(remote.records(stream)) == list(local.records(stream)), stream  # record for record
    assert remote.history() == local.history()
    assert (remote.config, remote.summary, remote.state, remote.name) == (
        local.config,
        local.summary,
        local.state,
        local.name,
    )
    assert not [p for p in remote.verify() if p.is_corruption]


def test_finished_run_uploads_whole_and_reads_the_same(target_kind, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, rotate=1000, rows=100)
    assert len(stream_files(run.run_dir)) > 2
    run_json = os.path.join(run.run_dir, "run.json")
    os.utime(run_json, (time.time() - 10, time.time() - 10))  # stable: goes up too
    stats = upload(target_kind, [root], tmp_path / "state")
    assert (stats.runs_seen, stats.runs_uploaded, stats.failures) == (1, 1, [])
    remote = target_kind.open_remote("p", "r1")
    assert_same(run.run_dir, remote)
    local_bytes = sum(os.path.getsize(p) for p in stream_files(run.run_dir))
    assert stats.bytes == local_bytes + os.path.getsize(run_json)  # closed files go up once, whole
    if target_kind.name in ("memory", "s3"):
        assert not remote._source._chunks  # no chunk objects left


def test_second_pass_is_idempotent_and_cheap(target_kind, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root)
    old = time.time() - 10
    os.utime(os.path.join(run.run_dir, "run.json"), (old, old))  # stable
    upload(target_kind, [root], tmp_path / "state")
    again = upload(target_kind, [root], tmp_path / "state")
    assert (again.bytes, again.runs_skipped, again.failures) == (0, 1, [])
    assert_same(run.run_dir, target_kind.open_remote("p", "r1"))


def test_live_run_uploads_as_it_grows(target_kind, tmp_path):
    root = tmp_path / "runs"
    child = popen_python(
        f"""
        import runship, sys, time
        run = runship.init(project="p", id="live", dir={str(root)!r}, settings={{"quiet": True, "flush_interval": 0.05, "rotate_bytes": 20000}})
        for i in range(3000):
            run.log({{"i": i, "x": i * 0.5}})
            if i % 100 == 0:
                time.sleep(0.02)
            if i == 1500:  # the second half once the uploader has made passes over the first
                run.flush()
                print("HALF", flush=True)
                sys.stdin.readline()
        run.finish()
        """,
        env=target_kind.env,
        stdin=subprocess.PIPE,
    )
    assert child.stdout.readline().strip() == "HALF", child.stderr.read()
    passes = 0
    for _ in range(2):  # passes over a live run, part of it written
        upload(target_kind, [root], tmp_path / "state")
        passes += 1
    child.stdin.write("\n")
    child.stdin.flush()
    while child.poll() is None:
        upload(target_kind, [root], tmp_path / "state")
        passes += 1
        time.sleep(0.2)
    assert child.returncode == 0, child.stderr.read()
    final = upload(target_kind, [root], tmp_path / "state")
    assert final.failures == [] and passes >= 2
    run_dir = str(root / "p" / "live")
    remote = target_kind.open_remote("p", "live")
    assert_same(run_dir, remote)
    assert [h["i"] for h in remote.history()] == list(range(3000))
    if target_kind.name in ("memory", "s3"):
        assert not remote._source._chunks  # every file closed: whole objects only


def test_fresh_state_asks_the_remote(target_kind, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, finish=False, rows=30)
    upload(target_kind, [root], tmp_path / "state-a")
    for i in range(30, 60):
        run.log({"loss": 1 / (i + 1), "i": i})
    run.finish()
    # another login node: no state, the same remote
    stats = upload(target_kind, [root], tmp_path / "state-b")
    assert stats.failures == []
    assert_same(run.run_dir, target_kind.open_remote("p", "r1"))
    # a third state: no stream byte goes again (only the small run.json, whose
    # upload a fresh state cannot know about)
    assert upload(target_kind, [root], tmp_path / "state-c").bytes <= os.path.getsize(
        os.path.join(run.run_dir, "run.json")
    )


def test_two_uploaders_interleaved_no_duplicates(target_kind, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, finish=False, rows=20)
    for step in range(6):
        upload(target_kind, [root], tmp_path / ("a" if step % 2 else "b"))
        for i in range(20 + step * 10, 30 + step * 10):
            run.log({"loss": 1 / (i + 1), "i": i})
        run.flush()
    run.finish()
    upload(target_kind, [root], tmp_path / "a")
    upload(target_kind, [root], tmp_path / "b")
    remote = target_kind.open_remote("p", "r1")
    assert_same(run.run_dir, remote)
    assert [h["i"] for h in remote.history()] == list(range(80))


def test_run_resumed_into_another_root_continues_the_remote_run(target_kind, tmp_path):
    node_a, node_b = tmp_path / "a", tmp_path / "b"
    make_run(node_a, rows=20)
    upload(target_kind, [node_a], tmp_path / "state-a")
    # requeued on another node with another scratch dir: none of the first
    # session's files are there
    run_b = runship.init(
        project="p", id="r1", dir=str(node_b), resume="allow", settings={"quiet": True}, reinit="create_new"
    )
    assert not run_b.resumed  # node b has no earlier session on disk
    run_b.log({"loss": 0.0, "i": 999})
    run_b.finish()
    upload(target_kind, [node_b], tmp_path / "state-b")
    remote = target_kind.open_remote("p", "r1")
    assert len(remote.all_sessions) == 2
    names = {sf.name for fs in remote.files.values() for sf in fs}
    local_names = {
        os.path.basename(p)
        for p in all_stream_files(str(node_a / "p" / "r1")) + all_stream_files(str(node_b / "p" / "r1"))
    }
    assert names == local_names


def test_corrupt_batch_is_reported_not_uploaded_and_other_runs_go(target_kind, tmp_path):
    root = tmp_path / "runs"
    bad = make_run(root, run_id="bad", rows=40)
    good = make_run(root, run_id="good", rows=10)
    (path,) = stream_files(bad.run_dir)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(path, "wb").write(bytes(data))
    stats = upload(target_kind, [root], tmp_path / "state")
    assert [name for name, _ in stats.failures] == ["p/bad"]
    assert "corrupt)" in stats.failures[0][1] and "not uploaded past byte" in stats.failures[0][1]
    assert_same(good.run_dir, target_kind.open_remote("p", "good"))
    remote_bad = target_kind.open_remote("p", "bad")
    assert not [p for p in remote_bad.verify() if p.is_corruption]  # only the good prefix went up
    expected = committed_records(path)  # the independent reader stops at the damaged batch too
    got = list(remote_bad.records())
    logged = sum(1 if r["k"] == "row" else len(r["s"]) if r["k"] == "rows" else 0 for r in got)
    assert got == expected and 0 < logged < 40


def test_derived_files_follow_changes(target_kind, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root)
    with open(os.path.join(run.dir, "notes.txt"), "w") as f:
        f.write("v1")
    os.utime(os.path.join(run.dir, "notes.txt"), (time.time() - 10, time.time() - 10))
    os.utime(os.path.join(run.run_dir, "run.json"), (time.time() - 10, time.time() - 10))
    state = tmp_path / "state"
    upload(target_kind, [root], state)
    remote = target_kind.open_remote("p", "r1")
    assert remote._source.read("files/notes.txt") == b"v1"
    assert b'"best": 50' in remote._source.read("run.json")
    with open(os.path.join(run.dir, "notes.txt"), "w") as f:
        f.write("v2, longer")
    os.utime(os.path.join(run.dir, "notes.txt"), (time.time() - 10, time.time() - 10))
    os.utime(run.run_dir, None)  # a finished run is rescanned when its directory changes
    upload(target_kind, [root], state)
    assert target_kind.open_remote("p", "r1")._source.read("files/notes.txt") == b"v2, longer"


def test_dry_run_sends_nothing(target_kind, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root)
    stats = upload(target_kind, [root], tmp_path / "state", dry_run=True)
    assert stats.bytes == 0
    (pending,) = stats.pending
    assert pending[0] == "p/r1" and pending[2] == os.path.getsize(stream_files(run.run_dir)[0])
    with pytest.raises(runship.RunNotFound):
        target_kind.open_remote("p", "r1")


def test_open_segment_goes_up_as_chunks_then_whole(object_kind, tmp_path):
    target_kind = object_kind
    root = tmp_path / "runs"
    run = make_run(root, finish=False, rows=20)
    upload(target_kind, [root], tmp_path / "state")
    remote = target_kind.open_remote("p", "r1")
    (name,) = remote._source._chunks
    assert remote._source._chunks[name] and name not in remote._source._whole
    assert list(remote.records()) == list(runship.open_run(run.run_dir).records())
    run.finish()
    upload(target_kind, [root], tmp_path / "state")
    remote = target_kind.open_remote("p", "r1")
    assert not remote._source._chunks and name in remote._source._whole
    assert_same(run.run_dir, remote)


def test_chunk_names_are_byte_ranges(object_kind, tmp_path):
    target_kind = object_kind
    root = tmp_path / "runs"
    make_run(root, finish=False, rows=5)
    upload(target_kind, [root], tmp_path / "state")
    remote = target_kind.open_remote("p", "r1")
    (ranges,) = remote._source._chunks.values()
    assert ranges[0][0] == 0 and all(fmt.parse_chunk_name(fmt.chunk_name(*r)) == r for r in ranges)


def test_missing_root_is_reported(target_kind, tmp_path, capsys):
    stats = upload(target_kind, [tmp_path / "nope"], tmp_path / "state")
    assert stats.runs_seen == 0
    assert "no run root" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "state")


def _batches(run_dir):
    """A real stream file cut at its commit boundaries."""
    import msgpack

    (path,) = stream_files(run_dir)
    data = open(path, "rb").read()
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    ends = [u.tell() for rec in u if rec["k"] == "commit"]
    return os.path.basename(path), data, ends


def test_push_is_idempotent_refuses_gaps_and_different_bytes(target_kind, tmp_path):
    from runship.store import ConflictError, GapError

    run = make_run(tmp_path / "runs", rows=40)
    name, data, ends = _batches(run.run_dir)
    t = target_kind.open()
    assert t.remote_size("p", "r1", name) == 0
    assert t.push("p", "r1", name, 0, data[: ends[1]]) == ends[1]
    assert t.push("p", "r1", name, 0, data[: ends[1]]) == ends[1]  # a repeat: fine, nothing changes
    assert t.push("p", "r1", name, ends[0], data[ends[0] : ends[2]]) == ends[2]  # overlapping, then new
    with pytest.raises(GapError) as gap:
        t.push("p", "r1", name, ends[3], data[ends[3] : ends[4]])
    assert gap.value.size == ends[2]
    forged = bytearray(data[ends[1] : ends[3]])
    forged[5] ^= 0xFF
    with pytest.raises(ConflictError):
        t.push("p", "r1", name, ends[1], bytes(forged))
    assert t.remote_size("p", "r1", name) == ends[2]
    assert t.push("p", "r1", name, ends[2], data[ends[2] :]) == len(data)
    t.close()
