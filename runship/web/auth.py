"""Who may do what: bearer tokens, each limited to read and/or write and to
some projects. ``runship serve`` reads them from a token file; ``runship ui``
has one token (printed in the URL it opens, or the user's own) that reads
every project, made a ``Token`` with the scope ``*`` by ``ui_token``.

Token file, one token a line (``#`` starts a comment)::

    # token                              access  projects   label
    3f1c...e9                            rw      *          ci-uploader
    77aa...01                            r       mnist,nlp  dashboard
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

UI_LABEL = "ui"  # what the access log names runship ui's one token by
SESSION_PREFIX = "s1."  # a sign-in cookie's value: this, then the token's HMAC (``Token.session``)
_SESSION_MESSAGE = b"runship web app session v1"


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
    def session(self) -> str:
        """What the page's sign-in cookie holds: an HMAC-SHA256 keyed by the
        token, never the token itself. The same token gives the same value,
        so a page signed in before a restart with the same token (a token
        file, $RUNSHIP_UI_TOKEN) stays signed in; a new token signs every
        page out. The token cannot be found from it."""
        digest = hmac.new(self.secret.encode(), _SESSION_MESSAGE, hashlib.sha256).hexdigest()
        return SESSION_PREFIX + digest

    @property
    def name(self) -> str:
        """What logs show: the label, or a hash prefix. Never the token."""
        return self.label or "sha256:" + hashlib.sha256(self.secret.encode()).hexdigest()[:12]


def ui_token(secret: str) -> Token:
    """``runship ui``'s one token: it reads every project (scope ``*``)."""
    return Token(secret, read=True, write=False, projects=None, label=UI_LABEL)


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
    tokens = [_token_line(path, number, line) for number, line in enumerate(lines, 1)]
    found = [t for t in tokens if t is not None]
    if not found:
        raise TokenFileError(f"token file {path} holds no token")
    return found


def _token_line(path: str, number: int, line: str) -> Token | None:
    """The token of one line of a token file; None for a blank or comment line."""
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    parts = line.split()
    secret = parts[0]
    if len(secret) < 16:
        raise TokenFileError(f"{path}:{number}: a token must be at least 16 characters")
    access = parts[1] if len(parts) > 1 else "rw"
    if access not in ("r", "w", "rw"):
        raise TokenFileError(f"{path}:{number}: access must be r, w or rw, got {access!r}")
    projects = parts[2] if len(parts) > 2 else "*"
    return Token(
        secret,
        read="r" in access,
        write="w" in access,
        projects=None if projects == "*" else frozenset(p for p in projects.split(",") if p),
        label=parts[3] if len(parts) > 3 else "",
    )


def find_token(tokens: list[Token], presented: str, sessions: bool = True) -> Token | None:
    """The token matching ``presented`` (the token, or with ``sessions`` the
    session value of a sign-in cookie, ``Token.session``); every token is
    compared, each in constant time, so timing tells nothing about which or
    how much matched."""
    found = None
    presented_b = presented.encode()
    for t in tokens:
        as_token = hmac.compare_digest(t.secret.encode(), presented_b)
        as_session = hmac.compare_digest(t.session.encode(), presented_b)
        if as_token or (sessions and as_session):
            found = t
    return found


@dataclass(frozen=True)
class Gate:
    """The tokens an app accepts; ``tokens`` None: no check at all (the
    loopback-only ``--no-auth`` and ``--no-token``, refused elsewhere by
    whoever starts the app)."""

    tokens: list[Token] | None

    @property
    def open(self) -> bool:
        return self.tokens is None

    def find(self, presented: str | None, sessions: bool = True) -> Token | None:
        """The token presented, if it is one of ours (``sessions``: or the
        web app's sign-in cookie of one: the ``/v1`` API takes tokens only)."""
        if not presented or self.tokens is None:
            return None
        return find_token(self.tokens, presented, sessions)

    def readable(self, presented: str | None) -> Callable[[str], bool] | None:
        """Which projects the presented token may read (a predicate), or
        None when it is not accepted."""
        if self.tokens is None:
            return lambda project: True
        token = self.find(presented)
        if token is None:
            return None
        return lambda project: token.allows("r", project)
