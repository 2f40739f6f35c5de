"""Media, system metrics and runs panels in a real headless Chromium, on
runs made here with runship's writer: a 10-class confusion matrix that
scrolls and zooms, a large table in a bounded box, sliders that open on the
last step, one image key compared across 3 runs, system metrics with names
and units (a fake NVML for the GPU readings) overlaid across runs and the
nodes of a distributed run, and bar, scatter and parallel-coordinates panels
of a 12-run sweep."""

from __future__ import annotations

import json
import os
import urllib.parse

import numpy as np
import pytest

import runship
from tests.browser.chromium import until, wait_ready
from tests.conftest import ROOT, run_python
from tests.servers import UIServer

pytestmark = pytest.mark.browser

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}
EVIL = "<img src=x onerror=window.__pwned=1>"
CLASSES = [f"class {i}" for i in range(9)] + [EVIL]

FAKE_NVML = """
NVML_TEMPERATURE_GPU = 0
class _U:
    def __init__(self, gpu, memory): self.gpu, self.memory = gpu, memory
class _M:
    def __init__(self, used, total): self.used, self.total = used, total
def nvmlInit(): pass
def nvmlDeviceGetCount(): return 1
def nvmlDeviceGetHandleByIndex(i): return i
def nvmlDeviceGetUUID(h): return "GPU-aaaaaaaa-0000"
def nvmlDeviceGetUtilizationRates(h): return _U(55, 20)
def nvmlDeviceGetMemoryInfo(h): return _M(1024**3, 80 * 1024**3)
def nvmlDeviceGetTemperature(h, kind): return 61
def nvmlDeviceGetPowerUsage(h): return 250 * 1000
"""

SYSTEM_RUN = """
import time, runship
run = runship.init(project="sys", name={name!r}, id={id!r}, dir={root!r},
                   settings={{"quiet": True, "environment": False, "console": "off", "stats_interval": 0.1,
                              "flush_interval": 0.05{extra}}})
run.log({{"loss": 1.0}})
time.sleep(0.8)
run.finish()
"""


def _image(step: int) -> runship.Image:
    return runship.Image(np.full((8, 8, 3), step % 255, dtype=np.uint8), caption=f"at {step}")


def _media_runs(root: str) -> None:
    """img-a logs images at steps 0, 10, 20, img-b at 5, 15, img-c at 0, 20;
    img-a also a 10-class confusion matrix, a 300 x 30 table and histograms."""
    steps = {"img-a": [0, 10, 20], "img-b": [5, 15], "img-c": [0, 20]}
    for name, at in steps.items():
        run = runship.init(
            project="media", name=name, dir=root, config={"lr": 0.1}, settings=SETTINGS, reinit="create_new"
        )
        for step in range(21):
            row: dict = {"loss": 1.0 / (step + 1)}
            if step in at:
                row["samples"] = _image(step + 40 * len(name))
            if name == "img-a" and step % 5 == 0:
                row["weights"] = runship.Histogram(np.random.default_rng(step).normal(step, 1, 200))
            run.log(row, step=step)
        if name == "img-b":  # 40 classes: 1,600 rows in the chart's table, past one page of the table API
            rng = np.random.default_rng(1)
            y40 = rng.integers(0, 40, 3000).tolist()
            run.log(
                {"cm40": runship.plot.confusion_matrix(y_true=y40, preds=y40, class_names=[f"c{i}" for i in range(40)])}
            )
        if name == "img-a":
            rng = np.random.default_rng(0)
            y = rng.integers(0, 10, 500)
            pred = np.where(rng.random(500) < 0.7, y, rng.integers(0, 10, 500))
            run.log({"cm": runship.plot.confusion_matrix(y_true=y.tolist(), preds=pred.tolist(), class_names=CLASSES)})
            cols = [f"column {i}" for i in range(30)]
            run.log({"big": runship.Table(columns=cols, data=[[r * 100 + c for c in range(30)] for r in range(300)])})
        run.finish()


