# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use and installs the project into it; the install is redone only
# when pyproject.toml changes (the stamp file records the last install).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: demo test lint bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $@

demo: $(STAMP)
	snakemake --cores all --workflow-profile workflow/profiles/default --configfile config/demo.yaml
	@echo
	maac summary --config config/demo.yaml

test: $(STAMP)
	pytest --durations=15

bench: $(STAMP)
	maac bench

lint: $(STAMP)
	ruff check .
	snakemake --lint --workflow-profile workflow/profiles/default
