"""Flaky targets: a fault-injecting proxy in front of moto's S3 server and of
the runship server. The uploader loses nothing, duplicates nothing, retries a
bounded number of times, exits non-zero while things fail, and no pass hangs."""

from __future__ import annotations

import os
import time

import pytest

import runship
from tests.conftest import popen_python, upload_cmd
from tests.servers import S3_ENV, FaultyHttpProxy, RunshipServer
from tests.uploader.test_conformance import assert_same, make_run

pytestmark = pytest.mark.heavy  # `make test-heavy` (CI runs it after `make test`)


@pytest.fixture(params=["s3", "http"])
def flaky(request, tmp_path):
    if request.param == "s3":
        moto = request.getfixturevalue("moto")
        bucket = f"flaky-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        moto.create_bucket(bucket)
        proxy = FaultyHttpProxy(moto.port, rate=0.3, seed=11, delay=0.5)
        url = f"s3://{bucket}/runs"
        # short timeouts and one botocore attempt (s3fs still retries 5 times with backoff): the
        # faults are the same, the test spends less time waiting them out
        args = [
            "-o",
            "config_kwargs.read_timeout=2",
            "-o",
            "config_kwargs.connect_timeout=2",
            "-o",
            "config_kwargs.retries.max_attempts=1",
        ]
        env = {"AWS_ENDPOINT_URL": proxy.endpoint, **S3_ENV}

        def reader(project, run_id):
            return runship.open_run(f"{url}/{project}/{run_id}", storage_options={"endpoint_url": moto.endpoint})

        yield proxy, url, args, env, reader
        proxy.stop()
    else:
        server = RunshipServer(str(tmp_path / "served"), str(tmp_path)).start()
        proxy = FaultyHttpProxy(server.port, rate=0.3, seed=5, delay=0.5)

        def reader(project, run_id):
            return runship.open_run(str(tmp_path / "served" / project / run_id))

        args = ["-o", "timeout=2", "-o", "attempts=2"]
        yield proxy, proxy.endpoint, args, {"RUNSHIP_TOKEN": RunshipServer.TOKEN}, reader
        proxy.stop()
        server.stop()


def test_uploads_through_faults_lose_and_duplicate_nothing(flaky, tmp_path):
    proxy, url, args, env, reader = flaky
    root = tmp_path / "runs"
    runs = [make_run(root, run_id=f"r{i}", rows=120, rotate=3000, finish=i != 0) for i in range(4)]
    writer = popen_python(
        f"""
        import runship, time
        run = runship.init(project="p", id="live", dir={str(root)!r}, settings={{"quiet": True, "flush_interval": 0.02, "rotate_bytes": 5000}})
        for i in range(1500):
            run.log({{"i": i}})
            if i % 100 == 0:
                time.sleep(0.05)
        run.finish()
        """
    )
    codes = []
    durations = []
    for _ in range(60):
        t0 = time.monotonic()
        out = upload_cmd([root], url, tmp_path / "state", *args, env=env, timeout=300)
        durations.append(time.monotonic() - t0)
        codes.append(out.returncode)
        assert out.returncode in (0, 1), out.stderr
        assert "Traceback" not in out.stderr
        if out.returncode == 0 and writer.poll() is not None:
            break
    assert writer.wait(60) == 0
    assert codes[-1] == 0, codes  # retried (bounded), then through
    assert max(durations) < 120  # every call has a timeout
    injected = sum(n for fault, n in proxy.counts.items() if fault != "pass")
    assert injected >= 10, proxy.counts

    def once(*extra):
        return upload_cmd([root], url, tmp_path / "state", *args, *extra, env=env, timeout=300)

    runs[0].finish()  # new bytes, while every request fails
    proxy.rate = 1.0
    # only faults that fail a request: a delayed request still succeeds, and so does a truncated
    # answer with no body (a PUT's), and with them a pass could go through by chance
    proxy.faults = ("500", "503", "reset")
    t0 = time.monotonic()
    failing = once()
    assert failing.returncode == 1 and "failures" in failing.stderr and time.monotonic() - t0 < 120
    proxy.hang = True  # a target that takes requests and never answers
    t0 = time.monotonic()
    hung = once("--pass-timeout", "8")
    assert hung.returncode == 1 and time.monotonic() - t0 < 60
    proxy.hang = False
    proxy.rate = 0.0
    proxy.faults = proxy.FAULTS
    assert once().returncode == 0
    for run_id in [r.id for r in runs] + ["live"]:
        view = reader("p", run_id)
        assert_same(str(root / "p" / run_id), view)  # record for record: no loss, no duplicate
