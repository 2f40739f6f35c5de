"""``runship.store.artifact_gc``: random histories of puts, alias moves and
uses, gc'd now and then; what gc keeps stays whole, what it may remove goes."""

from __future__ import annotations

import os
import tempfile
import time
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runship.schema import artifacts as sa
from runship.schema import names as sn
from runship.store.artifact_gc import apply_gc, plan_gc
from runship.store.artifacts import ArtifactStore, LocalArea

P = "proj"
NAMES = ["a", "b"]
ALIASES = ["best", "prod"]
CHUNK = 64  # small chunks: a "large" file is a few blobs, some shared with other files
POOL = [b"", b"x", b"shared", b"y" * 100, b"y" * 64 + b"z" * 64, b"q" * 200, b"0123456789" * 13]

put_op = st.tuples(
    st.just("put"),
    st.sampled_from(NAMES),
    st.dictionaries(st.sampled_from(["f", "g", "d/h"]), st.sampled_from(POOL) | st.binary(max_size=150), min_size=1),
)
alias_op = st.tuples(st.just("alias"), st.sampled_from(NAMES), st.sampled_from(ALIASES), st.integers(-1, 5))
use_op = st.tuples(st.just("use"), st.sampled_from(NAMES), st.integers(0, 5), st.sampled_from(["r1", "r2"]))
gc_op = st.tuples(st.just("gc"), st.integers(0, 3), st.sampled_from([None, ["a"], ["b"], ["a", "b"]]))
history = st.lists(st.one_of(put_op, put_op, put_op, alias_op, use_op, gc_op), min_size=6, max_size=30)


def put(store: ArtifactStore, workdir: str, name: str, files: dict[str, bytes]) -> dict:
    entries = {}
    for i, (path, data) in enumerate(sorted(files.items())):
        src = os.path.join(workdir, f"src{i}")
        with open(src, "wb") as f:
            f.write(data)
        entries[path] = store.add_file(P, src)
    doc = {"name": name, "type": "t", "metadata": {}, "files": entries, "references": {}}
    manifest, _ = store.publish(P, doc, [])
    return manifest


def read_back(store: ArtifactStore, name: str, index: int) -> dict[str, bytes]:
    m = store.manifest(P, name, index)
    assert store.missing(P, m) == []
    return {path: b"".join(store.read_file(P, e)) for path, e in m["files"].items()}


def held_blobs(store: ArtifactStore) -> set[str]:
    return {f for d in store.area.list(P, "blobs/sha256") for f in store.area.list(P, f"blobs/sha256/{d}")}


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(history)
def test_gc_keeps_what_is_referenced_and_only_that(ops):
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(sa, "CHUNK_SIZE", CHUNK):
        store = ArtifactStore(LocalArea(os.path.join(tmp, "root")))
        contents: dict[tuple[str, int], dict[str, bytes]] = {}  # every version ever made: its files
        used: set[tuple[str, int]] = set()
        for op in ops:
            if op[0] == "put":
                _, name, files = op
                m = put(store, tmp, name, files)
                key = (name, sa.version_index(m["version"]))
                assert contents.setdefault(key, files) == files  # the same files: the same version
            elif op[0] == "alias":
                _, name, alias, index = op
                held = store.indexes(P, name)
                if index < 0 or not held:
                    store.move_alias(P, name, alias, None)
                elif index in held:
                    store.move_alias(P, name, alias, f"v{index}")
            elif op[0] == "use":
                _, name, index, run = op
                if index in store.indexes(P, name):
                    store.record_use(P, name, index, run)
                    used.add((name, index))
            else:
                _, keep, only = op
                before = {n: store.indexes(P, n) for n in store.names(P)}
                aliased = {(n, i) for n in before for i in store.aliases(P, n).values()}
                plan = plan_gc(store, P, keep, only)
                assert not plan.problems
                result = apply_gc(store, plan)
                assert not result.skipped_versions and not result.skipped_blobs
                for n, indexes in before.items():
                    newest = set(indexes[len(indexes) - keep :] if keep else [])
                    chosen = only is None or n in only
                    expect = [i for i in indexes if not chosen or i in newest or (n, i) in aliased or (n, i) in used]
                    assert store.indexes(P, n) == expect  # what may go is gone, the rest is there
                    assert sorted(set(indexes) - set(expect)) == sorted(i for m, i in result.versions if m == n)
                for n, i in aliased | used:  # resolves, by alias too, and reads back whole
                    assert read_back(store, n, i) == contents[(n, i)]
                for n, table in ((n, store.aliases(P, n)) for n in before):
                    for alias, i in table.items():
                        assert store.find(P, n, alias) == i
                # no blob a kept manifest needs is gone, and none that no manifest needs is left
                needed = set()
                for n in store.names(P):
                    for i in store.indexes(P, n):
                        assert read_back(store, n, i) == contents[(n, i)]
                        needed |= {d for e in store.manifest(P, n, i)["files"].values() for d, _ in sa.blobs_of(e)}
                assert held_blobs(store) == needed
        # what was put after a gc removed identical contents is a new version, not the removed one
        for n in store.names(P):
            for i in store.indexes(P, n):
                assert read_back(store, n, i) == contents[(n, i)]


