from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import runship
from runship.writer.lifecycle import PROCESS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def _cache_home(tmp_path_factory):
    """One reader cache for the session (never the user's ~/.cache): runs
    of every test share it, as runs of one user do."""
    return str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, _cache_home):
    for key in list(os.environ):
        if key.startswith(("RUNSHIP_", "WANDB_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CACHE_HOME", _cache_home)
    yield
    for run in list(PROCESS.active):
        run.finish(quiet=True)
    PROCESS.current = None


@pytest.fixture(scope="session")
def moto():
    """moto's S3 server in a subprocess on 127.0.0.1, for the whole session."""
    from tests.servers import S3_ENV, MotoServer

    for k, v in S3_ENV.items():
        os.environ.setdefault(k, v)
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "runs")


@pytest.fixture
def make_run(root):
    def make(**kwargs):
        # the environment record (a package list, git) and console capture
        # have their own tests; elsewhere they would only slow runs down
        settings = {"quiet": True, "environment": False, "console": "off", **kwargs.pop("settings", {})}
        kwargs.setdefault("project", "p")
        kwargs.setdefault("dir", root)
        kwargs.setdefault("reinit", "create_new")
        return runship.init(settings=settings, **kwargs)

    return make


def run_python(code: str, *, env: dict | None = None, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this checkout importable."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def popen_python(code: str, *, env: dict | None = None, **kwargs) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


RUNSHIP = [sys.executable, "-m", "runship.cli"]


def child_env(extra: dict | None = None) -> dict:
    """The environment for a runship child process: this checkout, no RUNSHIP_/WANDB_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env["PYTHONPATH"] = ROOT
    env.update(extra or {})
    return env


def upload_cmd(roots, to, state, *args, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``runship upload ROOTS --to TO --state STATE ARGS`` as a real process."""
    return subprocess.run(
        [*RUNSHIP, "upload", *map(str, roots), "--to", to, "--state", str(state), *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def upload_popen(roots, to, state, *args, env=None, stdout=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [*RUNSHIP, "upload", *map(str, roots), "--to", to, "--state", str(state), *args],
        env=child_env(env),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
