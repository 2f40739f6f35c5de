"""Logging a large checkpoint as an artifact, against copying it: one
process, one run, the project's artifact store on the same disk as the
file (a random file: nothing to gain by compression). Printed, each next to
what a plain copy costs:

(a) ``log_artifact`` + ``wait()`` of the checkpoint (wandb's default policy,
    "mutable": read before ``log_artifact`` returns; and "immutable", read on
    the writer thread) and the bytes the store grew by, against
    ``shutil.copyfile``, ``copyfile`` + ``fsync`` (the store syncs each blob)
    and a ``cp`` process;
(b) the same file logged again, unchanged;
(c) VERSIONS versions, each with a contiguous CHANGED fraction of the file
    rewritten in place: the store's bytes against a copy per version;
(d) ``use_artifact(...).download()`` of the last version into an empty folder;
(e) ``runship upload`` of the root (a process) to a directory target and to
    moto's S3 server on 127.0.0.1 (when moto is installed): the time, the
    artifact bytes the target then holds, and a second upload (nothing to send).

The file was just written, so every read comes from the page cache; each
measurement starts after ``os.sync()`` (nothing left to write back).

    python benchmarks/bench_artifacts.py [--mb 1024] [--versions 10] [--changed 0.01] [--dir /tmp]
    RUNSHIP_BENCH_ARTIFACT_MB=64 python benchmarks/bench_artifacts.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runship

MB = 1024 * 1024


def disk_bytes(folder: str) -> int:
    """Bytes the files below ``folder`` take on disk (allocated blocks)."""
    total = 0
    for d, _, files in os.walk(folder):
        for n in files:
            total += os.lstat(os.path.join(d, n)).st_blocks * 512
    return total


def write_random(path: str, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MB)
            f.write(os.urandom(n))
            left -= n


def upload(
    root: str,
    url: str,
    work: str,
    row: Callable[..., None],
    versions: int,
    size: int,
    t_copy_sync: float,
    env: dict[str, str] | None = None,
) -> None:
    """``runship upload ROOT --to URL --once``, a process, twice (the second
    sends nothing): the time of each, and the artifact bytes the target holds."""
    cmd = [sys.executable, "-m", "runship.cli", "upload", root, "--to", url, "--once"]
    state = os.path.join(work, f"state-{len(os.listdir(work))}")
    environ = {**os.environ, **(env or {})}
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--state", state], check=True, env=environ, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    held = target_bytes(url, environ)
    row(
        f"(e) `runship upload` of the root to {url.split(':')[0]} ({versions} versions), then again",
        f"{times[0]:.2f} s, the target's .artifacts {held / MB:.0f} MiB; again: {times[1]:.2f} s, nothing sent",
        f"{versions} copies: {versions * size / MB:.0f} MiB (~{t_copy_sync * versions:.1f} s at copyfile+fsync's rate)",
    )


def target_bytes(url: str, env: dict[str, str]) -> int:
    """Bytes of the objects below ``<url>/bench/.artifacts/``."""
    import fsspec

    options: dict[str, Any] = {}
    if url.startswith("s3://"):
        options = {"endpoint_url": env["AWS_ENDPOINT_URL"], "key": env["AWS_ACCESS_KEY_ID"]}
        options["secret"] = env["AWS_SECRET_ACCESS_KEY"]
    fs, path = fsspec.core.url_to_fs(url.rstrip("/") + "/bench/.artifacts", **options)
    return int(fs.du(path, total=True))


def moto_bucket(work: str) -> tuple[str, dict[str, str], Callable[[], None]] | None:
    """A bucket on moto's S3 server on 127.0.0.1 (None without moto): its URL, the environment, a stop."""
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError:
        return None
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], **_creds(env))
    for _ in range(100):
        try:
            client.create_bucket(Bucket="bench")
            break
        except Exception:
            time.sleep(0.1)

    def stop() -> None:
        proc.terminate()
        proc.wait()

    return "s3://bench/runs", env, stop


