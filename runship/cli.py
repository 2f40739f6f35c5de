"""The ``runship`` command: thin click commands over the reader (and, later,
the uploader and server). No logic of its own beyond formatting."""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime
import errno
import functools
import json
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Concatenate, ParamSpec, TypedDict, TypeVar

import click
import msgpack

import runship
from runship import interrupts, safefile
from runship.errors import Error, UsageError
from runship.extras import missing_extra, require_extra
from runship.reader.listing import list_runs, resolve_run
from runship.reader.stream import StreamFile, describe, iter_records
from runship.schema import limits
from runship.schema.format import ROW, ROWS, rows_of_record
from runship.schema.values import format_value, json_safe

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from runship.reader.run import RunView
    from runship.sweep import Sweep
    from runship.web.guard import Limits

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])
Locations = str | tuple[str, ...] | None  # a click option's or argument's value: one or many

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DERIVED = ("_step", "_timestamp", "_runtime")


def _open(ctx: click.Context, location: str) -> RunView:
    """The run at ``location``, read with the command line's storage
    options and cache (the reader is imported here: a command that reads no
    run starts without it)."""
    from runship.reader import open_run

    return open_run(location, storage_options=ctx.obj["so"], cache=_cache(ctx))


def _cache(ctx: click.Context) -> Any:
    """The read cache of this command (False for none), found on first use
    and kept for the command's other reads."""
    if ctx.obj["cache"] is True:
        from runship.reader.segments import read_cache

        ctx.obj["cache"] = read_cache(True) or False
    return ctx.obj["cache"]


def default_root() -> str:
    from runship.schema.names import default_root as _default

    return _default()


def library_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Show any error of the library or of a storage or network library
    (botocore, aiohttp, fsspec, ...) as one line naming the target and the
    cause, not a traceback; ``runship -v`` shows the traceback too."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:  # `runship history ... | head`: a quiet end (click would exit 1)
            _closed_pipe()
            raise click.exceptions.Exit(0) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except UsageError as e:  # an argument that cannot work: exit 2, as click's own checks
            raise click.UsageError(str(e)) from None
        except Exception as e:
            raise click.ClickException(_one_line(e)) from None

    return wrapper


def with_context(fn: Callable[Concatenate[click.Context, P], R]) -> Callable[P, R]:
    """A command given its context (``ctx.obj``: the root, storage options
    and cache) whose errors are shown as ``library_errors`` says."""
    return click.pass_context(library_errors(fn))


def _one_line(e: BaseException) -> str:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().params.get("verbose") or ctx.params.get("verbose")):
        import traceback

        traceback.print_exception(e, file=sys.stderr)
    extra = missing_extra(e, ctx.command_path if ctx is not None else "runship")
    if extra is not None:  # one line naming what to install, whatever the command's arguments
        return str(extra)
    from runship.store import TargetError

    if isinstance(e, (Error, TargetError)) or (isinstance(e, OSError) and e.filename is None and not e.strerror):
        text = str(e)
    elif isinstance(e, OSError) and e.strerror:
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    else:
        text = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
    target = None
    if ctx is not None:
        for key in ("run", "root", "runs", "files"):
            value = ctx.params.get(key)
            if value:
                target = value if isinstance(value, str) else ", ".join(map(str, value))
                break
        target = target or (ctx.obj or {}).get("root")
    text = " ".join(text.split())  # one line
    if target and target not in text:
        return f"{redact(str(target))}: {text}"
    return text


def redact(url: str) -> str:
    from runship.store.location import shown

    return shown(url)


def _location(ctx: click.Context, param: click.Parameter, value: Locations) -> Locations:
    """Click callback: each root or destination given is a path or a
    well-formed URL (``runship.store.location``), else a usage error (exit 2)."""
    from runship.errors import UsageError
    from runship.store.location import check_location

    for v in value if isinstance(value, tuple) else (value,):
        if v is not None:
            try:
                check_location(v, "")
            except UsageError as e:
                raise click.BadParameter(str(e), ctx, param) from None
    return value


def _storage_option(text: str | None = None) -> Callable[[F], F]:
    """``--storage-option``/``-o KEY=VALUE`` (repeatable), as ``runship``, ``upload`` and ``status`` take it."""
    return click.option("--storage-option", "-o", "storage_options", multiple=True, metavar="KEY=VALUE", help=text)


@click.group(context_settings=CONTEXT)
@click.version_option(runship.__version__, "--version", "-V", prog_name="runship")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=default_root,
    callback=_location,
    show_default="$RUNSHIP_DIR or ./runship-runs",
    help="Run root that RUN arguments (project/id or id) are looked up in.",
)
@_storage_option("fsspec storage option for URLs, e.g. endpoint_url=http://minio:9000 (repeatable).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="For http(s):// URLs of a runship server: a file (mode 600) holding a read token. [else $RUNSHIP_TOKEN]",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Where decoded history columns and the run index are kept (safe to delete at any time). "
    "[default: $RUNSHIP_CACHE_DIR, else $XDG_CACHE_HOME/runship]",
)
@click.option("--no-cache", is_flag=True, help="Read every run from its stream files; keep nothing.")
@click.option("--verbose", "-v", is_flag=True, help="Show the traceback of an error, not only its one-line summary.")
@click.pass_context
def cli(
    ctx: click.Context,
    root: str,
    storage_options: tuple[str, ...],
    token_file: str | None,
    cache_dir: str | None,
    no_cache: bool,
    verbose: bool,
) -> None:
    """Inspect runship runs: local run directories or URLs (s3://...,
    any fsspec URL, or a runship server's http(s)://HOST:PORT).

    \b
    Example:
        runship ls
        runship show mnist/3k9x2m1a
        runship --token-file ~/.runship-token ls https://runs.example.org
        runship history mnist/3k9x2m1a --keys loss,acc --format csv
    """
    from runship.uploader.config import parse_storage_options

    try:
        so = parse_storage_options(storage_options)
    except UsageError as e:
        raise click.UsageError(str(e)) from None
    if token_file:
        try:
            so["token"] = safefile.read_private(token_file, "token file", limit=64 * 1024).strip()
        except (OSError, ValueError) as e:
            raise click.UsageError(str(e)) from None
    if no_cache and cache_dir:
        raise click.UsageError("--cache-dir and --no-cache: choose one")
    cache: Any = not no_cache  # the environment's cache: found when a command first reads a run (_cache)
    if cache_dir:
        from runship.reader.cache import resolve_cache

        cache = resolve_cache(cache_dir)
        if cache is None:
            raise click.UsageError(f"--cache-dir {cache_dir}: not a private directory of yours (it must not be a link)")
    ctx.obj = {"root": root, "so": so, "so_pairs": tuple(storage_options), "cache": cache}


def _fmt_time(t: float | None) -> str:
    if not t:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _table(rows: list[list[str]], headers: list[str]) -> str:
    cells = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


@cli.command("ls", context_settings=CONTEXT)
@click.argument("root", required=False, type=click.Path(file_okay=False), callback=_location)
@click.option("--project", help="Only runs of this project.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@with_context
def ls_cmd(ctx: click.Context, root: str | None, project: str | None, as_json: bool) -> None:
    """List the runs under ROOT (default: --root): project, id, name, state,
    steps, last write.

    \b
    Example:
        runship ls /scratch/$USER/runship-runs --project mnist
    """
    root = root or ctx.obj["root"]
    so = ctx.obj["so"]
    rows = list_runs(root, project, so, cache=_cache(ctx))
    if as_json:
        for r in rows:
            click.echo(json.dumps(json_safe(r)))
        return
    if not rows and project is not None:
        # a mistyped project is a failed lookup (exit 1, as `show` of a run that is not there), not an empty root
        from runship.reader.listing import project_names

        known = project_names(root, so)
        where = f"its projects: {', '.join(known)}" if known else "it holds no runs"
        raise click.ClickException(f"no project {project!r} under {root}; {where}")
    if not rows:
        click.echo(f"no runs under {root}")
        return
    body = []
    for r in rows:
        state = r["state"]
        if r.get("exit_code") not in (0, None):
            state = f"{state} ({r['exit_code']})"
        elif state == "running":
            state = f"running ({_ago(r['last_write'])})"
        if r.get("error"):
            state += f": {r['error']}"
        elif r.get("problems"):
            state += " CORRUPT"
        steps = "" if r["steps"] is None else str(r["steps"])
        body.append([_text(r["project"]), _text(r["id"]), _text(r["name"]), state, steps, _fmt_time(r["last_write"])])
    click.echo(_table(body, ["PROJECT", "ID", "NAME", "STATE", "STEPS", "LAST WRITE"]))


def _ago(t: object) -> str:
    """ "last write 75 s ago": a live run is judged crashed only once its
    heartbeat is overdue (92 s by default), so say how old its last write is."""
    if not isinstance(t, (int, float)):
        return "no write yet"
    age = max(0.0, time.time() - t)
    if age < 120:
        return f"last write {age:.0f} s ago"
    return f"last write {age / 60:.0f} min ago"


def _text(value: object) -> str:
    """A name for a table cell: one line, bounded (a run's name is the run's to choose)."""
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 60 else text[:57] + "..."


@cli.command("show", context_settings=CONTEXT)
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object.")
@with_context
def show_cmd(ctx: click.Context, run: str, as_json: bool) -> None:
    """Show a run: metadata, state, config, summary, sessions, integrity.

    RUN is a run directory, a URL, project/id under --root, or an id.

    \b
    Example:
        runship show mnist/3k9x2m1a
        runship show ./runship-runs/mnist/3k9x2m1a --json
    """
    view = _open(ctx, resolve_run(run, ctx.obj["root"]))
    view.verify()
    if as_json:
        click.echo(json.dumps(json_safe(view.to_dict(), strict_json=True), indent=1))
        return
    parts = (_show_overview, _show_values, _show_definitions, _show_annotations, _show_environment, _show_sessions)
    for part in (*parts, _show_integrity):
        part(view)


def _show_overview(view: RunView) -> None:
    state = view.state
    if view.exit_code is not None:
        state += f" (exit code {view.exit_code})"
    elif state == "running":
        state += f" ({_ago(view.last_write)}; read as crashed once no write for {view.stale_after:.0f} s)"
    lines = [
        ("run", f"{view.project}/{view.id}" + (f"  ({view.name})" if view.name != view.id else "")),
        ("location", view.location),
        ("state", state),
    ]
    for key in ("entity", "group", "job_type", "notes"):
        if getattr(view, key):
            lines.append((key, str(getattr(view, key))))
    if view.tags:
        lines.append(("tags", ", ".join(view.tags)))
    lines.append(("steps", f"{view.next_step} ({view.steps} rows)"))
    lines.append(("started", _fmt_time(view.start_time)))
    lines.append(("last write", _fmt_time(view.last_write)))
    if view.lost or view.dropped:
        lines.append(("LOST", f"{view.lost} records could not be written, {view.dropped} were dropped"))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k.ljust(width)}  {v}")