def _system_runs(root: str, fake: str) -> None:
    """sys-a and sys-b with a (fake) GPU; dist: one run of two nodes."""
    env = {"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"}
    for name in ("sys-a", "sys-b"):
        out = run_python(SYSTEM_RUN.format(name=name, id=name, root=root, extra=""), env=env)
        assert out.returncode == 0, out.stderr
    for rank in (0, 1):
        extra = f', "rank": {rank}, "world_size": 2, "node": "n{rank}"'
        out = run_python(SYSTEM_RUN.format(name="dist", id="dist", root=root, extra=extra), env=env)
        assert out.returncode == 0, out.stderr


def _sweep(root: str) -> None:
    """12 runs: lr (numeric), opt (categorical), batch; summary acc."""
    for i in range(12):
        cfg = {"lr": 10 ** -(1 + i % 4), "opt": ["adam", "sgd", EVIL][i % 3], "batch": 32 * (1 + i % 2)}
        run = runship.init(
            project="sweep", name=f"sw-{i:02d}", dir=root, config=cfg, settings=SETTINGS, reinit="create_new"
        )
        run.log({"loss": 1.0})
        run.summary["acc"] = 0.5 + i / 40
        run.finish()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = tmp_path_factory.mktemp("media-runs")
    root = str(base / "runs")
    fake = base / "fake"
    fake.mkdir()
    (fake / "pynvml.py").write_text(FAKE_NVML)
    _media_runs(root)
    _system_runs(root, str(fake))
    _sweep(root)
    return root


def refs(page, ui, project: str) -> dict[str, str]:
    """The runs of a project: {name: ref}, from the API the page uses."""
    res = page.evaluate(
        "async (p) => (await (await fetch('/ui/api/runs?project=' + encodeURIComponent(p))).json())", project
    )
    return {r["name"]: r["ref"] for r in res["runs"]}


