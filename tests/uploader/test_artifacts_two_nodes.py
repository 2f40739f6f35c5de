"""Artifacts between two "nodes" that share no filesystem: a training job
on node A logs a dataset and a model every epoch; ``runship upload`` ships
its root to moto's S3 and to a real ``runship serve``; a job on node B, a
root of its own with the target as its ``artifact_remotes``, uses
``dataset:latest`` and ``model:best`` and reads exactly the bytes A wrote.
All real processes."""

from __future__ import annotations

import json
import uuid

import pytest

from runship.store.artifacts import ArtifactStore, LocalArea
from tests.conftest import run_python, upload_cmd
from tests.servers import S3_ENV, RunshipServer

SETTINGS = {"quiet": True, "environment": False, "console": "off"}

NODE_A = """
import hashlib, json, os, runship
run = runship.init(project="vision", dir={root!r}, settings={settings!r})
out = {{"dataset": {{}}, "model": {{}}}}
for epoch in range(3):
    os.makedirs({work!r} + "/data", exist_ok=True)
    with open({work!r} + "/data/train.bin", "wb") as f:
        f.write(os.urandom(5 * 1024 * 1024 + epoch))  # past one chunk
    with open({work!r} + "/data/labels.txt", "w") as f:
        f.write("labels of epoch %d" % epoch)
    ds = runship.Artifact("dataset", type="dataset")
    ds.add_dir({work!r} + "/data")
    v = run.log_artifact(ds).wait().version
    out["dataset"][v] = {{p: hashlib.sha256(open({work!r} + "/data/" + p, "rb").read()).hexdigest()
                         for p in ("train.bin", "labels.txt")}}
    with open({work!r} + "/model.pt", "wb") as f:
        f.write(b"weights of epoch %d" % epoch + os.urandom(1000))
    m = run.log_model({work!r} + "/model.pt", name="model", aliases=["best"] if epoch == 1 else []).wait()
    out["model"][m.version] = hashlib.sha256(open({work!r} + "/model.pt", "rb").read()).hexdigest()
run.finish()
print(json.dumps(out))
"""

NODE_B = """
import hashlib, json, os, runship
run = runship.init(project="vision", dir={root!r}, settings={settings!r})
data = run.use_artifact("dataset:latest", type="dataset")
folder = data.download({work!r} + "/dl")
model = run.use_model("model:best")
print(json.dumps({{
    "dataset": [data.version, {{p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest()
                                for p in sorted(os.listdir(folder))}}],
    "model": [os.path.basename(model), hashlib.sha256(open(model, "rb").read()).hexdigest()],
    "producer": data.logged_by().id,
}}))
run.finish()
"""


@pytest.fixture
def node_a(tmp_path):
    """Node A's root after its training job; what it logged (digests by version)."""
    root, work = str(tmp_path / "node-a"), str(tmp_path / "a-work")
    out = run_python(NODE_A.format(root=root, work=work, settings=SETTINGS), timeout=120)
    assert out.returncode == 0, out.stderr
    return root, json.loads(out.stdout.splitlines()[-1])


def _node_b(tmp_path, remote: str, env: dict) -> dict:
    root, work = str(tmp_path / "node-b"), str(tmp_path / "b-work")
    settings = {**SETTINGS}
    out = run_python(
        NODE_B.format(root=root, work=work, settings=settings),
        env={"RUNSHIP_ARTIFACT_REMOTES": remote, **env},
        timeout=120,
        cwd=str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def _check(got: dict, logged: dict) -> None:
    assert got["dataset"] == ["v2", logged["dataset"]["v2"]]
    assert got["model"] == ["model.pt", logged["model"]["v1"]]  # best: epoch 1's


@pytest.mark.heavy  # ~5 s (two processes and an upload over moto): make test-heavy
def test_a_second_node_uses_them_through_s3(node_a, moto, tmp_path):
    root, logged = node_a
    bucket = f"two-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    env = {**S3_ENV, "AWS_ENDPOINT_URL": moto.endpoint}
    url = f"s3://{bucket}/runs"
    up = upload_cmd([root], url, tmp_path / "state", "--once", env=env)
    assert up.returncode == 0, up.stderr
    got = _node_b(tmp_path, url, env)
    _check(got, logged)
    assert len(got["producer"]) == 8


def test_a_second_node_uses_them_through_a_server(node_a, tmp_path):
    root, logged = node_a
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        up = upload_cmd([root], server.url, tmp_path / "state", "--once", env={"RUNSHIP_TOKEN": RunshipServer.TOKEN})
        assert up.returncode == 0, up.stderr
        got = _node_b(tmp_path, server.url, {"RUNSHIP_TOKEN": RunshipServer.READ_TOKEN})
        _check(got, logged)
        # node B now holds what it downloaded, whole: its own store answers without the server
        mine = ArtifactStore(LocalArea(str(tmp_path / "node-b")))
        theirs = ArtifactStore(LocalArea(str(tmp_path / "node-a")))
        for name, version in (("dataset", 2), ("model", 1)):
            held = mine.manifest("vision", name, version)
            assert held == theirs.manifest("vision", name, version) and mine.missing("vision", held) == []
        assert mine.indexes("vision", "dataset") == [2]  # only what was used was fetched
    finally:
        server.stop()
