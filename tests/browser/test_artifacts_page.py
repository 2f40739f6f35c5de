"""The artifacts page (#/artifacts) and the run page's Artifacts tab in a
real headless Chromium, over runs that logged and used artifacts through
the store (tests/artifact_runs.py): names by type, a dozen versions with
their aliases, a version's files, metadata and users, the lineage graph's
boxes, arrows and links, names and metadata that are scripts shown as
text, and the page at 1280x720 and 1920x1080 ($UI_SCREENSHOTS (not RUNSHIP_: the suite clears those): where
the screenshots go, else the test's tmp folder)."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from runship.store.artifacts import ArtifactStore, LocalArea
from tests.artifact_runs import EVIL, EVIL_FILE, finished_run, log, make_story
from tests.browser.chromium import until, wait_ready
from tests.servers import UIServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return make_story(str(tmp_path_factory.mktemp("art")), versions=12)


@pytest.fixture(scope="module")
def ui(story, tmp_path_factory):
    s = UIServer([story.root], str(tmp_path_factory.mktemp("ui"))).start()
    yield s
    s.stop()


def run_hash(ref: str, tab: str | None = None) -> str:
    return "#/run/" + urllib.parse.quote(ref, safe="") + (f"?tab={tab}" if tab else "")


def side(page) -> list[tuple[str, str]]:
    """The names listed, as (type heading or item, text), in order."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#artifact-list .art-type, #artifact-list .art-item')].map(e =>
            e.classList.contains('art-type') ? ['type', e.dataset.type] : ['item', e.dataset.name])"""
    )


def versions(page) -> dict[str, dict]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#artifact-versions tbody tr')].map(tr => [tr.dataset.version, {
            selected: tr.classList.contains('selected'),
            aliases: [...tr.querySelectorAll('.alias-chip')].map(c => c.textContent),
            producer: tr.querySelector('a.run-link') && tr.querySelector('a.run-link').getAttribute('href'),
            producerName: tr.querySelector('a.run-link') && tr.querySelector('a.run-link').textContent,
        }]))"""
    )


