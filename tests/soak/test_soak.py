"""The soak test (``make test-soak``; CI runs a 3-minute form): see
``tests/soak/harness.py`` for what runs and what "acknowledged" means, and
docs/RELIABILITY.md, "The soak test", for the bounds and the figures."""

from __future__ import annotations

import json
import os

import pytest

from tests.soak.harness import Options, run_soak


@pytest.mark.soak
def test_soak_daemon_and_two_servers_lose_nothing_and_stay_flat(tmp_path):
    seconds = float(os.environ.get("SOAK_SECONDS", "180"))
    figures = run_soak(str(tmp_path), Options(seconds=seconds, seed=int(os.environ.get("SOAK_SEED", "1"))))
    text = json.dumps(figures, indent=2)
    print(text)
    report = os.environ.get("SOAK_REPORT")
    if report:
        with open(report, "w") as f:
            f.write(text + "\n")
    # the churn happened: kills and requeues, outages, restarts, runs resumed or started
    assert figures["SIGKILL"] >= 1 and figures["requeues"] >= 1, figures
    assert figures["target_outages"] >= 2 and figures["server_restarts"] >= 1, figures
    assert figures["requests"]["server-a"] > 0 and figures["requests"]["server-b"] > 0, figures
    assert figures["finished_lives_failed"] == 0, figures
    # every acknowledged row in the bucket exactly once; flush() kept its promise
    assert figures["drain_s"] is not None, f"the daemon did not drain in time: {figures}"
    assert figures["rows_acknowledged"] > 0 and figures["flushed_not_acknowledged"] == 0, figures
    assert figures["rows_missing"] == 0 and figures["rows_duplicated"] == 0, figures
    assert figures["rows_unexpected"] == 0 and figures["acknowledged_twice_locally"] == 0, figures
    assert figures["rows_found"] == figures["rows_acknowledged"], figures
    assert figures["runs_read_otherwise_via_server"] == 0, figures
    # no tracebacks; memory and descriptors flat (bounds: harness.BOUNDS, FLOORS)
    assert not any(figures["tracebacks"].values()), figures["tracebacks"]
    for name, g in figures["processes"].items():
        assert g["ok"], f"{name} grew beyond the bounds: {g}"
    # no 5xx from either server (the PATCH race of two servers over one bucket was one, issue 25 item 19)
    assert figures["5xx_answered"] == 0 and figures["5xx_logged"] == 0, figures["5xx_examples"]
