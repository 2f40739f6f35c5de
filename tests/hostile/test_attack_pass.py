"""One more attacker's pass over what issue 24 ("Hostile input III")
added or changed: each test is an attack that worked against that round,
run against real processes (`runship serve`, `runship import wandb`, a
training script), and what now happens instead."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from runship.schema import format as fmt
from tests.hostile.craft import SESSION, T, repeated
from tests.hostile.test_importers import (
    Log,
    _field,
    exit_record,
    history,
    history_of,
    import_wandb,
    import_wandb_peak,
    run_record,
    summary,
)
from tests.hostile.test_secrets import _files_holding, _marker, _records, _run_script, _script, _secret
from tests.servers import RunshipServer, call

READ = RunshipServer.READ_TOKEN
TABLE = "files/media/table/t_0.table.json"


@pytest.fixture
def server(tmp_path):
    s = RunshipServer(str(tmp_path / "served"), str(tmp_path))
    s.start()
    yield s
    s.stop()


def _table_run(server, tables: dict[str, bytes]) -> None:
    """Run p/r on the server with a row referring to each table file of ``tables``."""
    refs = {f"t{i}": {"_type": "table-file", "path": path, "ncols": 1, "nrows": 1} for i, path in enumerate(tables)}
    name = fmt.stream_file_name(fmt.RUN_STREAM, SESSION, 0)
    body = repeated([{"k": "row", "t": T, "s": 0, "d": refs}], size=4096)
    status, _, text = call(
        server, "PATCH", f"/v1/runs/p/r/streams/{name}", body, headers={"Upload-Offset": "0"}, timeout=60
    )
    assert status == 204, text[:300]
    for path, data in tables.items():
        status, _, text = call(server, "PUT", f"/v1/runs/p/r/derived/{path}", data, timeout=60)
        assert status == 204, text


# ---- the table scanner (runship/ui/tables.py) ---------------------------------------------------
def test_a_table_of_unterminated_escaped_strings_is_answered_at_once(server):
    """A row holding a string that never ends, made of escaped quotes
    (``"\\"\\"\\"...``): the scanner's string pattern tried each quote as
    a string's start and scanned to the end of the file from each, so 100 KB
    took the server's table reader (one table at a time, for every client)
    about 40 s of CPU and 1 MB hours. Now every byte is looked at once: the
    page answers 400 (not JSON) at once, and a good table of the same run
    is paged at once beside it."""
    hostile = b'{"columns": ["a"], "data": [["' + b'\\"' * 50_000 + b"]]}"
    good = b'{"columns": ["a"], "data": [[1], [2]]}'
    bad_path, good_path = TABLE, "files/media/table/t_1.table.json"
    _table_run(server, {bad_path: hostile, good_path: good})
    out: dict = {}

    def page(path: str) -> None:
        t0 = time.monotonic()
        try:
            status, _, body = call(server, "GET", f"/ui/api/table?run=0:p/r&path={path}", token=READ, timeout=15)
        except OSError as e:  # the socket's timeout: still scanning
            status, body = None, str(e).encode()
        out[path] = (status, body, time.monotonic() - t0)

    first = threading.Thread(target=page, args=(bad_path,))
    first.start()
    time.sleep(0.3)
    page(good_path)
    first.join(60)
    status, body, seconds = out[bad_path]
    assert status == 400 and seconds < 5, (status, body[:300], seconds)
    assert b"not JSON" in body
    status, body, seconds = out[good_path]
    assert status == 200 and seconds < 5, (status, body[:300], seconds)
    assert json.loads(body)["rows"] == [[1], [2]]