def _show_values(view: RunView) -> None:
    for title, mapping in (("config", view.config), ("summary", view.summary)):
        click.echo(f"\n{title}:" + ("" if mapping else " (empty)"))
        for k in sorted(mapping):
            click.echo(f"  {k}: {format_value(mapping[k])}")


def _show_definitions(view: RunView) -> None:
    """define_metric() definitions, alerts and saved files."""
    if view.metrics.specs:
        click.echo("\nmetrics:")
        for spec in view.metrics.specs:
            parts = [
                f"summary={','.join(spec.summary)}" if spec.summary else "",
                f"step_metric={spec.step_metric}" if spec.step_metric else "",
                f"goal={spec.goal}" if spec.goal else "",
                "hidden" if spec.hidden else "",
            ]
            click.echo(f"  {spec.name}: " + " ".join(p for p in parts if p))
    if view.alerts:
        click.echo("\nalerts:")
        for a in view.alerts:
            click.echo(f"  {_fmt_time(a.get('t'))} [{a.get('level')}] {a.get('title')}: {a.get('text')}")
    _show_logged(view)
    if view.saved_files:
        click.echo("\nfiles:")
        for rel, rec in sorted(view.saved_files.items()):
            saved_as = f", saved as {rec['name']!r}" if rec.get("name") else ""
            click.echo(f"  {rel}  {rec.get('size')} bytes  ({rec.get('policy')}{saved_as})")


SHOWN_LOGGED = 50


def _producer(run: object) -> str:
    """``project/id (name)`` of a manifest's ``run`` (its fields printable), ``-`` if none."""
    if not isinstance(run, dict) or not isinstance(run.get("id"), str):
        return "-"
    name = run.get("name")
    where = f"{format_value(run.get('project') or '')}/{format_value(run['id'])}"
    return where + (f" ({format_value(name)})" if isinstance(name, str) and name != run["id"] else "")


def _show_logged(view: RunView) -> None:
    """The charts the config describes (wandb.plot, wandb.visualize), the
    artifacts logged (a run_table each table) and used, the first SHOWN_LOGGED of each."""
    text = format_value  # printable: a name read from a run may hold anything
    sections = (
        ("charts", [f"{text(k)}: {text(c['spec'])} over {text(c['table_key'])}" for k, c in view.charts.items()]),
        ("artifacts", [f"{text(a['name'])}:{text(a['version'])} ({text(a['type'])})" for a in view.artifacts]),
        ("used", [f"{text(u['project'] or '')}/{text(u['name'])}:{text(u['version'])}" for u in view.used_artifacts]),
    )
    for title, lines in sections:
        if lines:
            click.echo(f"\n{title}:")
            for line in lines[:SHOWN_LOGGED]:
                click.echo(f"  {line}")
            if len(lines) > SHOWN_LOGGED:
                click.echo(f"  ... {len(lines) - SHOWN_LOGGED} more")


SHOWN_ANNOTATIONS = 20


def _show_annotations(view: RunView) -> None:
    """The annotations merged into the name, tags and notes (the last few), one line each."""
    records = view.annotation_records
    if not records:
        return
    click.echo(f"\nannotations: {len(records)} (renames, tags and notes made after the run, applied in order)")
    if len(records) > SHOWN_ANNOTATIONS:
        click.echo(f"  ... {len(records) - SHOWN_ANNOTATIONS} earlier")
    for rec in records[-SHOWN_ANNOTATIONS:]:
        did = []
        if "name" in rec:
            did.append(f"renamed {rec['name']!r}" if rec["name"] else "name back to the run's own")
        did += [f"+tag {t}" for t in rec.get("tags_add") or ()]
        did += [f"-tag {t}" for t in rec.get("tags_remove") or ()]
        if "notes" in rec:
            chars = rec.get("notes_chars") or len(rec["notes"])
            did.append(f"notes ({chars} characters)" if rec["notes"] else "notes cleared")
        by = f" by {rec['by']}" if rec.get("by") else ""
        click.echo(f"  {_fmt_time(rec.get('t'))}{by}: {'; '.join(did)}")


def _show_environment(view: RunView) -> None:
    env = view.environment
    if not env:
        return
    click.echo("\nenvironment:")
    git = env["git"] if isinstance(env.get("git"), dict) else {}
    sched = env["scheduler"] if isinstance(env.get("scheduler"), dict) else {}
    packages = env.get("packages")
    dirty = " (dirty)" if git.get("dirty") else ""
    items = [
        ("host", env.get("host")),
        ("user", env.get("user")),
        ("python", f"{env.get('python')} ({env.get('executable')})"),
        ("platform", env.get("platform")),
        ("command", " ".join(map(str, env.get("argv") or []))),
        ("cwd", env.get("cwd")),
        (
            "git",
            f"{str(git.get('commit', ''))[:12]} {git.get('branch') or ''}{dirty} {git.get('remote') or ''}".strip(),
        ),
        (sched.get("name"), " ".join(f"{k}={v}" for k, v in sched.items() if k != "name") if sched else None),
        ("packages", f"{len(packages)} installed" if isinstance(packages, list) else None),
        ("GPUs", env.get("cuda_visible_devices")),
    ]
    for k, v in items:
        if k and v:
            click.echo(f"  {k}: {v}")


def _show_sessions(view: RunView) -> None:
    ranks = view.ranks
    if ranks:
        nodes = sorted({str(r["node"]) for r in ranks})
        world = max((r["world_size"] or 0) for r in ranks)
        click.echo(f"\nranks: {len(ranks)} of {world} on {len(nodes)} node(s): {', '.join(nodes)}")
        body = [
            [
                str(r["rank"]),
                str(r["local_rank"] if r["local_rank"] is not None else ""),
                str(r["node"]),
                ",".join(str(p) for p in r["pids"]),
                str(r["rows"]),
                f"CLAIMED BY {r['claims']} PROCESSES AT ONCE" if r["claims"] > 1 else "",
            ]
            for r in ranks
        ]
        for line in _table(body, ["RANK", "LOCAL", "NODE", "PID", "ROWS", ""]).splitlines():
            click.echo("  " + line)
    click.echo("\nsessions:")
    body = []
    for s in view.all_sessions:
        d = s.to_dict()
        end = "finished" if s.finish else ("signal " + (d["signal"] or "")) if s.signal else "-"
        if s.finish and d["exit_code"]:
            end += f" ({d['exit_code']})"
        if s.dropped_by_reset:
            end += " [before reset]"
        if s.shifted_by:
            end += f" [blind: started without seeing the sessions before it; steps moved on by {s.shifted_by}]"
        rank = "" if s.placement is None else str(s.placement.get("rank"))
        body.append([s.id, d["host"] or "", str(d["pid"] or ""), rank, _fmt_time(s.start_t), str(s.rows), end])
    for line in _table(body, ["SESSION", "HOST", "PID", "RANK", "START", "ROWS", "END"]).splitlines():
        click.echo("  " + line)


def _show_integrity(view: RunView) -> None:
    files = [sf for fs in view.files.values() for sf in fs]
    size = sum(sf.size for sf in files)
    if not view.problems:
        click.echo(f"\nintegrity: ok - {len(files)} stream files, {size} bytes, all committed")
        return
    bad = [p for p in view.problems if p.is_corruption]
    click.echo(f"\nintegrity: {'CORRUPT' if bad else 'ok'} - {len(files)} stream files, {size} bytes")
    for p in view.problems:
        click.echo(f"  {p}")


@cli.command("history", context_settings=CONTEXT)
@click.argument("run")
@click.option("--keys", help="Comma-separated keys: the rows that have all of them (as wandb's API).")
@click.option("--any", "any_key", is_flag=True, help="With --keys: the rows that have at least one of them.")
@click.option("--last", "last", type=click.IntRange(min=1), help="Only the last N rows.")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    help="About N points per key: each of N/4 buckets of --x keeps its first, last, min and max (and a NaN).",
)
@click.option(
    "--x", "x", default="_step", show_default=True, help="With --samples: _step, _runtime, _timestamp or a key."
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "jsonl"]), default="table", show_default=True)
@with_context
def history_cmd(
    ctx: click.Context,
    run: str,
    keys: str | None,
    any_key: bool,
    last: int | None,
    samples: int | None,
    x: str,
    fmt: str,
) -> None:
    """Print a run's history rows, with _step, _timestamp and _runtime
    (table output shows _timestamp as local ISO 8601 time and pages long
    tables through $PAGER on a terminal; csv and jsonl keep it in seconds).

    \b
    Example:
        runship history mnist/3k9x2m1a --keys loss,acc --format csv > loss.csv
        runship history mnist/3k9x2m1a --last 20
        runship history mnist/3k9x2m1a --keys loss --samples 1000
    """
    require_extra("read", what=ctx.command_path)
    view = _open(ctx, resolve_run(run, ctx.obj["root"]))
    wanted = _split_keys(keys)
    match = "any" if any_key else "all"
    if samples is None and x != "_step":
        raise click.UsageError("--x goes with --samples")
    if last is not None and samples is not None:
        raise click.UsageError("--last and --samples: choose one")
    known = view.history_keys()
    if samples is not None and x not in DERIVED and x not in known:
        raise click.UsageError(f"--x {x!r}: no such key in this run (and not one of {', '.join(DERIVED)})")
    columns = [*DERIVED, *(wanted if wanted is not None else known)]
    if samples is not None and x not in columns:
        columns.append(x)
    if samples is not None:
        rows = iter(view.history(wanted, match, samples=samples, x=x))
    else:
        rows = view.scan_history(wanted, match=match)
    if last is not None:
        rows = iter(collections.deque(rows, maxlen=last))
    found = _print_rows(rows, fmt, None if fmt == "jsonl" else columns, empty="no rows", times=fmt == "table")
    _warn_unknown(wanted, found, lambda: known)


