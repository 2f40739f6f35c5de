"""Reading run directories with plain msgpack only: no runship code.

The tests check what the writer wrote with this independent reader, so that a
bug shared by writer and reader cannot hide.
"""

from __future__ import annotations

import os
import re
import zlib

import msgpack

NAME = re.compile(r"^([a-z][a-z0-9_]*)-([0-9A-Za-z]+)-([0-9]{6,})\.msgpack$")


def stream_files(run_dir: str, stream: str = "run") -> list[str]:
    names = [n for n in os.listdir(run_dir) if (m := NAME.match(n)) and m.group(1) == stream]
    names.sort(key=lambda n: (NAME.match(n).group(2), int(NAME.match(n).group(3))))
    return [os.path.join(run_dir, n) for n in names]


def all_stream_files(run_dir: str) -> list[str]:
    """Stream files of every stream (run, system, console, ...)."""
    names = [n for n in os.listdir(run_dir) if NAME.match(n)]
    return [os.path.join(run_dir, n) for n in sorted(names)]


def unpack_file(path: str) -> list[dict]:
    """Every complete msgpack value of a file, with a generic streaming unpacker."""
    with open(path, "rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False, strict_map_key=False)
        out = []
        try:
            for obj in unpacker:
                out.append(obj)
        except (msgpack.OutOfData, ValueError):
            pass
        return out


def committed_records(path: str) -> list[dict]:
    """Data records of batches whose commit record checks out (own
    implementation). Format version 2: the CRC covers the batch and the
    commit record up to its last 4 bytes; version 1: the batch only."""
    with open(path, "rb") as f:
        data = f.read()
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(data)
    out, pending, start, pos = [], [], 0, 0
    version = 1
    while True:
        try:
            obj = unpacker.unpack()
        except msgpack.OutOfData:
            break
        except Exception:
            break
        end = unpacker.tell()
        if not isinstance(obj, dict):
            break
        if obj.get("k") == "header" and pos == 0:
            version = obj.get("version", 1)
        if obj.get("k") == "commit":
            covered = data[start:pos] if version == 1 else data[start : end - 4]
            if obj.get("len") != pos - start or obj.get("crc") != zlib.crc32(covered):
                break
            out.extend(r for r in pending if r.get("k") != "header")
            pending, start = [], end
        else:
            pending.append(obj)
        pos = end
    return out


def rows(run_dir: str) -> list[tuple[int, dict]]:
    """(step, data) of every committed row of every session, in file order."""
    out = []
    for path in stream_files(run_dir):
        for r in committed_records(path):
            if r["k"] == "row":
                out.append((r["s"], r["d"]))
            elif r["k"] == "rows":  # version 3: len(s) rows of len(keys) values each, one after another
                width = len(r["keys"])
                for i, step in enumerate(r["s"]):
                    out.append((step, dict(zip(r["keys"], r["v"][i * width : (i + 1) * width]))))
    return out


def records(run_dir: str, kind: str | None = None) -> list[dict]:
    out = []
    for path in stream_files(run_dir):
        out.extend(r for r in committed_records(path) if kind is None or r["k"] == kind)
    return out
