"""What log() records of the values training code logs: numpy scalars of
every type, 0-d and small arrays, NaN and infinities, each read back with
its exact value; and a row's tensors on an accelerator copied to the host
at once (one synchronisation a log() call, counted on a test double)."""

from __future__ import annotations

import contextlib
import math
import sys

import numpy as np
import pytest

import runship
from runship.schema import values


def _read_back(make_run, row: dict) -> dict:
    run = make_run(id="vals")
    run.log(row)
    run.finish()
    (got,) = runship.open_run(run.run_dir).history()
    return {k: got[k] for k in row}


NUMPY = [
    np.float16(0.1),
    np.float32(0.1),
    np.float64(0.1),
    np.float32(np.nan),
    np.float64(-np.inf),
    np.float32(np.inf),
    np.int8(-128),
    np.int16(-300),
    np.int32(2**31 - 1),
    np.int64(-(2**63)),
    np.uint8(255),
    np.uint16(65535),
    np.uint32(2**32 - 1),
    np.uint64(2**64 - 1),
    np.bool_(True),
    np.bool_(False),
]


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


def test_every_numpy_scalar_type_reads_back_exactly(make_run):
    row = {f"v{i}_{type(v).__name__}": v for i, v in enumerate(NUMPY)}
    got = _read_back(make_run, row)
    for key, v in row.items():
        want = v.item()  # numpy's own exact Python value (a float32's value widened to float64)
        assert _same(got[key], want), (key, got[key], want)


def test_zero_d_and_small_arrays(make_run):
    row = {
        "zero_d": np.array(2.5),
        "zero_d_int": np.array(7, dtype=np.int16),
        "small": np.array([1.5, np.nan, np.inf], dtype=np.float32),
        "ints": np.arange(4, dtype=np.uint8),
        "bools": np.array([True, False]),
    }
    got = _read_back(make_run, row)
    assert got["zero_d"] == 2.5 and got["zero_d_int"] == 7 and type(got["zero_d_int"]) is int
    assert got["small"][0] == 1.5 and math.isnan(got["small"][1]) and got["small"][2] == math.inf
    assert got["ints"] == [0, 1, 2, 3] and got["bools"] == [True, False]


def test_a_row_of_numpy_scalars_takes_the_fast_path_and_np_float64_is_written_as_it_is():
    row = {"a": np.float32(0.25), "b": np.int64(3), "c": np.float64(1.5), "d": 1.0}
    plain = values.plain_row(row)
    assert plain == {"a": 0.25, "b": 3, "c": 1.5, "d": 1.0}
    assert type(plain["a"]) is float and type(plain["b"]) is int
    assert np.float64 in values.PLAIN_TYPES  # packed by msgpack as the float it is
    assert values.plain_row({"img": np.zeros((2, 2))}) is None  # an array: the full conversion
    assert values.plain_row({"z": np.complex64(1j)}) is None  # refused there, with its key named


def test_a_complex_value_is_refused_naming_its_key(make_run):
    run = make_run(id="cx")
    with pytest.raises(TypeError, match="complex"):
        run.log({"z": np.complex64(1j)})
    run.log({"ok": 1.0})
    run.finish()
    assert runship.open_run(run.run_dir).history()[0]["ok"] == 1.0


def _run_stream_bytes(run_dir: str) -> bytes:
    import os

    names = sorted(n for n in os.listdir(run_dir) if n.startswith("run-") and n.endswith(".msgpack"))
    out = b""
    for n in names:
        with open(os.path.join(run_dir, n), "rb") as f:
            out += f.read()
    return out


def test_float32_values_are_stored_in_five_bytes_and_read_back_exactly(make_run):
    import struct

    f32 = np.float32(0.1)
    run = make_run(id="f32")
    # every float of the row a float32 (or narrower): msgpack float32, 5 bytes a value
    run.log({"a": f32, "h": np.float16(-2.5), "nan": np.float32(np.nan), "inf": np.float32(-np.inf), "k": np.int64(3)})
    run.log({"a": f32, "lr": 3e-4})  # with a float64: every float of the row as float64
    run.log({"a": np.float32(0.5)}, step=5)  # an explicit step (the pending row) keeps float32
    run.log({"a": np.float32(0.75)}, step=6, commit=True)
    run.finish()
    raw = _run_stream_bytes(run.run_dir)
    # (rows blocks hold the values apart from the keys: format version 3)
    assert raw.count(b"\xca" + struct.pack(">f", f32)) == 1
    assert raw.count(b"\xcb" + struct.pack(">d", float(f32))) == 1
    assert b"\xca" + struct.pack(">f", 0.5) in raw and b"\xca" + struct.pack(">f", 0.75) in raw
    rows = runship.open_run(run.run_dir).history()
    assert [r["_step"] for r in rows] == [0, 1, 5, 6]
    assert _same(rows[0]["a"], float(f32)) and _same(rows[0]["h"], -2.5) and _same(rows[0]["k"], 3)
    assert math.isnan(rows[0]["nan"]) and rows[0]["inf"] == -math.inf
    assert _same(rows[1]["a"], float(f32)) and rows[1]["lr"] == 3e-4
    assert rows[2]["a"] == 0.5 and rows[3]["a"] == 0.75
    assert run.summary["a"] == 0.75 and type(run.summary["h"]) is float


