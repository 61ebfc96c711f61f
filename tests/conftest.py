"""Shared test setup: Hypothesis profiles (bounded in CI, longer behind a flag) and the
throwaway PostgreSQL server fixtures (postgres_server, postgres_url, database_url), with
PgBouncer in transaction mode in front of it (pgbouncer, pgbouncer_url)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.pgbouncer import PgBouncer, find_pgbouncer, start_pgbouncer
from tests.pgserver import PostgresServer, find_bindir, start_postgres

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("long" if os.environ.get("GENCREDITS_SLOW_TESTS") else "ci")


# -- PostgreSQL ----------------------------------------------------------------------
# One throwaway server (tests/pgserver.py) for the whole run, a fresh database per test.

SKIP_POSTGRES_ENV = "GENCREDITS_SKIP_POSTGRES"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on 127.0.0.1, shared by the session, stopped at the end.

    Fails (does not skip) when the PostgreSQL binaries are missing, unless
    GENCREDITS_SKIP_POSTGRES=1 is set, which skips every test that needs it.
    """
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"{SKIP_POSTGRES_ENV}=1: PostgreSQL tests skipped")
    if find_bindir() is None:
        pytest.fail(
            "PostgreSQL binaries not found (`pg_config --bindir` is missing or has no initdb). "
            "Install them with `make postgres` (run by `make test`), or set "
            f"{SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests.",
            pytrace=False,
        )
    server = start_postgres()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh, empty database (test_<uuid>) on the session's server."""
    return postgres_server.create_database(f"test_{uuid.uuid4().hex}")


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode on 127.0.0.1 in front of the session's server, stopped at
    the end. Fails (does not skip) when ``pgbouncer`` is missing, as the server does."""
    if find_pgbouncer() is None:
        pytest.fail(
            "pgbouncer not found on PATH or in /usr/sbin. Install it with `make postgres` (run "
            f"by `make test`), or set {SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests.",
            pytrace=False,
        )
    bouncer = start_pgbouncer(postgres_server)
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def pgbouncer_url(pgbouncer: PgBouncer, postgres_url: str) -> str:
    """SQLAlchemy URL of a fresh, empty database, reached through PgBouncer."""
    return pgbouncer.through(postgres_url)


BACKENDS = (
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
)
THROUGH_PGBOUNCER = pytest.param(
    "pgbouncer", marks=pytest.mark.postgres, id="pgbouncer"
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``database_url`` runs each test on SQLite and PostgreSQL, and also through PgBouncer
    for the tests marked ``pgbouncer`` (a representative part of the service suite)."""
    if "database_url" not in metafunc.fixturenames or _parametrizes_database(metafunc):
        return
    backends = list(BACKENDS)
    if any(metafunc.definition.iter_markers("pgbouncer")):
        backends.append(THROUGH_PGBOUNCER)
    metafunc.parametrize("database_url", backends, indirect=True)


def _parametrizes_database(metafunc: pytest.Metafunc) -> bool:
    """A test that picks its own backends with ``parametrize("database_url", ...)``."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "database_url" in (names.split(",") if isinstance(names, str) else names):
            return True
    return False


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, PostgreSQL, or PostgreSQL through PgBouncer."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gencredits.db"
    if request.param == "pgbouncer":
        return str(request.getfixturevalue("pgbouncer_url"))
    return str(request.getfixturevalue("postgres_url"))
