"""The page and wsstore's parts, in a real headless Chromium: the console's
unfinished line (a progress bar drawn by a live process) shown in progress
and replaced at each poll, and a bookmark that keeps working when
`runship ui` restarts on the same port with the same token."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.parse

import runship
from tests.browser.chromium import until
from tests.conftest import ROOT
from tests.servers import UIServer, free_port
from tests.test_console_partial import SCRIPT

PARTIAL = "document.querySelector('#console .line.partial')"


def test_the_console_shows_a_live_bar_in_progress_and_replaces_it(tmp_path, open_page):
    root = str(tmp_path / "runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env.update(PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), root, "wrap", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = None
    try:
        until_file(os.path.join(root, "live", "bar"))
        ui = UIServer([root], str(tmp_path)).start()
        w = open_page(ui, UIServer.TOKEN, path="/#/run/" + urllib.parse.quote("0:live/bar", safe="") + "?tab=console")
        page = w.page
        until(page, f"{PARTIAL} !== null && {PARTIAL}.textContent.startsWith('step ')", timeout=30_000)
        first = page.evaluate(f"{PARTIAL}.textContent")
        assert page.evaluate(f"{PARTIAL} === document.querySelector('#console').lastElementChild")
        assert page.evaluate(f"{PARTIAL}.dataset.stream") == "stdout"
        assert page.evaluate(f"getComputedStyle({PARTIAL}).borderLeftStyle") == "solid"  # styled as in progress
        # the next polls replace it: one unfinished line, newer, no pile of old states
        until(page, f"{PARTIAL} !== null && {PARTIAL}.textContent !== {first!r}", timeout=30_000)
        assert page.evaluate("document.querySelectorAll('#console .line.partial').length") == 1
        assert (
            page.evaluate(
                "[...document.querySelectorAll('#console .line')].filter(l => l.textContent.startsWith('step ')).length"
            )
            == 1
        )
        open(tmp_path / "stop", "w").close()
        assert proc.wait(60) == 0
        frames = open(tmp_path / "frames").read()
        until(
            page,
            f"[...document.querySelectorAll('#console .line')].some(l => l.textContent === 'step {frames}/100000 done')",
            timeout=30_000,
        )
        until(page, f"{PARTIAL} === null", timeout=30_000)
        texts = page.evaluate("[...document.querySelectorAll('#console .line')].map(l => l.textContent)")
        assert texts[0] == "starting" and [t for t in texts if t.startswith("step ")] == [f"step {frames}/100000 done"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if ui is not None:
            ui.stop()


def until_file(path: str) -> None:
    import time

    deadline = time.time() + 60
    while not os.path.isdir(path):
        assert time.time() < deadline, f"never made: {path}"
        time.sleep(0.1)


def test_a_bookmark_keeps_working_after_a_restart_with_the_same_token(tmp_path, browser):
    root = str(tmp_path / "runs")
    r = runship.init(
        dir=root, project="vision", name="kept", settings={"quiet": True, "environment": False, "console": "off"}
    )
    r.log({"loss": 1.0})
    r.finish()
    port = free_port()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    ui = UIServer([root], str(tmp_path), port=port).start()
    try:
        page = context.new_page()
        from tests.browser.chromium import sign_in

        sign_in(page, ui.url, UIServer.TOKEN)
        page.goto(ui.url + "/#/runs")  # the landing is the workspace: bookmark the runs table
        page.wait_for_selector("#runs-table tbody tr[data-ref]")
        bookmark = page.url
        cookie = next(c for c in context.cookies() if c["name"] == f"runship_ui_{port}")
        assert UIServer.TOKEN not in cookie["value"] and cookie["expires"] > 0  # not the token; kept past the session
        ui.stop()
        ui = UIServer([root], str(tmp_path), port=port).start()
        page.goto(bookmark)  # as a bookmark opened after the restart
        page.wait_for_selector("#runs-table tbody tr[data-ref]")
        assert page.locator("input[name=token]").count() == 0
        assert page.evaluate(
            "[...document.querySelectorAll('#runs-table tbody tr[data-ref] td[data-col=name]')].map(td => td.textContent.trim())"
        ) == ["kept"]
    finally:
        context.close()
        ui.stop()
