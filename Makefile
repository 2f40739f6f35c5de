# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_TEST := $(VENV)/.installed-test
DEMO_DIR ?= runship-demo

.PHONY: demo test test-heavy lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(STAMP_DEMO)

DEMO_REMOTE ?= $(CURDIR)/runship-demo-remote

demo: $(STAMP_DEMO)
	rm -rf $(DEMO_DIR) $(DEMO_REMOTE) .runship-demo-state
	@echo "== train (writes $(DEMO_DIR)/demo/<id>/)"
	RUNSHIP_DIR=$(DEMO_DIR) $(PY) examples/train.py --steps 3000
	$(VENV)/bin/runship --root $(DEMO_DIR) ls
	$(VENV)/bin/runship --root $(DEMO_DIR) show demo/$$(ls $(DEMO_DIR)/demo | head -n 1)
	@echo "== upload to the embedded default target (a local directory standing in for object storage)"
	$(VENV)/bin/runship upload $(DEMO_DIR) --to file://$(DEMO_REMOTE) --state .runship-demo-state --once
	@echo "== the same run, read back from the target"
	$(VENV)/bin/runship ls file://$(DEMO_REMOTE)
	$(VENV)/bin/runship verify $(DEMO_REMOTE)/demo/$$(ls $(DEMO_DIR)/demo | head -n 1)

PYTEST_WORKERS ?= 2

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check runship tests benchmarks examples tools
	$(VENV)/bin/ruff format --check runship tests benchmarks examples tools
	$(VENV)/bin/mypy

# the suite, in PYTEST_WORKERS processes (tests start their own servers on free ports);
# the reliability campaign (stateful models against every target, faults, kills) is
# `make test-heavy`, which CI runs after it
test: lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not heavy"

test-heavy: $(STAMP_TEST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m heavy

bench: $(STAMP_TEST)
	$(PY) benchmarks/bench_log.py
	$(PY) benchmarks/bench_upload.py
	$(PY) benchmarks/bench_server.py
	$(PY) benchmarks/bench_stall.py
	$(PY) benchmarks/bench_hostile.py
	$(PY) benchmarks/bench_read.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_REMOTE) .runship-demo-state .pytest_cache .ruff_cache
