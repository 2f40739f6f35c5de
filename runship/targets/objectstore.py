"""An fsspec object store as the target (S3 through s3fs, GCS, memory://, ...).

Object stores have no append (s3fs's ``open(mode="ab")`` re-uploads the
whole object: never used here). New bytes of a stream file go up as chunk
objects named by their byte range, ``<run>/.chunks/<file>/<start>-<end>``,
written create-only where the store supports it; a closed file goes up once
as a whole object, after which its chunks are removed.
"""

from __future__ import annotations

from typing import BinaryIO

from runship.reader.source import fresh_ls, fs_options
from runship.schema import format as fmt
from runship.targets import ConflictError, GapError, Limited, Target, TargetError, redact

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


def _retryable(e: BaseException) -> bool:
    if isinstance(e, (ConnectionError, TimeoutError)):
        return True
    text = f"{type(e).__name__} {e}"
    return any(n in text for n in _RETRYABLE_NAMES) or (
        isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, PermissionError))
    )


class ObjectStoreTarget(Target):
    needs_finalize = True
    concurrent = True  # fsspec filesystems are called from many threads (s3fs: one event loop)
    holds_sweeps = True

    def __init__(self, url: str, storage_options: dict):
        import fsspec

        self.url = redact(url.rstrip("/"))
        protocol = url.split("://", 1)[0]
        if protocol in ("s3", "s3a"):
            try:
                import s3fs  # noqa: F401
            except ImportError:
                raise TargetError("s3:// needs s3fs: pip install 'runship[s3]'", retryable=False) from None
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

    def _call(self, what: str, fn, *args, **kwargs):
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

    def _run(self, project: str, run_id: str) -> str:
        return f"{self.base}/{project}/{run_id}"

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
            if self.read_range(project, run_id, name, offset, offset + overlap) != data[:overlap]:
                raise ConflictError(f"{where} differs from the local file in bytes {offset}..{offset + overlap}")
            if overlap == len(data):
                return size
            data, offset = data[overlap:], offset + overlap
        path = f"{self._run(project, run_id)}/{fmt.CHUNK_DIR}/{name}/{fmt.chunk_name(offset, offset + len(data))}"
        written = self._call("upload", self._pipe, path, data, True)
        if not written and self.read_range(project, run_id, name, offset, offset + len(data)) != data:
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

    def read_range(self, project: str, run_id: str, name: str, start: int, end: int) -> bytes:
        """Bytes [start, end) (fewer where the file is shorter). A chunk listed
        and then gone before it is read was dropped by another writer (a
        second server) because a longer chunk or the whole object now holds
        its bytes: listed again and read from there, never an error."""
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
            if info.get("type") == "file" and int(info["size"]) >= end:
                return self._call("download", self.fs.cat_file, whole, start=start, end=end)
        except FileNotFoundError:
            pass
        parts = []
        pos = start
        for c_start, c_end in fmt.chunk_cover(self._chunks(project, run_id, name)):
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

    def _stream(self, path: str, src) -> None:
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
