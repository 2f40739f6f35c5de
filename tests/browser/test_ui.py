"""`runship ui` in a real headless Chromium, on runs made here: the table,
filters and sorting, charts read back from the chart's own data (series,
smoothing, zoom, a spike kept by downsampling), a live run growing, the
console of a crashed run, media, escaping, the token, and no request
leaving 127.0.0.1."""

from __future__ import annotations

import signal
import time
import urllib.parse

import numpy as np
import pytest

import runship
from tests.browser.chromium import until
from tests.browser.conftest import Watched
from tests.conftest import popen_python
from tests.servers import UIServer

pytestmark = pytest.mark.browser

EVIL = "<script>window.__pwned=1</script>"
SETTINGS = {"quiet": True, "environment": False, "console": "off"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """adam (finished; a spike at step 3,210 of 10,000; images, histograms,
    a table), sgd (failed), EVIL (finished, its name a script), crashy
    (SIGKILLed after printing its last lines, one of them a script)."""
    base = tmp_path_factory.mktemp("ui-runs")
    root = str(base / "runs")
    a = runship.init(
        project="vision",
        name="adam",
        dir=root,
        config={"lr": 0.001, "opt": "adam"},
        settings=SETTINGS,
        reinit="create_new",
    )
    for step in range(10_000):
        row = {"train/loss": 2.0 / (1 + step / 100), "val/acc": step / 10_000}
        if step == 3210:
            row["train/loss"] = 50.0
        if step % 2500 == 0:
            row["samples"] = runship.Image(np.full((16, 16, 3), (step // 40) % 255, dtype=np.uint8), caption=f"s{step}")
            row["weights"] = runship.Histogram(np.random.default_rng(step).normal(0, 1, 500))
        a.log(row)
    a.log({"preds": runship.Table(columns=["id", "label"], data=[[i, f"class {i % 4}"] for i in range(40)])})
    a.summary["best"] = 0.97
    a.finish()
    b = runship.init(
        project="vision", name="sgd", dir=root, config={"lr": 0.1, "opt": "sgd"}, settings=SETTINGS, reinit="create_new"
    )
    for step in range(500):
        b.log({"train/loss": 3.0 - step / 500, "val/acc": step / 1000})
    b.summary["best"] = 0.42
    curve = runship.Table(columns=["x", "y"], data=[[x, x * x] for x in range(10)])
    b.log(
        {
            "curve": runship.plot.line(curve, "x", "y", title="squares"),
            "cm": runship.plot.confusion_matrix(y_true=[0, 1, 1], preds=[0, 1, 0], class_names=["no", "yes"]),
        }
    )
    b.finish(exit_code=2)
    c = runship.init(
        project="vision", name=EVIL, dir=root, config={"lr": 0.01, "opt": EVIL}, settings=SETTINGS, reinit="create_new"
    )
    c.log({"train/loss": 1.0})
    c.finish()
    crash = popen_python(
        f"""
        import os, sys, runship
        run = runship.init(project="vision", name="crashy", dir={root!r}, config={{"lr": 0.5, "opt": "sgd"}},
                           settings={{"quiet": True, "environment": False, "heartbeat_interval": 0.5}})
        for i in range(50):
            run.log({{"train/loss": 1.0 + i}})
            print(f"step {{i}} ok", flush=True)
        print({EVIL!r}, flush=True)
        print("last words before the kill", flush=True)
        run.flush() if hasattr(run, "flush") else None
        sys.stdout.write("READY\\n"); sys.stdout.flush()
        import time; time.sleep(600)
        """
    )
    line = ""
    deadline = time.time() + 60
    while "READY" not in line and time.time() < deadline:
        line = crash.stdout.readline()
    time.sleep(2.5)  # past a flush of the console stream
    crash.send_signal(signal.SIGKILL)
    crash.wait()
    time.sleep(3)  # its heartbeat is overdue: crashed
    return root


def rows(page) -> dict[str, dict[str, str]]:
    """The runs table as {name: {column: text}}, in order."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#runs-table tbody tr[data-ref]')].map(tr => {
            const cells = Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.textContent.trim()]));
            return [cells.name, {...cells, _state: tr.dataset.state, _ref: tr.dataset.ref}];
        }))"""
    )


def run_page(w, ui, name: str, tab: str) -> str:
    """From the runs table, the run page of the run named ``name`` at
    ``tab``; its ref."""
    w.page.wait_for_selector("#runs-table tbody tr[data-ref]")
    ref = rows(w.page)[name]["_ref"]
    w.page.goto(f"{ui.url}/#/run/{urllib.parse.quote(ref, safe='')}?tab={tab}")
    return ref


def names(page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#runs-table tbody tr[data-ref] td[data-col=name]')].map(td => td.textContent.trim())"
    )


def chart(page, key):
    return page.evaluate(
        """(key) => { const c = window.runship.charts[key]; if (!c) return null;
            return {x: c.x, smoothing: c.smoothing, log: c.log, zoom: c.zoom,
                    series: c.series.map(s => ({ref: s.ref, label: s.label, x: [...s.x], y: [...s.y], raw: [...s.raw]}))}; }""",
        key,
    )


def test_without_the_token_the_page_and_api_say_401(ui, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(ui.url + "/")
        assert response.status == 401
        assert page.locator("input[name=token]").count() == 1  # the sign-in form, no data
        api = page.request.get(ui.url + "/ui/api/runs")
        assert api.status == 401
        page.fill("input[name=token]", "not-the-token")
        page.click("button[type=submit]")
        assert page.locator("#runs-table").count() == 0
        page.fill("input[name=token]", UIServer.TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector(".ws .ws-side")  # the landing: the workspace page
        page.goto(ui.url + "/#/runs")
        page.wait_for_selector("#runs-table tbody tr[data-ref]")
        cookie = next(c for c in context.cookies() if c["name"] == f"runship_ui_{ui.port}")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert "token" not in page.url
    finally:
        context.close()


def test_the_printed_url_signs_in_and_its_token_leaves_no_trace_in_the_page(root, browser, tmp_path):
    """The URL runship ui prints (a random token after #): the page posts
    the token once, and it is in no URL the browser keeps (address bar,
    session history) or sends (every request's URL); the app works."""
    s = UIServer([root], str(tmp_path), random_token=True).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        w = Watched(page, s.url)
        sent: list[str] = []
        page.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.post_data or ''}"))
        assert "#token=" in s.signin_url
        page.goto(s.signin_url)
        page.wait_for_selector(".ws .ws-side")  # the landing: the workspace page
        page.goto(s.url + "/#/runs")
        page.wait_for_selector("#runs-table tbody tr[data-ref]")
        assert set(rows(page)) == {"adam", "sgd", EVIL, "crashy"}
        assert s.token not in page.url and s.token not in page.evaluate("() => location.href")
        history = context.new_cdp_session(page).send("Page.getNavigationHistory")["entries"]
        assert [e["url"] for e in history if s.token in e["url"]] == []
        assert page.evaluate("() => history.length") == len(history)
        posted = [r for r in sent if s.token in r]
        assert [r.split(" ", 1)[0] for r in posted] == ["POST"], posted  # once, in a body
        assert all(s.token not in u.partition("#")[0] for u in w.requests)
        cookie = next(c for c in context.cookies() if c["name"] == f"runship_ui_{s.port}")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        w.check_clean()
    finally:
        context.close()
        s.stop()


def test_the_table_lists_runs_with_states_and_values(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.wait_for_selector("#runs-table tbody tr[data-ref]")
    table = rows(page)
    assert set(table) == {"adam", "sgd", EVIL, "crashy"}
    assert {n: r["_state"] for n, r in table.items()} == {
        "adam": "finished",
        "sgd": "failed",
        EVIL: "finished",
        "crashy": "crashed",
    }
    assert table["adam"]["steps"] == "10001"
    assert page.evaluate("window.__pwned") is None  # the run named <script> is text
    assert EVIL in page.locator("#runs-table").inner_text()
    assert "token" not in page.url
    w.check_clean()


def test_filters_and_sorting(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.wait_for_selector("#runs-table tbody tr[data-ref]")
    page.fill("#filter", "config.lr < 0.05 and summary.best > 0.9")
    until(page, "document.querySelectorAll('#runs-table tbody tr[data-ref]').length === 1")
    assert names(page) == ["adam"]
    page.fill("#filter", "sgd")  # plain text: name, id, group, tags, host
    until(page, "document.querySelectorAll('#runs-table tbody tr[data-ref]').length === 1")
    assert names(page) == ["sgd"]
    page.fill("#filter", "config.lr <")  # not an expression: said, nothing filtered
    page.wait_for_selector("#filter-error:not(:empty)")
    page.fill("#filter", "")
    page.select_option("#state-filter", "crashed")
    until(page, "document.querySelectorAll('#runs-table tbody tr[data-ref]').length === 1")
    assert names(page) == ["crashy"]
    page.select_option("#state-filter", "")
    until(page, "document.querySelectorAll('#runs-table tbody tr[data-ref]').length === 4")
    page.click("th[data-col=name]")
    first = names(page)
    assert first == sorted(first, key=str.lower) or first == sorted(first)
    page.click("th[data-col=name]")
    assert names(page) == list(reversed(first))
    assert "sort=" in urllib.parse.unquote(page.url)  # the view is in the URL
    w.check_clean()


def test_a_chart_draws_the_runs_series_and_keeps_the_spike(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    adam = run_page(w, ui, "adam", "charts")
    page.wait_for_selector('.panel[data-key="train/loss"]')
    until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length > 0")
    c = chart(page, "train/loss")
    assert len(c["series"]) == 1 and c["series"][0]["ref"] == adam
    xs, ys = c["series"][0]["x"], c["series"][0]["raw"]
    assert xs[0] == 0 and xs[-1] == 9999 and len(xs) < 5000  # downsampled, to about one point a pixel
    assert 50.0 in ys and xs[ys.index(50.0)] == 3210  # the one spike among 10,000 steps
    for x, y in zip(xs, ys):
        if x != 3210 and y is not None:
            assert y == pytest.approx(2.0 / (1 + x / 100))  # the logged values, not made-up ones
    # smoothing: what is drawn changes, the raw series stays
    page.evaluate("""() => { const s = document.querySelector('#smoothing'); s.value = '0.9';
                             s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true})); }""")
    until(page, "window.runship.charts['train/loss'].smoothing > 0.5")
    smooth = chart(page, "train/loss")["series"][0]
    assert smooth["raw"] == ys and smooth["y"] != ys
    assert max(v for v in smooth["y"] if v is not None) < 50.0  # the spike, smoothed
    assert "smooth=0.9" in urllib.parse.unquote(page.url)
    # zoom: the range is fetched again, at full resolution
    before = page.evaluate("window.runship.requests")
    page.evaluate("window.runship.zoom(3200, 3220)")
    until(
        page,
        "window.runship.charts['train/loss'].zoom && window.runship.charts['train/loss'].series[0].x.length >= 21"
        " && window.runship.charts['train/loss'].series[0].x[0] >= 3200",
    )
    assert page.evaluate("window.runship.requests") > before
    z = chart(page, "train/loss")["series"][0]
    assert z["x"] == list(range(3200, 3221)) and z["raw"][10] == 50.0
    assert "zoom=" in urllib.parse.unquote(page.url)
    w.check_clean()


def test_several_runs_overlaid_and_compared(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    page.wait_for_selector("#runs-table tbody tr[data-ref]")
    table = rows(page)
    sel = ",".join(urllib.parse.quote(table[n]["_ref"], safe="") for n in ("adam", "sgd"))
    page.goto(f"{ui.url}/#/runs?sel={sel}")
    until(
        page, "window.runship.charts['val/acc'] && window.runship.charts['val/acc'].series.length === 2", timeout=20_000
    )
    c = chart(page, "val/acc")
    got = {s["ref"]: s for s in c["series"]}
    assert set(got) == {table["adam"]["_ref"], table["sgd"]["_ref"]}
    sgd = got[table["sgd"]["_ref"]]
    assert sgd["x"][-1] == 499 and sgd["raw"][-1] == pytest.approx(0.499)
    page.goto(f"{ui.url}/#/compare?runs={sel}")
    page.wait_for_selector("#compare-config tr.differs")
    differing = page.locator("#compare-config tr.differs").all_inner_texts()
    assert any("lr" in t and "0.001" in t and "0.1" in t for t in differing)
    assert any("opt" in t for t in differing)
    w.check_clean()


def test_the_console_of_a_crashed_run_shows_its_last_lines_as_text(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    run_page(w, ui, "crashy", "console")
    page.wait_for_selector("#console .line")
    until(page, "[...document.querySelectorAll('#console .line')].some(l => l.textContent.includes('last words'))")
    lines = page.locator("#console .line").all_inner_texts()
    assert "last words before the kill" in lines[-1] or any("last words" in t for t in lines[-3:])
    assert any(EVIL in t for t in lines)  # shown as text
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#console script").count() == 0
    page.fill("#console-search", "step 4")
    until(
        page,
        "[...document.querySelectorAll('#console .line')].length > 0 && "
        "[...document.querySelectorAll('#console .line')].every(l => l.textContent.includes('step 4'))",
    )
    w.check_clean()


def test_images_histograms_and_tables_render(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    run_page(w, ui, "adam", "media")
    img = page.locator('.media[data-key="samples"] img')
    img.wait_for()
    until(
        page,
        "(() => { const i = document.querySelector('.media[data-key=\"samples\"] img'); return i && i.complete && i.naturalWidth === 16; })()",
    )
    slider = page.locator('.media[data-key="samples"] input.step-slider')
    first_src = img.get_attribute("src")
    slider.evaluate(
        "(s) => { s.value = '0'; s.dispatchEvent(new Event('input', {bubbles: true})); }"
    )  # opened on the last
    until(page, f"document.querySelector('.media[data-key=\"samples\"] img').getAttribute('src') !== {first_src!r}")
    heat = page.locator('.media[data-key="weights"] canvas.heatmap')
    heat.wait_for()
    painted = heat.evaluate(
        "(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert painted > 100  # the heatmap is drawn, not an empty canvas
    table = page.locator('.media[data-key="preds"] table.media-table')
    table.wait_for()
    until(page, "document.querySelectorAll('.media[data-key=\"preds\"] table.media-table tbody tr').length > 0")
    cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["0", "class 0"]
    w.check_clean()


def test_a_live_run_grows_on_the_page_without_a_reload(root, ui, open_page):
    p = popen_python(
        f"""
        import time, runship
        run = runship.init(project="live", name="growing", dir={root!r},
                           settings={{"quiet": True, "environment": False, "console": "off", "flush_interval": 0.2,
                                      "heartbeat_interval": 1}})
        i = 0
        while True:
            run.log({{"train/loss": 1.0 / (1 + i)}})
            i += 1
            time.sleep(0.02)
        """
    )
    try:
        time.sleep(2)
        w = open_page(ui, UIServer.TOKEN)
        page = w.page
        page.wait_for_selector("#runs-table tbody tr[data-ref]")
        until(
            page,
            "[...document.querySelectorAll('#runs-table tbody tr[data-ref]')].some(tr => tr.dataset.live === '1')",
            timeout=20_000,
        )
        live = next(r["_ref"] for n, r in rows(page).items() if n == "growing")
        page.goto(f"{ui.url}/#/run/{urllib.parse.quote(live, safe='')}?tab=charts")
        until(page, "window.runship.charts['train/loss'] && window.runship.charts['train/loss'].series.length")
        first = chart(page, "train/loss")["series"][0]["x"][-1]
        until(
            page, f"window.runship.charts['train/loss'].series[0].x.at(-1) > {first} + 50", timeout=15_000
        )  # new points, no reload
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        w.check_clean()
    finally:
        p.kill()
        p.wait()


def test_wandb_plot_charts_are_drawn(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    run_page(w, ui, "sgd", "media")
    until(page, "document.querySelector('.media[data-key=\"curve\"] .plot-chart canvas') !== null")
    title = page.locator('.media[data-key="curve"] .plot-title').inner_text()
    assert title == "squares"
    painted = page.locator('.media[data-key="curve"] .plot-chart canvas').first.evaluate(
        "(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert painted > 100
    until(page, "document.querySelector('.media[data-key=\"cm\"] table.confusion') !== null")
    cells = page.locator('.media[data-key="cm"] table.confusion tbody tr').all_inner_texts()
    assert [c.split() for c in cells] == [["no", "1", "0"], ["yes", "1", "1"]]
    w.check_clean()


def test_a_root_that_cannot_be_listed_is_named_and_the_others_still_shown(root, tmp_path, open_page):
    """Issue 25 item 4: a root removed while the UI runs is named above the
    table with why; the other root's runs are still listed."""
    import shutil

    gone = str(tmp_path / "gone")
    run = runship.init(project="g", name="lost", dir=gone, settings=SETTINGS, reinit="create_new")
    run.finish(quiet=True)
    s = UIServer([root, gone], str(tmp_path)).start()
    try:
        shutil.rmtree(gone)
        w = open_page(s, UIServer.TOKEN)
        w.page.wait_for_selector("#root-errors li")
        assert f"could not list {gone}: no run root at {gone}" in w.page.locator("#root-errors").inner_text()
        assert "adam" in names(w.page) and "lost" not in names(w.page)
        w.check_clean()
    finally:
        s.stop()


def test_a_navigation_made_while_the_landing_lists_runs_wins(ui, browser):
    """The landing (``/``), once its run list comes back with runs of one
    project, moves to that project's workspace, unless the address has
    changed since it opened: the newer address wins, even when the landing's
    answer arrives between the address changing and its hashchange (a race
    seen in CI: a test opened ``/#/runs`` and was taken to the workspace)."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        w = Watched(page, ui.url)
        page.add_init_script(
            """(() => { const real = window.fetch; let release; const held = new Promise((r) => { release = r; });
                window.__releaseRuns = () => release();
                window.fetch = (url, init) => String(url).includes('/api/runs') && !window.__passed
                    ? held.then(() => { window.__passed = true; return real(url, init); }) : real(url, init); })()"""
        )
        sign_in_url = f"{ui.url}/ui/signin#token={urllib.parse.quote(UIServer.TOKEN, safe='')}"
        page.goto(sign_in_url)
        page.wait_for_url(lambda url: url.partition("#")[0] == ui.url + "/", wait_until="load")
        # the address changes with no hashchange yet; then the landing's list answers
        page.evaluate("() => { history.replaceState(null, '', '#/runs'); window.__releaseRuns(); }")
        # the landing has its answer (its project list filled; before the fix, it moved away at once)
        until(page, "document.querySelectorAll('#ws-project option').length > 1 || location.hash.includes('workspace')")
        page.evaluate("() => window.dispatchEvent(new HashChangeEvent('hashchange'))")
        page.wait_for_selector("#runs-table tbody tr[data-ref]", timeout=15_000)
        assert urllib.parse.urlparse(page.url).fragment.startswith("/runs")
        w.check_clean()
    finally:
        context.close()
