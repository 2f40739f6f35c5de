"""wandb.plot charts and wandb.visualize presets recorded where wandb keeps
them: the table under ``<key>_table`` (history and summary; the key itself
for a preset) and how to draw it in the config at ``_wandb.visualize.<key>``
(``_wandb.viz.<key>``); read back by the reader, ``runship.Api`` (``config``
without ``_wandb``, ``rawconfig`` with it) and ``runship ui``'s API, over
real HTTP. Runs written before this layout (a ``plot`` value under the key)
still read; a crafted ``_wandb`` config is never trusted."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse

import pytest

import runship
from runship.schema.charts import charts
from tests.plain import records
from tests.servers import UIServer
from tests.test_ui_api import api, call


@contextlib.contextmanager
def _ui(root, tmp_path):
    ui = UIServer([root], str(tmp_path)).start()
    try:
        yield ui
    finally:
        ui.stop()


def _table(n: int = 5) -> runship.Table:
    return runship.Table(columns=["x", "y"], data=[[i, i * i] for i in range(n)])


def test_a_chart_is_its_table_under_key_table_and_its_spec_in_the_config(make_run):
    run = make_run()
    row = {"loss": 0.5, "curve": runship.plot.line(_table(), "x", "y", title="squares")}
    run.log(row)
    run.finish()
    assert isinstance(row["curve"], runship.plot.CustomChart)  # the caller's dict is left as it was
    view = runship.open_run(run.run_dir)
    assert view.history_keys() == ["loss", "curve_table"]
    assert view.summary["curve_table"]["_type"] == "table-file"
    assert view.load(view.summary["curve_table"])["data"][4] == [4, 16]
    assert view.config == {}
    panel = view.raw_config["_wandb"]["visualize"]["curve"]["panel_config"]
    assert panel["panelDefId"] == "wandb/line/v0"
    assert panel["fieldSettings"] == {"x": "x", "y": "y", "stroke": None}
    assert panel["stringSettings"] == {"title": "squares"}
    assert view.charts == {
        "curve": {
            "spec": "wandb/line/v0",
            "fields": {"x": "x", "y": "y"},
            "string_fields": {"title": "squares"},
            "table_key": "curve_table",
        }
    }


def test_nested_and_split_charts_take_wandbs_keys(make_run):
    run = make_run()
    row = {
        "eval": {"roc": runship.plot.scatter(_table(), "x", "y"), "acc": 0.9},
        "only": {"chart": runship.plot.bar(_table(), "x", "y")},
        "split": runship.plot.histogram(_table(), "y", split_table=True),
    }
    run.log(row)
    run.finish()
    view = runship.open_run(run.run_dir)
    # a dict the charts were all of is left out, as wandb records it
    assert sorted(view.history_keys()) == sorted(
        ["eval", "eval.roc_table", "only.chart_table", "Custom Chart Tables/split_table"]
    )
    assert view.summary["eval"] == {"acc": 0.9}
    assert {k: c["table_key"] for k, c in view.charts.items()} == {
        "eval.roc": "eval.roc_table",
        "only.chart": "only.chart_table",
        "split": "Custom Chart Tables/split_table",
    }
    assert "roc" in row["eval"]  # not taken out of the caller's nested dict


def test_a_preset_keeps_its_table_under_the_key_and_its_id_under_viz(make_run):
    run = make_run()
    table = runship.Table(columns=["feature_names", "importances"], data=[["a", 0.7], ["b", 0.3]])
    run.log({"feature_importances": runship.visualize("wandb/feature_importances/v1", table)})
    run.finish()
    view = runship.open_run(run.run_dir)
    assert view.history_keys() == ["feature_importances"]
    assert view.raw_config["_wandb"]["viz"] == {
        "feature_importances": {
            "id": "wandb/feature_importances/v1",
            "historyFieldSettings": {"x-axis": "_step", "key": "feature_importances"},
        }
    }
    assert view.charts["feature_importances"]["spec"] == "wandb/bar/v0"
    assert view.charts["feature_importances"]["fields"] == {"label": "feature_names", "value": "importances"}


def test_the_api_gives_config_without_wandb_and_rawconfig_with_it(make_run, root):
    run = make_run(config={"lr": 0.1})
    run.log({"pr": runship.plot.pr_curve([0, 1, 1, 0], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])})
    run.finish()
    (found,) = runship.Api(root).runs("p")
    assert found.config == {"lr": 0.1}
    assert set(found.rawconfig) == {"lr", "_wandb"}
    assert found.rawconfig["_wandb"]["visualize"]["pr"]["panel_config"]["stringSettings"]["title"] == (
        "Precision-Recall Curve"
    )
    assert [r["pr_table"]["_type"] for r in found.scan_history(keys=["pr_table"])] == ["table-file"]
    assert found.summary["pr_table"]["_type"] == "table-file"


def test_a_bad_row_records_no_chart_spec(make_run):
    run = make_run()
    with pytest.raises(TypeError):
        run.log({"curve": runship.plot.line(_table(), "x", "y"), "bad": object()})
    run.log({"loss": 1.0})
    run.finish()
    view = runship.open_run(run.run_dir)
    assert view.raw_config == {} and view.history_keys() == ["loss"]


def test_a_resumed_run_keeps_the_charts_of_its_first_session(make_run, root):
    run = make_run(id="again")
    run.log({"first": runship.plot.line(_table(), "x", "y")})
    run.finish()
    run = make_run(id="again", resume="must")
    run.log({"second": runship.plot.scatter(_table(), "x", "y")})
    run.finish()
    assert sorted(runship.open_run(run.run_dir).charts) == ["first", "second"]


CRAFTED = [
    "not a dict",
    {"visualize": "text", "viz": [1, 2]},
    {"visualize": {"k": {"panel_config": {"panelDefId": 7, "userQuery": None}}}},
    {"visualize": {"k": {"panel_config": {"panelDefId": "wandb/line/v0", "userQuery": {"queryFields": "x"}}}}},
    {"visualize": {"k" * 5000: {"panel_config": {}}}},
    {"viz": {"k": {"id": "no/such/preset"}, "j": {"id": ["list"]}}},
]


def test_a_crafted_wandb_config_is_no_chart_and_breaks_nothing(make_run, root, tmp_path):
    for i, crafted in enumerate(CRAFTED):
        run = make_run(id=f"crafted{i}", config={"_wandb": crafted, "lr": 1})
        run.log({"loss": 1.0})
        run.finish()
        view = runship.open_run(run.run_dir)
        assert view.charts == {} and view.config == {"lr": 1}, crafted
    with _ui(root, tmp_path) as ui:
        entries = api(ui, "runs")["runs"]
        assert len(entries) == len(CRAFTED)
        for entry in entries:
            detail = api(ui, "run", run=entry["ref"])
            assert [k["key"] for k in detail["keys"]] == ["loss"]
            query = urllib.parse.urlencode({"run": entry["ref"], "key": "k"})
            status, _, body = call(ui, "/ui/api/media?" + query, token=UIServer.TOKEN)
            assert status == 400 and b"no key" in body


def test_charts_reads_wandbs_own_config_and_bounds_what_it_keeps():
    spec = {
        "panel_config": {
            "panelDefId": "wandb/area-under-curve/v0",
            "fieldSettings": {"x": "fpr", "y": "tpr", "class": "class", "bad": {"nested": 1}},
            "stringSettings": {"title": "ROC Curve", "n": 3},
            "userQuery": {
                "queryFields": [
                    {
                        "name": "runSets",
                        "fields": [{"name": "summaryTable", "args": [{"name": "tableKey", "value": "roc_table"}]}],
                    }
                ]
            },
        }
    }
    many = {f"c{i}": spec for i in range(1500)}
    got = charts({"_wandb": {"visualize": many}})
    assert len(got) == 1000
    assert got["c0"] == {
        "spec": "wandb/area-under-curve/v0",
        "fields": {"x": "fpr", "y": "tpr", "class": "class"},
        "string_fields": {"title": "ROC Curve", "n": "3"},
        "table_key": "roc_table",
    }


def test_the_ui_api_serves_a_chart_of_either_layout(make_run, root, tmp_path):
    run = make_run(name="both", id="both")
    run.log({"curve": runship.plot.line(_table(), "x", "y", title="new")})
    run.finish()
    ref = runship.open_run(run.run_dir).summary["curve_table"]
    run = make_run(id="both", resume="must")
    run.log({"old": {"_type": "plot", "spec": "wandb/line/v0", "fields": {"x": "x", "y": "y"}, "table": ref}})
    run.finish()
    with _ui(root, tmp_path) as ui:
        (entry,) = api(ui, "runs")["runs"]
        detail = api(ui, "run", run=entry["ref"])
        kinds = {k["key"]: k["kind"] for k in detail["keys"]}
        assert kinds == {"curve": "plot", "curve_table": "table", "old": "plot"}
        for key, title in (("curve", "new"), ("old", None)):
            (item,) = api(ui, "media", run=entry["ref"], key=key)["items"]
            assert item["value"]["_type"] == "plot" and item["value"]["spec"] == "wandb/line/v0"
            assert item["value"]["table"]["path"] == ref["path"]  # the one table, read by both
            assert item["value"].get("string_fields", {}).get("title") == title
        rows = api(ui, "table", run=entry["ref"], path=ref["path"])
        assert json.dumps(rows["rows"][-1]) == "[4, 16]"


# ---- run_table artifacts: each table logged, as wandb records it -------------------------------------------
def test_each_table_logged_is_a_run_table_artifact_of_its_file(make_run, root):
    run = make_run(id="tables")
    same = _table()
    run.log({"preds": same, "again": same})  # one Table object: one artifact (wandb binds it once)
    run.log({"preds": _table(7), "Feature Importance": runship.plot.bar(_table(), "x", "y")})
    run.log({"eval": {"preds": _table(2)}})
    run.finish()
    (found,) = runship.Api(root).runs("p")
    got = [(a.name, a.type, a.version) for a in found.logged_artifacts()]
    assert got == [
        ("run-tables-preds:v0", "run_table", "v0"),
        ("run-tables-preds:v1", "run_table", "v1"),
        ("run-tables-FeatureImportance_table-q6manw:v0", "run_table", "v0"),  # wandb 0.31 sanitize_artifact_name()
        ("run-tables-eval.preds:v0", "run_table", "v0"),
    ]
    view = runship.open_run(run.run_dir)
    for art, (key, step) in zip(
        found.logged_artifacts(), [("preds", 0), ("preds", 1), ("Feature Importance_table", 1)]
    ):
        (f,) = art.files()  # the table file the row references: not a copy
        (logged,) = [r[key] for r in view.history([key]) if r["_step"] == step]
        assert f.name == logged["path"] and f.size > 0
    assert len([p for p in view.saved_files if p.endswith(".table.json")]) == 5  # a file a table value, no copy


def test_a_crafted_artifact_record_is_left_out(tmp_path):
    from tests.hostile.craft import start, write_run

    good = {"k": "artifact", "n": 5, "t": 1.7e9, "name": "ok", "type": "dataset", "version": "v0", "files": ["files/a"]}
    batch = [
        start(),
        {"k": "artifact", "n": 1, "t": 1.7e9, "name": 7, "type": "x"},
        {"k": "artifact", "n": 2, "t": 1.7e9, "name": "x" * 5000, "type": "x"},
        {"k": "artifact", "n": 3, "t": 1.7e9, "name": "n", "type": ["t"]},
        {"k": "artifact", "n": 4, "t": 1.7e9, "name": "../../etc", "type": "x", "version": "v0", "files": "x"},
        good,
        {
            "k": "artifact",
            "n": 6,
            "t": 1.7e9,
            "name": "f",
            "type": "x",
            "files": [1, "files/b", "../../etc/passwd", "/abs", "b"],
            "aliases": "best",
        },
    ]
    run_dir = write_run(tmp_path / "runs", [batch])
    view = runship.open_run(run_dir)
    assert [(a["name"], a["files"], a["aliases"]) for a in view.artifacts] == [
        ("../../etc", [], []),
        ("ok", ["files/a"], []),
        ("f", ["files/b"], []),
    ]
    (found,) = runship.Api(str(tmp_path / "runs")).runs("p")
    listed = found.logged_artifacts()
    assert [a.name for a in listed] == ["../../etc:v0", "ok:v0", "f"]  # a name, only shown: no path is made of it
    assert [[f.name for f in a.files()] for a in listed] == [[], ["files/a"], ["files/b"]]


def test_runship_show_names_the_charts_and_the_artifacts(make_run, root):
    from click.testing import CliRunner

    from runship.cli import cli

    run = make_run(id="shown", config={"lr": 0.1})
    run.log({"roc": runship.plot.roc_curve([0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])})
    run.log({"\x1b[31mevil": runship.plot.bar(_table(), "x", "y")})  # a key a terminal must not obey
    run.finish()
    out = CliRunner().invoke(cli, ["--root", root, "show", "p/shown"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "charts:\n  roc: wandb/area-under-curve/v0 over roc_table\n" in text
    assert "  run-shown-roc_table:v0 (run_table)\n" in text
    assert "\x1b" not in text and "lr: 0.1" in text and "_wandb" not in text


# ---- found in review: what a row adds beside it is recorded once, for a taken row only -------------------
def test_a_chart_under_a_new_key_each_epoch_records_each_spec_once(make_run):
    run = make_run(id="epochs")
    for epoch in range(150):  # a confusion matrix a epoch, each under its own key
        run.log({f"cm_epoch{epoch}": runship.plot.line(_table(3), "x", "y")})
        run.log({"cm_again": runship.plot.line(_table(3), "x", "y")})  # the same spec again: nothing recorded
    run.config.update({"best_epoch": 149})
    run.notes = "final"
    run.finish()
    specs = [r["d"]["_wandb"] for r in records(run.run_dir, "config") if "_wandb" in r["d"]]
    assert sum(len(d["visualize"]) for d in specs) == 151  # each new spec once, not every spec again
    view = runship.open_run(run.run_dir)
    assert len(view.charts) == 151 and view.config == {"best_epoch": 149} and view.notes == "final"
    assert view.problems == []


def test_charts_logged_from_many_threads_are_all_kept(make_run):
    run = make_run(id="threads")

    def log_some(t):
        for i in range(10):
            run.log({f"t{t}_{i}": runship.plot.line(_table(2), "x", "y")})

    threads = [threading.Thread(target=log_some, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run.finish()
    view = runship.open_run(run.run_dir)
    assert len(view.charts) == 60 and len(view.artifacts) == 60
    assert {a["version"] for a in view.artifacts} == {"v0"}


def test_a_row_not_taken_records_no_spec_and_no_artifact(make_run):
    run = make_run(id="refused")
    run.log({"loss": 1.0}, step=5)
    with pytest.raises(TypeError):
        run.log({"roc": runship.plot.line(_table(), "x", "y")}, step="bad")
    run.log({"late": runship.plot.line(_table(), "x", "y"), "t": _table()}, step=2)  # lower step: dropped
    run.finish()
    view = runship.open_run(run.run_dir)
    assert view.charts == {} and view.artifacts == [] and view.raw_config == {}


def test_run_table_versions_go_on_after_a_resume(make_run):
    run = make_run(id="res")
    run.log({"t": _table()})
    run.finish()
    run = make_run(id="res", resume="must")
    run.log({"t": _table(3)})
    run.finish()
    assert [(a["name"], a["version"]) for a in runship.open_run(run.run_dir).artifacts] == [
        ("run-res-t", "v0"),
        ("run-res-t", "v1"),
    ]


def test_curves_of_string_labels_and_a_long_table_key(make_run, root):
    run = make_run(id="strings")
    y = ["cat", "dog", "dog", "cat", "bird", "bird"]  # object labels: classes np.unique sorts as strings
    p = [[0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7], [0.3, 0.6, 0.1], [0.8, 0.1, 0.1], [0.6, 0.3, 0.1]]
    key = "k" * 140
    run.log({"roc": runship.plot.roc_curve(y, p), "pr": runship.plot.pr_curve(y, p), key: _table()})
    run.finish()
    view = runship.open_run(run.run_dir)
    assert {c for c, _, _ in view.load(view.summary["roc_table"])["data"]} == {"bird", "cat", "dog"}
    (found,) = runship.Api(root).runs("p")
    assert f"run-strings-{key}:v0" in [a.name for a in found.logged_artifacts()]  # a name of any length
