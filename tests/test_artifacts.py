"""Artifacts offline: the content-addressed store in a run root, wandb's
Artifact API over it, and what happens when several processes write it at
once or someone has planted something in it (docs/FORMAT.md, "Artifacts")."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

import runship
from runship.schema import artifacts as sa
from runship.store.artifacts import ArtifactNotFound, ArtifactStore, LocalArea
from tests.conftest import popen_python, run_python
from tests.plain import records

SETTINGS = {"quiet": True, "environment": False, "console": "off"}


def _tree(folder: str) -> dict[str, bytes]:
    out = {}
    for d, _dirs, files in os.walk(folder):
        for n in files:
            full = os.path.join(d, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, folder).replace(os.sep, "/")] = f.read()
    return out


def _store_bytes(root: str, project: str = "p") -> int:
    blobs = os.path.join(root, project, ".artifacts", "blobs")
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, files in os.walk(blobs) for n in files)


@pytest.fixture
def data(tmp_path):
    """A dataset folder: a small file, a nested one past one chunk (9 MiB)."""
    base = tmp_path / "data"
    (base / "sub").mkdir(parents=True)
    (base / "a.txt").write_text("hello")
    (base / "sub" / "big.bin").write_bytes(os.urandom(9 << 20))
    return str(base)


def test_a_dataset_logged_by_one_run_is_used_by_the_next_byte_for_byte(make_run, root, data, tmp_path):
    run = make_run()
    art = runship.Artifact("mnist", type="dataset", description="digits", metadata={"n": 2})
    art.add_dir(data, name="train")
    with art.new_file("notes/readme.md", mode="w") as f:
        f.write("# digits")
    logged = run.log_artifact(art, aliases=["best"]).wait()
    assert (logged.name, logged.version, logged.aliases) == ("mnist:v0", "v0", ["latest", "best"])
    run.finish()

    user = make_run()
    used = user.use_artifact("mnist:best", type="dataset")
    folder = used.download(str(tmp_path / "got"))
    assert _tree(folder) == {
        "train/a.txt": b"hello",
        "train/sub/big.bin": open(os.path.join(data, "sub", "big.bin"), "rb").read(),
        "notes/readme.md": b"# digits",
    }
    used.verify(folder)
    assert used.metadata == {"n": 2} and used.description == "digits" and used.type == "dataset"
    user.finish()
    api = runship.Api(root)
    found = api.artifact("p/mnist:latest")
    assert found.logged_by().id == run.id and [r.id for r in found.used_by()] == [user.id]
    assert [a.name for a in api.run(f"p/{user.id}").used_artifacts()] == ["mnist:v0"]
    (rec,) = [a for a in api.run(f"p/{run.id}").logged_artifacts()]
    assert rec.name == "mnist:v0" and rec.digest == found.digest


def test_the_same_contents_again_is_the_same_version_and_a_change_is_the_next(make_run, root, data):
    run = make_run()
    first = runship.Artifact("ds", type="dataset")
    first.add_dir(data)
    v0 = run.log_artifact(first).wait()
    again = runship.Artifact("ds", type="dataset")
    again.add_dir(data)
    assert run.log_artifact(again, aliases=["prod"]).wait().version == v0.version == "v0"  # as wandb: no new version
    before = _store_bytes(root)
    with open(os.path.join(data, "a.txt"), "w") as f:
        f.write("changed")
    changed = runship.Artifact("ds", type="dataset")
    changed.add_dir(data)
    assert run.log_artifact(changed).wait().version == "v1"
    assert _store_bytes(root) - before == len("changed")  # the 9 MiB file is not stored twice
    run.finish()
    store = ArtifactStore(LocalArea(root))
    assert store.aliases("p", "ds") == {"prod": 0, "latest": 1}


def test_a_large_file_with_a_small_change_stores_only_the_chunks_that_changed(make_run, root, tmp_path):
    """Files past 4 MiB are stored as 4 MiB chunks: 10 versions of a 40 MiB
    checkpoint, each with a contiguous 1% rewritten, take the file once plus
    the chunks each change touched (the 1 GB figures: README, benchmarks)."""
    path = str(tmp_path / "ckpt.pt")
    size = 40 << 20
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    run = make_run()
    touched = 0  # chunks the changes rewrote
    for v in range(10):
        if v:
            at, n = (v * 3_700_000) % (size - size // 100), size // 100
            with open(path, "r+b") as f:
                f.seek(at)
                f.write(os.urandom(n))
            touched += (at + n - 1) // sa.CHUNK_SIZE - at // sa.CHUNK_SIZE + 1
        run.log_model(path, name="resnet").wait()
    run.finish()
    store = ArtifactStore(LocalArea(root))
    blobs = {
        c for i in store.indexes("p", "resnet") for c in store.manifest("p", "resnet", i)["files"]["ckpt.pt"]["chunks"]
    }
    assert _store_bytes(root) == len(blobs) * sa.CHUNK_SIZE  # 40 MiB is whole chunks: each chunk stored once
    assert _store_bytes(root) == size + touched * sa.CHUNK_SIZE < 2.2 * size  # not 10 x 40 MiB


def test_several_processes_log_every_epoch_at_once_and_every_version_is_whole(root, tmp_path):
    """One run of four Slurm tasks (real processes, one run id) logs a
    dataset and a model each epoch from every task at once, moving ``best``
    each time: versions are numbered without gaps or twins, each reads back
    as the bytes its process wrote, and ``best`` is where the last alias
    event put it."""
    slurm = {"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "4", "SLURM_NODEID": "0"}
    procs = [
        popen_python(
            f"""
            import os, runship
            run = runship.init(project="p", dir={root!r}, settings={SETTINGS!r})
            for epoch in range(4):
                path = os.path.join({str(tmp_path)!r}, "w{i}-" + str(epoch))
                with open(path, "wb") as f:
                    f.write(b"worker {i} epoch " + str(epoch).encode() * 1000)
                ds = runship.Artifact("shared-data", type="dataset")
                ds.add_file(path, name="part.bin")
                run.log_artifact(ds, aliases=["best"])
                run.log_model(path, name="model", aliases=["best"])
            run.finish()
            """,
            env={**slurm, "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i)},
        )
        for i in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = ArtifactStore(LocalArea(root))
    for name in ("shared-data", "model"):
        indexes = store.indexes("p", name)
        assert indexes == list(range(16))
        seen = set()
        for i in indexes:
            m = store.manifest("p", name, i)
            (entry,) = m["files"].values()
            data = b"".join(store.read_file("p", entry))
            assert data.startswith(b"worker ") and data not in seen
            seen.add(data)
        events = store.alias_events("p", name)
        assert [seq for seq, _ in events] == list(range(16))  # one event each, none lost
        assert store.aliases("p", name)["best"] == int(events[-1][1]["version"][1:])
        assert {store.manifest("p", name, i)["run"]["id"] for i in indexes} == {"slurm-77.0"}  # one run


def test_a_file_that_vanishes_before_it_is_stored_fails_the_artifact_not_the_training(make_run, root, tmp_path):
    path = tmp_path / "gone.bin"
    path.write_bytes(b"x")
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_file(str(path))
    path.unlink()
    got = run.log_artifact(art)
    run.log({"loss": 1.0})
    with pytest.raises(runship.errors.UsageError, match="could not be logged"):
        got.wait(timeout=30)
    run.finish()
    notices = [n["message"] for n in records(run.run_dir, "notice")]
    assert any("log_artifact('ds') failed" in n for n in notices)
    assert ArtifactStore(LocalArea(root)).names("p") == []


def test_a_download_is_a_copy_the_user_may_change_and_verify_finds_it(make_run, root, data, tmp_path):
    """Downloaded files are copies: writing one (root may write anything)
    leaves the store's bytes alone; ``verify`` names it, and downloading
    again restores it."""
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    logged = run.log_artifact(art).wait()
    folder = logged.download(str(tmp_path / "dl"))
    for rel in ("a.txt", "sub/big.bin"):  # one blob; chunks
        with open(os.path.join(folder, *rel.split("/")), "r+b") as f:
            f.write(b"tampered")
        with pytest.raises(ValueError, match="does not match"):
            logged.verify(folder)
        logged.download(folder)  # written again from the store, which kept its bytes
        logged.verify(folder)
    run.finish()
    assert runship.Api(root).artifact("p/ds:v0").download(str(tmp_path / "again")) and _tree(
        str(tmp_path / "again")
    ) == _tree(folder)


def test_new_draft_changes_one_file_and_shares_the_rest(make_run, root, data, tmp_path):
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    v0 = run.log_artifact(art).wait()
    before = _store_bytes(root)
    draft = v0.new_draft()
    extra = tmp_path / "extra.txt"
    extra.write_text("more")
    draft.add_file(str(extra))
    draft.remove("a.txt")
    v1 = run.log_artifact(draft).wait()
    run.finish()
    assert v1.version == "v1" and sorted(v1.manifest["files"]) == ["extra.txt", "sub/big.bin"]
    assert _store_bytes(root) - before == 4


def test_use_artifact_names_what_is_missing(make_run):
    run = make_run()
    with pytest.raises(ArtifactNotFound, match="mnist"):
        run.use_artifact("mnist:latest")
    with pytest.raises(ValueError, match="alias"):
        run.log_artifact(runship.Artifact("x"), aliases=["v3"])
    run.finish()


def test_a_link_planted_in_the_store_is_never_followed(make_run, root, data, tmp_path):
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    run.log_artifact(art).wait()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), os.path.join(root, "p", ".artifacts", "names", "evil"))
    store = ArtifactStore(LocalArea(root))
    assert store.indexes("p", "evil") == []  # listed as nothing, not entered
    second = runship.Artifact("evil", type="dataset")
    second.add_dir(data)
    with pytest.raises(runship.errors.UsageError, match="could not be logged"):
        run.log_artifact(second).wait(timeout=30)
    assert os.listdir(elsewhere) == []
    run.finish()


def test_a_crafted_manifest_is_refused_with_what_is_wrong(make_run, root, data, tmp_path):
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    run.log_artifact(art).wait()
    run.finish()
    path = os.path.join(root, "p", ".artifacts", "names", "ds", "v0.json")
    doc = json.load(open(path))
    store = ArtifactStore(LocalArea(root))
    for change, why in (
        ({"files": {**doc["files"], "../../escape": doc["files"]["a.txt"]}}, "no empty, '.' or '..'"),
        ({"files": {"a.txt": {**doc["files"]["a.txt"], "size": -1}}}, "has no size"),
        ({"name": "other"}, "the manifest names"),
        ({"digest": "0" * 64}, "contents digest does not match"),
    ):
        os.chmod(path, 0o644)
        with open(path, "w") as f:
            json.dump({**doc, **change}, f)
        with pytest.raises(sa.BadArtifact, match=why):
            store.manifest("p", "ds", 0)
        with pytest.raises(sa.BadArtifact):
            runship.Api(root).artifact("p/ds:v0").download(str(tmp_path / "never"))
    assert not os.path.exists(tmp_path / "escape")


def test_a_damaged_blob_is_found_when_it_is_read(make_run, root, data, tmp_path):
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    logged = run.log_artifact(art).wait()
    run.finish()
    digest = logged.manifest["files"]["a.txt"]["digest"]
    blob = os.path.join(root, "p", ".artifacts", *sa.blob_rel(digest).split("/"))
    os.chmod(blob, 0o644)
    with open(blob, "wb") as f:
        f.write(b"HELLO")
    with pytest.raises(sa.BadArtifact, match="damaged"):
        runship.Api(root).artifact("p/ds:latest").download(str(tmp_path / "dl"))


def test_a_second_node_uses_a_version_from_a_remote_root(root, data, tmp_path):
    """A run in another root (another cluster's scratch) with the first root
    as its remote: ``dataset:latest`` is found there and only its blobs are
    fetched; a version it already holds is not fetched again."""
    first = runship.init(project="p", dir=root, settings=SETTINGS, reinit="create_new")
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    first.log_artifact(art, aliases=["best"]).wait()
    first.finish()
    other = str(tmp_path / "other-root")
    out = run_python(
        f"""
        import runship
        run = runship.init(project="p", dir={other!r}, settings={{**{SETTINGS!r}, "artifact_remotes": [{root!r}]}})
        art = run.use_artifact("ds:best")
        print(art.version, sorted(art.aliases))
        print(art.download({str(tmp_path / "dl")!r}))
        run.finish()
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "v0 ['best', 'latest']"
    assert _tree(str(tmp_path / "dl"))["sub/big.bin"] == open(os.path.join(data, "sub", "big.bin"), "rb").read()
    assert _store_bytes(other) == _store_bytes(root)  # the blobs now held on the second node too
    digest = hashlib.sha256(b"hello").hexdigest()
    assert ArtifactStore(LocalArea(other)).area.blob_size("p", digest) == 5


def test_a_disabled_run_takes_artifacts_without_waiting_or_failing(tmp_path, data):
    run = runship.init(mode="disabled", settings=SETTINGS)
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    assert run.log_artifact(art).wait() is art and art.version is None
    assert run.use_artifact("ds:latest").wait().name == "ds"
    run.finish()


def test_runship_show_names_what_a_run_logged_and_used(make_run, root, data):
    from click.testing import CliRunner

    from runship.cli import cli

    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    run.log_artifact(art).wait()
    run.finish()
    user = make_run()
    user.use_artifact("ds:v0")
    user.finish()
    out = CliRunner().invoke(cli, ["--root", root, "show", f"p/{user.id}"])
    assert out.exit_code == 0, out.output
    assert "used:\n  p/ds:v0" in out.output
    out = CliRunner().invoke(cli, ["--root", root, "show", f"p/{run.id}"])
    assert "artifacts:\n  ds:v0 (dataset)" in out.output


def test_a_truncated_blob_is_repaired_by_the_next_log_of_its_bytes(make_run, root, data):
    run = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    logged = run.log_artifact(art).wait()
    digest = logged.manifest["files"]["a.txt"]["digest"]
    blob = os.path.join(root, "p", ".artifacts", *sa.blob_rel(digest).split("/"))
    os.chmod(blob, 0o644)
    with open(blob, "wb") as f:
        f.write(b"he")  # cut short, as by a crash before its sync
    again = runship.Artifact("ds", type="dataset")
    again.add_dir(data)
    assert run.log_artifact(again).wait().version == "v0"
    run.finish()
    assert open(blob, "rb").read() == b"hello" and not os.stat(blob).st_mode & stat.S_IWUSR


def test_a_digest_file_naming_another_version_is_not_trusted(make_run, root, data):
    """``digests/<D>`` planted to name a version with other contents: the
    next log of contents D makes a version of its own, not that one."""
    run = make_run()
    other = runship.Artifact("ds", type="dataset")
    other.add_file(os.path.join(data, "a.txt"))
    run.log_artifact(other).wait()  # v0: a.txt only
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    store = ArtifactStore(LocalArea(root))
    files = {
        "a.txt": store.add_file("p", os.path.join(data, "a.txt")),
        "sub/big.bin": store.add_file("p", os.path.join(data, "sub", "big.bin")),
    }
    planted = sa.contents_digest(files, {})
    store.area.create("p", sa.digest_rel("ds", planted), b"v0")
    got = run.log_artifact(art).wait()
    run.finish()
    assert got.version == "v1" and sorted(got.manifest["files"]) == ["a.txt", "sub/big.bin"]


def test_a_remote_that_fails_is_a_reason_not_a_crash(make_run, root, data, tmp_path):
    """A remote that cannot be reached (a server not listening) is named
    among the reasons when nothing is found, and passed over when this root
    holds the version."""
    run = make_run(settings={"artifact_remotes": ["http://127.0.0.1:9/"]})  # nothing listens there
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    run.log_artifact(art).wait()
    assert run.use_artifact("ds:latest").version == "v0"
    with pytest.raises(ArtifactNotFound, match=r"127\.0\.0\.1:9"):
        run.use_artifact("missing:latest")
    run.finish()


def test_an_api_artifact_used_by_a_run_is_marked_in_its_root_and_the_run(make_run, root, data, tmp_path):
    first = make_run()
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    first.log_artifact(art).wait()
    first.finish()
    other_root = str(tmp_path / "elsewhere")
    user = runship.init(project="p", dir=other_root, settings=SETTINGS, reinit="create_new")
    used = user.use_artifact(runship.Api(root).artifact("p/ds:latest"))
    assert used.file is not None and used.version == "v0"
    user.finish()
    assert ArtifactStore(LocalArea(other_root)).users("p", "ds", 0) == [user.id]
    assert ArtifactStore(LocalArea(root)).users("p", "ds", 0) == [user.id]  # the place it was found, too
    assert [u["name"] for u in records(user.run_dir, "use")] == ["ds"]


def test_wandb_spellings_a_script_may_use(make_run, root, tmp_path):
    """``artifact.file()``, ``log_artifact("s3://...")`` (a reference),
    ``link_model`` to a registry name with a space, ``checkout`` keeping
    references, a name starting with '.' refused up front."""
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    run = make_run()
    model = run.log_model(str(weights), name="net").wait()
    assert open(model.file(str(tmp_path / "one")), "rb").read() == b"weights"
    ref = run.log_artifact("s3://bucket/data/train.csv", type="dataset").wait()
    assert ref.manifest["references"] == {"train.csv": {"uri": "s3://bucket/data/train.csv"}}
    run.link_model(str(weights), "model-registry/My Model")
    assert run.use_artifact("My-Model:latest").digest == model.digest  # waits for the link being made
    notes = tmp_path / "notes.txt"
    notes.write_text("n")
    art = runship.Artifact("withref", type="dataset")
    art.add_file(str(weights))
    art.add_reference(f"file://{notes}")
    folder = run.log_artifact(art).wait().checkout(str(tmp_path / "co"))
    assert sorted(os.listdir(folder)) == ["notes.txt", "w.pt"]
    with pytest.raises(ValueError, match=r"not starting with '\.'"):
        runship.Artifact(".hidden", type="dataset")
    run.finish()


def test_a_remote_url_with_credentials_is_never_recorded_or_said_with_them(root, tmp_path, capsys):
    """An ``artifact_remotes`` URL that cannot be opened: its password is
    neither in the notice the run records nor in the error ``use_artifact``
    raises (nor in what is printed)."""
    bad = "nosuch://user:s3cret-pw@host/runs"
    run = runship.init(project="p", dir=root, settings={**SETTINGS, "artifact_remotes": [bad]}, reinit="create_new")
    with pytest.raises(ArtifactNotFound) as caught:
        run.use_artifact("ds:latest")
    run.finish()
    assert "s3cret" not in str(caught.value)
    said = capsys.readouterr()
    assert "s3cret" not in said.out + said.err
    for d, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                assert b"s3cret" not in fh.read(), f


def test_a_version_of_another_project_drafted_or_linked_here_brings_its_files(make_run, root, data, tmp_path):
    """``new_draft`` of a version used from another project, and a link of
    it: the new versions hold every file they name in this project."""
    other = make_run(project="other")
    art = runship.Artifact("ds", type="dataset")
    art.add_dir(data)
    other.log_artifact(art).wait()
    other.finish()
    run = make_run(project="main")
    used = run.use_artifact("other/ds:latest")
    draft = used.new_draft()
    extra = tmp_path / "extra.txt"
    extra.write_text("more")
    draft.add_file(str(extra))
    mine = run.log_artifact(draft).wait()
    run.link_artifact(used, "registry/linked")
    linked = run.use_artifact("linked:latest")
    run.finish()
    store = ArtifactStore(LocalArea(root))
    for got in (mine, linked):
        assert store.missing("main", got.manifest) == []
    assert (
        _tree(mine.download(str(tmp_path / "a")))["sub/big.bin"]
        == open(os.path.join(data, "sub", "big.bin"), "rb").read()
    )


def test_metadata_with_nan_and_a_bad_alias_on_the_artifact(make_run, root, data):
    """NaN in metadata is stored as wandb's JSON writes it; an alias set on
    the artifact that reads as a version is refused when logged, before any
    version is made."""
    run = make_run()
    art = runship.Artifact("ds", type="dataset", metadata={"val_loss": float("nan"), "ok": 1})
    art.add_dir(data)
    got = run.log_artifact(art).wait()
    assert got.metadata == {"val_loss": "NaN", "ok": 1}
    bad = runship.Artifact("ds2", type="dataset")
    bad.add_dir(data)
    bad.aliases.append("v2")
    with pytest.raises(ValueError, match="would read as a version"):
        run.log_artifact(bad)
    run.finish()
    assert ArtifactStore(LocalArea(root)).names("p") == ["ds"]


def test_an_s3_reference_is_recorded_by_its_etag_not_copied(make_run, root, moto, monkeypatch):
    """``add_reference("s3://...")`` on a cluster whose S3 endpoint is
    configured (moto on 127.0.0.1 here): the object's ETag and size are
    recorded, nothing is copied; the object changed, the same reference is
    a new version."""
    import boto3

    bucket = f"refs-{os.urandom(4).hex()}"
    moto.create_bucket(bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"a,b\n1,2\n")
    run = make_run()

    def log() -> runship.Artifact:
        art = runship.Artifact("ds", type="dataset")
        art.add_reference(f"s3://{bucket}/data/train.csv")
        return run.log_artifact(art).wait()

    first = log()
    ref = first.manifest["references"]["train.csv"]
    assert ref["size"] == 8 and ref["etag"] == hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert _store_bytes(root) == 0  # nothing copied
    assert log().version == "v0"
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"a,b\n3,4\n")
    assert log().version == "v1"
    run.finish()


def test_an_incremental_artifact_adds_to_the_latest_version(make_run, tmp_path):
    """``Artifact(..., incremental=True)``, as wandb: each version holds the
    latest one's files with the new ones added (a file of the same path replaced)."""
    run = make_run()
    for i, names in enumerate((["a", "b"], ["c"], ["a"])):
        art = runship.Artifact("shards", type="dataset", incremental=True)
        for n in names:
            path = tmp_path / f"{n}.txt"
            path.write_text(f"{n} in step {i}")
            art.add_file(str(path))
        got = run.log_artifact(art).wait()
    run.finish()
    assert got.version == "v2" and sorted(got.manifest["files"]) == ["a.txt", "b.txt", "c.txt"]
    folder = got.download(str(tmp_path / "dl"))
    assert _tree(folder) == {"a.txt": b"a in step 2", "b.txt": b"b in step 0", "c.txt": b"c in step 1"}