@cli.command("system", context_settings=CONTEXT)
@click.argument("run")
@click.option("--keys", help="Comma-separated metrics, e.g. cpu,gpu.0.gpu.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "jsonl"]), default="table", show_default=True)
@with_context
def system_cmd(ctx: click.Context, run: str, keys: str | None, fmt: str) -> None:
    """Print a run's system metrics: CPU, memory, disk, network, GPUs.

    \b
    Example:
        runship system mnist/3k9x2m1a --keys cpu,gpu.0.gpu,gpu.0.memoryAllocated
    """
    view = _open(ctx, resolve_run(run, ctx.obj["root"]))
    wanted = _split_keys(keys)
    found = _print_rows(view.system(wanted), fmt, None, empty="no system metrics recorded", times=fmt == "table")
    _warn_unknown(wanted, found, lambda: (k for row in view.system() for k in row))


def _split_keys(keys: str | None) -> list[str] | None:
    return [k.strip() for k in keys.split(",") if k.strip()] if keys else None


def _warn_unknown(wanted: list[str] | None, found: set[str], every_key: Callable[[], Iterable[str]]) -> None:
    """Name the keys asked for that no printed row had, and whether the run
    has them at all (a typo is said, not silently dropped)."""
    missing = [k for k in wanted or () if k not in found]
    if not missing:
        return
    known = set(every_key())
    absent = [k for k in missing if k not in known]
    if absent:
        some = ", ".join(sorted(k for k in known if not k.startswith("_"))[:20])
        click.echo(f"runship: no key {', '.join(map(repr, absent))} in this run (it has: {some or 'none'})", err=True)
    elif len(wanted or ()) > 1:
        click.echo(f"runship: no row has all of {', '.join(map(repr, wanted or ()))} together; try --any", err=True)


def _print_rows(
    rows: Iterable[dict[str, Any]], fmt: str, columns: list[str] | None, empty: str, times: bool = False
) -> set[str]:
    """Rows of dicts as JSON lines, CSV or an aligned table (history, system);
    returns the keys seen. ``times``: _timestamp as local ISO 8601."""
    found: set[str] = set()

    def noting(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            found.update(row)
            yield row

    rows = noting(rows)
    if fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(json_safe(row)))
        return found
    if columns is None:
        rows = list(rows)
        columns = list(dict.fromkeys(k for row in rows for k in row))
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow([_csv_value(row.get(c)) for c in columns])
        return found
    body = [
        [_iso(row.get(c)) if times and c == "_timestamp" else format_value(row.get(c)) for c in columns] for row in rows
    ]
    text = _table(body, columns) if body else empty
    if sys.stdout.isatty() and text.count("\n") >= shutil.get_terminal_size().lines:
        click.echo_via_pager(text + "\n")
    else:
        click.echo(text)
    return found


def _iso(t: object) -> str:
    if not isinstance(t, (int, float)):
        return format_value(t)
    return datetime.datetime.fromtimestamp(t).astimezone().isoformat(timespec="milliseconds")


def _csv_value(v: object) -> object:
    if isinstance(v, (dict, list)):
        return json.dumps(json_safe(v), separators=(",", ":"))
    return "" if v is None else v


@cli.command("console", context_settings=CONTEXT)
@click.argument("run")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends (Ctrl-C to stop).")
@click.option("--stream", "which", type=click.Choice(["both", "stdout", "stderr"]), default="both", show_default=True)
@click.option("--rank", type=click.IntRange(0), help="A distributed run: only this rank's lines.")
@with_context
@interrupts.leaving("the lines written after this were not shown")
def console_cmd(ctx: click.Context, run: str, follow: bool, which: str, rank: int | None) -> None:
    """Print what a run wrote to stdout and stderr. In a distributed run
    every rank's lines, each after its rank (``[3] ...``), or --rank's.

    \b
    Example:
        runship console mnist/3k9x2m1a --follow
        runship console mnist/slurm-1234.0 --rank 3
    """
    location = resolve_run(run, ctx.obj["root"])
    shown = 0
    bar = _Bar(follow)
    while True:
        view = _open(ctx, location)
        everything = [line for line in view.console(rank=rank) if which in ("both", line["stream"])]
        lines = [line for line in everything if not line.get("partial")]
        bar.clear()
        for line in lines[shown:] + bar.after(everything):
            text = line["text"] if rank is not None or "rank" not in line else f"[{line['rank']}] {line['text']}"
            click.echo(text, err=which == "both" and line["stream"] == "stderr")
        shown = max(shown, len(lines))  # a poll that read less (a file being replaced) never repeats lines
        bar.show(everything)
        if not follow or view.state in ("finished", "terminated", "crashed"):
            return
        time.sleep(0.5)


class _Bar:
    """The lines not ended yet (a progress bar; ``"partial"``) as ``runship
    console`` shows them: once, after the others; with --follow on a
    terminal, drawn in place (``\\r``) and cleared before the next lines,
    elsewhere left out (a file would keep every state)."""

    def __init__(self, follow: bool):
        self.follow = follow
        self.tty = follow and sys.stdout.isatty()
        self.drawn = False

    def after(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The partial lines to print as lines: all of them unless following."""
        return [] if self.follow else [line for line in lines if line.get("partial")]

    def clear(self) -> None:
        if self.drawn:
            click.echo("\r\x1b[K", nl=False)
            self.drawn = False

    def show(self, lines: list[dict[str, Any]]) -> None:
        partial = [line for line in lines if line.get("partial")]
        if self.tty and partial:
            text = "".join(c if c.isprintable() else "?" for c in str(partial[-1]["text"]))
            click.echo("\r" + text[: shutil.get_terminal_size().columns - 1], nl=False)
            self.drawn = True


@cli.command("cat", context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--raw", is_flag=True, help="Every msgpack value with its byte offset, no checks.")
@click.option(
    "--rows",
    "per_row",
    is_flag=True,
    help='Each block of rows (a "rows" record) as one line per row, shaped like a "row" record, with the block\'s n.',
)
@library_errors
def cat_cmd(files: tuple[str, ...], raw: bool, per_row: bool) -> None:
    """Print stream files as JSON lines, one file after another: each file's
    header, then its committed records; problems (uncommitted tail,
    corruption) go to stderr. Exit status 1 if a file is corrupt.

    A block of history rows is one record (kind "rows", docs/FORMAT.md);
    --rows prints each of its rows on a line of its own instead.

    \b
    Example:
        runship cat runship-runs/mnist/3k9x2m1a/run-*.msgpack
        runship cat --rows runship-runs/mnist/3k9x2m1a/run-*.msgpack | tail -n 3
    """
    if raw and per_row:
        raise click.UsageError("--raw prints the bytes as they are: it cannot take --rows")
    corrupt = False
    for file in files:
        corrupt |= _cat_one(file, raw, per_row)
    if corrupt:
        sys.exit(1)


def _cat_one(file: str, raw: bool, per_row: bool = False) -> bool:
    """Print one file; True if it is corrupt."""
    sf = describe(file) or StreamFile(path=file, name=os.path.basename(file), stream="?", session="?", segment=0)
    if not raw and describe(file) is None:
        raise click.UsageError(f"{file} is not named like a stream file (<stream>-<session>-<segment>.msgpack)")
    with safefile.open_file(os.path.dirname(os.path.abspath(file)), os.path.basename(file)) as f:
        if raw:
            return _cat_raw(f)
        header_shown = False
        for rec in iter_records(f, sf):
            if not header_shown and sf.header is not None:
                click.echo(json.dumps(json_safe(sf.header)))
                header_shown = True
            if per_row and rec["k"] == ROWS:
                for values, step, t in rows_of_record(rec):
                    click.echo(json.dumps(json_safe({"k": ROW, "block": rec["n"], "t": t, "s": step, "d": values})))
            else:
                click.echo(json.dumps(json_safe(rec)))
    if not header_shown and sf.header is not None:
        click.echo(json.dumps(json_safe(sf.header)))
    for p in sf.problems:
        click.echo(f"runship: {p}", err=True)
    return any(p.is_corruption for p in sf.problems)


def _cat_raw(f: BinaryIO) -> bool:
    """Every msgpack value of a file with its byte offset, streamed, decoded
    with the format's limits; True if undecodable bytes stop it."""
    unpacker = msgpack.Unpacker(f, read_size=1 << 20, max_buffer_size=limits.MAX_RECORD_BYTES, **limits.DECODE)
    pos = 0
    try:
        for obj in unpacker:
            click.echo(json.dumps({"offset": pos, "value": json_safe(obj)}))
            pos = unpacker.tell()
    except BrokenPipeError:
        raise
    except Exception as e:
        click.echo(f"undecodable bytes at {pos}: {type(e).__name__}: {e}", err=True)
        return True
    size = os.fstat(f.fileno()).st_size
    if pos < size:
        click.echo(f"{size - pos} bytes of a partial value at {pos}", err=True)
    return False


@cli.command("verify", context_settings=CONTEXT)
@click.argument("runs", nargs=-1, required=True)
@with_context
def verify_cmd(ctx: click.Context, runs: tuple[str, ...]) -> None:
    """Check every stream file of each RUN: every batch against its checksum.

    Exit status 1 if any run has corruption. Uncommitted tails (a crash while
    writing, or a run still writing) are reported but are not corruption.

    \b
    Example:
        runship verify mnist/3k9x2m1a mnist/7hq2x0pz
    """
    failed = 0
    for ref in runs:
        view = _open(ctx, resolve_run(ref, ctx.obj["root"]))
        problems = view.verify()
        files = [sf for fs in view.files.values() for sf in fs]
        records = sum(sf.records for sf in files)
        size = sum(sf.size for sf in files)
        bad = [p for p in problems if p.is_corruption]
        verdict = "CORRUPT" if bad else "ok"
        click.echo(
            f"{verdict} {view.project}/{view.id}: {len(files)} files, {size} bytes, "
            f"{records} committed records, state {view.state}"
        )
        for p in problems:
            click.echo(f"  {'error' if p.is_corruption else 'note'}: {p}")
        failed += bool(bad)
    if failed:
        sys.exit(1)


def _uploader_config(fn: F) -> F:
    """--token-file and --config, as `runship upload` and `runship status` take them."""
    fn = click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), help="INI config file. [$RUNSHIP_UPLOAD_CONFIG]"
    )(fn)
    return click.option(
        "--token-file",
        type=click.Path(dir_okay=False),
        help="File holding the token for an http(s):// runship server (mode 600). "
        "[else $RUNSHIP_TOKEN, the token itself]",
    )(fn)


