"""System metrics, console capture and the environment record, on real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

import runship
from runship.cli import cli
from tests.conftest import ROOT, run_python

FAKE_NVML = '''
"""A fake nvidia-ml-py for machines without a GPU: 4 devices, each with its own readings."""
NVML_TEMPERATURE_GPU = 0
class _U:
    def __init__(self, gpu, memory): self.gpu, self.memory = gpu, memory
class _M:
    def __init__(self, used, total): self.used, self.total = used, total
def nvmlInit(): pass
def nvmlDeviceGetCount(): return 4
def nvmlDeviceGetHandleByIndex(i): return i
def nvmlDeviceGetUUID(h): return f"GPU-{'abcd'[h] * 8}-0000"
def nvmlDeviceGetUtilizationRates(h): return _U(10 + h, 20 + h)
def nvmlDeviceGetMemoryInfo(h): return _M((h + 1) * 1024**3, 80 * 1024**3)
def nvmlDeviceGetTemperature(h, kind): return 40 + h
def nvmlDeviceGetPowerUsage(h): return (100 + h) * 1000
'''


def _child(root, body, env=None, **settings):
    settings = {
        "quiet": True,
        "flush_interval": 0.05,
        "stats_interval": 0.1,
        "environment": False,
        "console": "off",
        **settings,
    }
    code = f"""
    import os, sys, time, runship
    run = runship.init(project="p", id="sys", dir={str(root)!r}, settings={settings!r})
    {textwrap.indent(textwrap.dedent(body), "    ").strip()}
    run.finish()
    """
    out = run_python(code, env=env)
    assert out.returncode == 0, out.stderr
    return out, runship.open_run(os.path.join(root, "p", "sys"))


@pytest.mark.parametrize("source", ["proc", "psutil"])
def test_system_metrics_from_each_source(tmp_path, source):
    _, view = _child(tmp_path, "time.sleep(0.6)\nx = bytearray(50_000_000)\ntime.sleep(0.3)", stats_source=source)
    samples = list(view.system())
    assert len(samples) >= 3
    last = samples[-1]
    for key in ("cpu", "system.cpu", "proc.memory.rssMB", "memory_percent", "disk.in", "network.recv"):
        assert key in last, (source, key, last)
    assert 0 <= last["cpu"] <= 100 and last["proc.memory.rssMB"] > 40  # the 50 MB buffer shows
    assert all(s["_timestamp"] and s["_runtime"] is not None for s in samples)
    assert not any(k.startswith("gpu.") for k in last)  # no NVML here: nothing recorded for GPUs


def test_missing_source_records_nothing_and_raises_nothing(tmp_path):
    _, view = _child(tmp_path, "sys.modules['psutil'] = None\ntime.sleep(0.4)", stats_source="psutil")
    # psutil could not be imported inside the writer: no samples, no error
    assert view.state == "finished"


def test_fake_nvml_respects_cuda_visible_devices(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pynvml.py").write_text(FAKE_NVML)
    env = {"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}", "CUDA_VISIBLE_DEVICES": "2,GPU-aaaa"}
    _, view = _child(tmp_path / "a", "time.sleep(0.4)", env=env)
    last = list(view.system())[-1]
    assert last["gpu.0.gpu"] == 12 and last["gpu.0.temp"] == 42 and last["gpu.0.powerWatts"] == 102.0  # physical 2
    assert last["gpu.1.gpu"] == 10 and last["gpu.1.memoryAllocatedBytes"] == 1024**3  # GPU-aaaa... is physical 0
    assert last["gpu.0.memoryAllocated"] == pytest.approx(100 * 3 / 80)
    assert not any(k.startswith("gpu.2.") for k in last)
    env["CUDA_VISIBLE_DEVICES"] = ""
    _, view = _child(tmp_path / "b", "time.sleep(0.3)", env=env)
    assert not any(k.startswith("gpu.") for s in view.system() for k in s)


def test_stats_can_be_switched_off(tmp_path):
    _, view = _child(tmp_path, "time.sleep(0.3)", env={"RUNSHIP_DISABLE_STATS": "1"})
    assert "system" not in view.files and list(view.system()) == []


PRINTER = """
import sys, time, runship
run = runship.init(project="p", id="con", dir=sys.argv[1], settings={{"quiet": True, "console": {mode!r}, "flush_interval": 0.05, "environment": False}})
print("hello", "world")
for i in range(101):
    sys.stdout.write(f"\\rprogress {{i}}%")  # a tqdm-style bar
    sys.stdout.flush()
