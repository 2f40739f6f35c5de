"""`runship ui`'s own server against hostile clients, over real HTTP to real
`runship ui` processes (and `runship serve`, which serves the same app at
`/`): sign-in bodies that are huge, chunked or slow, a thousand half-sent
heads, two UIs on one host and their cookies, Host headers of other names
(DNS rebinding), and where the printed token goes."""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import select
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.hostile.craft import peak_rss_mb, row, start, write_run
from tests.servers import RunshipServer, UIServer, still_open

LIMITS = ["--head-timeout", "2", "--body-timeout", "1"]
LOGIN_LIMIT = 8192  # the sign-in form's largest body


@pytest.fixture
def runs(tmp_path):
    root = str(tmp_path / "runs")
    write_run(root, [[start(), row(0, {"x": 1})]], project="p", run="r")
    return root


@pytest.fixture
def ui(runs, tmp_path):
    s = UIServer([runs], str(tmp_path), extra=LIMITS).start()
    yield s
    s.stop()


@pytest.fixture(params=["ui", "serve"])
def app_server(request, runs, tmp_path):
    """`runship ui`, or `runship serve` (its 64 MiB body limit), with a body
    timeout long enough that a 408 cannot be mistaken for a 413."""
    limits = ["--head-timeout", "5", "--body-timeout", "10"]
    if request.param == "ui":
        s = UIServer([runs], str(tmp_path), extra=limits).start()
    else:
        s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=limits).start()
    yield s
    s.stop()


def _get(port: int, path: str, host: str | None, token: str | None = None, method="GET", body=None):
    """(status, lower-case headers, body); ``host``: the Host header sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {} if host is None else {"Host": host}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def _status_line(sock: socket.socket, timeout: float) -> bytes:
    """The first line the server sends, or b"" when it closes without one."""
    sock.settimeout(timeout)
    got = b""
    while b"\r\n" not in got:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return got.split(b"\r\n", 1)[0]


def _login_head(port: int, extra: str) -> bytes:
    return (
        f"POST /ui/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    ).encode()


# ---- finding 2: the UI's server has the guard of runship serve ---------------------------------------------------


def test_a_sign_in_body_declared_over_8_kib_is_413_before_it_is_read(app_server):
    """1 MiB declared (under serve's 64 MiB), 1 KiB sent: the answer is 413
    at once, without waiting for (or reading) the rest."""
    with socket.create_connection(("127.0.0.1", app_server.port), timeout=10) as c:
        c.sendall(_login_head(app_server.port, f"Content-Length: {1 << 20}\r\n") + b"token=" + b"x" * 1024)
        t0 = time.monotonic()
        line = _status_line(c, timeout=8)
    assert line.startswith(b"HTTP/1.1 413"), line
    assert time.monotonic() - t0 < 5


def test_a_chunked_sign_in_body_is_cut_at_8_kib(app_server):
    """A chunked body of up to 96 MiB: the server answers 413 once it has
    read past 8 KiB; the client gets to send only what the socket buffers
    hold, and the server's memory does not grow with the body."""
    before = peak_rss_mb(app_server.proc.pid)
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    sent, pending, line = 0, b"", b""
    with socket.create_connection(("127.0.0.1", app_server.port), timeout=10) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        c.sendall(_login_head(app_server.port, "Transfer-Encoding: chunked\r\n") + b"6\r\ntoken=\r\n")
        c.setblocking(False)
        deadline = time.monotonic() + 60
        while sent < 96 << 20 and time.monotonic() < deadline:
            readable, writable, _ = select.select([c], [c], [], 5)
            if readable:
                break
            if writable:
                pending = pending or chunk
                try:
                    n = c.send(pending)
                    sent, pending = sent + n, pending[n:]
                except BlockingIOError:
                    continue
                except OSError:  # the server answered and closed: the answer is still in our buffer
                    break
        c.setblocking(True)
        line = _status_line(c, timeout=10)
    assert line.startswith(b"HTTP/1.1 413"), (line, sent)
    assert sent < 8 << 20, f"the server read {sent / 2**20:.0f} MiB of a sign-in body"
    assert peak_rss_mb(app_server.proc.pid) - before < 32


def test_slow_sign_in_bodies_get_408_and_are_closed(ui):
    """200 connections each sending 10 bytes of a 1,000-byte body, then
    nothing: each gets 408 once the body timeout (1 s) has passed, and is
    closed; the page's files are served meanwhile."""
    held = []
    try:
        for _ in range(200):
            c = socket.create_connection(("127.0.0.1", ui.port), timeout=10)
            c.sendall(_login_head(ui.port, "Content-Length: 1000\r\n") + b"token=0123")
            held.append(c)
        status, _, _ = _get(ui.port, "/ui/static/app.css", f"127.0.0.1:{ui.port}")
        assert status == 200
        deadline = time.monotonic() + 20
        answers = [_status_line(c, timeout=max(0.1, deadline - time.monotonic())) for c in held]
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), sorted(set(answers))
        for c in held:  # and closed by the server
            c.settimeout(5)
            while c.recv(4096):
                pass
    finally:
        for c in held:
            c.close()


