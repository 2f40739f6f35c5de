"""Files inside a directory, reached without following links.

A run directory may have been written by someone else (the uploader runs as
a service account over every user's runs; a reader opens what it is given).
Everything below a directory is therefore reached one component at a time,
relative to the directory's descriptor, with ``O_NOFOLLOW``, and only
regular files are opened (``O_NONBLOCK``, so a FIFO never blocks, then
``fstat``): a symlink, FIFO, socket or device is reported, never followed or
read. The writer writes through the same functions, so a link planted in a
run directory cannot redirect its writes either.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Protocol

from runship.schema import names

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = names.MAX_PATH_DEPTH


class Readable(Protocol):
    """A binary file object, as far as ``write_atomic`` reads it."""

    def read(self, size: int, /) -> bytes: ...


#: what ``write_atomic`` writes: bytes, or a binary file object read to its end
Source = bytes | bytearray | memoryview | Readable


class NotRegular(OSError):
    """Not a regular file (or, for a directory component, not a directory):
    ``kind`` says what it is: symlink, fifo, socket, device, directory, other."""

    def __init__(self, path: str, kind: str):
        super().__init__(errno.EPERM, f"not a regular file ({kind}); not followed or read", path)
        self.kind = kind
        #: in a walk through directories (``open_subdir``): the path, from
        #: where the walk began, of the component that is not a directory
        self.at: str | None = None


class TooLarge(ValueError):
    """A file larger than what its reader takes."""


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def _parts(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or len(parts) > MAX_DEPTH:
        raise NotRegular(rel, "other")
    return parts


def _open_component(name: str, flags: int, dir_fd: int | None, shown: str) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.EMLINK):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                raise e from None
            raise NotRegular(shown, kind_of(st.st_mode)) from None
        raise


def open_dir(path: str, follow: bool = True) -> int:
    """A descriptor of the directory ``path`` (the path itself may be a link
    only with ``follow``: what a user names on a command line is theirs)."""
    flags = _O_DIR & ~os.O_NOFOLLOW if follow else _O_DIR
    return _open_component(path, flags, None, path)


def _walk_dirs(dir_fd: int, parts: list[str], rel: str, create: bool = False, mode: int = 0o755) -> int:
    """Descend through ``parts`` (directories) from ``dir_fd``; returns a new
    descriptor (the caller closes it)."""
    fd = os.dup(dir_fd)
    try:
        for i, part in enumerate(parts):
            try:
                nxt = _enter(fd, part, rel, create, mode)
            except NotRegular as e:
                e.at = "/".join(parts[: i + 1])
                raise
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _enter(fd: int, part: str, rel: str, create: bool, mode: int) -> int:
    """A descriptor of the directory ``part`` in ``fd``, made (``mode``) if
    missing and ``create``."""
    try:
        return _open_component(part, _O_DIR, fd, rel)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(part, mode, dir_fd=fd)
        except FileExistsError:
            pass
        return _open_component(part, _O_DIR, fd, rel)


def open_subdir(dir_fd: int, rel: str, create: bool = False, mode: int = 0o755) -> int:
    """A descriptor of the directory ``rel`` below ``dir_fd``, reached
    without following links (NotRegular if a component is not a directory:
    its ``at`` names which); ``create``: directories that are missing are
    made with ``mode`` (less the umask)."""
    return _walk_dirs(dir_fd, _parts(rel), rel, create, mode)


def open_below(root: str, rel: str, create: bool = False) -> int:
    """A descriptor of the directory ``rel`` (``project/run``) below
    ``root``: the root may be a link (the operator chose it); every
    component below it is entered with ``O_NOFOLLOW`` (NotRegular for a link
    or anything else that is not a directory). ``create``: missing
    directories are made on the way (never through a link)."""
    root_fd = open_dir(root)
    try:
        return _walk_dirs(root_fd, _parts(rel), rel, create=create)
    finally:
        os.close(root_fd)


def open_regular(dir_fd: int, rel: str) -> int:
    """A read-only descriptor of the regular file ``rel`` below ``dir_fd``.
    Raises NotRegular for anything else on the way, FileNotFoundError if
    it is not there."""
    parts = _parts(rel)
    parent = _walk_dirs(dir_fd, parts[:-1], rel)
    try:
        fd = _open_component(parts[-1], _O_READ, parent, rel)
    finally:
        os.close(parent)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(rel, kind_of(st.st_mode))
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_file(directory: str, rel: str, follow_dir: bool = True) -> BinaryIO:
    """``open_regular`` from a directory path; returns a binary file object."""
    dfd = open_dir(directory, follow=follow_dir)
    try:
        return os.fdopen(open_regular(dfd, rel), "rb")
    finally:
        os.close(dfd)


def read_bytes(directory: str, rel: str, limit: int) -> bytes:
    """A small regular file's bytes, at most ``limit`` of them (ValueError if larger)."""
    with open_file(directory, rel) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{os.path.join(directory, rel)} is larger than {limit} bytes")
    return data


def entries(dir_fd: int) -> list[tuple[str, str, int]]:
    """(name, kind, size) of a directory's entries, sorted, links not followed."""
    out = []
    with os.scandir(dir_fd) as it:
        for e in it:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append((e.name, kind_of(st.st_mode), st.st_size))
    out.sort()
    return out


def entries_of(directory: str) -> list[tuple[str, str, int]]:
    """``entries`` of a directory path (the path itself may be a link)."""
    fd = open_dir(directory)
    try:
        return entries(fd)
    finally:
        os.close(fd)


