"""The README's screenshots of `runship ui`, made from the demo runs
(examples/demo_runs.py) in a real headless Chromium.

python tools/screenshots.py [--root DIR] [--out docs/screenshots]

Without --root, the demo runs are made in a temporary directory first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from bench_ui import FLAGS, UI, signed_in  # noqa: E402

from tests.browser.chromium import until  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", help="a run root holding the demo runs (project 'demo')")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshots"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="runship-shots-")
    root = args.root
    if root is None:
        root = os.path.join(work, "runs")
        for script, steps in (("train.py", "300"), ("demo_runs.py", "2000")):  # train.py versions the dataset
            subprocess.run(
                [sys.executable, os.path.join(ROOT, "examples", script), "--steps", steps],
                env={**os.environ, "PYTHONPATH": ROOT, "RUNSHIP_DIR": root},
                stdout=subprocess.DEVNULL,
                check=True,
            )
    os.makedirs(args.out, exist_ok=True)
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("RUNSHIP_CHROMIUM") or "/usr/bin/chromium"
    ui = UI([root], work)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
            page = signed_in(browser, ui, 1440, 1000)
            runs = page.evaluate("async () => (await (await fetch('/ui/api/runs?project=demo')).json()).runs")
            swept = [r for r in runs if r.get("group")] or runs
            sel = ",".join(quote(r["ref"], safe="") for r in swept)
            for name, width, height in (("workspace.png", 1280, 720), ("workspace-desktop.png", 1920, 1080)):
                shot_workspace(browser, ui, os.path.join(args.out, name), width, height)
            shots = [
                ("runs.png", f"/#/runs?project=demo&sel={sel}&cols=config.lr,config.optimizer,summary.val/acc"),
                ("compare.png", f"/#/compare?runs={sel}"),
                ("run.png", f"/#/run/{quote(swept[0]['ref'], safe='')}?tab=charts"),
                ("media.png", f"/#/run/{quote(swept[0]['ref'], safe='')}?tab=media"),
                ("artifacts.png", "/#/artifacts?project=demo&name=digits"),
            ]
            for name, path in shots:
                page.goto(ui.url + path)
                until(page, "window.runship && window.runship.ready === true", 60_000)
                time.sleep(1.0)  # charts below the fold draw as they come into view
                page.screenshot(path=os.path.join(args.out, name), full_page=False)
                print(f"wrote {os.path.join(args.out, name)}")
            browser.close()
    finally:
        ui.stop()


def shot_workspace(browser, ui, path: str, width: int, height: int) -> None:
    """The workspace page at a screen's size, the cursor over a chart (its tooltip shown)."""
    page = signed_in(browser, ui, width, height)
    page.goto(ui.url + "/#/workspace?project=demo")
    until(page, "window.runship && window.runship.ready === true", 60_000)
    time.sleep(1.0)
    box = page.locator(".panel .panel-plot canvas").nth(1).bounding_box()
    if box is not None:  # over the second chart, two thirds of the way along
        page.mouse.move(box["x"] + box["width"] * 0.66, box["y"] + box["height"] * 0.5)
        time.sleep(0.5)
    page.screenshot(path=path, full_page=False)
    page.close()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
