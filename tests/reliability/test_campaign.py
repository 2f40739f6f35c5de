"""The kill campaign (tools/kill_campaign.py) with a small N: real SIGKILLs of
real training processes and uploaders, resumes, then nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.heavy  # `make test-heavy` (CI runs it after `make test`)
def test_kill_campaign_small():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "kill_campaign.py"), "--trials", "4", "--seed", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("trials 4,") and "lost 0," in last and "duplicated 0," in last
    assert "wrong values 0," in last and "remote mismatches 0" in last
    acked = int(last.split("rows acknowledged by flush() ")[1].split(",")[0])
    assert acked > 0
