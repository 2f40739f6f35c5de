"""The web app's HTTP side, over real HTTP to a real ``runship ui`` and a
real ``runship serve``: who may look, what each answer holds, and what a
hostile request gets. (The page itself: tests/browser/.)"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time
import urllib.parse

import numpy as np
import pytest

import runship
from tests.conftest import popen_python
from tests.servers import RunshipServer, UIServer


def call(server, path: str, token: str | None = None, cookie: str | None = None, method="GET", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        h["Cookie"] = f"runship_ui_{server.port}={cookie}"
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def api(server, endpoint: str, token: str = UIServer.TOKEN, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    status, headers, body = call(server, f"/ui/api/{endpoint}?{query}", token=token)
    assert status == 200, (status, body[:500])
    assert headers["content-security-policy"].startswith("default-src 'none'")
    return json.loads(body)


def _make_run(**kwargs):
    settings = {"quiet": True, "environment": False, "console": "off", **kwargs.pop("settings", {})}
    return runship.init(settings=settings, reinit="create_new", **kwargs)


def _write_runs(tmp_path) -> str:
    """Three finished runs of two projects, one failed, with config, summary,
    media, a table, a saved file and one spike among 20,000 steps."""
    root = str(tmp_path / "runs")
    a = _make_run(
        dir=root,
        project="vision",
        name="adam",
        config={"lr": 1e-3, "model": {"width": 256}},
        group="g1",
        settings={"environment": True},
    )
    for step in range(20_000):
        row = {"train/loss": 1.0 / (1 + step), "epoch": step // 1000}
        if step == 12_345:
            row["train/loss"] = 99.0
        if step % 5000 == 0:
            row["img"] = runship.Image(np.full((8, 8, 3), step % 255, dtype=np.uint8), caption=f"at {step}")
            row["weights"] = runship.Histogram(np.arange(100) * (1 + step / 5000))
        a.log(row)
    a.log({"preds": runship.Table(columns=["i", "label"], data=[[i, f"c{i % 3}"] for i in range(30)])})
    with open(os.path.join(str(tmp_path), "notes.txt"), "w") as f:
        f.write("<html><script>alert(1)</script></html>")
    a.save(os.path.join(str(tmp_path), "notes.txt"), base_path=str(tmp_path))
    a.summary["val/acc"] = 0.95
    a.finish()
    b = _make_run(dir=root, project="vision", name="sgd", config={"lr": 1e-2, "model": {"width": 128}}, group="g2")
    b.log({"train/loss": 2.0})
    b.finish(exit_code=3)
    c = _make_run(dir=root, project="nlp", name="<script>alert(1)</script>", config={"lr": 5e-4})
    c.log({"train/loss": 0.5})
    c.finish()
    return root


@pytest.fixture
def runs_root(tmp_path):
    return _write_runs(tmp_path)


@pytest.fixture
def ui(runs_root, tmp_path):
    s = UIServer([runs_root], str(tmp_path)).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ui_to_read(tmp_path_factory):
    """The same runs and UI shared by the tests that only read them."""
    tmp_path = tmp_path_factory.mktemp("ui")
    s = UIServer([_write_runs(tmp_path)], str(tmp_path)).start()
    yield s
    s.stop()


def refs(server) -> dict[str, dict]:
    return {r["name"]: r for r in api(server, "runs")["runs"]}


def test_nothing_is_answered_without_the_token(ui_to_read):
    for path in ("/", "/ui/api/runs", "/ui/api/run?run=0:vision/x", "/ui/api/file?run=0:vision/x&path=run.json"):
        status, _, body = call(ui_to_read, path)
        assert status == 401, path
        assert b"alert" not in body
    assert call(ui_to_read, "/ui/api/runs", token="wrong")[0] == 401
    assert call(ui_to_read, "/ui/api/runs", cookie="wrong")[0] == 401
    assert call(ui_to_read, "/?token=wrong")[0] == 401
    # the page's own files carry no data: they need no token, but nothing outside them is served
    assert call(ui_to_read, "/ui/static/vendor/uPlot.min.css")[0] == 200
    for path in ("/ui/static/../data.py", "/ui/static/%2e%2e/app.py", "/ui/static/login.html", "/ui/static/.x"):
        assert call(ui_to_read, path)[0] == 404, path


def test_the_page_is_es_modules_served_as_javascript(ui_to_read):
    """The page is native ES modules (static/app.js importing static/js/*.js, no build
    step): a browser runs a module only when it comes as JavaScript, and only from
    the page's own origin. Every module the page imports, followed from app.js, is
    served, as JavaScript, whatever the system's table of file types says."""
    status, headers, body = call(ui_to_read, "/", token=UIServer.TOKEN)
    assert status == 200 and b'<script type="module" src="/ui/static/app.js">' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', body.decode()))  # asked for at once
    seen: set[str] = set()
    todo = ["/ui/static/app.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, headers, body = call(ui_to_read, path)
        assert status == 200, path
        assert headers["content-type"] == "text/javascript; charset=utf-8", path
        assert headers["x-content-type-options"] == "nosniff"
        for spec in re.findall(r"""^(?:import|export)\b[^'"]*\bfrom '([^']+)';$""", body.decode(), re.M):
            assert spec.startswith(("./", "../")) and spec.endswith(".js"), (path, spec)  # no bare names: no bundler
            todo.append(urllib.parse.urljoin(path, spec))
    shipped = {
        f"/ui/static/js/{name}"
        for name in os.listdir(os.path.join(os.path.dirname(runship.__file__), "web", "static", "js"))
    }
    assert seen == shipped | {"/ui/static/app.js"}  # each module is used, none is missing
    assert preloaded == shipped


def sign_in(server, token: str):
    """The sign-in POST (the form's, or the page's script with the printed URL's #token=)."""
    return call(
        server,
        "/ui/login",
        method="POST",
        body=urllib.parse.urlencode({"token": token}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_the_token_posted_once_becomes_a_strict_httponly_cookie(ui):
    # the token comes in the body, never the URL (the printed URL holds it after #: see login.js)
    status, headers, _ = sign_in(ui, UIServer.TOKEN)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    from runship.web.auth import Token

    # the cookie holds the token's HMAC (a session value), never the token
    assert f"runship_ui_{ui.port}={Token(UIServer.TOKEN).session}" in cookie and UIServer.TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    status, headers, body = call(ui, "/", cookie=UIServer.TOKEN)
    assert status == 200 and b"/ui/static/app.js" in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert sign_in(ui, "not-the-token")[0] == 401
    assert UIServer.TOKEN not in ui.log()  # the test's token file: never printed, never logged


def test_runs_table_holds_states_config_summary_and_host(ui, tmp_path):
    runs = refs(ui)
    assert set(runs) == {"adam", "sgd", "<script>alert(1)</script>"}
    adam, sgd = runs["adam"], runs["sgd"]
    assert (adam["state"], sgd["state"]) == ("finished", "failed")
    assert adam["config"] == {"lr": 1e-3, "model.width": 256}
    assert adam["summary"]["val/acc"] == 0.95 and adam["summary"]["train/loss"] == 1.0 / 20_000
    assert "img" not in adam["summary"]  # media are not table values
    assert adam["steps"] == 20_001 and adam["group"] == "g1" and adam["host"] == os.uname().nodename
    assert adam["duration"] >= 0 and adam["live"] is False
    only = api(ui, "runs", project="nlp")
    assert [r["project"] for r in only["runs"]] == ["nlp"]
    assert api(ui, "runs")["projects"] == ["nlp", "vision"]


@pytest.mark.heavy  # a real-process story of ~10 s: `make test-heavy` (make test stays under 4 minutes here)
def test_live_crashed_and_scheduler_runs(tmp_path):
    """A running run is live; a SIGKILLed one reads as crashed once its
    heartbeat is overdue; the scheduler's job id is a column."""
    root = str(tmp_path / "live")
    code = f"""
        import time, runship
        run = runship.init(project="p", name="{{name}}", dir={root!r},
                           settings={{"quiet": True, "environment": True, "console": "off", "heartbeat_interval": 0.5,
                                      "flush_interval": 0.1}})
        for i in range(100000):
            run.log({{"x": i}})
            time.sleep(0.01)
    """
    live = popen_python(code.replace("{name}", "live"), env={"SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "7"})
    dead = popen_python(code.replace("{name}", "dead"))
    s = UIServer([root], str(tmp_path))
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not os.path.isdir(os.path.join(root, "p")):
            time.sleep(0.1)
        time.sleep(2)
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        time.sleep(3)
        s.start()
        runs = refs(s)
        assert runs["live"]["state"] == "running" and runs["live"]["live"] is True
        assert runs["live"]["job_id"] == "4242_7"
        assert runs["dead"]["state"] == "crashed" and runs["dead"]["live"] is False
        first = runs["live"]["steps"]
        time.sleep(1.5)
        assert refs(s)["live"]["steps"] > first  # a reload sees new steps
    finally:
        live.kill()
        live.wait()
        s.stop()


def test_series_keep_a_spike_and_a_zoom_is_read_at_full_resolution(ui_to_read):
    adam = refs(ui_to_read)["adam"]["ref"]
    out = api(ui_to_read, "series", run=adam, keys="train/loss,epoch,nope", samples=200)
    loss = out["runs"][adam]["train/loss"]
    assert len(loss["x"]) <= 4 * 200 + 8 and 99.0 in loss["y"]  # the one spike among 20,000 points
    assert loss["x"] == sorted(loss["x"]) and loss["x"][0] == 0 and loss["x"][-1] == 19_999
    assert out["runs"][adam]["nope"] == {"x": [], "y": []}
    # zoomed to 101 steps, with buckets to spare (4 points a bucket): every point of the range
    zoom = api(ui_to_read, "series", run=adam, keys="train/loss", samples=800, lo=12_300, hi=12_400)["runs"][adam][
        "train/loss"
    ]
    assert zoom["x"] == list(range(12_300, 12_401))
    assert zoom["y"][45] == 99.0 and zoom["y"][0] == 1.0 / 12_301
    by_epoch = api(ui_to_read, "series", run=adam, keys="train/loss", samples=50, x="epoch")["runs"][adam]["train/loss"]
    assert set(by_epoch["x"]) <= set(range(20)) and 99.0 in by_epoch["y"]


def test_run_page_console_media_table_and_files(ui_to_read):
    runs = refs(ui_to_read)
    adam = runs["adam"]["ref"]
    run = api(ui_to_read, "run", run=adam)
    kinds = {k["key"]: k["kind"] for k in run["keys"]}
    assert kinds["train/loss"] == "number" and kinds["img"] == "image" and kinds["weights"] == "histogram"
    assert kinds["preds"] == "table"
    assert run["config"] == {"lr": 1e-3, "model": {"width": 256}} and run["exit_code"] == 0
    assert "files/notes.txt" in [f["path"] for f in run["files"]]
    img = api(ui_to_read, "media", run=adam, key="img")
    assert img["kind"] == "image" and [i["step"] for i in img["items"]] == [0, 5000, 10000, 15000]
    assert img["items"][1]["value"]["caption"] == "at 5000"
    status, headers, body = call(
        ui_to_read,
        "/ui/api/file?" + urllib.parse.urlencode({"run": adam, "path": img["items"][0]["value"]["path"]}),
        token=UIServer.TOKEN,
    )
    assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")
    assert headers["x-content-type-options"] == "nosniff"
    # a file of the run is a download, never a page of this origin
    status, headers, body = call(
        ui_to_read,
        "/ui/api/file?" + urllib.parse.urlencode({"run": adam, "path": "files/notes.txt"}),
        token=UIServer.TOKEN,
    )
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment") and b"<script>" in body
    assert "sandbox" in headers["content-security-policy"]
    hist = api(ui_to_read, "media", run=adam, key="weights")
    assert hist["kind"] == "histogram" and len(hist["items"][0]["value"]["values"]) > 0
    path = api(ui_to_read, "media", run=adam, key="preds")["items"][0]["value"]["path"]
    page = api(ui_to_read, "table", run=adam, path=path, offset=10, limit=5, sort="i", desc="true")
    assert page["total"] == 30 and page["columns"] == ["i", "label"]
    assert [r[0] for r in page["rows"]] == [19, 18, 17, 16, 15]


def test_console_tail_follow_and_search(tmp_path):
    root = str(tmp_path / "runs")
    code = f"""
        import runship
        run = runship.init(project="p", name="c", dir={root!r}, settings={{"quiet": True, "environment": False}})
        for i in range(300):
            print(f"line {{i}}" + (" <b>bold</b>" if i == 150 else ""))
        raise RuntimeError("boom at the end")
    """
    p = popen_python(code)
    p.communicate(timeout=60)
    s = UIServer([root], str(tmp_path)).start()
    try:
        ref = refs(s)["c"]["ref"]
        tail = api(s, "console", run=ref, tail=20)
        texts = [line["text"] for line in tail["lines"]]
        assert len(texts) == 20 and "RuntimeError: boom at the end" in "\n".join(texts)
        assert tail["next"] == tail["total"] and tail["total"] > 300
        later = api(s, "console", run=ref, offset=tail["next"])
        assert later["lines"] == [] and later["next"] == tail["total"]
        first = api(s, "console", run=ref, limit=10)
        assert [line["text"] for line in first["lines"]] == [f"line {i}" for i in range(10)]
        assert first["next"] == 10
        found = api(s, "console", run=ref, q="<B>BOLD")
        assert [(line["n"], line["text"]) for line in found["lines"]] == [(150, "line 150 <b>bold</b>")]
    finally:
        s.stop()


@pytest.mark.parametrize(
    "path, status",
    [
        ("/ui/api/run?run=nonsense", 400),
        ("/ui/api/run?run=9:vision/x", 400),
        ("/ui/api/run?run=0:../etc/passwd", 400),
        ("/ui/api/run?run=0:vision/nosuchrun", 404),
        ("/ui/api/file?run={adam}&path=../../../etc/passwd", 400),
        ("/ui/api/file?run={adam}&path=files/../run.json/../../x", 400),
        ("/ui/api/file?run={adam}&path=files/nothing", 404),
        ("/ui/api/table?run={adam}&path=files/notes.txt", 400),
        ("/ui/api/media?run={adam}&key=nope", 400),
        ("/ui/api/series?run={adam}&keys=a&lo=5", 400),
        ("/ui/api/series?run={adam}&keys=a&samples=100000000", 422),
        ("/ui/api/console?run={adam}&offset=-1", 422),
    ],
)
def test_bad_requests_say_what_was_wrong(ui_to_read, path, status):
    adam = urllib.parse.quote(refs(ui_to_read)["adam"]["ref"])
    got, _, body = call(ui_to_read, path.format(adam=adam), token=UIServer.TOKEN)
    assert got == status, body[:300]
    assert json.loads(body)["detail"]


def test_a_link_in_a_run_is_not_followed(ui, runs_root, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("secret of the service account")
    adam = refs(ui)["adam"]
    run_dir = os.path.join(runs_root, "vision", adam["id"])
    os.symlink(secret, os.path.join(run_dir, "files", "media", "link.png"))
    q = urllib.parse.urlencode({"run": adam["ref"], "path": "files/media/link.png"})
    status, _, body = call(ui, f"/ui/api/file?{q}", token=UIServer.TOKEN)
    assert status in (400, 404) and b"secret of" not in body


def test_serve_shows_the_app_with_the_servers_read_tokens(runs_root, tmp_path):
    """Under runship serve the app reads its store, with the server's tokens
    and their project scopes; a token never reaches the access log."""
    import shutil

    served = tmp_path / "served"
    shutil.copytree(runs_root, served)
    s = RunshipServer(str(served), str(tmp_path)).start()
    try:
        assert call(s, "/")[0] == 401
        assert call(s, "/ui/api/runs")[0] == 401
        status, headers, _ = sign_in(s, RunshipServer.READ_TOKEN)
        assert status == 303 and "HttpOnly" in headers["set-cookie"]
        assert call(s, "/", cookie=RunshipServer.READ_TOKEN)[0] == 200
        everything = api(s, "runs", token=RunshipServer.READ_TOKEN)
        assert everything["projects"] == ["nlp", "vision"]
        assert {r["name"] for r in everything["runs"]} == {"adam", "sgd", "<script>alert(1)</script>"}
        scoped = api(s, "runs", token=RunshipServer.MNIST_TOKEN)
        assert scoped["runs"] == [] and scoped["projects"] == []
        ref = next(r["ref"] for r in everything["runs"] if r["name"] == "adam")
        status, _, _ = call(s, "/ui/api/run?" + urllib.parse.urlencode({"run": ref}), token=RunshipServer.MNIST_TOKEN)
        assert status == 403
        out = api(s, "series", token=RunshipServer.READ_TOKEN, run=ref, keys="train/loss", samples=100)
        assert 99.0 in out["runs"][ref]["train/loss"]["y"]
        log = s.log()
        for token in (RunshipServer.READ_TOKEN, RunshipServer.MNIST_TOKEN):
            assert token not in log
    finally:
        s.stop()


def test_no_token_is_refused_off_loopback(tmp_path):
    import subprocess
    import sys

    from tests.conftest import child_env

    r = subprocess.run(
        [sys.executable, "-m", "runship.cli", "ui", str(tmp_path), "--host", "0.0.0.0", "--no-token"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "--no-token is refused on 0.0.0.0" in r.stderr


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.heavy  # many pollers against a live run: `make test-heavy`
def test_many_tabs_polling_a_live_run_cost_a_bounded_amount(tmp_path):
    """50 clients polling a live run's table, series and console as open
    tabs do, in three rounds: every answer is 200 (or 503 when over the
    connection caps), and the server's memory after the third round is what
    it was after the first: it does not grow with page views."""
    import threading

    root = str(tmp_path / "runs")
    live = popen_python(
        f"""
        import time, runship
        run = runship.init(project="p", name="live", dir={root!r},
                           settings={{"quiet": True, "environment": False, "flush_interval": 0.2}})
        i = 0
        while True:
            run.log({{"loss": 1.0 / (1 + i), "acc": i * 1e-6}})
            if i % 10 == 0:
                print(f"step {{i}}", flush=True)
            i += 1
            time.sleep(0.01)
        """
    )
    s = UIServer([root], str(tmp_path))
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not os.path.isdir(os.path.join(root, "p")):
            time.sleep(0.1)
        time.sleep(1)
        s.start()
        ref = refs(s)["live"]["ref"]
        paths = [
            "/ui/api/runs",
            "/ui/api/series?" + urllib.parse.urlencode({"run": ref, "keys": "loss,acc", "samples": 800}),
            "/ui/api/console?" + urllib.parse.urlencode({"run": ref, "tail": 200}),
            "/ui/api/run?" + urllib.parse.urlencode({"run": ref}),
        ]
        statuses: list[int] = []

        def tab(n: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            for i in range(n):
                conn.request("GET", paths[i % len(paths)], headers={"Cookie": f"runship_ui_{s.port}={UIServer.TOKEN}"})
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            conn.close()

        def round_of_polls() -> float:
            tabs = [threading.Thread(target=tab, args=(4,)) for _ in range(50)]
            for t in tabs:
                t.start()
            for t in tabs:
                t.join()
            return rss_mb(s.proc.pid)

        first = round_of_polls()
        second = round_of_polls()
        third = round_of_polls()
        assert set(statuses) <= {200, 503} and statuses.count(200) >= 0.9 * len(statuses)
        assert len(statuses) == 600
        assert third < first + 40, (first, second, third)  # not growing with page views
        assert first < 600, first
    finally:
        live.kill()
        live.wait()
        s.stop()


def test_series_answers_up_to_100_runs_a_request(ui_to_read):
    adam = refs(ui_to_read)["adam"]["ref"]
    out = api(ui_to_read, "series", run=[adam] * 100, keys="train/loss", samples=100)
    assert 99.0 in out["runs"][adam]["train/loss"]["y"]
    query = urllib.parse.urlencode({"run": [adam] * 101, "keys": "train/loss"}, doseq=True)
    status, _, body = call(ui_to_read, f"/ui/api/series?{query}", token=UIServer.TOKEN)
    assert status == 400 and "at most 100 runs" in json.loads(body)["detail"]


def csv_of(server, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    status, headers, body = call(server, f"/ui/api/series.csv?{query}", token=UIServer.TOKEN)
    assert status == 200, (status, body[:300])
    assert headers["content-type"].startswith("text/csv")
    assert "content-length" not in headers  # streamed
    assert headers["content-disposition"].startswith("attachment;")
    return body.decode().splitlines()


def test_series_csv_holds_every_row_of_the_range_at_full_resolution(ui_to_read):
    runs = refs(ui_to_read)
    adam, sgd = runs["adam"]["ref"], runs["sgd"]["ref"]
    lines = csv_of(ui_to_read, run=adam, key="train/loss", lo=12_300, hi=12_400)
    assert lines[0] == "run,_step,train/loss" and len(lines) == 1 + 101
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[1]) for r in rows] == list(range(12_300, 12_401)) and {r[0] for r in rows} == {adam}
    assert float(rows[45][2]) == 99.0 and float(rows[0][2]) == 1.0 / 12_301  # exact: repr of the float
    # the whole run, then the next run's rows: no downsampling
    lines = csv_of(ui_to_read, run=[adam, sgd], key="train/loss")
    assert len(lines) == 1 + 20_000 + 1 and lines[-1] == f"{sgd},0,2.0"
    assert sum(line.endswith(",99.0") for line in lines) == 1
    # a logged key as x: every row (epochs repeat), the spike among them
    lines = csv_of(ui_to_read, run=adam, key="train/loss", x="epoch", lo=12, hi=12)
    assert lines[0] == "run,epoch,train/loss" and len(lines) == 1 + 1000 and f"{adam},12,99.0" in lines
    # past the row limit the answer says it was cut
    lines = csv_of(ui_to_read, run=[adam, sgd], key="train/loss", limit=10)
    assert len(lines) == 1 + 10 + 1 and lines[-1].startswith("# cut: the first 10 rows only")
    assert csv_of(ui_to_read, run=adam, key="nope") == ["run,_step,nope"]


def test_series_csv_text_cells_cannot_run_as_formulas(tmp_path):
    root = str(tmp_path / "runs")
    run = _make_run(dir=root, project="p", name="r")
    for i, text in enumerate(['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", 'plain, "quoted"']):
        run.log({"note": text, "delta": -1.5 * i})
    run.finish()
    s = UIServer([root], str(tmp_path)).start()
    try:
        (ref,) = [r["ref"] for r in api(s, "runs")["runs"]]
        import csv as csv_module

        rows = list(csv_module.reader(csv_of(s, run=ref, key="note")))
        assert [r[2] for r in rows[1:]] == [
            '\'=HYPERLINK("http://x")',
            "'+1+1",
            "'-2+3",
            "'@SUM(A1)",
            'plain, "quoted"',
        ]
        numbers = list(csv_module.reader(csv_of(s, run=ref, key="delta")))
        assert [r[2] for r in numbers[1:]] == ["-0.0", "-1.5", "-3.0", "-4.5", "-6.0"]  # numbers stay numbers
        for bad, status in (
            (f"run={ref}&key=delta&lo=1", 400),
            (f"run={ref}&key=delta&lo=2&hi=1", 400),
            (f"run={ref}", 422),
            (f"run={ref}&key=delta&limit=0", 422),
            ("&".join([f"run={ref}"] * 101) + "&key=delta", 400),
            ("run=0:../etc/passwd&key=delta", 400),
        ):
            got, _, body = call(s, f"/ui/api/series.csv?{bad}", token=UIServer.TOKEN)
            assert got == status and json.loads(body)["detail"], (bad, got, body[:200])
        got, _, _ = call(s, f"/ui/api/series.csv?run={urllib.parse.quote(ref)}&key=delta")
        assert got in (401, 403)
    finally:
        s.stop()


def test_series_over_a_repeated_epoch_keeps_the_spike_and_each_epoch_s_min_max_and_last(tmp_path):
    """grad_norm 1.0-1.2 with one spike of 40, x = epoch (each repeated
    10,000 times): the answer holds the 40 at its epoch and every epoch's
    minimum, maximum and last value, not one point per epoch."""
    root = str(tmp_path / "runs")
    run = _make_run(dir=root, project="p", name="r")
    rng = np.random.default_rng(5)
    values = (1.0 + 0.2 * rng.random(120_000)).round(6)
    values[64_321] = 40.0
    for i, v in enumerate(values.tolist()):
        run.log({"grad_norm": v, "epoch": i // 10_000})
    run.finish()
    s = UIServer([root], str(tmp_path)).start()
    try:
        (ref,) = [r["ref"] for r in api(s, "runs")["runs"]]
        for samples in (200, 4000):
            got = api(s, "series", run=ref, keys="grad_norm", x="epoch", samples=samples)["runs"][ref]["grad_norm"]
            pairs = list(zip(got["x"], got["y"]))
            assert (6, 40.0) in pairs
            for epoch in range(12):
                these = values[epoch * 10_000 : (epoch + 1) * 10_000]
                here = [y for x, y in pairs if x == epoch]
                assert float(these.min()) in here and float(these.max()) in here and float(these[-1]) in here
    finally:
        s.stop()


def test_keys_of_many_runs_come_in_one_request(ui_to_read):
    """/ui/api/keys: what the charts of many runs need (each run's keys with
    their kind, its metric definitions), in one request; a run that is not
    there is named in its own entry, the others answered; 100 runs at most."""
    runs = refs(ui_to_read)
    adam, sgd = runs["adam"]["ref"], runs["sgd"]["ref"]
    gone = adam.rsplit("/", 1)[0] + "/nosuchrun"
    out = api(ui_to_read, "keys", run=[adam, sgd, gone])["runs"]
    assert set(out) == {adam, sgd, gone}
    kinds = {k["key"]: k["kind"] for k in out[adam]["keys"]}
    assert kinds["train/loss"] == "number" and kinds["img"] != "number" and "epoch" in kinds
    assert {k["key"] for k in out[sgd]["keys"]} == {"train/loss"}
    assert isinstance(out[adam]["metrics"], list)
    assert "nosuchrun" in out[gone]["error"]
    assert api(ui_to_read, "run", run=adam)["keys"] == out[adam]["keys"]  # the run page's, the same
    query = urllib.parse.urlencode({"run": [adam] * 101}, doseq=True)
    status, _, body = call(ui_to_read, f"/ui/api/keys?{query}", token=UIServer.TOKEN)
    assert status == 400 and "at most 100 runs" in json.loads(body)["detail"]