def files(page) -> list[list[str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#artifact-files tbody tr')].map(tr =>
            [...tr.querySelectorAll('td')].map(td => td.textContent))"""
    )


def graph(page, where: str = "") -> dict:
    return page.evaluate(
        """(where) => ({
            nodes: Object.fromEntries([...document.querySelectorAll(where + ' svg.lineage-svg a.lineage-node')].map(a => [a.dataset.id,
                {kind: a.dataset.kind, href: a.getAttribute('href'), label: a.querySelector('.lineage-label').textContent,
                 center: a.classList.contains('center')}])),
            edges: [...document.querySelectorAll(where + ' svg.lineage-svg path.lineage-edge')].map(p =>
                [p.dataset.from, p.dataset.to, p.dataset.kind]).sort(),
        })""",
        where,
    )


def open_artifact(w, ui, name: str, version: str | None = None) -> None:
    q = f"project=vision&name={urllib.parse.quote(name)}" + (f"&version={version}" if version else "")
    w.page.goto(f"{ui.url}/#/artifacts?{q}")
    wait_ready(w.page)


def test_versions_aliases_files_and_lineage(story, ui, open_page):
    w = open_page(ui, UIServer.TOKEN, path="/#/artifacts")
    page = w.page
    wait_ready(page)
    assert "project=vision" in page.url  # the only project with artifacts, chosen
    assert page.get_attribute(".topnav .nav[data-nav=artifacts]", "class") == "nav active"
    listed = [tuple(x) for x in side(page)]
    assert listed == [
        ("type", EVIL),
        ("item", "report"),
        ("type", "dataset"),
        ("item", "extra"),
        ("item", "mnist"),
        ("type", "model"),
        ("item", "resnet"),
    ]
    page.click("#artifact-list .art-item[data-name=mnist]")
    until(page, "document.querySelector('#artifact-detail .art-artifact[data-name=mnist]')")
    table = versions(page)
    assert list(table) == [f"v{i}" for i in range(11, -1, -1)]  # newest first
    assert table["v11"]["selected"] and table["v11"]["aliases"] == ["latest", "production"]
    assert table["v3"]["aliases"] == ["baseline"]
    assert all(v["aliases"] == [] for k, v in table.items() if k not in ("v11", "v3"))
    prep = run_hash(story.ref("prep"))
    assert {v["producer"] for v in table.values()} == {prep} and table["v0"]["producerName"] == "prep"
    assert [f[0] for f in files(page)] == ["labels/classes.txt", "train.csv"]
    assert "version=" not in page.url and "name=mnist" in page.url

    g = graph(page, "#artifact-detail")
    mnist11, train = "artifact:mnist:v11", f"run:{story.ref('train')}"
    assert set(g["nodes"]) == {mnist11, f"run:{story.ref('prep')}", train, "artifact:resnet:v0"}
    assert g["nodes"][mnist11]["center"] and g["nodes"][train]["href"] == run_hash(story.ref("train"))
    assert g["nodes"]["artifact:resnet:v0"]["href"] == "#/artifacts?project=vision&name=resnet&version=v0"
    assert g["edges"] == sorted(
        [
            [f"run:{story.ref('prep')}", mnist11, "produced"],
            [mnist11, train, "used"],
            [train, "artifact:resnet:v0", "produced"],
        ]
    )
    assert page.locator("#artifact-users a.run-link").evaluate_all("as => as.map(a => a.textContent)") == ["train"]

    page.click("#artifact-versions tbody tr[data-version=v3] td:nth-child(3)")  # a version chosen: its files
    until(page, "document.querySelector('#artifact-version-title').textContent === 'mnist:v3'")
    assert versions(page)["v3"]["selected"] and not versions(page)["v11"]["selected"]
    assert [f[0] for f in files(page)] == ["extra/part-3.bin", "labels/classes.txt", "train.csv"]
    size, digest = files(page)[0][1:]
    assert size == "1.0 KB" and len(digest) == 12 and all(c in "0123456789abcdef" for c in digest)
    assert "version=v3" in page.url
    assert page.locator("#artifact-users li").inner_text() == "no run used this version"
    g = graph(page, "#artifact-detail")
    assert set(g["nodes"]) == {"artifact:mnist:v3", f"run:{story.ref('prep')}"}

    page.reload()  # the address holds the choice
    wait_ready(page)
    until(
        page,
        "document.querySelector('#artifact-version-title') && document.querySelector('#artifact-version-title').textContent === 'mnist:v3'",
    )
    w.check_clean()


def test_scripts_in_names_and_metadata_are_text(story, ui, open_page):
    w = open_page(ui, UIServer.TOKEN, path="/#/artifacts?project=vision&name=resnet")
    page = w.page
    wait_ready(page)
    until(page, "document.querySelector('#artifact-version-title')")
    assert page.inner_text("#artifact-version-title") == "resnet:v0"
    assert page.inner_text(".art-description") == EVIL
    note = page.locator("#artifact-metadata tr[data-key=note] td.v").inner_text()
    assert note == EVIL
    assert page.locator("#artifact-metadata tr[data-key='layers.depth'] td.v").inner_text() == "50"
    assert [f[0] for f in files(page)] == [EVIL_FILE, "model.pt"]
    users = page.locator("#artifact-users a.run-link")
    assert users.inner_text() == EVIL and users.get_attribute("href") == run_hash(story.ref(EVIL))
    g = graph(page, "#artifact-detail")
    evil_run = f"run:{story.ref(EVIL)}"
    assert g["nodes"][evil_run]["label"].startswith("<script>")
    assert g["nodes"]["artifact:report:v0"]["kind"] == "artifact"
    assert [evil_run, "artifact:report:v0", "produced"] in g["edges"]
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("script:not([src])").count() == 0 and page.locator("img[src=x]").count() == 0
    assert page.locator(f"#artifact-list .art-type[data-type='{EVIL}'] .art-type-name").inner_text() == EVIL.upper()

    # a box of the graph is a link: the run that used it, then its Artifacts tab
    page.click(f"svg.lineage-svg a.lineage-node[data-id='run:{story.ref('train')}']")
    until(page, f"location.hash === {run_hash(story.ref('train'))!r}")
    wait_ready(page)
    page.click(".tabs .tab[data-tab=artifacts]")
    until(page, "document.querySelector('#run-logged') && document.querySelector('#run-used')")
    logged = page.locator("#run-logged a.artifact-link")
    assert logged.inner_text() == "resnet:v0"
    assert logged.get_attribute("href") == "#/artifacts?project=vision&name=resnet&version=v0"
    used = page.locator("#run-used a.artifact-link")
    assert used.inner_text() == "mnist:v11"
    assert page.locator("#run-used a.run-link").inner_text() == "prep"
    g = graph(page, ".run-artifacts")
    center = f"run:{story.ref('train')}"
    assert g["nodes"][center]["center"]
    assert [center, "artifact:resnet:v0", "produced"] in g["edges"] and ["artifact:mnist:v11", center, "used"] in g[
        "edges"
    ]
    used.click()
    until(
        page,
        "document.querySelector('#artifact-version-title') && document.querySelector('#artifact-version-title').textContent === 'mnist:v11'",
    )
    w.check_clean()


def test_a_run_without_artifacts_and_bad_names(story, ui, open_page, tmp_path):
    w = open_page(ui, UIServer.TOKEN, path="/#/artifacts?project=vision&name=nope")
    page = w.page
    wait_ready(page)  # an unknown name: the first artifact shown instead
    until(page, "document.querySelector('#artifact-version-title')")
    status = page.request.get(ui.url + "/ui/api/artifact?project=vision&name=../x")
    assert status.status == 400 and "artifact name" in status.json()["detail"]
    assert page.request.get(ui.url + "/ui/api/artifact?project=vision&name=nope").status == 404
    assert page.request.get(ui.url + "/ui/api/artifact?project=vision&name=mnist&version=%3Cb%3E").status == 400
    assert page.request.get(ui.url + "/ui/api/lineage?run=9:vision/x").status == 400
    w.check_clean()


def test_a_version_of_many_files_shows_them_a_page_at_a_time(open_page, tmp_path):
    """520 files: the first 500, then the rest on "more files"; the empty
    project select and a run that logged nothing say so."""
    root = str(tmp_path / "runs")
    run = finished_run(root, "packer")
    lonely = finished_run(root, "lonely")
    many = {f"shard-{i:04d}.bin": i.to_bytes(2, "big") for i in range(520)}
    log(ArtifactStore(LocalArea(root)), str(tmp_path), run, "shards", "dataset", many)
    s = UIServer([root], str(tmp_path)).start()
    try:
        w = open_page(s, UIServer.TOKEN, path="/#/artifacts?project=vision&name=shards")
        page = w.page
        wait_ready(page)
        until(page, "document.querySelectorAll('#artifact-files tbody tr').length === 500")
        assert page.inner_text("#artifact-version-title") == "shards:v0"
        assert "(500 shown)" in page.inner_text(".art-version .card p.small")
        page.click("button.more-files")
        until(page, "document.querySelectorAll('#artifact-files tbody tr').length === 520")
        assert files(page)[-1][0] == "shard-0519.bin"
        assert page.locator("button.more-files").is_hidden()
        page.goto(s.url + "/" + run_hash("0:vision/" + lonely["id"], "artifacts"))
        wait_ready(page)
        assert page.inner_text("#run-logged") == "none" and page.inner_text("#run-used") == "none"
        assert page.locator(".run-artifacts svg.lineage-svg a.lineage-node").count() == 1  # the run alone
        w.check_clean()
    finally:
        s.stop()


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_page_fits_the_screen(story, ui, open_page, tmp_path, size):
    """At 1280x720 and 1920x1080: no sideways scrolling of the page, the
    graph of five columns drawn whole in its card, the names column and
    the versions table side by side; screenshots of the page and a run's tab."""
    out = os.environ.get("UI_SCREENSHOTS") or str(tmp_path)
    os.makedirs(out, exist_ok=True)
    width, height = size
    w = open_page(ui, UIServer.TOKEN, path="/#/artifacts?project=vision&name=resnet", width=width, height=height)
    page = w.page
    wait_ready(page)
    until(page, "document.querySelector('svg.lineage-svg')")
    fits = page.evaluate(
        """() => {
            const svg = document.querySelector('svg.lineage-svg'), box = svg.parentElement;
            const side = document.querySelector('#artifact-list').getBoundingClientRect();
            const table = document.querySelector('#artifact-versions').getBoundingClientRect();
            return {page: document.scrollingElement.scrollWidth <= innerWidth, graph: box.scrollWidth <= box.clientWidth + 1,
                    beside: side.right <= table.left, nodes: svg.querySelectorAll('a.lineage-node').length};
        }"""
    )
    assert fits == {"page": True, "graph": True, "beside": True, "nodes": 5}, fits
    page.screenshot(path=os.path.join(out, f"artifacts-resnet-{width}x{height}.png"))
    open_artifact(w, ui, "mnist", "v3")
    until(
        page,
        "document.querySelector('#artifact-version-title') && document.querySelector('#artifact-version-title').textContent === 'mnist:v3'",
    )
    # the version chosen is in view in its table
    assert page.evaluate(
        """() => { const tr = document.querySelector('#artifact-versions tr.selected').getBoundingClientRect();
                   const box = document.querySelector('.art-versions-wrap').getBoundingClientRect();
                   return tr.top >= box.top && tr.bottom <= box.bottom + 1; }"""
    )
    page.screenshot(path=os.path.join(out, f"artifacts-mnist-{width}x{height}.png"))
    page.goto(ui.url + "/" + run_hash(story.ref("train"), "artifacts"))
    wait_ready(page)
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= innerWidth")
    page.screenshot(path=os.path.join(out, f"run-artifacts-{width}x{height}.png"))
    w.check_clean()
