"""What an artifact is on both sides of the format: a checked name, a type,
a description, metadata, aliases, and a version once logged.

The writer's ``runship.Artifact`` (``runship.writer.files``) adds the files
``log_artifact`` copies into ``files/artifacts/<name>/v<N>/``; the reader's
``runship.Api().artifact(name)`` returns an ``ArtifactBase``: runship runs
offline and keeps no artifact store, so ``download()`` says so.
"""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any, NoReturn

from runship.errors import UsageError
from runship.schema import names


def run_table_name(run_id: str, key: str) -> str:
    """The name of the ``run_table`` artifact of a table logged under
    ``key``: ``run-<id>-<key>``, made a valid name as wandb makes it (what is
    not a letter, digit, ``_``, ``-`` or ``.`` dropped, then ``-`` and the
    CRC-32 of the whole name, URL-safe base64, so that two keys differing
    only there do not meet)."""
    name = f"run-{run_id}-{key}"
    kept = re.sub(r"[^a-zA-Z0-9_\-.]+", "", name)
    if kept == name:
        return name
    crc = zlib.crc32(name.encode("utf-8")).to_bytes(4, "big")
    return f"{kept}-{base64.urlsafe_b64encode(crc).rstrip(b'=').decode('ascii')}"


class ArtifactBase:
    """An artifact's name and what is said about it (see the module's doc)."""

    def __init__(
        self,
        name: str,
        type: str = "unspecified",
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        **_: object,
    ):
        if not isinstance(name, str) or not names.segment_ok(name) or len(name) > names.MAX_NAME_LEN:
            raise ValueError(
                f"artifact name {name!r:.80} must be 1 to {names.MAX_NAME_LEN} letters, digits, '.', '_' or '-' "
                "(and ' +=@,~'), not '.' or '..'"
            )
        self.name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self.aliases: list[str] = []
        self.version: str | None = None
        self._entries: dict[str, str] = {}  # name in the artifact -> the file it is made of
        self._references: list[dict[str, Any]] = []  # add_reference: URIs named, not copied
        self._tmp: str | None = None  # new_file: where the files it makes are written

    def download(self, *args: object, **kwargs: object) -> NoReturn:
        raise UsageError(
            f"artifact {self.name!r} cannot be downloaded: runship runs offline and has no artifact store; "
            "copy the files to the node and read them from disk"
        )

    def wait(self, *args: object, **kwargs: object) -> ArtifactBase:
        return self

    def save(self, *args: object, **kwargs: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"<runship.Artifact {self.name}:{self.version or 'unlogged'} ({len(self._entries)} files)>"
