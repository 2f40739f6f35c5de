"""The whole workspace story in a real headless Chromium, as a W&B user
lives it: a panel of two metrics made in the dialog, moved, the workspace
saved by name; `runship ui` stopped and started again on the same port
with the same token; the bookmark opens the same workspace, the panel in
its place with its metrics, and the file on disk says the same."""

from __future__ import annotations

import json
import os

import runship
from tests.browser.chromium import sign_in, until, wait_ready
from tests.servers import UIServer, free_port

SETTINGS = {"quiet": True, "environment": False, "console": "off"}


def make_runs(root: str) -> None:
    for i in range(3):
        run = runship.init(dir=root, project="sweep", name=f"trial-{i}", config={"lr": 10.0**-i}, settings=SETTINGS)
        for step in range(50):
            run.log({"train/loss": 1 / (step + 1 + i), "train/acc": step / 50, "val/loss": 1.2 / (step + 1)})
        run.finish()


def panels_of(page, section: str) -> list[str]:
    return page.evaluate(
        f"() => [...document.querySelectorAll('.chart-section[data-section=\"{section}\"] .panel')]"
        ".map(e => e.dataset.panel || e.dataset.key)"
    )


def add_loss_panel(page) -> str:
    """The panel "losses" (train/loss and val/loss) made in the dialog; its id."""
    page.click("#add-panel")
    page.select_option(".rs-dialog .dlg-type", "line")
    page.fill(".rs-dialog .dlg-metrics .ms-search", "loss")
    page.check('.rs-dialog .dlg-metrics input[value="train/loss"]')
    page.check('.rs-dialog .dlg-metrics input[value="val/loss"]')
    page.fill(".rs-dialog .dlg-title", "losses")
    page.click(".rs-dialog .dlg-add")
    until(page, "[...document.querySelectorAll('.panel .panel-title')].some(e => e.textContent === 'losses')")
    return page.evaluate(
        "[...document.querySelectorAll('.panel')].find(e => e.querySelector('.panel-title').textContent === 'losses')"
        ".dataset.panel"
    )


def test_a_panel_made_moved_and_saved_is_restored_after_a_restart_on_the_same_port_and_token(tmp_path, browser):
    root = str(tmp_path / "runs")
    make_runs(root)
    port = free_port()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    ui = UIServer([root], str(tmp_path), port=port).start()
    try:
        page = context.new_page()
        sign_in(page, ui.url, UIServer.TOKEN)
        page.goto(f"{ui.url}/#/workspace?project=sweep")
        wait_ready(page)
        pid = add_loss_panel(page)
        until(page, f"window.runship.charts['{pid}'] && window.runship.charts['{pid}'].series.length === 6")
        before = panels_of(page, "train")
        assert before[0] == pid  # a new panel comes first in its section
        page.click(f'.panel[data-panel="{pid}"] .gear')
        page.click(f'.panel[data-panel="{pid}"] .ps-later')  # one place later
        until(
            page,
            f"document.querySelectorAll('.chart-section[data-section=\"train\"] .panel')[1].dataset.panel === '{pid}'",
        )
        moved = panels_of(page, "train")
        page.click("body", position={"x": 5, "y": 700})  # the settings close on a click outside
        page.click("#ws-menu summary")
        page.fill("#ws-name", "losses view")
        page.click("#ws-saveas")
        until(page, "document.getElementById('ws-current').textContent === 'losses view'")
        bookmark = page.url
        assert "ws=losses%20view" in bookmark
        stored = json.load(open(os.path.join(root, "sweep", ".workspaces", "losses view.json")))
        train = next(s for s in stored["charts"]["sections"] if s["name"] == "train")
        mine = next(p for p in train["panels"] if p["id"] == pid)
        assert mine["metrics"] == ["train/loss", "val/loss"] and mine["title"] == "losses"

        ui.stop()
        ui = UIServer([root], str(tmp_path), port=port).start()  # the same port, the same token file
        page.goto("about:blank")
        page.goto(bookmark)  # yesterday's bookmark: no sign-in asked for
        wait_ready(page)
        assert page.locator("input[name=token]").count() == 0
        assert page.locator("#ws-current").inner_text() == "losses view"
        until(page, f"window.runship.charts['{pid}'] && window.runship.charts['{pid}'].series.length === 6")
        assert panels_of(page, "train") == moved
        labels = sorted(s["label"] for s in page.evaluate(f"window.runship.charts['{pid}'].series"))
        assert labels == sorted(f"trial-{i} · {m}" for i in range(3) for m in ("train/loss", "val/loss"))
        assert page.locator(f'.panel[data-panel="{pid}"] .panel-title').inner_text() == "losses"
        assert page.locator("#ws-dirty").is_hidden()
    finally:
        context.close()
        ui.stop()
