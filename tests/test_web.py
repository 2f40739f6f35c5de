"""The one web app (``runship.web``), served by uvicorn on a loopback port in
this process and asked over real HTTP, over real run directories: the factory's two shapes (``serve``: ingest, read and
the web app; ``ui``: the web app alone) answering the web app's API alike,
the page's files with their types, the one token model, the one summary
of a run behind both APIs' listings, the one error mapper, and system
metrics thinned by the reader's downsampler."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from runship.reader import open_run
from runship.reader.index import run_info
from runship.web.app import ServeConfig, serve_app, ui_app
from runship.web.auth import Gate, Token, ui_token
from runship.web.guard import Limits
from runship.web.places import Place
from runship.web.serialize import summary_entry, summary_row
from runship.web.views.pages import media_type
from runship.web.views.series import system_series
from tests.hostile.craft import T, row, start, write_run
from tests.servers import free_port

SECRET = "ui-secret-0123456789abcdef"
WRITER = Token("writer-0123456789abcdef", label="writer")
STATIC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runship", "web", "static")


@pytest.fixture
def root(tmp_path):
    """Two runs of project p: r1 with rows and system metrics, r2 unreadable."""
    root = tmp_path / "runs"
    write_run(root, [[start(), *(row(i, {"loss": 1.0 / (1 + i)}, n=i + 1) for i in range(5))]], run="r1")
    stats = [
        {"k": "stats", "n": i + 1, "t": T + i, "d": {"cpu": float(i % 7), "gpu.0.gpu": 1 if i == 333 else 0}}
        for i in range(2000)
    ]
    write_run(root, [[start(), *stats]], run="r1", stream="system")
    bad = root / "p" / "r2"
    os.makedirs(bad)
    (bad / "run-20260101T000000000Zabcdef-000000.msgpack").write_bytes(b"not a stream file")
    return str(root)


class Answer:
    def __init__(self, status: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status, headers, content

    def json(self) -> Any:
        return json.loads(self.content)


class Client:
    """Requests to an app served on 127.0.0.1 (``http.client``: real sockets, real HTTP)."""

    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, headers=None) -> Answer:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, headers={"Host": f"127.0.0.1:{self.port}", **(headers or {})})
            got = conn.getresponse()
            return Answer(got.status, {k.lower(): v for k, v in got.getheaders()}, got.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Answer:
        return self.request("HEAD", path, **kwargs)


def _served(app: Any) -> Iterator[Client]:
    """``app`` under uvicorn on a free loopback port until the generator is closed."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    try:
        yield Client(server.config.port)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def apps(root):
    """The same runs under runship ui and under runship serve, each on its own port."""
    ui = ui_app([Place(root)], Gate([ui_token(SECRET)]), Limits(), allowed_hosts=None)
    served = serve_app(ServeConfig(root, [WRITER], allowed_hosts=None))
    running = [_served(ui), _served(served)]
    clients = [next(r) for r in running]
    yield {"ui": (clients[0], SECRET), "serve": (clients[1], WRITER.secret)}
    for r in running:
        r.close()


def test_serve_is_ingest_read_and_the_web_app_and_ui_the_web_app_alone(apps):
    for name, (client, token) in apps.items():
        auth = {"Authorization": f"Bearer {token}"}
        serving = name == "serve"
        assert client.get("/ui/api/runs", headers=auth).status_code == 200
        assert client.get("/", headers=auth).status_code == 200
        assert client.get("/health").status_code == (200 if serving else 404)
        assert client.get("/v1/projects", headers=auth).status_code == (200 if serving else 404)
        stream = "/v1/runs/p/r1/streams/run-20260101T000000000Zabcdef-000000.msgpack"
        assert client.head(stream, headers=auth).status_code == (200 if serving else 404)
        assert client.get("/openapi.json", headers=auth).status_code == (200 if serving else 404)


def test_both_apps_answer_the_web_apps_api_alike(apps):
    """The runs table, a run's page and its system metrics: the same JSON
    from runship ui and runship serve over the same runs."""
    got = {}
    for name, (client, token) in apps.items():
        auth = {"Authorization": f"Bearer {token}"}
        runs = client.get("/ui/api/runs", headers=auth).json()
        page = client.get("/ui/api/run", params={"run": "0:p/r1"}, headers=auth).json()
        system = client.get("/ui/api/system", params={"run": "0:p/r1", "samples": 100}, headers=auth).json()
        for volatile in ("now", "location", "live_t"):
            runs.pop(volatile, None)
            page.pop(volatile, None)
        got[name] = (runs, page, system)
        assert client.get("/ui/api/runs").status_code == 401
    assert got["ui"] == got["serve"]
    runs, page, _ = got["ui"]
    assert [r["id"] for r in runs["runs"]] == ["r1", "r2"] and runs["projects"] == ["p"]
    assert page["ref"] == "0:p/r1" and page["keys"] == [{"key": "loss", "kind": "number"}]


