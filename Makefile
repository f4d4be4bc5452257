# The two commands the README starts with: `make demo` and `make test`.
# Each one creates or refreshes .venv from pyproject.toml, then does its job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/campaign demo

test: $(STAMP)
	sh .ci/chromium
	$(BIN)/ruff check engine tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/ruff format --check engine tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_metrics.py
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_launch.py
	$(BIN)/python bench/bench_maildrop.py
	$(BIN)/python bench/bench_channels.py
	$(BIN)/python bench/bench_dispatch.py
	$(BIN)/python bench/bench_tracking.py
	$(BIN)/python bench/bench_webhooks.py
	$(BIN)/python bench/bench_web_tracking.py
	$(BIN)/python bench/bench_responses.py
	$(BIN)/python bench/bench_report.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