def walk(dir_fd: int, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, str, int]]:
    """(relative path, kind, size) of everything below ``dir_fd`` that is not
    a directory, descending only into real directories (never through a link)."""
    for name, kind, size in entries(dir_fd):
        rel = f"{prefix}{name}"
        if kind != "directory":
            yield rel, kind, size
            continue
        if depth + 1 >= MAX_DEPTH:
            yield rel, "directory", 0  # too deep: reported, not entered
            continue
        try:
            sub = _open_component(name, _O_DIR, dir_fd, rel)
        except (OSError, NotRegular):
            yield rel, "other", 0
            continue
        try:
            yield from walk(sub, rel + "/", depth + 1)
        finally:
            os.close(sub)


def write_atomic(directory: str, rel: str, source: Source, mode: int = 0o644, fsync: bool = False) -> tuple[int, str]:
    """Write ``rel`` below ``directory`` from bytes or a binary file object:
    parents created without following links, a temporary file created
    exclusively, then renamed into place. Returns (size, sha256)."""
    dfd = open_dir(directory)
    try:
        return write_atomic_at(dfd, rel, source, mode, fsync)
    finally:
        os.close(dfd)


def write_atomic_at(
    dir_fd: int, rel: str, source: Source, mode: int = 0o644, fsync: bool = False, digest: bool = True
) -> tuple[int, str]:
    """``write_atomic`` below the directory ``dir_fd``; ``digest`` False: the
    bytes are not hashed (the caller checked them), the digest returned is ""."""
    parts = _parts(rel)
    parent = _walk_dirs(dir_fd, parts[:-1], rel, create=True)
    try:
        return _write_new(parent, parts[-1], source, mode, fsync, digest)
    finally:
        os.close(parent)


class _NoHash:
    def update(self, data: bytes | bytearray | memoryview) -> None:
        return None

    def hexdigest(self) -> str:
        return ""


def _write_new(parent: int, name: str, source: Source, mode: int, fsync: bool, digest: bool = True) -> tuple[int, str]:
    """Write ``name`` in the directory ``parent`` through a temporary name."""
    import hashlib

    h: Any = hashlib.sha256() if digest else _NoHash()
    size = 0
    tmp = names.temp_name(name)
    fd = os.open(tmp, _O_NEW, mode, dir_fd=parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, (bytes, bytearray, memoryview)):
                out.write(source)
                h.update(source)
                size = len(source)
            else:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=parent)
        except OSError:
            pass
        raise
    return size, h.hexdigest()


class InsecureFile(PermissionError):
    """A file holding secrets that others may read or write."""


def read_named(path: str, limit: int, check: Callable[[os.stat_result], None] | None = None) -> bytes:
    """The bytes of the regular file at ``path``, a path a user named (links
    followed), opened without blocking so that a FIFO never hangs: NotRegular
    if it is not a regular file, then ``check`` on its stat (it raises to
    refuse the file), then TooLarge if it holds more than ``limit`` bytes;
    OSError if it cannot be opened."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # before fdopen, which refuses a directory itself
            raise NotRegular(path, kind_of(st.st_mode))
        if check is not None:
            check(st)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{path} is larger than {limit} bytes")
    return data


def read_private(path: str, what: str, limit: int = 1 << 20) -> str:
    """The text of a file holding secrets (tokens, keys), refused, as ssh
    refuses a private key, when its group or others have any access to it or
    when it belongs to another user (root excepted)."""

    def check(st: os.stat_result) -> None:
        if st.st_mode & 0o077:
            raise InsecureFile(
                f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"it holds secrets: chmod 600 {path}"
            )
        if st.st_uid not in (os.getuid(), 0):
            raise InsecureFile(f"{what} {path} belongs to another user (uid {st.st_uid}); it holds secrets")

    try:
        data = read_named(path, limit, check)
    except NotRegular as e:
        raise InsecureFile(f"{what} {path} is not a regular file ({e.kind})") from None
    except TooLarge:
        raise ValueError(f"{what} {path} is larger than {limit} bytes") from None
    except InsecureFile:
        raise
    except OSError as e:
        raise OSError(e.errno, f"cannot read {what} {path}: {e.strerror or e}") from None
    return data.decode("utf-8", "replace")


def write_private(path: str, text: str) -> None:
    """Write a file only its owner can read (0600), replacing it atomically."""
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, names.temp_name(base))
    fd = os.open(tmp, _O_NEW, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def publish(dir_fd: int, name: str, data: bytes, mode: int = 0o644) -> bool:
    """Make ``name`` appear in ``dir_fd`` whole, holding ``data``: a private
    temporary file, written and synced, linked into place with link(2),
    which fails if the name is taken. True if this call made it, False if
    the name was there (someone else won; a link there counts as taken and
    is not followed). On NFS a retransmitted link may answer EEXIST though
    it was made: the temporary file's link count says so. A filesystem
    without hard links: O_EXCL (a reader may then see it half written)."""
    tmp = names.temp_name(name)
    fd = os.open(tmp, _O_NEW, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            return True
        except FileExistsError:
            return os.stat(tmp, dir_fd=dir_fd, follow_symlinks=False).st_nlink > 1
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            return _create_excl(dir_fd, name, data, mode)
    finally:
        os.unlink(tmp, dir_fd=dir_fd)


def _create_excl(dir_fd: int, name: str, data: bytes, mode: int) -> bool:
    try:
        fd = os.open(name, _O_NEW, mode, dir_fd=dir_fd)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True
