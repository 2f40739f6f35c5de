"""A sweep directory (``<root>/<project>/.sweeps/<id>/``) may be written by
another user of a shared filesystem: its spec, claims and results are input
to every agent that runs it. These tests write hostile specs and plant links
in sweep directories, as such a user would (bypassing ``sweep create``), and
run real ``runship sweep create`` / ``runship sweep agent`` processes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import pytest

from tests.conftest import child_env
from tests.hostile.craft import peak_rss_mb

TIMEOUT = 120


def _cli(root, *args: str, cwd=None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", str(root), "sweep", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _plant(root, spec, *, seed=1, lost_after=600.0, project="p", sweep_id="s1") -> str:
    """A sweep directory made by hand, as another user would make it."""
    where = os.path.join(str(root), project, ".sweeps", sweep_id)
    for sub in ("claims", "results", "progress"):
        os.makedirs(os.path.join(where, sub))
    with open(os.path.join(where, "spec.json"), "w") as f:
        json.dump({"spec": spec, "seed": seed, "lost_after": lost_after}, f)
    os.chmod(os.path.join(where, "spec.json"), 0o644)  # whatever the umask: only its owner may write it
    return where


def _claims(where: str) -> list[str]:
    return os.listdir(os.path.join(where, "claims"))


def _one_line_error(out: subprocess.CompletedProcess, *said: str) -> None:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.stderr
    for s in said:
        assert s in lines[0], lines[0]


def _injection(marker) -> str:
    return f"1 and __import__('os').system('id > {marker}')#"


def test_a_parameter_name_cannot_run_code(tmp_path):
    """``program: "-c"`` and a parameter named ``1 and __import__('os')...#``:
    the agent's ``python -c --1 and ...#=1`` would run it. Refused by
    ``sweep create``, and by the agent reading a spec planted in the sweep
    directory; nothing is claimed, nothing runs."""
    marker = tmp_path / "pwned"
    spec = {"method": "grid", "program": "-c", "parameters": {_injection(marker): {"values": [1]}}}
    (tmp_path / "evil.json").write_text(json.dumps(spec))
    made = _cli(tmp_path / "runs", "create", str(tmp_path / "evil.json"), "--project", "p", cwd=tmp_path)
    _one_line_error(made, "parameter name", "__import__")
    assert not (tmp_path / "runs" / "p" / ".sweeps").exists() or not os.listdir(tmp_path / "runs" / "p" / ".sweeps")

    where = _plant(tmp_path / "runs", spec)
    ran = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", cwd=tmp_path)
    _one_line_error(ran, "p/s1", "parameter name", "__import__")
    assert not marker.exists()
    assert _claims(where) == []


@pytest.mark.parametrize(
    "name",
    ["-rf", "--help", "a b", "a=b", "a;b", "$(id)", "a\nb", "", "x" * 129, "1abc", "a\x00b"],
)
def test_a_parameter_name_follows_the_rule(tmp_path, name):
    """Identifier-like (letters, digits, ``_``, ``-``, ``.`` and ``/``, a
    letter or ``_`` first), at most 128 characters; in a nested parameter
    too. The names of legit specs pass."""
    nested = {"method": "grid", "parameters": {"model": {"parameters": {name: {"values": [1]}}}}}
    where = _plant(tmp_path / "runs", nested)
    ran = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", "--", sys.executable, "-c", "pass")
    _one_line_error(ran, "parameter name")
    assert _claims(where) == []


def test_legit_parameter_names_reach_the_program_as_arguments(tmp_path):
    (tmp_path / "train.py").write_text("import sys, json; print(json.dumps(sys.argv[1:]))\n")
    spec = {
        "method": "grid",
        "program": "train.py",
        "parameters": {
            "lr": {"values": [0.1]},
            "batch_size": {"value": 32},
            "optimizer/lr": {"value": "adam"},
            "model": {"parameters": {"depth": {"value": 4}, "drop-out": {"value": 0.5}}},
        },
    }
    (tmp_path / "sweep.json").write_text(json.dumps(spec))
    made = _cli(tmp_path / "runs", "create", "sweep.json", "--project", "p", "--id", "ok", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    ran = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", str(tmp_path / "runs"), "sweep", "agent", "p/ok"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == [
        "--lr=0.1",
        "--batch_size=32",
        "--optimizer/lr=adam",
        "--model.depth=4",
        "--model.drop-out=0.5",
    ]


def test_a_program_that_is_an_option_is_refused(tmp_path):
    """``program: "-c<code>"`` makes ``python -c<code>``: the spec's program
    must be a file path, not an option."""
    marker = tmp_path / "pwned"
    spec = {
        "method": "grid",
        "program": f"-cimport os; os.system('id > {marker}')",
        "parameters": {"lr": {"values": [0.1]}},
    }
    (tmp_path / "evil.json").write_text(json.dumps(spec))
    made = _cli(tmp_path / "runs", "create", str(tmp_path / "evil.json"), "--project", "p", cwd=tmp_path)
    _one_line_error(made, "program")
    where = _plant(tmp_path / "runs", spec)
    ran = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", cwd=tmp_path)
    _one_line_error(ran, "p/s1", "program")
    assert not marker.exists()
    assert _claims(where) == []


def test_the_program_of_a_spec_others_may_write_is_not_run(tmp_path):
    """A spec others may write (or that belongs to another user) chooses no
    program: the agent runs only a command given after ``--``."""
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    spec = {"method": "grid", "program": "evil.py", "parameters": {"lr": {"values": [0.1, 0.2]}}}
    where = _plant(tmp_path / "runs", spec)
    os.chmod(os.path.join(where, "spec.json"), 0o666)
    ran = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", cwd=tmp_path)
    _one_line_error(ran, "spec.json", "writable by group or others", "after --")
    assert not marker.exists()
    assert _claims(where) == []
    given = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", "--", sys.executable, "-c", "pass")
    assert given.returncode == 0, given.stderr
    assert _claims(where) == ["0.0"]


def _agent_measured(root, limit_mb: float, timeout: float = 60) -> tuple[subprocess.Popen, float, float, str]:
    """An agent running ``python -c pass`` for one trial, its peak RSS polled
    (it is killed past ``limit_mb``, or at ``timeout``); (proc, peak, seconds, stderr)."""

    def cap() -> None:  # never let a bomb take the machine: 3 GiB of address space at most
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    argv = [sys.executable, "-m", "runship.cli", "--root", str(root), "sweep", "agent", "p/s1", "--count", "1"]
    argv += ["--no-wait", "--", sys.executable, "-c", "pass"]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=cap,
    )
    peak = 0.0
    try:
        while proc.poll() is None and time.monotonic() - started < timeout:
            try:
                peak = max(peak, peak_rss_mb(proc.pid))
            except (OSError, RuntimeError):  # it ended between poll and read
                pass
            if peak > limit_mb:
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    return proc, peak, time.monotonic() - started, err


def test_an_early_terminate_bomb_is_refused_fast_in_bounded_memory(tmp_path):
    """``early_terminate {max_iter: 1e15, s: 1e9, eta: 1.000001}`` passed the
    check and the agent grew past gigabytes with the trial claimed: now the
    agent refuses the spec before claiming anything, fast, in little memory."""
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.2]}},
        "early_terminate": {"type": "hyperband", "max_iter": 1e15, "s": 1e9, "eta": 1.000001},
    }
    where = _plant(tmp_path / "runs", spec)
    proc, peak, seconds, err = _agent_measured(tmp_path / "runs", limit_mb=400)
    assert peak < 200, f"the agent reached {peak:.0f} MiB"
    assert proc.returncode == 1 and "early_terminate" in err and "Traceback" not in err, err
    assert seconds < 30
    assert _claims(where) == []


BOUNDED = {
    "grid of 10^180 points": (
        {"method": "grid", "parameters": {f"p{i}": {"values": list(range(1000))} for i in range(60)}},
        "grid",
    ),
    "a values list of 200,000": ({"method": "random", "parameters": {"a": {"values": [0] * 200_000}}}, "values"),
    "run_cap 10^30": ({"method": "random", "run_cap": 10**30, "parameters": {"a": {"value": 1}}}, "run_cap"),
    "min_iter 10^15": (
        {
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"a": {"value": 1}},
            "early_terminate": {"type": "hyperband", "min_iter": 10**15},
        },
        "min_iter",
    ),
    "eta 1e300": (
        {
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"a": {"value": 1}},
            "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 1e300},
        },
        "eta",
    ),
    "a range of 1e300": ({"method": "random", "parameters": {"a": {"min": -1e300, "max": 1e300}}}, "parameters.a"),
    "log_uniform exponents past exp()": (
        {"method": "random", "parameters": {"a": {"min": 1, "max": 1e6, "distribution": "log_uniform"}}},
        "parameters.a",
    ),
    "a string of 1 MB": ({"method": "random", "parameters": {"a": {"value": "x" * 900_000}}}, "parameters.a"),
    "64 values of 1,000 non-ASCII characters (past what one environment variable holds)": (
        {"method": "grid", "parameters": {f"p{i}": {"value": "é" * 1000} for i in range(64)}},
        "parameters.p0.value",
    ),
    "1,000 parameters": (
        {"method": "random", "parameters": {f"p{i}": {"value": i} for i in range(1000)}},
        "parameters",
    ),
    "parameters nested 40 deep": (
        {
            "method": "random",
            "parameters": json.loads('{"a": {"parameters": ' * 40 + '{"b": {"value": 1}}' + "}}" * 40),
        },
        "nested",
    ),
}


@pytest.mark.parametrize("case", list(BOUNDED))
def test_every_number_of_a_spec_is_bounded(tmp_path, case):
    """Grid size, list lengths, run_cap, hyperband's numbers, ranges, value
    sizes, parameter counts and depth: an agent reading a planted spec past
    a bound refuses it in one line naming it, before claiming anything."""
    spec, said = BOUNDED[case]
    where = _plant(tmp_path / "runs", spec)
    ran = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", "--", sys.executable, "-c", "pass")
    _one_line_error(ran, "p/s1", said)
    assert _claims(where) == []


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("lost_after", float("nan"), "lost_after"),
        ("lost_after", -1.0, "lost_after"),
        ("lost_after", 1e300, "lost_after"),
        ("seed", "abc", "seed"),
        ("seed", 2**80, "seed"),
    ],
)
def test_the_sweep_files_numbers_are_checked(tmp_path, field, value, said):
    """spec.json's own ``seed`` and ``lost_after`` are input too (a
    ``lost_after`` of -1 would make every running trial look lost to every
    agent): refused in one line."""
    spec = {"method": "grid", "parameters": {"a": {"values": [1, 2]}}}
    where = _plant(tmp_path / "runs", spec, **{field: value})
    ran = _cli(tmp_path / "runs", "agent", "p/s1", "--count", "1", "--no-wait", "--", sys.executable, "-c", "pass")
    _one_line_error(ran, "p/s1", said)
    assert _claims(where) == []


def test_a_huge_or_fifo_spec_file_neither_hangs_nor_eats_memory(tmp_path):
    """``sweep create`` with a FIFO or a file of 50 MB (YAML or JSON):
    refused in one line, fast; and a YAML alias bomb is refused too."""
    os.mkfifo(tmp_path / "fifo.yaml")
    fifo = _cli(tmp_path / "runs", "create", str(tmp_path / "fifo.yaml"), timeout=30)
    _one_line_error(fifo, "fifo.yaml", "not a regular file")
    with open(tmp_path / "big.json", "w") as f:
        f.write('{"method": "grid", "description": "' + "x" * 50_000_000 + '"}')
    big = _cli(tmp_path / "runs", "create", str(tmp_path / "big.json"), timeout=30)
    _one_line_error(big, "big.json", "larger than")
    anchors = ["  - &a0 [x, x, x, x, x, x, x, x, x, x]\n"]
    anchors += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9)]
    bomb = "description:\n" + "".join(anchors) + "method: grid\nparameters:\n  p:\n    values: *a8\n"
    (tmp_path / "bomb.yaml").write_text(bomb)
    started = time.monotonic()
    laughs = _cli(tmp_path / "runs", "create", str(tmp_path / "bomb.yaml"), timeout=60)
    _one_line_error(laughs, "bomb.yaml")
    assert time.monotonic() - started < 30


def test_lost_trial_params_from_a_planted_claim_do_not_reach_the_command(tmp_path):
    """A claim file is written by whoever claims: params in an old (lost)
    claim that do not fit the spec are not taken over; the trial is drawn
    again from the spec."""
    marker = tmp_path / "pwned"
    spec = {"method": "grid", "program": "train.py", "parameters": {"lr": {"values": [0.1]}}}
    (tmp_path / "train.py").write_text("import sys; print(' '.join(sys.argv[1:]))\n")
    where = _plant(tmp_path / "runs", spec)
    claim = os.path.join(where, "claims", "0.0")
    with open(claim, "w") as f:
        json.dump({"params": {_injection(marker): 1}, "run_id": "s1-0"}, f)
    os.utime(claim, (time.time() - 10_000, time.time() - 10_000))  # its agent is long gone: the trial is lost
    ran = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", str(tmp_path / "runs"), "sweep", "agent", "p/s1", "--no-wait"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "--lr=0.1"
    assert not marker.exists()


def test_links_in_a_sweep_directory_are_not_followed(tmp_path):
    """``results`` and ``claims`` linked to a directory elsewhere: the agent
    writes nothing there and says which link it did not follow."""
    spec = {"method": "grid", "parameters": {"a": {"values": [1, 2]}}}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for sub in ("claims", "results"):
        where = _plant(tmp_path / f"runs-{sub}", spec)
        os.rmdir(os.path.join(where, sub))
        os.symlink(elsewhere, os.path.join(where, sub))
        ran = _cli(
            tmp_path / f"runs-{sub}", "agent", "p/s1", "--count", "1", "--no-wait", "--", sys.executable, "-c", "pass"
        )
        _one_line_error(ran, "p/s1", sub, "symlink")
        assert os.listdir(elsewhere) == []


def test_a_link_at_the_agents_progress_file_is_not_followed(tmp_path):
    """The hyperband progress file was written through a temporary name
    made of the agent's pid: a link planted there made the agent overwrite
    the file it points to. The agent is started by a process that plants
    the link for its own pid, then execs the agent (same pid)."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "train.py").write_text(
        "import time, runship\n"
        "run = runship.init(settings={'quiet': True, 'environment': False, 'flush_interval': 0.02})\n"
        "for i in range(30):\n"
        "    run.log({'loss': 1.0 / (i + 1)})\n"
        "    time.sleep(0.1)\n"
        "run.finish()\n"
    )
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1]}},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
    }
    where = _plant(tmp_path / "runs", spec, lost_after=2.0)
    agent = [sys.executable, "-m", "runship.cli", "--root", str(tmp_path / "runs"), "sweep", "agent", "p/s1"]
    agent += ["--no-wait", "--", sys.executable, "train.py"]
    progress = os.path.join(where, "progress")
    launcher = (
        "import os, sys\n"
        f"os.symlink({str(victim)!r}, os.path.join({progress!r}, f'0.0.{{os.getpid()}}.tmp'))\n"
        f"os.execv(sys.executable, {agent!r})\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", launcher], cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert ran.returncode == 0, ran.stderr
    assert victim.read_text() == "precious\n"
    with open(os.path.join(progress, "0.0")) as f:  # the progress itself was written, in its place
        assert json.load(f)["1"] == 1.0


