# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_TEST := $(VENV)/.installed-test
STAMP_COMPAT := $(VENV)/.installed-compat
STAMP_BROWSER := $(VENV)/.installed-browser
# the page's type checker (typescript, a dev tool pinned in package.json/package-lock.json,
# from the npm registry into ./node_modules; the package ships plain JavaScript)
STAMP_NODE := node_modules/.installed
DEMO_DIR ?= runship-demo

.PHONY: demo demo-stop test test-heavy test-browser test-compat test-soak lint bench clean

# the browser tests drive Debian's chromium (never a downloaded browser)
CHROMIUM ?= $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# the demo looks at runs (ls, show, verify: runship[read]) and serves the page (runship[ui],
# which brings read); a plain `pip install runship` is the writer, the uploader and click
$(STAMP_DEMO): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[ui]'
	touch $@

# the test extra brings every extra the suite uses (read, ui, s3, yaml, pandas, sweep, system)
$(STAMP_TEST): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(STAMP_DEMO)

DEMO_REMOTE ?= $(CURDIR)/runship-demo-remote

demo: $(STAMP_DEMO)
	@$(PY) tools/demo_ui.py --stop
	rm -rf $(DEMO_DIR) $(DEMO_REMOTE) .runship-demo-state
	@echo "== train (writes $(DEMO_DIR)/demo/<id>/)"
	RUNSHIP_DIR=$(DEMO_DIR) $(PY) examples/train.py --steps 3000
	$(VENV)/bin/runship --root $(DEMO_DIR) ls
	$(VENV)/bin/runship --root $(DEMO_DIR) show demo/$$(ls $(DEMO_DIR)/demo | head -n 1)
	@echo "== upload to a local directory, file://$(DEMO_REMOTE), standing in for object storage (no service needed)"
	$(VENV)/bin/runship upload $(DEMO_DIR) --to file://$(DEMO_REMOTE) --state .runship-demo-state --once
	@echo "== the same run, read back from the target"
	$(VENV)/bin/runship ls file://$(DEMO_REMOTE)
	$(VENV)/bin/runship verify $(DEMO_REMOTE)/demo/$$(ls $(DEMO_DIR)/demo | head -n 1)
	@echo "== five more runs to look at (a hand-made grid of lr, batch size, optimizer; not a runship sweep): two groups, images, histograms, a table, one that fails"
	RUNSHIP_DIR=$(DEMO_DIR) $(PY) examples/demo_runs.py --steps 2000 > /dev/null
	$(PY) tools/demo_ui.py $(DEMO_DIR)

demo-stop:
	@$(PY) tools/demo_ui.py --stop

# most tests wait on subprocesses, servers and signals, not the CPU: 4 workers finish the
# suite in 2.5 minutes on 2 cores where 2 take 3 (PYTEST_WORKERS=2 make test for fewer)
PYTEST_WORKERS ?= 4

$(STAMP_NODE): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make lint needs Node.js and npm: the page's type checker (typescript) comes from the npm registry" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Python: ruff and mypy; the page (runship/web/static, JavaScript with JSDoc types): tsc --checkJs
# --strict, no output (tsconfig.json; types/ declares the vendored uPlot global)
lint: $(STAMP_TEST) $(STAMP_NODE)
	$(VENV)/bin/ruff check runship tests benchmarks examples tools
	$(VENV)/bin/ruff format --check runship tests benchmarks examples tools
	$(VENV)/bin/mypy
	node_modules/.bin/tsc -p tsconfig.json

# the suite, in PYTEST_WORKERS processes (tests start their own servers on free ports);
# the reliability campaign (stateful models against every target, faults, kills) is
# `make test-heavy`, which CI runs after it; the browser tests of `runship ui` (tests/browser,
# a real headless Chromium) are `make test-browser`, which CI runs too
test: lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not heavy and not browser and not compat and not soak"

$(STAMP_BROWSER): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[browser-test]'
	touch $@ $(STAMP_TEST) $(STAMP_DEMO)

test-browser: $(STAMP_BROWSER)
	@test -n "$(CHROMIUM)" || { echo "no Chromium: the browser tests need Debian's chromium (apt-get install chromium); nothing downloads one" >&2; exit 1; }
	RUNSHIP_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -n $(PYTEST_WORKERS) -m browser

$(STAMP_COMPAT): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[compat-test]'
	touch $@ $(STAMP_TEST) $(STAMP_DEMO)

# wandb scripts that need heavy libraries (matplotlib, plotly, ...): the compat-test extra
test-compat: $(STAMP_COMPAT)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m compat

test-heavy: $(STAMP_TEST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m heavy

# the soak test: an uploader daemon and two servers over one bucket for SOAK_SECONDS while
# writers are killed and requeued, the target drops out and a server restarts (one process:
# the test is the load); its figures go to SOAK_REPORT (docs/RELIABILITY.md, "The soak test")
SOAK_SECONDS ?= 1800
SOAK_REPORT ?= soak-report.json
test-soak: $(STAMP_TEST)
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_REPORT=$(SOAK_REPORT) $(PY) -m pytest -q -s -n 0 -m soak tests/soak

bench: $(STAMP_TEST)
	$(PY) benchmarks/bench_log.py
	$(PY) benchmarks/bench_upload.py
	$(PY) benchmarks/bench_server.py
	$(PY) benchmarks/bench_stall.py
	$(PY) benchmarks/bench_hostile.py
	$(PY) benchmarks/bench_read.py

clean:
	-@$(PY) tools/demo_ui.py --stop 2>/dev/null
	rm -rf .runship-demo-ui $(VENV) $(DEMO_DIR) $(DEMO_REMOTE) .runship-demo-state .pytest_cache .ruff_cache node_modules
