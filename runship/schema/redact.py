"""Secrets kept out of records, logs and children: the one place that decides
what looks secret and how it is hidden.

- A *name* looks secret (a command-line option, a ``NAME=VALUE`` argument,
  a URL's query parameter, a storage option, an environment variable) when
  one of its words (split at ``-``, ``_``, ``.``, and lower-to-upper case
  changes) is ``token``, ``secret``, ``password``, ``passwd``, ``pass``,
  ``pwd``, ``passphrase``, ``auth``, ``authorization``, ``credential(s)``,
  ``sig``, ``signature``, ``cookie``, ``sas``, ``dsn``, ``apikey`` or
  ``pat`` (a personal access token), or
  ends in ``token``, ``secret``, ``password`` or ``signature``; or its last
  word is ``key``; or its words run together hold ``apikey``,
  ``accesskey``, ``secretkey``, ``privatekey``, ``accountkey``,
  ``storagekey`` or ``connectionstring``. So ``--api-key``, ``HF_TOKEN``,
  ``db.password``, ``X-Amz-Signature``, ``AccountKey`` look secret;
  ``--tokenizer``, ``max_tokens``, ``--key-file`` do not.
- A hidden value is recorded as ``<redacted:N>``, N its length in
  characters: what was there, never what it was.
- A URL keeps its scheme, host, port, path and every query parameter whose
  name does not look secret; a password (``user:PASS@``) is hidden and the
  user kept; a user alone (``TOKEN@host``, as GitHub tokens are given) is
  hidden, except for ``ssh``, ``git``, ``sftp`` URLs.
- Command-line arguments: the value of ``--NAME=VALUE``, ``NAME=VALUE``
  (also as Hydra's ``+NAME=VALUE``, ``++NAME=VALUE``, ``~NAME=VALUE``) and
  of ``--NAME VALUE`` (the next argument, unless it starts with ``--``) when
  NAME looks secret; every URL in any other argument as above. Short
  options (``-p``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import unquote_plus, urlsplit, urlunsplit

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    (
        "token",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pass",
        "pwd",
        "passphrase",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "sig",
        "signature",
        "cookie",
        "sas",
        "dsn",
        "apikey",
        "pat",
    )
)
_SECRET_ENDINGS = ("token", "secret", "password", "signature")
_SECRET_JOINED = (
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "accountkey",
    "storagekey",
    "connectionstring",
)
# scheme://... up to whitespace or a quote
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"']+")
_MARK = re.compile(r"<redacted:[0-9]+>")
# an option or argument name: --api-key, -token, WANDB_API_KEY, db.password,
# and Hydra's overrides +db.password (append), ++db.password (force), ~db.password
_NAME = re.compile(r"(?:-{0,2}|\+{1,2}|~)[A-Za-z_][A-Za-z0-9_.-]{0,127}")
# URL schemes whose user name is a login, never a token
_LOGIN_SCHEMES = frozenset(("ssh", "git", "git+ssh", "ssh+git", "sftp", "scp"))


def looks_secret(name: str) -> bool:
    """Whether a name (option, parameter, variable, key) looks like it holds a secret."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words:
        return False
    if words[-1] == "key" or any(w in _SECRET_WORDS or w.endswith(_SECRET_ENDINGS) for w in words):
        return True
    joined = "".join(words)
    return any(j in joined for j in _SECRET_JOINED)


def mark(value: str) -> str:
    """What is recorded instead of a secret: ``<redacted:N>``, N its length.
    A value already redacted stays as it is."""
    return value if _MARK.fullmatch(value) else f"<redacted:{len(value)}>"


def url(text: str) -> str:
    """A URL with its credentials hidden (password, a user that may be a
    token, secret-looking query and fragment parameters); the rest kept."""
    try:
        parts = urlsplit(text)
    except ValueError:  # not parseable as a URL (a broken IPv6 host): nothing of it is kept
        return mark(text)
    netloc = _netloc(parts.scheme.lower(), parts.netloc)
    query, fragment = _params(parts.query), _params(parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return text  # untouched: not even normalised by urlunsplit
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment))


