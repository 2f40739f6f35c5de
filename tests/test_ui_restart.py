"""Bookmarks that survive a restart: a page signed in to ``runship ui
--port N`` with a token of the user's own (a token file, $RUNSHIP_UI_TOKEN)
stays signed in when the UI is stopped and started again on the same port
with the same token: real ``runship ui`` processes, one after the other."""

from __future__ import annotations

import http.client
import os

import pytest

import runship
from runship.web.auth import Token
from tests.servers import UIServer, free_port

pytestmark = pytest.mark.heavy  # real `runship ui` processes stopped and started again: `make test-heavy`


def _get(port, path, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def _sign_in(port, token):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST", "/ui/login", body=f"token={token}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 303
    return r.getheader("set-cookie")


@pytest.fixture
def root(tmp_path):
    path = str(tmp_path / "runs")
    r = runship.init(dir=path, project="vision", settings={"quiet": True, "environment": False, "console": "off"})
    r.log({"loss": 1.0})
    r.finish()
    return path


def test_a_signed_in_page_stays_signed_in_across_a_restart_with_the_same_token(root, tmp_path):
    port = free_port()
    first = UIServer([root], str(tmp_path), port=port).start()
    try:
        set_cookie = _sign_in(port, UIServer.TOKEN)
    finally:
        first.stop()
    cookie = set_cookie.split(";")[0]
    assert cookie == f"runship_ui_{port}={Token(UIServer.TOKEN).session}"
    assert UIServer.TOKEN not in set_cookie  # the token itself is never in the browser's cookie jar
    assert "Max-Age=" in set_cookie  # kept when the browser restarts too
    again = UIServer([root], str(tmp_path), port=port).start()
    try:
        status, body = _get(port, "/", cookie)
        assert status == 200 and b"/ui/static/app.js" in body
        assert _get(port, "/ui/api/runs", cookie)[0] == 200
    finally:
        again.stop()
    # a different token signs every page out
    other = UIServer([root], str(tmp_path), port=port, token="another-token-0123456789abcdef").start()
    try:
        assert _get(port, "/", cookie)[0] == 401
        assert _get(port, "/ui/api/runs", cookie)[0] == 401
    finally:
        other.stop()


def test_the_environment_token_keeps_pages_signed_in_and_a_random_one_does_not(root, tmp_path, monkeypatch):
    port = free_port()
    first = UIServer([root], str(tmp_path), port=port, random_token=True).start()
    try:
        cookie = _sign_in(port, first.token).split(";")[0]
        assert _get(port, "/", cookie)[0] == 200
    finally:
        first.stop()
    second = UIServer([root], str(tmp_path), port=port, random_token=True).start()
    try:
        assert _get(port, "/", cookie)[0] == 401  # a new random token: signed out
    finally:
        second.stop()
    # $RUNSHIP_UI_TOKEN: the same token at every start
    token = "env-token-0123456789abcdef0123"
    cookies = []
    for _ in range(2):
        s = UIServer([root], str(tmp_path), port=port, random_token=True, env={"RUNSHIP_UI_TOKEN": token}).start()
        try:
            if not cookies:
                cookies.append(_sign_in(port, token).split(";")[0])
            assert _get(port, "/ui/api/runs", cookies[0])[0] == 200
        finally:
            s.stop()
    assert token not in cookies[0] and os.environ.get("RUNSHIP_UI_TOKEN") is None


def test_the_cookie_value_opens_the_web_app_but_is_no_v1_token(tmp_path, root):
    from tests.servers import RunshipServer

    s = RunshipServer(root, str(tmp_path)).start()
    try:
        cookie = _sign_in(s.port, RunshipServer.READ_TOKEN).split(";")[0]
        session = cookie.partition("=")[2]
        assert session == Token(RunshipServer.READ_TOKEN).session
        assert _get(s.port, "/ui/api/runs", cookie)[0] == 200
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        for token, status in ((session, 401), (RunshipServer.READ_TOKEN, 200)):
            conn.request("GET", "/v1/projects", headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            r.read()
            assert r.status == status, token
        conn.close()
    finally:
        s.stop()
