"""Block summaries (``runship.reader.pyramid``): a chart's sample read from
them keeps what the row-by-row sample keeps. With blocks of one row they
give exactly ``history.keep``'s rows; with longer blocks each bucket (a block
counting for the bucket its first row is in) keeps its first, last, minimum,
maximum and first NaN, so no spike or NaN is hidden; and through a real run
and its cache, ``series()`` keeps a spike among 250,000 rows."""

from __future__ import annotations

import glob
import itertools
import math
import os

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runship
from runship.reader import arrow, pyramid
from runship.reader.history import edges, keep

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}

values_st = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0]),
    st.integers(-3, 3).map(float),
)


def pieces_of(x, present, values, cuts, block):
    """The pieces of rows cut into files at ``cuts``, each summarized."""
    out = []
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(x))), len(x)]
    for a, b in itertools.pairwise(bounds):
        steps = np.asarray(x[a:b], np.int64)
        times = np.asarray(x[a:b], np.float64)
        vals = np.where(present[a:b], values[a:b], 0.0)
        table = pa.table(
            {
                "_step": arrow.numbers(steps, pa.int64()),
                "_t": arrow.numbers(times, pa.float64()),
                "k:v": arrow.numbers(vals, pa.float64(), present[a:b]),
            }
        )
        s = pyramid.for_key(pyramid.summarize(table, 0, block), "k:v", b - a)

        def raw(ranges, steps=steps, vals=vals, pres=present[a:b]):
            return [(steps[i:j], pres[i:j], vals[i:j]) for i, j in ranges]

        out.append(pyramid.Piece(s["x0:_step"], s["x1:_step"], s, a, b - a, raw, lambda st_, t: st_))
    return out


def inner(lo, hi, count):
    return np.ceil(edges(lo, hi, count))  # integer x: an edge at its ceiling


series_st = st.lists(st.tuples(st.integers(0, 3), values_st, st.booleans()), min_size=1, max_size=300)


def arrays(data):
    x = np.cumsum([d for d, _, _ in data]).astype(np.int64)  # sorted, with repeats
    values = np.array([v for _, v, _ in data], np.float64)
    present = np.array([p for _, _, p in data], bool)
    return x, values, present


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(series_st, st.integers(1, 20), st.lists(st.integers(0, 300), max_size=3), st.booleans(), st.data())
def test_blocks_of_one_row_keep_exactly_the_rows_keep_keeps(data, count, cuts, ranged, draw):
    x, values, present = arrays(data)
    lo, hi = float(x[0]), float(x[-1])
    if ranged:
        lo = draw.draw(st.floats(lo - 2, hi + 2))
        hi = draw.draw(st.floats(lo, hi + 3))
    rows = np.flatnonzero(present)
    want = keep(x[rows], rows, values[rows], lo, hi, count, whole=not ranged, ordered=True)
    got_rows, got_x, got_v = pyramid.sample_pieces(
        pieces_of(x, present, values, cuts, 1), lo, hi, inner(lo, hi, count), 1
    )
    assert got_rows.tolist() == want.tolist()
    assert got_x.tolist() == x[want].tolist()
    assert [repr(v) for v in got_v.tolist()] == [repr(v) for v in values[want].tolist()]


