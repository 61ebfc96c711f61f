# gencredits: `make run` starts it, `make test` checks it. Both set up everything first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup postgres browser lint typecheck clean

# Serve on 127.0.0.1:8000 with the embedded SQLite database (var/gencredits.db) and the
# default catalog; the first start prints the operator key once.
run: setup
	@$(BIN)/gencredits catalog
	@$(BIN)/gencredits serve --host 127.0.0.1 --port 8000 --demo

# ruff and mypy --strict first (seconds), then the whole suite.
test: setup postgres browser lint
	$(BIN)/python -m pytest

# The reliability suite alone (crash recovery, races, bank, fuzzing, access, limits, several
# workers): each test with its figures, then "reliability: kills survived N, operations checked N, ..." at the end.
.PHONY: reliability-report
reliability-report: setup postgres
	$(BIN)/python -m pytest tests/reliability -v

# The tests start their own throwaway PostgreSQL server, and PgBouncer in transaction mode in
# front of it; install the binaries if absent.
postgres:
	@command -v pg_config >/dev/null 2>&1 && test -x "$$(pg_config --bindir)/initdb" && \
	{ command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer; } || { \
		SUDO=; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			postgresql pgbouncer; }

# The web tests drive Debian's Chromium through Playwright (no browser download).
browser:
	@test -x /usr/bin/chromium || { \
		SUDO=; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

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
