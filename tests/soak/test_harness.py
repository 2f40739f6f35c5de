"""The soak harness's own measures, on real processes: a process that
leaks memory or descriptors fails the bounds, one that does not passes
(else a flat figure from the soak test would prove nothing)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.soak.harness import Sampler, growth, lifetimes, slope_per_hour

LEAKS = """
import sys, time
memory, fds = sys.argv[1] == "1", sys.argv[2] == "1"
kept = []
end = time.time() + 8
while time.time() < end:
    if memory:
        kept.append(bytearray(b"x" * (512 * 1024)))  # 5 MiB/s, touched (resident)
    if fds:
        kept.append(open(sys.executable, "rb"))  # 10 descriptors/s
    time.sleep(0.1)
time.sleep(60)
"""


def _measure(memory: bool, fds: bool) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", LEAKS, str(int(memory)), str(int(fds))])
    try:
        sampler = Sampler({"p": lambda: proc.pid}, every=0.2).start()
        time.sleep(7.5)
        sampler.stop()
    finally:
        proc.kill()
        proc.wait()
    return growth(sampler.samples["p"], warmup=1.0)


@pytest.mark.soak
@pytest.mark.parametrize(("memory", "fds"), [(True, False), (False, True)])
def test_a_leaking_process_fails_the_bounds(memory, fds):
    g = _measure(memory, fds)
    assert not g["ok"], g
    if memory:
        assert g["rss_mib_per_hour"] > g["allowed_rss_mib_per_hour"], g
    else:
        assert g["fds_per_hour"] > g["allowed_fds_per_hour"], g


@pytest.mark.soak
def test_a_flat_process_keeps_the_bounds():
    g = _measure(False, False)
    assert g["ok"], g
    assert g["samples"] > 20


@pytest.mark.soak
def test_slope_and_lifetimes():
    assert slope_per_hour([(0, 1.0), (1800, 2.0), (3600, 3.0)]) == pytest.approx(2.0)
    assert slope_per_hour([(0, 5.0)]) == 0.0
    samples = [(0, 1, 10.0, 3), (1, 1, 10.0, 3), (2, 2, 9.0, 3), (3, 1, 9.0, 3)]
    assert [len(life) for life in lifetimes(samples)] == [2, 1, 1]
