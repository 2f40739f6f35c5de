"""Exhaustive damage to a small run's stream file, as LevelDB's log tests do:
truncation at every byte offset and a flipped byte at every offset. The
reader returns exactly the committed prefix or reports corruption with an
offset, never a wrong value, never an exception; the uploader's scan never
passes a damaged batch; verify finds every flip at any offset of a
committed file, commit records included (format version 2)."""

from __future__ import annotations

import os

import msgpack
import pytest

import runship
from runship.reader import read_all
from runship.uploader import tail


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrupt")
    run = runship.init(
        project="p", id="c", dir=str(root), reinit="create_new", settings={"quiet": True, "flush_interval": 3600}
    )
    for i in range(12):
        run.log({"i": i, "x": i / 3, "s": "v" * (i % 5), "l": [i, None]})
        if i % 3 == 2:
            run.flush()
    run.summary["done"] = True
    run.finish()
    (name,) = [n for n in os.listdir(run.run_dir) if n.endswith(".msgpack")]
    path = os.path.join(run.run_dir, name)
    data = open(path, "rb").read()
    # the independent view: batches (start, commit start, end) and their records
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    batches, records, start, pos = [], [], 0, 0
    pending = []
    for rec in u:
        end = u.tell()
        if rec["k"] == "commit":
            batches.append((start, pos, end))
            records.append([r for r in pending if r["k"] != "header"])
            pending, start = [], end
        else:
            pending.append(rec)
        pos = end
    return path, data, batches, records


def _prefix_ok(got, records):
    flat = [r for batch in records for r in batch]
    return got == flat[: len(got)]


def test_truncation_at_every_offset(small_file, tmp_path):
    path, data, batches, records = small_file
    assert len(data) > 500 and len(batches) >= 5
    for k in range(len(data) + 1):
        got, sf = read_all(data[:k], path)
        expected = [r for (s, c, e), batch in zip(batches, records) if e <= k for r in batch]
        assert got == expected, k  # exactly the committed prefix
        assert not [p for p in sf.problems if p.is_corruption], (k, sf.problems)
        assert sf.committed == max([e for _, _, e in batches if e <= k], default=0)


@pytest.mark.heavy  # every byte flipped two ways (a minute on 2 cores): `make test-heavy`
def test_every_flipped_byte(small_file, tmp_path):
    path, data, batches, records = small_file
    cut = tmp_path / os.path.basename(path)
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for k in range(len(data)):
            for mask in (0x01, 0xFF):
                bad = bytearray(data)
                bad[k] ^= mask
                got, sf = read_all(bytes(bad), path)  # never raises
                assert _prefix_ok(got, records), (k, mask)  # never a wrong value
                batch = next(i for i, (s, _, e) in enumerate(batches) if s <= k < e)
                s, c, e = batches[batch]
                corrupt = [p for p in sf.problems if p.is_corruption]
                # every byte of a committed file is covered: the batch's and
                # its commit record's own (version 2)
                assert corrupt, (k, mask, sf.problems)
                assert corrupt[0].offset <= k
                assert len(got) <= sum(len(b) for b in records[:batch])
                # the uploader's scan stops before the damaged batch
                cut.write_bytes(bytes(bad))
                scan = tail.scan(dfd, cut.name, 0, len(bad))
                assert scan.boundary <= s and scan.corrupt is not None, (k, mask)
    finally:
        os.close(dfd)


def test_version_1_files_are_still_read(tmp_path):
    """A file written by format version 1 (commit records without their own
    checksum) reads as before; a flip inside its batches is still found."""
    from runship.schema import format as fmt

    header = msgpack.packb(
        {"k": "header", "t": 1.0, "format": "runship", "version": 1, "project": "p", "run": "r",
         "session": "20260101T000000000Zabcdef", "stream": "run", "segment": 0}
    )  # fmt: skip
    rows = [msgpack.packb({"k": "row", "n": i, "t": 2.0 + i, "s": i, "d": {"x": i * 0.5}}) for i in range(3)]
    data = b""
    for batch in ([header, rows[0]], rows[1:]):
        body = b"".join(batch)
        data += body + fmt.commit_record_v1(len(body), fmt.crc32(body), 9.0)
    got, sf = read_all(data, "run-20260101T000000000Zabcdef-000000.msgpack")
    assert [r["d"] for r in got] == [{"x": 0.0}, {"x": 0.5}, {"x": 1.0}] and sf.problems == []
    assert sf.version == 1
    bad = bytearray(data)
    bad[len(header) + 5] ^= 0x01
    got, sf = read_all(bytes(bad), "run-20260101T000000000Zabcdef-000000.msgpack")
    assert got == [] and [p.kind for p in sf.problems] == ["corrupt"]


def test_verify_cli_finds_every_flip_inside_committed_batches(small_file, tmp_path):
    from click.testing import CliRunner

    from runship.cli import cli

    path, data, batches, _ = small_file
    run_dir = tmp_path / "p" / "c"
    run_dir.mkdir(parents=True)
    target = run_dir / os.path.basename(path)
    sample = [k for s, c, _ in batches for k in range(s, c, 7)]
    for k in sample:
        bad = bytearray(data)
        bad[k] ^= 0x10
        target.write_bytes(bytes(bad))
        out = CliRunner().invoke(cli, ["verify", str(run_dir)])
        assert out.exit_code == 1 and "CORRUPT" in out.output, k
