"""An fsspec object store (S3 through s3fs, GCS, memory://, ...), both ways.

Object stores have no append (s3fs's ``open(mode="ab")`` re-uploads the
whole object: never used here). New bytes of a stream file go up as chunk
objects named by their byte range, ``<run>/.chunks/<file>/<start>-<end>``,
written create-only where the store supports it; a closed file goes up once
as a whole object, after which its chunks are removed. Reading puts the
chunks back together, so that a remote run reads exactly like the local
one. Listings are asked of the store every time (fsspec's listing cache is
bypassed), so a long-lived process sees what was uploaded since its last call.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, BinaryIO

from runship.errors import RunNotFound
from runship.extras import require_extra
from runship.schema import format as fmt
from runship.store.errors import ConflictError, GapError, TargetError
from runship.store.fileobj import Limited, RangeFile
from runship.store.location import redact
from runship.store.protocol import Capabilities, ReadWhole, RunReads, RunSource

PART_BYTES = 8 * 1024 * 1024  # buffered per part of a streamed upload (S3's minimum part is 5 MiB)
READ_TRIES = 5  # listings of a file's chunks a read makes when chunks it listed vanish before it reads them

# errors from botocore/aiohttp/fsspec that mean "try again later"
_RETRYABLE_NAMES = (
    "Timeout",
    "Connection",
    "Endpoint",
    "ClientOSError",
    "ServerDisconnected",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "Throttl",
)


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


class FsspecSource(ReadWhole):
    """A run directory behind any fsspec URL (s3://, gs://, file://, memory://, ...)."""

    concurrent = True  # fsspec filesystems may be called from several threads at once

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        fs: Any = None,
        listed: dict[str, dict[str, Any]] | None = None,
        path: str | None = None,
    ):
        """``listed``: every object below the run, as ``fs.find(detail=True)``
        gave them (a listing of many runs at once): the store is not asked again."""
        self.location = url.rstrip("/")
        if fs is None:
            self.fs, self._path = url_to_fs(self.location, storage_options)
        else:
            self.fs, self._path = fs, (path or fs._strip_protocol(self.location)).rstrip("/")
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
        return self._chunked(name).fetch_all(start, end)

    def join(self, name: str) -> str:
        return f"{self.location}/{name}"

    @property
    def basename(self) -> str:
        return str(self._path).rsplit("/", 1)[-1]

    @property
    def parent_name(self) -> str:
        parts = self._path.rsplit("/", 2)
        return parts[-2] if len(parts) >= 2 else ""


def _retryable(e: BaseException) -> bool:
    if isinstance(e, (ConnectionError, TimeoutError)):
        return True
    text = f"{type(e).__name__} {e}"
    return any(n in text for n in _RETRYABLE_NAMES) or (
        isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, PermissionError))
    )


