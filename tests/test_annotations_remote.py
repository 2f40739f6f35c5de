"""Annotations away from the run directory: shipped by the uploader (to
moto's S3 and to a real runship server) while the run is live, and written
over real HTTP through ``POST /ui/api/annotate`` under ``runship ui`` and
``runship serve`` with each token's scope."""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse

import pytest

import runship
from runship.reader.annotate import annotate
from tests.conftest import upload_cmd
from tests.servers import RunshipServer, UIServer

pytestmark = pytest.mark.heavy  # uploads to moto S3 and a real server while the run is live: `make test-heavy`


def _live_run(make_run):
    run = make_run(id="live1", name="as-started", tags=["a"], settings={"flush_interval": 0.05})
    for step in range(50):
        run.log({"loss": 1.0 / (1 + step)})
    run.flush()
    return run


def _upload_live_annotate_finish(make_run, root, tmp_path, to, env):
    """A live run is annotated, uploaded, logs on, finishes, is uploaded
    again: the remote must hold every row (the live segment was not taken
    for closed because a newer annotation session appeared) and the name."""
    run = _live_run(make_run)
    run_dir = os.path.join(root, "p", "live1")
    annotate(run_dir, {"name": "renamed-live", "tags_add": ["shipped"]}, root=root)
    state = tmp_path / "state"
    out = upload_cmd([root], to, state, "--once", env=env)
    assert out.returncode == 0, out.stderr
    for step in range(50, 120):
        run.log({"loss": 1.0 / (1 + step)})
    run.finish()
    out = upload_cmd([root], to, state, "--once", env=env)
    assert out.returncode == 0, out.stderr


def test_the_uploader_ships_annotations_to_s3_and_leaves_the_live_segment_open(moto, make_run, root, tmp_path):
    moto.create_bucket("annot-up")
    env = {"AWS_ENDPOINT_URL": moto.endpoint}
    _upload_live_annotate_finish(make_run, root, tmp_path, "s3://annot-up/x", env)
    remote = runship.open_run("s3://annot-up/x/p/live1", storage_options={"endpoint_url": moto.endpoint})
    assert remote.name == "renamed-live" and remote.tags == ["a", "shipped"]
    assert remote.steps == 120 and [r["_step"] for r in remote.scan_history(["loss"])] == list(range(120))
    assert not [p for p in remote.problems if p.is_corruption]
    api = runship.Api("s3://annot-up/x", storage_options={"endpoint_url": moto.endpoint})
    (listed,) = api.runs("p")
    assert listed.name == "renamed-live"


def test_the_uploader_ships_annotations_to_a_runship_server(make_run, root, tmp_path):
    served = tmp_path / "served"
    server = RunshipServer(str(served), str(tmp_path)).start()
    try:
        env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN}
        _upload_live_annotate_finish(make_run, root, tmp_path, server.url, env)
        stored = runship.open_run(str(served / "p" / "live1"))
        assert stored.name == "renamed-live" and stored.tags == ["a", "shipped"] and stored.steps == 120
        over_http = runship.open_run(f"{server.url}/p/live1", storage_options={"token": RunshipServer.TOKEN})
        assert over_http.name == "renamed-live"
        # Api over the server writes back through it (a token with write scope)
        api = runship.Api(server.url, storage_options={"token": RunshipServer.TOKEN})
        run = api.run("p/live1")
        run.notes = "noted over HTTP"
        run.update()
        assert runship.open_run(str(served / "p" / "live1")).notes == "noted over HTTP"
        reader = runship.Api(server.url, storage_options={"token": RunshipServer.READ_TOKEN}).run("p/live1")
        reader.tags.append("nope")
        with pytest.raises(Exception, match="403"):
            reader.update()
    finally:
        server.stop()


