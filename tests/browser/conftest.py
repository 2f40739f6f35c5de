"""A real headless Chromium (Debian's, at /usr/bin/chromium or
$RUNSHIP_CHROMIUM) driven by Playwright; no browser is ever downloaded.
Every page records its requests, console errors and page errors, and each
test ends by checking that no request left 127.0.0.1 and nothing went
wrong in the page."""

from __future__ import annotations

import os

import pytest

from tests.browser.chromium import CHROMIUM_FLAGS, chromium_path, sign_in
from tests.servers import UIServer

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test (`make test-browser`), marked or not."""
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium: install Debian's chromium (apt-get install chromium), then make test-browser")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Watched:
    """A page and what it did: requests, console errors, page errors."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def check_clean(self) -> None:
        outside = [u for u in self.requests if not u.startswith((self.base, "data:", "blob:"))]
        assert outside == [], f"requests that left {self.base}: {outside[:5]}"
        assert self.errors == [], self.errors[:5]


@pytest.fixture
def open_page(browser):
    """open_page(server, token=...) -> Watched, signed in (the cookie set
    from a URL like the printed one, ``/ui/signin#token=...``), viewport 1400x900,
    on the runs table (``/#/runs``; the landing ``/`` is the workspace page)."""
    contexts = []
    watched: list[Watched] = []

    def open_(server, token: str | None = None, path: str = "/#/runs", width: int = 1400, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        w = Watched(page, server.url)
        watched.append(w)
        if token is not None:
            sign_in(page, server.url, token)  # the page posts the fragment's token: the cookie is set
        page.goto(server.url + path)
        return w

    yield open_
    try:
        for w in watched:
            w.check_clean()
    finally:
        for c in contexts:
            c.close()


@pytest.fixture(scope="module")
def ui(root, tmp_path_factory):
    """`runship ui` over the test module's own ``root`` fixture (its runs), for the module's tests."""
    s = UIServer([root], str(tmp_path_factory.mktemp("ui"))).start()
    yield s
    s.stop()
