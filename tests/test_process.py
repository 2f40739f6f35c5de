"""Real processes: SIGKILL, SIGTERM, uncaught exceptions, atexit, fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import runship
from runship.cli import cli
from tests.conftest import popen_python, run_python
from tests.plain import records, rows, stream_files

LOGGER = """
import sys, runship
run = runship.init(project="p", id="kid", dir=sys.argv[1] if len(sys.argv) > 1 else {root!r},
                   resume="allow", settings={{"quiet": True, "flush_interval": 0.02, "heartbeat_interval": 0.1}})
step = run.step
while True:
    run.log({{"value": step * 2, "text": "row %d" % step}})
    step += 1
    if step % 50 == 0:
        run.flush()
        print("ACK", step - 1, flush=True)
"""


def _wait_for_acks(proc, n):
    last = None
    for _ in range(n):
        line = proc.stdout.readline()
        assert line.startswith("ACK"), line + proc.stderr.read()
        last = int(line.split()[1])
    return last


def _kill_and_collect(proc, sig):
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    acks = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK")]
    return acks, err


def test_sigkill_loses_nothing_flushed_and_resume_continues(root):
    proc = popen_python(LOGGER.format(root=root))
    acked = _wait_for_acks(proc, 6)
    acks, _ = _kill_and_collect(proc, signal.SIGKILL)
    acked = max([acked, *acks])
    assert proc.returncode == -signal.SIGKILL
    run_dir = os.path.join(root, "p", "kid")

    # every row up to the last acknowledged flush reads back, in order, exactly
    got = rows(run_dir)
    assert len(got) >= acked + 1
    assert got == [(i, {"value": i * 2, "text": f"row {i}"}) for i in range(len(got))]
    view = runship.open_run(run_dir, stale_after=0.0)
    hist = view.history()
    assert [h["_step"] for h in hist] == list(range(len(got)))
    assert all(h["value"] == h["_step"] * 2 for h in hist)
    assert view.state == "crashed" and view.exit_code is None
    assert not [p for p in view.verify() if p.is_corruption]

    # verify runs clean (exit 0) and says whether a torn tail was left
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["verify", run_dir])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok p/kid")
    torn = [p for p in view.problems if p.kind == "uncommitted-tail"]
    for p in torn:
        assert f"byte {p.offset}" in result.output

    # resume the same id: the step count continues after the last committed row
    proc = popen_python(LOGGER.format(root=root))
    _wait_for_acks(proc, 2)
    _kill_and_collect(proc, signal.SIGKILL)
    got2 = rows(run_dir)
    assert got2[: len(got)] == got
    assert [s for s, _ in got2] == list(range(len(got2)))
    assert len(stream_files(run_dir)) == 2


def test_torn_tail_after_kill_is_reported_by_verify(root):
    proc = popen_python(LOGGER.format(root=root))
    _wait_for_acks(proc, 3)
    _kill_and_collect(proc, signal.SIGKILL)
    run_dir = os.path.join(root, "p", "kid")
    (path,) = stream_files(run_dir)
    size = os.path.getsize(path)
    # a node crash (not a process kill) can leave half a batch: append one
    with open(path, "ab") as f:
        f.write(b"\x85\xa1k\xa3row\xa1n\xce\x00\x00")
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["verify", run_dir])
    assert result.exit_code == 0, result.output
    assert "uncommitted" in result.output and f"byte {size}" in result.output
    good = rows(run_dir)
    assert [h["_step"] for h in runship.open_run(run_dir).history()] == [s for s, _ in good]


def test_sigterm_flushes_and_reads_as_terminated(root):
    proc = popen_python(LOGGER.format(root=root))
    _wait_for_acks(proc, 3)
    acks, err = _kill_and_collect(proc, signal.SIGTERM)
    assert proc.returncode == -signal.SIGTERM, err  # the default action still happens
    run_dir = os.path.join(root, "p", "kid")
    view = runship.open_run(run_dir)
    assert view.state == "terminated"
    (sig,) = records(run_dir, "signal")
    assert sig["signal"] == signal.SIGTERM and sig["name"] == "SIGTERM"
    got = rows(run_dir)
    assert len(got) >= max(acks, default=0) + 1
    assert [s for s, _ in got] == list(range(len(got)))
    # rows logged between the last flush and the signal were flushed by the handler
    assert records(run_dir)[-1]["k"] == "signal"


def test_sigterm_calls_previous_handler(root):
    code = f"""
    import signal, sys, runship
    seen = []
    signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    run = runship.init(project="p", id="prev", dir={root!r}, settings={{"quiet": True}})
    run.log({{"a": 1}})
    signal.raise_signal(signal.SIGTERM)
    print("previous handler called:", seen)
    run.log({{"a": 2}})
    """
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "previous handler called: [15]" in out.stdout
    run_dir = os.path.join(root, "p", "prev")
    assert records(run_dir, "signal") and rows(run_dir) == [(0, {"a": 1}), (1, {"a": 2})]
    # the process went on and exited cleanly: finished with exit code 0
    view = runship.open_run(run_dir)
    assert view.state == "finished" and view.exit_code == 0


def test_a_sigterm_the_main_thread_missed_in_a_blocking_call_is_sent_to_it_again(root):
    """A signal taken by another thread (or just before a blocking call) does
    not wake the main thread from ``time.sleep``: Python would run the handler
    only after the sleep. Runship's watch thread sends it to the main thread
    again, which runs the program's own handler (called by runship's) at once."""
    code = f"""
    import signal, sys, threading, time, runship
    def program_handler(s, f):
        print("program handler in", threading.current_thread().name, flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, program_handler)
    run = runship.init(project="p", id="missed", dir={root!r}, settings={{"quiet": True}})
    for i in range(100):
        run.log({{"x": float(i)}})
    def take_it():  # the signal delivered to this thread, not to the sleeping main thread
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
    threading.Thread(target=take_it).start()
    time.sleep(60)
    print("slept it out", flush=True)
    """
    proc = popen_python(code)
    out, err = proc.communicate(timeout=30)  # well before the 60 s sleep ends
    assert proc.returncode == 3, err
    assert out.splitlines() == ["program handler in MainThread"]
    run_dir = os.path.join(root, "p", "missed")
    assert records(run_dir, "signal") and [s for s, _ in rows(run_dir)] == list(range(100))


def test_a_main_thread_stuck_outside_python_still_ends_on_sigterm_with_its_rows(root):
    """The main thread cannot take the signal at all (here: it blocks it; in
    real jobs a wait in C++ that retries on EINTR, a long call that released
    the GIL): the watch thread records the signal, flushes, and ends the
    process with SIGTERM's default action, as it would have ended without runship."""
    code = f"""
    import signal, time, runship
    run = runship.init(project="p", id="stuck", dir={root!r}, settings={{"quiet": True, "flush_interval": 60}})
    for i in range(1000):
        run.log({{"x": float(i)}})
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM}})
    print("READY", flush=True)
    time.sleep(60)
    """
    proc = popen_python(code)
    assert proc.stdout.readline().strip() == "READY"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err
    run_dir = os.path.join(root, "p", "stuck")
    assert [s for s, _ in rows(run_dir)] == list(range(1000))  # flushed by the watch thread
    assert records(run_dir)[-1]["k"] == "signal"
    view = runship.open_run(run_dir)
    assert view.state == "terminated" and view.summary == {"x": 999.0}