def test_every_file_of_the_page_is_served_with_its_type(apps):
    client, _ = apps["ui"]
    served = []
    for folder, _, names in os.walk(STATIC):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), STATIC).replace(os.sep, "/")
            answer = client.get(f"/ui/static/{rel}")
            if name.endswith(".html"):  # the pages have their own routes
                assert answer.status_code == 404
                continue
            with open(os.path.join(folder, name), "rb") as f:
                assert answer.status_code == 200 and answer.content == f.read(), rel
            assert answer.headers["content-type"] == media_type(rel), rel
            served.append(rel)
    assert "app.css" in served and any("/" in rel for rel in served)  # nested folders too
    assert media_type("js/views/run.js") == media_type("x.mjs") == "text/javascript; charset=utf-8"
    assert media_type("app.css") == "text/css; charset=utf-8"
    assert client.get("/ui/static/%2e%2e/app.py").status_code == 404


def test_the_ui_secret_is_a_token_that_reads_every_project_and_writes_none():
    token = ui_token(SECRET)
    assert token.allows("r", "any-project") and token.allows("r", None)
    assert not token.allows("w", "any-project")
    gate = Gate([token])
    may = gate.readable(SECRET)
    assert may is not None and may("p") and may("q")
    assert gate.readable("wrong") is None and gate.readable(None) is None
    assert gate.find(SECRET).name == "ui"  # what the access log shows: never the secret
    scoped = Gate([Token("scoped-0123456789abcdef", projects=frozenset({"p"}))]).readable("scoped-0123456789abcdef")
    assert scoped is not None and scoped("p") and not scoped("q")
    assert Gate(None).readable(None) is not None  # no tokens at all: --no-token / --no-auth


def test_one_summary_behind_the_runs_table_and_v1s_listing(root):
    """A run's row in the web app's table and its entry in /v1's listing
    come from one summary: the same id, name, state and steps; an
    unreadable run is named by its directory in both, with why."""
    good = run_info(open_run(os.path.join(root, "p", "r1")))
    bad = {"location": os.path.join(root, "p", "r2"), "error": "not a stream file"}
    for info in (good, bad):
        table, entry = summary_row(0, info), summary_entry(info)
        assert (table["id"], table["name"], table["state"], table["steps"]) == (
            entry["id"],
            entry["name"],
            entry["state"],
            entry["steps"],
        )
    assert summary_row(0, bad)["ref"] == "0:p/r2" and summary_entry(bad)["problems"] == ["not a stream file"]
    assert summary_row(0, bad)["state"] == "unreadable" == summary_entry(bad)["state"]
    assert "problems" not in summary_entry(good)


def test_v1_answers_its_own_shapes_from_the_same_runs(root, apps):
    client, _ = apps["serve"]
    auth = {"Authorization": f"Bearer {WRITER.secret}"}
    listing = client.get("/v1/projects/p/runs", headers=auth).json()
    table = client.get("/ui/api/runs", headers=auth).json()["runs"]
    assert {e["id"]: (e["name"], e["state"], e["steps"]) for e in listing} == {
        r["id"]: (r["name"], r["state"], r["steps"]) for r in table
    }
    record = client.get("/v1/runs/p/r1", headers=auth).json()
    assert record["id"] == "r1" and isinstance(record["problems"], list) and "ref" not in record
    # one error mapper: /v1 and the web app's API each answer as they always have
    assert client.get("/v1/runs/p/nope", headers=auth).status_code == 404
    assert client.get("/v1/runs/p/r1/history", params={"limit": 0}, headers=auth).status_code == 422
    bad_ref = client.get("/ui/api/run", params={"run": "9:p/r1"}, headers=auth)
    assert bad_ref.status_code == 400 and "not a run reference" in bad_ref.json()["detail"]
    assert client.get("/ui/api/run", params={"run": "0:p/nope"}, headers=auth).status_code == 404


def test_system_metrics_are_thinned_by_the_readers_downsampler(root):
    """2,000 samples a key, asked for 100: about 100 points a key, in time
    order, the first, the last and each bucket's extremes kept (the one
    GPU spike among zeros too); fewer samples than asked: all of them."""
    view = open_run(os.path.join(root, "p", "r1"))
    thin = system_series(view, 100)
    assert thin["x"] == "_runtime" and set(thin["series"]) == {"cpu", "gpu.0.gpu"}
    for points in thin["series"].values():
        xs = points["x"]
        assert len(xs) == len(points["y"]) and 25 <= len(xs) <= 130 and xs == sorted(xs)
        assert xs[0] == 0 and xs[-1] == 1999
    gpu = thin["series"]["gpu.0.gpu"]
    assert gpu["y"][gpu["x"].index(333)] == 1
    assert max(thin["series"]["cpu"]["y"]) == 6
    whole = system_series(view, 4000)["series"]["cpu"]
    assert whole["x"] == [float(i) for i in range(2000)] and json.dumps(whole)