def _closed_by_server(sockets: list[socket.socket], within: float) -> bool:
    """Whether the server closes every one of these connections within ``within`` seconds."""
    deadline = time.monotonic() + within
    while still_open(sockets):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("command", ["ui", "serve"])
def test_both_web_entry_points_cut_off_slow_and_oversized_clients_alike(runs, tmp_path, command):
    """The one web app under either command, with the same limits (a 2 s
    head, a 1 s body pause, 4 connections a client, an 8 KiB body): a
    client over the connection cap loses its oldest idle connections at
    once, a head never finished is closed, a body that stops gets 408 and
    a body declared too large 413; the page's files are served throughout."""
    limits = ["--head-timeout", "2", "--body-timeout", "1", "--per-client", "4"]
    if command == "ui":
        s = UIServer([runs], str(tmp_path), extra=limits).start()
    else:
        s = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=[*limits, "--max-body", str(LOGIN_LIMIT)])
        s.start()
    held: list[socket.socket] = []
    try:
        for _ in range(8):  # half-sent heads, one client: the first four are closed to let the last four in
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n".encode())
            held.append(c)
            time.sleep(0.05)  # (admitted in this order)
        assert _closed_by_server(held[:4], within=1.5)
        assert _closed_by_server(held[4:], within=10)  # their heads overdue
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(_login_head(s.port, "Content-Length: 1000\r\n") + b"token=0123")
            assert _status_line(c, timeout=10).startswith(b"HTTP/1.1 408")
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(_login_head(s.port, f"Content-Length: {LOGIN_LIMIT + 1}\r\n") + b"token=")
            assert _status_line(c, timeout=10).startswith(b"HTTP/1.1 413")
        assert _get(s.port, "/ui/static/app.css", f"127.0.0.1:{s.port}")[0] == 200
    finally:
        for c in held:
            c.close()
        s.stop()


@pytest.mark.heavy  # a thousand connections held open: `make test-heavy`
def test_a_thousand_slow_heads_do_not_stop_the_ui(runs, tmp_path):
    """As test_server.py::test_a_thousand_slow_connections_do_not_stop_health,
    against `runship ui` with an open-file limit of 1,024: its files still
    answer within 1 s, and the held connections are closed once their head
    is overdue."""
    s = UIServer([runs], str(tmp_path), extra=["--head-timeout", "3"], nofile=1024).start()
    held = []
    try:
        for _ in range(1000):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            c.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n".encode())  # never the blank line
            held.append(c)
        for _ in range(5):
            t0 = time.monotonic()
            status, _, _ = _get(s.port, "/ui/static/app.css", f"127.0.0.1:{s.port}")
            assert status == 200 and time.monotonic() - t0 < 1.0
        time.sleep(4)  # past the head timeout: every slow connection is closed by the server
        assert still_open(held) == 0
        assert os.path.getsize(s.log_path) < 20_000, s.log()[-2000:]
        assert "Too many open files" not in s.log()
    finally:
        for c in held:
            c.close()
        s.stop()


# ---- finding 8: one cookie per UI ---------------------------------------------------------------------------------


def test_two_uis_on_one_host_keep_their_own_cookies(runs, tmp_path):
    """Cookies ignore ports: one browser signed in to two `runship ui` on
    127.0.0.1 holds a cookie for each, and both pages keep working."""
    a = UIServer([runs], str(tmp_path), token="first-ui-token-0123456789abcdef").start()
    b = UIServer([runs], str(tmp_path), token="second-ui-token-0123456789abcdef").start()
    try:
        jar = http.cookiejar.CookieJar()  # like a browser's: a cookie of 127.0.0.1 goes to every port
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for s in (a, b):
            form = urllib.parse.urlencode({"token": s.token}).encode()
            assert browser.open(s.url + "/ui/login", data=form, timeout=30).status == 200  # after the 303
        assert {c.name for c in jar} == {f"runship_ui_{a.port}", f"runship_ui_{b.port}"}
        for s in (a, b):
            assert browser.open(s.url + "/ui/api/runs", timeout=30).status == 200
    finally:
        a.stop()
        b.stop()


# ---- finding 9: only the Host names the server was started for ---------------------------------------------------

FOREIGN = ["rebind.example", "rebind.example:{port}", "127.0.0.1.rebind.example:{port}", "localhost.:{port}x"]
LOOPBACK = ["127.0.0.1:{port}", "localhost:{port}", "LocalHost", "[::1]:{port}", "127.0.0.1"]


