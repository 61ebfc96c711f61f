# gencredits: `make run` starts it, `make test` checks it. Both set up everything first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup postgres lint typecheck clean

run: setup
	@$(BIN)/gencredits catalog
	@echo
	@$(BIN)/gencredits quote flux-2-pro -n 4

test: setup postgres
	$(BIN)/python -m pytest

# The tests start their own throwaway PostgreSQL server; install the binaries if absent.
postgres:
	@command -v pg_config >/dev/null 2>&1 && test -x "$$(pg_config --bindir)/initdb" || { \
		SUDO=; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; }

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