def by_snapped_buckets(x, present, values, lo, hi, count, block, bounds):
    """By hand: each row's bucket is that of its block's first row (blocks
    start anew in each file); rows of blocks only partly in [lo, hi], and of
    blocks across a bucket edge next to a block of one x, count by their
    own x. Per bucket: first, last, first min, first max, first NaN."""
    edges_ = inner(lo, hi, count)
    bucket = lambda v: int(np.searchsorted(edges_, v, side="right"))  # noqa: E731
    out: dict[int, dict[str, int]] = {}
    for a, b in itertools.pairwise(bounds):
        starts = list(range(a, b, block))
        one_x = [x[s] == x[min(s + block, b) - 1] for s in starts]
        for i, start in enumerate(starts):
            rows = range(start, min(start + block, b))
            whole = all(lo <= x[r] <= hi for r in rows)
            across = bucket(x[rows[0]]) != bucket(x[rows[-1]])
            steplike = (i > 0 and one_x[i - 1]) or (i + 1 < len(starts) and one_x[i + 1])
            for r in rows:
                if not present[r] or not lo <= x[r] <= hi:
                    continue
                at = x[start] if whole and not (across and steplike) else x[r]
                bk = out.setdefault(int(np.searchsorted(edges_, at, side="right")), {"first": r})
                bk["last"] = r
                v = values[r]
                if math.isnan(v):
                    bk.setdefault("nan", r)
                    continue
                if "lo" not in bk or v < values[bk["lo"]]:
                    bk["lo"] = r
                if "hi" not in bk or v > values[bk["hi"]]:
                    bk["hi"] = r
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(series_st, st.integers(1, 12), st.sampled_from([2, 3, 4, 16]), st.lists(st.integers(0, 300), max_size=3))
def test_every_bucket_of_blocks_keeps_its_first_last_min_max_and_nan(data, count, block, cuts):
    x, values, present = arrays(data)
    lo, hi = float(x[0]), float(x[-1]) + 0.5
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(x))), len(x)]
    want = by_snapped_buckets(x, present, values, lo, hi, count, block, bounds)
    pieces = pieces_of(x, present, values, cuts, block)
    got, _, gv = pyramid.sample_pieces(pieces, lo, hi, inner(lo, hi, count), block, budget=0)
    expected = sorted({r for b in want.values() for r in b.values()})
    assert got.tolist() == expected
    # with the blocks across bucket edges read row by row (a few of them): exactly keep()'s rows
    rows = np.flatnonzero(present)
    exact = keep(x[rows], rows, values[rows], lo, hi, count, whole=False, ordered=True)
    assert (
        pyramid.sample_pieces(pieces, lo, hi, inner(lo, hi, count), block, budget=10**6)[0].tolist() == exact.tolist()
    )
    # no spike hidden: the largest, the smallest and the first NaN of all are there
    ok = present & ~np.isnan(values)
    if ok.any():
        assert np.nanmax(np.where(ok, values, -np.inf)) in gv.tolist()
        assert np.nanmin(np.where(ok, values, np.inf)) in gv.tolist()
    if (present & np.isnan(values)).any():
        assert int(np.flatnonzero(present & np.isnan(values))[0]) in got.tolist()


def test_summaries_extended_from_a_shorter_prefix_are_those_made_at_once():
    rng = np.random.default_rng(3)
    n = 5000
    steps = np.arange(n, dtype=np.int64)
    values = rng.normal(size=n)
    values[rng.integers(0, n, 30)] = np.nan
    present = rng.random(n) > 0.2

    def table(m, with_new):
        cols = {
            "_step": arrow.numbers(steps[:m], pa.int64()),
            "_t": arrow.numbers(steps[:m] * 0.5, pa.float64()),
            "k:a": arrow.numbers(values[:m], pa.float64(), present[:m]),
        }
        if with_new:  # a key first logged after the prefix
            cols["k:b"] = arrow.numbers(values[:m], pa.float64(), np.arange(m) >= 3000)
        return pa.table(cols)

    prefix = pyramid.summarize(table(3000, False), 0, 64)
    grown = pyramid.extend(prefix, 3000, table(n, True), 64)
    whole = pyramid.summarize(table(n, True), 0, 64)
    assert sorted(grown) == sorted(whole)
    for name in whole:
        np.testing.assert_array_equal(grown[name], whole[name], err_msg=name)
    # a step metric the same all through the prefix (one epoch) that moves on after it
    epochs = np.where(np.arange(n) < 3500, 0, 1 + np.arange(n) // 1000)
    with_epoch = lambda m: table(m, True).append_column("k:epoch", arrow.numbers(epochs[:m], pa.int64()))  # noqa: E731
    prefix = pyramid.summarize(with_epoch(3000), 0, 64)
    grown = pyramid.extend(prefix, 3000, with_epoch(n), 64)
    whole = pyramid.summarize(with_epoch(n), 0, 64)
    assert pyramid.point_x("lo", "k:epoch", "k:a") in whole and sorted(grown) == sorted(whole)
    for name in whole:
        np.testing.assert_array_equal(grown[name], whole[name], err_msg=name)


def test_a_spike_and_a_nan_among_250000_rows_show_from_the_blocks_kept_in_the_cache(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path / "runs"), settings=SETTINGS)
    rng = np.random.default_rng(0)
    loss = 1.0 + rng.random(250_000) * 0.2
    loss[123_457], loss[200_001], loss[77_777] = 40.0, math.nan, -3.0
    for v in loss.tolist():
        run.log({"loss": v})
    run.finish()
    cache = str(tmp_path / "cache")
    runship.open_run(run.run_dir, cache=cache)
    assert glob.glob(os.path.join(cache, "segments", "*", "*", "*.blocks.parquet"))
    view = runship.open_run(run.run_dir, cache=cache)
    for xrange in (None, (100_000.5, 240_000.0)):
        xs, ys = view.series(["loss"], 40, xrange=xrange)["loss"]  # 10 buckets of 25,000 rows
        assert len(xs) <= 50
        assert 40.0 in ys.tolist() and int(xs[ys.tolist().index(40.0)]) == 123_457
        assert np.isnan(ys).sum() == 1 and int(xs[np.flatnonzero(np.isnan(ys))[0]]) == 200_001
        if xrange is None:
            assert -3.0 in ys.tolist() and xs[0] == 0 and xs[-1] == 249_999
        else:
            assert xs[0] == 100_001 and xs[-1] == 240_000
    # the same points with no cache at all (the summaries made from the columns, as for a live file)
    bare = runship.open_run(run.run_dir, cache=False).series(["loss"], 40)["loss"]
    got = view.series(["loss"], 40)["loss"]
    assert bare[0].tolist() == got[0].tolist()
    # a narrow zoom: exactly what the rows give (history() samples row by row)
    xs, ys = view.series(["loss"], 40, xrange=(123_000, 124_000))["loss"]
    rows = view.history(["loss"], samples=40, xrange=(123_000, 124_000))
    assert xs.tolist() == [r["_step"] for r in rows] and 40.0 in ys.tolist()