def test_a_page_of_another_host_name_gets_400_from_the_ui(runs, tmp_path):
    """With --no-token a page of any name that resolves to 127.0.0.1 (DNS
    rebinding) would read the runs: only loopback names are answered."""
    s = UIServer([runs], str(tmp_path), no_token=True).start()
    try:
        for host in FOREIGN:
            for path in ("/", "/ui/api/runs"):
                status, _, body = _get(s.port, path, host.format(port=s.port))
                assert status == 400 and b"Host" in body, (host, path, status, body[:200])
        for host in LOOPBACK:
            status, _, body = _get(s.port, "/ui/api/runs", host.format(port=s.port))
            assert status == 200 and b'"p"' in body, (host, status, body[:200])
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:  # no Host at all
            c.sendall(b"GET /ui/api/runs HTTP/1.0\r\n\r\n")
            assert _status_line(c, timeout=10).startswith(b"HTTP/1.1 400")
    finally:
        s.stop()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_page_of_another_host_name_cannot_write_through_serve(tmp_path, workers):
    """--no-auth, one process or workers (which read the names from their
    configuration file): a PUT under another name is refused, unwritten."""
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path), no_auth=True, extra=["--workers", workers]).start()
    try:
        path = "/v1/runs/p/r/derived/run.json"
        status, _, _ = _get(s.port, path, "rebind.example", method="PUT", body=b"{}")
        assert status == 400
        assert not os.path.exists(os.path.join(s.root, "p", "r", "run.json"))
        assert _get(s.port, "/v1/projects", f"rebind.example:{s.port}")[0] == 400
        assert _get(s.port, path, f"localhost:{s.port}", method="PUT", body=b"{}")[0] == 204
    finally:
        s.stop()


def test_the_host_the_ui_was_started_on_is_accepted(runs, tmp_path):
    s = UIServer([runs], str(tmp_path), no_token=True, host="127.0.0.2").start()
    try:
        conn = http.client.HTTPConnection("127.0.0.2", s.port, timeout=30)
        conn.request("GET", "/ui/api/runs")  # Host: 127.0.0.2:PORT
        assert conn.getresponse().status == 200
        conn.close()
        for host in ("rebind.example", f"127.0.0.3:{s.port}"):
            conn = http.client.HTTPConnection("127.0.0.2", s.port, timeout=30)
            conn.request("GET", "/ui/api/runs", headers={"Host": host})
            assert conn.getresponse().status == 400, host
            conn.close()
    finally:
        s.stop()


def test_allow_host_names_a_proxy_name_and_a_wildcard_address_takes_any(runs, tmp_path):
    """--allow-host adds a name (a reverse proxy's); a server on a wildcard
    address (0.0.0.0) has a token and no fixed name: it takes any Host."""
    proxied = RunshipServer(str(tmp_path / "served"), str(tmp_path), extra=["--allow-host", "Runs.Example.org"])
    proxied.start()
    try:
        token = RunshipServer.TOKEN
        assert _get(proxied.port, "/v1/projects", "runs.example.org", token=token)[0] == 200
        assert _get(proxied.port, "/v1/projects", "other.example.org", token=token)[0] == 400
    finally:
        proxied.stop()
    s = UIServer([runs], str(tmp_path), host="0.0.0.0").start()
    try:
        status, _, _ = _get(s.port, "/ui/api/runs", "any.example", token=s.token)
        assert status == 200
    finally:
        s.stop()


# ---- finding 11: the printed token stays out of URLs the browser keeps or sends ----------------------------------


def test_the_printed_url_carries_the_token_in_its_fragment(runs, tmp_path):
    """The URL printed holds the token after `#`, which a browser never
    sends; the sign-in page (no data, 200) posts it once. A token in the
    query (`/?token=`) is no longer taken: it would reach the server's and
    proxies' logs."""
    s = UIServer([runs], str(tmp_path), random_token=True).start()
    try:
        pattern = rf"http://127\.0\.0\.1:{s.port}/ui/signin#token=[A-Za-z0-9_-]{{43}}"
        assert re.fullmatch(pattern, s.signin_url), s.signin_url
        status, headers, body = _get(s.port, "/ui/signin", f"127.0.0.1:{s.port}")
        assert status == 200 and b'src="/ui/static/login.js"' in body and b"input" in body
        assert _get(s.port, "/", f"127.0.0.1:{s.port}")[0] == 401
        status, headers, _ = _get(s.port, f"/?token={s.token}", f"127.0.0.1:{s.port}")
        assert status == 401 and "set-cookie" not in headers
        status, headers, _ = _get(
            s.port, "/ui/login", f"127.0.0.1:{s.port}", method="POST", body=urllib.parse.urlencode({"token": s.token})
        )
        from runship.web.auth import Token

        assert status == 303 and f"runship_ui_{s.port}={Token(s.token).session}" in headers["set-cookie"]
        assert s.token not in headers["set-cookie"]
        status, headers, body = _get(s.port, "/ui/static/login.js", f"127.0.0.1:{s.port}")
        assert status == 200 and b"replaceState" in body and headers["content-type"].startswith("text/javascript")
    finally:
        s.stop()
