"""PostgreSQL connections are pinged before reuse only after sitting idle (store/engine.py):
a ping in every transaction was a round trip a charge. These tests restart a server of their
own under a live connection pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, exc, text

from gencredits.store.engine import make_engine
from tests.pgserver import PostgresServer, start_postgres

pytestmark = pytest.mark.postgres

IDLE = 0.3  # seconds: the tests' ping delay


@pytest.fixture(scope="module")
def own_server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A server these tests may restart (the session's is shared). Asking for the session's
    server first gives the same skip or failure when PostgreSQL is missing."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.destroy()


@contextmanager
def _pool(
    server: PostgresServer, monkeypatch: pytest.MonkeyPatch, idle: float, pool_size: int = 1
) -> Iterator[tuple[Engine, list[int]]]:
    """An engine on ``server`` and the list its pings are counted in; disposed afterwards."""
    engine = make_engine(str(server.url), pool_size=pool_size, ping_after_idle_seconds=idle)
    calls: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        calls.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        yield engine, calls
    finally:
        engine.dispose()


def _answer(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT 41 + 1")).scalar_one())


def _restart(server: PostgresServer) -> None:
    server.stop("fast")
    server.start()


def test_a_connection_in_use_is_not_pinged_and_an_idle_one_is(
    own_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _pool(own_server, monkeypatch, IDLE) as (engine, pings):
        for _ in range(5):
            assert _answer(engine) == 42
        assert pings == []  # the first is a new connection, the others came straight back
        time.sleep(IDLE + 0.1)
        assert _answer(engine) == 42
        assert pings == [1]
        assert _answer(engine) == 42
        assert pings == [1]


def test_an_idle_connection_to_a_restarted_server_is_replaced_before_use(
    own_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _pool(own_server, monkeypatch, IDLE) as (engine, pings):
        assert _answer(engine) == 42
        _restart(own_server)
        time.sleep(IDLE + 0.1)
        assert _answer(engine) == 42  # its ping failed: a new connection answered
        assert pings == [1]


def test_a_busy_pool_meets_a_restart_once_and_then_recovers(
    own_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection used within the delay is handed out unpinged: after a restart its unit of
    work fails with the disconnect (as one in flight would anyway), SQLAlchemy invalidates
    every connection of the pool older than that, and the next units of work succeed."""
    with _pool(own_server, monkeypatch, idle=60.0, pool_size=2) as (engine, pings):
        with engine.connect() as first, engine.connect() as second:  # two pooled connections
            assert first.execute(text("SELECT 1")).scalar_one() == 1
            assert second.execute(text("SELECT 1")).scalar_one() == 1
        _restart(own_server)
        with pytest.raises(exc.OperationalError) as failed:
            _answer(engine)
        assert failed.value.connection_invalidated
        assert [_answer(engine) for _ in range(4)] == [42] * 4
        assert pings == []
