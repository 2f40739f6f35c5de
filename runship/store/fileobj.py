"""File objects the backends share: a length-limited view of a file, and a
seekable file whose byte ranges are fetched on demand."""

from __future__ import annotations

import io
from typing import Any, BinaryIO


class Limited:
    """At most ``size`` bytes of a binary file object (a file may grow while
    it is copied): what a backend stores is exactly what was measured."""

    def __init__(self, src: BinaryIO, size: int):
        self._src = src
        self._left = size

    def read(self, n: int | None = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._src.read(self._left if n is None or n < 0 else min(n, self._left))
        self._left -= len(data)
        return data


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

    def fetch_all(self, start: int, end: int) -> bytes:
        """Bytes [start, end), in as many fetches as it takes (fewer at the end)."""
        out = bytearray()
        while start + len(out) < end:
            got = self._fetch(start + len(out), end)
            if not got:
                break
            out += got
        return bytes(out)
