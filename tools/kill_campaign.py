"""Kill campaign: does anything get lost when training processes die?

Each trial runs a training-like child that logs rows and prints the last
step acknowledged by each completed ``flush()``; the child is killed with
SIGKILL at a random moment, resumed (same run id), killed again, ... and
finally finishes. Between the lives, an uploader pass runs and is itself
sometimes killed. At the end the run is read back locally and from the
upload target, and compared with what was acknowledged.

Prints: trials, rows acknowledged by flush(), rows read back, lost (an
acknowledged row not read back), duplicated, wrong values, torn tails seen,
remote mismatches. Exit status 1 if anything was lost, duplicated, wrong or
different on the remote.

Usage:
    python tools/kill_campaign.py --trials 200 --seed 1
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import runship  # noqa: E402

CHILD = """
import random, sys, time
import runship
root, flush_every, seconds, finish = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
run = runship.init(project="camp", id="trial", dir=root, resume="allow",
                   settings={"quiet": True, "flush_interval": random.choice([0.01, 0.1, 1.0]), "rotate_bytes": random.choice([4000, 50000, 1 << 26])})
print("START", run.step, flush=True)
end = time.time() + seconds
while time.time() < end:
    step = run.step
    if step % 5 == 0:  # a row with a string: a row record of its own
        run.log({"v": step * 3 + 1, "pad": "p" * (step % 13)})
    else:  # plain numbers: rows blocks (sealed by the row records between them)
        run.log({"v": step * 3 + 1, "x": step / 7})
    if (step + 1) % flush_every == 0:
        run.flush()
        print("ACK", step, flush=True)
    if step % 97 == 0:
        time.sleep(0.001)
if finish:
    run.flush()
    print("ACK", run.step - 1, flush=True)
    run.finish()
    print("DONE", flush=True)
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env["PYTHONPATH"] = REPO
    env["PYTHONUNBUFFERED"] = "1"
    return env


def life(root: str, rnd: random.Random, finish: bool) -> tuple[int, int]:
    """One life of the training process: (first step, last acknowledged step)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            root,
            str(rnd.choice([1, 7, 50, 400])),
            "3600" if not finish else "0.2",
            "1" if finish else "0",
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("START"):
        proc.kill()
        raise RuntimeError(f"the training process did not start: {proc.communicate()[1][-3000:]}")
    first = int(line.split()[1])
    acked = first - 1
    if not finish:
        time.sleep(rnd.uniform(0.02, 0.6))
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    for line in out.split("\n")[:-1]:  # whole lines only: a kill can cut the last one short
        parts = line.split()
        if len(parts) == 2 and parts[0] == "ACK" and parts[1].isdigit():
            acked = max(acked, int(parts[1]))
    if finish and proc.returncode != 0:
        raise RuntimeError(f"the last life failed: {err[-2000:]}")
    return first, acked


def upload(root: str, target: str, state: str, rnd: random.Random, kill: bool) -> None:
    cmd = [sys.executable, "-m", "runship.cli", "upload", root, "--to", target, "--state", state, "-q"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill:
        time.sleep(rnd.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=300)


def trial(work: str, rnd: random.Random) -> dict:
    root = os.path.join(work, "runs")
    target = f"file://{work}/remote"
    state = os.path.join(work, "state")
    acked: set[int] = set()
    for _ in range(rnd.randint(1, 4)):
        first, last = life(root, rnd, finish=False)
        acked.update(range(first, last + 1))
        if rnd.random() < 0.7:
            upload(root, target, state, rnd, kill=rnd.random() < 0.5)
    first, last = life(root, rnd, finish=True)
    acked.update(range(first, last + 1))
    upload(root, target, state, rnd, kill=False)
    run_dir = os.path.join(root, "camp", "trial")
    local = runship.open_run(run_dir)
    rows = local.history()
    steps = [r["_step"] for r in rows]
    problems = local.verify()
    remote = runship.open_run(f"{work}/remote/camp/trial")
    return {
        "acked": len(acked),
        "read": len(rows),
        "lost": len(acked - set(steps)),
        "duplicated": len(steps) - len(set(steps)),
        "wrong": sum(1 for r in rows if r.get("v") != r["_step"] * 3 + 1),
        "torn": sum(1 for p in problems if p.kind in ("uncommitted-tail", "zero-tail")),
        "corrupt": sum(1 for p in problems if p.is_corruption),
        "remote_mismatch": int(list(remote.records()) != list(local.records())),
        "state": local.state,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    totals = dict.fromkeys(("acked", "read", "lost", "duplicated", "wrong", "torn", "corrupt", "remote_mismatch"), 0)
    t0 = time.time()
    for i in range(args.trials):
        work = tempfile.mkdtemp(prefix="kill-campaign-")
        try:
            result = trial(work, rnd)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for k in totals:
            totals[k] += result[k]
        bad = (
            result["lost"] or result["duplicated"] or result["wrong"] or result["corrupt"] or result["remote_mismatch"]
        )
        if bad or result["state"] != "finished":
            print(f"trial {i}: {result}", flush=True)
    print(
        f"trials {args.trials}, rows acknowledged by flush() {totals['acked']}, rows read back {totals['read']}, "
        f"lost {totals['lost']}, duplicated {totals['duplicated']}, wrong values {totals['wrong']}, "
        f"torn tails seen {totals['torn']}, corrupt {totals['corrupt']}, remote mismatches {totals['remote_mismatch']} "
        f"({time.time() - t0:.0f} s, seed {args.seed})"
    )
    failed = totals["lost"] or totals["duplicated"] or totals["wrong"] or totals["corrupt"] or totals["remote_mismatch"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