def test_a_forked_childs_sigterm_never_reaches_the_parent(root):
    """The watch thread reads the interpreter's wakeup fd; a forked child's
    own SIGTERM must not look like the parent's (and get the parent a SIGTERM)."""
    code = f"""
    import os, signal, time, runship
    run = runship.init(project="p", id="parent", dir={root!r}, settings={{"quiet": True}})
    run.log({{"x": 1.0}})
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status), flush=True)
    time.sleep(3)  # longer than the watch thread waits before it acts
    run.log({{"x": 2.0}})
    run.finish()
    print("parent done", flush=True)
    """
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["child -15", "parent done"]
    run_dir = os.path.join(root, "p", "parent")
    assert not records(run_dir, "signal") and runship.open_run(run_dir).state == "finished"


def test_another_librarys_wakeup_fd_is_left_alone(root):
    code = f"""
    import os, signal, threading, runship
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)  # as asyncio's add_signal_handler does
    run = runship.init(project="p", id="theirs", dir={root!r}, settings={{"quiet": True}})
    print(signal.set_wakeup_fd(-1) == w, any(t.name == "runship-signals" for t in threading.enumerate()))
    run.finish()
    """
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_without_a_watch_thread_init_and_sigterm_work_as_before(root):
    code = f"""
    import signal, threading, runship
    start = threading.Thread.start
    def refuse(self):
        if self.name == "runship-signals":
            raise RuntimeError("can't start new thread")
        start(self)
    threading.Thread.start = refuse
    run = runship.init(project="p", id="nowatch", dir={root!r}, settings={{"quiet": True}})
    run.log({{"x": 1.0}})
    print("wakeup fd left", signal.set_wakeup_fd(-1), flush=True)
    signal.raise_signal(signal.SIGTERM)
    """
    out = run_python(code)
    assert out.returncode == -signal.SIGTERM, out.stderr
    assert out.stdout.split() == ["wakeup", "fd", "left", "-1"]  # no fd of runship's left set
    run_dir = os.path.join(root, "p", "nowatch")
    assert records(run_dir, "signal") and rows(run_dir) == [(0, {"x": 1.0})]


