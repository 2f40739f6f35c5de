"""Driving Debian's Chromium (never a downloaded browser): its flags, where
it is, and waiting on the page. Shared by the browser tests, the UI
benchmark and the screenshot tool."""

from __future__ import annotations

import os
import shutil
from urllib.parse import quote

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


def wait_ready(page, timeout: float = 20_000) -> None:
    """Wait until the view shown has drawn what it first shows (``window.runship.ready``)."""
    until(page, "window.runship && window.runship.ready === true", timeout=timeout)


def sign_in(page, base: str, token: str, timeout: float = 15_000) -> None:
    """Open ``base/ui/signin#token=TOKEN``, as the URL ``runship ui``
    prints, and wait until the app's page, which the sign-in page's script
    loads once the token is posted and the cookie set, has loaded."""
    page.goto(f"{base}/ui/signin#token={quote(token, safe='')}")
    page.wait_for_url(lambda url: url.partition("#")[0] == base + "/", wait_until="load", timeout=timeout)
