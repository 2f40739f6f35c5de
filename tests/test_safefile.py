"""runship.safefile's readers of a named file and its directory walk, against
real files, links and FIFOs in a temp dir."""

import os

import pytest

from runship import safefile
from runship.integration.protowire import varint
from runship.sweep import spec


def test_read_named_reads_a_regular_file_within_its_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abcd")
    assert safefile.read_named(str(path), 4) == b"abcd"
    with pytest.raises(safefile.TooLarge):
        safefile.read_named(str(path), 3)


def test_read_named_refuses_what_is_not_a_regular_file_before_reading(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "fifo"), (tmp_path, "directory")):
        with pytest.raises(safefile.NotRegular) as e:
            safefile.read_named(str(path), 10)  # a FIFO with no writer: never blocks
        assert e.value.kind == kind


def test_read_named_checks_the_stat_before_a_byte_is_read(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    seen = []

    def check(st: os.stat_result) -> None:
        seen.append(st.st_size)
        raise PermissionError("refused")

    with pytest.raises(PermissionError, match="refused"):
        safefile.read_named(str(path), 10, check)
    assert seen == [100]


def test_read_private_says_why_a_file_is_refused(tmp_path):
    path = tmp_path / "token"
    path.write_text("secret\n")
    path.chmod(0o600)
    assert safefile.read_private(str(path), "token file") == "secret\n"
    path.chmod(0o640)
    with pytest.raises(safefile.InsecureFile, match="chmod 600"):
        safefile.read_private(str(path), "token file")
    with pytest.raises(safefile.InsecureFile, match=r"not a regular file \(directory\)"):
        safefile.read_private(str(tmp_path), "token file")
    with pytest.raises(FileNotFoundError, match="cannot read token file"):
        safefile.read_private(str(tmp_path / "none"), "token file")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="larger than 3 bytes"):
        safefile.read_private(str(path), "token file", limit=3)


def test_a_sweep_spec_that_is_not_a_regular_file_is_one_error(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        with pytest.raises(spec.SweepSpecError, match="not a regular file"):
            spec.load(str(path))


def test_open_subdir_names_the_component_that_is_not_a_directory(tmp_path):
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path, tmp_path / "a" / "link")
    fd = safefile.open_dir(str(tmp_path))
    try:
        with pytest.raises(safefile.NotRegular) as e:
            safefile.open_subdir(fd, "a/link/b", create=True)
        assert (e.value.kind, e.value.at) == ("symlink", "a/link")
        assert not (tmp_path / "b").exists()  # nothing made through the link
        sub = safefile.open_subdir(fd, "a/new/deeper", create=True, mode=0o700)
        os.close(sub)
    finally:
        os.close(fd)
    assert (tmp_path / "a" / "new" / "deeper").stat().st_mode & 0o777 == 0o700 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_varint_reads_protobufs_encoding_and_bounds_it():
    assert varint(b"\x96\x01", 0, 2) == (150, 2)
    assert varint(b"\x00\x7f", 1, 2) == (127, 2)
    with pytest.raises(ValueError, match="runs past"):
        varint(b"\x96\x01", 0, 1)
    with pytest.raises(ValueError, match="longer than 10 bytes"):
        varint(b"\xff" * 11, 0, 11)