sys.stdout.write("\\n")
print("to stderr", file=sys.stderr)
print("unicode: \\u00e9\\u4e2d")
import os
os.write(1, b"raw fd write\\n")
os.system("echo from a child process")
sys.stdout.write("no newline at the end")
run.finish()
"""


@pytest.mark.parametrize("mode", ["wrap", "redirect"])
def test_console_capture_through_a_pipe(tmp_path, mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env["PYTHONPATH"] = ROOT
    out = subprocess.run(
        [sys.executable, "-c", PRINTER.format(mode=mode), str(tmp_path)], env=env, capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    stdout, stderr = out.stdout.decode(), out.stderr.decode()  # bytes: no newline translation
    # the terminal (here a pipe) got everything, unchanged
    assert "hello world\n\rprogress 0%\rprogress 1%" in stdout and "\rprogress 100%\n" in stdout
    assert "raw fd write\n" in stdout and "from a child process" in stdout and stdout.endswith("no newline at the end")
    assert stderr == "to stderr\n"
    view = runship.open_run(str(tmp_path / "p" / "con"))
    lines = [(line["stream"], line["text"]) for line in view.console()]
    assert ("stdout", "hello world") in lines and ("stderr", "to stderr") in lines
    assert ("stdout", "unicode: \u00e9\u4e2d") in lines
    bars = [t for s, t in lines if t.startswith("progress")]
    assert bars == ["progress 100%"]  # collapsed to its last state, not 101 frames
    assert lines[-1] == ("stdout", "no newline at the end")
    captured_fd = ("stdout", "raw fd write") in lines and ("stdout", "from a child process") in lines
    assert captured_fd == (mode == "redirect")  # only fd redirection sees below Python
    shown = CliRunner().invoke(cli, ["console", str(tmp_path / "p" / "con"), "--stream", "stdout"]).output
    assert "hello world\nprogress 100%\n" in shown


def test_console_follow_tails_a_live_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env["PYTHONPATH"] = ROOT
    code = """
import sys, time, runship
run = runship.init(project="p", id="live", dir=sys.argv[1], settings={"quiet": True, "flush_interval": 0.05, "environment": False})
for i in range(15):
    print(f"line {i}", flush=True)
    time.sleep(0.1)
