"""A model-based test of writer + uploader interleavings (Hypothesis
RuleBasedStateMachine): logging, flushes, writer deaths and resumes, torn and
NUL tails, rotation, uploader passes, uploaders dying mid-pass, a target that
fails for a while; against a directory, an in-memory object store, S3 (moto's
server) and a runship server. After every step the remote holds, for every
stream file, a prefix of the local committed records (no gap, no duplicate);
after a final pass with the target up, exactly them."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import fsspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import runship
from runship import store
from runship.store import TargetError
from runship.uploader import State, Uploader
from tests.plain import all_stream_files, committed_records, stream_files
from tests.servers import RunshipServer

pytestmark = pytest.mark.heavy  # `make test-heavy` (CI runs it after `make test`)


class Crash(BaseException):
    """The uploader process dies here (not an Exception: nothing catches it)."""


class FaultyTarget:
    """Wraps a real target: fails every call while ``down``; raises Crash
    (a dying uploader) after ``crash_after`` more calls."""

    def __init__(self, inner):
        self.inner = inner
        self.url = inner.url
        self.capabilities = inner.capabilities  # the pass sends sweeps through put_file, gated as the rest
        self.max_request = inner.max_request
        self.down = False
        self.crash_after: int | None = None

    def _gate(self):
        if self.down:
            raise TargetError("target down (injected)", retryable=True)
        if self.crash_after is not None:
            if self.crash_after <= 0:
                raise Crash()
            self.crash_after -= 1

    def remote_size(self, *a):
        self._gate()
        return self.inner.remote_size(*a)

    def push(self, *a):
        self._gate()
        return self.inner.push(*a)

    def finalize(self, *a, **kw):
        self._gate()
        return self.inner.finalize(*a, **kw)

    def put_file(self, *a):
        self._gate()
        return self.inner.put_file(*a)

    def close(self):
        pass


class WriterUploader(RuleBasedStateMachine):
    target_url: str = ""
    options: dict = {}  # storage options of the target (and of reading it back)
    token: str | None = None

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="model-")
        self.root = os.path.join(self.tmp, "runs")
        self.state_dir = os.path.join(self.tmp, "state")
        self.project = f"p{uuid.uuid4().hex[:8]}"  # one remote may serve many examples
        self.url = self.make_url()
        self.target = FaultyTarget(store.open(self.url, dict(self.options), token=self.token))
        self.run = None
        self.next_i = 0
        self.start_writer()

    def make_url(self) -> str:
        raise NotImplementedError

    @property
    def run_dir(self) -> str:
        return os.path.join(self.root, self.project, "m")

    def start_writer(self):
        self.run = runship.init(
            project=self.project,
            id="m",
            dir=self.root,
            resume="allow",
            reinit="create_new",
            settings={
                "quiet": True,
                "flush_interval": 3600,
                "rotate_bytes": 1500,
                "environment": False,
                "console": "off",
            },
        )

    # ---- the writer ------------------------------------------------------------------
    @rule(n=st.integers(1, 30))
    def log(self, n):
        for _ in range(n):
            self.run.log({"i": self.next_i, "pad": "x" * (self.next_i % 7)})
            self.next_i += 1

    @rule()
    def flush(self):
        self.run.flush()

    @rule(tail=st.sampled_from(["none", "torn", "nul"]))
    def kill_writer_and_resume(self, tail):
        self.run.flush()  # rows acknowledged...
        self.run.log({"i": -1})  # ...and one that dies in memory with the process
        self.run._forked()  # the process is gone: nothing more is written
        files = stream_files(self.run_dir)
        if tail != "none" and files:
            with open(files[-1], "ab") as f:  # what a crash can leave at the end
                f.write(b"\x86\xa1k\xa3row\xa1n\xcd" if tail == "torn" else b"\x00" * 37)
        self.next_i = self._last_i() + 1
        self.start_writer()

    @rule()
    def finish_and_resume(self):
        self.run.finish(quiet=True)
        self.next_i = self._last_i() + 1
        self.start_writer()

    def _last_i(self) -> int:
        rows = [r["d"]["i"] for p in stream_files(self.run_dir) for r in committed_records(p) if r["k"] == "row"]
        return max(rows, default=-1)

    # ---- the uploader ------------------------------------------------------------------
    def _pass(self):
        state = State(self.state_dir)
        try:
            return Uploader(self.target, state, [self.root], stable_seconds=0).run_pass()
        finally:
            state.close()

    @rule()
    def upload(self):
        self._pass()

    @rule(after=st.integers(0, 6))
    def upload_and_die(self, after):
        self.target.crash_after = after
        try:
            self._pass()
        except Crash:
            pass
        finally:
            self.target.crash_after = None

    @precondition(lambda self: not self.target.down)
    @rule()
    def target_goes_down(self):
        self.target.down = True

    @precondition(lambda self: self.target.down)
    @rule()
    def target_comes_back(self):
        self.target.down = False

    # ---- the invariant --------------------------------------------------------------------
    def _remote(self):
        options = {**self.options, "token": self.token} if self.token else self.options
        try:
            return runship.open_run(f"{self.url}/{self.project}/m", storage_options=options)
        except runship.RunNotFound:
            return None

    @invariant()
    def remote_is_a_prefix_of_local(self):
        remote = self._remote()
        if remote is None:
            return
        local_files = {os.path.basename(p): p for p in all_stream_files(self.run_dir)}
        for files in remote.files.values():
            for sf in files:
                assert sf.name in local_files, sf.name
                local = committed_records(local_files[sf.name])
                got = list(remote._files.records(sf))  # one file's records, as the view decoded them
                assert got == local[: len(got)], sf.name  # a prefix: no gap, no duplicate, no change
                assert not [p for p in sf.problems if p.is_corruption]

    def teardown(self):
        try:
            if self.run is not None:
                self.run.finish(quiet=True)
            self.target.down = False
            self._pass()
            self._pass()
            remote = self._remote()
            local = runship.open_run(self.run_dir)
            assert remote is not None
            for stream in local.files:
                assert list(remote.records(stream)) == list(local.records(stream)), stream
            assert remote.history() == local.history()
            steps = [h["i"] for h in local.history() if h["i"] >= 0]
            assert len(steps) == len(set(steps))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.cleanup()

    def cleanup(self):
        pass


class ToObjectStore(WriterUploader):
    def make_url(self):
        return f"memory://model-{uuid.uuid4().hex[:8]}"

    def cleanup(self):
        try:
            fsspec.filesystem("memory").rm(self.url.split("://", 1)[1], recursive=True)
        except FileNotFoundError:
            pass


class ToDirectory(WriterUploader):
    def make_url(self):
        return f"file://{self.tmp}/remote"


class ToS3(WriterUploader):
    """S3 through s3fs, on moto's server over real HTTP."""

    def make_url(self):
        return f"s3://{self.bucket}/model"


class ToServer(WriterUploader):
    """A runship server over real HTTP, read back through it too."""

    token = RunshipServer.TOKEN

    def make_url(self):
        return self.server_url


@pytest.fixture(scope="module", autouse=True)
def _remotes(request, tmp_path_factory):
    """The S3 and server variants need their services: started once for the module."""
    if not any(name in item.nodeid for item in request.session.items for name in ("TestS3", "TestServer")):
        yield
        return
    moto = request.getfixturevalue("moto")
    bucket = f"model-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(bucket)
    ToS3.bucket = bucket
    ToS3.options = {"endpoint_url": moto.endpoint}
    work = tmp_path_factory.mktemp("model-server")
    server = RunshipServer(str(work / "served"), str(work)).start()
    ToServer.server_url = server.url
    yield
    server.stop()


SETTINGS = settings(max_examples=50, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck))
REMOTE = settings(max_examples=12, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck))
TestObjectStore = ToObjectStore.TestCase
TestObjectStore.settings = SETTINGS
TestDirectory = ToDirectory.TestCase
TestDirectory.settings = SETTINGS
TestS3 = ToS3.TestCase
TestS3.settings = REMOTE
TestServer = ToServer.TestCase
TestServer.settings = REMOTE
