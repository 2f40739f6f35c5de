"""Bearer tokens for the server: a token file, constant-time comparison,
each token optionally limited to read or write and to some projects.

Token file, one token a line (``#`` starts a comment)::

    # token                              access  projects   label
    3f1c...e9                            rw      *          ci-uploader
    77aa...01                            r       mnist,nlp  dashboard
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    secret: str
    read: bool = True
    write: bool = True
    projects: frozenset[str] | None = None  # None: every project
    label: str = ""

    def allows(self, access: str, project: str | None) -> bool:
        if (access == "w" and not self.write) or (access == "r" and not self.read):
            return False
        return self.projects is None or project is None or project in self.projects

    @property
    def name(self) -> str:
        """What logs show: the label, or a hash prefix. Never the token."""
        return self.label or "sha256:" + hashlib.sha256(self.secret.encode()).hexdigest()[:12]


class TokenFileError(ValueError):
    pass


def load_tokens(path: str) -> list[Token]:
    """The tokens of a token file, which only its owner may read (refused
    otherwise, as ssh refuses a private key readable by others)."""
    from runship.safefile import read_private

    try:
        lines = read_private(path, "token file").splitlines()
    except (OSError, ValueError) as e:
        raise TokenFileError(str(e)) from None
    tokens = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        secret = parts[0]
        if len(secret) < 16:
            raise TokenFileError(f"{path}:{number}: a token must be at least 16 characters")
        access = parts[1] if len(parts) > 1 else "rw"
        if access not in ("r", "w", "rw"):
            raise TokenFileError(f"{path}:{number}: access must be r, w or rw, got {access!r}")
        projects = parts[2] if len(parts) > 2 else "*"
        label = parts[3] if len(parts) > 3 else ""
        tokens.append(
            Token(
                secret,
                read="r" in access,
                write="w" in access,
                projects=None if projects == "*" else frozenset(p for p in projects.split(",") if p),
                label=label,
            )
        )
    if not tokens:
        raise TokenFileError(f"token file {path} holds no token")
    return tokens


def find_token(tokens: list[Token], presented: str) -> Token | None:
    """The token matching ``presented``; every token is compared, each in
    constant time, so timing tells nothing about which or how much matched."""
    found = None
    presented_b = presented.encode()
    for t in tokens:
        if hmac.compare_digest(t.secret.encode(), presented_b):
            found = t
    return found