def _netloc(scheme: str, netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, password = userinfo.partition(":")
    if colon:
        return f"{user}:{mark(password)}@{hostport}" if password else netloc
    if scheme in _LOGIN_SCHEMES:
        return netloc
    return f"{mark(user)}@{hostport}"


def _params(text: str) -> str:
    """``a=1&token=XYZ`` with the values of secret-looking names hidden."""
    if "=" not in text:
        return text
    out = []
    for piece in text.split("&"):
        name, eq, value = piece.partition("=")
        if eq and value and looks_secret(unquote_plus(name)):
            piece = f"{name}={mark(value)}"
        out.append(piece)
    return "&".join(out)


def text(value: str) -> str:
    """Free text with every URL in it redacted (see ``url``)."""
    if "://" not in value:
        return value
    return _URL.sub(lambda m: url(m.group()), value)


def argv(args: Sequence[object]) -> list[str]:
    """Command-line arguments as they may be recorded (see the module's docstring)."""
    out: list[str] = []
    hide_next = False
    for arg in map(str, args):
        if hide_next and not arg.startswith("--"):
            out.append(mark(arg))
            hide_next = False
            continue
        hide_next = False
        name, eq, value = arg.partition("=")
        if eq and _NAME.fullmatch(name) and looks_secret(name):
            out.append(f"{name}={mark(value)}" if value else arg)
        elif not eq and arg.startswith("-") and _NAME.fullmatch(arg) and looks_secret(arg):
            out.append(arg)
            hide_next = True
        else:
            out.append(text(arg))
    return out


def values(obj: object) -> object:
    """A record's settings or arguments with every URL in every string redacted
    (dicts, lists and tuples walked; keys kept; other values as they are)."""
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, Mapping):
        return {k: values(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [values(v) for v in obj]
    return obj


def for_log(value: str) -> str:
    """A URL for a log line: without user, password or query at all."""
    parts = urlsplit(value)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        parts = parts._replace(netloc=host)
    if parts.query:
        parts = parts._replace(query="")
    return urlunsplit(parts)


def options(opts: Mapping[str, object]) -> str:
    """Storage options for a log line: secret-looking ones by name only."""
    return ", ".join(
        f"{k}={mark(str(v))}" if looks_secret(str(k)) else f"{k}={text(str(v))}" for k, v in sorted(opts.items())
    )


# ---- the environment of a child runship starts ----------------------------------

# what a child may see in its environment (/proc/<pid>/environ): how to run
# Python and find files, never a secret
VISIBLE = frozenset(
    (
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "TMP",
        "TEMP",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "LD_LIBRARY_PATH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    )
)
VISIBLE_PREFIXES = ("LC_", "PYTHON", "XDG_")
# what the uploader may need to reach its target, handed over its pipe
# (set in its own process once started, so never in /proc/<pid>/environ)
HANDED_PREFIXES = ("RUNSHIP_", "AWS_", "AZURE_", "GOOGLE_", "GCSFS_", "CLOUDSDK_", "FSSPEC_", "HF_")
HANDED = frozenset(
    (
        *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"),
        "SSH_AUTH_SOCK",  # sftp:// and ssh:// targets
        "KRB5CCNAME",  # Kerberos (webhdfs://, hdfs://)
    )
)


def split_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(what a child may have in its environment, what its parent hands it
    over a pipe). Anything on neither list (DATABASE_URL, RCLONE_CONFIG_*,
    WANDB_API_KEY, ...) is in neither."""
    visible, handed = {}, {}
    for k, v in environ.items():
        if (k in VISIBLE or k.startswith(VISIBLE_PREFIXES)) and not looks_secret(k):
            visible[k] = v
        elif k in HANDED or k.startswith(HANDED_PREFIXES):
            handed[k] = v
    return visible, handed