class ObjectStoreBackend(RunReads):
    # fsspec filesystems are called from many threads (s3fs: one event loop)
    capabilities = Capabilities(needs_finalize=True, concurrent=True, holds_sweeps=True)
    max_request: int | None = None

    def __init__(self, url: str, storage_options: dict[str, Any]):
        import fsspec

        self.url = redact(url.rstrip("/"))
        self._location = url.rstrip("/")
        protocol = url.split("://", 1)[0]
        if protocol in ("s3", "s3a"):
            require_extra("s3", what=f"{protocol}://")  # one line naming the extra, exit 1 from the CLI
        # no listing cache: every size and chunk list is read from the store (another server writes there
        # too), and s3fs's cache kept each listing for good, 2.5 KiB a request (the soak test's finding)
        storage_options = fs_options(url, storage_options, listings=False)
        try:
            self.fs, self.base = fsspec.core.url_to_fs(url.rstrip("/"), **storage_options)
        except ImportError as e:
            raise TargetError(
                f"{protocol}:// needs an fsspec backend that is not installed: {e}", retryable=False
            ) from None
        except ValueError as e:
            raise TargetError(f"cannot open {self.url}: {e}", retryable=False) from None
        except Exception as e:  # a backend that connects at once (ftp://, sftp://) and cannot
            raise TargetError(f"cannot open {self.url}: {type(e).__name__}: {e}", retryable=True) from None
        self.base = self.base.rstrip("/")

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TargetError:
            raise
        except FileNotFoundError as e:
            if what in ("stat", "list", "read chunk"):
                raise  # "not there" is an answer
            raise TargetError(f"{what} on {self.url}: {e} (does the bucket exist?)", retryable=False) from None
        except Exception as e:
            raise TargetError(f"{what} on {self.url}: {type(e).__name__}: {e}", retryable=_retryable(e)) from None

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on this store, a failure raised as TargetError
        naming ``what`` (retryable when it may pass): for what is kept beside
        the runs (``runship.store.workspaces``)."""
        return self._call(what, fn, *args, **kwargs)

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any], **kwargs: Any) -> ObjectStoreBackend:
        return cls(url, storage_options)

    @classmethod
    def open_run(cls, location: str, storage_options: dict[str, Any] | None, root: str | None) -> RunSource:
        return FsspecSource(location, storage_options)

    def _run(self, project: str, run_id: str) -> str:
        return f"{self.base}/{project}/{run_id}"

    def run(self, project: str, run_id: str) -> RunSource:
        return FsspecSource(f"{self._location}/{project}/{run_id}", fs=self.fs, path=self._run(project, run_id))

    def _chunks(self, project: str, run_id: str, name: str) -> list[tuple[int, int]]:
        d = f"{self._run(project, run_id)}/{fmt.CHUNK_DIR}/{name}"
        try:
            paths = self._call("list", fresh_ls, self.fs, d)
        except FileNotFoundError:
            return []
        return [r for p in paths if (r := fmt.parse_chunk_name(p.rstrip("/"))) is not None]

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        whole = f"{self._run(project, run_id)}/{name}"
        try:
            info = self._call("stat", self.fs.info, whole, refresh=True)
            if info.get("type") == "file":
                return int(info["size"])
        except FileNotFoundError:
            pass
        chain = fmt.chunk_cover(self._chunks(project, run_id, name))
        return chain[-1][1] if chain else 0

    def _pipe(self, path: str, data: bytes, create: bool) -> bool:
        """Write an object; ``create``: only where none is (S3's If-None-Match:
        two writers racing on one chunk, such as two servers behind one load
        balancer, cannot both win). The loser checks that the winner's bytes
        are its own: a chunk is named by its byte range, so they must be.
        False: the winner's chunk was gone before it could be read (dropped,
        covered by a longer one): the caller checks the bytes there instead."""
        try:
            if create:
                try:
                    self.fs.pipe_file(path, data, mode="create")
                except TypeError:  # a backend without create-only writes
                    self.fs.pipe_file(path, data)
            else:
                self.fs.pipe_file(path, data)
        except FileExistsError:
            self.fs.invalidate_cache(path)  # (s3fs answers "no such file" from a listing that predates it)
            try:
                there = self.fs.cat_file(path)
            except FileNotFoundError:
                return False
            if there != data:
                raise ConflictError(f"{redact(path)} holds other bytes than these for the same byte range") from None
        return True

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        size = self.remote_size(project, run_id, name)
        where = f"{self.url}/{project}/{run_id}/{name}"
        if size < offset:
            raise GapError(f"{where} holds {size} bytes, cannot write at {offset}", size)
        overlap = min(size, offset + len(data)) - offset
        if overlap > 0:  # bytes already there must be the same bytes
            if self.read_at(project, run_id, name, offset, overlap) != data[:overlap]:
                raise ConflictError(f"{where} differs from the local file in bytes {offset}..{offset + overlap}")
            if overlap == len(data):
                return size
            data, offset = data[overlap:], offset + overlap
        path = f"{self._run(project, run_id)}/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(offset, offset + len(data))}"
        written = self._call("upload", self._pipe, path, data, True)
        if not written and self.read_at(project, run_id, name, offset, len(data)) != data:
            raise ConflictError(f"{where} holds other bytes than these at {offset}..{offset + len(data)}")
        self._tidy(project, run_id, name)
        return offset + len(data)

    def _tidy(self, project: str, run_id: str, name: str) -> None:
        """After a chunk is written: another writer (a second server behind
        one load balancer, a retried upload) may have written the same bytes
        at once, in a chunk of another length, or made the file whole and
        dropped its chunks. What the chain of chunks does not need goes, so
        that each byte is stored once: a chunk the chain covers (its bytes
        are the chain's, the file being append-only), or every chunk beside
        a whole object."""
        whole = f"{self._run(project, run_id)}/{name}"
        try:
            if self._call("stat", self.fs.info, whole, refresh=True).get("type") == "file":
                self._drop_chunks(project, run_id, name)
                return
        except FileNotFoundError:
            pass
        chunks = self._chunks(project, run_id, name)
        chain = fmt.chunk_cover(chunks)
        if len(chain) == len(chunks) or not chain:
            return
        end = chain[-1][1]
        kept = set(chain)
        d = f"{self._run(project, run_id)}/{fmt.CHUNK_DIR}/{name}"
        for start, stop in chunks:
            if (start, stop) in kept or stop > end:
                continue
            try:
                self.fs.rm_file(f"{d}/{fmt.chunk_name(start, stop)}")
            except Exception:
                pass  # a spare chunk left is read past, never used

    def read_at(self, project: str, run_id: str, name: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (fewer where the file is shorter). A chunk listed
        and then gone before it is read was dropped by another writer (a
        second server) because a longer chunk or the whole object now holds
        its bytes: listed again and read from there, never an error."""
        end = start + max(0, length)
        for _ in range(READ_TRIES):
            try:
                return self._read_range(project, run_id, name, start, end)
            except FileNotFoundError:
                continue
        where = f"{self.url}/{project}/{run_id}/{name}"
        raise TargetError(f"read {where}: its chunks changed under {READ_TRIES} reads in a row", retryable=True)

    def _read_range(self, project: str, run_id: str, name: str, start: int, end: int) -> bytes:
        whole = f"{self._run(project, run_id)}/{name}"
        try:
            info = self._call("stat", self.fs.info, whole, refresh=True)
            held = int(info["size"]) if info.get("type") == "file" else -1
        except FileNotFoundError:
            held = -1
        chain = [] if held >= end else fmt.chunk_cover(self._chunks(project, run_id, name))
        if held >= 0 and (not chain or chain[-1][1] <= held):  # whole, and no chunk beyond it
            upto = min(end, held)
            return (
                bytes(self._call("download", self.fs.cat_file, whole, start=start, end=upto)) if upto > start else b""
            )
        parts: list[bytes] = []
        pos = start
        for c_start, c_end in chain:
            if c_end <= pos or pos >= end:
                continue
            path = f"{self._run(project, run_id)}/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(c_start, c_end)}"
            upto = min(end, c_end)
            parts.append(self._call("read chunk", self.fs.cat_file, path, start=pos - c_start, end=upto - c_start))
            pos = upto
        return b"".join(parts)

    def finalize(self, project: str, run_id: str, name: str, src: BinaryIO, size: int, fresh: bool = False) -> int:
        whole = f"{self._run(project, run_id)}/{name}"
        if not fresh:  # (fresh: nothing there a moment ago; a racing copy would hold the same bytes)
            try:
                info = self._call("stat", self.fs.info, whole, refresh=True)
                if info.get("type") == "file" and int(info["size"]) >= size:
                    self._drop_chunks(project, run_id, name)
                    return 0  # already whole (never replaced by a shorter copy)
            except FileNotFoundError:
                pass
        # the committed prefix only (a crash may have left an uncommitted tail)
        self._call("upload", self._stream, whole, Limited(src, size))
        if not fresh:
            self._drop_chunks(project, run_id, name)
        return size

    def _stream(self, path: str, src: Limited) -> None:
        with self.fs.open(path, "wb", block_size=PART_BYTES) as out:
            while chunk := src.read(PART_BYTES):
                out.write(chunk)

    def _drop_chunks(self, project: str, run_id: str, name: str) -> None:
        """Remove a whole file's chunks, as the store lists them now (not
        fsspec's listing cache: another server may have written one since)."""
        d = f"{self._run(project, run_id)}/{fmt.CHUNK_DIR}/{name}"
        try:
            paths = fresh_ls(self.fs, d)
            if paths:
                self.fs.rm(paths)
        except FileNotFoundError:
            pass
        except Exception:
            pass  # stray chunks are harmless next to the whole object

    def put_file(self, project: str, run_id: str, rel: str, src: BinaryIO, size: int) -> None:
        self._call("upload", self._stream, f"{self._run(project, run_id)}/{rel}", Limited(src, size))

    def remove(self, project: str, run_id: str, name: str) -> None:
        try:
            self.fs.rm_file(f"{self._run(project, run_id)}/{name}")
        except Exception:
            pass
        self._drop_chunks(project, run_id, name)

    def list_runs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        try:
            projects = self._call("list", fresh_ls, self.fs, self.base)
        except FileNotFoundError:
            return out
        for p in sorted(projects):
            project = p.rstrip("/").rsplit("/", 1)[-1]
            if project.startswith("."):
                continue
            try:
                runs = self._call("list", fresh_ls, self.fs, p)
            except FileNotFoundError:
                continue
            out.extend((project, r.rstrip("/").rsplit("/", 1)[-1]) for r in sorted(runs))
        return out
