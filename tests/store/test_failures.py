"""The store's own failures, which the service catches instead of SQLAlchemy's: an insert that
meets a row with the same key is :class:`DuplicateRow`, a database that does not answer is
:class:`DatabaseUnavailable`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gencredits.store.engine import make_engine, migrate, write_transaction
from gencredits.store.failures import DatabaseUnavailable, DuplicateRow
from gencredits.store.queries import accounts, catalog_versions, health, plans

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_second_insert_of_a_key_is_a_duplicate_row(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with write_transaction(engine) as connection:
            plans.insert_plan(connection, "basic", {"id": "basic"}, NOW)
            accounts.insert_account(
                connection, account_id="ana", name="Ana", kind="person", plan_id="basic",
                now=NOW, next_event_at=NOW,
            )
            catalog_versions.insert_version(
                connection, version=1, document={}, now=NOW, actor="test", note=""
            )
        with pytest.raises(DuplicateRow), write_transaction(engine) as connection:
            accounts.insert_account(
                connection, account_id="ana", name="Ana again", kind="person",
                plan_id="basic", now=NOW, next_event_at=NOW,
            )
        with pytest.raises(DuplicateRow), write_transaction(engine) as connection:
            catalog_versions.insert_version(
                connection, version=1, document={}, now=NOW, actor="test", note=""
            )
        with pytest.raises(DuplicateRow), write_transaction(engine) as connection:
            plans.insert_plan(connection, "basic", {"id": "basic"}, NOW)
    finally:
        engine.dispose()


def test_a_database_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    """A SQLite file that cannot be opened (its folder became a file): the ping names the
    driver's error, which is what /readyz reports."""
    folder = tmp_path / "folder"
    engine = make_engine(f"sqlite:///{folder}/gencredits.db")
    engine.dispose()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("")
    try:
        with pytest.raises(DatabaseUnavailable) as unavailable:
            health.ping(engine)
        assert unavailable.value.reason == "OperationalError"
    finally:
        engine.dispose()


def test_a_database_that_answers_pings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/gencredits.db")
    try:
        health.ping(engine)
    finally:
        engine.dispose()