def _creds(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    os.sync()  # each measurement starts with nothing left to write back (this disk's speed varies with it)
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def log(run: Any, path: str, policy: str = "mutable", name: str = "checkpoint") -> tuple[float, float, Any]:
    """(seconds until log_artifact returned, seconds until wait() returned, the artifact)."""
    os.sync()
    t = time.perf_counter()
    art = runship.Artifact(name, type="model")
    art.add_file(path, name="model.pt", policy=policy)
    run.log_artifact(art)
    returned = time.perf_counter() - t
    art.wait()
    return returned, time.perf_counter() - t, art


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=int(os.environ.get("RUNSHIP_BENCH_ARTIFACT_MB", "1024")))
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--dir", default=None, help="where to work (default: the temporary directory)")
    args = ap.parse_args()
    size = args.mb * MB
    work = tempfile.mkdtemp(prefix="bench-artifacts-", dir=args.dir)
    rows: list[tuple[str, str, str]] = []

    def row(what: str, measured: str, plain: str = "") -> None:
        rows.append((what, measured, plain))
        print(f"  {what}: {measured}" + (f"  [{plain}]" if plain else ""), file=sys.stderr)

    try:
        src = os.path.join(work, "model.pt")
        write_random(src, size)
        root = os.path.join(work, "runs")
        store_dir = os.path.join(root, "bench", ".artifacts")
        os.environ["RUNSHIP_SILENT"] = "true"
        run = runship.init(project="bench", dir=root)

        # plain copies of the same file, same disk
        t_copy, _ = timed(lambda: shutil.copyfile(src, os.path.join(work, "copy1.pt")))

        def copy_sync() -> None:
            dst = os.path.join(work, "copy2.pt")
            shutil.copyfile(src, dst)
            with open(dst, "rb+") as f:
                os.fsync(f.fileno())

        t_copy_sync, _ = timed(copy_sync)
        t_cp, _ = timed(lambda: subprocess.run(["cp", src, os.path.join(work, "copy3.pt")], check=True))
        for n in ("copy1.pt", "copy2.pt", "copy3.pt"):
            os.unlink(os.path.join(work, n))
        plain = f"copyfile {t_copy:.2f} s, copyfile+fsync {t_copy_sync:.2f} s, cp {t_cp:.2f} s"

        # (a) the first version
        returned, total, _ = log(run, src)
        added = disk_bytes(store_dir)
        row(
            f"(a) log_artifact + wait() of {args.mb} MiB (mutable: read before log_artifact returns)",
            f"{total:.2f} s ({returned:.2f} s in log_artifact), store +{added / MB:.0f} MiB",
            plain,
        )
        # (b) unchanged
        before = disk_bytes(store_dir)
        returned, total, art = log(run, src)
        assert getattr(art, "version", None) == "v0", "the same contents made a new version"
        row("(b) the first file logged again, unchanged", f"{total:.2f} s, +{disk_bytes(store_dir) - before} bytes")

        # (c) versions with a contiguous region rewritten in place
        region = int(size * args.changed)
        before = disk_bytes(store_dir)
        spent = 0.0
        for v in range(1, args.versions + 1):
            offset = (v * 7919 * 4099) % max(1, size - region)  # anywhere, not aligned to a chunk
            with open(src, "r+b") as f:
                f.seek(offset)
                f.write(os.urandom(region))
            _, total, _ = log(run, src)
            spent += total
        grown = disk_bytes(store_dir) - before
        copies = args.versions * size
        row(
            f"(c) {args.versions} versions, {args.changed:.0%} rewritten each ({region / MB:.1f} MiB)",
            f"store +{grown / MB:.0f} MiB ({grown / args.versions / MB:.1f} MiB a version), "
            f"{spent / args.versions:.2f} s a version",
            f"a copy each: {copies / MB:.0f} MiB",
        )
        versions = args.versions + 1
        row(
            f"(c) the store, all {versions} versions of the checkpoint",
            f"{disk_bytes(store_dir) / MB:.0f} MiB",
            f"{versions} copies: {versions * size / MB:.0f} MiB",
        )

        # (d) download of the latest version into an empty folder
        used = run.use_artifact("checkpoint:latest")
        dest = os.path.join(work, "download")
        t_down, _ = timed(lambda: used.download(dest))
        with open(os.path.join(dest, "model.pt"), "rb") as a, open(src, "rb") as b:
            while True:
                x, y = a.read(16 * MB), b.read(16 * MB)
                assert x == y, "the download differs from the file logged"
                if not x:
                    break
        row("(d) use_artifact('checkpoint:latest').download() into an empty folder", f"{t_down:.2f} s", plain)
        run.finish()
        # (a), the other policy: another file (nothing of it held), in a root of its own, last
        other = os.path.join(work, "other.pt")
        write_random(other, size)
        run_i = runship.init(project="bench", dir=os.path.join(work, "other-root"))
        returned_i, total_i, _ = log(run_i, other, policy="immutable", name="other")
        run_i.finish()
        shutil.rmtree(os.path.join(work, "other-root"))
        os.unlink(other)
        row(
            "(a) another file of that size, policy='immutable' (read on the writer thread)",
            f"{total_i:.2f} s ({returned_i * 1000:.1f} ms in log_artifact)",
        )
        rows.insert(1, rows.pop())  # beside (a)

        # (e) `runship upload` of the root (the run and all versions) to a directory target, then to
        # moto's S3 on 127.0.0.1 (when moto is installed), and each a second time
        upload(root, f"file://{os.path.join(work, 'target')}", work, row, versions, size, t_copy_sync)
        s3 = moto_bucket(work)
        if s3 is not None:
            url, env, stop = s3
            try:
                upload(root, url, work, row, versions, size, t_copy_sync, env=env)
            finally:
                stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nartifacts: a {args.mb} MiB checkpoint (random bytes, page cache warm), {os.uname().nodename}")
    print("| | runship | plain copy |")
    print("|---|---:|---:|")
    for what, measured, plain in rows:
        print(f"| {what} | {measured} | {plain} |")


if __name__ == "__main__":
    main()
