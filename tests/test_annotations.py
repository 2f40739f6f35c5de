"""Annotations: a run renamed, tagged and noted after the fact, as a stream
of its own (docs/FORMAT.md, "Annotations"). Written into real run
directories by real processes, read back with plain msgpack and through
every reader (RunView, listings, ``runship show`` as a process, Api)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib

import msgpack
import pytest

import runship
from runship.reader.annotate import NotWritable, annotate, prepare, write_local
from runship.reader.listing import list_runs
from runship.schema import annotations as schema
from runship.schema import format as fmt
from tests.conftest import child_env, run_python


@pytest.fixture
def finished(make_run, root):
    run = make_run(id="r1", name="first-name", tags=["baseline", "sgd"], notes="from the script")
    run.log({"loss": 1.0})
    run.finish()
    return os.path.join(root, "p", "r1")


def _files(run_dir):
    return sorted(n for n in os.listdir(run_dir) if n.startswith(schema.STREAM + "-"))


def _show(root, ref, *args):
    out = subprocess.run(
        [sys.executable, "-m", "runship.cli", "--root", root, "show", ref, *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


# ---- the file --------------------------------------------------------------------------------
def test_an_annotation_is_a_stream_file_of_one_committed_batch_any_msgpack_reads(finished, root):
    annotate(finished, {"name": "renamed", "tags_add": ["best"]}, by="me", root=root)
    (name,) = _files(finished)
    stream, session, segment = fmt.parse_stream_file_name(name)
    assert (stream, segment) == ("annotation", 0)
    data = open(os.path.join(finished, name), "rb").read()
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    header, rec, commit = list(u)
    assert header["k"] == "header" and header["stream"] == "annotation" and header["session"] == session
    assert (header["project"], header["run"]) == ("p", "r1")
    assert rec["k"] == "annotation" and rec["name"] == "renamed" and rec["tags_add"] == ["best"] and rec["by"] == "me"
    batch = data[: commit["len"]]
    assert commit["crc"] == zlib.crc32(data[: len(data) - 4])  # the batch and the commit record up to its crc
    assert len(batch) + fmt.COMMIT_SIZE == len(data)
    assert not [n for n in os.listdir(finished) if ".runship-tmp-" in n]  # the temporary name is gone


def test_readers_merge_names_tags_and_notes_in_order_over_the_writers(finished, root):
    annotate(finished, {"name": "second", "tags_add": ["best", "x"], "tags_remove": ["sgd"]}, root=root)
    annotate(finished, {"notes": "looked at it: diverged at 12k", "tags_remove": ["x"]}, root=root)
    view = runship.open_run(finished)
    assert view.name == "second"
    assert view.tags == ["baseline", "best"]
    assert view.notes == "looked at it: diverged at 12k"
    assert view.writer_meta["name"] == "first-name" and view.writer_meta["tags"] == ["baseline", "sgd"]
    assert view.to_dict()["annotations"] == 2 and view.to_dict()["name"] == "second"
    annotate(finished, {"name": "", "notes": ""}, root=root)  # an empty name: the writer's back; empty notes: none
    view = runship.open_run(finished)
    assert view.name == "first-name" and view.notes == "" and view.tags == ["baseline", "best"]
    assert not view.problems


def test_runship_show_prints_the_merged_values_and_the_annotations(finished, root):
    annotate(finished, {"name": "shown-name", "tags_add": ["keep"], "notes": "a note"}, by="tester", root=root)
    text = _show(root, "p/r1")
    assert "(shown-name)" in text and "tags        baseline, sgd, keep" in text and "notes       a note" in text
    assert "annotations: 1" in text and "by tester: renamed 'shown-name'; +tag keep; notes (6 characters)" in text
    record = json.loads(_show(root, "p/r1", "--json"))
    assert (record["name"], record["tags"], record["notes"]) == ("shown-name", ["baseline", "sgd", "keep"], "a note")


def test_a_listing_shows_the_new_name_at_once_with_its_index_kept(finished, root, tmp_path):
    cache = str(tmp_path / "cache")
    (before,) = list_runs(root, "p", cache=cache)
    assert before["name"] == "first-name"
    annotate(finished, {"name": "listed", "tags_add": ["t2"]}, root=root)
    (after,) = list_runs(root, "p", cache=cache)  # the run index's signature holds the annotation files
    assert after["name"] == "listed" and after["tags"] == ["baseline", "sgd", "t2"]


def test_annotations_of_a_run_that_was_reset_go_with_it(make_run, root):
    run = make_run(id="r2", name="old")
    run.finish()
    annotate(os.path.join(root, "p", "r2"), {"name": "annotated-old"}, root=root)
    run = make_run(id="r2", name="new")  # resume=None over the id: a new run in the same directory
    run.finish()
    assert runship.open_run(os.path.join(root, "p", "r2")).name == "new"


# ---- writers ----------------------------------------------------------------------------------
def test_concurrent_writers_in_real_processes_all_land(finished, root):
    code = """
        import sys
        from runship.reader.annotate import annotate
        annotate(sys.argv[1], {"tags_add": [f"w{sys.argv[2]}"], "name": f"by-{sys.argv[2]}"}, root=sys.argv[3])
    """
    env = child_env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), finished, str(i), root], env=env, stderr=subprocess.PIPE
        )
        for i in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert len(_files(finished)) == 8
    view = runship.open_run(finished)
    assert sorted(view.tags) == sorted(["baseline", "sgd", *(f"w{i}" for i in range(8))])
    last = _files(finished)[-1]  # applied in file order: the last file's name wins
    _, rec, _ = msgpack.Unpacker(open(os.path.join(finished, last), "rb"), raw=False)
    assert view.name == rec["name"] and not view.problems


def test_notes_replaced_later_are_kept_short_and_the_last_whole(finished, root):
    annotate(finished, {"notes": "a" * 5000}, root=root)
    annotate(finished, {"notes": "b" * 3000}, root=root)
    view = runship.open_run(finished)
    first, second = view.annotation_records
    assert view.notes == "b" * 3000 and second["notes"] == "b" * 3000
    assert first["notes_chars"] == 5000 and len(first["notes"]) < 300
    assert "notes (5000 characters)" in _show(root, "p/r1")


def test_the_last_file_in_order_sets_the_name(finished, root):
    for name in ("one", "two", "three"):
        annotate(finished, {"name": name}, root=root)
    assert runship.open_run(finished).name == "three"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"name": "x" * 129}, "name is 129 characters long, at most 128"),
        ({"tags_add": ["t" * 65]}, "tags_add[0] is 65 characters long, at most 64"),
        ({"tags_add": [f"t{i}" for i in range(101)]}, "tags_add holds 101 tags, at most 100"),
        ({"tags_add": [3]}, "tags_add[0] must be a string"),
        ({"tags_add": [" padded"]}, "must not be empty or start or end with whitespace"),
        ({"notes": "n" * (64 * 1024 + 1)}, "notes is 65537 bytes long, at most 65536"),
        ({"notes": "a\x00b"}, "notes holds a control character (U+0000)"),
        ({"name": "a\nb"}, "name holds a control character (U+000A)"),
        ({"colour": "red"}, "unknown field(s) 'colour'"),
        ({}, "an annotation changes something"),
        ([], "an annotation must be an object"),
        ({"tags_add": ["a"], "tags_remove": ["a"]}, "tag 'a' is both added and removed"),
        ({"name": "\ud800"}, "not valid Unicode"),
    ],
)
def test_a_bad_change_is_refused_naming_what_is_wrong_and_nothing_is_written(finished, root, change, said):
    with pytest.raises(schema.BadAnnotation) as e:
        annotate(finished, change, root=root)
    assert said in str(e.value)
    assert _files(finished) == []


def test_a_run_holds_at_most_100_tags(finished, root):
    annotate(finished, {"tags_add": [f"t{i}" for i in range(98)]}, root=root)
    with pytest.raises(schema.BadAnnotation, match="at most 100 tags"):
        annotate(finished, {"tags_add": ["one", "two", "three"]}, root=root)
    annotate(finished, {"tags_add": ["one"], "tags_remove": ["t0"]}, root=root)
    assert len(runship.open_run(finished).tags) == 100


def test_a_run_on_an_object_store_read_directly_is_not_annotated(moto, finished, root, tmp_path):
    import fsspec

    fs = fsspec.filesystem("s3", endpoint_url=moto.endpoint)
    moto.create_bucket("annot-ro")
    for name in os.listdir(finished):
        if name.endswith(".msgpack"):
            fs.put(os.path.join(finished, name), f"annot-ro/p/r1/{name}")
    with pytest.raises(NotWritable, match="annotations are written to a local run root or through a runship server"):
        annotate("s3://annot-ro/p/r1", {"name": "x"}, storage_options={"endpoint_url": moto.endpoint})


# ---- hostile files ----------------------------------------------------------------------------
def _crafted(project, run_id, records, session="20261206T000000000Zzzzzzz"):
    header = fmt.header_record(t=1.0, project=project, run=run_id, session=session, stream="annotation", segment=0)
    batch = msgpack.packb(header) + b"".join(msgpack.packb(r) for r in records)
    return batch + fmt.commit_record(len(batch), zlib.crc32(batch), 1.0)


def test_crafted_annotation_files_never_crash_a_reader(finished, root):
    annotate(finished, {"tags_add": ["good"]}, root=root)
    d = finished
    bad = [
        {"k": "annotation", "t": 1.0, "n": 0, "name": "x" * 10_000},  # checksum holds, value does not
        {"k": "annotation", "t": 1.0, "n": 1, "tags_add": [1, 2, {"a": 1}]},
        {"k": "annotation", "t": 1.0, "n": 2, "notes": "bell\x07"},
    ]
    with open(os.path.join(d, "annotation-20261206T000000001Zaaaaaa-000000.msgpack"), "wb") as f:
        f.write(_crafted("p", "r1", bad))
    with open(os.path.join(d, "annotation-20261206T000000002Zaaaaaa-000000.msgpack"), "wb") as f:
        f.write(b"\x00" * 100)  # not records
    huge = _crafted("p", "r1", [{"k": "annotation", "t": 1.0, "n": 0, "notes": "n" * 60_000}] * 6)
    with open(os.path.join(d, "annotation-20261206T000000003Zaaaaaa-000000.msgpack"), "wb") as f:
        f.write(huge)  # a file past 256 KiB
    secret = os.path.join(os.path.dirname(root), "secret")
    with open(secret, "wb") as f:
        f.write(_crafted("p", "r1", [{"k": "annotation", "t": 1.0, "n": 0, "name": "via-link"}]))
    os.symlink(secret, os.path.join(d, "annotation-20261206T000000004Zaaaaaa-000000.msgpack"))
    os.mkfifo(os.path.join(d, "annotation-20261206T000000005Zaaaaaa-000000.msgpack"))
    view = runship.open_run(d)
    assert view.name == "first-name" and view.tags == ["baseline", "sgd", "good"] and view.notes == "from the script"
    kinds = [(p.kind, os.path.basename(p.path)[:40]) for p in view.problems]
    said = " | ".join(str(p) for p in view.problems)
    assert said.count("bad-record") == 3, said
    assert "an annotation file of" in said and "not-kept" in said  # the huge one, skipped with why
    assert sum(k == "not-regular" for k, _ in kinds) == 2  # the link and the FIFO: not read
    assert "at most 128" in said
    text = _show(root, "p/r1")  # the CLI too: a report, never a traceback
    assert "first-name" in text and "CORRUPT" in text


def test_more_annotation_files_than_a_reader_folds_are_said_and_refused(finished, root, monkeypatch):
    monkeypatch.setattr(schema, "MAX_FILES", 3)
    for i in range(3):
        annotate(finished, {"tags_add": [f"t{i}"]}, root=root)
    with pytest.raises(schema.BadAnnotation, match="the run holds 3 annotations"):
        annotate(finished, {"tags_add": ["t9"]}, root=root)
    d = finished
    with open(os.path.join(d, "annotation-29991206T000000001Zaaaaaa-000000.msgpack"), "wb") as f:
        f.write(_crafted("p", "r1", [{"k": "annotation", "t": 1.0, "n": 0, "name": "late"}]))
    view = runship.open_run(d)
    assert view.name == "first-name" and "1 annotation files past the first 3 not read" in str(view.problems)


def test_a_linked_run_directory_below_a_root_is_not_written_through(finished, root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), os.path.join(root, "p", "linked"))
    view = runship.open_run(finished)
    name, data = prepare(view, {"name": "x"}, None)
    with pytest.raises(OSError):
        write_local(os.path.join(root, "p", "linked"), name, data, root=root)
    assert os.listdir(elsewhere) == []


# ---- Api ----------------------------------------------------------------------------------------
def test_api_run_update_writes_an_annotation_as_wandbs_does(finished, root):
    api = runship.Api(root)
    run = api.run("p/r1")
    run.name = "api-name"
    run.tags.append("from-api")
    run.tags.remove("sgd")
    run.notes = "set through the Api"
    run.update()
    assert (run.name, run.tags, run.notes) == ("api-name", ["baseline", "from-api"], "set through the Api")
    again = runship.Api(root).run("p/r1")
    assert (again.name, again.tags, again.notes) == ("api-name", ["baseline", "from-api"], "set through the Api")
    (listed,) = runship.Api(root).runs("p", filters={"tags": "from-api"})
    assert listed.name == "api-name"
    listed.tags = ["only"]
    listed.update()
    assert runship.Api(root).run("p/r1").tags == ["only"]
    run.update()  # nothing changed: nothing written
    assert len(_files(finished)) == 2


def test_api_in_another_process_reads_annotations(finished, root):
    annotate(finished, {"name": "seen-elsewhere", "tags_add": ["z"]}, root=root)
    out = run_python(
        f"""
        import runship
        r = runship.Api({root!r}).run("p/r1")
        print(r.name, r.tags, r.notes)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "seen-elsewhere ['baseline', 'sgd', 'z'] from the script"