def test_a_damaged_summary_is_deleted_and_the_points_stay_the_same(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path / "runs"), settings=SETTINGS)
    for i in range(100_000):
        run.log({"loss": float(i % 97) + (500.0 if i == 54_321 else 0.0)})
    run.finish()
    cache = str(tmp_path / "cache")
    before = runship.open_run(run.run_dir, cache=cache).series(["loss"], 12)["loss"]
    (blocks,) = glob.glob(os.path.join(cache, "segments", "*", "*", "*.blocks.parquet"))
    with open(blocks, "r+b") as f:
        f.seek(os.path.getsize(blocks) // 2)
        f.write(b"\xff" * 64)
    after = runship.open_run(run.run_dir, cache=cache).series(["loss"], 12)["loss"]
    assert not os.path.exists(blocks)
    assert before[0].tolist() == after[0].tolist() and 501.0 in after[1].tolist()


def test_a_grad_norm_spike_at_a_repeated_epoch_is_kept(tmp_path):
    run = runship.init(project="p", dir=str(tmp_path / "runs"), settings=SETTINGS)
    rng = np.random.default_rng(1)
    for i in range(5000):
        g = 40.0 if i == 2345 else 1.0 + 0.2 * float(rng.random())
        run.log({"grad_norm": g, "epoch": i // 500})  # 10 epochs of 500 rows each
    run.finish()
    view = runship.open_run(run.run_dir)
    xs, ys = view.series(["grad_norm"], 800, x="epoch")["grad_norm"]
    assert 40.0 in ys.tolist() and xs[ys.tolist().index(40.0)] == 4
    for epoch in range(10):  # every x value's min, max and last
        rows = [r["grad_norm"] for r in view.history(["grad_norm", "epoch"]) if r["epoch"] == epoch]
        here = ys[xs == epoch].tolist()
        assert min(rows) in here and max(rows) in here and rows[-1] in here


def test_a_logged_step_metric_as_x_is_read_from_the_blocks(tmp_path):
    """epoch (repeating, then moving on) and a float "progress" as x: the
    spike is kept at its own x, each bucket's extremes are there, and a zoom
    gives what the rows give."""
    run = runship.init(project="p", dir=str(tmp_path / "runs"), settings=SETTINGS)
    rng = np.random.default_rng(2)
    n = 250_000
    loss = 1.0 + rng.random(n) * 0.2
    loss[123_457], loss[33_333] = 40.0, math.nan
    for i, v in enumerate(loss.tolist()):
        run.log({"loss": v, "epoch": i // 1000, "progress": i / n, "lr": 0.1})
    run.finish()
    cache = str(tmp_path / "cache")
    runship.open_run(run.run_dir, cache=cache)
    view = runship.open_run(run.run_dir, cache=cache)
    for x, at in (("epoch", 123), ("progress", 123_457 / n)):
        assert view._pieces("loss", x) is not None  # served by the summaries
        xs, ys = view.series(["loss"], 40, x=x)["loss"]
        assert len(xs) <= 50 and ys.tolist().count(40.0) == 1 and xs[ys.tolist().index(40.0)] == at
        assert np.isnan(ys).sum() == 1 and xs.tolist() == sorted(xs.tolist())
        # a narrow zoom: exactly the rows' own sample
        lo, hi = (120, 125) if x == "epoch" else (0.49, 0.495)
        zx, zy = view.series(["loss"], 40, x=x, xrange=(lo, hi))["loss"]
        rows = view.history(["loss"], samples=40, x=x, xrange=(lo, hi))
        assert zx.tolist() == [r[x] for r in rows]
        assert [repr(v) for v in zy.tolist()] == [repr(r["loss"]) for r in rows]
    # a third such key (lr, the same all through) is past what a summary keeps: read from the rows
    assert view._pieces("loss", "lr") is None and view.series(["loss"], 40, x="lr")["loss"][0].tolist()[0] == 0.1


def test_a_step_metric_the_same_all_through_some_files_serves_as_x(tmp_path):
    settings_ = {**SETTINGS, "rotate_bytes": 400_000}  # files of about 37,000 rows: some within one epoch
    run = runship.init(project="p", dir=str(tmp_path / "runs"), settings=settings_)
    for i in range(150_000):
        run.log({"grad_norm": 40.0 if i == 77_777 else 1.0 + (i % 7) * 0.01, "epoch": i // 50_000})
    run.finish()
    cache = str(tmp_path / "cache")
    runship.open_run(run.run_dir, cache=cache)
    view = runship.open_run(run.run_dir, cache=cache)
    assert len(glob.glob(os.path.join(cache, "segments", "*", "*", "*.blocks.parquet"))) >= 3
    assert view._pieces("grad_norm", "epoch") is not None
    xs, ys = view.series(["grad_norm"], 16, x="epoch")["grad_norm"]
    assert set(xs.tolist()) == {0.0, 1.0, 2.0} and xs[ys.tolist().index(40.0)] == 1.0
    for epoch in (0, 1, 2):  # every epoch's min, max and last
        here = ys[xs == epoch].tolist()
        assert (
            1.0 in here
            and max(here) >= 1.06
            and view.history(["grad_norm"])[50_000 * epoch + 49_999]["grad_norm"] in here
        )


def test_a_live_run_s_summary_is_extended_not_made_again(tmp_path):
    """A file still being written is cached once it holds 8 MB, again when
    it grew 8 MB more: the longer entry's summary keeps the whole blocks of
    the shorter one's (a marker put in it is still there) and summarizes
    the rows after, as a summary made at once would."""
    import pyarrow.parquet as pq

    run = runship.init(project="p", dir=str(tmp_path / "runs"), settings=SETTINGS)
    rng = np.random.default_rng(4)
    cache = str(tmp_path / "cache")
    found = []
    for part in range(2):
        for v in (1.0 + rng.random(420_000)).tolist():
            run.log({"loss": v})
        run.flush()
        assert runship.open_run(run.run_dir, cache=cache).series(["loss"], 40)["loss"][0].tolist()
        (blocks,) = glob.glob(os.path.join(cache, "segments", "*", "*", "*.blocks.parquet"))
        found.append(blocks)
        if part == 0:  # a marker in a whole block of the shorter summary
            table = pq.read_table(blocks)
            marked = table.column("v.hi:k:loss").to_numpy().copy()
            marked[3] = 12345.0
            table = table.set_column(table.column_names.index("v.hi:k:loss"), "v.hi:k:loss", pa.array(marked))
            pq.write_table(table.replace_schema_metadata(pq.read_schema(blocks).metadata), blocks)
    run.finish()
    assert found[0] != found[1] and not os.path.exists(found[0])
    grown = pq.read_table(found[1])
    assert grown.column("v.hi:k:loss")[3].as_py() == 12345.0  # kept, not made again
    entry = pq.read_table(found[1].replace(".blocks.parquet", ".parquet"))
    whole = pyramid.summarize(entry)
    assert sorted(grown.column_names) == sorted(whole)
    for name in whole:
        got = grown.column(name).to_numpy()
        if name == "v.hi:k:loss":
            got = np.concatenate((got[:3], got[4:]))
            want = np.concatenate((whole[name][:3], whole[name][4:]))
        else:
            want = whole[name]
        np.testing.assert_array_equal(got, want, err_msg=name)
