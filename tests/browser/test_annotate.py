"""Renaming, tagging and noting a run from its overview in a real headless
Chromium, read back by ``runship show`` (a process) and ``runship.Api``;
an error shown in the status line; a SIGKILLed run's overview saying how it
ended; the sessions table kept inside its card at 1280x720."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import pytest

import runship
from runship.reader.annotate import annotate
from tests.browser.chromium import until
from tests.conftest import child_env, popen_python

pytestmark = pytest.mark.browser

SETTINGS = {"quiet": True, "environment": False, "console": "off"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """adam and full (finished; full has 100 tags already), killed (SIGKILLed: crashed)."""
    root = str(tmp_path_factory.mktemp("annotate") / "runs")
    for rid, name in (("adam01", "adam"), ("full01", "full")):
        run = runship.init(
            project="p", id=rid, name=name, tags=["base"], dir=root, settings=SETTINGS, reinit="create_new"
        )
        run.log({"loss": 1.0})
        run.finish()
    annotate(os.path.join(root, "p", "full01"), {"tags_add": [f"t{i}" for i in range(99)]}, root=root)
    kill = popen_python(
        f"""
        import sys, runship
        run = runship.init(project="p", id="killed01", name="killed", dir={root!r},
                           settings={{"quiet": True, "environment": False, "heartbeat_interval": 0.5}})
        for i in range(20):
            run.log({{"loss": 1.0 + i}})
        print("step ok", flush=True)
        run.flush()
        sys.stdout.write("READY\\n"); sys.stdout.flush()
        import time; time.sleep(600)
        """
    )
    line = ""
    deadline = time.time() + 60
    while "READY" not in line and time.time() < deadline:
        line = kill.stdout.readline()
    time.sleep(1.5)
    kill.send_signal(signal.SIGKILL)
    kill.wait()
    time.sleep(3)  # its heartbeat is overdue: crashed
    return root


def overview(w, ui, run_id):
    ref = f"0:p/{run_id}"
    w.page.goto(f"{ui.url}/#/run/{urllib.parse.quote(ref, safe='')}?tab=overview")
    until(w.page, "window.runship && window.runship.ready === true")
    w.page.wait_for_selector("#name-editor .name-text")
    return ref


def tags_shown(page):
    return page.evaluate("() => [...document.querySelectorAll('#tag-editor .tag-chip')].map(c => c.dataset.tag)")


def test_a_tag_a_note_and_a_new_name_from_the_page_are_read_back_by_show_and_api(root, ui, open_page):
    w = open_page(ui, token=ui.token)
    overview(w, ui, "adam01")
    page = w.page
    assert tags_shown(page) == ["base"]
    page.click("#name-editor button.rename")
    page.fill("#name-editor input.name-input", "adam, renamed")
    page.press("#name-editor input.name-input", "Enter")
    until(page, "document.querySelector('#name-editor .name-text')?.textContent === 'adam, renamed'")
    assert page.text_content(".run-header .run-name") == "adam, renamed"
    page.fill("#tag-editor input.tag-input", "best")
    page.press("#tag-editor input.tag-input", "Enter")
    until(page, "!!document.querySelector('#tag-editor .tag-chip[data-tag=\"best\"]')")
    page.click("#tag-editor .tag-chip[data-tag='base'] button.tag-x")
    until(page, "!document.querySelector('#tag-editor .tag-chip[data-tag=\"base\"]')")
    assert tags_shown(page) == ["best"]
    page.fill("#tag-editor input.tag-input", "<img src=x onerror=window.__pwned=1>")
    page.press("#tag-editor input.tag-input", "Enter")
    until(page, "document.querySelectorAll('#tag-editor .tag-chip').length === 2")
    assert page.evaluate("() => document.querySelectorAll('#tag-editor img').length === 0 && !window.__pwned")
    page.click("#tag-editor .tag-chip:nth-child(2) button.tag-x")
    until(page, "document.querySelectorAll('#tag-editor .tag-chip').length === 1")
    page.fill("#notes-editor textarea", "diverged at 12k\n<b>not bold</b>")
    page.click("#notes-editor button.save-notes")
    until(page, "document.querySelector('#notes-editor .notes-said').textContent === 'saved'")
    assert page.is_hidden("#status")

    out = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", root, "show", "p/adam01", "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert (shown["name"], shown["tags"], shown["notes"]) == (
        "adam, renamed",
        ["best"],
        "diverged at 12k\n<b>not bold</b>",
    )
    run = runship.Api(root).run("p/adam01")
    assert (run.name, run.tags, run.notes) == ("adam, renamed", ["best"], "diverged at 12k\n<b>not bold</b>")

    # the runs table, once reloaded, shows them (merged by the API), and the notes stay text
    page.goto(ui.url + "/#/runs")
    page.wait_for_selector("#runs-table tbody tr[data-ref='0:p/adam01']")
    cells = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("#runs-table tr[data-ref='0:p/adam01'] td[data-col]")]
            .map(td => [td.dataset.col, td.textContent.trim()]))"""
    )
    assert cells["name"] == "adam, renamed" and "best" in cells.get("tags", "best")
    overview(w, ui, "adam01")
    assert page.input_value("#notes-editor textarea") == "diverged at 12k\n<b>not bold</b>"
    assert page.evaluate("() => document.querySelectorAll('#notes-editor b').length") == 0


def test_a_refused_change_is_said_in_the_status_line(ui, open_page):
    w = open_page(ui, token=ui.token)
    overview(w, ui, "full01")
    page = w.page
    assert len(tags_shown(page)) == 100
    page.fill("#tag-editor input.tag-input", "one-too-many")
    page.press("#tag-editor input.tag-input", "Enter")
    page.wait_for_selector("#status:not([hidden])")
    assert "a run holds at most 100 tags" in page.text_content("#status")
    assert len(tags_shown(page)) == 100 and "one-too-many" not in tags_shown(page)
    w.errors = [e for e in w.errors if "400" not in e]  # the refused request, as the console logs it


def test_a_killed_run_says_how_it_ended_and_its_sessions_stay_in_their_card(ui, open_page):
    w = open_page(ui, token=ui.token, width=1280, height=720)
    overview(w, ui, "killed01")
    page = w.page
    note = page.text_content("#ending-note")
    assert "ended without finish(): killed" in note
    assert page.query_selector(".no-problems") is None
    colour = page.evaluate("() => getComputedStyle(document.querySelector('#ending-note')).color")
    assert colour == "rgb(178, 106, 0)"  # --warn
    fit = page.evaluate(
        """() => {
            const table = document.querySelector('#sessions-table');
            const card = table.closest('.card');
            const scroll = table.closest('.table-scroll');
            const main = document.querySelector('.overview').getBoundingClientRect();
            return {card: card.getBoundingClientRect().right, main: main.right, page: document.documentElement.scrollWidth,
                    view: window.innerWidth, wide: scroll.scrollWidth > scroll.clientWidth};
        }"""
    )
    assert not fit["wide"], fit  # the whole table shows within its card: no column cut off
    assert fit["card"] <= fit["main"] + 0.5 and fit["page"] <= fit["view"], fit
    heads = page.evaluate("() => [...document.querySelectorAll('#sessions-table th')].map(th => th.textContent)")
    assert heads[:7] == ["id", "host", "pid", "start", "last write", "rows", "end"]
    assert page.text_content("#sessions-table tbody td:nth-child(7)") == "no finish"
