"""A run's console (``/ui/api/console``): its lines from an offset, or
the last few, or those holding a text; bounded in lines and characters."""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from runship.web.context import OpenedRun, answer

MAX_CONSOLE_LINES = 5000
MAX_LINE_CHARS = 8192  # a console line shown is cut there (the search sees all of it)
MAX_CONSOLE_CHARS = 1024 * 1024  # characters of one answer's lines; past it, lines are cut to 200

ui = APIRouter(tags=["ui"])


@ui.get("/ui/api/console")
def api_console(
    run: OpenedRun,
    offset: Annotated[int, Query(ge=0)] = 0,
    tail: Annotated[int | None, Query(ge=1, le=MAX_CONSOLE_LINES)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CONSOLE_LINES)] = 2000,
    q: Annotated[str | None, Query(max_length=1000)] = None,
) -> JSONResponse:
    return answer(console(run.view, offset, tail, limit, q or None))


def console(view: Any, offset: int, tail: int | None, limit: int, q: str | None) -> dict[str, Any]:
    """Console lines from ``offset`` (or the last ``tail``), at most
    ``limit`` of them; with ``q`` only the lines that hold it. The line not
    ended yet (a progress bar), if any, comes last with ``"partial": true``;
    it is not counted (``next`` and ``total`` are the ended lines'): the
    next poll gets it again, or the line that ended it."""
    limit = max(1, min(limit, MAX_CONSOLE_LINES))
    needle = q.lower() if q else None
    kept: deque[dict[str, Any]] | list[dict[str, Any]]
    kept = deque(maxlen=min(tail, limit)) if tail else []
    total = spent = 0
    partial: list[dict[str, Any]] = []
    for n, line in enumerate(view.console()):
        if line.get("partial"):  # the readers give them last, after every ended line
            partial.append(line)
            continue
        total = n + 1
        if n < offset:
            continue
        text = _text(line)
        if needle is not None and needle not in text.lower():
            continue
        if isinstance(kept, list) and len(kept) >= limit:
            continue
        if isinstance(kept, deque) and len(kept) == kept.maxlen:
            spent -= len(kept[0]["text"])  # the line the append below drops
        text = _cut_line(text, MAX_LINE_CHARS if spent < MAX_CONSOLE_CHARS else 200)
        spent += len(text)
        t = line.get("t")
        kept.append(
            {"n": n, "t": t if isinstance(t, (int, float)) else None, "stream": line.get("stream"), "text": text}
        )
    lines = list(kept)
    following = isinstance(kept, deque) or len(lines) < limit
    nxt = total if following else lines[-1]["n"] + 1
    if following:
        lines += _partial(partial, total, needle)
    return {"lines": lines, "total": total, "next": max(nxt, offset)}


def _partial(partial: list[dict[str, Any]], total: int, needle: str | None) -> list[dict[str, Any]]:
    """The unfinished lines, as the answer's last lines (numbered as the next line would be)."""
    out = []
    for line in partial:
        text = _text(line)
        if needle is None or needle in text.lower():
            t = line.get("t")
            t = t if isinstance(t, (int, float)) else None
            out.append(
                {
                    "n": total,
                    "t": t,
                    "stream": line.get("stream"),
                    "text": _cut_line(text, MAX_LINE_CHARS),
                    "partial": True,
                }
            )
    return out


def _text(line: dict[str, Any]) -> str:
    """A console record's text; a distributed run's says which rank wrote it."""
    text = line.get("text")
    text = text if isinstance(text, str) else str(text)
    return f"[{line['rank']}] {text}" if "rank" in line else text


def _cut_line(text: str, most: int) -> str:
    """A console line as shown: at most ``most`` characters, then how many more."""
    if len(text) <= most:
        return text
    return f"{text[:most]}… ({len(text) - most} more characters)"
