"""A plain ``pip install runship`` (msgpack, click, fsspec): training, the
uploader and the stream-level commands work with nothing else installed, and
each command that needs an extra says which in one line.

The child processes run with a ``sitecustomize`` that makes every package an
extra brings (and the web stack's own dependencies) fail to import as an
absent package does, so this venv, which has them all, stands in for a
training environment that has none."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import RUNSHIP, child_env

BLOCKED = (
    "numpy",
    "pyarrow",
    "pandas",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "anyio",
    "s3fs",
    "yaml",
    "tensorboardX",
    "tensorboard",
    "optuna",
)

SITECUSTOMIZE = f"""
import sys

BLOCKED = {BLOCKED!r}


class _Absent:
    \"\"\"Packages a plain install leaves out: imported, they fail as an absent one.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Absent())
"""

TRAIN = (
    f"BLOCKED = {BLOCKED!r}\n"
    + """
import sys

import runship as wandb

run = wandb.init(project="core", id="plain", resume="allow", config={"lr": 0.1, "layers": 2})
run.config.update({"batch": 32})
for i in range(20):
    wandb.log({"loss": 1.0 / (i + 1), "acc": i / 20})
run.summary["best"] = 0.95
wandb.finish()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("imported:", heavy)
"""
)


@pytest.fixture
def core(tmp_path):
    """(run a command as a plain install would, the run root)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    root = tmp_path / "runs"
    env = child_env({"RUNSHIP_DIR": str(root), "PYTHONPATH": os.pathsep.join([str(site), child_env()["PYTHONPATH"]])})

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)

    probe = run(sys.executable, "-c", "import numpy")  # the stand-in holds: numpy is absent
    assert probe.returncode == 1 and "No module named 'numpy'" in probe.stderr, probe.stderr
    return run, root


def _train(core, tmp_path) -> subprocess.CompletedProcess:
    run, _ = core
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    return run(sys.executable, str(script))


def test_training_under_import_runship_as_wandb_needs_no_extra(core, tmp_path):
    from runship.reader import open_run

    out = _train(core, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "imported: []" in out.stdout
    view = open_run(str(core[1] / "core" / "plain"))  # read back with the reader of a full install
    assert view.state == "finished" and view.steps == 20
    assert view.config == {"lr": 0.1, "layers": 2, "batch": 32}
    assert view.summary["best"] == 0.95 and view.summary["loss"] == 1.0 / 20


def test_resume_needs_no_extra(core, tmp_path):
    from runship.reader import open_run

    assert _train(core, tmp_path).returncode == 0
    out = _train(core, tmp_path)
    assert out.returncode == 0, out.stderr
    view = open_run(str(core[1] / "core" / "plain"))
    assert view.steps == 40 and view.last_step == 39 and len(view.sessions) == 2


def test_upload_and_status_need_no_extra(core, tmp_path):
    from runship.reader import open_run

    run, root = core
    assert _train(core, tmp_path).returncode == 0
    remote = tmp_path / "remote"
    to = ["--to", f"file://{remote}", "--state", str(tmp_path / "state")]
    out = run(*RUNSHIP, "upload", str(root), *to, "--once")
    assert out.returncode == 0, out.stderr
    assert open_run(str(remote / "core" / "plain")).steps == 20
    out = run(*RUNSHIP, "status", str(root), *to)
    assert out.returncode == 0, out.stderr
    assert "complete" in out.stdout
    streams = sorted((root / "core" / "plain").glob("run-*.msgpack"))
    out = run(*RUNSHIP, "cat", *map(str, streams))
    assert out.returncode == 0, out.stderr
    assert '"loss"' in out.stdout


def test_upload_to_a_runship_server_needs_no_extra(core, tmp_path):
    """The server runs with every extra (a login node); the uploader with none."""
    from runship.reader import open_run
    from tests.servers import RunshipServer

    run, root = core
    assert _train(core, tmp_path).returncode == 0
    token = tmp_path / "token"
    token.write_text(RunshipServer.TOKEN)
    token.chmod(0o600)
    server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
    try:
        state = ["--state", str(tmp_path / "s"), "--token-file", str(token)]
        out = run(*RUNSHIP, "upload", str(root), "--to", server.url, *state, "--once")
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    assert open_run(str(tmp_path / "served" / "core" / "plain")).steps == 20


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (["ui"], "runship ui needs numpy, pyarrow, fastapi, uvicorn: pip install 'runship[ui]'"),
        (
            ["serve", "--root", "{root}"],
            "runship serve needs numpy, pyarrow, fastapi, uvicorn: pip install 'runship[server]'",
        ),
        (
            ["export", "{root}", "--to", "parquet:{out}"],
            "exporting to parquet needs numpy, pyarrow: pip install 'runship[parquet]'",
        ),
        (
            ["export", "{root}", "--to", "tensorboard:{out}"],
            "exporting to tensorboard needs tensorboardX, tensorboard, numpy, pyarrow: pip install 'runship[tensorboard,read]'",
        ),
        (["history", "core/plain"], "runship history needs numpy, pyarrow: pip install 'runship[read]'"),
        (
            ["upload", "{root}", "--to", "s3://bucket/runs", "--once", "--state", "{out}-state"],
            "s3:// needs s3fs: pip install 'runship[s3]'",
        ),
    ],
)
def test_a_command_that_needs_an_extra_names_it_in_one_line(core, tmp_path, command, line):
    run, root = core
    assert _train(core, tmp_path).returncode == 0
    out = run(*RUNSHIP, *[a.format(root=root, out=tmp_path / "out") for a in command])
    assert out.returncode == 1, out.stderr
    assert out.stderr == f"Error: {line}\n"
    assert out.stdout == ""
    assert not (tmp_path / "out").exists()


