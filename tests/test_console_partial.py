"""The console's unfinished line (a progress bar being drawn): recorded
while it changes, at most every PARTIAL_EVERY seconds, shown by every
reader while it is the newest record of its stream, superseded by the line
that ends it. A real process draws the bar (\\r frames) under runship.init
and is read while it is live: by the reader, by `runship console`, over
real HTTP from `runship ui`."""

from __future__ import annotations

import glob
import http.client
import json
import os
import subprocess
import sys
import textwrap
import time

import msgpack
import pytest

from runship.reader import open_run
from tests.conftest import ROOT
from tests.servers import UIServer

pytestmark = pytest.mark.heavy  # live training processes drawing progress bars, read while they run: `make test-heavy`

SCRIPT = """
import os, sys, time
import runship
root, mode, d = sys.argv[1], sys.argv[2], sys.argv[3]
run = runship.init(dir=root, project="live", id="bar", settings={"console": mode, "quiet": True, "environment": False})
print("starting", flush=True)
i, noted = 0, False
while not os.path.exists(os.path.join(d, "stop")):
    i += 1
    sys.stdout.write(f"\\rstep {i}/100000")
    sys.stdout.flush()
    if not noted and os.path.exists(os.path.join(d, "note")):
        print("a note", file=sys.stderr, flush=True)
        noted = True
    time.sleep(0.004)
sys.stdout.write(f"\\rstep {i}/100000 done\\n")
sys.stdout.flush()
with open(os.path.join(d, "frames"), "w") as f:
    f.write(str(i))
print("after", flush=True)
run.finish()
"""


def _lines(root):
    return list(open_run(os.path.join(root, "live", "bar"), cache=False).console())


def _wait(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            found = check()
        except (FileNotFoundError, OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def _api(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {UIServer.TOKEN}"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 200, body
    return json.loads(body)


def _partial(lines):
    return [line for line in lines if line.get("partial")]


def _start(tmp_path, mode):
    root = str(tmp_path / "runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env.update(PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), root, mode, str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return root, proc


@pytest.mark.parametrize("mode", ["wrap", "redirect"])
def test_a_live_bar_is_shown_while_it_is_drawn_then_its_line_replaces_it(tmp_path, mode):
    root, proc = _start(tmp_path, mode)
    try:
        first = _wait("a partial line", lambda: _partial(_lines(root)))
        lines = _lines(root)
        assert lines[0]["text"] == "starting" and not lines[0].get("partial")
        last = lines[-1]
        assert last.get("partial") is True and last["stream"] == "stdout" and last["text"].startswith("step ")
        assert len(_partial(lines)) == 1  # one per stream, the newest
        # it is recorded again as it changes
        _wait("a newer state", lambda: _partial(_lines(root))[0]["text"] != first[0]["text"])
        # a line of the other stream does not supersede it
        open(tmp_path / "note", "w").close()
        lines = _wait("the note", lambda: (ls := _lines(root)) and any(x["text"] == "a note" for x in ls) and ls)
        assert lines[-1].get("partial") is True and lines[-1]["stream"] == "stdout"
        assert [x["text"] for x in lines if x["stream"] == "stderr"] == ["a note"]
        # runship console: the unfinished line last
        out = subprocess.run(
            [sys.executable, "-m", "runship.cli", "--root", root, "--no-cache", "console", "live/bar"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": ROOT},
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        printed = out.stdout.splitlines()
        assert printed[0] == "starting" and printed[-1].startswith("step ") and "done" not in printed[-1]
        # the web app: the last line, "partial": true, not counted
        ui = UIServer([root], str(tmp_path)).start()
        try:
            got = _api(ui.port, "/ui/api/console?run=0:live/bar&tail=100")
            assert got["lines"][-1]["partial"] is True and got["lines"][-1]["text"].startswith("step ")
            assert got["next"] == got["total"] == len(got["lines"]) - 1
            again = _api(ui.port, f"/ui/api/console?run=0:live/bar&offset={got['next']}")
            assert [x.get("partial") for x in again["lines"]] == [True]
            assert not any(x.get("partial") for x in got["lines"][:-1])
            open(tmp_path / "stop", "w").close()
            assert proc.wait(60) == 0
            done = _api(ui.port, f"/ui/api/console?run=0:live/bar&offset={got['next']}")
            assert [x["text"] for x in done["lines"]][-2:] == [
                f"step {open(tmp_path / 'frames').read()}/100000 done",
                "after",
            ]
            assert not _partial(done["lines"])
        finally:
            ui.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = _lines(root)
    assert not _partial(lines)  # superseded by the line that ended it
    # bounded: far fewer partial records than frames drawn (never one per frame)
    records = []
    for path in glob.glob(os.path.join(root, "live", "bar", "console-*.msgpack")):
        with open(path, "rb") as f:
            records += [r for r in msgpack.Unpacker(f, raw=False) if isinstance(r, dict) and r.get("k") == "out"]
    partial = [r for r in records if r.get("partial") is True]
    frames = int(open(tmp_path / "frames").read())
    assert partial and len(partial) * 10 < frames, (len(partial), frames)
    assert all(isinstance(r["text"], str) and r["text"].startswith("step ") for r in partial)


TQDM_SCRIPT = """
import itertools, os, sys, time
import runship
from tqdm import tqdm

root, d = sys.argv[1], sys.argv[2]
run = runship.init(dir=root, project="live", id="bar", settings={"console": "redirect", "quiet": True, "environment": False})
for i in tqdm(itertools.count(), desc="train", mininterval=0.05):
    if os.path.exists(os.path.join(d, "stop")):
        break
    time.sleep(0.005)
run.finish()
"""


def test_a_real_tqdm_bar_on_stderr(tmp_path):
    pytest.importorskip("tqdm")
    root = str(tmp_path / "runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env.update(PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(TQDM_SCRIPT), root, str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bar = _wait("tqdm's bar", lambda: _partial(_lines(root)))
        assert bar[0]["stream"] == "stderr" and bar[0]["text"].startswith("train: ") and "it" in bar[0]["text"]
        open(tmp_path / "stop", "w").close()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = _lines(root)
    assert not _partial(lines) and lines[-1]["stream"] == "stderr" and lines[-1]["text"].startswith("train: ")
