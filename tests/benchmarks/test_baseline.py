"""The floor under the per-charge path (``RawSqliteCharges``) must stay the statements a real
charge runs, and leave a ledger that still adds up: otherwise its figure means nothing."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from benchmarks.baseline import RawPostgresCharges, RawSqliteCharges, RawSqliteChargesKeyInEntry
from benchmarks.fixtures import CHARGE_CREDITS, CHARGE_REQUEST, service_with_accounts

from gencredits import Gencredits
from gencredits.domain.errors import IdempotencyConflict


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Gencredits, str]]:
    path = str(tmp_path / "floor.db")
    with service_with_accounts(f"sqlite:///{path}", 2) as service:
        service.charge("acct-00000", CHARGE_REQUEST, idempotency_key="first")
        yield service, path


def shape(statement: str) -> str:
    """A statement's verb and table: what it does, not how it is spelled."""
    words = re.findall(r'[A-Za-z_"]+', statement)
    verb = words[0].upper()
    if verb in {"BEGIN", "COMMIT", "ROLLBACK"}:
        return verb
    table = words[words.index("INTO") + 1] if verb == "INSERT" else None
    if verb == "UPDATE":
        table = words[1]
    if verb == "SELECT":
        table = words[[word.upper() for word in words].index("FROM") + 1]
    return f"{verb} {table}"


def traced(connection: sqlite3.Connection, charge: object) -> list[str]:
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        assert callable(charge)
        charge()
    finally:
        connection.set_trace_callback(None)
    return [shape(statement) for statement in statements if not statement.startswith("PRAGMA")]


def test_the_floor_runs_the_statements_a_charge_runs(database: tuple[Gencredits, str]) -> None:
    service, path = database
    with service.engine.connect() as connection:
        driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    # The pool hands the connection just returned to the next charge (last in, first out).
    real = traced(
        driver, lambda: service.charge("acct-00000", CHARGE_REQUEST, idempotency_key="real")
    )
    floor = RawSqliteCharges(path)
    try:
        raw = traced(
            floor.connection, lambda: floor.charge("acct-00000", CHARGE_CREDITS, "floor")
        )
    finally:
        floor.close()
    assert real[0] == "BEGIN" and real[-1] == "COMMIT"
    assert sorted(raw) == sorted(real)


def test_the_floor_leaves_a_ledger_that_adds_up(database_url: str) -> None:
    with service_with_accounts(database_url, 2) as service:
        service.charge("acct-00000", CHARGE_REQUEST, idempotency_key="first")
        before = service.account("acct-00001").available_credits
        floor: RawSqliteCharges | RawPostgresCharges = (
            RawSqliteCharges(database_url.removeprefix("sqlite:///"))
            if database_url.startswith("sqlite")
            else RawPostgresCharges(database_url)
        )
        try:
            assert floor.charge("acct-00001", CHARGE_CREDITS, "k1")
            assert not floor.charge("acct-00001", CHARGE_CREDITS, "k1"), "a used key is refused"
            assert not floor.charge("nobody", CHARGE_CREDITS, "k2")
            assert not floor.charge("acct-00001", before + 1, "k3"), "no grant covers it"
        finally:
            floor.close()
        assert service.account("acct-00001").available_credits == before - CHARGE_CREDITS
        report = service.verify()
        assert report.ok, report.differences
        # Its key is in gencredits' own table (with a request hash of its own): gencredits
        # refuses to reuse it for a charge, and charges nothing.
        with pytest.raises(IdempotencyConflict):
            service.charge("acct-00001", CHARGE_REQUEST, idempotency_key="k1")
        assert service.account("acct-00001").available_credits == before - CHARGE_CREDITS


def test_the_smaller_ledgers_floor_keeps_keys_in_entries(
    database: tuple[Gencredits, str], tmp_path: Path
) -> None:
    """The what-if subject: one statement fewer (no key row), the key found in the entries,
    on a copy; the ledger gencredits serves is left as it was."""
    _, path = database
    copy = str(tmp_path / "smaller.db")
    smaller = RawSqliteChargesKeyInEntry.copy_of(path, copy)
    try:
        charge = lambda: smaller.charge("acct-00000", CHARGE_CREDITS, "k1")  # noqa: E731
        statements = traced(smaller.connection, charge)
        assert not smaller.charge("acct-00000", CHARGE_CREDITS, "k1"), "a used key is refused"
        assert not smaller.charge("acct-00000", CHARGE_CREDITS, "first"), "as are gencredits'"
    finally:
        smaller.close()
    floor = RawSqliteCharges(path)
    try:
        full = traced(floor.connection, lambda: floor.charge("acct-00000", CHARGE_CREDITS, "k1"))
    finally:
        floor.close()
    # The same statements, less the key's row, with the key looked up among the entries.
    assert statements.count("SELECT entries") == 1
    looked_up = ["SELECT idempotency_keys" if s == "SELECT entries" else s for s in statements]
    assert sorted(full) == sorted([*looked_up, "INSERT idempotency_keys"])
    with closing(sqlite3.connect(copy)) as connection:
        assert connection.execute(
            "SELECT count(*) FROM entries WHERE idempotency_key = 'k1'"
        ).fetchone() == (1,)
        assert connection.execute(
            "SELECT count(*) FROM idempotency_keys WHERE \"key\" = 'k1'"
        ).fetchone() == (0,)
    with closing(sqlite3.connect(path)) as connection:  # the original has no such column
        columns = [row[1] for row in connection.execute("PRAGMA table_info(entries)")]
    assert "request_hash" not in columns