@pytest.mark.parametrize(
    ("body", "exit_code"),
    [
        ("pass", 0),
        ("raise RuntimeError('boom')", 1),
        ("raise KeyboardInterrupt", 130),
        ("sys.exit(3)", 3),
        ("sys.exit('out of data')", 1),
        ("sys.exit(0)", 0),
        ("sys.exit()", 0),
        ("sys.exit(None)", 0),
        ("sys.exit(True)", 1),
        ("threading.Thread(target=sys.exit, args=(2,)).start()", 0),  # ends the thread, not the process
        ("with run: sys.exit(4)", 4),
        ("with run: raise KeyboardInterrupt", 130),
    ],
    ids=[
        "clean",
        "exception",
        "keyboard-interrupt",
        "exit-3",
        "exit-message",
        "exit-0",
        "exit",
        "exit-none",
        "exit-true",
        "exit-in-a-thread",
        "exit-in-with",
        "interrupt-in-with",
    ],
)
def test_atexit_finishes_with_exit_code(root, body, exit_code):
    out = run_python(
        f"""
        import sys, threading, runship
        run = runship.init(project="p", id="ax", dir={root!r}, settings={{"quiet": True}})
        run.log({{"a": 1}})
        {body}
        """
    )
    if exit_code == 130:  # an interrupt ends the interpreter by SIGINT (130 in a shell)
        assert out.returncode != 0, out.stderr
    else:  # the interpreter's own exit status is what the run records
        assert out.returncode == exit_code, out.stderr
    view = runship.open_run(os.path.join(root, "p", "ax"))
    assert view.state == ("finished" if exit_code == 0 else "failed") and view.exit_code == exit_code
    assert view.history()[0]["a"] == 1


@pytest.mark.parametrize(
    ("end", "said", "state"),
    [
        ("sys.exit(3)", "failed (exit 3), 1 step", "failed (exit code 3)"),
        ("pass", "finished, 1 step", "finished (exit code 0)"),
    ],
    ids=["exit-3", "clean"],
)
def test_the_end_of_run_line_and_show_say_the_state_and_exit_code(root, end, said, state):
    out = run_python(
        f"""
        import sys, runship
        run = runship.init(project="p", id="ex", dir={root!r})
        run.log({{"a": 1}})
        {end}
        """
    )
    run_dir = os.path.join(root, "p", "ex")
    assert f"runship: run p/ex {said}, in {run_dir}" in out.stderr.splitlines()[-1], out.stderr
    from click.testing import CliRunner

    show = CliRunner().invoke(cli, ["--root", root, "show", "p/ex"])
    assert show.exit_code == 0, show.output
    assert [line.split(None, 1)[1] for line in show.output.splitlines() if line.startswith("state")] == [state]


