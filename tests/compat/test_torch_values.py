"""torch values as log() records them (torch from the compat-test extra):
0-d tensors of every float and int dtype, bfloat16, bool, NaN and
infinities, tensors that require grad, and small 1-d tensors; each read
back with the exact value ``.item()`` / ``.tolist()`` gives."""

from __future__ import annotations

import math

import pytest

import runship


@pytest.mark.compat
def test_torch_tensors_of_every_dtype_read_back_exactly(tmp_path):
    import torch

    values = {
        "f16": torch.tensor(0.1, dtype=torch.float16),
        "bf16": torch.tensor(0.1, dtype=torch.bfloat16),
        "f32": torch.tensor(0.1, dtype=torch.float32),
        "f64": torch.tensor(0.1, dtype=torch.float64),
        "nan": torch.tensor(float("nan")),
        "inf": torch.tensor(float("-inf"), dtype=torch.bfloat16),
        "i8": torch.tensor(-128, dtype=torch.int8),
        "u8": torch.tensor(255, dtype=torch.uint8),
        "i16": torch.tensor(-300, dtype=torch.int16),
        "i32": torch.tensor(2**31 - 1, dtype=torch.int32),
        "i64": torch.tensor(-(2**63), dtype=torch.int64),
        "bool": torch.tensor(True),
        "grad": (torch.tensor(2.0, requires_grad=True) * 3),
        "vec": torch.tensor([1.5, 2.5], dtype=torch.bfloat16),
    }
    run = runship.init(project="t", id="tv", dir=str(tmp_path), settings={"quiet": True, "environment": False})
    run.log(values)
    run.finish()
    (got,) = runship.open_run(run.run_dir).history()
    for key, t in values.items():
        want = t.detach().tolist()
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == want and type(got[key]) is type(want), (key, got[key], want)


@pytest.mark.compat
def test_float32_storage_never_narrows_a_tensor(tmp_path):
    """numpy float32 values are stored as msgpack float32; a CPU tensor's
    float is stored as float64 (its dtype is not asked: that costs more than
    the four bytes save), so a row that holds both keeps every float64."""
    import os
    import struct

    import numpy as np
    import torch

    row = {
        "acc": np.float32(0.7),
        "loss": torch.tensor(0.1, dtype=torch.float64),  # not a float32 value
        "gnorm": torch.tensor(3.3, dtype=torch.bfloat16),
        "step": torch.tensor(7),
    }
    run = runship.init(project="t", id="f32", dir=str(tmp_path), settings={"quiet": True, "environment": False})
    run.log(row)
    run.log({"acc": np.float32(0.7)})
    run.finish()
    data = b"".join(
        open(os.path.join(run.run_dir, n), "rb").read() for n in sorted(os.listdir(run.run_dir)) if n.startswith("run-")
    )
    # (rows blocks hold the values apart from the keys: format version 3)
    assert data.count(b"\xcb" + struct.pack(">d", 0.1)) == 1
    assert data.count(b"\xcb" + struct.pack(">d", float(np.float32(0.7)))) == 1
    assert data.count(b"\xca" + struct.pack(">f", np.float32(0.7))) == 1
    first, second = runship.open_run(run.run_dir).history()
    want = {"acc": float(np.float32(0.7)), "loss": 0.1, "gnorm": row["gnorm"].item(), "step": 7}
    assert {k: first[k] for k in want} == want and type(first["step"]) is int
    assert second["acc"] == want["acc"]


@pytest.mark.compat
def test_rows_of_only_cpu_tensors_take_the_fast_path_and_read_back_exactly(tmp_path):
    """A row whose values are all 0-d CPU tensors is converted in one loop
    (values_of_one_type); a 1-element 1-d tensor among them, or a complex
    one, sends the row the long way (a list; a clear error)."""
    import torch

    from runship.schema.values import values_of_one_type

    zero_d = {
        "f16": torch.tensor(0.1, dtype=torch.float16),
        "bf16": torch.tensor(0.1, dtype=torch.bfloat16),
        "f32": torch.tensor(0.1, dtype=torch.float32),
        "i64": torch.tensor(-(2**63), dtype=torch.int64),
        "u8": torch.tensor(255, dtype=torch.uint8),
        "bool": torch.tensor(False),
        "grad": (torch.tensor(2.0, requires_grad=True) * 3),
    }
    run = runship.init(project="t", id="fast", dir=str(tmp_path), settings={"quiet": True, "environment": False})
    run.log(zero_d)
    assert values_of_one_type(zero_d, torch.Tensor) is not None  # the fast path took this row
    assert values_of_one_type({"a": torch.tensor(1.0), "b": torch.tensor([2.0])}, torch.Tensor) is None
    run.log({"a": torch.tensor(1.5), "b": torch.tensor([2.0])})
    with pytest.raises(TypeError, match="complex"):
        run.log({"c": torch.tensor(1 + 2j)})
    run.finish()
    first, second = runship.open_run(run.run_dir).history()
    for key, t in zero_d.items():
        want = t.detach().item()
        assert first[key] == want and type(first[key]) is type(want), (key, first[key], want)
    assert second["a"] == 1.5 and second["b"] == [2.0] and second["_step"] == 1


@pytest.mark.compat
def test_the_device_copy_gives_item_s_values_for_every_dtype_with_real_torch():
    """``device_values`` (a row's accelerator tensors: a stack a dtype, one
    copy) run on real tensors. CPU tensors here, as CI has no GPU: the same
    operations, and every value must be what ``.item()`` gives."""
    import torch

    from runship.schema.values import device_values

    tensors = [
        torch.tensor(0.1, dtype=torch.float32, requires_grad=True) * 3,
        torch.tensor(-(2**63), dtype=torch.int64),
        torch.tensor(0.1, dtype=torch.bfloat16),
        torch.tensor(True),
        torch.tensor(float("nan"), dtype=torch.float16),
        torch.tensor(2.5, dtype=torch.float32),
        torch.tensor(-7, dtype=torch.int8),
        torch.tensor(255, dtype=torch.uint8),
        torch.tensor(float("-inf"), dtype=torch.float64),
        torch.tensor(2**62 + 1, dtype=torch.int64),
        torch.tensor(False),
    ]
    got = device_values(tensors)
    want = [t.item() for t in tensors]
    assert [type(x) for x in got] == [type(x) for x in want]
    assert all(g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, want)), (got, want)
    for one_dtype in ([torch.tensor(v / 3) for v in range(5)], [torch.tensor(0.1, dtype=torch.bfloat16)]):
        got = device_values(one_dtype)  # one dtype: a stack and a copy (one tensor: its item())
        assert got == [t.item() for t in one_dtype] and all(type(x) is float for x in got)
