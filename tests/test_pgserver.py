"""The throwaway PostgreSQL server (tests/pgserver.py) and its fixtures work."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa

from tests.pgserver import PostgresServer, libpq_url, start_postgres

pytestmark = pytest.mark.postgres


def user_tables(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return [str(row[0]) for row in rows]


def test_fixture_database_accepts_writes_and_reads(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        conn.execute("CREATE TABLE account (id int PRIMARY KEY, credits bigint NOT NULL)")
        conn.execute("INSERT INTO account VALUES (1, 100), (2, 250)")
        conn.commit()
        rows = conn.execute("SELECT id, credits FROM account ORDER BY id").fetchall()
    assert rows == [(1, 100), (2, 250)]


def test_server_listens_on_loopback_with_fsync_on(postgres_server: PostgresServer) -> None:
    with psycopg.connect(libpq_url(postgres_server.url)) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW max_connections").fetchone() == ("200",)


def test_two_databases_are_distinct(postgres_server: PostgresServer, postgres_url: str) -> None:
    other_url = postgres_server.create_database(f"test_{uuid.uuid4().hex}")
    assert other_url != postgres_url
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
        conn.commit()
        assert user_tables(conn) == ["only_here"]
    with psycopg.connect(libpq_url(other_url)) as conn:
        assert user_tables(conn) == []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_empty_database(postgres_url: str, run: int) -> None:
    # Both runs create the same table: the second would fail if they shared a database.
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        assert user_tables(conn) == []
        conn.execute("CREATE TABLE marker (run int)")
        conn.execute("INSERT INTO marker VALUES (%s)", (run,))
        conn.commit()


def test_database_url_is_fresh_and_usable(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE t (x integer)"))
            conn.execute(sa.text("INSERT INTO t VALUES (7)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM t")).scalar_one() == 7
    finally:
        engine.dispose()


def test_immediate_stop_then_start_keeps_committed_data(postgres_server: PostgresServer) -> None:
    # postgres_server is requested only so that this test skips/fails with the others
    # when PostgreSQL is unavailable; it runs on its own server, which it crashes.
    server = start_postgres()
    try:
        assert server.port != postgres_server.port
        url = libpq_url(server.create_database("crash"))
        conn = psycopg.connect(url)
        try:
            conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, amount bigint)")
            conn.execute("INSERT INTO ledger VALUES (1, 10), (2, -3)")
            conn.commit()
            # Uncommitted work must not survive the crash.
            conn.execute("INSERT INTO ledger VALUES (3, 99)")
            server.stop("immediate")
        finally:
            conn.close()  # not `with`: its exit would commit on a dead connection
        assert not server.is_running()

        server.start()
        assert server.is_running()
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT id, amount FROM ledger ORDER BY id").fetchall()
        assert rows == [(1, 10), (2, -3)]
    finally:
        server.destroy()
    assert not server.is_running()
    assert not server.data_dir.exists()
