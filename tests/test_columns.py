"""Decoding rows into columns (templates matched with numpy, the optimistic
framing of version 2 files) gives exactly what decoding every record with
msgpack gives: the same values of the same types, the same other records,
the same problems, for runs made by the writer and for damaged files. So
does the fold's decoding without numpy and pyarrow (``reader.plain``)."""

from __future__ import annotations

import io
import math
import os
import struct
import zlib

import msgpack
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runship
from runship.reader.columns import MISSING, decode_segment, make_template, present_values, python_lists, rows_of
from runship.reader.plain import decode_plain
from runship.reader.stream import StreamFile, iter_records
from tests.hostile.craft import committed, row, rows, start


def _sf() -> StreamFile:
    return StreamFile(
        path="f", name="run-20260101T000000000Zabcdef-000000.msgpack", stream="run", session="s", segment=0
    )


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _rows_of(r: dict) -> list[dict]:
    """A row record as it is; a rows block (format version 3) as the row records it holds."""
    if r["k"] == "row":
        return [r]
    if r["k"] != "rows":
        return []
    width = len(r["keys"])
    return [
        {"s": step, "t": t, "d": dict(zip(r["keys"], r["v"][i * width : (i + 1) * width]))}
        for i, (step, t) in enumerate(zip(r["s"], r["ts"]))
    ]


def assert_equivalent(data: bytes) -> None:
    slow_sf = _sf()
    slow = list(iter_records(data, slow_sf))
    fast_sf = _sf()
    seg = decode_segment(data, fast_sf)
    rows = list(rows_of(seg.columns))
    # the same rows, values and types
    slow_rows = [row for r in slow for row in _rows_of(r)]
    assert len(rows) == len(slow_rows)
    for got, want in zip(rows, slow_rows):
        assert got.pop("_step") == want["s"] and _same(got.pop("_timestamp"), want["t"])
        assert _same(got, want["d"]), (got, want["d"])
    # the same other records, at the same places
    positions = []
    n = 0
    for r in slow:
        if r["k"] in ("row", "rows"):
            n += len(_rows_of(r))
        else:
            positions.append((n, r))
    assert len(positions) == len(seg.records)
    for (pos, rec), (got_pos, got_rec) in zip(positions, seg.records):
        assert pos == got_pos and _same(got_rec, rec)
    # the same findings
    assert [(p.kind, p.offset, p.message) for p in fast_sf.problems] == [
        (p.kind, p.offset, p.message) for p in slow_sf.problems
    ]
    assert (fast_sf.committed, fast_sf.batches, fast_sf.records) == (
        slow_sf.committed,
        slow_sf.batches,
        slow_sf.records,
    )
    assert_plain_equivalent(data, seg, fast_sf)


def assert_plain_equivalent(data: bytes, seg, seg_sf: StreamFile) -> None:
    """What the fold reads of a file decoded with msgpack alone (a plain
    install's ``reader.plain``) is what it reads of its columns: the other
    records at the same places, times, last step, each stretch's last
    values, the findings."""
    sf = _sf()
    plain = decode_plain(io.BytesIO(data), sf)
    assert (plain.rows, plain.first_t, plain.last_t, plain.last_step) == (
        seg.rows,
        seg.first_t,
        seg.last_t,
        seg.last_step,
    )
    assert len(plain.records) == len(seg.records)
    for (pos, rec), (got_pos, got_rec) in zip(seg.records, plain.records):
        assert pos == got_pos and _same(got_rec, rec)
    for a, b in [*seg.stretches(), (0, seg.rows)]:
        want, got = seg.last_values(a, b), plain.last_values(a, b)
        assert list(got) == list(want) and _same(got, want), (got, want)
        for key in want:
            expected = present_values(seg.columns.column(key), a, b)
            assert _same(plain.plain.present(key, a, b), [_py(v) for v in expected]), key
    assert [(p.kind, p.offset, p.message) for p in sf.problems] == [
        (p.kind, p.offset, p.message) for p in seg_sf.problems
    ]
    assert (sf.committed, sf.batches, sf.records, sf.size) == (
        seg_sf.committed,
        seg_sf.batches,
        seg_sf.records,
        seg_sf.size,
    )


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


scalars = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(2**63), 2**64 - 1)
    | st.booleans()
    | st.none()
    | st.text(max_size=8)
)
float32s = st.floats(width=32, allow_nan=True, allow_infinity=True).map(np.float32)  # stored as msgpack float32
values = scalars | float32s | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=4), scalars, max_size=2)
keys = st.sampled_from(["loss", "acc", "lr", "val/loss", "epoch", "x" * 40])


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.dictionaries(keys, values, min_size=0, max_size=5),
            st.integers(1, 300),  # how many rows log that set of keys
            st.booleans(),  # numbers only (templates apply)
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 2**40),
)
def test_writer_runs_read_the_same_both_ways(tmp_path_factory, groups, first_step):
    d = str(tmp_path_factory.mktemp("cols"))
    run = runship.init(
        project="p",
        dir=d,
        reinit="create_new",
        settings={
            "quiet": True,
            "environment": False,
            "console": "off",
            "system_metrics": False,
            "rotate_bytes": 20000,
        },
    )
    step = first_step
    for keyset, count, numbers_only in groups:
        for i in range(count):
            row_values = {
                k: (float(i) * 0.5 if numbers_only and not isinstance(v, (int, float, np.float32)) else v)
                for k, v in keyset.items()
            }
            run.log(row_values, step=step)
            step += 1 + (i % 3) * 70  # steps cross fixint/uint8/uint16 widths
            if i % 97 == 0:
                run.flush()
        run.config.update({f"c{step}": step})
    run.finish()
    for name in sorted(os.listdir(run.run_dir)):
        if name.endswith(".msgpack"):
            with open(os.path.join(run.run_dir, name), "rb") as f:
                assert_equivalent(f.read())


