"""The page's files as they ship (runship/web/static): native ES modules with no build
step, each small enough to read, uPlot used in one module only, every file inside
the package data's patterns. (What they do: tests/browser/; how they are served:
tests/test_ui_api.py; their types: `make lint`, tsc.)"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import runship

STATIC = Path(runship.__file__).parent / "web" / "static"
ROOT = Path(__file__).resolve().parent.parent


def _page_scripts() -> list[Path]:
    """The page's own JavaScript (the vendored uPlot aside)."""
    return sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.relative_to(STATIC).parts)


def test_no_file_of_the_page_is_over_800_lines():
    scripts = _page_scripts()
    assert len(scripts) > 10
    lengths = {str(p.relative_to(STATIC)): len(p.read_text().splitlines()) for p in scripts}
    assert {name: n for name, n in lengths.items() if n > 800} == {}


def test_every_uplot_chart_is_made_in_charts_js():
    makers = {str(p.relative_to(STATIC)) for p in _page_scripts() if re.search(r"\bnew uPlot\(", p.read_text())}
    assert makers == {"js/charts.js"}


def test_the_entry_is_a_module_and_every_module_ships():
    index = (STATIC / "index.html").read_text()
    assert '<script type="module" src="/ui/static/app.js"></script>' in index
    found = re.search(r'^"runship\.web" = (\[.*\])$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml: no package-data for runship.web"
    patterns = json.loads(found.group(1))  # (tomllib is Python 3.11+)
    for p in STATIC.rglob("*"):
        if p.is_file():
            name = p.relative_to(STATIC.parent).as_posix()  # static/js/api.js
            # setuptools' patterns: a "*" never crosses a "/"
            assert any(fnmatch.fnmatch(name, pat) and name.count("/") == pat.count("/") for pat in patterns), name
