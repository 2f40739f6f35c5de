"""Resume reads what it needs itself (runship/writer/prior.py): the state file
the writer keeps beside its streams and the run stream records after it; the
result is the reader's fold of the run, without the reader."""

from __future__ import annotations

import json
import os

import pytest

import runship
from runship.writer import prior
from tests.conftest import run_python

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}


def _script(root, body: str, resume: str | None = "allow", run_id: str = "r", rc: int = 0) -> None:
    head = (
        "import os, runship\n"
        f"run = runship.init(project='p', id={run_id!r}, dir={str(root)!r}, resume={resume!r}, settings={SETTINGS!r})\n"
    )
    out = run_python(head + body)
    assert out.returncode == rc, out.stderr


def _same_as_reader(run_dir: str) -> dict:
    got = prior.prior_state(run_dir)
    view = runship.open_run(run_dir)
    assert got["next_step"] == (0 if view.last_step is None else view.last_step + 1)
    assert got["config"] == view.config
    assert got["summary"] == view.summary
    assert got["meta"] == view.meta
    specs = [s.to_record() for s in got["metrics"].specs]
    assert specs == [s.to_record() for s in view.metrics.specs]
    assert list(prior.run_files(run_dir))[-1] in got["starts"]  # start records kept, for the next resume
    return {**got, "metrics": specs, "starts": None}


SESSION = """
run.define_metric("acc", summary="max,mean")
run.config.update({"lr": 0.1, "layers": [1, 2]}, allow_val_change=True)
for i in range(300):
    run.log({"loss": 1.0 / (i + 1), "acc": (i % 7) / 7})
run.log({"text": "a string row"})
run.summary["best"] = 3
run.name = "renamed"
"""


@pytest.mark.parametrize("end", ["finish", "crash"])
def test_prior_state_is_the_readers_fold(tmp_path, end):
    run_dir = str(tmp_path / "p" / "r")
    _script(tmp_path, SESSION + "run.finish()")
    assert os.path.exists(os.path.join(run_dir, prior.STATE))
    _same_as_reader(run_dir)
    # a second session: finished (its state replaces the first), or killed (the state
    # is the first session's: this one's records are read after it)
    tail = "run.finish()" if end == "finish" else "run.flush(); os._exit(1)"
    _script(
        tmp_path,
        SESSION.replace("0.1", "0.2") + "run.summary.update({'late': [1, 2]})\n" + tail,
        rc=int(end == "crash"),
    )
    got = _same_as_reader(run_dir)
    assert got["next_step"] == 602 and got["config"]["lr"] == 0.2 and got["summary"]["late"] == [1, 2]
    os.remove(os.path.join(run_dir, prior.STATE))  # an older writer's run: folded from its first record
    assert _same_as_reader(run_dir) == got


def test_a_reset_and_a_stale_state_are_folded_as_readers_do(tmp_path):
    run_dir = str(tmp_path / "p" / "r")
    _script(tmp_path, SESSION + "run.finish()")
    kept = open(os.path.join(run_dir, prior.STATE), "rb").read()
    _script(tmp_path, "run.log({'x': 1.0}); run.finish()", resume=None)  # a reset
    got = _same_as_reader(run_dir)
    assert got["next_step"] == 1 and "loss" not in got["summary"]
    # a state that sees only the first session (as if the second had none): the
    # second session's records are read after it, its reset included
    with open(os.path.join(run_dir, prior.STATE), "wb") as f:
        f.write(kept)
    assert _same_as_reader(run_dir) == got


def test_resume_continues_the_step_without_numpy_pyarrow_or_a_cache(tmp_path):
    _script(tmp_path, "for i in range(50): run.log({'loss': float(i)})\nrun.finish()")
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    cache.mkdir()
    out = run_python(
        f"""
        import json, sys, runship
        run = runship.init(project="p", id="r", dir={str(tmp_path)!r}, resume="allow", settings={SETTINGS!r})
        step = run.step
        run.log({{"loss": 50.0}})
        run.finish()
        print(json.dumps({{"step": step, "loaded": sorted(m for m in ("numpy", "pyarrow") if m in sys.modules)}}))
        """,
        env={"HOME": str(home), "XDG_CACHE_HOME": str(cache)},
    )
    assert out.returncode == 0, out.stderr
    said = json.loads(out.stdout.splitlines()[-1])
    assert said == {"step": 50, "loaded": []}
    assert not os.listdir(home) and not os.listdir(cache)  # nothing written outside the run directory
    view = runship.open_run(str(tmp_path / "p" / "r"))
    assert view.last_step == 50 and view.summary["loss"] == 50.0


def test_a_damaged_state_file_is_passed_over(tmp_path):
    run_dir = str(tmp_path / "p" / "r")
    _script(tmp_path, SESSION + "run.finish()")
    with open(os.path.join(run_dir, prior.STATE), "wb") as f:
        f.write(b"\x81\xa6format\xa3bad")
    _same_as_reader(run_dir)
    with open(os.path.join(run_dir, prior.STATE), "wb") as f:
        f.write(b"not msgpack at all \xc1")
    assert _same_as_reader(run_dir)["next_step"] == 301


@pytest.mark.parametrize("lie", [{"last_step": -5}, {"last_step": "x"}, {"files": -1}, {"files": "x"}])
def test_a_state_naming_what_the_writer_never_writes_is_passed_over(tmp_path, lie):
    """A crafted state file (well-formed msgpack, its own format name) with a
    negative or non-integer step or file offset: the run is folded from its
    stream files, as a reader folds it, and the step goes on from there."""
    import msgpack

    run_dir = str(tmp_path / "p" / "r")
    _script(tmp_path, SESSION + "run.finish()")
    path = os.path.join(run_dir, prior.STATE)
    with open(path, "rb") as f:
        state = msgpack.unpackb(f.read(), strict_map_key=False)
    if "files" in lie:
        state["files"] = dict.fromkeys(state["files"], lie["files"])
    else:
        state.update(lie)
    with open(path, "wb") as f:
        f.write(msgpack.packb(state))
    assert _same_as_reader(run_dir)["next_step"] == 301