@cli.command("upload", context_settings=CONTEXT)
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--to", "to", metavar="URL", help="Where to: s3://bucket/prefix, file:///path, any fsspec URL. [$RUNSHIP_UPLOAD_TO]"
)
@click.option("--once", is_flag=True, help="One pass, then exit (for cron). [default]")
@click.option("--watch", is_flag=True, help="Keep polling until SIGTERM/SIGINT (a daemon).")
@click.option("--interval", type=click.FloatRange(min=0.1), help="Seconds between passes with --watch. [default: 60]")
@click.option("--project", help="Only runs of this project.")
@click.option("--run", "run_filter", help="Only this run: an id, project/id or a run directory.")
@click.option("--follow", is_flag=True, help="With --watch --run: exit once that run is finished and uploaded.")
@click.option(
    "--pass-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=3600.0,
    show_default=True,
    help="A pass longer than this ends the process with status 1 (a call that never returned).",
)
@click.option("--follow-pid", type=int, hidden=True, help="With --follow: also stop once this process is gone.")
@click.option(
    "--secrets-fd",
    type=int,
    hidden=True,
    help="Read the target URL, token and storage options as JSON from this inherited descriptor (mode='online').",
)
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    help="Send the token over plain http:// to a host that is not this machine (only on a network you trust).",
)
@click.option("--dry-run", is_flag=True, help="List what would be uploaded; upload nothing.")
@click.option(
    "--verify-remote",
    is_flag=True,
    help="Ask the target about every file, also of runs already up (after the remote was wiped or restored).",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False),
    help="State directory. [default: $XDG_STATE_HOME/runship/upload]",
)
@_storage_option("fsspec storage option, e.g. endpoint_url=http://minio:9000 (repeatable).")
@_uploader_config
@click.option("--quiet", "-q", is_flag=True, help="Only errors and the summary line.")
@click.option("--verbose", "-v", is_flag=True, help="A line per run uploaded.")
@click.pass_context
def upload_cmd(
    ctx: click.Context,
    roots: tuple[str, ...],
    to: str | None,
    once: bool,
    watch: bool,
    interval: float | None,
    project: str | None,
    run_filter: str | None,
    follow: bool,
    pass_timeout: float,
    follow_pid: int | None,
    secrets_fd: int | None,
    allow_insecure_http: bool,
    dry_run: bool,
    verify_remote: bool,
    state_dir: str | None,
    storage_options: tuple[str, ...],
    token_file: str | None,
    config_path: str | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Upload run directories under ROOT... (default: --root) to URL: only
    new committed bytes, resuming where the last pass stopped. A ROOT may
    also be a project directory or a run directory (same names in the target).

    Exit status: 0 everything reachable is uploaded; 1 something failed (the
    summary line says what), or a path does not exist or holds no run (not
    with --watch, which stops at the start only for a path that does not
    exist); 2 bad arguments (a file, a directory inside a run); 75 try again:
    another uploader holds the state directory, or files of a live run
    changed in the last seconds and were left to settle (named on stderr);
    130 (143) interrupted by SIGINT (SIGTERM), the next pass goes on from
    there (--watch: SIGTERM is its stop, exit 0). A run that has finished or
    crashed has all its files shipped in the same pass.

    \b
    Example:
        runship upload /scratch/$USER/runship-runs --to s3://lab-runs/hpc --once
        runship upload /scratch/$USER/runship-runs --to file:///backup/runs --watch --interval 30
    """
    from runship.uploader.runner import UploadCommand, read_secrets

    if once and watch:
        raise click.UsageError("--once and --watch: choose one (--once is the default)")
    if interval is not None and not watch:
        raise click.UsageError("--interval is for --watch")
    mode = "watch" if watch else "once"
    try:
        secrets = read_secrets(secrets_fd) if secrets_fd is not None else None
    except (UsageError, OSError) as e:
        raise click.UsageError(f"--secrets-fd {secrets_fd}: {e}") from None
    code = UploadCommand(
        roots=list(roots) or None,
        default_root=ctx.obj["root"],
        to=to,
        mode=mode,
        interval=interval,
        project=project,
        run_filter=run_filter,
        follow=follow,
        follow_pid=follow_pid,
        dry_run=dry_run,
        verify_remote=verify_remote,
        pass_timeout=pass_timeout,
        state_dir=state_dir,
        # `runship -o K=V upload` as `runship upload -o K=V` (the command's own win)
        storage_options=tuple((ctx.obj or {}).get("so_pairs", ())) + tuple(storage_options),
        token_file=token_file,
        config_path=config_path,
        verbosity=0 if quiet else (2 if verbose else 1),
        allow_insecure_http=allow_insecure_http,
        secrets=secrets,
    ).run()
    sys.exit(code)


@cli.command("status", context_settings=CONTEXT)
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False))
@click.option("--to", "to", metavar="URL", callback=_location, help="The upload target. [$RUNSHIP_UPLOAD_TO]")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help="The uploader's state directory.")
@click.option(
    "--remote", "ask_remote", is_flag=True, help="Ask the target for its sizes instead of trusting the state."
)
@_storage_option()
@_uploader_config
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@with_context
def status_cmd(
    ctx: click.Context,
    roots: tuple[str, ...],
    to: str | None,
    state_dir: str | None,
    ask_remote: bool,
    storage_options: tuple[str, ...],
    token_file: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Per run under ROOT... (a root, a project or a run directory; default:
    as `runship upload`: the config file, $RUNSHIP_UPLOAD_ROOTS, --root): local bytes, uploaded bytes, state, last
    upload, last error, files skipped on purpose.

    \b
    Example:
        runship status /scratch/$USER/runship-runs --to s3://lab-runs/hpc
        runship status --config ~/.config/runship/upload.ini
    """
    from runship.uploader.runner import upload_status

    rows = upload_status(
        list(roots) or None,
        ctx.obj["root"],
        to,
        state_dir,
        ask_remote,
        storage_options,
        token_file=token_file,
        config_path=config_path,
    )
    if as_json:
        for r in rows:
            click.echo(json.dumps(r))
        return
    if not rows:
        click.echo("no runs")
        return
    body = [
        [
            r["project"],
            r["id"],
            r["state"],
            str(r["local_bytes"]),
            str(r["uploaded_bytes"]),
            r["upload"],
            str(len(r["skipped"])),
            _fmt_time(r["last_upload"]),
            r["error"] or "",
        ]
        for r in rows
    ]
    headers = ["PROJECT", "ID", "STATE", "LOCAL", "UPLOADED", "UPLOAD", "SKIPPED", "LAST UPLOAD", "ERROR"]
    click.echo(_table(body, headers))
    waiting = [(r, w) for r in rows for w in r.get("waiting") or []]
    if waiting:
        click.echo("\nwaiting (changed in the last seconds of a live run; the next pass ships them):")
        for r, what in waiting:
            click.echo(f"  {r['project']}/{r['id']}: {what}")
    skipped = [(r, s) for r in rows for s in r["skipped"]]
    if skipped:
        click.echo("\nskipped (not regular files, or names runship does not store; never uploaded):")
        for r, what in skipped:
            click.echo(f"  {r['project']}/{r['id']}: {what}")


GUARD_LIMITS = (  # the connection guard's limits: option, type, help
    ("--head-timeout", click.FloatRange(0.1), "Seconds a client may take to send a request's head. [10]"),
    ("--body-timeout", click.FloatRange(0.1), "Seconds of silence allowed while a body is sent. [30]"),
    (
        "--max-connections",
        click.IntRange(16),
        "Open connections at most. [the open-file limit less 128 less the listen backlog]",
    ),
    ("--per-client", click.IntRange(1), "Open connections of one client address at most. [256]"),
)


def guard_options(fn: F) -> F:
    """The connection guard's options, the same for ``serve`` and ``ui``."""
    options = [click.option(name, type=kind, help=text) for name, kind, text in GUARD_LIMITS]
    options.append(
        click.option(
            "--allow-host",
            "allow_hosts",
            multiple=True,
            metavar="NAME",
            help="Answer requests whose Host is NAME (a reverse proxy's name), besides the loopback names and "
            "--host; repeatable. Others get 400 (DNS rebinding). [any name when --host is 0.0.0.0 or ::]",
        )
    )
    for option in reversed(options):
        fn = option(fn)
    return fn


class GuardArgs(TypedDict):
    """What ``guard_options`` hands a command: the limits given (None: the
    default) and the extra Host names."""

    head_timeout: float | None
    body_timeout: float | None
    max_connections: int | None
    per_client: int | None
    allow_hosts: tuple[str, ...]


def guard_limits(command: str, guard: GuardArgs) -> Limits:
    """The guard's ``Limits``: the options given, defaults for the rest."""
    try:
        from runship.web.guard import Limits
    except ImportError as e:
        raise RuntimeError(f"runship {command} cannot start: {e} (reinstall runship: pip install runship)") from None

    given: dict[str, Any] = {k: v for k, v in guard.items() if k != "allow_hosts" and v is not None}
    return Limits(**given)


@contextlib.contextmanager
def _starting() -> Iterator[None]:
    """A web command's start (``serve``, ``ui``): an argument that cannot work
    is a usage error (exit 2), any other failure one line (exit 1)."""
    try:
        yield
    except UsageError as e:
        raise click.UsageError(str(e)) from None
    except (ValueError, RuntimeError, OSError) as e:
        raise click.ClickException(str(e)) from None


@cli.command("serve", context_settings=CONTEXT)
@click.option(
    "--root",
    "serve_root",
    required=True,
    callback=_location,
    help="Where runs are stored: a directory or an fsspec URL.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="Tokens, one a line: TOKEN [r|w|rw] [projects|*] [label]. Mode 600: refused if others may read it.",
)
@click.option("--no-auth", is_flag=True, help="No tokens (refused unless --host is a loopback address).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--max-body", type=click.IntRange(1), help="Largest request body in bytes. [default: 64 MiB]")
@click.option("--cert", type=click.Path(dir_okay=False), help="TLS certificate (PEM).")
@click.option("--key", type=click.Path(dir_okay=False), help="TLS private key (PEM).")
@click.option("--public-docs", is_flag=True, help="Serve /docs and /openapi.json without a token.")
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="IP",
    help="Believe X-Forwarded-For/-Proto from this address (a reverse proxy); repeatable. [default: from nobody]",
)
@guard_options
@click.pass_context
@interrupts.until_stopped("requests in flight were answered, no new ones are taken")
def serve_cmd(
    ctx: click.Context,
    serve_root: str,
    host: str,
    port: int,
    token_file: str | None,
    no_auth: bool,
    workers: int,
    max_body: int | None,
    cert: str | None,
    key: str | None,
    public_docs: bool,
    trusted_proxies: tuple[str, ...],
    **guard: Unpack[GuardArgs],
) -> None:
    """Run the runship server: the uploader pushes to it (http(s)://), and
    it serves runs, state and history over HTTP. At start it prints its URL,
    root and tokens (labels and scopes); then one JSON access-log line per
    request on stderr (a 5xx's with its cause and request id); SIGTERM
    finishes in-flight requests.

    \b
    Example:
        runship serve --root /srv/runship --host 0.0.0.0 --port 8443 --token-file /etc/runship/tokens --cert c.pem --key k.pem
        runship upload /scratch/$USER/runship-runs --to https://runs.example.org:8443 --token-file ~/.runship-token
    """
    require_extra("server", what="runship serve")
    from runship.web.launch import serve

    with _starting():
        serve(
            serve_root,
            host=host,
            port=port,
            token_file=token_file,
            no_auth=no_auth,
            workers=workers,
            max_body=max_body,
            certfile=cert,
            keyfile=key,
            storage_options=ctx.obj["so"],
            public_docs=public_docs,
            trusted_proxies=trusted_proxies,
            limits=guard_limits("serve", guard),
            allow_hosts=guard["allow_hosts"],
            log=lambda m: click.echo(m, err=True),
        )


