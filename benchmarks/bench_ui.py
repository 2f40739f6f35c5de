"""What `runship ui` costs, measured in a real headless Chromium (Debian's,
driven by Playwright) against a real `runship ui` on 127.0.0.1:

1. The runs table of RUNS runs: from navigation to the table shown, and a
   filter typed to the table updated.
2. A run page of one run with PANELS metric keys x ROWS rows: from
   navigation to every panel drawn (viewport tall enough to show them all).
3. OVERLAY runs x ROWS rows, one key, overlaid in one chart.
4. A zoom: the range fetched again and drawn.
5. A live run: seconds from a row's log() call to its point on the page.
6. Charts at team scale, over HTTP (no browser): /ui/api/series of TEAM
   runs x ROWS rows, one key, 1,000 points a run, in one request (the most
   a request takes), the whole runs (target <= 1 s) and zooms (<= 0.2 s).

Also the page's weight (every file the page loads). Warm figures are after
one visit (the reader's cache and run index filled); each is the best of
several tries. Runs are kept in --work between invocations (making them
takes minutes); delete it to start again.

Before and after a change: ``--code DIR`` runs the ``runship ui`` of another
checkout (``--code /path/to/main``) on the same runs (each code its own cache).

Usage:
    python benchmarks/bench_ui.py [--runs 10000] [--rows 1000000] [--panels 50] [--overlay 20] [--team 100]
                                  [--work DIR] [--only page,table,charts,live,team] [--code DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from bench_read import CODE, child, make_many  # noqa: E402

from tests.browser.chromium import CHROMIUM_FLAGS, sign_in  # noqa: E402
from tests.browser.chromium import until as until_true  # noqa: E402

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}
TOKEN = "bench-ui-token-0123456789abcdef"
FLAGS = CHROMIUM_FLAGS


def make_wide(root: str, rows: int, panels: int) -> None:
    marker = os.path.join(root, f".made-{rows}-{panels}")
    if os.path.exists(marker):
        return
    child(
        f"""
        import math, runship
        run = runship.init(project="wide", id="wide", dir={root!r}, settings={SETTINGS!r})
        keys = [f"{{'train' if i % 2 else 'val'}}/metric_{{i:02d}}" for i in range({panels})]
        row = dict.fromkeys(keys, 0.0)
        for s in range({rows}):
            for i, k in enumerate(keys):
                row[k] = math.sin(s * 1e-4 + i) + i
            run.log(row)
        run.finish()
        """
    )
    open(marker, "w").close()


def make_overlay(root: str, rows: int, runs: int) -> None:
    marker = os.path.join(root, f".made-{rows}-{runs}")
    if os.path.exists(marker):
        return
    code = """
        import runship
        runs = [runship.init(project="overlay", id=f"o{{i:02d}}", dir={root!r}, reinit="create_new",
                             config={{"seed": i}}, settings={settings!r}) for i in {ids}]
        for s in range({rows}):
            for i, run in enumerate(runs):
                run.log({{"loss": 1.0 / (1 + s * 1e-3) + i * 0.01}})
        for run in runs:
            run.finish()
    """
    half = [list(range(0, runs, 2)), list(range(1, runs, 2))]  # two processes: this machine has two cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code.format(root=root, settings=SETTINGS, ids=ids, rows=rows))],
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        for ids in half
    ]
    if any(p.wait() for p in procs):
        raise RuntimeError("making the overlay runs failed")
    open(marker, "w").close()


class UI:
    def __init__(self, roots: list[str], work: str):
        token_file = os.path.join(work, "ui-token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(TOKEN)
        cache = os.path.join(work, "cache-" + os.path.basename(CODE.rstrip(os.sep)))
        env = {**os.environ, "PYTHONPATH": CODE, "RUNSHIP_CACHE_DIR": cache}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runship.cli", "ui", *roots, "--ui-token-file", token_file],
            env=env,
            cwd=CODE,  # python -m puts the working directory first on the path: the code measured's
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.seek(0)
            found = re.search(rb"open (http://127\.0\.0\.1:\d+)/", self.log.read())
            if found:
                self.url = found.group(1).decode()
                return
            time.sleep(0.1)
        raise RuntimeError("runship ui did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def timed(page, go, until: str, timeout: float = 60_000) -> float:
    t0 = time.perf_counter()
    go()
    until_true(page, until, timeout)
    return time.perf_counter() - t0


def best_of(n: int, fn) -> float:
    return min(fn() for _ in range(n))


def line(what: str, seconds: float, target: float | None = None) -> None:
    mark = ""
    if target is not None:
        mark = f"   (target <= {target * 1000:.0f} ms: {'met' if seconds <= target else 'NOT met'})"
    print(f"  {what:<62} {seconds * 1000:9.0f} ms{mark}")


def refs_of(page, project: str) -> list[str]:
    return page.evaluate(
        "async (p) => (await (await fetch('/ui/api/runs?project=' + p)).json()).runs.map(r => r.ref)", project
    )


def get(ui: UI, path: str) -> bytes:
    import urllib.request

    req = urllib.request.Request(ui.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def team(work: str, rows: int, runs: int) -> None:
    """/ui/api/series of ``runs`` runs x ``rows`` rows in one request, warm."""
    import json
    import urllib.error
    from urllib.parse import urlencode

    root = os.path.join(work, f"overlay-{rows}-{runs}")
    t0 = time.time()
    make_overlay(root, rows, runs)
    print(
        f"\n6. /ui/api/series, {runs} runs x {rows:,} rows, one key, 1,000 points a run (runs ready in "
        f"{time.time() - t0:.0f} s)"
    )
    ui = UI([root], work)
    try:
        refs = [r["ref"] for r in json.loads(get(ui, "/ui/api/runs?project=overlay"))["runs"]][:runs]

        per = [100]  # runs a request (a code before 100 were allowed: 50, one request after the other)

        def series(lo: float | None = None, hi: float | None = None) -> float:
            t = time.perf_counter()
            got = {}
            for at in range(0, len(refs), per[0]):
                query = {"run": refs[at : at + per[0]], "keys": "loss", "samples": 1000}
                if lo is not None:
                    query.update(lo=lo, hi=hi)
                try:
                    got.update(json.loads(get(ui, "/ui/api/series?" + urlencode(query, doseq=True)))["runs"])
                except urllib.error.HTTPError as e:
                    if e.code != 400 or per[0] == 50:
                        raise
                    per[0] = 50
                    print("  (this code takes at most 50 runs a request: two requests one after the other)")
                    return series(lo, hi)
            took = time.perf_counter() - t
            assert len(got) == len(refs) and all(len(v["loss"]["x"]) for v in got.values())
            return took

        t = time.perf_counter()
        series()
        line(f"first request of {len(refs)} runs (this server reads them first)", time.perf_counter() - t)
        line(f"warm: all {runs} runs, the whole of each", best_of(3, series), 1.0)
        for lo, hi in (
            (rows // 100, rows * 9 // 10),
            (rows // 10, rows // 10 + rows // 50),
            (rows // 2, rows // 2 + 500),
        ):
            series(lo, hi)
            line(
                f"warm: zoom to steps {lo:,}..{hi:,} ({runs} runs)",
                best_of(3, lambda lo=lo, hi=hi: series(lo, hi)),
                0.2,
            )
    finally:
        ui.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--panels", type=int, default=50)
    ap.add_argument("--overlay", type=int, default=20)
    ap.add_argument("--team", type=int, default=100, help="runs of section 6 (/ui/api/series takes 100 a request)")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "runship-bench-ui"))
    ap.add_argument("--only", default="page,table,charts,live,team")
    ap.add_argument("--code", default=ROOT, help="the checkout whose runship ui is measured (default: this one)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    os.makedirs(args.work, exist_ok=True)
    print(f"code measured: {CODE}")
    if only - {"team"}:
        browser_parts(args, only)
    if "team" in only:
        team(args.work, args.rows, args.team)


def browser_parts(args: argparse.Namespace, only: set[str]) -> None:
    many = os.path.join(args.work, f"many-{args.runs}")
    wide = os.path.join(args.work, f"wide-{args.rows}-{args.panels}")
    overlay = os.path.join(args.work, f"overlay-{args.rows}-{args.overlay}")
    t0 = time.time()
    if "table" in only:
        make_many(many, args.runs)
    if only & {"page", "charts"}:
        make_wide(wide, args.rows, args.panels)
    if "charts" in only:
        make_overlay(overlay, args.rows, args.overlay)
    print(f"runs ready in {time.time() - t0:.0f} s ({args.work})")

    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("RUNSHIP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        print(f"Chromium {browser.version}, headless, on {os.cpu_count()} cores")
        if "page" in only:
            weight(browser, wide, args.work)
        if "table" in only:
            table(browser, many, args)
        if "charts" in only:
            ui = UI([wide, overlay], args.work)
            try:
                charts(browser, ui, args)
            finally:
                ui.stop()
        if "live" in only:
            live(browser, args.work)
        browser.close()


def table(browser, many: str, args: argparse.Namespace) -> None:
    ui = UI([many], args.work)
    try:
        page = signed_in(browser, ui, 1400, 900)
        shown = "document.querySelectorAll('#runs-table tbody tr[data-ref]').length > 0"
        print(f"\n1. runs table, {args.runs:,} runs")
        cold = timed(page, lambda: page.goto(ui.url + "/#/runs?project=many"), shown)
        line("first visit (run index filled)", cold)
        warm = best_of(3, lambda: timed(page, lambda: page.reload(), shown))
        line("warm: navigation to the table shown", warm, 1.0)

        def filtered() -> float:
            page.fill("#filter", "")
            until_true(page, shown)
            return timed(
                page,
                lambda: page.fill("#filter", "config.lr == 0.01 and summary.acc > 0.5"),
                "document.querySelectorAll('#runs-table tbody tr[data-ref]').length > 0 && "
                "[...document.querySelectorAll('#runs-table tbody tr[data-ref]')].length < 5000",
            )

        line("warm: an expression filter typed to the table updated", best_of(3, filtered), 1.0)
        page.context.close()
    finally:
        ui.stop()


def signed_in(browser, ui, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    sign_in(page, ui.url, TOKEN)  # as the printed URL does: the token after #, posted by the page
    return page


def weight(browser, root: str, work: str) -> None:
    ui = UI([root], work)
    try:
        page = signed_in(browser, ui, 1400, 900)
        sizes: dict[str, int] = {}
        page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if "/ui/api/" not in r.url else None)
        page.goto(ui.url + "/")
        until_true(page, "window.runship && window.runship.ready === true", timeout=60_000)
        total = sum(sizes.values())
        print(f"page weight: {total / 1024:.0f} KiB in {len(sizes)} files (no file from outside 127.0.0.1)")
        for url, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"    {n / 1024:7.1f} KiB  {url.split('/', 3)[-1] or '/'}")
        page.context.close()
    finally:
        ui.stop()


def charts(browser, ui, args) -> None:
    page = signed_in(browser, ui, 1400, 20_000)  # tall: every panel is on screen, so every one is drawn
    wide = next(r for r in refs_of(page, "wide"))
    from urllib.parse import quote

    all_drawn = (
        f"window.runship && window.runship.ready && Object.values(window.runship.charts)"
        f".filter(c => c.series.length && c.series[0].x.length).length >= {args.panels}"
    )
    print(f"\n2. one run, {args.panels} panels x {args.rows:,} rows (viewport 1400x20000: all panels on screen)")
    url = f"{ui.url}/#/run/{quote(wide, safe='')}?tab=charts"
    cold = timed(page, lambda: page.goto(url), all_drawn, 600_000)
    line("first visit (this server process reads these runs first)", cold)
    warm = best_of(3, lambda: timed(page, lambda: page.reload(), all_drawn, 120_000))
    line(f"warm: navigation to all {args.panels} panels drawn", warm, 1.5)
    page.context.close()

    page = signed_in(browser, ui, 1400, 900)
    refs = refs_of(page, "overlay")
    print(f"\n3. {len(refs)} runs x {args.rows:,} rows, one chart")
    sel = ",".join(quote(r, safe="") for r in refs)
    drawn = f"window.runship.charts['loss'] && window.runship.charts['loss'].series.length === {len(refs)}"
    url = f"{ui.url}/#/runs?project=overlay&sel={sel}"
    cold = timed(page, lambda: page.goto(url), drawn, 600_000)
    line("first visit (this server process reads these runs first)", cold)
    warm = best_of(3, lambda: timed(page, lambda: page.reload(), drawn, 120_000))
    line(f"warm: navigation to {len(refs)} runs drawn", warm, 1.0)

    print("\n4. zoom (the range fetched again and drawn)")
    n = args.rows
    spans = [(n // 10, n // 10 + n // 50), (n // 2, n // 2 + max(50, n // 2000)), (n // 100, n * 9 // 10)]

    def zoom(lo: int, hi: int) -> float:
        page.evaluate("window.runship.resetZoom()")  # from the whole run each time
        until_true(page, "window.runship.ready === true && !window.runship.charts['loss'].zoom")
        return timed(
            page,
            lambda: page.evaluate(f"window.runship.zoom({lo}, {hi})"),
            f"window.runship.ready === true && window.runship.charts['loss'].zoom && "
            f"window.runship.charts['loss'].zoom[0] === {lo} && "
            f"window.runship.charts['loss'].series.length === {len(refs)} && "
            f"window.runship.charts['loss'].series.every(s => s.x.length && s.x[0] >= {lo} && s.x.at(-1) <= {hi})",
        )

    for lo, hi in spans:
        line(
            f"warm: zoom to steps {lo:,}..{hi:,} ({len(refs)} runs)", best_of(3, lambda lo=lo, hi=hi: zoom(lo, hi)), 0.2
        )
    page.context.close()


def live(browser, work: str) -> None:
    root = os.path.join(work, "live")
    shutil.rmtree(root, ignore_errors=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time, runship
                run = runship.init(project="live", id="live", dir={root!r}, settings={SETTINGS!r})
                while True:
                    run.log({{"wall": time.time()}})
                    time.sleep(0.05)
                """
            ),
        ],
        env={**os.environ, "PYTHONPATH": CODE},
        cwd=CODE,
    )
    try:
        time.sleep(3)
        ui2 = UI([root], work)
        try:
            page = signed_in(browser, ui2, 1400, 900)
            page.goto(f"{ui2.url}/#/run/{'0%3Alive%2Flive'}?tab=charts")
            until_true(page, "window.runship.charts['wall'] && window.runship.charts['wall'].series.length")
            lags = []  # per update: the wait of its oldest new point (logged just after the update before)
            last = 0.0
            deadline = time.time() + 40
            while time.time() < deadline and len(lags) < 8:
                shown = page.evaluate("window.runship.charts['wall'].series[0].raw.filter(v => v)")
                new = [v for v in shown if v > last]
                if new:
                    if last:
                        lags.append(time.time() - min(new))
                    last = max(shown)
                time.sleep(0.02)
            print("\n5. a live run (one row every 50 ms; the writer flushes every second)")
            if lags:
                print(
                    f"  log() to its point on the page, the oldest new point of each update: median "
                    f"{sorted(lags)[len(lags) // 2]:.2f} s, worst {max(lags):.2f} s over {len(lags)} updates "
                    f"(target <= 5 s after the flush)"
                )
            else:
                print("  no update seen in 30 s (target NOT met)")
            page.context.close()
        finally:
            ui2.stop()
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
