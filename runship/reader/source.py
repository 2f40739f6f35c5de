"""Where a run directory's bytes come from: a local path or an fsspec URL.

Files are opened, not read whole: callers stream them. A local run
directory is read without following links below it (``runship.safefile``):
a symlink, FIFO or device in it is reported, never read. On an object store,
a stream file that was still being written when it was uploaded exists as
chunk objects (see ``format.CHUNK_DIR``); this module puts them back
together, so that a remote run reads exactly like the local one. Listings
are asked of the store every time (fsspec's listing cache is bypassed), so a
long-lived process sees what was uploaded since its last call.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, Protocol

from runship import safefile
from runship.errors import RunNotFound
from runship.schema import format as fmt


class RunSource(Protocol):
    """Where one run directory's files are read from."""

    location: str

    def names(self) -> list[str]: ...
    def kind(self, name: str) -> str: ...
    def size(self, name: str) -> int | None: ...
    def open(self, name: str) -> BinaryIO: ...
    def read(self, name: str, limit: int = ...) -> bytes: ...
    def read_at(self, name: str, start: int, length: int) -> bytes: ...
    def stamp(self, name: str, length: int) -> str | None: ...
    def join(self, name: str) -> str: ...
    @property
    def basename(self) -> str: ...
    @property
    def parent_name(self) -> str: ...


class LocalSource:
    """A run directory on disk. ``root``: the run root it was named below
    (``root/project/run``): the root may be a link, the project and run
    directories are entered without following one, at every open."""

    def __init__(self, path: str, root: str | None = None):
        self.location = os.path.abspath(os.fspath(path))
        self._root, self._below = _below(self.location, root)
        try:
            fd = self._dir()
        except FileNotFoundError:
            raise RunNotFound(f"no run directory at {self.location}") from None
        except PermissionError:
            raise PermissionError(f"permission denied: cannot read run directory {self.location}") from None
        except safefile.NotRegular as e:
            raise RunNotFound(f"no run directory at {self.location} ({e.kind} on the way, not followed)") from None
        except NotADirectoryError:
            raise RunNotFound(f"no run directory at {self.location} (not a directory)") from None
        try:
            self._entries = {name: (kind, size) for name, kind, size in safefile.entries(fd)}
        except PermissionError:
            raise PermissionError(f"permission denied: cannot list run directory {self.location}") from None
        finally:
            os.close(fd)

    def _dir(self) -> int:
        """A descriptor of the run directory (the caller closes it)."""
        if self._below is None:
            return safefile.open_dir(self.location)
        return safefile.open_below(self._root, self._below)

    def names(self) -> list[str]:
        return sorted(n for n in self._entries if n != fmt.CHUNK_DIR)

    def kind(self, name: str) -> str:
        return self._entries.get(name, ("file", 0))[0]

    def size(self, name: str) -> int | None:
        kind, size = self._entries.get(name, ("file", None))
        return size if kind == "file" else None

    def open(self, name: str) -> BinaryIO:
        """A binary file object of a regular file ``name`` (a relative path) of the run."""
        dfd = self._dir()
        try:
            return os.fdopen(safefile.open_regular(dfd, name), "rb")
        finally:
            os.close(dfd)

    def read(self, name: str, limit: int = 256 * 1024 * 1024) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{self.join(name)} is larger than {limit} bytes")
        return data

    def read_at(self, name: str, start: int, length: int) -> bytes:
        """``length`` bytes of a file from ``start`` (fewer at its end)."""
        with self.open(name) as f:
            return os.pread(f.fileno(), length, start)

    def stamp(self, name: str, length: int) -> str | None:
        """What changes when the file's bytes may have: size, modification
        time, inode (None when it cannot be had)."""
        try:
            with self.open(name) as f:
                st = os.fstat(f.fileno())
        except OSError:
            return None
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def join(self, name: str) -> str:
        return os.path.join(self.location, name)

    @property
    def basename(self) -> str:
        return os.path.basename(self.location)

    @property
    def parent_name(self) -> str:
        return os.path.basename(os.path.dirname(self.location))


def _below(location: str, root: str | None) -> tuple[str, str | None]:
    """(root, the part of ``location`` below it), or (location, None)
    without a root. ValueError if ``location`` is not below ``root``."""
    if root is None:
        return location, None
    root = os.path.abspath(root[len("file://") :] if root.startswith("file://") else root)
    rel = os.path.relpath(location, root)
    if rel == "." or rel.split(os.sep, 1)[0] == "..":
        raise ValueError(f"{location} is not below the root {root}")
    return root, rel


