"""The import graph of ``runship/`` read from the code: no cycle, and no import up the layers.

Every ``import`` counts, the ones inside functions included (a lazy import still ties the two
modules together); imports under ``if TYPE_CHECKING:`` do not (they never run). The layers are
those docs/ARCHITECTURE.md draws, lowest first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import runship

ROOT = Path(runship.__file__).parent

# lowest first; a module may import its own layer and the ones below
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "schema",
        (
            "runship.schema",
            "runship.errors",
            "runship.term",
            "runship.extras",
            "runship.safefile",
            "runship.util",
            "runship.interrupts",
        ),
    ),
    ("store", ("runship.store",)),
    ("reader | writer", ("runship.reader", "runship.writer", "runship.media", "runship.plot")),
    ("uploader", ("runship.uploader",)),
    (
        "facade and bridges",
        ("runship", "runship.compat", "runship.tensorboard", "runship.integration", "runship.export", "runship.sweep"),
    ),
    ("web", ("runship.web",)),
    ("cli", ("runship.cli",)),
]
# in the same layer and never importing each other: the two sides of a run directory
SIBLINGS = (
    ("runship.reader", "runship.writer"),
    ("runship.reader", "runship.media"),
    ("runship.reader", "runship.plot"),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ["runship", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: those under ``if TYPE_CHECKING:`` left out."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped]


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> set[str]:
    """The runship modules one import statement loads (the nearest known module of each name)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = module.split(".") if is_package else module.split(".")[:-1]
        if node.level:
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix for alias in node.names]
    found = set()
    for name in names:
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in known and name != module:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    graph = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[module] = set()
        for node in _runtime_imports(tree):
            graph[module] |= _targets(module, path.name == "__init__.py", node, known)
    return graph


def _layer(module: str) -> tuple[int, str]:
    """The layer of a module: its longest listed prefix (``runship`` itself is the facade alone)."""
    best = (-1, "", "")
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "runship" and module.startswith(prefix + "."))
            if inside and len(prefix) > len(best[2]):
                best = (rank, prefix, prefix)
    assert best[0] >= 0, f"{module} is in no layer: add it to LAYERS (and to docs/ARCHITECTURE.md)"
    return best[0], best[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycle() -> None:
    assert _cycles(import_graph()) == []


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for module, imported in sorted(import_graph().items()):
        rank, _ = _layer(module)
        for target in sorted(imported):
            target_rank, _ = _layer(target)
            if target_rank > rank:
                upward.append(f"{module} ({LAYERS[rank][0]}) imports {target} ({LAYERS[target_rank][0]})")
    assert upward == []


def test_the_reader_and_the_writer_do_not_import_each_other() -> None:
    crossing = []
    for module, imported in sorted(import_graph().items()):
        _, prefix = _layer(module)
        for target in imported:
            _, target_prefix = _layer(target)
            if (prefix, target_prefix) in SIBLINGS or (target_prefix, prefix) in SIBLINGS:
                crossing.append(f"{module} imports {target}")
    assert crossing == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: a made-up graph with a cycle and an upward edge is caught."""
    graph = {"runship.schema.a": {"runship.cli"}, "runship.cli": {"runship.schema.a"}}
    assert _cycles(graph) == [["runship.cli", "runship.schema.a"]]
    assert _layer("runship.cli")[0] > _layer("runship.schema.a")[0]