RUNS = """
import os
import sys

import runship

kind = sys.argv[1]
if kind == "finished":
    run = runship.init(project="core", id="done", config={"lr": 0.1, "nested": {"a": [1, 2], "b": None}})
    run.define_metric("loss", summary="min,max,mean")
    for i in range(60):
        run.log({"loss": 1.0 / (i + 1), "acc": i, "mixed": f"s{i}" if i % 7 == 0 else 1.5, "big": 2**62 if i % 2 else True})
        if i == 30:
            run.summary["best"] = {"at": i, "tags": ["x", "y"]}
    run.alert(title="halfway", text="30 steps")
    run.finish()
elif kind == "crashed":  # a heartbeat so short that the run reads as crashed at once
    run = runship.init(project="core", id="crashed", settings={"heartbeat_interval": 0.01, "flush_interval": 0.01})
    for i in range(10):
        run.log({"loss": float(i)})
    run.flush()
    os._exit(3)
else:  # resumed, or torn (to get a corrupt tail below)
    run = runship.init(project="core", id=kind, resume="allow", config={"n": 1})
    for i in range(5):
        run.log({"x": i, "y": [i, {"z": i}]})
    run.finish()
"""


def _inspected_runs(tmp_path, root) -> list[str]:
    """Runs written by a full install (finished, crashed, resumed twice, a
    torn tail, a flipped byte): project/id of each."""
    script = tmp_path / "runs.py"
    script.write_text(RUNS)
    env = child_env({"RUNSHIP_DIR": str(root)})
    for kind in ("finished", "crashed", "resumed", "resumed", "torn", "rot"):
        out = subprocess.run([sys.executable, str(script), kind], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == (3 if kind == "crashed" else 0), out.stderr
    torn = sorted((root / "core" / "torn").glob("run-*.msgpack"))[-1]
    with open(torn, "ab") as f:
        f.write(b"\x86\xa1k\xa3row\xa1n")  # a record cut short: a crash while writing
    rot = sorted((root / "core" / "rot").glob("run-*.msgpack"))[-1]
    data = bytearray(rot.read_bytes())
    data[len(data) // 2] ^= 0x40
    rot.write_bytes(bytes(data))
    return ["core/done", "core/crashed", "core/resumed", "core/torn", "core/rot"]


# each command as `runship ...` would run it, one after another in one interpreter (the CLI's
# imports paid once): (exit code, stdout, stderr) of each, as JSON
COMMANDS = """
import contextlib, io, json, sys
from runship.cli import main

said = []
for command in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["runship", *command]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code or 0
    said.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(said))
"""


def test_inspect_commands_say_the_same_without_the_read_extra(core, tmp_path):
    """ls, show, verify, status, system and console read no history column:
    a plain install prints exactly what a full one does, for runs finished,
    crashed, resumed, torn and corrupt."""
    run, root = core
    refs = _inspected_runs(tmp_path, root)
    full_env = child_env({"RUNSHIP_DIR": str(root), "RUNSHIP_CACHE_DIR": str(tmp_path / "cache")})
    commands = [["ls"], ["ls", "--json"], ["verify", *refs]]
    commands += [[what, ref] for ref in refs for what in ("show", "system", "console")]
    commands += [["show", "--json", ref] for ref in refs]
    driver = [sys.executable, "-c", COMMANDS, json.dumps(commands)]
    full_run = subprocess.run(driver, env=full_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    plain_run = run(*driver)
    assert full_run.returncode == 0 == plain_run.returncode, (full_run.stderr, plain_run.stderr)
    full, plain = json.loads(full_run.stdout), json.loads(plain_run.stdout)
    assert len(full) == len(plain) == len(commands)
    for command, said_full, said_plain in zip(commands, full, plain):
        assert said_full[0] in (0, 1) and "Traceback" not in said_full[2], (command, said_full)
        assert said_plain == said_full, command
    shown = run(*RUNSHIP, "show", "core/done").stdout  # the summary ops of define_metric, from the rows
    assert '  loss: {"min":0.016666666666666666,"max":1.0,"mean":' in shown
    assert '  best: {"at":30,"tags":["x","y"]}\n  big: 4611686018427387904\n' in shown
    listed = run(*RUNSHIP, "ls").stdout
    assert re.search(r"core +crashed +crashed +crashed +10 ", listed), listed
    assert re.search(r"core +resumed +resumed +finished +10 ", listed), listed
    assert "uncommitted-tail" in run(*RUNSHIP, "verify", "core/torn").stdout
    assert "CORRUPT core/rot" in run(*RUNSHIP, "verify", "core/rot").stdout


def test_the_python_reading_api_names_its_extra(core):
    run, _ = core
    code = textwrap.dedent(
        """
        import runship
        from runship.extras import MissingExtra
        for read in (lambda: runship.Api().run("core/plain").history(), lambda: runship.open_run("x").history()):
            try:
                read()
            except ImportError as e:
                print(type(e).__name__, isinstance(e, MissingExtra), e)
        """
    )
    out = run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "MissingExtra True runship.Api needs numpy, pyarrow: pip install 'runship[read]'",
        "MissingExtra True runship.open_run needs numpy, pyarrow: pip install 'runship[read]'",
    ]


def test_the_reader_folds_a_run_without_the_read_extra_and_names_it_for_history(core, tmp_path):
    """``runship.reader.open_run`` reads a run's state with msgpack alone;
    its history columns name the extra."""
    run, root = core
    assert _train(core, tmp_path).returncode == 0
    code = textwrap.dedent(
        f"""
        import sys
        from runship.reader import open_run
        view = open_run({str(root / "core" / "plain")!r})
        print(view.state, view.steps, view.last_step, view.config, sorted(view.summary), len(view.sessions))
        try:
            view.history(["loss"])
        except ImportError as e:
            print(type(e).__name__, e)
        print([m for m in sys.modules if m.split(".")[0] in ("numpy", "pyarrow")])
        """
    )
    out = run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "finished 20 19 {'lr': 0.1, 'layers': 2, 'batch': 32} ['acc', 'best', 'loss'] 1",
        "MissingExtra reading a run's history needs numpy, pyarrow: pip install 'runship[read]'",
        "[]",
    ]


def test_an_import_error_met_anywhere_names_the_extra_of_an_absent_package_only(core):
    """``missing_extra``, the CLI's net under the checks: a package an extra
    brings and that is absent becomes the one line; any other ImportError
    (an installed package that fails, a package of no extra) stays itself."""
    run, _ = core
    code = textwrap.dedent(
        """
        from runship.extras import missing_extra
        for name in ("pandas.core", "msgpack", "no_such_package"):
            print(missing_extra(ModuleNotFoundError(name=name), "runship thing"))
        """
    )
    out = run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["runship thing needs pandas: pip install 'runship[pandas]'", "None", "None"]


# the distribution each module of runship.extras.EXTRAS comes from
DISTRIBUTION = {"yaml": "pyyaml", "pynvml": "nvidia-ml-py", "tensorboardX": "tensorboardx"}


def _installs(extras: dict[str, list[str]], extra: str) -> set[str]:
    """The distributions an extra of pyproject.toml names, its runship[...] extras' included."""
    import re

    out = set()
    for req in extras[extra]:
        name, _, inner = re.match(r"([A-Za-z0-9_.-]+)(\[([^]]*)\])?", req).groups()
        if name == "runship":
            for sub in inner.split(","):
                out |= _installs(extras, sub)
        else:
            out.add(name.lower())
    return out


def test_each_extra_installs_what_its_error_names():
    """The packages of a plain install are the three of the design, and each
    extra runship.extras names installs the modules it checks for."""
    tomllib = pytest.importorskip("tomllib")
    from runship.extras import EXTRAS

    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert sorted(d.split(">")[0] for d in project["dependencies"]) == ["click", "fsspec", "msgpack"]
    extras = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert {DISTRIBUTION.get(m, m).lower() for m in modules} <= _installs(extras, extra), extra
    assert set(EXTRAS) - {"wandb", "mlflow"} <= _installs_names(extras["all"])


def _installs_names(reqs: list[str]) -> set[str]:
    """The extras a ``runship[...]`` requirement list names."""
    return {e for r in reqs if r.startswith("runship[") for e in r[len("runship[") : -1].split(",")}
