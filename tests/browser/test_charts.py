"""The chart panels in a real headless Chromium, on runs made here: the
floating tooltip (12 runs' values at one step, sorted, the nearest line
emphasised), legend hide and isolate, a spike at a repeated x (x = epoch, the
define_metric step metric) drawn, panels built through the dialog (several
metrics), moved, set up (log scale, y range), the layout round trip, group
bands, 100 runs charted. Read back from what is drawn: window.runship's
chart hooks, the uPlot scales and the DOM."""

from __future__ import annotations

import json
import statistics
import urllib.parse

import pytest

import runship
from tests.browser.chromium import until, wait_ready
from tests.servers import UIServer

pytestmark = pytest.mark.browser

SETTINGS = {"quiet": True, "environment": False, "console": "off"}
N_SWEEP = 12
N_MANY = 100


def loss(i: int, step: int) -> float:
    return 1 + i / 10 + step / 1000


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """sweep: r00..r11 (train/loss, val/loss, train/acc over 60 steps);
    epochs: grad_norm logged 10 times an epoch (x = epoch by define_metric),
    one value a spike of 40; many: 100 runs of 20 steps."""
    root = str(tmp_path_factory.mktemp("charts-runs") / "runs")
    for i in range(N_SWEEP):
        r = runship.init(
            project="sweep",
            name=f"r{i:02d}",
            dir=root,
            config={"lr": 0.001 * (i + 1), "opt": "adam" if i % 2 else "sgd"},
            settings=SETTINGS,
            reinit="create_new",
        )
        for step in range(60):
            r.log({"train/loss": loss(i, step), "val/loss": 2 + loss(i, step), "train/acc": 0.5 + i / 100})
        r.finish()
    e = runship.init(project="epochs", name="epochy", dir=root, settings=SETTINGS, reinit="create_new")
    e.define_metric("epoch")
    e.define_metric("grad_*", step_metric="epoch")
    for row in range(40):
        e.log({"epoch": row // 10, "grad_norm": 40.0 if row == 25 else 1.0 + (row % 10) * 0.02, "lr": 0.1})
    e.finish()
    for i in range(N_MANY):
        r = runship.init(project="many", name=f"m{i:03d}", dir=root, settings=SETTINGS, reinit="create_new")
        for step in range(20):
            r.log({"loss": i + step / 100})
        r.finish()
    return root


def listing(page, project: str) -> list[dict]:
    """The project's runs as the API lists them, by name."""
    runs = page.evaluate(
        """async (project) => {
            const A = await import('/ui/static/js/api.js');
            const res = await A.api('runs', {project});
            return res.runs.map(r => ({ref: r.ref, name: r.name}));
        }""",
        project,
    )
    return sorted(runs, key=lambda r: r["name"])


MOUNT = """async (o) => {
    const P = await import('/ui/static/js/panels.js');
    const R = await import('/ui/static/js/router.js');
    const A = await import('/ui/static/js/api.js');
    const C = await import('/ui/static/js/colors.js');
    if (window.__cv) { window.__cv.destroy(); window.__cv = null; }
    const main = document.getElementById('main');
    main.replaceChildren();
    const ctx = new R.ViewCtx();
    window.runship.ready = false;
    window.__layouts = []; window.__hidden = []; window.__hovered = [];
    const refs = o.runs.map(r => r.ref);
    const opts = {
        runs: o.runs.map(r => ({ref: r.ref, label: r.name, color: C.colorOf(r.ref), live: false, config: r.config || {}, summary: {}})),
        keys: o.keys, xOptions: ['_step', '_runtime', '_timestamp'], params: new R.Params(''), save: () => {},
        fetch: async (ks, q) => {  // the page hands the runs in batches of 50
            const out = {};
            for (let i = 0; i < refs.length; i += 50) Object.assign(out, await A.fetchSeries(ctx.signal, refs.slice(i, i + 50), ks, q));
            return out;
        },
        onLayoutChange: (l) => window.__layouts.push(l),
        onHiddenChange: (refs) => window.__hidden.push(refs),
        onHoverRun: (ref) => window.__hovered.push(ref),
    };
    if (o.layout) opts.layout = o.layout;
    if (o.groups) opts.groups = o.groups;
    if (o.band) opts.band = o.band;
    window.__runsCalls = [];
    if (o.realRunsPanels) opts.drawRunsPanel = (await import('/ui/static/js/runpanels.js')).drawRunsPanel;
    if (o.runsPanels) opts.drawRunsPanel = (mount, spec, runs, width) => {  // as media's runpanels.js is called
        window.__runsCalls.push({type: spec.type, x: spec.x, y: spec.y, axes: spec.axes, runs: runs.map(r => r.ref), width});
        mount.replaceChildren(Object.assign(document.createElement('div'), {className: 'runs-drawn', textContent: spec.type + ' of ' + runs.length}));
        return {destroy() {}};
    };
    window.__cv = new P.ChartsView(ctx, main, opts);
}"""


def mount(page, runs, keys, **extra):
    """A ChartsView of runs (the page's own module) in the page's main area,
    reporting layout, hidden and hovered changes into window.__layouts etc."""
    page.evaluate(MOUNT, {"runs": runs, "keys": keys, **extra})
    wait_ready(page)


def opened(open_page, ui, project: str | None = None):
    w = open_page(ui, UIServer.TOKEN, path="/#/compare")
    wait_ready(w.page)
    return w, (listing(w.page, project) if project else [])


def hook(page, key):
    return page.evaluate(
        """(key) => { const c = window.runship.charts[key]; if (!c) return null;
            return {x: c.x, log: c.log, smoothing: c.smoothing, panel: c.panel, metrics: c.metrics,
                    ymin: c.u ? c.u.scales.y.min : null, ymax: c.u ? c.u.scales.y.max : null,
                    slots: c.u ? c.u.data[0].length : 0,
                    series: c.series.map(s => ({ref: s.ref, label: s.label, metric: s.metric, x: [...s.x], y: [...s.y], raw: [...s.raw],
                                                min: s.min ? [...s.min] : null, max: s.max ? [...s.max] : null}))}; }""",
        key,
    )


def hover_at(page, key: str, x: float, y: float | None = None):
    """Move the mouse over panel ``key``'s plot at data x (and data y, else mid-height)."""
    page.locator(f'.panel[data-key="{key}"]').scroll_into_view_if_needed()
    pos = page.evaluate(
        """([key, x, y]) => { const u = window.runship.charts[key].u; const r = u.over.getBoundingClientRect();
            return [r.left + u.valToPos(x, 'x'), r.top + (y === null ? r.height / 2 : u.valToPos(y, 'y'))]; }""",
        [key, x, y],
    )
    page.mouse.move(pos[0] - 30, pos[1])
    page.mouse.move(pos[0], pos[1], steps=3)


def test_the_tooltip_lists_12_runs_values_at_the_cursor_sorted_with_the_nearest_emphasised(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    assert len(runs) == N_SWEEP
    sel = ",".join(urllib.parse.quote(r["ref"], safe="") for r in runs)
    page.goto(f"{ui.url}/#/runs?project=sweep&sel={sel}")  # the runs view, as a user charts a sweep
    until(
        page,
        f"window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length === {N_SWEEP}",
        20_000,
    )
    until(page, "window.runship.charts['train/loss'].u !== null")
    hover_at(page, "train/loss", 30, loss(5, 30))
    until(page, f"window.runship.tooltip && window.runship.tooltip.length === {N_SWEEP}")
    rows = page.evaluate(
        "window.runship.tooltip.map(r => ({label: r.label, value: r.value, ref: r.ref, hovered: r.hovered, x: r.x}))"
    )
    by_name = {r["name"]: r["ref"] for r in runs}
    assert [r["label"] for r in rows] == [
        f"r{i:02d}" for i in reversed(range(N_SWEEP))
    ]  # sorted by value, highest first
    for r in rows:
        i = int(r["label"][1:])
        assert r["value"] == pytest.approx(loss(i, 30)) and r["ref"] == by_name[r["label"]] and r["x"] == 30
    assert [r["label"] for r in rows if r["hovered"]] == ["r05"]  # the line nearest the cursor
    assert page.evaluate("window.runship.highlighted") == by_name["r05"]
    # what is shown: the x on top, a row per run with its value, the hovered one marked; inside the window
    dom = page.evaluate(
        """() => { const t = document.querySelector('.chart-tooltip'); const r = t.getBoundingClientRect();
            return {hidden: t.hidden, x: t.querySelector('.tt-x').textContent,
                    rows: [...t.querySelectorAll('.tt-row')].map(e => [e.querySelector('.tt-label').textContent, e.querySelector('.tt-value').textContent, e.classList.contains('hovered')]),
                    box: [r.left, r.top, r.right, r.bottom], vw: document.documentElement.clientWidth, vh: document.documentElement.clientHeight}; }"""
    )
    assert not dom["hidden"] and dom["x"] == "_step 30"
    assert len(dom["rows"]) == N_SWEEP and dom["rows"][0][0] == "r11" and dom["rows"][0][1].startswith("2.13")
    assert [r[0] for r in dom["rows"] if r[2]] == ["r05"]
    left, top, right, bottom = dom["box"]
    assert left >= 0 and right <= dom["vw"] and top >= 0 and bottom <= dom["vh"]
    # the rightmost point of a panel: the tooltip flips to stay inside the window
    hover_at(page, "train/loss", 58.7)
    until(page, "window.runship.tooltip && window.runship.tooltip[0].x === 59")
    box = page.evaluate(
        "(() => { const r = document.querySelector('.chart-tooltip').getBoundingClientRect(); return [r.left, r.right]; })()"
    )
    assert box[0] >= 0 and box[1] <= dom["vw"]
    # leaving the plot hides it
    page.mouse.move(5, 5)
    until(page, "window.runship.tooltip === null && window.runship.highlighted === null")
    w.check_clean()


def test_legend_click_hides_a_run_and_shift_click_isolates_it_in_every_panel(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    mount(page, runs, ["train/acc", "train/loss", "val/loss"])
    for k in ("train/loss", "val/loss"):
        until(page, f"window.runship.charts['{k}'] && window.runship.charts['{k}'].series.length === {N_SWEEP}")
    a, b = runs[3]["ref"], runs[7]["ref"]
    # runs logging the same steps share the x slots: 60 steps, 60 slots (not one per run and step)
    until(page, "window.runship.charts['train/loss'].u")
    assert page.evaluate("window.runship.charts['train/loss'].u.data[0].length") == 60
    # every run is named in the legend (no clipping): 12 entries
    assert page.locator('.panel[data-key="train/loss"] .panel-legend .li').count() == N_SWEEP
    page.locator(f'.panel[data-key="train/loss"] .panel-legend .li[data-ref="{a}"]').click()
    for k in ("train/loss", "val/loss"):
        until(page, f"window.runship.charts['{k}'].series.length === {N_SWEEP - 1}")
        assert a not in {s["ref"] for s in hook(page, k)["series"]}
    assert page.evaluate("window.__hidden") == [[a]]
    assert "off" in page.locator(f'.panel[data-key="val/loss"] .panel-legend .li[data-ref="{a}"]').get_attribute(
        "class"
    )
    page.locator(f'.panel[data-key="val/loss"] .panel-legend .li[data-ref="{a}"]').click()  # again: shown
    until(page, f"window.runship.charts['train/loss'].series.length === {N_SWEEP}")
    # shift-click: only that run, in every panel; again: all
    page.locator(f'.panel[data-key="train/loss"] .panel-legend .li[data-ref="{b}"]').click(modifiers=["Shift"])
    for k in ("train/loss", "val/loss"):
        until(page, f"window.runship.charts['{k}'].series.length === 1")
        got = hook(page, k)
        assert got["series"][0]["ref"] == b, (
            k,
            [s["ref"] for s in got["series"]],
            page.evaluate("window.__hidden"),
            a,
            b,
        )
    assert sorted(page.evaluate("window.__hidden")[-1]) == sorted(r["ref"] for r in runs if r["ref"] != b)
    page.locator(f'.panel[data-key="train/loss"] .panel-legend .li[data-ref="{b}"]').click(modifiers=["Shift"])
    until(page, f"window.runship.charts['val/loss'].series.length === {N_SWEEP}")
    assert page.evaluate("window.__hidden")[-1] == []
    # setHidden: the page's visibility toggles
    page.evaluate(f"window.__cv.setHidden({json.dumps([a, b])})")
    until(page, f"window.runship.charts['val/loss'].series.length === {N_SWEEP - 2}")
    # highlight(ref): a table row hovered emphasises the run's lines (the mouse away from the charts)
    page.mouse.move(5, 5)
    page.evaluate(f"window.__cv.highlight({json.dumps(runs[0]['ref'])})")
    emph = page.evaluate(
        """(ref) => { const c = window.runship.charts['val/loss']; const u = c.u;
            return u.series.slice(1).map((s, i) => [c.series[i] ? c.series[i].ref : null, s.alpha, s.width]); }""",
        runs[0]["ref"],
    )
    assert page.evaluate("window.runship.highlighted") == runs[0]["ref"]
    assert all((alpha == 1 and width > 1.5) if ref == runs[0]["ref"] else alpha < 1 for ref, alpha, width in emph)
    w.check_clean()


def test_a_spike_at_a_repeated_x_is_drawn_on_the_define_metric_step_metric(ui, open_page):
    w, runs = opened(open_page, ui, "epochs")
    page = w.page
    page.goto(f"{ui.url}/#/run/{urllib.parse.quote(runs[0]['ref'], safe='')}?tab=charts")
    until(
        page,
        "window.runship.charts['grad_norm'] && window.runship.charts['grad_norm'].series.length === 1 && window.runship.charts['grad_norm'].u",
    )
    c = hook(page, "grad_norm")
    assert c["x"] == "epoch"  # define_metric("grad_*", step_metric="epoch"): the panel's default x
    s = c["series"][0]
    xs = s["x"]
    assert xs == sorted(xs) and len(set(xs)) < len(xs)  # x repeats (several rows an epoch)
    assert 40.0 in s["raw"] and max(s["y"]) == 40.0  # the spike the API sent
    assert c["slots"] == len(xs)  # each point its own slot: none replaced by another at the same x
    assert c["ymax"] >= 40  # and drawn: the y scale reaches it
    assert page.locator('.panel[data-key="grad_norm"] .panel-x').inner_text() == "x: epoch"
    # keys no step metric governs stay on the view's x
    until(page, "window.runship.charts['lr'] && window.runship.charts['lr'].series.length === 1")
    assert hook(page, "lr")["x"] == "_step"
    # unsorted x: sorted stably (the points at one x keep their order)
    got = page.evaluate(
        "async () => { const S = await import('/ui/static/js/series.js'); return S.sortLine([3, 1, 2, 1, 3], [30, 10, 20, 11, 31]); }"
    )
    assert got == {"x": [1, 1, 2, 3, 3], "y": [10, 11, 20, 30, 31]}
    w.check_clean()


def test_a_panel_of_several_metrics_made_in_the_dialog_moved_and_the_layout_round_trips(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    runs = runs[:3]
    mount(page, runs, ["train/acc", "train/loss", "val/loss"])
    page.click("#add-panel")
    page.select_option(".rs-dialog .dlg-type", "line")
    page.fill(".rs-dialog .dlg-metrics .ms-search", "loss")
    assert page.locator(".rs-dialog .dlg-metrics .ms-item").count() == 2  # searched: train/acc is not listed
    page.check('.rs-dialog .dlg-metrics input[value="train/loss"]')
    page.check('.rs-dialog .dlg-metrics input[value="val/loss"]')
    page.fill(".rs-dialog .dlg-title", "losses")
    assert page.input_value(".rs-dialog .dlg-section") == "train"  # the first metric's section
    page.click(".rs-dialog .dlg-add")
    until(page, "window.__layouts.length > 0")
    layout = page.evaluate("window.__cv.layout()")
    train = next(s for s in layout["sections"] if s["name"] == "train")
    made = train["panels"][0]
    assert made["metrics"] == ["train/loss", "val/loss"] and made["title"] == "losses"
    pid = made["id"]
    until(page, f"window.runship.charts['{pid}'] && window.runship.charts['{pid}'].series.length === 6")
    labels = sorted(s["label"] for s in hook(page, pid)["series"])
    assert labels == sorted(f"{r['name']} · {m}" for r in runs for m in ("train/loss", "val/loss"))
    assert page.locator(f'.panel[data-panel="{pid}"] .panel-title').inner_text() == "losses"
    # drag its handle after the last panel of the section
    order = lambda: page.evaluate(  # noqa: E731
        "() => [...document.querySelectorAll('.chart-section[data-section=\"train\"] .panel')].map(e => e.dataset.panel)"
    )
    first = order()
    assert first[0] == pid
    page.locator(f'.panel[data-panel="{pid}"] .panel-handle').drag_to(
        page.locator(f'.panel[data-panel="{first[-1]}"]'), target_position={"x": 300, "y": 60}
    )
    until(
        page,
        f"document.querySelector('.chart-section[data-section=\"train\"] .panel:last-child').dataset.panel === '{pid}'",
    )
    assert order() == [*first[1:], pid]
    # the gear's "earlier" moves it back one place; the section moves down
    page.click(f'.panel[data-panel="{pid}"] .gear')
    page.click(f'.panel[data-panel="{pid}"] .ps-earlier')
    until(
        page,
        f"[...document.querySelectorAll('.chart-section[data-section=\"train\"] .panel')].at(-2).dataset.panel === '{pid}'",
    )
    page.click('.chart-section[data-section="train"] .section-down')
    until(page, "[...document.querySelectorAll('.chart-section')].map(e => e.dataset.section).join() === 'val,train'")
    # the layout handed to the page is the one shown; loaded again, the same
    page.wait_for_timeout(400)  # the debounced onLayoutChange
    saved = page.evaluate("window.__layouts.at(-1)")
    assert saved == page.evaluate("window.__cv.layout()")
    assert [s["name"] for s in saved["sections"]] == ["val", "train"]
    dom_before = page.evaluate("() => [...document.querySelectorAll('.panel')].map(e => e.dataset.panel)")
    mount(page, runs, ["train/acc", "train/loss", "val/loss"], layout=saved)
    until(page, f"window.runship.charts['{pid}'] && window.runship.charts['{pid}'].series.length === 6")
    assert page.evaluate("window.__cv.layout()") == saved
    assert page.evaluate("() => [...document.querySelectorAll('.panel')].map(e => e.dataset.panel)") == dom_before
    w.check_clean()


def test_per_panel_log_scale_y_range_and_hiding(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    mount(page, runs[:4], ["train/loss", "val/loss"])
    until(
        page,
        "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].u && window.runship.charts['val/loss'] && window.runship.charts['val/loss'].u",
    )
    page.click('.panel[data-key="train/loss"] .gear')
    page.select_option('.panel[data-key="train/loss"] .ps-log', "1")
    until(page, "window.runship.charts['train/loss'].log === true && window.runship.charts['train/loss'].u")
    assert hook(page, "val/loss")["log"] is False  # the other panel keeps the view's
    assert page.evaluate("window.runship.charts['train/loss'].u.scales.y.distr") == 3  # a log scale is drawn
    page.fill('.panel[data-key="train/loss"] .ps-ymax', "10")
    page.press('.panel[data-key="train/loss"] .ps-ymax', "Enter")
    until(page, "window.runship.charts['train/loss'].u && window.runship.charts['train/loss'].u.scales.y.max === 10")
    page.fill('.panel[data-key="train/loss"] .ps-smoothing', "0.9")
    page.press('.panel[data-key="train/loss"] .ps-smoothing', "Enter")
    until(page, "window.runship.charts['train/loss'].smoothing === 0.9 && window.runship.charts['train/loss'].u")
    assert hook(page, "val/loss")["smoothing"] == 0
    page.mouse.click(5, 5)  # a press outside the settings closes them
    until(page, "!document.querySelector('.panel-settings')")
    page.click('.panel[data-key="train/loss"] .gear')
    spec = next(
        p
        for s in page.evaluate("window.__cv.layout()")["sections"]
        for p in s["panels"]
        if p["metrics"] == ["train/loss"]
    )
    assert spec["log"] is True and spec["yrange"] == [None, 10] and spec["smoothing"] == 0.9
    # two columns wide: wider than its neighbour, the plot too
    page.select_option('.panel[data-key="train/loss"] .ps-w', "2")
    until(
        page,
        "document.querySelector('.panel[data-key=\"train/loss\"]').classList.contains('w2') && window.runship.charts['train/loss'].u"
        " && window.runship.charts['train/loss'].u.width > window.runship.charts['val/loss'].u.width * 1.5",
    )
    # hidden: gone from the grid, back from the section's "show hidden"
    page.click('.panel[data-key="train/loss"] .ps-hide')
    until(page, "!document.querySelector('.panel[data-key=\"train/loss\"]')")
    page.click('.chart-section[data-section="train"] .section-unhide')
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].log === true")
    # dragged into another section: the emptied section goes
    page.locator('.panel[data-key="val/loss"] .panel-handle').drag_to(
        page.locator('.panel[data-key="train/loss"]'), target_position={"x": 20, "y": 60}
    )
    until(page, "document.querySelectorAll('.chart-section').length === 1")
    sections = page.evaluate("window.__cv.layout()")["sections"]
    assert [(s["name"], [p["metrics"] for p in s["panels"]]) for s in sections] == [
        ("train", [["val/loss"], ["train/loss"]])
    ]
    w.check_clean()


def test_group_bands_std_and_stderr(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    groups = [{"label": "all", "color": "#1f77b4", "refs": [r["ref"] for r in runs]}]
    for band in ("std", "stderr"):
        mount(page, runs, ["train/loss"], groups=groups, band=band)
        until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length === 1")
        s = hook(page, "train/loss")["series"][0]
        i = s["x"].index(30)
        vals = [loss(k, 30) for k in range(N_SWEEP)]
        sd = statistics.stdev(vals) / (1 if band == "std" else N_SWEEP**0.5)
        assert s["y"][i] == pytest.approx(statistics.mean(vals))
        assert s["min"][i] == pytest.approx(statistics.mean(vals) - sd) and s["max"][i] == pytest.approx(
            statistics.mean(vals) + sd
        )
    # a run highlighted from the table: its group's mean line is emphasised
    page.evaluate(f"window.__cv.highlight({json.dumps(runs[0]['ref'])})")
    assert page.evaluate("window.runship.charts['train/loss'].u.series.at(-1).width") > 2
    w.check_clean()


def test_100_runs_charted_with_a_bounded_tooltip_and_every_run_in_the_legend(ui, open_page):
    w, runs = opened(open_page, ui, "many")
    page = w.page
    assert len(runs) == N_MANY
    by_name = {r["name"]: r["ref"] for r in runs}
    mount(page, runs, ["loss"])
    until(
        page,
        f"window.runship.charts['loss'] && window.runship.charts['loss'].series.length === {N_MANY} && window.runship.charts['loss'].u",
        30_000,
    )
    c = hook(page, "loss")
    assert {s["ref"] for s in c["series"]} == {r["ref"] for r in runs}
    assert all(len(s["x"]) == 20 for s in c["series"])
    assert page.locator('.panel[data-key="loss"] .panel-legend .li').count() == N_MANY
    hover_at(page, "loss", 10, 50.1)
    until(page, "window.runship.tooltip && window.runship.tooltip.length === 30")
    rows = page.evaluate("window.runship.tooltip.map(r => [r.label, r.value, r.hovered])")
    assert [r[0] for r in rows if r[2]] == ["m050"]  # the nearest line, among the 30 nearest values
    assert all(34 <= r[1] <= 66 for r in rows), rows
    assert page.locator(".chart-tooltip .tt-more").inner_text() == "+70 more"
    assert page.evaluate("window.__hovered").count(by_name["m050"]) >= 1  # onHoverRun: the page's row follows
    w.check_clean()


def test_the_csv_button_asks_for_the_full_resolution_rows_of_the_range(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    mount(page, runs[:2], ["train/loss"])
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].u")
    page.evaluate("window.runship.zoom(10, 20)")
    until(page, "window.runship.ready === true && window.runship.charts['train/loss'].zoom")
    with page.expect_download() as dl:
        page.click('.panel[data-key="train/loss"] .csv')
    url = dl.value.url
    assert "/ui/api/series.csv?" in url
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["run"] == [r["ref"] for r in runs[:2]] and q["key"] == ["train/loss"] and q["x"] == ["_step"]
    assert q["lo"] == ["10"] and q["hi"] == ["20"]
    w.errors.clear()  # the endpoint belongs to the series API (its own tests); here: what is asked


def test_sections_put_train_val_eval_test_first(ui, open_page):
    w, _ = opened(open_page, ui)
    got = w.page.evaluate(
        """async () => { const L = await import('/ui/static/js/layout.js');
            const keys = ['alpha/b', 'epoch', 'eval/acc', 'grad', 'lr', 'momentum', 'test/acc', 'train/loss', 'val/loss', 'zeta/a'];
            const few = ['alpha/b', 'epoch', 'train/loss', 'val/loss'];
            const order = (ks, xs) => L.buildLayout(null, ks, L.sectionOfKey, null, xs).sections.map(s => s.name);
            return [order(keys), order(few), order(few, ['epoch']), order(['epoch', 'lr', 'train/loss'], ['epoch'])]; }"""
    )
    assert got[0] == ["train", "val", "eval", "test", "charts", "alpha", "zeta"]
    assert got[1] == ["charts", "train", "val", "alpha"]  # a few root keys: first
    assert got[2] == ["train", "val", "alpha", "charts"]  # only a step metric (other panels' x): last
    assert got[3] == ["charts", "train"]  # a root key besides it: first again
    w.check_clean()


def add_parallel_panel(page, runs, **drawn):
    """The sweep's runs (given an lr and an optimizer each) charted, and a
    parallel-coordinates panel of both made in the dialog, in section "sweep"."""
    runs = [dict(r, config={"lr": 0.001 * (i + 1), "opt": "adam" if i % 2 else "sgd"}) for i, r in enumerate(runs)]
    mount(page, runs, ["train/loss"], **drawn)
    page.click("#add-panel")
    page.select_option(".rs-dialog .dlg-type", "parallel")
    page.check('.rs-dialog .dlg-axes input[value="config.lr"]')
    page.check('.rs-dialog .dlg-axes input[value="config.opt"]')
    page.fill(".rs-dialog .dlg-section", "sweep")
    page.click(".rs-dialog .dlg-add")
    return runs


def test_bar_scatter_and_parallel_panels_are_drawn_by_the_pages_drawRunsPanel(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    runs = add_parallel_panel(page, runs, runsPanels=True)
    until(page, "window.__runsCalls.length === 1")
    call = page.evaluate("window.__runsCalls[0]")
    assert call["type"] == "parallel" and call["axes"] == ["config.lr", "config.opt"] and len(call["runs"]) == N_SWEEP
    assert call["width"] > 100
    assert page.locator(".chart-section[data-section=sweep] .runs-drawn").inner_text() == f"parallel of {N_SWEEP}"
    # a run hidden from the legend is left out of it too
    page.locator(f'.chart-section[data-section=sweep] .panel-legend .li[data-ref="{runs[0]["ref"]}"]').click()
    until(page, f"window.__runsCalls.at(-1).runs.length === {N_SWEEP - 1}")
    # without a drawRunsPanel (the run page): a note in its place
    layout = page.evaluate("window.__cv.layout()")
    mount(page, runs, ["train/loss"], layout=layout)
    assert "drawn on the workspace page" in page.locator(".chart-section[data-section=sweep] .panel").inner_text()
    w.check_clean()


def test_a_parallel_panel_drawn_by_runpanels_shares_the_emphasis(ui, open_page):
    w, runs = opened(open_page, ui, "sweep")
    page = w.page
    runs = add_parallel_panel(page, runs, realRunsPanels=True)
    page.wait_for_selector(".chart-section[data-section=sweep] .runs-panel .pc-run")
    assert page.locator(".chart-section[data-section=sweep] .pc-run").count() == N_SWEEP
    # a run highlighted (its table row hovered): its polyline too
    ref = runs[4]["ref"]
    page.evaluate(f"window.__cv.highlight({json.dumps(ref)})")
    hot = page.evaluate(
        "[...document.querySelectorAll('.chart-section[data-section=sweep] .rp-hot')].map(e => e.closest('[data-ref]').dataset.ref)"
    )
    assert hot and set(hot) == {ref}
    # a polyline hovered: the run's lines in the line panels are emphasised, the page told
    page.evaluate("window.__cv.highlight(null)")
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].u")
    other = runs[8]["ref"]
    page.locator(f'.chart-section[data-section=sweep] .pc-run[data-ref="{other}"] .pc-hit').hover(force=True)
    until(page, f"window.runship.highlighted === {json.dumps(other)}")
    assert other in page.evaluate("window.__hovered")
    w.check_clean()