class _Syncs:
    count = 0


class _HostTensor:
    """What ``.cpu()`` of the fake device tensor gives: values on the host."""

    def __init__(self, floats: list[float]):
        self.floats = floats

    def tolist(self) -> list[float]:
        return list(self.floats)

    def view(self, dtype):
        import struct

        return _HostInts([struct.unpack("<q", struct.pack("<d", f))[0] for f in self.floats])


class _HostInts:
    def __init__(self, ints):
        self.ints = ints

    def tolist(self):
        return list(self.ints)


class _DType:
    def __init__(self, name: str, floating: bool, itemsize: int = 8):
        self.name, self.is_floating_point, self.itemsize = name, floating, itemsize


class FakeTorch:
    """The parts of torch that ``device_values`` uses, over fake CUDA tensors."""

    float64 = _DType("float64", True)
    float32 = _DType("float32", True, 4)
    bfloat16 = _DType("bfloat16", True, 2)
    int64 = _DType("int64", False)
    bool = _DType("bool", False)

    @staticmethod
    def cat(parts):
        return Tensor([f for p in parts for f in p.bits], FakeTorch.float64, raw=True)

    @staticmethod
    def stack(tensors):
        assert len({t.dtype for t in tensors}) == 1 and len({t.device for t in tensors}) == 1
        return Tensor([t.bits[0] for t in tensors], tensors[0].dtype, raw=True, device=tensors[0].device)

    @staticmethod
    def no_grad():
        return contextlib.nullcontext()


class Tensor:
    """A 0-d tensor "on a GPU": every host read (``item``, ``cpu``, ``tolist``) is a synchronisation."""

    __module__ = "torch"
    ndim = 0
    is_cpu = False

    def __init__(self, value, dtype, raw=False, device="cuda:0"):
        self.dtype = dtype
        self.device = device
        self.bits = value if raw else [value]

    def detach(self):
        return self

    def is_complex(self):
        return False

    def to(self, dtype):
        conv = float if dtype.is_floating_point else int
        return Tensor([conv(v) for v in self.bits], dtype, raw=True, device=self.device)

    def view(self, dtype):
        import struct

        floats = [struct.unpack("<d", struct.pack("<q", b))[0] for b in self.bits]
        return Tensor(floats, dtype, raw=True, device=self.device)

    def cpu(self):
        _Syncs.count += 1
        return _HostTensor(self.bits)

    def item(self):
        _Syncs.count += 1
        return self.bits[0]


def test_a_rows_device_tensors_cost_one_synchronisation(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    row = {f"loss{i}": Tensor(0.5 + i, FakeTorch.float32) for i in range(8)}
    row["step_count"] = Tensor(2**62 + 1, FakeTorch.int64)  # an int that a float64 would round
    row["done"] = Tensor(True, FakeTorch.bool)
    row["lr"] = 3e-4
    _Syncs.count = 0
    plain = values.plain_row(row)
    assert _Syncs.count == 1  # one copy for ten tensors (item() on each would be ten)
    assert plain == {**{f"loss{i}": 0.5 + i for i in range(8)}, "step_count": 2**62 + 1, "done": True, "lr": 3e-4}
    assert type(plain["done"]) is bool and type(plain["step_count"]) is int
    assert type(plain) is dict  # lr is a float64: every float of the row stays float64
    del row["lr"]
    assert type(values.plain_row(row)) is values.F32Row  # float32 and ints only: stored as float32


def test_device_tensors_are_stacked_a_dtype_at_a_time_and_copied_once_a_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    stacks = []
    real_stack = FakeTorch.stack
    monkeypatch.setattr(FakeTorch, "stack", staticmethod(lambda ts: stacks.append(len(ts)) or real_stack(ts)))
    f32, i64, b = FakeTorch.float32, FakeTorch.int64, FakeTorch.bool
    # dtypes interleaved: every value must come back to its own key
    row = {"a": Tensor(1.5, f32), "n": Tensor(-7, i64), "b": Tensor(2.5, f32), "ok": Tensor(False, b)}
    row.update({"c": Tensor(3.5, f32), "m": Tensor(2**63 - 1, i64)})
    row["other"] = Tensor(9.25, f32, device="cuda:1")  # another GPU: its own copy
    _Syncs.count = 0
    plain = values.plain_row(row)
    assert plain == {"a": 1.5, "n": -7, "b": 2.5, "ok": False, "c": 3.5, "m": 2**63 - 1, "other": 9.25}
    assert list(plain) == list(row) and type(plain["ok"]) is bool and type(plain["m"]) is int
    assert _Syncs.count == 2  # one copy a device
    assert sorted(stacks) == [1, 2, 3]  # one stack a dtype (cuda:1's one tensor: its item()), not one a value
    stacks.clear()
    _Syncs.count = 0
    metrics = {f"m{i}": Tensor(i / 4, f32) for i in range(10)}  # the common row: float32 metrics
    assert values.plain_row(metrics) == {f"m{i}": i / 4 for i in range(10)}
    assert _Syncs.count == 1 and stacks == [10]