def make(tmp: str, name: str, files: dict[str, bytes]) -> tuple[ArtifactStore, dict]:
    store = ArtifactStore(LocalArea(os.path.join(tmp, "root")))
    return store, put(store, tmp, name, files)


def test_a_blob_a_new_version_refers_to_is_kept(tmp_path):
    store, _ = make(str(tmp_path), "a", {"f": b"old"})
    put(store, str(tmp_path), "a", {"f": b"new"})
    plan = plan_gc(store, P, 1)
    assert plan.versions == [("a", 0)] and len(plan.blobs) == 1
    put(store, str(tmp_path), "b", {"g": b"old"})  # logged meanwhile: it found the blob held
    result = apply_gc(store, plan)
    assert result.versions == [("a", 0)] and result.blobs == {} and result.skipped_blobs == 1
    assert read_back(store, "b", 0) == {"g": b"old"}


def test_a_version_given_an_alias_or_used_since_the_plan_is_kept(tmp_path):
    store, _ = make(str(tmp_path), "a", {"f": b"0"})
    for data in (b"1", b"2", b"3"):
        put(store, str(tmp_path), "a", {"f": data})
    plan = plan_gc(store, P, 1)
    assert plan.versions == [("a", 0), ("a", 1), ("a", 2)]
    store.move_alias(P, "a", "best", "v0")
    store.record_use(P, "a", 1, "run9")
    result = apply_gc(store, plan)
    assert result.versions == [("a", 2)] and result.skipped_versions == [("a", 0), ("a", 1)]
    assert store.indexes(P, "a") == [0, 1, 3] and len(result.blobs) == 1
    # the contents of a removed version, put again, are a new version (its digest file went with it)
    assert put(store, str(tmp_path), "a", {"f": b"2"})["version"] == "v4"
    assert put(store, str(tmp_path), "a", {"f": b"0"})["version"] == "v0"


def test_a_damaged_manifest_is_kept_and_stops_blob_removal(tmp_path):
    store, _ = make(str(tmp_path), "a", {"f": b"0"})
    put(store, str(tmp_path), "a", {"f": b"1"})
    put(store, str(tmp_path), "b", {"f": b"2"})
    put(store, str(tmp_path), "b", {"f": b"3"})
    path = os.path.join(store.area.root, P, sa.STORE_DIR, *sa.manifest_rel("a", 0).split("/"))
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"{not json")
    plan = plan_gc(store, P, 1)
    assert plan.versions == [("b", 0)] and plan.blobs == {} and len(plan.problems) == 1
    result = apply_gc(store, plan)
    assert result.versions == [("b", 0)] and store.indexes(P, "a") == [0, 1]
    assert len(held_blobs(store)) == 4


def test_old_temporary_files_in_blob_folders_go(tmp_path):
    store, m = make(str(tmp_path), "a", {"f": b"0"})
    digest = m["files"]["f"]["digest"]
    folder = os.path.join(store.area.root, P, sa.STORE_DIR, "blobs", "sha256", digest[:2])
    old, new = (os.path.join(folder, sn.temp_name(digest)) for _ in range(2))
    for p in (old, new):
        with open(p, "wb") as f:
            f.write(b"partial")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    result = apply_gc(store, plan_gc(store, P, 1))
    assert result.temp_files == 1 and not os.path.exists(old) and os.path.exists(new)
    assert read_back(store, "a", 0) == {"f": b"0"}


def test_keep_last_must_not_be_negative(tmp_path):
    store, _ = make(str(tmp_path), "a", {"f": b"0"})
    try:
        plan_gc(store, P, -1)
    except ValueError as e:
        assert "keep_last" in str(e)
    else:
        raise AssertionError("no error")