run.finish()
"""
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.DEVNULL)
    while not (tmp_path / "p" / "live").exists():
        time.sleep(0.02)
    time.sleep(0.3)
    follower = subprocess.run(
        [sys.executable, "-m", "runship.cli", "console", str(tmp_path / "p" / "live"), "--follow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    child.wait(30)
    assert follower.returncode == 0 and follower.stdout.splitlines() == [f"line {i}" for i in range(15)]


def test_environment_record_with_slurm(tmp_path):
    env = {
        "SLURM_JOB_ID": "4242",
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURM_JOB_NODELIST": "gpu[01-02]",
        "SLURM_JOB_PARTITION": "a100",
        "SLURM_RESTART_COUNT": "1",
    }
    _, view = _child(tmp_path, "pass", env=env, environment=True)
    e = view.environment
    assert e["scheduler"] == {
        "name": "slurm",
        "job_id": "4242",
        "array_task_id": "3",
        "nodelist": "gpu[01-02]",
        "partition": "a100",
        "restart_count": "1",
    }
    assert e["host"] == os.uname().nodename and e["python"] == sys.version.split()[0] and e["pid"] > 0
    assert any(p.lower().startswith("msgpack==") for p in e["packages"])
    assert e["git"] is None or "commit" in e["git"]
    shown = CliRunner().invoke(cli, ["show", str(tmp_path / "p" / "sys")]).output
    assert "environment:" in shown and "slurm: job_id=4242 array_task_id=3" in shown and "packages:" in shown


def test_system_cli(tmp_path):
    _, view = _child(tmp_path, "time.sleep(0.4)", stats_source="proc")
    out = CliRunner().invoke(cli, ["system", view.location, "--keys", "cpu,proc.memory.rssMB", "--format", "jsonl"])
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert rows and set(rows[-1]) == {"_timestamp", "_runtime", "cpu", "proc.memory.rssMB"}
    table = CliRunner().invoke(cli, ["system", view.location]).output
    assert table.splitlines()[0].split()[:2] == ["_timestamp", "_runtime"]


def test_init_stays_fast_with_environment_on(tmp_path):
    # the package list and git run off the caller's thread: init returns first
    out = run_python(
        f"""
        import time, runship
        t0 = time.perf_counter()
        run = runship.init(project="p", dir={str(tmp_path)!r}, settings={{"quiet": True}})
        took = time.perf_counter() - t0
        alive = run._env_thread.is_alive() if run._env_thread else False
        run.finish()
        print("INIT", took, alive)
        """
    )
    assert out.returncode == 0, out.stderr
    took = float(out.stdout.split()[1])
    view = runship.open_run(next(str(p) for p in (tmp_path / "p").iterdir()))
    assert view.environment is not None  # finish() waited for it
    assert took < 5  # not a speed claim (see the benchmark): init did not wait for the package list


@pytest.mark.parametrize("mode", ["wrap", "redirect"])
def test_short_runs_in_one_process_each_record_console_and_environment(tmp_path, mode):
    # folds of a cross-validation in one process: finish() returns with each run's
    # last console line recorded and its environment record written (the package
    # list is worked out once a process, then given to every run)
    out = run_python(
        f"""
        import os, sys, runship
        for fold in range(3):
            run = runship.init(project="p", id=f"fold{{fold}}", dir={str(tmp_path)!r}, reinit="finish_previous",
                               settings={{"quiet": True, "console": {mode!r}}})
            run.log({{"loss": float(fold)}})
            sys.stdout.write(f"fold {{fold}} done")
            run.finish()
            sys.stdout.write("\\n")
        """
    )
    assert out.returncode == 0, out.stderr
    for fold in range(3):
        view = runship.open_run(str(tmp_path / "p" / f"fold{fold}"))
        lines = [(line["stream"], line["text"]) for line in view.console()]
        assert lines[-1] == ("stdout", f"fold {fold} done")
        assert view.environment is not None and any(
            p.lower().startswith("msgpack==") for p in view.environment["packages"]
        )
        assert view.summary["loss"] == float(fold)


def test_the_package_list_reads_names_from_metadata_and_versions_from_folders(tmp_path, monkeypatch):
    """The environment record's packages without a child process: each
    ``*.dist-info`` folder's version, its metadata's spelling of the name,
    the first of a name on sys.path, an egg's too; nothing else counted."""
    from runship.writer.environment import packages_and_platform

    first, second = tmp_path / "a", tmp_path / "b"
    (first / "scikit_learn-1.5.2.dist-info").mkdir(parents=True)
    (first / "scikit_learn-1.5.2.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: scikit-learn\n")
    (first / "bare_pkg-0.1.dist-info").mkdir()  # no METADATA: the folder's name stands
    (second / "scikit_learn-0.9.dist-info").mkdir(parents=True)  # shadowed by the first on the path
    (second / "oldegg-2.0-py3.11.egg-info").mkdir()
    (second / "oldegg-2.0-py3.11.egg-info" / "PKG-INFO").write_text("Name: OldEgg\n")
    (second / "not-a-package.txt").write_text("x")
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    found = packages_and_platform()
    assert found["packages"] == ["bare_pkg==0.1", "OldEgg==2.0", "scikit-learn==1.5.2"]
    assert found["platform"]
