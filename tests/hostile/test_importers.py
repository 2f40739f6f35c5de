"""`runship import wandb` over offline run directories that someone else
wrote: it never follows a link out of them, never blocks on a FIFO or reads
a device, bounds every record, checks every CRC, and never appends to an
existing run unless told to (--resume).

The `.wandb` logs are made here, framed as wandb frames them (LevelDB's log
format, CRC-32 of the type byte and the data) around protobuf records
encoded by hand, so nothing here needs the wandb package."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib

import pytest

from tests.conftest import ROOT, RUNSHIP, child_env

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- the user's own key"


# ---- protobuf, by hand: just wandb's Record fields the importer reads ----------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _item(key: str, value: object) -> bytes:  # HistoryItem, SummaryItem, ConfigItem: key 1, value_json 16
    return _field(1, key) + _field(16, json.dumps(value))


def run_record(run_id: str, project: str = "wb", config: dict | None = None) -> bytes:
    items = b"".join(_field(1, _item(k, v)) for k, v in (config or {}).items())
    body = _field(1, run_id) + _field(3, project) + _field(4, items) + _field(8, "imported-" + run_id)
    return _field(17, body)


def history(row: dict) -> bytes:
    return _field(2, b"".join(_field(1, _item(k, v)) for k, v in row.items()))


def summary(values: dict) -> bytes:
    return _field(3, b"".join(_field(1, _item(k, v)) for k, v in values.items()))


def exit_record(code: int) -> bytes:
    return _field(18, _field(1, code))


# ---- LevelDB's log framing, as wandb writes it --------------------------------------------
class Log:
    """A .wandb log being written: ``add`` frames one record (split across
    blocks as wandb splits it) and returns the offsets of its fragments."""

    def __init__(self) -> None:
        self.data = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))

    def _fragment(self, kind: int, chunk: bytes) -> int:
        at = len(self.data)
        crc = zlib.crc32(chunk, zlib.crc32(bytes([kind])))
        self.data += struct.pack("<IHB", crc, len(chunk), kind) + chunk
        return at

    def add(self, payload: bytes) -> list[int]:
        left = BLOCK - len(self.data) % BLOCK
        if left < HEADER:
            self.data += b"\0" * left
            left = BLOCK
        if len(payload) + HEADER <= left:
            return [self._fragment(FULL, payload)]
        room = left - HEADER
        offsets = [self._fragment(FIRST, payload[:room])]
        pos = room
        while len(payload) - pos > BLOCK - HEADER:
            offsets.append(self._fragment(MIDDLE, payload[pos : pos + BLOCK - HEADER]))
            pos += BLOCK - HEADER
        offsets.append(self._fragment(LAST, payload[pos:]))
        return offsets

    def corrupt(self, offset: int) -> None:
        """Flip a bit of the data of the fragment at ``offset`` (its CRC no longer matches)."""
        self.data[offset + HEADER] ^= 0x01


def offline_run(tmp_path, run_id: str, rows: int = 3, name: str | None = None) -> tuple[str, Log]:
    """An offline run directory with a run record, ``rows`` history rows
    (loss = step), a summary and an exit record; its log not yet written."""
    run_dir = tmp_path / (name or f"offline-run-20260101_000000-{run_id}")
    (run_dir / "files").mkdir(parents=True)
    log = Log()
    log.add(run_record(run_id, config={"lr": 0.5}))
    for step in range(rows):
        log.add(history({"loss": float(step), "_step": step}))
    return str(run_dir), log


def finish(run_dir: str, log: Log, run_id: str) -> str:
    log.add(summary({"best": 1.5}))
    log.add(exit_record(0))
    path = os.path.join(run_dir, f"run-{run_id}.wandb")
    with open(path, "wb") as f:
        f.write(log.data)
    return path


def _env() -> dict:
    # this checkout first; whatever PYTHONPATH the test run was given after it
    return child_env({"PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)})


def import_wandb(root, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUNSHIP, "--root", str(root), "import", "wandb", *map(str, args)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# runs its arguments as a child and prints the child's peak resident set size (KiB) last
_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)\n"
    "sys.exit(code)\n"
)


def import_wandb_peak(root, *args, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """``import_wandb``, and the import's peak resident set size in MiB."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, *RUNSHIP, "--root", str(root), "import", "wandb", *map(str, args)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    *lines, peak = out.stdout.splitlines()
    out.stdout = "\n".join(lines)
    return out, int(peak) / 1024


