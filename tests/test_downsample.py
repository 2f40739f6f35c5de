"""Downsampling never hides a spike: for random series (NaN and ±inf
included), every x-bucket's first, last, minimum and maximum value, and a
NaN when it has one, are among the points ``history(samples=N)`` returns,
each at its own x; and no bucket gives more than those."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runship
from runship.reader.history import bucket_of

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}

points = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]),
    st.integers(-5, 5).map(float),
)


def by_hand(raw, key, x, samples, xrange=None):
    """{bucket: {"first", "last", "min", "max", "nan"}} over the raw rows."""
    rows = [r for r in raw if key in r and x in r and not math.isnan(r[x])]
    if xrange is not None:
        rows = [r for r in rows if xrange[0] <= r[x] <= xrange[1]]
    if not rows:
        return {}, 0
    lo, hi = xrange if xrange is not None else (min(r[x] for r in rows), max(r[x] for r in rows))
    count = max(1, samples // 4)
    out: dict[int, dict] = {}
    for r in rows:  # in row order
        b = out.setdefault(bucket_of(r[x], lo, hi, count), {"first": r, "min": None, "max": None, "nan": None})
        b["last"] = r
        v = r[key]
        if isinstance(v, float) and math.isnan(v):
            b["nan"] = b["nan"] or r
            continue
        if b["min"] is None or v < b["min"][key]:
            b["min"] = r
        if b["max"] is None or v > b["max"][key]:
            b["max"] = r
    return out, count


def check(view, key, x, samples, xrange=None):
    raw = view.history()
    want, count = by_hand(raw, key, x, samples, xrange)
    got = view.history([key], samples=samples, x=x, xrange=xrange)
    got_steps = {r["_step"]: r for r in got}
    assert len(got_steps) == len(got)
    for b in want.values():
        for what in ("first", "last", "min", "max", "nan"):
            r = b[what]
            if r is None:
                continue
            assert r["_step"] in got_steps, (what, r)
            value = got_steps[r["_step"]][key]
            assert value == r[key] or (math.isnan(value) and math.isnan(r[key]))
    # nothing else: each bucket gives at most its first, last, min, max and first NaN
    assert len(got) <= sum(len({id(v) for v in b.values() if v is not None}) for b in want.values())
    assert len(got) <= 5 * count


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    values=st.lists(points, min_size=1, max_size=400),
    samples=st.integers(1, 64),
    gaps=st.lists(st.integers(1, 50), min_size=1, max_size=5),
)
def test_every_bucket_keeps_first_last_min_max_and_nan(tmp_path_factory, values, samples, gaps):
    run = runship.init(project="p", dir=str(tmp_path_factory.mktemp("ds")), reinit="create_new", settings=SETTINGS)
    step = 0
    for i, v in enumerate(values):
        row = {"v": v, "epoch": (i * 7) % 13}  # a step metric that is not monotonic
        if i % 3 == 0:
            row["other"] = float(i)
        run.log(row, step=step)
        step += gaps[i % len(gaps)]
    run.finish()
    view = runship.open_run(run.run_dir)
    check(view, "v", "_step", samples)
    check(view, "v", "_runtime", samples)
    check(view, "v", "epoch", samples)
    last = view.history()[-1]["_step"]
    check(view, "v", "_step", samples, xrange=(last / 3, last * 2 / 3))
    # series() (the charts' arrays) holds exactly the points history() keeps of each key
    for x, xrange in (("_step", None), ("epoch", None), ("_step", (last / 3, last * 2 / 3))):
        rows = view.history(["v", "other"], match="any", samples=samples, x=x, xrange=xrange)
        arrays = view.series(["v", "other"], samples, x=x, xrange=xrange)
        for key in ("v", "other"):
            want = [(float(r[x]), float(r[key])) for r in rows if key in r]
            xs, ys = arrays[key]
            got = [(float(a), float(b)) for a, b in zip(xs.tolist(), ys.tolist())]
            assert [repr(p) for p in got] == [repr(p) for p in want], (x, key)


def test_a_single_spike_and_a_single_nan_among_many_points_show(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path), settings=SETTINGS)
    n = 200_000
    for i in range(n):
        run.log({"loss": 1.0 + (i % 10) * 1e-3 if i not in (123_457, 170_001) else (1e9 if i == 123_457 else math.nan)})
    run.finish()
    view = runship.open_run(run.run_dir)
    got = view.history(["loss"], samples=100)
    assert len(got) <= 125
    assert any(r["loss"] == 1e9 and r["_step"] == 123_457 for r in got)
    assert any(math.isnan(r["loss"]) and r["_step"] == 170_001 for r in got)
    df = view.history_df(["loss"], samples=100)
    assert df["loss"].max() == 1e9 and df["loss"].isna().sum() == 1


def test_keys_asked_together_share_rows_and_others_are_sparse(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path), settings=SETTINGS)
    for i in range(1000):
        run.log({"a": float(i % 17), **({"b": float(-i)} if i % 2 else {})})
    run.finish()
    view = runship.open_run(run.run_dir)
    together = view.history(["a", "b"], samples=40)
    assert together and all("a" in r and "b" in r for r in together) and len(together) <= 40
    apart = view.history(["a", "b"], match="any", samples=40)
    assert {k for r in apart for k in r} >= {"a", "b"} and all(len(r) - 3 in (1, 2) for r in apart)
    assert sum("a" in r for r in apart) <= 40 and sum("b" in r for r in apart) <= 40


def test_an_x_on_a_bucket_edge_belongs_to_the_bucket_above(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path), settings=SETTINGS)
    for i in range(9):  # steps 0..8, two buckets: [0, 4) and [4, 8]
        run.log({"v": [5.0, 1.0, 2.0, 3.0, 9.0, 0.0, 7.0, 6.0, 8.0][i]})
    run.finish()
    view = runship.open_run(run.run_dir)
    got = view.history(["v"], samples=8)
    assert [r["_step"] for r in got] == [0, 1, 3, 4, 5, 8]  # first/max, min, last | first/max, min, last
    check(view, "v", "_step", 8)
