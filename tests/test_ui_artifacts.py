"""The web app's artifact API (``/ui/api/artifacts``, ``/ui/api/artifact``,
``/ui/api/lineage``), in process, over runs that logged and used artifacts
through the store (tests/artifact_runs.py): what each answer holds, its
bounds, names checked, a token's scope, a place that is not a local root.
(The page: tests/browser/test_artifacts_page.py.)"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from runship.store.artifacts import ArtifactStore, LocalArea
from runship.web.app import ui_app
from runship.web.auth import Gate, Token
from runship.web.guard import Limits
from runship.web.places import Place
from runship.web.views import artifact_pages as views
from tests.artifact_runs import EVIL, EVIL_FILE, PROJECT, log, make_story


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return make_story(str(tmp_path_factory.mktemp("art")), versions=12)


def client(*roots: str, tokens: list[Token] | None = None) -> TestClient:
    places = [Place(r, cache=False) for r in roots]
    return TestClient(ui_app(places, Gate(tokens), Limits(), allowed_hosts=None))


def get(c: TestClient, path: str, status: int = 200, **params):
    r = c.get(path, params=params)
    assert r.status_code == status, r.text
    return r.json()


def test_the_store_lists_its_projects_and_names(story):
    store = ArtifactStore(LocalArea(story.root))
    assert store.area.projects() == [PROJECT]
    assert store.names(PROJECT) == ["extra", "mnist", "report", "resnet"]


def test_a_projects_artifacts(story):
    c = client(story.root)
    assert get(c, "/ui/api/artifacts") == {
        "project": None,
        "projects": [PROJECT],
        "artifacts": [],
        "notes": [],
        "truncated": False,
        "problems": [],
    }
    res = get(c, "/ui/api/artifacts", project=PROJECT)
    rows = {a["name"]: a for a in res["artifacts"]}
    assert [a["name"] for a in res["artifacts"]] == ["report", "extra", "mnist", "resnet"]  # by type, then name
    mnist = rows["mnist"]
    assert mnist["type"] == "dataset" and mnist["versions"] == 12 and mnist["latest"] == "v11"
    assert mnist["aliases"] == {"baseline": "v3", "latest": "v11", "production": "v11"}
    assert mnist["size_of"] == 12 and mnist["size"] > 0 and isinstance(mnist["created_at"], float)
    assert mnist["producers"] == [
        {"ref": story.ref("prep"), "project": PROJECT, "id": story.runs["prep"]["id"], "name": "prep"}
    ]
    assert rows["report"]["type"] == EVIL and rows["report"]["producers"][0]["name"] == EVIL
    assert res["truncated"] is False and res["problems"] == []


def test_a_version_its_files_users_and_versions(story):
    c = client(story.root)
    art = get(c, "/ui/api/artifact", project=PROJECT, name="mnist")  # latest
    assert (art["version"], art["aliases"], art["version_count"]) == ("v11", ["latest", "production"], 12)
    assert art["producer"]["ref"] == story.ref("prep")
    assert [f["path"] for f in art["files"]] == ["labels/classes.txt", "train.csv"]
    assert all(len(f["digest"]) == 64 for f in art["files"]) and art["file_count"] == 2
    assert art["users"] == [
        {"ref": story.ref("train"), "project": PROJECT, "id": story.runs["train"]["id"], "name": "train"}
    ]
    assert [v["version"] for v in art["versions"]] == [f"v{i}" for i in range(11, -1, -1)]
    assert art["versions"][8] == {**art["versions"][8], "version": "v3", "aliases": ["baseline"], "file_count": 3}
    by_alias = get(c, "/ui/api/artifact", project=PROJECT, name="mnist", version="baseline")
    assert by_alias["version"] == "v3" and by_alias["users"] == [] and by_alias["user_count"] == 0
    page = get(c, "/ui/api/artifact", project=PROJECT, name="mnist", version="v3", offset=1, limit=1)
    assert [f["path"] for f in page["files"]] == ["labels/classes.txt"] and page["file_count"] == 3
    model = get(c, "/ui/api/artifact", project=PROJECT, name="resnet")
    assert model["description"] == EVIL and model["metadata"]["note"] == EVIL and model["metadata_note"] is None
    assert [f["path"] for f in model["files"]] == [EVIL_FILE, "model.pt"]
    assert model["users"][0]["name"] == EVIL


def test_lineage_around_a_version_and_a_run(story):
    c = client(story.root)
    prep, train, evil = (f"run:{story.ref(n)}" for n in ("prep", "train", EVIL))
    g = get(c, "/ui/api/lineage", project=PROJECT, name="resnet", version="v0")
    assert g["center"] == "artifact:resnet:v0" and g["complete"] and not g["truncated"]
    assert {n["id"]: n["kind"] for n in g["nodes"]} == {
        "artifact:resnet:v0": "artifact",
        train: "run",
        evil: "run",
        "artifact:mnist:v11": "artifact",
        "artifact:report:v0": "artifact",
    }
    assert sorted((e["from"], e["to"], e["kind"]) for e in g["edges"]) == sorted(
        [
            (train, "artifact:resnet:v0", "produced"),
            ("artifact:resnet:v0", evil, "used"),
            ("artifact:mnist:v11", train, "used"),
            (evil, "artifact:report:v0", "produced"),
        ]
    )
    run = next(n for n in g["nodes"] if n["id"] == train)
    assert run == {
        "id": train,
        "kind": "run",
        "ref": story.ref("train"),
        "project": PROJECT,
        "run_id": story.runs["train"]["id"],
        "name": "train",
    }
    r = get(c, "/ui/api/lineage", run=story.ref("train"))
    assert r["center"] == train
    assert [(v["name"], v["version"]) for v in r["logged"]] == [("resnet", "v0")]
    assert [(v["name"], v["version"], v["producer"]["name"]) for v in r["used"]] == [("mnist", "v11", "prep")]
    assert {(e["from"], e["to"]) for e in r["edges"]} == {
        ("artifact:mnist:v11", train),
        (prep, "artifact:mnist:v11"),
        (train, "artifact:resnet:v0"),
        ("artifact:resnet:v0", evil),
    }
    none = get(c, "/ui/api/lineage", run=story.ref(EVIL).replace(story.runs[EVIL]["id"], "nosuchrun"))
    assert none["logged"] == [] and none["used"] == [] and [n["kind"] for n in none["nodes"]] == ["run"]


@pytest.mark.parametrize(
    "path, params, status",
    [
        ("/ui/api/artifact", {"project": PROJECT, "name": "../x"}, 400),
        ("/ui/api/artifact", {"project": PROJECT, "name": "a/b"}, 400),
        ("/ui/api/artifact", {"project": "../etc", "name": "mnist"}, 400),
        ("/ui/api/artifact", {"project": PROJECT, "name": "nope"}, 404),
        ("/ui/api/artifact", {"project": PROJECT, "name": "mnist", "version": "v99"}, 404),
        ("/ui/api/artifact", {"project": PROJECT, "name": "mnist", "version": "<b>"}, 400),
        ("/ui/api/artifact", {"project": PROJECT, "name": "mnist", "version": "nosuchalias"}, 404),
        ("/ui/api/artifact", {"project": PROJECT, "name": "mnist", "place": 3}, 400),
        ("/ui/api/artifact", {"project": PROJECT, "name": "mnist", "offset": -1}, 422),
        ("/ui/api/artifacts", {"project": ".hidden"}, 400),
        ("/ui/api/lineage", {"project": PROJECT}, 400),
        ("/ui/api/lineage", {"run": "0:vision"}, 400),
        ("/ui/api/lineage", {"run": "7:vision/abc"}, 400),
    ],
)
def test_bad_requests_say_what_was_wrong(story, path, params, status):
    body = get(client(story.root), path, status, **params)
    assert body["detail"]


def test_a_token_reads_only_its_projects(story):
    other = Token("t-other-0123456789abcdef", read=True, write=False, projects=frozenset({"nlp"}), label="other")
    c = client(story.root, tokens=[other])
    headers = {"Authorization": f"Bearer {other.secret}"}
    assert c.get("/ui/api/artifacts", params={"project": PROJECT}, headers=headers).status_code == 403
    assert c.get("/ui/api/artifact", params={"project": PROJECT, "name": "mnist"}, headers=headers).status_code == 403
    assert c.get("/ui/api/lineage", params={"run": story.ref("train")}, headers=headers).status_code == 403
    assert c.get("/ui/api/artifacts", headers=headers).json()["projects"] == []
    assert c.get("/ui/api/artifacts").status_code == 401


def test_a_place_on_an_object_store_is_read_and_one_that_fails_is_a_note(story, tmp_path):
    """A place whose root is a URL is read through its store (here fsspec's
    memory://, holding a copy of the local mnist versions); a place whose
    root is gone is a note naming it, and the others are still listed."""
    from runship.store.artifact_remote import area_at
    from runship.store.artifacts import copy_version

    url = f"memory://ui-{uuid.uuid4().hex[:8]}/runs"
    local, remote = ArtifactStore(LocalArea(story.root)), ArtifactStore(area_at(url))
    for i in local.indexes(PROJECT, "mnist"):
        copy_version(local, remote, PROJECT, local.manifest(PROJECT, "mnist", i))
    gone = str(tmp_path / "gone")
    c = client(url, story.root, gone)
    res = get(c, "/ui/api/artifacts", project=PROJECT)
    assert [n["place"] for n in res["notes"]] == [2] and "no run root" in res["notes"][0]["note"]
    assert {(a["place"], a["name"]) for a in res["artifacts"] if a["place"] == 0} == {(0, "mnist")}
    art = get(c, "/ui/api/artifact", project=PROJECT, name="mnist", place=0)
    assert art["place"] == 0 and art["version"] == f"v{local.indexes(PROJECT, 'mnist')[-1]}"


def test_answers_are_bounded(tmp_path, monkeypatch):
    """Files a page, versions a table, boxes a graph, metadata sent."""
    story = make_story(str(tmp_path / "own"), versions=12)
    store = ArtifactStore(LocalArea(story.root))
    many = {f"f{i:03d}.txt": str(i).encode() for i in range(30)}
    run = story.runs["prep"]
    log(store, str(tmp_path), run, "wide", "dataset", many, metadata={"blob": "x" * 200})
    monkeypatch.setattr(views, "MAX_FILES", 10)
    monkeypatch.setattr(views, "MAX_VERSIONS", 5)
    monkeypatch.setattr(views, "MAX_NODES", 3)
    monkeypatch.setattr(views, "MAX_METADATA", 100)
    c = client(story.root)
    wide = get(c, "/ui/api/artifact", project=PROJECT, name="wide", limit=1000)
    assert len(wide["files"]) == 10 and wide["file_count"] == 30 and wide["limit"] == 10
    assert wide["metadata"] is None and "not shown" in wide["metadata_note"]
    mnist = get(c, "/ui/api/artifact", project=PROJECT, name="mnist")
    assert [v["version"] for v in mnist["versions"]] == ["v11", "v10", "v9", "v8", "v7"] and mnist[
        "version_count"
    ] == 12
    g = get(c, "/ui/api/lineage", project=PROJECT, name="resnet")
    assert len(g["nodes"]) == 3 and g["truncated"]
    monkeypatch.setattr(views, "MAX_SCAN", 2)
    assert get(c, "/ui/api/lineage", run=story.ref("train"))["complete"] is False


def test_runship_serve_shows_the_artifacts_of_its_store(story):
    from runship.web.app import ServeConfig, serve_app

    c = TestClient(serve_app(ServeConfig(story.root, None, access_log=False, allowed_hosts=None)))
    art = get(c, "/ui/api/artifact", project=PROJECT, name="resnet")
    assert art["producer"]["ref"] == story.ref("train") and art["users"][0]["ref"] == story.ref(EVIL)
    assert len(get(c, "/ui/api/artifacts", project=PROJECT)["artifacts"]) == 4


def test_a_place_failing_while_listed_is_a_note_and_the_others_are_listed(story):
    """A server that is down (nothing listens on the port) as one of the
    roots: the listing names it in ``notes`` and still lists the local root's
    artifacts; a version asked for without a place is found in the root that answers."""
    down = Place("http://127.0.0.1:9/", storage_options={"attempts": 1}, cache=False)  # one try, no backoff
    c = TestClient(ui_app([down, Place(story.root, cache=False)], Gate(None), Limits(), allowed_hosts=None))
    res = get(c, "/ui/api/artifacts", project=PROJECT)
    assert [n["place"] for n in res["notes"]] == [0]
    assert {a["place"] for a in res["artifacts"]} == {1}
    assert get(c, "/ui/api/artifact", project=PROJECT, name="mnist")["place"] == 1
