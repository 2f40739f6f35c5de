# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_TEST := $(VENV)/.installed-test
DEMO_DIR ?= runship-demo

.PHONY: demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(STAMP_DEMO)

demo: $(STAMP_DEMO)
	rm -rf $(DEMO_DIR)
	RUNSHIP_DIR=$(DEMO_DIR) $(PY) examples/train.py --steps 3000
	$(VENV)/bin/runship --root $(DEMO_DIR) ls
	$(VENV)/bin/runship --root $(DEMO_DIR) show demo/$$(ls $(DEMO_DIR)/demo | head -n 1)

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check runship tests benchmarks examples
	$(VENV)/bin/ruff format --check runship tests benchmarks examples

test: lint
	$(PY) -m pytest -q

bench: $(STAMP_DEMO)
	$(PY) benchmarks/bench_log.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
