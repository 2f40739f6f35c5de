"""A link planted at project or run level below a root never crosses a
token's scope: `runship serve`, its web app, `runship ui` and the
local-directory target open a run by name without following a link there
(a link is a run that is not there: 404), for every read and every write.
Real processes over real files: a user of a shared root plants
``mnist/steal -> ../secret/theirs`` (or makes ``mnist`` itself a link) and
asks with a token limited to ``mnist``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.parse
import zlib

import msgpack
import pytest

from runship.schema import format as fmt
from tests.conftest import upload_cmd
from tests.hostile.craft import SESSION, T, committed, row, start, write_run
from tests.servers import RunshipServer, UIServer, call
from tests.uploader.test_conformance import make_run

SECRET = "the other project's secret"
STREAM = fmt.stream_file_name("run", SESSION, 0)
SESSION2 = "20260102T000000000Zabcdef"
STREAM2 = fmt.stream_file_name("run", SESSION2, 0)


def _run(root, project: str, run_id: str, text: str) -> str:
    """A run with a history, a run.json, a saved file and a table, each holding ``text``."""
    d = write_run(root, [[start(), row(0, {"x": 1, "note": text})]], project=project, run=run_id)
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump({"project": project, "id": run_id, "notes": text}, f)
    with open(os.path.join(d, "files", "notes.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "files", "table.json"), "w") as f:
        json.dump({"columns": ["what"], "data": [[text]]}, f)
    return d


def _snapshot(directory) -> dict[str, bytes]:
    """Every entry below ``directory``: a file's bytes, b"" for a directory."""
    out = {}
    for d, dirs, names in os.walk(directory):
        out.update({os.path.relpath(os.path.join(d, n), directory): b"" for n in dirs})
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), directory)] = f.read()
    return out


@pytest.fixture(params=["run", "project"])
def planted(request, tmp_path):
    """(root, project, run id) where the run is reached through a link:
    ``mnist/steal -> ../secret/theirs`` or ``mnist -> secret``. The root
    itself is a link too (the operator's choice: followed)."""
    root = tmp_path / "store"
    _run(root, "secret", "theirs", SECRET)
    os.symlink(root, tmp_path / "served")
    if request.param == "run":
        _run(root, "mnist", "mine", "mnist's own")
        os.symlink(os.path.join("..", "secret", "theirs"), root / "mnist" / "steal")
        return str(tmp_path / "served"), "mnist", "steal"
    os.symlink("secret", root / "mnist")
    return str(tmp_path / "served"), "mnist", "theirs"


READS = [
    "/v1/runs/{p}/{r}",
    "/v1/runs/{p}/{r}/files",
    "/v1/runs/{p}/{r}/history",
    f"/v1/runs/{{p}}/{{r}}/raw/{STREAM}",
    "/v1/runs/{p}/{r}/raw/run.json",
    "/v1/runs/{p}/{r}/raw/files/notes.txt",
    "/v1/runs/{p}/{r}/derived/run.json",
    "/v1/runs/{p}/{r}/derived/files/notes.txt",
]


def _ui_reads(p: str, r: str) -> list[str]:
    ref = f"0:{p}/{r}"
    queries = [
        ("run", {"run": ref}),
        ("series", {"run": ref, "keys": "x,note"}),
        ("system", {"run": ref}),
        ("console", {"run": ref}),
        ("media", {"run": ref, "key": "x"}),
        ("table", {"run": ref, "path": "files/table.json"}),
        ("file", {"run": ref, "path": "files/notes.txt"}),
        ("file", {"run": ref, "path": "run.json", "download": "true"}),
    ]
    return [f"/ui/api/{name}?{urllib.parse.urlencode(q)}" for name, q in queries]


def _batch(records) -> bytes:
    body = b"".join(msgpack.packb(r) for r in records)
    return body + fmt.commit_record(len(body), zlib.crc32(body), T)


def _writes(p: str, r: str, stored: int) -> list[tuple[str, str, bytes, dict]]:
    """Every kind of write to run ``p/r``; ``stored``: the size of its stream ``STREAM``."""
    new = committed([[start(), row(0, {"x": 2})]], project=p, run=r, session=SESSION2)
    part = b"planted by mnist"
    checksum = "sha256 " + base64.b64encode(hashlib.sha256(part).digest()).decode()
    base = f"/v1/runs/{p}/{r}"
    return [
        ("PATCH", f"{base}/streams/{STREAM2}", new, {"Upload-Offset": "0"}),
        ("PATCH", f"{base}/streams/{STREAM2}", _batch([row(1, {"x": 3}, n=2)]), {"Upload-Offset": str(len(new))}),
        ("PATCH", f"{base}/streams/{STREAM}", _batch([row(1, {"x": 3}, n=2)]), {"Upload-Offset": str(stored)}),
        ("PUT", f"{base}/derived/run.json", b'{"notes": "planted by mnist"}', {}),
        ("PUT", f"{base}/derived/files/planted.txt", part, {}),
        (
            "PATCH",
            f"{base}/derived/files/parts.txt",
            part,
            {"Upload-Offset": "0", "Upload-Length": str(len(part)), "Upload-Checksum": checksum},
        ),
    ]


