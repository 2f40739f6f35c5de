"""Saved workspaces over real HTTP: ``runship ui`` over a local root,
``runship serve`` (tokens and their scopes) and ``runship ui`` over a
server; hostile names, bodies and files; the ``runship workspace`` CLI."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.parse

import pytest

import runship
from tests.servers import RunshipServer, UIServer

FORMAT = "runship.workspace/1"


def doc(**extra):
    return {
        "format": FORMAT,
        "runs": {"filter": "", "group": ["config.lr"], "band": "std", "max_shown": 10},
        "charts": {"x": None, "sections": [{"name": "train", "panels": [{"id": "p1", "metrics": ["loss"]}]}]},
        **extra,
    }


def call(port, method, path, body=None, token=None, cookie=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if cookie:
        h["Cookie"] = cookie
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = data
    return r.status, parsed


def q(path, **params):
    return f"{path}?{urllib.parse.urlencode(params)}"


def _runs(root, projects=("vision", "nlp")):
    for p in projects:
        r = runship.init(
            dir=root,
            project=p,
            reinit="create_new",
            settings={"quiet": True, "environment": False, "console": "off"},
        )
        r.log({"loss": 1.0})
        r.finish()


@pytest.fixture
def root(tmp_path):
    path = str(tmp_path / "runs")
    _runs(path)
    return path


@pytest.fixture
def ui(root, tmp_path):
    s = UIServer([root], str(tmp_path)).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """One server for the tests of requests that are refused (nothing is
    ever written through it): (the server, its root)."""
    tmp = tmp_path_factory.mktemp("refusing")
    path = str(tmp / "runs")
    _runs(path)
    s = UIServer([path], str(tmp)).start()
    yield s, path
    s.stop()


T = UIServer.TOKEN


def test_save_load_list_default_delete_over_a_local_root(ui, root):
    port = ui.port
    assert call(port, "GET", q("/ui/api/workspaces", project="vision"), token=T) == (
        200,
        {"workspaces": [], "default": None},
    )
    status, got = call(port, "PUT", q("/ui/api/workspace", project="vision", name="my view"), doc(extra=[1]), token=T)
    assert status == 200, got
    assert got["name"] == "my view" and isinstance(got["saved_at"], float)
    path = os.path.join(root, "vision", ".workspaces", "my view.json")
    stored = json.load(open(path))
    assert stored["project"] == "vision" and stored["name"] == "my view" and stored["extra"] == [1]
    status, loaded = call(port, "GET", q("/ui/api/workspace", project="vision", name="my view"), token=T)
    assert status == 200 and loaded["charts"] == doc()["charts"] and loaded["saved_at"] == got["saved_at"]
    # the all-projects view: at the root
    assert call(port, "PUT", q("/ui/api/workspace", name="all"), doc(), token=T)[0] == 200
    assert os.path.isfile(os.path.join(root, ".workspaces", "all.json"))
    assert call(port, "PUT", q("/ui/api/workspace-default", project="vision", name="my view"), token=T) == (
        200,
        {"default": "my view"},
    )
    status, listed = call(port, "GET", q("/ui/api/workspaces", project="vision"), token=T)
    assert listed["default"] == "my view"
    assert [(w["name"], w["size"]) for w in listed["workspaces"]] == [("my view", os.path.getsize(path))]
    assert call(port, "GET", q("/ui/api/workspaces"), token=T)[1]["workspaces"][0]["name"] == "all"
    # the runs table does not take .workspaces for a project or a run
    runs = call(port, "GET", "/ui/api/runs", token=T)[1]["runs"]
    assert {r["project"] for r in runs} == {"vision", "nlp"} and len(runs) == 2
    assert call(port, "DELETE", q("/ui/api/workspace", project="vision", name="my view"), token=T) == (
        200,
        {"deleted": "my view"},
    )
    assert call(port, "GET", q("/ui/api/workspaces", project="vision"), token=T)[1] == {
        "workspaces": [],
        "default": None,
    }
    assert call(port, "GET", q("/ui/api/workspace", project="vision", name="my view"), token=T)[0] == 404
    assert call(port, "DELETE", q("/ui/api/workspace", project="vision", name="my view"), token=T)[0] == 404
    assert call(port, "PUT", q("/ui/api/workspace-default", project="vision", name="gone"), token=T)[0] == 404
    assert call(port, "PUT", q("/ui/api/workspace-default", project="vision", name=""), token=T) == (
        200,
        {"default": None},
    )


def test_nothing_without_the_session(ui):
    port = ui.port
    for method, path in (
        ("GET", q("/ui/api/workspaces", project="vision")),
        ("GET", q("/ui/api/workspace", project="vision", name="a")),
        ("PUT", q("/ui/api/workspace", project="vision", name="a")),
        ("DELETE", q("/ui/api/workspace", project="vision", name="a")),
        ("PUT", q("/ui/api/workspace-default", project="vision", name="a")),
    ):
        assert call(port, method, path, doc() if method == "PUT" else None)[0] == 401, path
        assert call(port, method, path, doc() if method == "PUT" else None, token="wrong-token-xxxxxxxx")[0] == 401
    assert call(port, "PUT", q("/ui/api/workspace", project="vision", name="a"), doc(), cookie="x=1")[0] == 401
    # the session cookie works as the bearer does
    status, _ = call(port, "PUT", q("/ui/api/workspace", project="vision", name="a"), doc(), cookie=_signin(port, T))
    assert status == 200


def _signin(port, token) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST", "/ui/login", body=f"token={token}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 303
    return r.getheader("set-cookie").split(";")[0]


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", ".default", "", " x", "x" * 101, "a\\b", "a\nb", "é", "-x", "a%00", "..", "x:y"],
)
def test_hostile_names_are_400_naming_the_name(refusing, name):
    ui, root = refusing
    status, got = call(ui.port, "PUT", q("/ui/api/workspace", project="vision", name=name), doc(), token=T)
    assert status in (400, 422), (name, status, got)
    if status == 400:
        assert "workspace name" in got["detail"]
    assert call(ui.port, "GET", q("/ui/api/workspace", project="vision", name=name), token=T)[0] in (400, 422)
    assert not os.path.exists(os.path.join(root, "vision", ".workspaces"))


@pytest.mark.parametrize("project", ["../etc", ".workspaces", "a/b", "x" * 300])
def test_hostile_projects_are_refused(refusing, project):
    ui, root = refusing
    status, _ = call(ui.port, "PUT", q("/ui/api/workspace", project=project, name="a"), doc(), token=T)
    assert status in (400, 422)
    assert not os.path.exists(os.path.join(root, ".workspaces"))


def test_a_project_not_in_the_roots_is_404_and_nothing_is_made(refusing):
    ui, root = refusing
    status, got = call(ui.port, "PUT", q("/ui/api/workspace", project="nope", name="a"), doc(), token=T)
    assert status == 404 and "nope" in got["detail"]
    assert not os.path.exists(os.path.join(root, "nope"))


@pytest.mark.parametrize(
    "body, needle",
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"runs": {}}).encode(), "format"),
        (json.dumps({"format": "runship.workspace/9"}).encode(), "newer"),
        (json.dumps({**doc(), "charts": [1]}).encode(), "'charts' must be an object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "deeper than"),
        (b'{"format": "runship.workspace/1", "x": ' + b'{"a":' * 65 + b"1" + b"}" * 66, "deeper than"),
    ],
)
def test_hostile_bodies_are_400_naming_what_was_wrong(refusing, body, needle):
    ui, root = refusing
    status, got = call(ui.port, "PUT", q("/ui/api/workspace", project="vision", name="a"), body, token=T)
    assert status == 400, (status, got)
    assert needle in got["detail"]


def test_bodies_up_to_one_mib_pass_and_larger_are_413(ui, root):
    # far past the 8 KiB every other body of runship ui is held to
    big = doc(blob="x" * (1024 * 1024 - 400))
    data = json.dumps(big).encode()
    assert 1000 * 1024 < len(data) <= 1024 * 1024
    status, got = call(ui.port, "PUT", q("/ui/api/workspace", project="vision", name="big"), data, token=T)
    assert status == 200, got
    assert call(ui.port, "GET", q("/ui/api/workspace", project="vision", name="big"), token=T)[1]["blob"] == big["blob"]
    too_big = json.dumps(doc(blob="x" * (1024 * 1024 + 10))).encode()
    assert call(ui.port, "PUT", q("/ui/api/workspace", project="vision", name="big2"), too_big, token=T)[0] == 413
    # the sign-in form keeps its 8 KiB
    assert call(ui.port, "POST", "/ui/login", b"token=" + b"x" * 9000)[0] == 413


def test_a_linked_or_fifo_workspaces_folder_is_refused_never_followed(ui, root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.json").write_text(json.dumps(doc()))
    os.symlink(elsewhere, os.path.join(root, "vision", ".workspaces"))
    put = call(ui.port, "PUT", q("/ui/api/workspace", project="vision", name="a"), doc(), token=T)
    assert put[0] == 409 and "symlink" in put[1]["detail"], put
    assert os.listdir(elsewhere) == ["secret.json"]
    for path in (q("/ui/api/workspaces", project="vision"), q("/ui/api/workspace", project="vision", name="secret")):
        status, got = call(ui.port, "GET", path, token=T)
        assert status == 409 and "symlink" in got["detail"], got
    os.mkfifo(os.path.join(root, ".workspaces"))
    status, got = call(ui.port, "GET", q("/ui/api/workspaces"), token=T)  # answered, never blocked on the FIFO
    assert status == 409 and "fifo" in got["detail"], got
    assert call(ui.port, "PUT", q("/ui/api/workspace", name="a"), doc(), token=T)[0] == 409
    # a linked workspace file is neither read nor replaced
    os.makedirs(os.path.join(root, "nlp", ".workspaces"))
    os.symlink(elsewhere / "secret.json", os.path.join(root, "nlp", ".workspaces", "s.json"))
    assert call(ui.port, "GET", q("/ui/api/workspace", project="nlp", name="s"), token=T)[0] == 409
    assert call(ui.port, "GET", q("/ui/api/workspaces", project="nlp"), token=T)[1]["workspaces"] == []
    assert call(ui.port, "PUT", q("/ui/api/workspace", project="nlp", name="s"), doc(), token=T)[0] == 200
    assert os.path.islink(os.path.join(root, "nlp", ".workspaces", "s.json")) is False
    assert json.load(open(elsewhere / "secret.json")) == doc()


def test_several_roots_the_one_holding_the_project_keeps_it(tmp_path):
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    _runs(first, ("vision",))
    _runs(second, ("nlp",))
    s = UIServer([first, second], str(tmp_path)).start()
    try:
        assert call(s.port, "PUT", q("/ui/api/workspace", project="nlp", name="n"), doc(), token=T)[0] == 200
        assert call(s.port, "PUT", q("/ui/api/workspace", name="all"), doc(), token=T)[0] == 200
        assert os.path.isfile(os.path.join(second, "nlp", ".workspaces", "n.json"))
        assert os.path.isfile(os.path.join(first, ".workspaces", "all.json"))
        assert not os.path.exists(os.path.join(second, ".workspaces"))
    finally:
        s.stop()


# ---- runship serve: tokens and their scopes ----------------------------------------------------------
@pytest.fixture
def server(tmp_path):
    root = str(tmp_path / "store")
    _runs(root, ("mnist", "nlp"))
    s = RunshipServer(root, str(tmp_path)).start()
    yield s
    s.stop()


def test_serve_write_needs_write_scope_read_tokens_may_list_and_load(server):
    port, W, R, M = server.port, RunshipServer.TOKEN, RunshipServer.READ_TOKEN, RunshipServer.MNIST_TOKEN
    for prefix in ("/v1", "/ui/api"):
        put = q(f"{prefix}/workspace", project="mnist", name="v")
        assert call(port, "PUT", put, doc())[0] == 401
        assert call(port, "PUT", put, doc(), token=R)[0] == 403
        assert call(port, "PUT", put, doc(), token=W)[0] == 200
        assert call(port, "PUT", put, doc(), token=M)[0] == 200
        assert call(port, "GET", put, token=R)[1]["format"] == FORMAT
        assert [
            w["name"] for w in call(port, "GET", q(f"{prefix}/workspaces", project="mnist"), token=R)[1]["workspaces"]
        ] == ["v"]
        # a token of mnist only: not nlp, not the all-projects view (shared by everyone)
        assert call(port, "PUT", q(f"{prefix}/workspace", project="nlp", name="v"), doc(), token=M)[0] == 403
        assert call(port, "GET", q(f"{prefix}/workspaces", project="nlp"), token=M)[0] == 403
        assert call(port, "PUT", q(f"{prefix}/workspace", name="v"), doc(), token=M)[0] == 403
        assert call(port, "GET", q(f"{prefix}/workspaces"), token=M)[0] == 403
        assert call(port, "DELETE", put, token=R)[0] == 403
        assert call(port, "PUT", q(f"{prefix}/workspace-default", project="mnist", name="v"), token=R)[0] == 403
        assert call(port, "PUT", q(f"{prefix}/workspace-default", project="mnist", name="v"), token=M)[1] == {
            "default": "v"
        }
        assert call(port, "DELETE", put, token=W)[1] == {"deleted": "v"}
        assert call(port, "GET", put, token=W)[0] == 404
        assert call(port, "PUT", q(f"{prefix}/workspace", project="mnist", name="../x"), doc(), token=W)[0] == 400
        assert call(port, "PUT", put, b"[1]", token=W)[0] == 400
    assert os.path.isdir(os.path.join(server.root, "mnist", ".workspaces"))


def test_runship_ui_over_a_server_saves_through_it(server, tmp_path):
    token_file = tmp_path / "read-token"
    token_file.write_text(RunshipServer.TOKEN)
    token_file.chmod(0o600)
    ui = UIServer([server.url], str(tmp_path), global_args=["--token-file", str(token_file)]).start()
    try:
        status, got = call(ui.port, "PUT", q("/ui/api/workspace", project="mnist", name="remote"), doc(), token=T)
        assert status == 200, got
        assert os.path.isfile(os.path.join(server.root, "mnist", ".workspaces", "remote.json"))
        listed = call(ui.port, "GET", q("/ui/api/workspaces", project="mnist"), token=T)[1]
        assert [w["name"] for w in listed["workspaces"]] == ["remote"]
        assert (
            call(ui.port, "GET", q("/ui/api/workspace", project="mnist", name="remote"), token=T)[1]["name"] == "remote"
        )
        assert call(ui.port, "PUT", q("/ui/api/workspace", project="absent", name="x"), doc(), token=T)[0] == 404
    finally:
        ui.stop()


# ---- the CLI -----------------------------------------------------------------------------------------
def cli(*args, env=None):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(
        [sys.executable, "-m", "runship.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": here, **(env or {})},
        timeout=120,
    )


def test_cli_ls_show_rm(root):
    from runship.store.workspaces import workspaces_at

    store = workspaces_at(root)
    store.save("vision", "b view", doc())
    store.save("vision", "a", doc())
    store.set_default("vision", "a")
    out = cli("workspace", "ls", root, "--project", "vision")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "SAVED", "SIZE"]
    assert lines[1].startswith("a ") and "(default)" in lines[1] and lines[2].startswith("b view")
    js = json.loads(cli("workspace", "ls", root, "--project", "vision", "--json").stdout)
    assert js["default"] == "a" and [w["name"] for w in js["workspaces"]] == ["a", "b view"]
    shown = cli("workspace", "show", "b view", root, "--project", "vision")
    assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == "b view"
    assert cli("workspace", "show", "nope", root, "--project", "vision").returncode == 1
    assert cli("workspace", "show", "../x", root, "--project", "vision").returncode == 2
    assert cli("workspace", "ls", root, "--project", "nlp").returncode == 1  # none saved
    assert cli("workspace", "rm", "a", root, "--project", "vision").returncode == 0
    assert [w["name"] for w in store.list("vision")[0]] == ["b view"] and store.list("vision")[1] is None
    assert cli("workspace", "rm", "a", root, "--project", "vision").returncode == 1


def test_an_object_store_root_keeps_them_as_whole_objects():
    import fsspec

    from runship.store.workspaces import BadWorkspace, workspaces_at

    fs = fsspec.filesystem("memory")
    fs.pipe_file("/wsroot/vision/run1/run.json", b"{}")
    store = workspaces_at("memory://wsroot")
    assert store.list("vision") == ([], None)
    saved_at = store.save("vision", "v", doc())
    assert fs.cat_file("/wsroot/vision/.workspaces/v.json").startswith(b"{")
    entries, default = store.list("vision")
    assert [(e["name"], e["size"]) for e in entries] == [("v", len(fs.cat_file("/wsroot/vision/.workspaces/v.json")))]
    assert store.load("vision", "v")["saved_at"] == saved_at
    assert store.set_default("vision", "v") == "v" and store.list("vision")[1] == "v"
    with pytest.raises(FileNotFoundError):
        store.save("absent", "v", doc())
    with pytest.raises(BadWorkspace):
        store.save("vision", "../v", doc())
    fs.pipe_file("/wsroot/vision/.workspaces/bad.json", b"[" * 10_000)
    with pytest.raises(BadWorkspace, match="deeper than"):
        store.load("vision", "bad")
    store.delete("vision", "v")
    assert [e["name"] for e in store.list("vision")[0]] == ["bad"] and store.list("vision")[1] is None


def test_cli_over_a_server_with_its_tokens(server, tmp_path):
    W, R = RunshipServer.TOKEN, RunshipServer.READ_TOKEN
    assert call(server.port, "PUT", q("/v1/workspace", project="mnist", name="shared"), doc(), token=W)[0] == 200
    files = {}
    for label, token in (("w", W), ("r", R)):
        files[label] = tmp_path / f"token-{label}"
        files[label].write_text(token)
        files[label].chmod(0o600)
    out = cli("--token-file", str(files["r"]), "workspace", "ls", server.url, "--project", "mnist")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].startswith("shared ")
    shown = cli("--token-file", str(files["r"]), "workspace", "show", "shared", server.url, "--project", "mnist")
    assert json.loads(shown.stdout)["project"] == "mnist"
    refused = cli("--token-file", str(files["r"]), "workspace", "rm", "shared", server.url, "--project", "mnist")
    assert refused.returncode == 1 and "may not save" in refused.stderr
    assert cli("workspace", "ls", server.url, "--project", "mnist").returncode == 1  # no token: refused
    assert (
        cli("--token-file", str(files["w"]), "workspace", "rm", "shared", server.url, "--project", "mnist").returncode
        == 0
    )
    assert not os.path.exists(os.path.join(server.root, "mnist", ".workspaces", "shared.json"))
    assert call(server.port, "PUT", q("/v1/workspace", project="absent", name="x"), doc(), token=W)[0] == 404


def test_an_fsspec_root_without_atomic_writes_is_read_not_written(root):
    from runship.store.workspaces import Refused, workspaces_at

    workspaces_at(root).save("vision", "v", doc())
    store = workspaces_at("local://" + root)  # fsspec's own local files: no write-then-rename through it
    assert [e["name"] for e in store.list("vision")[0]] == ["v"]
    assert store.load("vision", "v")["name"] == "v"
    with pytest.raises(Refused, match="saved only to") as e:
        store.save("vision", "w", doc())
    assert e.value.status == 409
    assert not os.path.exists(os.path.join(root, "vision", ".workspaces", "w.json"))


def test_a_chunked_body_past_one_mib_is_cut_off_413(ui, root):
    def chunks():
        yield b'{"format": "runship.workspace/1", "blob": "'
        for _ in range(70):
            yield b"x" * 16384
        yield b'"}'

    conn = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
    conn.request(
        "PUT",
        q("/ui/api/workspace", project="vision", name="chunked"),
        body=chunks(),
        headers={"Authorization": f"Bearer {T}", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 413
    assert not os.path.exists(os.path.join(root, "vision", ".workspaces", "chunked.json"))


def test_put_file_stores_a_checked_file_as_it_is_and_refuses_what_is_not_a_workspace(tmp_path):
    """The uploader's write (``Workspaces.put_file``): a workspace's bytes kept
    byte for byte and read back; a bad name, bytes that are not a workspace,
    or a file over 1 MiB refused before anything is written."""
    from runship.store.workspaces import workspaces_at

    store = workspaces_at(str(tmp_path))
    data = json.dumps(doc(name="mine", note="é")).encode()  # not ASCII: kept as sent
    store.put_file("vision", "mine.json", data)
    assert (tmp_path / "vision" / ".workspaces" / "mine.json").read_bytes() == data
    assert store.load("vision", "mine")["runs"]["band"] == "std"
    store.put_file("vision", ".default.json", b'{"name": "mine"}')
    assert store.list("vision")[1] == "mine"
    bad = [
        ("../x.json", data),
        ("mine.json", b"not json"),
        ("mine.json", json.dumps({"format": "other/1"}).encode()),
        ("big.json", json.dumps(doc(pad="x" * (1 << 20))).encode()),
    ]
    for file, body in bad:
        with pytest.raises(ValueError):
            store.put_file("vision", file, body)
    assert sorted(os.listdir(tmp_path / "vision" / ".workspaces")) == [".default.json", "mine.json"]
    assert (tmp_path / "vision" / ".workspaces" / "mine.json").read_bytes() == data