def test_float32_rows_are_stored_as_float32_and_read_exactly(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path), settings={"quiet": True, "environment": False, "console": "off"})
    for i in range(300):
        run.log({"loss": np.float32(1 / (i + 1)), "acc": np.float16(i / 512), "epoch": np.int64(i // 100)})
    run.finish()
    (name,) = [n for n in os.listdir(run.run_dir) if n.startswith("run-")]
    with open(os.path.join(run.run_dir, name), "rb") as f:
        data = f.read()
    for i in range(300):  # 5-byte floats in the rows blocks, never 9-byte ones
        loss = np.float32(1 / (i + 1))
        assert b"\xca" + struct.pack(">f", loss) in data
        assert i < 2 or b"\xcb" + struct.pack(">d", float(loss)) not in data  # (1.0 and 0.5 are elsewhere too)
    assert_equivalent(data)
    seg = decode_segment(data, _sf())
    assert seg.rows == 300
    loss_col = seg.columns.table.column("k:loss").to_pylist()
    assert loss_col == [float(np.float32(1 / (i + 1))) for i in range(300)]
    # a float32 row record (as crafted, or from another writer) has a template:
    # such rows are matched as columns, not decoded one by one
    head = msgpack.packb({"k": "row", "n": 9, "t": 1.7e9, "s": 0, "d": None})[:-1]
    template = make_template(head + msgpack.packb({"loss": 0.5, "epoch": 2}, use_single_float=True))
    assert template is not None and [(f.key, f.code) for f in template.fields] == [("loss", ">f4"), ("epoch", "fix")]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_and_crafted_files_read_the_same_both_ways(data):
    batches = [
        [start()] + [row(i, {"a": i * 0.5, "b": i}, n=i + 1) for i in range(40)],
        [row(40 + i, {"a": 1.0, "b": 2}, n=50 + i) for i in range(30)],
        [row(70, {"a": "text"}, n=90), {"k": "summary", "n": 91, "t": 1.7e9, "d": {"a": 1}}],
        [row(71 + i, {"a": 3.0, "b": 4}, n=92 + i) for i in range(25)],
        # float32 values (as the writer stores float32 metrics), and a crafted row whose t is a float32
        [
            msgpack.packb(row(96 + i, {}, n=117 + i))[:-1] + msgpack.packb({"a": i / 3, "b": i}, use_single_float=True)
            for i in range(20)
        ]
        + [msgpack.packb(row(116, {"a": 0.5}, n=137), use_single_float=True)],
        # rows blocks (format version 3): floats, float32 floats, mixed kinds, ints past int64, maps
        [
            rows([117, 118, 119], ["a", "b"], [0.5, 1, 1.5, 2, 2.5, 3], n=138),
            msgpack.packb(rows([120, 121], ["a", "b"], [], n=139))[:-1]
            + msgpack.packb([i / 3 for i in range(4)], use_single_float=True),
            rows([122, 123], ["a", "c"], [1.0, "x", 2, None], n=140),
            rows([124, 125], ["big", "m"], [2**64 - 1, {"x": [1]}, -(2**63), {"x": [2]}], n=141),
            rows([126], [], [], n=142),
            rows([127, 128, 129], ["a", "b"], [0.5, -0.0, float("nan"), float("inf"), 1e300, -2.5], n=143),
        ],
        # ints that change width within a block (two byte layouts), bools, negative
        # ints, float32; and a key that is an int, then a float (read as "any")
        [
            rows(
                list(range(130, 150)),
                ["i", "f", "b", "neg"],
                [x for k in range(20) for x in (120 + k, k / 8, k % 2 == 0, -k * 40)],
                n=144,
            ),
            rows(list(range(150, 170)), ["m"], [k if k < 10 else k / 2 for k in range(20)], n=145),
        ],
    ]
    good = committed(batches)
    how = data.draw(st.sampled_from(["flip", "truncate", "insert", "junk-record", "fine"]))
    bad = bytearray(good)
    if how == "flip":
        k = data.draw(st.integers(0, len(good) - 1))
        bad[k] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        del bad[data.draw(st.integers(0, len(good))) :]
    elif how == "insert":
        k = data.draw(st.integers(0, len(good)))
        bad[k:k] = data.draw(st.binary(min_size=1, max_size=20))
    elif how == "junk-record":  # a valid batch around records that are not records
        from runship.schema import format as fmt

        body = b"\x80" * 5 + msgpack.packb(7) + msgpack.packb(row(1, {"a": float("nan")})) + b"\x81\xa1k\xa1x"
        bad += body + fmt.commit_record(len(body), zlib.crc32(body), 1.7e9)
    assert_equivalent(bytes(bad))


def test_a_marker_inside_a_value_and_a_forged_commit_fall_back(tmp_path):
    from runship.schema import format as fmt

    text = fmt.COMMIT_MARKER.decode("latin1")
    batches = [[start(), row(0, {"note": fmt.COMMIT_MARKER.hex()}), row(1, {"s": text})]]
    assert_equivalent(committed(batches))
    body = msgpack.packb(row(2, {"a": 1.0}))
    fake = fmt.commit_record(len(body), 0, 1.0)  # a commit record whose checksum does not hold, inside a value
    assert_equivalent(committed([[start(), row(0, {"blob": fake}), row(1, {"a": 2.0})]]))


def test_python_lists_mark_missing_values():
    import pyarrow as pa

    col = pa.chunked_array([pa.array([1.5, None, float("nan")], pa.float64())])
    out = python_lists(col)
    assert out[0] == 1.5 and out[1] is MISSING and math.isnan(out[2])