def q(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def open_run(w, ui, project: str, name: str, tab: str):
    page = w.page
    wait_ready(page)
    ref = refs(page, ui, project)[name]
    page.goto(f"{ui.url}/#/run/{q(ref)}?tab={tab}")
    wait_ready(page)
    return ref


def test_a_confusion_matrix_of_ten_classes_scrolls_in_its_box_and_zooms(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    open_run(w, ui, "media", "img-a", "media")
    until(page, "document.querySelector('.media[data-key=\"cm\"] table.confusion') !== null")
    box = page.locator('.media[data-key="cm"] .cm-box')
    heads = box.locator("thead th.col-head").all_text_contents()
    assert heads == CLASSES  # every class, the script one as text
    assert box.locator("tbody th.row-head").all_text_contents() == CLASSES
    dims = box.evaluate("(b) => ({sw: b.scrollWidth, cw: b.clientWidth, card: b.closest('.media').clientWidth})")
    assert dims["sw"] > dims["cw"] and dims["cw"] <= dims["card"]  # scrolls inside its box, not cut off
    # the headers stay in view when scrolled
    box.evaluate("(b) => { b.scrollLeft = b.scrollWidth; b.scrollTop = b.scrollHeight; }")
    stuck = box.evaluate(
        """(b) => { const r = b.getBoundingClientRect();
            const col = b.querySelector('thead th.col-head:last-child').getBoundingClientRect();
            const row = b.querySelector('tbody tr:last-child th.row-head').getBoundingClientRect();
            return {colTop: col.top - r.top, rowLeft: row.left - r.left}; }"""
    )
    assert abs(stuck["colTop"]) < 2 and abs(stuck["rowLeft"]) < 2
    # zoom: the buttons, and ctrl+wheel
    width = box.evaluate("(b) => b.querySelector('table').scrollWidth")
    page.locator('.media[data-key="cm"] .cm-zoom-out').click()
    page.locator('.media[data-key="cm"] .cm-zoom-out').click()
    assert box.evaluate("(b) => b.querySelector('table').scrollWidth") < width
    assert float(box.get_attribute("data-zoom")) < 1
    zoomed = float(box.get_attribute("data-zoom"))
    box.evaluate(
        "(b) => b.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, ctrlKey: true, bubbles: true, cancelable: true}))"
    )
    assert float(box.get_attribute("data-zoom")) > zoomed  # ctrl+wheel up: zoom in
    page.locator('.media[data-key="cm"] .cm-fit').click()
    fit = box.evaluate("(b) => ({sw: b.scrollWidth, cw: b.clientWidth})")
    assert fit["sw"] <= fit["cw"] + 1
    cells = box.locator("tbody tr").first.locator("td").all_text_contents()
    assert len(cells) == 10 and sum(int(c) for c in box.locator("tbody td").all_text_contents()) == 500
    assert page.evaluate("window.__pwned") is None


def test_a_confusion_matrix_of_forty_classes_is_drawn_whole(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    open_run(w, ui, "media", "img-b", "media")
    until(page, "document.querySelector('.media[data-key=\"cm40\"] table.confusion') !== null")
    box = page.locator('.media[data-key="cm40"] .cm-box')
    assert box.locator("thead th.col-head").all_text_contents() == [f"c{i}" for i in range(40)]
    diagonal = box.evaluate(
        "(b) => [...b.querySelectorAll('tbody tr')].map((tr, i) => Number(tr.querySelectorAll('td')[i].textContent))"
    )
    assert len(diagonal) == 40 and sum(diagonal) == 3000  # every row of the table read, the last class's too


def test_a_large_table_scrolls_in_a_bounded_box_with_its_header_in_view(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    open_run(w, ui, "media", "img-a", "media")
    until(page, "document.querySelectorAll('.media[data-key=\"big\"] table.media-table tbody tr').length > 0")
    page.locator('.media[data-key="big"] select.page-size').select_option("100")
    until(page, "document.querySelectorAll('.media[data-key=\"big\"] table.media-table tbody tr').length === 100")
    box = page.locator('.media[data-key="big"] .media-table-box')
    dims = box.evaluate("(b) => ({sw: b.scrollWidth, cw: b.clientWidth, sh: b.scrollHeight, ch: b.clientHeight})")
    assert dims["sw"] > dims["cw"] and dims["sh"] > dims["ch"] and dims["ch"] <= 420
    box.evaluate("(b) => { b.scrollTop = b.scrollHeight; }")
    top = box.evaluate("(b) => b.querySelector('thead th').getBoundingClientRect().top - b.getBoundingClientRect().top")
    assert abs(top) < 2


def test_every_step_slider_opens_on_the_last_step(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    open_run(w, ui, "media", "img-a", "media")
    until(page, "document.querySelector('.media[data-key=\"samples\"] img') !== null")
    until(page, "document.querySelector('.media[data-key=\"weights\"] input.step-slider') !== null")
    for key, n in (("samples", 3), ("weights", 5)):
        slider = page.locator(f'.media[data-key="{key}"] input.step-slider')
        assert slider.evaluate("(s) => [s.value, s.max]") == [str(n - 1), str(n - 1)]
        assert page.locator(f'.media[data-key="{key}"] .step-label').text_content().startswith("step 20")
    img = page.locator('.media[data-key="samples"] img')
    last = img.get_attribute("src")
    page.locator('.media[data-key="samples"] input.step-slider').evaluate(
        "(s) => { s.value = '0'; s.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    until(page, f"document.querySelector('.media[data-key=\"samples\"] img').getAttribute('src') !== {last!r}")


def test_one_image_key_compared_across_three_runs_at_a_step(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    wait_ready(page)
    r = refs(page, ui, "media")
    order = ["img-a", "img-b", "img-c"]
    page.goto(f"{ui.url}/#/compare?runs={','.join(q(r[n]) for n in order)}")
    wait_ready(page)
    until(page, "document.querySelectorAll('#cmp-media-grid .cmp-media-cell').length === 3")

    def cells():
        return page.evaluate(
            """() => [...document.querySelectorAll('#cmp-media-grid .cmp-media-cell')].map(c => ({
                ref: c.dataset.ref, step: c.dataset.step === undefined ? null : Number(c.dataset.step),
                name: c.querySelector('.run-cap').textContent, img: !!c.querySelector('img')}))"""
        )

    got = cells()
    assert [c["name"] for c in got] == order
    assert [c["step"] for c in got] == [20, 15, 20]  # opens on the last step; img-b's nearest at or before
    assert page.locator("#cmp-media-step").evaluate("(s) => s.value === s.max")
    # steps logged by any run: 0, 5, 10, 15, 20; choose 10
    page.locator("#cmp-media-step").evaluate(
        "(s) => { s.value = '2'; s.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    until(page, "document.querySelector('#cmp-media-grid .cmp-media-cell').dataset.step === '10'")
    assert [c["step"] for c in cells()] == [10, 5, 0]
    page.locator("#cmp-media-step").evaluate(
        "(s) => { s.value = '0'; s.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    until(page, "document.querySelector('#cmp-media-grid .cmp-media-cell').dataset.step === '0'")
    got = cells()
    assert [c["step"] for c in got] == [0, None, 0] and [c["img"] for c in got] == [True, False, True]
    src = page.locator("#cmp-media-grid .cmp-media-cell img").first.get_attribute("src")
    assert src.startswith("/ui/api/file?") and "run=" in src


def panel_titles(page) -> dict[str, str]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.panel[data-key]')].map("
        "p => [p.dataset.key, p.querySelector('.panel-title').textContent]))"
    )


def test_system_panels_have_readable_names_and_units(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    open_run(w, ui, "sys", "sys-a", "system")
    until(page, "document.querySelector('.panel[data-key=\"gpu.0.temp\"]') !== null")
    titles = panel_titles(page)
    assert titles["gpu.0.temp"] == "GPU 0 temperature (°C)"
    assert titles["gpu.0.gpu"] == "GPU 0 utilization (%)"
    assert titles["gpu.0.powerWatts"] == "GPU 0 power (W)"
    assert titles["proc.memory.rssMB"] == "Process memory in use (MB)"
    assert titles["cpu"] == "Process CPU (%)"
    sections = page.evaluate(
        "() => [...document.querySelectorAll('section.chart-section')].map(e => e.dataset.section)"
    )
    assert sections[:2] == ["CPU", "Memory"] and "GPU 0" in sections, sections
    page.locator('.panel[data-key="gpu.0.temp"]').scroll_into_view_if_needed()
    until(page, "window.runship.charts['gpu.0.temp'] && window.runship.charts['gpu.0.temp'].series.length === 1")
    ys = [y for y in page.evaluate("window.runship.charts['gpu.0.temp'].series[0].raw") if y is not None]
    assert ys and set(ys) == {61}
    # a distributed run: each node's metrics apart, named by node
    open_run(w, ui, "sys", "dist", "system")
    until(page, "document.querySelector('.panel[data-key=\"n1/gpu.0.temp\"]') !== null")
    titles = panel_titles(page)
    assert titles["n0/gpu.0.temp"] == "GPU 0 temperature · n0 (°C)" and titles["n1/cpu"] == "Process CPU · n1 (%)"
    sections = page.evaluate(
        "() => [...document.querySelectorAll('section.chart-section')].map(e => e.dataset.section)"
    )
    assert sections.index("n0 · CPU") < sections.index("n0 · GPU 0") < sections.index("n1 · CPU"), sections


def test_system_metrics_of_two_runs_and_two_nodes_overlaid_on_the_compare_page(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    wait_ready(page)
    r = refs(page, ui, "sys")
    page.goto(f"{ui.url}/#/compare?runs={q(r['sys-a'])},{q(r['sys-b'])},{q(r['dist'])}")
    wait_ready(page)
    until(page, "document.querySelector('#compare-system .panel[data-key=\"gpu.0.temp\"]') !== null")
    page.locator('#compare-system .panel[data-key="gpu.0.temp"]').scroll_into_view_if_needed()
    until(page, "window.runship.charts['gpu.0.temp'] && window.runship.charts['gpu.0.temp'].series.length === 4")
    series = page.evaluate(
        "window.runship.charts['gpu.0.temp'].series.map(s => [s.label, s.raw.filter(y => y !== null).length])"
    )
    labels = sorted(s[0] for s in series)
    assert labels == ["dist · n0", "dist · n1", "sys-a", "sys-b"]
    assert all(n > 0 for _, n in series)
    title = page.locator('#compare-system .panel[data-key="gpu.0.temp"] .panel-title').text_content()
    assert title == "GPU 0 temperature (°C)"
    assert page.locator('#compare-system .panel[data-key="cpu"] .panel-title').text_content() == "Process CPU (%)"


def test_parallel_coordinates_of_twelve_runs_on_the_compare_page(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    wait_ready(page)
    r = refs(page, ui, "sweep")
    names = sorted(r)
    assert len(names) == 12
    page.goto(f"{ui.url}/#/compare?runs={','.join(q(r[n]) for n in names)}")
    wait_ready(page)
    page.wait_for_selector("#parallel svg.rp-parallel")
    axes = page.locator("#parallel .pc-axis").evaluate_all("(gs) => gs.map(g => g.dataset.col)")
    assert axes == ["config.batch", "config.lr", "config.opt", "summary.acc"]
    titles = page.locator("#parallel .pc-axis-title").evaluate_all("(ts) => ts.map(t => t.firstChild.nodeValue)")
    assert titles == ["batch", "lr", "opt", "acc"]
    lines = page.locator("#parallel path.pc-line")
    assert lines.count() == 12
    assert sorted(page.locator("#parallel g.pc-run").evaluate_all("(gs) => gs.map(g => g.dataset.ref)")) == sorted(
        r.values()
    )
    ticks = page.locator('#parallel .pc-axis[data-col="config.opt"] .pc-tick').all_text_contents()
    assert sorted(ticks) == sorted(["adam", "sgd", EVIL[:9] + "…"])  # categories, the script one as text
    lr_ticks = page.locator('#parallel .pc-axis[data-col="config.lr"] .pc-tick').all_text_contents()
    kinds = page.locator("#parallel .pc-axis-kind").all_text_contents()
    assert kinds == ["config", "config · log", "config", "summary"]  # lr spans 3 decades: a log axis
    assert len(lr_ticks) >= 3 and all(t.replace(".", "").replace("e-", "").isdigit() for t in lr_ticks)
    # hover a line: its run is emphasised and named
    page.locator(f'#parallel g.pc-run[data-ref="{r["sw-05"]}"] path.pc-hit').evaluate(
        "(p) => { const b = p.getBoundingClientRect();"
        " p.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: b.left + 5, clientY: b.top + 5})); }"
    )
    until(page, f"document.querySelector('#parallel g.pc-run[data-ref=\"{r['sw-05']}\"]').classList.contains('rp-hot')")
    assert page.locator("#parallel .rp-tip b").text_content() == "sw-05"
    # brush summary.acc's top: only the runs with acc in range stay
    hit = page.locator('#parallel .pc-axis[data-col="summary.acc"] .pc-axis-hit')
    hit.scroll_into_view_if_needed()
    box = hit.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 0.45, steps=5)
    page.mouse.up()
    kept = page.locator("#parallel g.pc-run:not(.pc-out)").evaluate_all("(gs) => gs.map(g => g.dataset.ref)")
    by_ref = {v: k for k, v in r.items()}
    assert 0 < len(kept) < 12 and all(int(by_ref[k][3:]) >= 5 for k in kept)
    assert "runs in range" in page.locator("#parallel .pc-count").text_content()
    # the metric axis can be changed
    assert page.evaluate("window.__pwned") is None


def test_bar_and_scatter_panels_through_draw_runs_panel(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    wait_ready(page)
    runs = [
        {"ref": f"0:p/r{i}", "label": f"run {i}", "color": "#4363d8", "live": False,
         "config": {"lr": [0.1, 0.01][i % 2], "opt": ["adam", "sgd"][i % 2]}, "summary": {"acc": 0.5 + i / 10}}
        for i in range(4)
    ]  # fmt: skip
    runs.append(
        {
            "ref": "0:p/evil",
            "label": EVIL,
            "color": "#e6194b",
            "live": False,
            "config": {"lr": 0.5, "opt": EVIL},
            "summary": {"acc": 0.2},
        }
    )
    got = page.evaluate(
        """async (runs) => {
            const { drawRunsPanel } = await import('/ui/static/js/runpanels.js');
            const out = {};
            for (const [id, spec] of Object.entries({
                bar: { type: 'bar', y: 'summary.acc' },
                mean: { type: 'bar', x: 'config.opt', y: 'summary.acc' },
                scatter: { type: 'scatter', x: 'config.lr', y: 'summary.acc' },
            })) {
                const mount = document.createElement('div');
                mount.id = 'rp-' + id;
                document.body.append(mount);
                drawRunsPanel(mount, { id, ...spec }, runs, 500);
                out[id] = {
                    labels: [...mount.querySelectorAll('.rp-bar-row .rp-label')].map(t => t.textContent),
                    values: [...mount.querySelectorAll('.rp-bar-row .rp-value')].map(t => t.textContent),
                    points: [...mount.querySelectorAll('circle.rp-point')].map(c => [c.dataset.ref, +c.getAttribute('cx'), +c.getAttribute('cy')]),
                    axes: [...mount.querySelectorAll('.rp-axis-title')].map(t => t.textContent),
                };
            }
            return out;
        }""",
        runs,
    )
    assert got["bar"]["labels"][:4] == ["run 0", "run 1", "run 2", "run 3"] and len(got["bar"]["labels"]) == 5
    assert got["bar"]["values"][:4] == ["0.5", "0.6", "0.7", "0.8"]
    means = dict(zip(got["mean"]["labels"], got["mean"]["values"]))
    assert means["adam"] == "0.6 (2)" and means["sgd"] == "0.7 (2)" and len(means) == 3
    assert any(k.startswith("<img src=x") and v == "0.2" for k, v in means.items())  # as text
    pts = {p[0]: p[1:] for p in got["scatter"]["points"]}
    assert len(pts) == 5 and got["scatter"]["axes"] == ["config.lr", "summary.acc"]
    assert pts["0:p/r1"][0] < pts["0:p/r0"][0] < pts["0:p/evil"][0]  # x: lr 0.01 < 0.1 < 0.5
    assert pts["0:p/r3"][1] < pts["0:p/r0"][1]  # y up: acc 0.8 above 0.5
    # hover a point: the tooltip names the run and its values, as text
    page.locator('#rp-scatter circle[data-ref="0:p/evil"]').hover(force=True)
    tip = page.locator("#rp-scatter .rp-tip")
    assert tip.locator("b").text_content() == EVIL
    assert "summary.acc = 0.2" in tip.text_content()
    assert page.evaluate("window.__pwned") is None
    json.dumps(got)


def test_a_runs_panel_reads_a_summary_kept_as_define_metrics_max(ui, open_page):
    """`summary.val/acc` in a bar panel reads `val/acc.max` where
    define_metric(summary="max") stored only that, as the runs filter does."""
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    wait_ready(page)
    runs = [
        {"ref": f"0:p/m{i}", "label": f"run {i}", "color": "#4363d8", "live": False, "config": {},
         "summary": {"val/acc.max": 0.5 + i / 10}}
        for i in range(3)
    ]  # fmt: skip
    values = page.evaluate(
        """async (runs) => {
            const { drawRunsPanel } = await import('/ui/static/js/runpanels.js');
            const mount = document.createElement('div');
            document.body.append(mount);
            drawRunsPanel(mount, { id: 'max', type: 'bar', y: 'summary.val/acc' }, runs, 500);
            return [...mount.querySelectorAll('.rp-bar-row .rp-value')].map(t => t.textContent);
        }""",
        runs,
    )
    assert values == ["0.5", "0.6", "0.7"]
    w.check_clean()
