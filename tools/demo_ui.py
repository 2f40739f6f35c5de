"""Start ``runship ui`` over the demo runs in the background and print the
URL to open (``make demo``); ``--stop`` ends the one started before.

python tools/demo_ui.py runship-demo
python tools/demo_ui.py --stop
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time

STATE = ".runship-demo-ui"


def stop() -> None:
    try:
        with open(os.path.join(STATE, "pid")) as f:
            pid = int(f.read())
        os.killpg(pid, signal.SIGTERM)
        print(f"stopped runship ui (pid {pid})")
    except (OSError, ValueError):
        pass


def start(root: str) -> int:
    stop()
    os.makedirs(STATE, mode=0o700, exist_ok=True)
    log_path = os.path.join(STATE, "ui.log")
    runship = os.path.join(os.path.dirname(sys.executable), "runship")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [runship, "ui", root], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    with open(os.path.join(STATE, "pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(log_path) as f:
            found = re.search(r"open (http://\S+)", f.read())
        if found:
            print("\n== runship ui over the demo runs: open this URL in a browser on this machine")
            print(f"   {found.group(1)}")
            print("   (stop it with: make demo-stop)")
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    with open(log_path) as f:
        print(f.read(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?")
    ap.add_argument("--stop", action="store_true")
    args = ap.parse_args()
    if args.stop or not args.root:
        stop()
    else:
        sys.exit(start(args.root))