def test_a_linked_run_is_404_to_every_read_of_the_server_and_its_app(planted, tmp_path):
    """Every read API and every web-app endpoint that opens a run by name,
    asked for the linked run with the projA-only token (and with an
    all-projects one): 404, nothing of projB's in the answer. The same
    requests for projB's real run, with a token that may read it: 200 with
    projB's bytes (so the 404 is the link's, not the request's)."""
    root, p, r = planted
    server = RunshipServer(root, str(tmp_path)).start()
    try:
        for path in READS + _ui_reads("secret", "theirs"):
            status, _, body = call(server, "GET", path.format(p="secret", r="theirs"), token=RunshipServer.READ_TOKEN)
            assert status == 200, (path, status, body[:300])
        assert SECRET.encode() in call(server, "GET", "/v1/runs/secret/theirs/derived/files/notes.txt")[2]
        for token in (RunshipServer.MNIST_TOKEN, RunshipServer.READ_TOKEN):
            for path in READS + _ui_reads(p, r):
                status, _, body = call(server, "GET", path.format(p=p, r=r), token=token)
                assert status == 404, (path, status, body[:300])
                assert SECRET.encode() not in body, path
        for method in ("HEAD", "GET"):  # the stored size of a stream file is not told either
            status, headers, body = call(server, method, f"/v1/runs/{p}/{r}/streams/{STREAM}")
            assert status == 404 and headers.get("upload-offset", "0") == "0", (method, status, headers)
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def test_a_linked_run_is_404_to_every_write_and_the_other_project_is_unchanged(planted, tmp_path):
    """PATCH of a new and of an existing stream file, PUT of run.json and of
    a file, a derived file in parts, through the link with the projA-only
    token: 404, and projB's run directory holds exactly what it held. The
    same writes to a real run: 204 each (so the 404 is the link's)."""
    root, p, r = planted
    victim = os.path.join(root, "secret", "theirs")
    stored = os.path.getsize(os.path.join(victim, STREAM))
    before = _snapshot(victim)
    server = RunshipServer(root, str(tmp_path)).start()
    try:
        for method, path, body, headers in _writes("secret", "control", 0):
            if path.endswith(STREAM):
                continue  # the control run holds no stream of that session
            status, _, answer = call(server, method, path, body, headers=headers)
            assert status == 204, (method, path, status, answer[:300])
        for method, path, body, headers in _writes(p, r, stored):
            status, _, answer = call(server, method, path, body, token=RunshipServer.MNIST_TOKEN, headers=headers)
            assert status == 404, (method, path, status, answer[:300])
        assert _snapshot(victim) == before
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def test_runship_ui_does_not_follow_a_linked_project_or_run(planted, tmp_path):
    """`runship ui` over the root: every endpoint that opens a run by name
    answers 404 for the linked run, and the listing does not show it; the
    real run reads (200) with the same requests."""
    root, p, r = planted
    ui = UIServer([root], str(tmp_path)).start()
    try:
        for path in _ui_reads("secret", "theirs"):
            status, _, body = call(ui, "GET", path, token=UIServer.TOKEN)
            assert status == 200, (path, status, body[:300])
        for path in _ui_reads(p, r):
            status, _, body = call(ui, "GET", path, token=UIServer.TOKEN)
            assert status == 404, (path, status, body[:300])
            assert SECRET.encode() not in body, path
        status, _, body = call(ui, "GET", "/ui/api/runs", token=UIServer.TOKEN)
        listed = {(row["project"], row["id"]) for row in json.loads(body)["runs"]}
        assert status == 200 and (p, r) not in listed and ("secret", "theirs") in listed
        assert "Traceback" not in ui.log()
    finally:
        ui.stop()


@pytest.mark.parametrize("level", ["run", "project"])
def test_a_link_in_the_local_directory_target_does_not_redirect_writes(tmp_path, level):
    """`runship upload --to file://TARGET` where TARGET/p/r1 (or TARGET/p)
    is a link another user planted to a directory of theirs: nothing is
    written through it, the run is reported as failed naming the link, and
    a run beside it still goes up (TARGET itself is a link: followed)."""
    root, remote, elsewhere = tmp_path / "runs", tmp_path / "remote", tmp_path / "elsewhere"
    make_run(root, project="p", run_id="r1", rows=5)
    make_run(root, project="q", run_id="ok", rows=5)
    os.makedirs(elsewhere)
    os.makedirs(tmp_path / "mounted")
    os.symlink(tmp_path / "mounted", remote)
    if level == "run":
        os.makedirs(remote / "p")
        os.symlink(elsewhere, remote / "p" / "r1")
    else:
        os.symlink(elsewhere, remote / "p")
    out = upload_cmd([root], f"file://{remote}", tmp_path / "state", timeout=120)
    assert os.listdir(elsewhere) == [], out.stderr
    linked = remote / "p" / "r1" if level == "run" else remote / "p"
    assert f"{linked}: a symlink" in out.stderr, out.stderr
    assert out.returncode != 0, out.stderr
    assert any(n.endswith(".msgpack") for n in os.listdir(remote / "q" / "ok")), out.stderr


def test_a_link_inside_a_run_is_404_from_raw_and_derived_not_500(tmp_path):
    """A link planted among a run's files on the server: raw and derived
    answer 404 (not a 500), and the linked file's bytes are not sent."""
    root = tmp_path / "served"
    d = _run(root, "mnist", "mine", "mnist's own")
    (tmp_path / "key").write_text(SECRET)
    os.symlink(tmp_path / "key", os.path.join(d, "files", "key.txt"))
    server = RunshipServer(str(root), str(tmp_path)).start()
    try:
        for kind in ("raw", "derived"):
            status, _, body = call(server, "GET", f"/v1/runs/mnist/mine/{kind}/files/notes.txt")
            assert status == 200 and body == b"mnist's own", kind
            status, _, body = call(server, "GET", f"/v1/runs/mnist/mine/{kind}/files/key.txt")
            assert status == 404 and SECRET.encode() not in body, (kind, status, body[:300])
        assert "Traceback" not in server.log()
    finally:
        server.stop()
