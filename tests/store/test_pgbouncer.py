"""gencredits' connections work behind PgBouncer in transaction mode (tests/pgbouncer.py).

There every transaction may run on another server connection, so nothing a connection keeps
between transactions may be relied on. psycopg 3 PREPAREs a statement on the server once a
connection has run it five times (``prepare_threshold``), under a name counted per client
connection (``_pg3_0``, ``_pg3_1``, ...): through PgBouncer the next transaction found it on a
server connection where another client had already made ``_pg3_0`` ("prepared statement
"_pg3_0" already exists"), or where it did not exist at all."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, literal_column, select, text

from gencredits.store.engine import make_engine
from gencredits.store.prepared import Prepared

pytestmark = pytest.mark.postgres

RUNS = 12  # each statement's runs per connection: past psycopg's threshold of five
CONNECTIONS = 3

PLUS_ONE = Prepared(select((bindparam("number") + 1).label("answer")))
CORE = select(literal_column("2") * bindparam("number"))
CAST = text("SELECT CAST(:n AS integer)")


def test_statements_run_again_and_again_on_several_connections(pgbouncer_url: str) -> None:
    engine = make_engine(pgbouncer_url, pool_size=CONNECTIONS)
    try:
        # Several connections held at once, each running the same statements in turns, one
        # transaction each time: PgBouncer hands the transactions out over its server
        # connections, so a statement prepared by one client meets the others.
        connections = [engine.connect() for _ in range(CONNECTIONS)]
        try:
            for number in range(RUNS):
                for connection in connections:
                    with connection.begin():
                        assert PLUS_ONE.first(connection, {"number": number}) == (number + 1,)
                        answer = connection.execute(CORE, {"number": number}).scalar_one()
                        assert answer == 2 * number
                        same = connection.execute(CAST, {"n": number}).scalar_one()
                        assert same == number
        finally:
            for connection in connections:
                connection.close()
    finally:
        engine.dispose()


def test_many_rows_written_in_pipelines(pgbouncer_url: str) -> None:
    """``executemany`` (psycopg's pipeline) of the same INSERT, again and again."""
    engine = make_engine(pgbouncer_url, pool_size=CONNECTIONS)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE numbers (n integer NOT NULL)"))
        insert = text("INSERT INTO numbers (n) VALUES (:n)")
        connections = [engine.connect() for _ in range(CONNECTIONS)]
        try:
            for round_number in range(RUNS):
                for connection in connections:
                    with connection.begin():
                        connection.execute(insert, [{"n": round_number}, {"n": -round_number}])
        finally:
            for connection in connections:
                connection.close()
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*), sum(n) FROM numbers")).one()
        assert tuple(count) == (2 * RUNS * CONNECTIONS, 0)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("setting", "prepares"), [(None, False), ("0", False), ("1", True)])
def test_statements_are_prepared_on_the_server_only_when_asked(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, setting: str | None, prepares: bool
) -> None:
    """Off by default (a transaction pooler may be in between); GENCREDITS_PREPARE_ON_SERVER=1
    gives psycopg's own behaviour back, for a direct connection."""
    if setting is None:
        monkeypatch.delenv("GENCREDITS_PREPARE_ON_SERVER", raising=False)
    else:
        monkeypatch.setenv("GENCREDITS_PREPARE_ON_SERVER", setting)
    engine = make_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as connection:
            for number in range(RUNS):
                with connection.begin():
                    assert PLUS_ONE.first(connection, {"number": number}) == (number + 1,)
            with connection.begin():
                names = connection.execute(text("SELECT name FROM pg_prepared_statements"))
                assert bool(names.scalars().all()) is prepares
    finally:
        engine.dispose()