# ---- POST /ui/api/annotate over real HTTP -----------------------------------------------------------
def _post(server, ref, body, token, content_type="application/json", raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    try:
        conn.request("POST", "/ui/api/annotate?" + urllib.parse.urlencode({"run": ref}), body=data, headers=headers)
    except (BrokenPipeError, ConnectionResetError):
        pass  # a body declared too large is answered (413) and the connection closed before it is all sent
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(out)
    except ValueError:
        return resp.status, {"detail": out.decode(errors="replace")}


def _get(server, endpoint, token, **params):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    q = urllib.parse.urlencode(params)
    conn.request("GET", f"/ui/api/{endpoint}?{q}", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, body[:300]
    return json.loads(body)


@pytest.fixture
def two_runs(make_run, root):
    for rid in ("r1", "r2"):
        run = make_run(id=rid, name=f"name-{rid}", tags=["base"])
        run.log({"x": 1})
        run.finish()
    return root


def test_runship_ui_annotates_a_run_of_a_local_root(two_runs, tmp_path):
    ui = UIServer([two_runs], str(tmp_path)).start()
    try:
        status, merged = _post(ui, "0:p/r1", {"name": "from-page", "tags_add": ["t1", "t2"], "notes": "n1"}, ui.token)
        assert status == 200, merged
        assert merged == {"name": "from-page", "tags": ["base", "t1", "t2"], "notes": "n1"}
        status, merged = _post(ui, "0:p/r1", {"tags_remove": ["t1"]}, ui.token)
        assert merged["tags"] == ["base", "t2"]
        runs = {r["id"]: r for r in _get(ui, "runs", ui.token)["runs"]}
        assert runs["r1"]["name"] == "from-page" and runs["r1"]["tags"] == ["base", "t2"]
        assert runs["r2"]["name"] == "name-r2"
        one = _get(ui, "run", ui.token, run="0:p/r1")
        assert (one["name"], one["tags"], one["notes"]) == ("from-page", ["base", "t2"], "n1")
        files = [n for n in os.listdir(os.path.join(two_runs, "p", "r1")) if n.startswith("annotation-")]
        assert len(files) == 2
        # what is refused, and why
        assert _post(ui, "0:p/r1", {"name": "x" * 200}, ui.token) == (
            400,
            {"detail": "name is 200 characters long, at most 128 allowed"},
        )
        status, said = _post(ui, "0:p/r1", {"name": "x"}, ui.token, content_type="text/plain")
        assert status == 415 and "application/json" in said["detail"]
        status, said = _post(ui, "0:p/r1", None, ui.token, raw=b"{not json")
        assert status == 400 and "not JSON" in said["detail"]
        status, said = _post(ui, "0:p/r1", None, ui.token, raw=b'{"notes": "' + b"a" * 600_000 + b'"}')
        assert status == 413
        status, said = _post(ui, "0:p/r1", None, ui.token, raw=b"[" * 200_000)
        assert status == 400 and "nested too deeply" in said["detail"]
        status, said = _post(ui, "0:p/nope", {"name": "x"}, ui.token)
        assert status == 404
        status, said = _post(ui, "0:../r1", {"name": "x"}, ui.token)
        assert status == 400 and "not a run reference" in said["detail"]
        status, said = _post(ui, "0:p/r1", {"name": "x"}, "wrong-token-0123456789")
        assert status == 401
        assert len([n for n in os.listdir(os.path.join(two_runs, "p", "r1")) if n.startswith("annotation-")]) == 2
    finally:
        ui.stop()


def test_runship_ui_over_an_object_store_says_annotations_need_a_local_root(moto, two_runs, tmp_path, monkeypatch):
    import fsspec

    moto.create_bucket("annot-ui")
    fs = fsspec.filesystem("s3", endpoint_url=moto.endpoint)
    run_dir = os.path.join(two_runs, "p", "r1")
    for name in os.listdir(run_dir):
        if name.endswith(".msgpack"):
            fs.put(os.path.join(run_dir, name), f"annot-ui/p/r1/{name}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    ui = UIServer(["s3://annot-ui"], str(tmp_path)).start()
    try:
        status, said = _post(ui, "0:p/r1", {"name": "x"}, ui.token)
        assert status == 400, said
        assert "annotations are written to a local run root or through a runship server" in said["detail"]
    finally:
        ui.stop()


def test_runship_serve_annotates_with_write_scope_only(two_runs, tmp_path):
    server = RunshipServer(two_runs, str(tmp_path)).start()
    try:
        status, said = _post(server, "0:p/r1", {"tags_add": ["x"]}, RunshipServer.READ_TOKEN)
        assert status == 403
        assert said["detail"] == (
            "this token may read p but not write it: renaming, tagging and noting a run "
            "need a token with write scope (w) for its project"
        )
        status, said = _post(server, "0:p/r1", {"tags_add": ["x"]}, RunshipServer.MNIST_TOKEN)
        assert status == 403  # may not even read project p
        status, merged = _post(server, "0:p/r1", {"name": "served", "tags_add": ["x"]}, RunshipServer.TOKEN)
        assert status == 200 and merged == {"name": "served", "tags": ["base", "x"], "notes": None}
        stored = runship.open_run(os.path.join(two_runs, "p", "r1"))
        assert stored.name == "served" and stored.annotation_records[-1]["by"] == "runship serve (writer)"
        listed = {r["id"]: r for r in _get(server, "runs", RunshipServer.READ_TOKEN)["runs"]}
        assert listed["r1"]["name"] == "served" and listed["r1"]["tags"] == ["base", "x"]
    finally:
        server.stop()


class _UIOverServer(UIServer):
    """``runship --token-file F ui SERVER_URL``: a runship ui whose root is a
    runship server, reached with the token in ``F`` (a global option)."""

    def __init__(self, server_url: str, server_token: str, workdir: str):
        super().__init__([server_url], workdir)
        self.server_token_file = os.path.join(workdir, f"server-token-{self.port}")
        fd = os.open(self.server_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(server_token + "\n")

    def start(self) -> UIServer:
        import socket
        import subprocess
        import sys
        import time

        from tests.conftest import child_env

        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runship.cli",
                "--token-file",
                self.server_token_file,
                "ui",
                *self.roots,
                "--port",
                str(self.port),
                "--ui-token-file",
                self.token_file,
            ],
            env=child_env(),
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self._read_url()
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"runship ui exited: {self.log()[-2000:]}") from None
                time.sleep(0.05)
        raise RuntimeError("runship ui did not start")


def test_runship_ui_over_a_runship_server_sends_annotations_there_with_its_token(two_runs, tmp_path):
    server = RunshipServer(two_runs, str(tmp_path)).start()
    try:
        for token, expected in ((RunshipServer.READ_TOKEN, 403), (RunshipServer.TOKEN, 200)):
            ui = _UIOverServer(server.url, token, str(tmp_path)).start()
            try:
                status, said = _post(ui, "0:p/r2", {"tags_add": ["over-http"]}, ui.token)
            finally:
                ui.stop()
            assert status == expected, said
            if expected == 403:
                assert "the server did not take the annotation" in said["detail"] and "403" in said["detail"]
        assert said == {"name": "name-r2", "tags": ["base", "over-http"], "notes": None}
        stored = runship.open_run(os.path.join(two_runs, "p", "r2"))
        assert stored.tags == ["base", "over-http"] and stored.annotation_records[-1]["by"] == "runship ui"
    finally:
        server.stop()


def test_runship_serve_over_an_object_store_stores_annotations_there(moto, two_runs, tmp_path, monkeypatch):
    moto.create_bucket("annot-served")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    server = RunshipServer("s3://annot-served/runs", str(tmp_path)).start()
    try:
        out = upload_cmd(
            [two_runs], server.url, tmp_path / "state", "--once", env={"RUNSHIP_TOKEN": RunshipServer.TOKEN}
        )
        assert out.returncode == 0, out.stderr
        status, merged = _post(server, "0:p/r1", {"name": "in-the-bucket", "notes": "kept"}, RunshipServer.TOKEN)
        assert status == 200, merged
        assert merged == {"name": "in-the-bucket", "tags": ["base"], "notes": "kept"}
        remote = runship.open_run("s3://annot-served/runs/p/r1", storage_options={"endpoint_url": moto.endpoint})
        assert (remote.name, remote.notes) == ("in-the-bucket", "kept") and not remote.problems
    finally:
        server.stop()
