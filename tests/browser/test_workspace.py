"""The workspace page (#/workspace) and the runs table (#/runs) in a real
headless Chromium, on runs made here: at 1280x720 four panels and more in
view; the sidebar's search, eye toggles and hover; grouping over every
shown run; 1,000 runs listed lazily; the pinned Name column; the columns
that differ; the summary.K filter on define_metric's K.max; a workspace
saved, the page reloaded and the workspace restored (and the project's
default opened)."""

from __future__ import annotations

import json
import os
import urllib.parse

import pytest

import runship
from tests.browser.chromium import until, wait_ready
from tests.servers import UIServer

pytestmark = pytest.mark.browser

SETTINGS = {"quiet": True, "environment": False, "console": "off"}
TRAIN = ["loss", "acc", "lr", "grad_norm", "tokens", "throughput"]
N_MANY = 1000


def best_acc(i: int) -> float:
    return round(0.5 + 0.04 * i, 4)  # run i's best val/acc (define_metric summary="max")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """sweep: 12 runs (8 opt=adam, 4 opt=sgd; lr and seed differ, const
    does not), 6 train/ and 2 val/ metrics, val/acc summarised as its max;
    many: 1,000 runs of one row."""
    root = str(tmp_path_factory.mktemp("ws-runs") / "runs")
    for i in range(12):
        run = runship.init(
            project="sweep",
            name=f"trial-{i:02d}",
            dir=root,
            config={"opt": "adam" if i < 8 else "sgd", "lr": [0.1, 0.01, 0.001][i % 3], "seed": i, "const": "same"},
            settings=SETTINGS,
            reinit="create_new",
        )
        run.define_metric("val/acc", summary="max")
        for step in range(20):
            row = {f"train/{k}": (i + 1) * 0.01 * (step + 1) + j for j, k in enumerate(TRAIN)}
            row["val/loss"] = 1.0 / (step + 1 + i)
            row["val/acc"] = best_acc(i) if step == 10 else 0.1
            run.log(row)
        run.finish()
    for i in range(N_MANY):
        run = runship.init(
            project="many",
            name=f"m{i:04d}",
            dir=root,
            config={"lr": 0.1 * (i % 5), "seed": i},
            settings=SETTINGS,
            reinit="create_new",
        )
        run.log({"loss": 1.0 / (i + 1)})
        run.finish()
    return root


def refs_of(page, project: str) -> dict[str, str]:
    """name -> ref, from the listing the page reads."""
    runs = page.evaluate(
        "async (p) => (await (await fetch('/ui/api/runs?project=' + encodeURIComponent(p))).json()).runs", project
    )
    return {r["name"]: r["ref"] for r in runs}


def charted(page, key="train/loss") -> list[str]:
    return page.evaluate(
        "(k) => { const c = window.runship.charts[k]; return c ? c.series.map(s => s.ref || s.label) : []; }", key
    )


def until_charted(page, refs: list[str], key="train/loss") -> None:
    want = json.dumps(sorted(refs), separators=(",", ":"))
    until(
        page,
        f"window.runship.charts[{json.dumps(key)}] && JSON.stringify(window.runship.charts[{json.dumps(key)}]"
        f".series.map(s => s.ref).sort()) === {json.dumps(want)}",
        timeout=20_000,
    )


def open_ws(open_page, ui, project="sweep", width=1400, height=900, extra=""):
    w = open_page(ui, UIServer.TOKEN, width=width, height=height)
    w.page.goto(f"{ui.url}/#/workspace?project={project}{extra}")
    wait_ready(w.page)
    return w


def test_the_landing_is_the_workspace_and_at_1280x720_four_panels_are_in_view(ui, open_page):
    w = open_page(ui, UIServer.TOKEN, path="/", width=1280, height=720)
    page = w.page
    page.wait_for_selector(".ws .ws-side")  # "/" opens the workspace page
    assert page.evaluate("document.querySelector('.topnav .nav.active').dataset.nav") == "workspace"
    assert page.locator(".topnav .nav").all_inner_texts() == ["Workspace", "Runs", "Compare", "Artifacts"]
    page.goto(f"{ui.url}/#/workspace?project=sweep")
    wait_ready(page)
    until(page, "Object.keys(window.runship.charts).length >= 4")
    in_view = page.evaluate(
        """() => [...document.querySelectorAll('#ws-charts .panel')].filter(p => {
            const r = p.getBoundingClientRect();
            return r.width > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
        }).length"""
    )
    assert in_view >= 4, in_view
    side = page.evaluate("document.querySelector('.ws-side').getBoundingClientRect().width")
    assert 200 <= side <= 300
    assert page.locator("#ws-runs .ws-row").count() == 12
    assert len(charted(page)) == 10  # the first 10 shown (max_shown)


def test_sidebar_search_and_eye_change_what_is_charted(ui, open_page):
    w = open_ws(open_page, ui)
    page = w.page
    refs = refs_of(page, "sweep")
    page.fill("#ws-search", "trial-1")  # trial-10, trial-11
    until(page, "document.querySelectorAll('#ws-runs .ws-row').length === 2")
    until_charted(page, [refs["trial-10"], refs["trial-11"]])
    row = page.locator(f"#ws-runs .ws-row[data-ref='{refs['trial-10']}']")
    row.locator(".eye").click()
    until_charted(page, [refs["trial-11"]])
    assert "on" not in row.get_attribute("class").split()
    row.locator(".eye").click()
    until_charted(page, [refs["trial-10"], refs["trial-11"]])
    page.fill("#ws-search", "")
    page.click("#ws-show-none")
    until(page, "document.querySelectorAll('#ws-runs .ws-row.on').length === 0")
    page.click("#ws-show-all")
    until_charted(page, list(refs.values()))
    assert not page.locator("#ws-dirty").is_hidden()  # unsaved changes
    w.check_clean()


def test_sidebar_hover_highlights_the_row_and_a_chart_hover_does_too(ui, open_page):
    w = open_ws(open_page, ui)
    page = w.page
    refs = refs_of(page, "sweep")
    sel = f"#ws-runs .ws-row[data-ref='{refs['trial-03']}']"
    page.hover(sel + " .ws-name")
    assert "hl" in page.get_attribute(sel, "class").split()
    page.hover("#ws-charts")
    assert page.locator("#ws-runs .ws-row.hl").count() == 0
    # a line hovered in a chart (ChartsView's onHoverRun) highlights its row
    page.evaluate("(ref) => window.runship.hoverRun(ref)", refs["trial-05"])
    hl = page.evaluate("[...document.querySelectorAll('#ws-runs .ws-row.hl')].map(r => r.dataset.ref)")
    assert hl == [refs["trial-05"]]
    w.check_clean()


def test_runs_table_row_hover_highlights_the_row_and_a_chart_hover_does_too(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.goto(f"{ui.url}/#/runs?project=sweep")
    wait_ready(page)
    refs = refs_of(page, "sweep")
    row = f"#runs-table tbody tr[data-ref='{refs['trial-04']}']"
    page.hover(row + " td[data-col=id]")
    assert "hl" in page.get_attribute(row, "class").split()
    page.evaluate("(ref) => window.runship.hoverRun(ref)", refs["trial-06"])  # ChartsView's onHoverRun
    hl = page.evaluate("[...document.querySelectorAll('#runs-table tr.hl')].map(r => r.dataset.ref)")
    assert hl == [refs["trial-06"]]
    w.check_clean()


def group_labels(page) -> list[str]:
    return page.evaluate("window.runship.charts['train/loss'].series.map(s => s.label)")


def test_grouping_covers_every_shown_run_as_the_table_counts(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.goto(f"{ui.url}/#/runs?project=sweep&group=config.opt")
    wait_ready(page)
    counts = page.locator("#runs-table tr.group-row .group-count").all_inner_texts()
    assert counts == ["8 runs", "4 runs"]
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length === 2")
    assert group_labels(page) == ["config.opt=adam (8)", "config.opt=sgd (4)"]
    assert page.locator("#band option").evaluate_all("os => os.map(o => o.value)") == [
        "minmax",
        "std",
        "stderr",
        "none",
    ]
    page.select_option("#band", "std")
    assert "band=std" in page.url
    # the workspace page groups the same way
    page.goto(f"{ui.url}/#/workspace?project=sweep")
    wait_ready(page)
    page.select_option("#ws-group", "config.opt")
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length === 2")
    assert group_labels(page) == ["config.opt=adam (8)", "config.opt=sgd (4)"]
    w.check_clean()


def test_a_thousand_runs_are_listed_lazily_in_the_table_and_the_sidebar(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.goto(f"{ui.url}/#/runs?project=many")
    wait_ready(page)
    assert page.locator("#runs-table .count, .count").first.inner_text().startswith(f"{N_MANY} of {N_MANY} runs")
    first = page.locator("#runs-table tbody tr[data-ref]").count()
    assert 0 < first < N_MANY
    for _ in range(40):  # scrolling the table to its end adds rows, until the last
        if page.locator("#runs-table tbody tr[data-ref]").count() == N_MANY:
            break
        page.evaluate("const t = document.querySelector('.table-wrap'); t.scrollTop = t.scrollHeight")
        page.wait_for_timeout(100)
    assert page.locator("#runs-table tbody tr[data-ref]").count() == N_MANY
    assert page.locator("#runs-more").count() == 0

    page.goto(f"{ui.url}/#/workspace?project=many")
    wait_ready(page)
    in_page = page.locator("#ws-runs .ws-row").count()
    assert 0 < in_page < 100  # only the rows in view (and a few around them)
    last = page.evaluate(
        "async () => (await (await fetch('/ui/api/runs?project=many')).json()).runs.map(r => r.ref).pop()"
    )
    assert page.locator(f"#ws-runs .ws-row[data-ref='{last}']").count() == 0
    page.evaluate("const l = document.getElementById('ws-runs'); l.scrollTop = l.scrollHeight")
    until(page, f"document.querySelector('#ws-runs .ws-row[data-ref={json.dumps(last)}]') !== null")
    assert page.locator("#ws-runs .ws-row").count() < 100
    w.check_clean()


def test_a_hundred_runs_are_charted_together(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.goto(f"{ui.url}/#/runs?project=many")
    wait_ready(page)
    page.click("#select-shown")
    until(page, "window.runship.charts['loss'] && window.runship.charts['loss'].series.length === 100", timeout=30_000)
    assert "100 selected" in page.locator(".count").first.inner_text()
    w.check_clean()


def header_cols(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#runs-table thead th')].map(th => th.dataset.col)")


def test_the_name_column_is_pinned_and_the_differing_columns_are_the_default(ui, open_page):
    w = open_page(ui, UIServer.TOKEN, width=900, height=700)
    page = w.page
    page.goto(f"{ui.url}/#/runs?project=sweep")
    wait_ready(page)
    cols = header_cols(page)
    for c in ("config.opt", "config.lr", "config.seed", "summary.val/acc.max"):
        assert c in cols, cols
    assert "config.const" not in cols  # the same in every run
    assert "host" not in cols and "job_id" not in cols  # empty in every run
    assert "project" not in cols  # one project shown
    assert len([c for c in cols if c.startswith(("config.", "summary."))]) <= 8
    # the column chooser's search
    page.click("#columns summary")
    page.fill("#column-search", "seed")
    shown = page.evaluate(
        "[...document.querySelectorAll('#columns .col-list label')].filter(l => !l.classList.contains('hidden')).map(l => l.textContent)"
    )
    assert shown == ["config.seed"]
    page.click("#columns summary")
    # scrolled right, the Name column stays at the table's left edge
    wrap_left = page.evaluate("document.querySelector('.table-wrap').getBoundingClientRect().left")
    page.evaluate("const t = document.querySelector('.table-wrap'); t.scrollLeft = t.scrollWidth")
    assert page.evaluate("document.querySelector('.table-wrap').scrollLeft") > 100
    left = page.evaluate("document.querySelector('#runs-table tbody td[data-col=name]').getBoundingClientRect().left")
    assert abs(left - wrap_left) <= 2, (left, wrap_left)
    # all projects: a Project column
    page.goto(f"{ui.url}/#/runs")
    wait_ready(page)
    assert "project" in header_cols(page)
    w.check_clean()


def test_summary_filter_matches_define_metric_max(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    q = urllib.parse.quote("summary.val/acc > 0.85", safe="")
    page.goto(f"{ui.url}/#/runs?project=sweep&q={q}")
    wait_ready(page)
    want = sorted(f"trial-{i:02d}" for i in range(12) if best_acc(i) > 0.85)
    assert want  # trial-09, trial-10, trial-11
    got = sorted(
        page.evaluate(
            "[...document.querySelectorAll('#runs-table tbody td[data-col=name]')].map(td => td.textContent.trim())"
        )
    )
    assert got == want
    assert page.locator("#filter-error").inner_text() == ""
    w.check_clean()


def test_a_saved_workspace_is_restored_after_a_reload_and_opens_as_the_default(ui, open_page, root):
    w = open_ws(open_page, ui)
    page = w.page
    refs = refs_of(page, "sweep")
    assert page.locator("#ws-current").inner_text() == "(unsaved)"
    page.fill("#ws-search", "trial-0")
    page.select_option("#ws-group", "config.opt")
    page.locator(f"#ws-runs .ws-row[data-ref='{refs['trial-02']}'] .eye").click()
    until(page, "!document.getElementById('ws-dirty').hidden")
    page.click("#ws-menu summary")
    page.fill("#ws-name", "bad/name")
    page.click("#ws-saveas")
    assert "name" in page.locator("#ws-msg").inner_text()
    page.fill("#ws-name", "my view")
    page.click("#ws-saveas")
    until(page, "document.getElementById('ws-current').textContent === 'my view'")
    assert page.locator("#ws-dirty").is_hidden()
    assert "ws=my%20view" in page.url
    stored = os.path.join(root, "sweep", ".workspaces", "my view.json")
    doc = json.load(open(stored))
    assert doc["runs"]["search"] == "trial-0" and doc["runs"]["group"] == ["config.opt"]
    assert refs["trial-02"] in doc["runs"]["hidden"]
    assert page.evaluate("document.getElementById('ws-menu').open") is False  # saved: the menu closes
    page.click("#ws-menu summary")
    assert [b.strip() for b in page.locator("#ws-list .ws-item").all_inner_texts()] == ["my view"]
    page.click("#ws-set-default")
    until(page, "document.getElementById('ws-set-default').textContent.includes('Default')")

    page.reload()
    wait_ready(page)
    assert page.locator("#ws-current").inner_text() == "my view"
    assert page.input_value("#ws-search") == "trial-0"
    assert page.input_value("#ws-group") == "config.opt"
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length === 2")
    assert group_labels(page) == ["config.opt=adam (7)", "config.opt=sgd (2)"]  # trial-00..09 less trial-02
    # the project opens on its default workspace
    page.goto(f"{ui.url}/#/runs")
    page.goto(f"{ui.url}/#/workspace?project=sweep")
    wait_ready(page)
    assert page.locator("#ws-current").inner_text() == "my view"
    assert page.input_value("#ws-search") == "trial-0"
    assert page.locator("#ws-dirty").is_hidden()
    # a chart setting changed is an unsaved change too
    page.locator("#smoothing").fill("0.5")
    until(page, "!document.getElementById('ws-dirty').hidden")
    # deleted (a second click confirms): the file is gone, the view is unsaved
    page.click("#ws-menu summary")
    page.click("#ws-delete")
    assert os.path.exists(stored)
    page.click("#ws-delete")
    until(page, "document.getElementById('ws-current').textContent === '(unsaved)'")
    assert not os.path.exists(stored)
    assert "ws=" not in page.url
    w.check_clean()


def test_the_landing_opens_the_only_projects_workspace(tmp_path, open_page):
    root = str(tmp_path / "runs")
    run = runship.init(project="solo", name="only", dir=root, settings=SETTINGS, reinit="create_new")
    run.log({"loss": 1.0})
    run.finish()
    s = UIServer([root], str(tmp_path)).start()
    try:
        w = open_page(s, UIServer.TOKEN, path="/")
        until(w.page, "location.hash.startsWith('#/workspace?project=solo')")
        wait_ready(w.page)
        assert w.page.input_value("#ws-project") == "solo"
        assert w.page.locator("#ws-runs .ws-row").count() == 1
        w.page.select_option("#ws-project", "")  # all projects, asked for: no redirect
        until(w.page, "location.hash.includes('all=1')")
        wait_ready(w.page)
        assert w.page.input_value("#ws-project") == ""
        w.check_clean()
    finally:
        s.stop()