def history_of(root, run: str) -> list[dict]:
    out = subprocess.run(
        [*RUNSHIP, "--root", str(root), "history", run, "--format", "jsonl"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def _all_bytes(root) -> bytes:
    out = bytearray()
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out += f.read()
    return bytes(out)


# ---- links, FIFOs, devices --------------------------------------------------------------
def test_a_linked_files_directory_or_file_is_not_followed(tmp_path):
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_bytes(SECRET)
    # files/ itself a link to ~/.ssh
    linked, log = offline_run(tmp_path, "linkdir")
    os.rmdir(os.path.join(linked, "files"))
    os.symlink(ssh, os.path.join(linked, "files"))
    finish(linked, log, "linkdir")
    # files/ a real directory holding a link to the key, a FIFO and a real file
    mixed, log = offline_run(tmp_path, "linkfile")
    os.symlink(ssh / "id_ed25519", os.path.join(mixed, "files", "key"))
    os.mkfifo(os.path.join(mixed, "files", "pipe"))
    with open(os.path.join(mixed, "files", "notes.txt"), "wb") as f:
        f.write(b"the run's own notes")
    finish(mixed, log, "linkfile")
    root = tmp_path / "runs"

    out = import_wandb(root, linked, mixed, timeout=60)

    assert out.returncode == 0, out.stderr
    assert SECRET not in _all_bytes(root)
    assert "files" in out.stderr and "symlink" in out.stderr, out.stderr  # the linked files/ is named
    assert "key" in out.stderr and "pipe" in out.stderr, out.stderr  # so are the link and the FIFO in it
    assert (root / "wb" / "linkfile" / "files" / "notes.txt").read_bytes() == b"the run's own notes"
    assert [r["loss"] for r in history_of(root, "wb/linkdir")] == [0.0, 1.0, 2.0]


def test_a_fifo_named_like_a_run_log_is_refused_at_once(tmp_path):
    run_dir = tmp_path / "offline-run-20260101_000000-abc"
    run_dir.mkdir()
    os.mkfifo(run_dir / "run-abc.wandb")
    started = time.monotonic()

    out = import_wandb(tmp_path / "runs", run_dir, timeout=30)

    assert time.monotonic() - started < 20
    assert out.returncode == 1, out
    assert "run-abc.wandb" in out.stderr and "fifo" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr  # one clear line, no traceback


def test_a_run_log_linked_to_a_device_or_another_file_is_not_read(tmp_path):
    zero = tmp_path / "offline-run-20260101_000000-zero"
    zero.mkdir()
    os.symlink("/dev/zero", zero / "run-zero.wandb")
    elsewhere, log = offline_run(tmp_path, "real", name="elsewhere")
    real_log = finish(elsewhere, log, "real")
    linked = tmp_path / "offline-run-20260101_000000-real"
    linked.mkdir()
    os.symlink(real_log, linked / "run-real.wandb")
    root = tmp_path / "runs"

    for run_dir in (zero, linked):
        started = time.monotonic()
        out = import_wandb(root, run_dir, timeout=60)
        assert time.monotonic() - started < 30
        assert out.returncode == 1, out
        assert "symlink" in out.stderr and "run-" in out.stderr, out.stderr
        assert "MemoryError" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (root / "wb" / "real").exists()


# ---- records: CRCs, sizes, joins ------------------------------------------------------------
def test_a_record_with_a_bad_crc_is_reported_and_skipped(tmp_path):
    run_dir, log = offline_run(tmp_path, "crc", rows=0)
    log.add(history({"loss": 0.0, "_step": 0}))
    (bad,) = log.add(history({"loss": 1.0, "_step": 1}))
    log.add(history({"loss": 2.0, "_step": 2}))
    split = log.add(history({"loss": 3.0, "_step": 3, "blob": "x" * 100_000}))  # FIRST, MIDDLE..., LAST
    log.add(history({"loss": 4.0, "_step": 4}))
    log.corrupt(bad)
    log.corrupt(split[1])  # a fragment in the middle: the whole record goes
    path = finish(run_dir, log, "crc")
    root = tmp_path / "runs"

    out = import_wandb(root, run_dir)

    assert out.returncode == 0, out.stderr
    assert f"{path}: byte {bad}: bad CRC" in out.stderr, out.stderr
    assert f"{path}: byte {split[1]}: bad CRC" in out.stderr, out.stderr
    assert [(r["_step"], r["loss"]) for r in history_of(root, "wb/crc")] == [(0, 0.0), (2, 2.0), (4, 4.0)]


def test_records_that_are_not_wandb_records_are_reported_and_skipped(tmp_path):
    run_dir, log = offline_run(tmp_path, "garbage", rows=1)
    log.add(_field(2, b"\x0a\xff\xff\xff\xff\x0f"))  # an item 4 GiB long in a record of 8 bytes
    log.add(b"\xff" * 11)  # a varint of 11 bytes
    log.add(_field(2, _field(1, _field(16, b"\xff\xfe"))))  # a value that is not UTF-8
    log.add(history({"loss": 1.0, "_step": 1, "bad": float("nan")}).replace(b"NaN", b"NaX"))  # not JSON
    log.add(history({"loss": 2.0, "_step": 2}))
    finish(run_dir, log, "garbage")
    root = tmp_path / "runs"

    out = import_wandb(root, run_dir)

    assert out.returncode == 0, out.stderr
    for n in (2, 3, 4, 5):  # record 0 is the run's, 1 the first row
        assert f"run-garbage.wandb: record {n}: " in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert [(r["_step"], r["loss"]) for r in history_of(root, "wb/garbage")] == [(0, 0.0), (2, 2.0)]


def test_a_record_past_the_limit_is_skipped_in_bounded_time_and_memory(tmp_path):
    small_dir, log = offline_run(tmp_path, "small", rows=2)
    finish(small_dir, log, "small")
    run_dir, log = offline_run(tmp_path, "huge", rows=1)
    log.add(history({"_step": 1, "blob": "x" * (64 * 1024 * 1024)}))  # 64 MiB, in 2,049 fragments
    log.add(history({"loss": 2.0, "_step": 2}))
    finish(run_dir, log, "huge")
    root = tmp_path / "runs"
    _, base = import_wandb_peak(root, small_dir)  # the libraries' own memory
    started = time.monotonic()

    out, peak = import_wandb_peak(root, run_dir)

    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "larger than 16777216 bytes" in out.stderr and "skipped" in out.stderr, out.stderr
    assert [(r["_step"], r.get("loss")) for r in history_of(root, "wb/huge")] == [(0, 0.0), (2, 2.0)]
    assert took < 20, took  # the file is read once, the record's fragments dropped as they come
    assert peak - base < 40, f"{peak - base:.0f} MiB more than a small import's {base:.0f} MiB"


def test_a_record_split_across_many_blocks_is_joined_whole(tmp_path):
    run_dir, log = offline_run(tmp_path, "split", rows=0)
    blob = "".join(chr(0x61 + i % 26) for i in range(12 * 1024 * 1024))  # 12 MiB: 385 fragments
    assert len(log.add(history({"_step": 0, "blob": blob}))) > 300
    log.add(history({"_step": 1, "loss": 1.0}))
    finish(run_dir, log, "split")
    root = tmp_path / "runs"
    started = time.monotonic()

    out = import_wandb(root, run_dir, timeout=300)

    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 60
    rows = history_of(root, "wb/split")
    assert [r["_step"] for r in rows] == [0, 1]
    assert rows[0]["blob"] == blob


# ---- existing runs ----------------------------------------------------------------------------
def test_an_existing_run_is_not_appended_to_without_resume(tmp_path):
    run_dir, log = offline_run(tmp_path, "again")
    finish(run_dir, log, "again")
    root = tmp_path / "runs"
    assert import_wandb(root, run_dir).returncode == 0
    before = history_of(root, "wb/again")
    assert len(before) == 3

    out = import_wandb(root, run_dir)

    assert out.returncode == 1, out
    assert "wb/again" in out.stderr and "--resume" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert history_of(root, "wb/again") == before

    later, log = offline_run(tmp_path, "again", rows=0, name="offline-run-20260102_000000-again")
    for step in (3, 4, 5):
        log.add(history({"loss": float(step), "_step": step}))
    finish(later, log, "again")

    out = import_wandb(root, later, "--resume")

    assert out.returncode == 0, out.stderr
    assert [r["_step"] for r in history_of(root, "wb/again")] == [0, 1, 2, 3, 4, 5]  # a new session, appended


# ---- runship import tensorboard: the same rules for event files -----------------------------------
def _tfrecord(data: bytes) -> bytes:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _event(step: int, loss: float) -> bytes:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    value = summary_pb2.Summary.Value(tag="loss", simple_value=loss)
    return event_pb2.Event(
        step=step, wall_time=1.7e9 + step, summary=summary_pb2.Summary(value=[value])
    ).SerializeToString()


def import_tensorboard(root, logdir, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUNSHIP, "--root", str(root), "import", "tensorboard", str(logdir), "--project", "tb"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _tb_rows(root) -> list[tuple[int, float]]:
    (run_id,) = os.listdir(root / "tb")
    return [(r["global_step"], r["loss"]) for r in history_of(root, f"tb/{run_id}")]


@pytest.mark.compat
def test_tensorboard_event_files_that_are_links_or_fifos_are_named_and_not_read(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "events.out.tfevents.1.other").write_bytes(_tfrecord(_event(7, 7.0)))
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "events.out.tfevents.2.own").write_bytes(_tfrecord(_event(0, 0.5)))
    os.symlink("/dev/zero", logdir / "events.out.tfevents.3.zero")
    os.symlink(elsewhere / "events.out.tfevents.1.other", logdir / "events.out.tfevents.4.linked")
    os.mkfifo(logdir / "events.out.tfevents.5.fifo")
    root = tmp_path / "runs"

    out = import_tensorboard(root, logdir, timeout=60)

    assert out.returncode == 0, out.stderr
    for name in ("3.zero", "4.linked", "5.fifo"):
        assert f"events.out.tfevents.{name}" in out.stderr, out.stderr
    assert _tb_rows(root) == [(0, 0.5)]


@pytest.mark.compat
def test_tensorboard_records_past_the_limit_or_with_a_bad_crc_are_reported_and_skipped(tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    bad = bytearray(_tfrecord(_event(1, 1.0)))
    bad[-5] ^= 0x01  # the event's last byte: its CRC no longer matches
    first = _tfrecord(_event(0, 0.0)) + bytes(bad) + _tfrecord(_event(2, 2.0))
    (logdir / "events.out.tfevents.1.a").write_bytes(first)
    length = struct.pack("<Q", 1 << 40)  # a terabyte, its length CRC right
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    huge = length + struct.pack("<I", masked_crc32c(length)) + b"\0" * 1024
    (logdir / "events.out.tfevents.2.b").write_bytes(_tfrecord(_event(3, 3.0)) + huge)
    root = tmp_path / "runs"

    out = import_tensorboard(root, logdir, timeout=60)

    assert out.returncode == 0, out.stderr
    assert f"events.out.tfevents.1.a: byte {len(_tfrecord(_event(0, 0.0)))}: bad CRC" in out.stderr, out.stderr
    assert "larger than" in out.stderr and "MemoryError" not in out.stderr, out.stderr
    assert _tb_rows(root) == [(0, 0.0), (2, 2.0), (3, 3.0)]
