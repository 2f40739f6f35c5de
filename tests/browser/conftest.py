"""A real headless Chromium (Debian's, at /usr/bin/chromium or
$RUNSHIP_CHROMIUM) driven by Playwright; no browser is ever downloaded.
Every page records its requests, console errors and page errors, and each
test ends by checking that no request left 127.0.0.1 and nothing went
wrong in the page."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


def chromium_path() -> str | None:
    given = os.environ.get("RUNSHIP_CHROMIUM")
    if given:
        return given
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name) if not name.startswith("/") else (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium: install Debian's chromium (make test runs these tests only when it is there)")
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
    from the printed URL), viewport 1400x900."""
    contexts = []
    watched: list[Watched] = []

    def open_(server, token: str | None = None, path: str = "/", width: int = 1400, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        w = Watched(page, server.url)
        watched.append(w)
        if token is not None:
            page.goto(f"{server.url}/?token={token}")  # sets the cookie, redirects to /
        page.goto(server.url + path)
        return w

    yield open_
    try:
        for w in watched:
            w.check_clean()
    finally:
        for c in contexts:
            c.close()


def until(page, expr: str, timeout: float = 15_000) -> None:
    """Wait until the JavaScript expression ``expr`` holds in the page,
    checked every few milliseconds inside the page. (Playwright's
    wait_for_function would eval the string there, which the app's
    Content-Security-Policy forbids, as it should; a function passed to
    evaluate is not eval.)"""
    ok = page.evaluate(
        f"""() => new Promise((resolve) => {{
            const t0 = performance.now();
            const tick = () => {{
                let ok = false;
                try {{ ok = !!({expr}); }} catch (e) {{ ok = false; }}
                if (ok) return resolve(true);
                if (performance.now() - t0 > {timeout}) return resolve(false);
                setTimeout(tick, 5);
            }};
            tick();
        }})"""
    )
    assert ok, f"not true within {timeout / 1000:.0f} s: {expr}"