def test_forked_child_never_writes_parent_files(root):
    out = run_python(
        f"""
        import os, runship
        run = runship.init(project="p", id="fork", dir={root!r})
        run.log({{"who": "parent", "i": 0}})
        pid = os.fork()
        if pid == 0:
            for i in range(200):
                runship.log({{"who": "child", "i": i}})
            run.flush()
            run.finish()
            raise SystemExit(0)  # atexit runs in the child too
        os.waitpid(pid, 0)
        run.log({{"who": "parent", "i": 1}})
        run.finish()
        """
    )
    assert out.returncode == 0, out.stderr
    run_dir = os.path.join(root, "p", "fork")
    assert rows(run_dir) == [(0, {"who": "parent", "i": 0}), (1, {"who": "parent", "i": 1})]
    assert len(records(run_dir, "finish")) == 1 and len(stream_files(run_dir)) == 1
    assert "forked child is ignored" in out.stderr


def test_import_and_logging_path_need_only_msgpack(root):
    out = run_python(
        f"""
        import sys
        import runship
        run = runship.init(project="p", dir={root!r}, config={{"a": 1}}, settings={{"quiet": True}})
        run.log({{"x": 1.0}})
        run.summary["y"] = 2
        run.finish()
        heavy = sorted(m for m in ("click", "fsspec", "numpy", "pandas", "torch", "yaml", "s3fs") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_reading_a_run_does_not_import_pandas(root):
    """pyarrow imports pandas (0.6 s) on its first ``pa.array`` or
    ``to_numpy``; the reader builds and reads its arrays without either,
    so `runship history` and friends do not pay for it."""
    out = run_python(
        f"""
        import sys
        import runship
        run = runship.init(project="p", id="nopd", dir={root!r}, settings={{"quiet": True}})
        for i in range(300):
            run.log({{"x": i * 0.5, "n": i, "ok": i % 2 == 0, "s": "a" if i % 3 else None, **({{"sparse": 1.0}} if i % 7 == 0 else {{}})}})
        run.finish()
        from runship.reader.run import open_run
        for cache in (False, True, True):
            view = open_run(run.run_dir, cache=cache)
            rows = view.history()
            view.history(keys=["sparse"]), view.history(samples=20), view.series(["x", "sparse"], 20)
            dict(view.summary), list(view.system()), list(view.console())
        assert rows[7] == {{"x": 3.5, "n": 7, "ok": False, "s": "a", "sparse": 1.0, "_step": 7,
                           "_timestamp": rows[7]["_timestamp"], "_runtime": rows[7]["_runtime"]}}, rows[7]
        print("PANDAS", "pandas" in sys.modules)
        """
    )
    assert out.returncode == 0, out.stderr
    assert "PANDAS False" in out.stdout


def test_cli_entry_point_runs(root):
    exe = os.path.join(os.path.dirname(sys.executable), "runship")  # the installed console script
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("runship, version ")


def test_sigterm_during_flush_is_recorded(root):
    # flush() after every row: the signal almost always lands inside a write of
    # the main thread, which must finish before the signal record is written
    code = LOGGER.format(root=root).replace("if step % 50 == 0:", "if True:")
    run_dir = os.path.join(root, "p", "kid")
    for trial in range(5):
        proc = popen_python(code)
        acked = _wait_for_acks(proc, 200)
        acks, err = _kill_and_collect(proc, signal.SIGTERM)
        assert proc.returncode == -signal.SIGTERM, err
        view = runship.open_run(run_dir)
        assert view.state == "terminated", (trial, err)
        got = rows(run_dir)
        assert [s for s, _ in got] == list(range(len(got)))
        assert len(got) >= max([acked, *acks]) + 1


def test_a_sigterm_landing_just_as_a_flush_takes_the_lock_is_recorded(root):
    """The signal lands right after the main thread's flush took the writer's
    lock (made certain here: the lock raises it once taken). The handler must
    see that its thread is inside a pass and let that pass finish first; it
    used to find the lock held, think the writer thread had it, and wait on
    itself for 10 s, then die without its signal record (the rare CI failure
    of test_sigterm_during_flush_is_recorded)."""
    code = f"""
        import signal, threading, time, runship
        run = runship.init(project="p", id="edge", dir={root!r}, settings={{"quiet": True, "console": "off"}})
        for i in range(10):
            run.log({{"i": i}})
        writer = run._writer
        real = writer._io

        class Raising:
            fired = False

            def acquire(self, *args, **kwargs):
                got = real.acquire(*args, **kwargs)
                if got and not Raising.fired and threading.current_thread() is threading.main_thread():
                    Raising.fired = True
                    signal.raise_signal(signal.SIGTERM)  # handled at the next bytecode: still inside the pass
                return got

            def release(self):
                real.release()

        writer._io = Raising()
        start = time.monotonic()
        run.flush()
        time.sleep(30)  # never reached: the signal ends the process once the flush is over
        """
    started = time.monotonic()
    out = run_python(code, timeout=60)
    assert out.returncode == -signal.SIGTERM, out.stderr
    assert time.monotonic() - started < 8  # not the 10 s wait on itself
    view = runship.open_run(os.path.join(root, "p", "edge"))
    assert view.state == "terminated"
    assert [r["i"] for r in view.history()] == list(range(10))


def test_a_sigterm_while_the_main_thread_waits_for_the_writers_lock_ends_the_process(root):
    """The writer thread holds its lock (a 1.5 s job) while the main thread's
    flush waits for it; SIGTERM comes meanwhile. The handler's work is the
    main thread's: it runs there, bounded, and the process dies of the
    signal with its record (the writer thread finishing its pass first must
    not take that work: run off the main thread, the default action could
    not be restored and the signal was lost)."""
    code = f"""
        import os, signal, threading, time, runship
        run = runship.init(project="p", id="held", dir={root!r}, settings={{"quiet": True, "console": "off"}})
        run.log({{"i": 0}})
        run.flush()
        writer = run._writer
        writer.submit(lambda: (time.sleep(1.5), [])[1])  # runs under the writer's lock
        writer._wake.set()
        time.sleep(0.2)  # the writer thread is in the job
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
        run.log({{"i": 1}})
        run.flush()
        time.sleep(30)  # never reached
        """
    started = time.monotonic()
    out = run_python(code, timeout=60)
    assert out.returncode == -signal.SIGTERM, out.stderr
    assert time.monotonic() - started < 12
    view = runship.open_run(os.path.join(root, "p", "held"))
    assert view.state == "terminated" and [r["i"] for r in view.history()] == [0, 1]


def test_a_job_of_the_writer_thread_writes_its_record_when_the_buffer_is_full(root):
    """A background job (an artifact being stored) writes its record while
    training has filled the buffer and waits for room: the job must not wait
    for room only its own thread can make (both threads stuck forever)."""
    code = f"""
        import time, runship
        run = runship.init(project="p", id="full", dir={root!r},
                           settings={{"quiet": True, "console": "off", "max_buffer_bytes": 64 * 1024}})
        stream = run._run_stream

        def job():
            time.sleep(1.0)  # training fills the buffer meanwhile
            stream.write("notice", {{"message": "stored"}})

        run._writer.submit_background(job)
        run._writer._wake.set()
        for i in range(20000):
            run.log({{"i": i, "pad": "x" * 100}})
        run.finish()
        print("DONE")
        """
    out = run_python(code, timeout=60)
    assert out.returncode == 0 and "DONE" in out.stdout, out.stderr
    view = runship.open_run(os.path.join(root, "p", "full"))
    assert view.state == "finished" and len(view.history()) == 20000
    assert [r["message"] for r in records(view.location, "notice")] == ["stored"]


def test_flush_waits_for_a_save_the_writer_thread_is_already_copying(root, tmp_path):
    """``flush()`` promises what was saved before it is written: a copy the
    writer thread took off the queue a moment before (and is still making)
    is waited for, not only those still queued (a source deleted right after
    flush() was lost: the rare failure of test_save_policies)."""
    marker = str(tmp_path / "copied")
    code = f"""
        import time, runship
        run = runship.init(project="p", id="bg", dir={root!r}, settings={{"quiet": True, "console": "off"}})

        def slow_copy():
            time.sleep(1.0)
            open({marker!r}, "w").write("done")

        run._writer.submit_background(slow_copy)
        run._writer._wake.set()
        time.sleep(0.3)  # the writer thread has taken the job
        run.flush()
        print("AFTER FLUSH", __import__("os").path.exists({marker!r}))
        run.finish()
        """
    out = run_python(code, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "AFTER FLUSH True" in out.stdout