def _seconds(name: str, at_least: float, default: float, text: str) -> Callable[[F], F]:
    """An option of seconds, at least ``at_least``, its default shown in the help."""
    return click.option(name, type=click.FloatRange(at_least), default=default, show_default=True, help=text)


def _export_target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click callback: ``KIND:DEST`` with a well-formed DEST, else a usage error (exit 2)."""
    from runship.errors import UsageError
    from runship.export import parse_target

    try:
        parse_target(value)
    except UsageError as e:
        raise click.BadParameter(str(e), ctx, param) from None
    return value


@cli.command("export", context_settings=CONTEXT)
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--to",
    "to",
    required=True,
    callback=_export_target,
    metavar="KIND:DEST",
    help="parquet:DIR_OR_URL (any fsspec URL), tensorboard:DIR, wandb:ENTITY/PROJECT, mlflow:TRACKING_URI.",
)
@click.option("--offline", is_flag=True, help="wandb: write wandb's offline runs (under $WANDB_DIR) for `wandb sync`.")
@click.option("--project", help="Only runs of this project.")
@click.option("--since", help="Only runs written to since then: a date (2026-11-01) or an age (2h, 30m, 7d).")
@click.option("--watch", is_flag=True, help="Export again every --interval seconds until stopped (SIGTERM, Ctrl-C).")
@_seconds("--interval", 1, 60.0, "Seconds between exports.")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False),
    help="Where what was exported is kept (the uploader's state store). [default: the uploader's]",
)
@with_context
@interrupts.leaving("the next export goes on from where this one stopped")
def export_cmd(
    ctx: click.Context,
    sources: tuple[str, ...],
    to: str,
    offline: bool,
    project: str | None,
    since: str | None,
    watch: bool,
    interval: float,
    state_dir: str | None,
) -> None:
    """Export runs (run directories, project directories, or every run under
    a root) to another tool's form, incrementally: a second export sends only what is new, an
    interrupted one goes on where the last ended.

    \b
    Example:
        runship -o endpoint_url=http://minio:9000 export /scratch/$USER/runship-runs --to parquet:s3://lake/runship
        duckdb -c "SELECT * FROM read_parquet('lake/mnist/history/*/*.parquet', hive_partitioning=true, union_by_name=true)"
    """
    import threading

    from runship.export import export, parse_since
    from runship.reader.listing import classify_local
    from runship.uploader.state import Busy, default_state_dir

    for source in sources:
        located = classify_local(source)
        if not located.usable:  # a file, or a directory inside a run: a bad argument, at once
            raise click.UsageError(located.reason)
    start_after = parse_since(since) if since else None
    stop = threading.Event()
    # --watch: the export in flight ends first; SIGTERM is a daemon's stop, SIGINT an interrupt
    stopped_by = interrupts.stopping(stop) if watch else []
    while True:
        try:
            changed, failed = export(
                list(sources),
                to,
                state_dir or default_state_dir(),
                project=project,
                storage_options=ctx.obj["so"],
                offline=offline,
                since=start_after,
                log=lambda m: click.echo(m, err=True),
                allow_empty=watch,  # a one-shot export of a path with no run fails; a --watch waits for runs
            )
        except Busy as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"exported to {to}: {changed} run(s) with new rows" + (f", {failed} failed" if failed else ""))
        if not watch or stop.wait(interval):
            break
    if stopped_by[:1] == [signal.SIGINT]:
        raise interrupts.Interrupted(signal.SIGINT, "between exports, nothing left unfinished", "runship export")
    # as runship upload: 1 when a run could not be exported (the next export tries it again)
    sys.exit(1 if failed else 0)


@cli.group("sweep", context_settings=CONTEXT)
def sweep_group() -> None:
    """Hyperparameter sweeps with no server: a sweep directory under the
    root, agents on any nodes that share it (a Slurm array).

    \b
    Example:
        runship sweep create sweep.yaml --project mnist       # prints the sweep's id
        sbatch --array=0-99 --wrap "runship sweep agent mnist/SWEEP_ID -- python train.py"
        runship sweep status mnist/SWEEP_ID
    """


@sweep_group.command("create", context_settings=CONTEXT)
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--project", help="The project its runs go to. [default: the spec's project, else $RUNSHIP_PROJECT]")
@click.option("--id", "sweep_id", help="The sweep's id. [default: 8 random characters]")
@_seconds(
    "--lost-after",
    1,
    600.0,
    "Seconds without a heartbeat after which a trial's agent is taken for dead and the trial is offered again.",
)
@with_context
def sweep_create_cmd(
    ctx: click.Context, spec_file: str, project: str | None, sweep_id: str | None, lost_after: float
) -> None:
    """Create a sweep from SPEC_FILE (wandb's sweep YAML, or JSON): method
    grid, random or bayes (bayes needs `pip install 'runship[sweep]'`),
    metric, parameters, early_terminate (hyperband), run_cap."""
    from runship.sweep import Sweep, SweepSpecError, load
    from runship.writer.init import env

    try:
        spec = load(spec_file)
    except SweepSpecError as e:
        raise click.ClickException(str(e)) from None
    name = project or spec.get("project") or env("PROJECT") or "uncategorized"
    made = Sweep.create(ctx.obj["root"], name, spec, sweep_id=sweep_id, lost_after=lost_after)
    size = made.size()
    program = made.spec.get("program")
    # the agent runs the spec's program itself (python PROGRAM --name=value ...); else the command is the user's
    how = (
        f"(runs python {shlex.quote(program)} with the params as --name=value)"
        if program
        else "-- python YOUR_SCRIPT.py"
    )
    click.echo(f"{made.project}/{made.id}")
    click.echo(
        f"created sweep {made.project}/{made.id} ({spec['method']}, {size if size is not None else 'no limit to the'} trials) "
        f"in {made.dir}; run agents with: runship sweep agent {made.project}/{made.id} {how}",
        err=True,
    )


@sweep_group.command("agent", context_settings=CONTEXT)
@click.argument("sweep")
@click.argument("command", nargs=-1, required=False)
@click.option("--count", type=click.IntRange(1), help="Run at most this many trials. [default: until none is left]")
@click.option("--args", "with_args", is_flag=True, help="Also give the trial's params as --name=value arguments.")
@click.option("--no-wait", is_flag=True, help="Leave when nothing can be claimed, even while other agents' trials run.")
@_seconds(
    "--kill-after",
    0,
    10.0,
    "Seconds a trial has to end after the agent is stopped (SIGINT, SIGTERM) before it is killed.",
)
@with_context
def sweep_agent_cmd(
    ctx: click.Context,
    sweep: str,
    command: tuple[str, ...],
    count: int | None,
    with_args: bool,
    no_wait: bool,
    kill_after: float,
) -> None:
    """Claim trials of SWEEP one after another and run COMMAND for each
    (after `--`; default: the spec's program with python, when the spec is
    yours alone, with the params as --name=value). The trial's
    params reach the script as its run's config; its result is the run's
    summary value of the sweep's metric. Exits 1 when no trial it ran
    succeeded (0 when it ran none: the sweep was done). Stopped (Ctrl-C,
    SIGTERM from scancel), it passes the signal to the trial, kills it after
    --kill-after seconds, releases it (offered again at once) and exits 130
    (SIGINT) or 143 (SIGTERM).

    \b
    Example:
        runship sweep agent mnist/k2j4h5g6 --count 1 -- python train.py
    """
    from runship.sweep import Sweep
    from runship.sweep.agent import Interrupt, agent

    found = Sweep.open(ctx.obj["root"], sweep)
    cmd = list(command) or _spec_program(found)
    interrupt = Interrupt(kill_after)
    interrupt.install()
    tally = agent(found, command=cmd, count=count, args=with_args or not command, wait=not no_wait, interrupt=interrupt)
    name = f"{found.project}/{found.id}"
    ran = f"ran {tally.ran} trial(s) of {name}, {tally.succeeded} succeeded"
    if interrupt.signum is not None:
        import signal

        left = (
            f"trial {tally.released.index} left unfinished: released, offered again at once to the next agent"
            if tally.released is not None
            else "no trial was running"
        )
        click.echo(f"runship agent: interrupted ({signal.Signals(interrupt.signum).name}): {left}; {ran}", err=True)
        sys.exit(128 + interrupt.signum)
    click.echo(f"runship agent: {ran}", err=True)
    if tally.ran and not tally.succeeded:
        raise click.ClickException(f"none of the {tally.ran} trial(s) this agent ran succeeded")


def _spec_program(found: Sweep) -> list[str]:
    """``python <program>`` for the spec's program: only from a spec that is
    this user's alone (another user's spec chooses no code to run), and only
    a file (the spec checked it is a path, not an option)."""
    name = f"{found.project}/{found.id}"
    program = found.spec.get("program")
    if not program:
        raise click.UsageError("give the command after --, e.g. -- python train.py (the spec has no program)")
    if not found.program_trusted():
        raise click.ClickException(
            f"sweep {name}: {found.untrusted}, so its program {program!r} is not run; "
            "give the command after --, e.g. -- python train.py"
        )
    if not os.path.isfile(program):
        raise click.ClickException(f"sweep {name}: its program {program!r} is not a file here ({os.getcwd()})")
    return [sys.executable, program]


@sweep_group.command("status", context_settings=CONTEXT)
@click.argument("sweep")
@click.option("--json", "as_json", is_flag=True, help="The trials as JSON.")
@with_context
def sweep_status_cmd(ctx: click.Context, sweep: str, as_json: bool) -> None:
    """Trials of SWEEP: state (finished, failed, stopped, running, lost, interrupted),
    attempts, params, metric, run; and the best so far. The root may be
    where `runship upload` sent the runs (a directory, file:// or an object
    store such as s3://): their sweeps went with them.

    \b
    Example:
        runship --root s3://bucket/runs sweep status mnist/k2j4h5g6
    """
    import tempfile

    from runship.sweep.remote import open_sweep

    with tempfile.TemporaryDirectory(prefix="runship-sweep-") as workdir:
        status = open_sweep(ctx.obj["root"], sweep, ctx.obj["so"], workdir).status()
    if as_json:
        click.echo(json.dumps(json_safe(status, strict_json=True), indent=1))
        return
    trials = status["trials"]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["state"]] = counts.get(t["state"], 0) + 1
    size = status["size"]
    metric = status["metric"]
    click.echo(
        f"sweep {status['sweep']} ({status['method']}"
        + (f", {metric['goal']} {metric['name']}" if metric else "")
        + f"): {len(trials)} of {size if size is not None else '?'} trials: "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    )
    body = [
        [
            str(t["index"]),
            t["state"],
            str(t["attempts"]),
            format_value(t["metric"]) if t["metric"] is not None else "",
            str(t["run_id"] or ""),
            json.dumps(t["params"], sort_keys=True)[:80],
        ]
        for t in trials
    ]
    if body:
        click.echo(_table(body, ["TRIAL", "STATE", "TRIES", "METRIC", "RUN", "PARAMS"]))
    best = status["best"]
    if best is not None:
        click.echo(
            f"best: trial {best['index']} ({best['run_id']}): {metric['name']} = {format_value(best['metric'])}, {json.dumps(best['params'], sort_keys=True)}"
        )


@cli.group("import", context_settings=CONTEXT)
def import_group() -> None:
    """Make runship runs from other loggers' files.

    \b
    Example:
        runship import tensorboard runs/CartPole-v1__ppo__1 --project cleanrl
    """


def _warn(message: str) -> None:
    click.echo(f"runship: {message}", err=True)


@import_group.command("wandb", context_settings=CONTEXT)
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--project", help="The project of the new runs. [default: each wandb run's own]")
@click.option(
    "--resume", is_flag=True, help="When a run exists, add what the log holds past its last step as a new session."
)
@with_context
def import_wandb_cmd(ctx: click.Context, run_dirs: tuple[str, ...], project: str | None, resume: bool) -> None:
    """Runs (under --root) from wandb's offline run directories
    (wandb/offline-run-*): config, history at its steps, summary, tags,
    group, job type and files, under the same run ids. A run that exists
    is left alone unless --resume is given; then only the rows at steps
    past the run's are added (nothing, and no new session, when the log
    holds nothing new). Links, FIFOs and devices in a
    run directory are reported, never read; a record with a bad CRC or
    larger than 16 MiB is reported and skipped.

    \b
    Example:
        runship --root runship-runs import wandb wandb/offline-run-20260101_120000-3k9x2m1a
    """
    from runship.integration.wandb_import import import_offline_run

    for run_dir in run_dirs:
        try:
            run = import_offline_run(run_dir, root=ctx.obj["root"], project=project, resume=resume, warn=_warn)
        except safefile.NotRegular as e:
            raise click.ClickException(f"{e.filename}: {e.strerror}") from None
        except (FileNotFoundError, FileExistsError, ValueError) as e:
            raise click.ClickException(f"{run_dir}: {e}") from None
        if run is None:
            click.echo(f"{run_dir}: nothing new since its last import")
        else:
            click.echo(f"imported {run_dir} as {run.project}/{run.id} ({run.step} steps) in {run.run_dir}")


@import_group.command("mlflow", context_settings=CONTEXT)
@click.argument("uri")
@click.option("--experiment", required=True, help="The MLflow experiment whose runs are imported.")
@click.option("--project", help="The project of the new runs. [default: the experiment's name]")
@with_context
def import_mlflow_cmd(ctx: click.Context, uri: str, experiment: str, project: str | None) -> None:
    """Runs (under --root) from an MLflow experiment: params as config, each
    metric's history at its steps, tags. Needs mlflow.

    \b
    Example:
        runship import mlflow sqlite:///mlflow.db --experiment mnist
    """
    from runship.export.mlflow import import_experiment

    try:
        runs = import_experiment(uri, experiment, root=ctx.obj["root"], project=project)
    except (ImportError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"imported {len(runs)} run(s) of {experiment} from {uri}")


@import_group.command("tensorboard", context_settings=CONTEXT)
@click.argument("logdir", type=click.Path(exists=True, file_okay=False))
@click.option("--project", help="The project of the runs. [default: LOGDIR's name, made a valid project name]")
@click.option("--name", help="The name of LOGDIR's own run, the prefix of the others'. [default: LOGDIR's name]")
@with_context
def import_tensorboard_cmd(ctx: click.Context, logdir: str, project: str | None, name: str | None) -> None:
    """Runs (under --root) from the TensorBoard event files under LOGDIR:
    one per directory holding event files, as TensorBoard shows them;
    scalars, histograms, images and text as history rows, each with the
    writer's step as global_step. Importing the same LOGDIR again adds only
    the events written since to the same runs (a record still being written
    waits for the next import). Needs the tensorboard package.

    \b
    Example:
        runship --root runship-runs import tensorboard runs/CartPole-v1__ppo__1    # project CartPole-v1__ppo__1
        runship --root runship-runs import tensorboard runs --project cleanrl    # every run under runs/
    """
    from runship.integration.tensorboard_import import import_logdir
    from runship.schema import names

    if project is None:
        project = names.safe_id(os.path.basename(os.path.abspath(logdir)), "tensorboard")
        _warn(f"project {project} (the name of {logdir}; --project chooses another)")
    try:
        done = import_logdir(logdir, project=project, name=name, root=ctx.obj["root"], warn=_warn)
    except (ImportError, FileNotFoundError, FileExistsError, BlockingIOError) as e:
        raise click.ClickException(str(e)) from None
    for run in done:
        where = f"{run.project}/{run.run_id}"
        if run.added:
            click.echo(f"imported {run.name} as {where} ({run.added} rows added, {run.rows} in all) in {run.run_dir}")
        elif run.rows:
            click.echo(f"{run.name}: nothing new since the last import into {where} ({run.rows} rows)")
        else:
            click.echo(f"{run.name}: no values in its event files yet: no run made")


@cli.group("workspace", context_settings=CONTEXT)
def workspace_group() -> None:
    """Saved workspaces (the layouts `runship ui` saves): list, show, remove.
    They live beside the runs: <root>/<project>/.workspaces/<name>.json
    (the all-projects view's in <root>/.workspaces/), or in a runship server.

    \b
    Example:
        runship workspace ls --project mnist
        runship workspace show "my view" --project mnist > view.json
    """


def _workspaces(ctx: click.Context, root: str | None, project: str | None, name: str | None = None) -> Any:
    """(the workspaces of the root, the project checked, the name checked):
    a bad project or name is a usage error (exit 2)."""
    from runship.schema import workspace as ws
    from runship.store.workspaces import workspaces_at

    try:
        checked = ws.check_project(project)
        if name is not None:
            ws.check_name(name)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    return workspaces_at(root or ctx.obj["root"], ctx.obj["so"]), checked


@workspace_group.command("ls", context_settings=CONTEXT)
@click.argument("root", required=False, callback=_location)
@click.option("--project", help="The project's workspaces (default: the all-projects view's).")
@click.option("--json", "as_json", is_flag=True, help="The listing as one JSON object.")
@with_context
def workspace_ls(ctx: click.Context, root: str | None, project: str | None, as_json: bool) -> None:
    """List the saved workspaces of a project (exit 1 when there is none).

    \b
    Example:
        runship workspace ls /scratch/$USER/runship-runs --project mnist
    """
    store, project = _workspaces(ctx, root, project)
    entries, default = store.list(project)
    if as_json:
        click.echo(json.dumps({"workspaces": entries, "default": default}))
    if not entries:
        raise click.ClickException(f"no saved workspace of {project or 'the all-projects view'} in {store.where}")
    if as_json:
        return
    rows = [
        [_text(e["name"]) + (" (default)" if e["name"] == default else ""), _fmt_time(e["saved_at"]), str(e["size"])]
        for e in entries
    ]
    click.echo(_table(rows, ["NAME", "SAVED", "SIZE"]))


@workspace_group.command("show", context_settings=CONTEXT)
@click.argument("name")
@click.argument("root", required=False, callback=_location)
@click.option("--project", help="The project (default: the all-projects view).")
@with_context
def workspace_show(ctx: click.Context, name: str, root: str | None, project: str | None) -> None:
    """Print a saved workspace, as JSON (exit 1 when there is none of that name).

    \b
    Example:
        runship workspace show "my view" --project mnist
    """
    store, project = _workspaces(ctx, root, project, name)
    click.echo(json.dumps(store.load(project, name), indent=2, ensure_ascii=False))


@workspace_group.command("rm", context_settings=CONTEXT)
@click.argument("name")
@click.argument("root", required=False, callback=_location)
@click.option("--project", help="The project (default: the all-projects view).")
@with_context
def workspace_rm(ctx: click.Context, name: str, root: str | None, project: str | None) -> None:
    """Remove a saved workspace (and the default, if it named it).

    \b
    Example:
        runship workspace rm "old view" --project mnist
    """
    store, project = _workspaces(ctx, root, project, name)
    store.delete(project, name)
    click.echo(f"removed workspace {name!r} of {project or 'the all-projects view'}")


@cli.group("artifact", context_settings=CONTEXT)
def artifact_group() -> None:
    """Artifacts: versioned files stored once by content, beside the runs
    in <root>/<project>/.artifacts/ (or where --root points: a runship
    server, an object store). NAME is [project/]name[:vN or alias];
    without a project, the one project holding NAME.

    \b
    Example:
        runship artifact put data/ --name mnist --type dataset --alias raw --project vision
        runship artifact ls vision
        runship artifact show vision/mnist:raw
        runship artifact get vision/mnist:latest --to ./mnist
        runship artifact gc --keep-last 3 --dry-run vision
    """


def _store_at(root: str, storage_options: dict[str, Any] | None = None) -> Any:
    """The artifact store of a root: a directory (``~`` expanded), an
    object store or a runship server (``area_at``)."""
    from runship.store.artifact_remote import area_at
    from runship.store.artifacts import ArtifactStore
    from runship.store.location import is_local, local_path

    where = os.path.expanduser(local_path(root)) if is_local(root) else root
    return ArtifactStore(area_at(where, storage_options or None))


def _artifacts(fn: Callable[P, R]) -> Callable[P, R]:
    """An artifact command: no such artifact, version or alias is a failed
    lookup (exit 1, the message as it is); a bad name or alias is a usage error (exit 2)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from runship.store.artifacts import ArtifactNotFound

        try:
            return fn(*args, **kwargs)
        except ArtifactNotFound as e:
            raise click.ClickException(str(e.args[0] if e.args else e)) from None

    return wrapper


def _check_project(project: str | None, what: str = "--project") -> str | None:
    from runship.schema import names

    if project is not None and ("://" in project or os.sep in project):
        raise click.UsageError(
            f"{what} {project!r} is a place, not a project: name the root with --root "
            f"(runship --root {project} artifact ...)"
        )
    try:
        return None if project is None else names.check_id(project, what)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


def _artifact_ref(store: Any, ref: str, project: str | None) -> tuple[str, str, str, bool]:
    """(project, name, selector, whether REF named a version or alias) of
    ``[project/]name[:vN|alias]``: the project REF or --project names, else
    the one project holding the name."""
    from runship.schema import artifacts as sa

    project = _check_project(project)
    try:
        named, name, selector = sa.parse_ref(ref)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if named is not None and project is not None and named != project:
        raise click.UsageError(f"{ref!r} names project {named!r} but --project says {project!r}: choose one")
    project = named or project
    if project is None:
        holding = [p for p in store.area.projects() if store.indexes(p, name)]
        if not holding:
            raise click.ClickException(f"no artifact {name!r} in any project under {redact(store.where)}")
        if len(holding) > 1:
            raise click.UsageError(
                f"artifact {name!r} is in projects {', '.join(holding)}: give PROJECT/{name} or --project"
            )
        project = holding[0]
    return project, name, selector, ":" in ref


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


def _blob_sizes(manifests: Iterable[dict[str, Any]]) -> int:
    """The bytes the distinct blobs of ``manifests`` take."""
    from runship.schema import artifacts as sa

    seen: dict[str, int] = {}
    for m in manifests:
        for entry in m["files"].values():
            seen.update(sa.blobs_of(entry))
    return sum(seen.values())


def _artifact_row(store: Any, project: str, name: str) -> dict[str, Any] | None:
    from runship.schema.artifacts import BadArtifact

    indexes = store.indexes(project, name)
    if not indexes:
        return None
    manifests, problems = [], []
    for i in indexes:
        try:
            manifests.append(store.manifest(project, name, i))
        except (BadArtifact, LookupError) as e:
            problems.append(str(e))
    table = store.aliases(project, name)
    latest = next((m for m in reversed(manifests) if m["version"] == f"v{indexes[-1]}"), None)
    return {
        "project": project,
        "name": name,
        "type": latest["type"] if latest else None,
        "versions": len(indexes),
        "latest": f"v{indexes[-1]}",
        "aliases": {a: f"v{i}" for a, i in sorted(table.items()) if a != "latest"},
        "size": _blob_sizes(manifests),
        "problems": problems,
    }


@artifact_group.command("ls", context_settings=CONTEXT)
@click.argument("project", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per artifact.")
@with_context
@_artifacts
def artifact_ls(ctx: click.Context, project: str | None, as_json: bool) -> None:
    """List the artifacts of PROJECT (default: of every project): type,
    versions, the latest, aliases, the bytes their files take (each stored
    file counted once).

    \b
    Example:
        runship --root /scratch/$USER/runship-runs artifact ls vision
    """
    store = _store_at(ctx.obj["root"], ctx.obj["so"])
    projects = [p] if (p := _check_project(project, "PROJECT")) else store.area.projects()
    rows = [row for p in projects for n in store.names(p) if (row := _artifact_row(store, p, n)) is not None]
    if not rows and project is not None:
        known = [p for p in store.area.projects() if store.names(p)]
        where = f"projects with artifacts: {', '.join(known)}" if known else "it holds no artifacts"
        raise click.ClickException(f"no artifacts in project {project!r} under {redact(store.where)}; {where}")
    if as_json:
        for r in rows:
            click.echo(json.dumps(r))
        return
    if not rows:
        click.echo(f"no artifacts under {redact(store.where)}")
        return
    body = [
        [
            _text(r["project"]),
            _text(r["name"]),
            _text(r["type"] if r["type"] is not None else "?"),
            str(r["versions"]),
            r["latest"],
            _text(", ".join(f"{a}:{v}" for a, v in r["aliases"].items())),
            _bytes(r["size"]) + (" (damaged manifests)" if r["problems"] else ""),
        ]
        for r in rows
    ]
    click.echo(_table(body, ["PROJECT", "NAME", "TYPE", "VERSIONS", "LATEST", "ALIASES", "SIZE"]))


@artifact_group.command("show", context_settings=CONTEXT)
@click.argument("ref", metavar="NAME")
@click.option("--project", help="The project holding NAME. [default: NAME's project/, else the one holding it]")
@click.option("--json", "as_json", is_flag=True, help="The manifest, its aliases and users, as one JSON object.")
@with_context
@_artifacts
def artifact_show(ctx: click.Context, ref: str, project: str | None, as_json: bool) -> None:
    """Show a version of an artifact: type, aliases, digest, size, when and
    by which run it was made, the runs that used it, metadata, files.
    NAME is [project/]name[:vN or alias] (default: latest).

    \b
    Example:
        runship artifact show vision/mnist:v3
    """
    store = _store_at(ctx.obj["root"], ctx.obj["so"])
    project, name, selector, _ = _artifact_ref(store, ref, project)
    index = store.find(project, name, selector)
    m = store.manifest(project, name, index)
    aliases = sorted(a for a, i in store.aliases(project, name).items() if i == index)
    users = store.users(project, name, index)
    size = sum(int(e["size"]) for e in m["files"].values())
    if as_json:
        doc = {**m, "project": project, "aliases": aliases, "used_by": users, "size": size}
        click.echo(json.dumps(json_safe(doc, strict_json=True), indent=1, sort_keys=True))
        return
    lines = [
        f"{project}/{name}:{m['version']}",
        f"  type:        {_text(m['type'])}",
        f"  aliases:     {_text(', '.join(aliases)) or '-'}",
        f"  digest:      {m['digest']}",
        f"  size:        {_bytes(size)} in {len(m['files'])} files",
        f"  created:     {_fmt_time(m.get('created_at') if isinstance(m.get('created_at'), (int, float)) else None)}",
        f"  logged by:   {_producer(m.get('run'))}",
        f"  used by:     {_text(', '.join(users)) or '-'}",
    ]
    if m.get("description"):
        lines.append(f"  description: {_text(m['description'])}")
    if m["metadata"]:
        lines.append(f"  metadata:    {json.dumps(json_safe(m['metadata'], strict_json=True), sort_keys=True)}")
    click.echo("\n".join(lines))
    rows = [[_text(p), _bytes(int(e["size"])), e["digest"][:12]] for p, e in sorted(m["files"].items())]
    if rows:
        click.echo(_table(rows, ["PATH", "SIZE", "DIGEST"]))
    for path, r in sorted(m.get("references", {}).items()):
        click.echo(f"reference {_text(path)}: {_text(r.get('uri'))}")


def _existing(dest: str, path: str, entry: dict[str, Any]) -> str:
    """What is at ``path`` below ``dest`` now: ``absent``, ``same`` (a file
    with the entry's bytes), ``differs`` (another file or a link, which
    --force replaces) or ``blocked`` (a folder, or no folder where one
    goes: never replaced)."""
    import hashlib
    import stat

    parts = path.split("/")
    here = dest
    for part in parts[:-1]:
        here = os.path.join(here, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return "absent"
        if not stat.S_ISDIR(st.st_mode):
            return "blocked"
    target = os.path.join(here, parts[-1])
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return "absent"
    if stat.S_ISDIR(st.st_mode):
        return "blocked"
    if not stat.S_ISREG(st.st_mode) or st.st_size != int(entry["size"]):
        return "differs"
    h = hashlib.sha256()
    with os.fdopen(os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "same" if h.hexdigest() == entry["digest"] else "differs"


@artifact_group.command("get", context_settings=CONTEXT)
@click.argument("ref", metavar="NAME")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False), help="The folder the files go to.")
@click.option("--project", help="The project holding NAME. [default: NAME's project/, else the one holding it]")
@click.option("--force", is_flag=True, help="Overwrite files in the folder that hold other bytes.")
@with_context
@_artifacts
def artifact_get(ctx: click.Context, ref: str, to: str, project: str | None, force: bool) -> None:
    """Write the files of an artifact's version into a folder, each checked
    against its digest and put in place whole. A file already there with
    the same bytes is left; one with other bytes stops the command (exit 1)
    unless --force.

    \b
    Example:
        runship artifact get vision/mnist:best --to ./data/mnist
    """
    from runship.schema import artifacts as sa
    from runship.store.artifact_api import Chunks

    store = _store_at(ctx.obj["root"], ctx.obj["so"])
    project, name, selector, _ = _artifact_ref(store, ref, project)
    m = store.manifest(project, name, store.find(project, name, selector))
    what = f"{project}/{name}:{m['version']}"
    lacking = store.missing(project, m)
    if lacking:
        raise click.ClickException(
            f"{what}: {len(lacking)} of its stored files ({_bytes(sum(s for _, s in lacking))}) are missing "
            f"from {redact(store.where)}: log it again to repair it"
        )
    dest = os.path.abspath(to)
    found: dict[str, list[str]] = {"absent": [], "same": [], "differs": [], "blocked": []}
    for path, entry in sorted(m["files"].items()):
        sa.check_entry_path(path)
        found[_existing(dest, path, entry)].append(path)
    if found["blocked"]:
        raise click.ClickException(
            f"{what}: a folder, link or file is where {', '.join(map(repr, found['blocked'][:5]))} "
            f"{'goes' if len(found['blocked']) == 1 else 'go'} in {dest}: move it away"
        )
    if found["differs"] and not force:
        shown = ", ".join(repr(p) for p in found["differs"][:5]) + (", ..." if len(found["differs"]) > 5 else "")
        raise click.ClickException(
            f"{what}: {_count(len(found['differs']), 'file')} in {dest} with other bytes ({shown}): --force overwrites"
        )
    os.makedirs(dest, exist_ok=True)
    for path in sorted(found["absent"] + found["differs"]):
        entry = m["files"][path]
        source = Chunks(store.read_file(project, entry))  # each blob and the whole file checked as read
        dfd = safefile.open_dir(dest)
        try:
            safefile.write_atomic_at(dfd, path, source, digest=False)
        finally:
            os.close(dfd)
    written = len(found["absent"]) + len(found["differs"])
    note = f", {len(found['same'])} already there" if found["same"] else ""
    refs = m.get("references", {})
    if refs:
        note += f"; {len(refs)} references not fetched (URIs: `runship artifact show {what}`)"
    click.echo(f"{what}: {_count(written, 'file')} written to {dest}{note}")


@artifact_group.command("put", context_settings=CONTEXT)
@click.argument("path", type=click.Path(exists=True))
@click.option("--name", required=True, help="The artifact's name.")
@click.option("--type", "kind", required=True, help="Its type (dataset, model, ...).")
@click.option("--alias", "aliases", multiple=True, help="An alias to move to the new version (repeatable).")
@click.option("--project", help="The project. [default: $RUNSHIP_PROJECT, else uncategorized]")
@click.option("--description", help="A description of the version.")
@click.option("--metadata", help="A JSON object stored with the version.")
@with_context
@_artifacts
def artifact_put(
    ctx: click.Context,
    path: str,
    name: str,
    kind: str,
    aliases: tuple[str, ...],
    project: str | None,
    description: str | None,
    metadata: str | None,
) -> None:
    """Store the file or folder PATH as a new version of an artifact (the
    version held, if one has the same files), and move the aliases to it.
    Prints PROJECT/NAME:vN.

    \b
    Example:
        runship artifact put model.pt --name resnet --type model --alias best --project vision
    """
    import time as _time

    from runship.schema import artifacts as sa
    from runship.writer.plan import env

    project = _check_project(project) or _check_project(env("PROJECT"), "$RUNSHIP_PROJECT") or "uncategorized"
    try:
        sa.check_name(name)
        for a in aliases:
            if a not in sa.IMPLICIT_ALIASES:
                sa.check_alias(a)
        meta = json.loads(metadata) if metadata is not None else {}
    except ValueError as e:
        raise click.UsageError(
            f"--metadata: not JSON: {e}" if isinstance(e, json.JSONDecodeError) else str(e)
        ) from None
    if not isinstance(meta, dict):
        raise click.UsageError("--metadata must be a JSON object")
    files: list[tuple[str, str]] = []
    if os.path.isdir(path):
        fd = safefile.open_dir(path)
        try:
            for rel, kind_of, _ in safefile.walk(fd):
                if kind_of == "file":
                    files.append((sa.entry_path(rel), os.path.join(path, rel)))
                else:
                    click.echo(f"warning: {os.path.join(path, rel)}: a {kind_of}, not stored", err=True)
        finally:
            os.close(fd)
        if not files:
            raise click.UsageError(f"{path}: no files to store")
    else:
        files.append((sa.entry_path(os.path.basename(path)), path))
    store = _store_at(ctx.obj["root"], ctx.obj["so"])
    entries = {rel: store.add_file(project, full) for rel, full in files}
    doc = {
        "name": name,
        "type": kind,
        "description": description,
        "metadata": meta,
        "files": entries,
        "references": {},
        "created_at": _time.time(),
        "run": None,
    }
    manifest, made = store.publish(project, doc, list(dict.fromkeys(aliases)))
    what = f"{project}/{name}:{manifest['version']}"
    click.echo(what)
    size = _bytes(sum(e["size"] for e in entries.values()))
    if made:
        click.echo(f"{what}: new version ({_count(len(entries), 'file')}, {size})", err=True)
    else:
        click.echo(f"{what}: the same files as this version already held: no new version", err=True)


@artifact_group.command("alias", context_settings=CONTEXT)
@click.argument("ref", metavar="NAME")
@click.argument("alias")
@click.option("--project", help="The project holding NAME. [default: NAME's project/, else the one holding it]")
@click.option("--rm", "remove", is_flag=True, help="Remove ALIAS (from NAME:vN, if a version is given).")
@with_context
@_artifacts
def artifact_alias(ctx: click.Context, ref: str, alias: str, project: str | None, remove: bool) -> None:
    """Point ALIAS at the version NAME names (NAME:vN, NAME:other-alias), or
    remove it with --rm. `latest` is always the newest version.

    \b
    Example:
        runship artifact alias vision/resnet:v7 production
        runship artifact alias vision/resnet production --rm
    """
    from runship.schema import artifacts as sa

    if alias in sa.IMPLICIT_ALIASES:
        raise click.UsageError(f"{alias!r} always names the newest version: it cannot be moved or removed")
    try:
        sa.check_alias(alias)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    store = _store_at(ctx.obj["root"], ctx.obj["so"])
    project, name, selector, explicit = _artifact_ref(store, ref, project)
    table = store.aliases(project, name)
    if remove:
        if alias not in table:
            raise click.ClickException(f"{project}/{name} has no alias {alias!r}")
        if explicit and store.find(project, name, selector) != table[alias]:
            raise click.ClickException(f"alias {alias!r} of {project}/{name} is on v{table[alias]}, not {selector}")
        store.move_alias(project, name, alias, None)
        click.echo(f"{project}/{name}: alias {alias!r} removed (was v{table[alias]})")
        return
    index = store.find(project, name, selector)
    was = table.get(alias)
    store.move_alias(project, name, alias, f"v{index}")
    moved = "" if was is None else (" (already there)" if was == index else f" (was v{was})")
    click.echo(f"{project}/{name}:v{index}: alias {alias!r}{moved}")


@artifact_group.command("gc", context_settings=CONTEXT)
@click.argument("project", required=False)
@click.option("--keep-last", type=click.IntRange(0), required=True, help="Keep the newest N versions of each name.")
@click.option("--name", "only", multiple=True, help="Only versions of this artifact (repeatable).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@with_context
@_artifacts
def artifact_gc(ctx: click.Context, project: str | None, keep_last: int, only: tuple[str, ...], dry_run: bool) -> None:
    """Remove old versions of artifacts of PROJECT (default: every project),
    and the stored files no version left needs. A version is kept when it
    is one of the newest N of its name, when an alias (latest included)
    points to it, or when a run used it.

    Run it when nothing logs artifacts to the project: a version being
    logged while gc runs may lose a file it shares with a removed version
    (logging it again repairs it).

    \b
    Example:
        runship artifact gc --keep-last 3 --dry-run vision
    """
    from runship.schema import artifacts as sa
    from runship.store.artifact_gc import apply_gc, plan_gc

    store = _store_at(ctx.obj["root"], ctx.obj["so"])
    try:
        names = [sa.check_name(n) for n in only] or None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    projects = [p] if (p := _check_project(project, "PROJECT")) else store.area.projects()
    if project is not None and not store.names(project):
        raise click.ClickException(f"no artifacts in project {project!r} under {redact(store.where)}")
    if names and project is not None:
        absent = [n for n in names if not store.indexes(project, n)]
        if absent:
            raise click.ClickException(f"no artifact {', '.join(map(repr, absent))} in {project}")
    verb = "would remove" if dry_run else "removed"
    for p in projects:
        if not store.names(p):
            continue
        plan = plan_gc(store, p, keep_last, names)
        for problem in plan.problems:
            click.echo(f"warning: {p}: {problem}: no blob is removed", err=True)
        if dry_run:
            for n, i in plan.versions:
                click.echo(f"{p}: {verb} {n}:v{i}")
            click.echo(
                f"{p}: {verb} {_count(len(plan.versions), 'version')}, {_count(len(plan.blobs), 'blob')} ({_bytes(plan.blob_bytes)})"
            )
            continue
        done = apply_gc(store, plan)
        for n, i in done.versions:
            click.echo(f"{p}: {verb} {n}:v{i}")
        for n, i in done.skipped_versions:
            click.echo(f"{p}: kept {n}:v{i}: given an alias or used since gc looked", err=True)
        if done.skipped_blobs:
            click.echo(f"{p}: kept {_count(done.skipped_blobs, 'blob')} a version logged meanwhile refers to", err=True)
        temps = f", {done.temp_files} stale temporary files" if done.temp_files else ""
        click.echo(
            f"{p}: {verb} {_count(len(done.versions), 'version')}, {_count(len(done.blobs), 'blob')} ({_bytes(done.blob_bytes)}){temps}"
        )


@cli.command("ui", context_settings=CONTEXT)
@click.argument("roots", nargs=-1, callback=_location)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option(
    "--ui-token-file",
    type=click.Path(dir_okay=False),
    help="A file (mode 600) holding the token the page asks for. [default: $RUNSHIP_UI_TOKEN, else a new random one]",
)
@click.option("--no-token", is_flag=True, help="Ask for no token (refused unless --host is a loopback address).")
@guard_options
@click.pass_context
@interrupts.until_stopped("the page is no longer served")
def ui_cmd(
    ctx: click.Context,
    roots: tuple[str, ...],
    host: str,
    port: int,
    ui_token_file: str | None,
    no_token: bool,
    **guard: Unpack[GuardArgs],
) -> None:
    """Look at runs in a browser: a runs table, charts, comparison, system
    metrics, console, files and media. ROOTS are run roots, fsspec URLs
    (s3://...) or runship servers (http(s)://); default --root.

    Other users of this machine can reach 127.0.0.1, so the page asks for a
    token: open the URL printed (it carries a new random token after #,
    which the browser never sends: the page posts it once and it then
    lives in a cookie). A token is never taken from the command line, where
    every user could read it: use --ui-token-file or $RUNSHIP_UI_TOKEN.

    \b
    Example:
        runship ui /scratch/$USER/runship-runs
        runship ui s3://bucket/runs -o endpoint_url=http://minio:9000
    """
    require_extra("ui", what="runship ui")
    from runship.web.launch import serve_ui

    token = os.environ.get("RUNSHIP_UI_TOKEN") or None
    if ui_token_file:
        try:
            token = safefile.read_private(ui_token_file, "token file", limit=64 * 1024).strip()
        except (OSError, ValueError) as e:
            raise click.UsageError(str(e)) from None
        if not token:
            raise click.UsageError(f"{ui_token_file}: empty")
    with _starting():
        serve_ui(
            _ui_roots(list(roots) or [ctx.obj["root"]]),
            host=host,
            port=port,
            token=None if no_token else token,
            no_token=no_token,
            storage_options=ctx.obj["so"],
            cache=_cache(ctx),
            limits=guard_limits("ui", guard),
            allow_hosts=guard["allow_hosts"],
            log=lambda m: click.echo(m, err=True),
        )


def _ui_roots(roots: list[str]) -> list[str]:
    """The UI's roots, each checked at start: a local one must be a
    directory (a typo would show an empty table), else a usage error (exit 2).
    A URL's store is asked at each listing, where its failure is shown."""
    for root in roots:
        from runship.store.location import is_url, local_path

        path = local_path(root)
        if not is_url(path) and not os.path.isdir(os.path.expanduser(path)):
            what = "a file" if os.path.exists(path) else "no such directory"
            raise click.UsageError(
                f"run root {root!r}: {what}; give a run root (holding <project>/<run>/ directories) or a URL"
            )
    return roots


def main() -> None:
    """Entry point: ``runship`` on the command line. A closed pipe
    (``runship history ... | head``) ends any command quietly, exit 0; a
    signal as runship.interrupts says (130 after Ctrl-C)."""
    interrupts.raising(_command_path)
    try:
        cli.main(prog_name="runship", standalone_mode=False)
        code = 0
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except click.exceptions.Abort as e:
        code = _aborted(e.__cause__ or e.__context__)
    except KeyboardInterrupt as e:  # after click let go
        code = _aborted(e)
    except BrokenPipeError:
        code = _closed_pipe()
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        code = _closed_pipe()
    except ImportError as e:  # a package of an extra, met where no check named it first
        extra = missing_extra(e, "this command")
        if extra is None:
            raise
        click.echo(f"Error: {extra}", err=True)
        code = 1
    sys.exit(code)


def _command_path() -> str:
    """The command running now (``runship upload``): named by an interrupt."""
    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "runship"


def _aborted(cause: BaseException | None) -> int:
    """Ctrl-C or SIGTERM: one line, 128 + the signal (runship.interrupts)."""
    if not isinstance(cause, KeyboardInterrupt):
        click.echo("Aborted!", err=True)  # click's own abort (none of runship's commands asks a question)
        return 1
    if not isinstance(cause, interrupts.Interrupted):
        cause = interrupts.Interrupted(signal.SIGINT)
    click.echo(cause.line(), err=True)
    return cause.exit_code


def _closed_pipe() -> int:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    main()
