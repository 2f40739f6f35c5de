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
(e) the versions copied to a second root's store (``copy_version``, what
    uploading a project's artifacts to a directory target does; `runship
    upload` does not ship artifacts yet on this branch).

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
from runship.store.artifacts import ArtifactStore, LocalArea, copy_version

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
        # (a), the other policy: another file (nothing of it held), under another name, last
        other = os.path.join(work, "other.pt")
        write_random(other, size)
        returned_i, total_i, _ = log(run, other, policy="immutable", name="other")
        row(
            "(a) another file of that size, policy='immutable' (read on the writer thread)",
            f"{total_i:.2f} s ({returned_i * 1000:.1f} ms in log_artifact)",
        )
        rows.insert(1, rows.pop())  # beside (a)

        run.finish()

        # (e) every version copied to a second root's store
        here, there = ArtifactStore(LocalArea(root)), ArtifactStore(LocalArea(os.path.join(work, "target")))
        manifests = [here.manifest("bench", "checkpoint", i) for i in here.indexes("bench", "checkpoint")]
        t = time.perf_counter()
        sent = sum(copy_version(here, there, "bench", m) for m in manifests)
        t_up = time.perf_counter() - t
        target = disk_bytes(os.path.join(work, "target"))
        row(
            f"(e) copy_version of the {len(manifests)} versions to another root (a directory target)",
            f"{t_up:.2f} s, {sent / MB:.0f} MiB sent, target {target / MB:.0f} MiB",
            f"{len(manifests)} copies: {len(manifests) * size / MB:.0f} MiB "
            f"(~{t_copy_sync * len(manifests):.1f} s at copyfile+fsync's rate)",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nartifacts: a {args.mb} MiB checkpoint (random bytes, page cache warm), {os.uname().nodename}")
    print("| | runship | plain copy |")
    print("|---|---:|---:|")
    for what, measured, plain in rows:
        print(f"| {what} | {measured} | {plain} |")


if __name__ == "__main__":
    main()
