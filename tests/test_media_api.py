"""Media types, save() paths, define_metric edge cases and the Api."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import runship
from tests.conftest import run_python
from tests.plain import records


def test_histogram_rules():
    h = runship.Histogram([1, 2, 2, 3], num_bins=3)
    assert h.values == [1, 2, 1] and len(h.bins) == 4
    assert runship.Histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0])).to_dict() == {
        "_type": "histogram",
        "values": [1, 2],
        "bins": [0.0, 0.5, 1.0],
    }
    with pytest.raises(ValueError, match="at most 512 bins"):
        runship.Histogram(np.arange(2000), num_bins=600)
    with pytest.raises(ValueError, match="need 3 bin edges"):
        runship.Histogram(np_histogram=([1, 2], [0, 1]))
    with pytest.raises(ValueError, match="sequence or np_histogram"):
        runship.Histogram()


def test_table_rules():
    t = runship.Table(columns=["a", "b"], data=[[1, "x"]])
    t.add_data(2, "y")
    assert t.data == [[1, "x"], [2, "y"]]
    with pytest.raises(ValueError, match="expects 2 columns"):
        t.add_data(1)
    with pytest.raises(TypeError, match="column names"):
        runship.Table(columns=[object()])
    import pandas as pd

    df = pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25]})
    assert runship.Table(dataframe=df).data == [[1.0, 0.5], [2.0, 0.25]]


def test_image_input_errors(tmp_path):
    with pytest.raises(ValueError, match="no file"):
        runship.Image(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="shape"):
        runship.Image(np.zeros((2, 2, 2, 2)))


def test_optional_dependencies_fail_only_when_used(tmp_path):
    out = run_python(
        f"""
        import sys
        sys.modules["numpy"] = None
        sys.modules["pandas"] = None
        import runship
        run = runship.init(project="p", dir={str(tmp_path)!r}, settings={{"quiet": True}})
        run.log({{"h": runship.Histogram([1.0, 2.0, 3.0], num_bins=2)}})  # no numpy needed
        for make in (lambda: runship.Image([[0, 1]]), lambda: runship.Table(dataframe=object())):
            try:
                make()
            except ImportError as e:
                print("ERR", e)
        run.finish()
        print("LIGHT", not {{"numpy", "pyarrow", "pandas"}} & {{m for m, v in sys.modules.items() if v is not None}})
        del sys.modules["numpy"], sys.modules["pandas"]  # the reader needs numpy (a dependency of runship)
        print("ROWS", len(runship.open_run(run.run_dir).history()))
        """
    )
    assert out.returncode == 0, out.stderr
    assert "ERR Image from an array needs numpy: pip install numpy" in out.stdout
    assert "ERR Table(dataframe=...) needs pandas: pip install pandas" in out.stdout
    assert "LIGHT True" in out.stdout  # writing imported none of them
    assert "ROWS 1" in out.stdout


def test_image_of_floats_and_chw(make_run):
    run = make_run(id="img")
    run.log(
        {"chw": runship.Image(np.ones((3, 5, 7)) * 0.5), "imgs": [runship.Image(np.zeros((2, 2))) for _ in range(2)]}
    )
    run.finish()
    (row,) = runship.open_run(run.run_dir).history()
    assert (row["chw"]["width"], row["chw"]["height"]) == (7, 5)
    # named by content: the two identical pictures are one file, written once
    assert row["imgs"][0]["path"] == row["imgs"][1]["path"] != row["chw"]["path"]
    assert row["chw"]["path"].startswith("files/media/images/") and row["chw"]["path"].endswith(".png")
    files = [r["path"] for r in records(run.run_dir, "file")]
    assert sorted(files) == sorted({row["chw"]["path"], row["imgs"][0]["path"]})


def test_a_picture_in_many_table_cells_and_steps_is_one_file(make_run):
    """An evaluation table logged each epoch with the same pictures in its
    cells (wandb's launch quickstart): each distinct picture is one file,
    written once and referenced from every cell, row and step; different
    pictures stay apart (also an array of another type with the same bytes)."""
    run = make_run(id="dedup")
    pics = [np.full((6, 6, 3), i * 80, dtype=np.uint8) for i in range(3)]
    for _epoch in range(5):
        table = runship.Table(columns=["id", "image"])
        for i, p in enumerate(pics):
            table.add_data(i, runship.Image(p, caption=f"digit {i}"))
        run.log({"preds": table, "first": runship.Image(pics[0])})
    run.log({"signed": runship.Image(pics[1].view(np.int8))})  # the same bytes, another picture
    run.finish()
    view = runship.open_run(run.run_dir)
    images = sorted(os.listdir(os.path.join(run.run_dir, "files", "media", "images")))
    assert len(images) == 4
    paths = [r["path"] for r in records(run.run_dir, "file") if r["path"].startswith("files/media/images/")]
    assert sorted(paths) == sorted(f"files/media/images/{n}" for n in images)  # each recorded once
    rows = view.history()
    shown = set()
    for row in rows[:5]:
        cells = json.loads(view.read_file(row["preds"]["path"]))["data"]
        assert [c[1]["caption"] for c in cells] == ["digit 0", "digit 1", "digit 2"]
        assert row["first"]["path"] == cells[0][1]["path"]  # a plain Image and a cell share the file
        shown |= {c[1]["path"] for c in cells}
        assert all(view.load(c[1]).startswith(b"\x89PNG") for c in cells)
    assert len(shown) == 3 and rows[5]["signed"]["path"] not in shown


def test_save_path_rules(make_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.txt").write_text("a")
    run = make_run(id="savepaths")
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert run.save("../logs/*.txt", base_path="../", policy="now") == [os.path.join(run.dir, "logs", "a.txt")]
    with pytest.raises(ValueError, match="walk above the base path"):
        run.save("../logs/*.txt", policy="now")
    with pytest.raises(ValueError, match="policy"):
        run.save("x", policy="sometimes")
    with pytest.raises(ValueError, match="start with"):
        run.save("*.txt", base_path=".")
    run.finish()
    with open(os.path.join(run.dir, "logs", "a.txt")) as f:
        assert f.read() == "a"


def test_define_metric_validation_and_resume(make_run):
    run = make_run(id="dm")
    with pytest.raises(ValueError, match="trailing"):
        run.define_metric("a*b")
    with pytest.raises(ValueError, match="summary op 'median'"):
        run.define_metric("x", summary="median")
    with pytest.raises(ValueError, match="goal"):
        run.define_metric("x", goal="up")
    run.define_metric("loss", summary="min,last")
    for v in (3.0, 1.0, 2.0):
        run.log({"loss": v})
    assert run.summary["loss"] == {"min": 1.0, "last": 2.0}
    run.finish()
    again = make_run(id="dm", resume="must")
    again.log({"loss": 0.5})
    assert again.summary["loss"] == {"min": 0.5, "last": 0.5}
    again.log({"loss": 4.0})
    again.finish()
    assert runship.open_run(again.run_dir).summary["loss"] == {"min": 0.5, "last": 4.0}


@pytest.fixture
def api_root(make_run, root):
    for i, (lr, tags) in enumerate([(0.1, ["a"]), (0.01, ["a", "b"]), (0.001, [])]):
        r = make_run(project="sweep", id=f"r{i}", config={"lr": lr, "opt": {"name": "adam"}}, tags=tags)
        for s in range(10):
            r.log({"loss": lr * (10 - s), "acc": s / 10})
        r.finish(exit_code=0 if i < 2 else 1)
    return root


def test_api_runs_filters_history(api_root):
    api = runship.Api(api_root)
    assert api.projects() == ["sweep"]
    assert [r.id for r in api.runs("sweep", order="+created_at")] == ["r0", "r1", "r2"]
    assert [r.id for r in api.runs("sweep", filters={"config.lr": {"$lt": 0.05}}, order="-id")] == ["r2", "r1"]
    assert {r.id for r in api.runs("sweep", filters={"tags": {"$in": ["b"]}})} == {"r1"}
    assert {r.id for r in api.runs("sweep", filters={"tags": "a"})} == {"r0", "r1"}
    assert {r.id for r in api.runs("sweep", filters={"$or": [{"config.lr": 0.1}, {"config.lr": 0.001}]})} == {
        "r0",
        "r2",
    }
    assert {r.id for r in api.runs(filters={"config.opt.name": "adam", "summary.acc": {"$gte": 0.9}})} == {
        "r0",
        "r1",
        "r2",
    }
    with pytest.raises(ValueError, match=r"operator '\$near'"):
        api.runs("sweep", filters={"config.lr": {"$near": 1}})
    run = api.run("sweep/r1")
    assert run.config["lr"] == 0.01 and run.summary["acc"] == 0.9 and run.state == "finished" and run.tags == ["a", "b"]
    df = run.history(samples=4, keys=["loss"])  # one bucket: its first, last, lowest and highest loss
    every = run.history(samples=1000, keys=["loss"])  # more buckets than steps: every row
    assert list(every["_step"]) == list(range(10))
    extremes = {0, 9, int(every["_step"][every["loss"].idxmin()]), int(every["_step"][every["loss"].idxmax()])}
    assert set(df["_step"]) == extremes
    assert len(run.history(pandas=False)) == 10
    assert [r["_step"] for r in run.scan_history(min_step=5, max_step=7)] == [5, 6]
    names = [f.name for f in run.files()]
    assert any(n.startswith("run-") for n in names)
    with pytest.raises(ValueError, match="project/id"):
        api.run("justone")
