"""``runship upload`` ships saved workspaces with the runs: to an object
store (moto's S3 server on loopback) in the layout ``runship.store.workspaces``
reads, and to a real ``runship serve`` through its /v1 endpoints; an
unchanged workspace is not sent again; a token that may not write a
project is refused there and the rest goes on; hostile files are skipped
with a warning naming them."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from runship.store.workspaces import LocalWorkspaces, workspaces_at
from tests.conftest import RUNSHIP, child_env, upload_cmd
from tests.servers import S3_ENV, RunshipServer

pytestmark = pytest.mark.heavy  # real uploads to moto S3 and a real server: `make test-heavy`


def _doc(title: str) -> dict:
    return {
        "format": "runship.workspace/1",
        "runs": {"filter": "", "group": ["config.lr"], "max_shown": 10},
        "charts": {"x": "_step", "sections": [{"name": title, "collapsed": False, "panels": []}], "auto": True},
    }


@pytest.fixture
def saved(root, make_run):
    """A root with runs in mnist and other, and saved workspaces: two of
    mnist's (one the default), one of other's, one of the all-projects view."""
    for project in ("mnist", "other"):
        run = make_run(project=project, config={"lr": 0.1})
        run.log({"loss": 1.0})
        run.finish()
    local = LocalWorkspaces(root)
    local.save("mnist", "my view", _doc("train"))
    local.save("mnist", "val only", _doc("val"))
    local.set_default("mnist", "my view")
    local.save("other", "o1", _doc("o"))
    local.save(None, "overview", _doc("all"))
    return root


def _ls(url: str, project: str | None, env: dict) -> dict:
    """``runship workspace ls URL --project P --json`` as a real process."""
    args = [*RUNSHIP, "workspace", "ls", url, "--json", *(["--project", project] if project else [])]
    out = subprocess.run(args, env=child_env(env), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _names(listing: dict) -> list[str]:
    return [e["name"] for e in listing["workspaces"]]


def test_upload_to_s3_ships_workspaces_where_the_store_and_the_cli_list_them(saved, tmp_path, moto):
    bucket = f"ws-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    url, env = f"s3://{bucket}/runs", {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
    out = upload_cmd([saved], url, tmp_path / "state", env=env)
    assert out.returncode == 0, out.stderr

    remote = workspaces_at(url, {"endpoint_url": moto.endpoint})
    assert remote.list("mnist")[1] == "my view"
    assert [e["name"] for e in remote.list("mnist")[0]] == ["my view", "val only"]
    assert remote.load("mnist", "val only")["charts"]["sections"][0]["name"] == "val"
    assert remote.load("mnist", "my view") == LocalWorkspaces(saved).load("mnist", "my view")  # copied whole
    assert [e["name"] for e in remote.list("other")[0]] == ["o1"]
    assert [e["name"] for e in remote.list(None)[0]] == ["overview"]  # the all-projects view: URL/.workspaces/
    listing = _ls(url, "mnist", env)
    assert _names(listing) == ["my view", "val only"] and listing["default"] == "my view"
    assert _names(_ls(url, None, env)) == ["overview"]
    # and the runs still list as they did: a .workspaces is no project or run
    ls = subprocess.run([*RUNSHIP, "ls", url, "--json"], env=child_env(env), capture_output=True, text=True, timeout=60)
    assert ls.returncode == 0 and "WARN" not in ls.stderr, ls.stderr
    assert sorted(json.loads(line)["project"] for line in ls.stdout.splitlines()) == ["mnist", "other"], ls.stdout


def test_an_unchanged_workspace_is_not_sent_again_a_changed_one_is(saved, tmp_path, moto):
    bucket = f"ws-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    url, env = f"s3://{bucket}/runs", {"AWS_ENDPOINT_URL": moto.endpoint, **S3_ENV}
    assert upload_cmd([saved], url, tmp_path / "state", env=env).returncode == 0
    remote = workspaces_at(url, {"endpoint_url": moto.endpoint})
    # the remote copies taken away behind the uploader's back: a second pass
    # that sent them again would put them back
    remote.fs.rm_file(f"{remote.path}/mnist/.workspaces/my view.json")
    remote.fs.rm_file(f"{remote.path}/mnist/.workspaces/val only.json")
    out = upload_cmd([saved], url, tmp_path / "state", env=env)
    assert out.returncode == 0, out.stderr
    assert remote.list("mnist")[0] == []
    LocalWorkspaces(saved).save("mnist", "val only", _doc("val2"))  # changed here
    assert upload_cmd([saved], url, tmp_path / "state", env=env).returncode == 0
    assert [e["name"] for e in remote.list("mnist")[0]] == ["val only"]
    assert remote.load("mnist", "val only")["charts"]["sections"][0]["name"] == "val2"


def test_upload_to_a_runship_server_saves_workspaces_through_its_api(saved, tmp_path):
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        env = {"RUNSHIP_TOKEN": RunshipServer.TOKEN}
        os.mkdir(os.path.join(saved, "norun"))
        LocalWorkspaces(saved).save("norun", "lonely", _doc("x"))  # a project with no run: none on the server
        out = upload_cmd([saved], server.url, tmp_path / "state", env=env)
        assert out.returncode == 0, out.stderr
        assert os.path.join(saved, "norun", ".workspaces", "lonely.json") in out.stderr  # named, not a failure
        remote = workspaces_at(server.url, {"token": RunshipServer.TOKEN})
        entries, default = remote.list("mnist")
        assert [e["name"] for e in entries] == ["my view", "val only"] and default == "my view"
        assert remote.load("mnist", "val only")["charts"]["sections"][0]["name"] == "val"
        assert [e["name"] for e in remote.list(None)[0]] == ["overview"]
        listing = _ls(server.url, "mnist", env)
        assert _names(listing) == ["my view", "val only"] and listing["default"] == "my view"
        # the server stamps the time of each save: a second pass saves nothing
        before = {e["name"]: e["saved_at"] for e in remote.list("mnist")[0]}
        assert upload_cmd([saved], server.url, tmp_path / "state", env=env).returncode == 0
        assert {e["name"]: e["saved_at"] for e in remote.list("mnist")[0]} == before
        wide = {**_doc("val2"), "notes": "é" * 400_000}  # 800 KB here; 2.4 MB if sent as ASCII JSON
        LocalWorkspaces(saved).save("mnist", "val only", wide)
        out = upload_cmd([saved], server.url, tmp_path / "state", env=env)
        assert out.returncode == 0, out.stderr
        assert remote.load("mnist", "val only")["notes"] == wide["notes"]
        after = {e["name"]: e["saved_at"] for e in remote.list("mnist")[0]}
        assert after["my view"] == before["my view"] and after["val only"] != before["val only"]
        assert remote.load("mnist", "val only")["charts"]["sections"][0]["name"] == "val2"
    finally:
        server.stop()


def test_a_token_that_may_not_write_a_project_is_named_and_the_rest_goes_up(saved, tmp_path):
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        out = upload_cmd([saved], server.url, tmp_path / "state", env={"RUNSHIP_TOKEN": RunshipServer.MNIST_TOKEN})
        assert out.returncode == 1, out.stderr  # a failure, as a run the token may not write
        lines = [ln for ln in out.stderr.splitlines() if "workspace" in ln and "403" in ln]
        assert any(os.path.join(saved, "other", ".workspaces", "o1.json") in ln for ln in lines), out.stderr
        assert any(os.path.join(saved, ".workspaces", "overview.json") in ln for ln in lines), out.stderr
        remote = workspaces_at(server.url, {"token": RunshipServer.TOKEN})
        entries, default = remote.list("mnist")
        assert [e["name"] for e in entries] == ["my view", "val only"] and default == "my view"
        assert remote.list(None)[0] == []
    finally:
        server.stop()


def test_hostile_workspace_files_are_skipped_with_a_warning_naming_them(saved, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps(_doc("secret")))
    folder = os.path.join(saved, "mnist", ".workspaces")
    os.symlink(outside / "secret.json", os.path.join(folder, "link.json"))
    os.mkfifo(os.path.join(folder, "pipe.json"))
    with open(os.path.join(folder, "huge.json"), "wb") as f:
        f.write(b'{"format": "runship.workspace/1", "pad": "' + b"x" * (1 << 20) + b'"}')
    with open(os.path.join(folder, "garbage.json"), "wb") as f:
        f.write(b"{not json")
    with open(os.path.join(folder, "alien.json"), "w") as f:
        json.dump({"format": "something/else"}, f)
    with open(os.path.join(folder, "bad name!.json"), "w") as f:
        json.dump(_doc("x"), f)
    other = os.path.join(saved, "other", ".workspaces")
    os.rename(other, str(tmp_path / "moved"))
    os.symlink(tmp_path / "moved", other)  # a .workspaces that is a link
    os.mkfifo(os.path.join(folder, ".tmp-partial"))  # not a workspace's file: ignored quietly
    os.rename(os.path.join(saved, ".workspaces"), str(tmp_path / "moved-all"))
    os.mkfifo(os.path.join(saved, ".workspaces"))  # a .workspaces that is a FIFO

    target = tmp_path / "remote"
    out = upload_cmd([saved], f"file://{target}", tmp_path / "state", timeout=60)
    assert out.returncode == 0, out.stderr
    for name in ("link.json", "pipe.json", "huge.json", "garbage.json", "alien.json", "bad name!.json"):
        assert os.path.join(folder, name) in out.stderr, (name, out.stderr)
    assert other in out.stderr and "symlink" in out.stderr
    assert os.path.join(saved, ".workspaces") in out.stderr and "fifo" in out.stderr
    assert ".tmp-partial" not in out.stderr and "secret" not in out.stderr
    remote = workspaces_at(str(target))
    assert [e["name"] for e in remote.list("mnist")[0]] == ["my view", "val only"]  # only the good ones
    assert remote.list("other")[0] == [] and remote.list(None)[0] == []
    assert sorted(os.listdir(target / "mnist" / ".workspaces")) == [".default.json", "my view.json", "val only.json"]


def test_a_workspace_deleted_here_stays_on_the_target(saved, tmp_path):
    target = tmp_path / "remote"
    assert upload_cmd([saved], f"file://{target}", tmp_path / "state").returncode == 0
    LocalWorkspaces(saved).delete("mnist", "val only")
    out = upload_cmd([saved], f"file://{target}", tmp_path / "state")
    assert out.returncode == 0, out.stderr
    assert [e["name"] for e in workspaces_at(str(target)).list("mnist")[0]] == ["my view", "val only"]
    assert [e["name"] for e in workspaces_at(str(target)).list(None)[0]] == ["overview"]
    ls = subprocess.run([*RUNSHIP, "ls", str(target), "--json"], env=child_env(), capture_output=True, text=True)
    assert ls.returncode == 0 and "WARN" not in ls.stderr, ls.stderr
    assert sorted(json.loads(line)["project"] for line in ls.stdout.splitlines()) == ["mnist", "other"], ls.stdout


def test_a_default_naming_a_workspace_that_did_not_go_up_is_not_sent(saved, tmp_path):
    folder = os.path.join(saved, "other", ".workspaces")
    with open(os.path.join(folder, "broken.json"), "wb") as f:
        f.write(b"[1, 2")
    with open(os.path.join(folder, ".default.json"), "w") as f:
        json.dump({"name": "broken"}, f)
    target = tmp_path / "remote"
    out = upload_cmd([saved], f"file://{target}", tmp_path / "state")
    assert out.returncode == 0, out.stderr
    assert os.path.join(folder, ".default.json") in out.stderr and "'broken'" in out.stderr
    assert workspaces_at(str(target)).list("other")[1] is None
    assert [e["name"] for e in workspaces_at(str(target)).list("other")[0]] == ["o1"]
    LocalWorkspaces(saved).set_default("other", "o1")  # a default naming one that is up: sent
    assert upload_cmd([saved], f"file://{target}", tmp_path / "state").returncode == 0
    assert workspaces_at(str(target)).list("other")[1] == "o1"


def test_a_folder_of_more_workspaces_than_a_listing_shows_sends_the_first_by_name(tmp_path):
    from runship.schema.workspace import MAX_WORKSPACES
    from runship.uploader.workspaces import candidates

    folder = tmp_path / ".workspaces"
    folder.mkdir()
    for i in range(MAX_WORKSPACES + 2):
        (folder / f"w{i:05d}.json").write_bytes(b"{}")
    (folder / ".default.json").write_bytes(b'{"name": "w00000"}')
    skipped: list[str] = []
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = candidates(fd, str(folder), lambda path, why: skipped.append(path))
    finally:
        os.close(fd)
    assert len(got) == MAX_WORKSPACES + 1 and got[-1] == ".default.json" and got[0] == "w00000.json"
    assert skipped == [str(folder / f"w{i:05d}.json") for i in (MAX_WORKSPACES, MAX_WORKSPACES + 1)]


def test_a_watching_uploader_sends_a_workspace_saved_while_it_runs(saved, tmp_path):
    import signal
    import time

    from tests.conftest import upload_popen

    target = tmp_path / "remote"
    watcher = upload_popen([saved], f"file://{target}", tmp_path / "state", "--watch", "--interval", "0.2")
    try:
        remote = workspaces_at(str(target))
        deadline = time.monotonic() + 60
        while "my view.json" not in _listed(target / "mnist" / ".workspaces") and time.monotonic() < deadline:
            time.sleep(0.05)
        LocalWorkspaces(saved).save("mnist", "later", _doc("later"))
        while "later.json" not in _listed(target / "mnist" / ".workspaces") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert remote.load("mnist", "later")["charts"]["sections"][0]["name"] == "later"
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err


def _listed(folder) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
