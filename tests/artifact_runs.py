"""Runs that log and use artifacts, written through the artifact store
itself (``ArtifactStore(LocalArea(root))``), for the tests of the web
app's artifact views (tests/test_ui_artifacts.py, tests/browser/test_artifacts_page.py).

The story, in project ``vision``: ``prep`` logs ``mnist`` (a dataset) in
``versions`` versions (aliases ``baseline`` on v3, ``production`` on the
newest) and ``extra`` (another dataset); ``train`` uses mnist's newest
and logs ``resnet`` (a model: a script as its description, in its
metadata and in a file's path); ``EVIL`` (a run named as a script) uses
resnet:v0 and logs ``report``, whose type is a script too."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import runship
from runship.store.artifacts import ArtifactStore, LocalArea

EVIL = "<script>window.__pwned=1</script>"
EVIL_FILE = "<img src=x onerror=window.__pwned=2>.txt"
SETTINGS = {"quiet": True, "environment": False, "console": "off"}
PROJECT = "vision"


@dataclass
class Story:
    root: str
    runs: dict[str, Any]  # name -> {"id", "name"}
    versions: int

    def ref(self, run: str, place: int = 0) -> str:
        return f"{place}:{PROJECT}/{self.runs[run]['id']}"


def finished_run(root: str, name: str) -> dict[str, str]:
    r = runship.init(project=PROJECT, name=name, dir=root, settings=SETTINGS, reinit="create_new")
    r.log({"loss": 1.0})
    r.finish()
    return {"project": PROJECT, "id": r.id, "name": name}


def log(
    store: ArtifactStore,
    tmp: str,
    run: dict[str, str],
    name: str,
    type: str,
    files: dict[str, bytes],
    aliases: tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
    description: str | None = None,
    created_at: float | None = None,
) -> dict[str, Any]:
    """A version of ``name`` made by ``run`` (its files written to ``tmp`` and added)."""
    entries = {}
    for i, (path, data) in enumerate(files.items()):
        src = os.path.join(tmp, f"f{i}")
        with open(src, "wb") as f:
            f.write(data)
        entries[path] = store.add_file(PROJECT, src)
    doc = {
        "name": name,
        "type": type,
        "description": description,
        "metadata": metadata or {},
        "files": entries,
        "references": {},
        "created_at": created_at if created_at is not None else time.time(),
        "run": run,
    }
    manifest, _ = store.publish(PROJECT, doc, list(aliases), run=run["id"])
    return manifest


def make_story(base: str, versions: int = 12) -> Story:
    root = os.path.join(base, "runs")
    tmp = os.path.join(base, "files")
    os.makedirs(tmp, exist_ok=True)
    runs = {n: finished_run(root, n) for n in ("prep", "train", EVIL)}
    store = ArtifactStore(LocalArea(root))
    t0 = time.time() - 86400
    for i in range(versions):
        aliases = ("baseline",) if i == 3 else ("production",) if i == versions - 1 else ()
        files = {"train.csv": b"x,y\n" + b"1,2\n" * (100 * (i + 1)), "labels/classes.txt": b"0\n1\n2\n"}
        if i % 3 == 0:
            files[f"extra/part-{i}.bin"] = bytes(range(256)) * (i + 1)
        log(
            store,
            tmp,
            runs["prep"],
            "mnist",
            "dataset",
            files,
            aliases,
            {"rows": 100 * (i + 1), "seed": i},
            None,
            t0 + i * 600,
        )
    log(store, tmp, runs["prep"], "extra", "dataset", {"a.txt": b"a"}, created_at=t0)
    store.record_use(PROJECT, "mnist", versions - 1, runs["train"]["id"])
    log(
        store,
        tmp,
        runs["train"],
        "resnet",
        "model",
        {"model.pt": b"\0" * 5000, EVIL_FILE: b"evil"},
        ("candidate",),
        {"acc": 0.91, "note": EVIL, "layers": {"depth": 50, "widths": [64, 128]}},
        EVIL,
        t0 + 9000,
    )
    store.record_use(PROJECT, "resnet", 0, runs[EVIL]["id"])
    log(store, tmp, runs[EVIL], "report", EVIL, {"report.html": b"<html></html>"}, created_at=t0 + 9600)
    return Story(root, runs, versions)