def test_a_fifo_or_huge_spec_json_in_a_sweep_directory_is_refused_fast(tmp_path):
    """spec.json replaced by a FIFO (opening it would block) or by 50 MB:
    the agent says so in one line, fast, and claims nothing."""
    spec = {"method": "grid", "parameters": {"a": {"values": [1, 2]}}}
    for kind, said in (("fifo", "spec.json is a fifo"), ("huge", "spec.json is larger than")):
        where = _plant(tmp_path / kind, spec)
        os.unlink(os.path.join(where, "spec.json"))
        if kind == "fifo":
            os.mkfifo(os.path.join(where, "spec.json"))
        else:
            with open(os.path.join(where, "spec.json"), "w") as f:
                f.write('{"spec": {"description": "' + "x" * 50_000_000 + '"}}')
        started = time.monotonic()
        ran = _cli(tmp_path / kind, "agent", "p/s1", "--count", "1", "--no-wait", "--", sys.executable, "-c", "pass")
        _one_line_error(ran, "p/s1", said)
        assert time.monotonic() - started < 30
        assert _claims(where) == []


def test_a_sweep_read_on_a_file_target_follows_no_link_and_opens_no_fifo(tmp_path):
    """`runship --root file://TARGET sweep status`: the target's sweep
    directory (where uploads went; another user may write there) is copied
    file by file from the root down: a result linked to a file elsewhere,
    a FIFO as a claim and a result over 1 MiB are passed over, the sweep's
    own files are read, and the command returns."""
    spec = {"method": "grid", "metric": {"name": "m", "goal": "maximize"}, "parameters": {"a": {"values": [1, 2, 3]}}}
    where = _plant(tmp_path / "target", spec)
    with open(os.path.join(where, "claims", "0.0"), "w") as f:
        json.dump({"params": {"a": 1}, "run_id": "s1-0"}, f)
    with open(os.path.join(where, "results", "0.json"), "w") as f:
        json.dump({"index": 0, "params": {"a": 1}, "state": "finished", "metric": 0.5, "run_id": "s1-0"}, f)
    (tmp_path / "secret").write_text(json.dumps({"index": 1, "state": "finished", "metric": 99.0}))
    os.symlink(tmp_path / "secret", os.path.join(where, "results", "1.json"))
    os.mkfifo(os.path.join(where, "claims", "2.0"))  # opened, it would block the reader
    with open(os.path.join(where, "results", "2.json"), "w") as f:
        f.write(json.dumps({"index": 2, "state": "finished", "metric": 98.0, "pad": "x" * (2 << 20)}))
    out = _cli(f"file://{tmp_path / 'target'}", "status", "p/s1", "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert [(t["index"], t["metric"]) for t in status["trials"]] == [(0, 0.5)]
    assert status["best"]["metric"] == 0.5