def fs_options(url: str, storage_options: dict[str, Any] | None, listings: bool = True) -> dict[str, Any]:
    """Storage options for ``url`` with runship's defaults: for S3, the
    standard ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` variables (MinIO,
    Ceph RGW) and timeouts, so that no call can hang a pass; with
    ``listings`` False, no listing cache (s3fs keeps every listing it made
    for good: a writer, which asks the store itself each time, does not
    need them)."""
    opts = dict(storage_options or {})
    if url.split("://", 1)[0].lower() not in ("s3", "s3a"):
        return opts
    if not listings:
        opts.setdefault("use_listings_cache", False)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and "endpoint_url" not in opts and "endpoint_url" not in opts.get("client_kwargs", {}):
        opts["endpoint_url"] = endpoint
    config = dict(opts.get("config_kwargs") or {})
    config.setdefault("connect_timeout", 10)
    config.setdefault("read_timeout", 60)
    config.setdefault("retries", {"max_attempts": 3, "mode": "standard"})
    opts["config_kwargs"] = config
    return opts


def url_to_fs(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """``(filesystem, path)`` for an fsspec URL, with runship's defaults."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url.rstrip("/"), **fs_options(url, storage_options))
    return fs, str(path).rstrip("/")


def fresh_ls(fs: Any, path: str, detail: bool = False) -> list[Any]:
    """``fs.ls`` that asks the store, not fsspec's listing cache."""
    try:
        fs.invalidate_cache(path)
    except Exception:
        pass
    try:
        return list(fs.ls(path, detail=detail, refresh=True))
    except TypeError:  # a backend without the refresh keyword
        return list(fs.ls(path, detail=detail))


class RangeFile(io.RawIOBase):
    """A read-only, seekable file of ``size`` bytes whose ranges are fetched
    by ``_fetch(start, end)`` (wrap it in ``io.BufferedReader``)."""

    def __init__(self, size: int):
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        data = self._fetch(self._pos, min(self._size, self._pos + len(buffer)))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def _fetch(self, start: int, end: int) -> bytes:
        raise NotImplementedError


class ChunkedFile(RangeFile):
    """A file made of byte ranges of other objects: ``parts`` is
    ``[(path, file_start, file_end, skip)]``, each holding the file's bytes
    [file_start, file_end) from offset ``skip`` of ``path``."""

    def __init__(self, fs: Any, parts: list[tuple[str, int, int, int]]):
        super().__init__(parts[-1][2] if parts else 0)
        self._fs = fs
        self._parts = parts

    def _fetch(self, start: int, end: int) -> bytes:
        for path, first, last, skip in self._parts:
            if first <= start < last:
                upto = min(last, end)
                data: bytes = self._fs.cat_file(path, start=skip + start - first, end=skip + upto - first)
                return data
        return b""


class FsspecSource:
    """A run directory behind any fsspec URL (s3://, gs://, file://, memory://, ...)."""

    concurrent = True  # fsspec filesystems may be called from several threads at once

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        fs: Any = None,
        listed: dict[str, dict[str, Any]] | None = None,
    ):
        """``listed``: every object below the run, as ``fs.find(detail=True)``
        gave them (a listing of many runs at once): the store is not asked again."""
        self.location = url.rstrip("/")
        if fs is None:
            self.fs, self._path = url_to_fs(self.location, storage_options)
        else:
            self.fs, self._path = fs, fs._strip_protocol(self.location).rstrip("/")
        if listed is not None:
            self._from_listing(listed)
            return
        try:
            entries = fresh_ls(self.fs, self._path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        if not entries:
            raise RunNotFound(f"no run directory at {url}")
        self._whole = {}
        self._dirs = set()
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if name == fmt.CHUNK_DIR:
                continue
            if e.get("type") == "directory":
                self._dirs.add(name)
            else:
                self._whole[name] = e
        has_chunks = any(e["name"].rstrip("/").endswith("/" + fmt.CHUNK_DIR) for e in entries)
        self._chunks = self._list_chunks() if has_chunks else {}

    def _from_listing(self, listed: dict[str, dict[str, Any]]) -> None:
        self._whole = {}
        self._dirs = set()
        self._chunks = {}
        prefix = self._path + "/"
        for path, e in listed.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            if len(parts) == 1:
                self._whole[parts[0]] = e
            elif parts[0] == fmt.CHUNK_DIR:
                rng = fmt.parse_chunk_name(parts[-1]) if len(parts) == 3 else None
                if rng is not None:
                    self._chunks.setdefault(parts[1], []).append(rng)
            else:
                self._dirs.add(parts[0])
        if not self._whole and not self._chunks and not self._dirs:
            raise RunNotFound(f"no run directory at {self.location}")

    def _list_chunks(self) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        base = f"{self._path}/{fmt.CHUNK_DIR}"
        try:
            self.fs.invalidate_cache(base)
        except Exception:
            pass
        try:
            paths = self.fs.find(base)
        except FileNotFoundError:
            return out
        for p in paths:
            rel = p[len(base) :].strip("/")
            if "/" not in rel:
                continue
            name, chunk = rel.rsplit("/", 1)
            rng = fmt.parse_chunk_name(chunk)
            if rng is not None:
                out.setdefault(name, []).append(rng)
        return out

    def names(self) -> list[str]:
        return sorted(set(self._whole) | set(self._chunks) | self._dirs)

    def kind(self, name: str) -> str:
        return "directory" if name in self._dirs and name not in self._whole else "file"

    def size(self, name: str) -> int | None:
        if name in self._whole:
            return int(self._whole[name].get("size") or 0)
        chain = fmt.chunk_cover(self._chunks.get(name, []))
        return chain[-1][1] if chain else None

    def open(self, name: str) -> BinaryIO:
        if name in self._whole or name not in self._chunks:
            size = self.size(name) if name in self._whole else None
            extra = {"size": size} if size else {}  # known from the listing: no request to learn it
            f: BinaryIO = self.fs.open(
                f"{self._path}/{name}", "rb", block_size=1 << 20, cache_type="readahead", **extra
            )
            return f
        return io.BufferedReader(self._chunked(name), buffer_size=1 << 20)

    def _chunked(self, name: str) -> ChunkedFile:
        parts = []
        pos = 0
        for start, end in fmt.chunk_cover(self._chunks[name]):
            path = f"{self._path}/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(start, end)}"
            parts.append((path, pos, end, pos - start))
            pos = end
        return ChunkedFile(self.fs, parts)

    def stamp(self, name: str, length: int) -> str | None:
        """What changes when the bytes [0, length) may have: an object's
        size and ETag (or time), or the names of the chunks that hold them."""
        if name in self._whole:
            e = self._whole[name]
            tag = e.get("ETag") or e.get("etag") or e.get("LastModified") or e.get("mtime") or e.get("created")
            return f"{e.get('size')}:{tag}" if tag else None
        chain = fmt.chunk_cover(self._chunks.get(name, []))
        return "chunks:" + ",".join(f"{a}-{b}" for a, b in chain if a < length)

    def read_at(self, name: str, start: int, length: int) -> bytes:
        """``length`` bytes of a file from ``start`` (fewer at its end), in
        one request per object touched (no read-ahead)."""
        size = self.size(name)
        end = start + length if size is None else min(size, start + length)
        if end <= start:
            return b""
        if name in self._whole or name not in self._chunks:
            data: bytes = self.fs.cat_file(f"{self._path}/{name}", start=start, end=end)
            return data
        f = self._chunked(name)
        out = bytearray()
        while start + len(out) < end:
            got = f._fetch(start + len(out), end)
            if not got:
                break
            out += got
        return bytes(out)

    def read(self, name: str, limit: int = 256 * 1024 * 1024) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{self.join(name)} is larger than {limit} bytes")
        return data

    def join(self, name: str) -> str:
        return f"{self.location}/{name}"

    @property
    def basename(self) -> str:
        return str(self._path).rsplit("/", 1)[-1]

    @property
    def parent_name(self) -> str:
        parts = self._path.rsplit("/", 2)
        return parts[-2] if len(parts) >= 2 else ""


def open_source(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None, root: str | None = None
) -> RunSource:
    """The source of a run directory. ``root``: the run root ``location``
    was named below, for a local one: no link is followed below the root
    (a linked project or run is not there: RunNotFound)."""
    text = os.fspath(location)
    if text.split("://", 1)[0].lower() in ("http", "https") and "://" in text:
        from runship.reader.http import HttpSource

        return HttpSource(text, storage_options)
    if "://" in text and not text.startswith("file://"):
        return FsspecSource(text, storage_options)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return LocalSource(text, root)
