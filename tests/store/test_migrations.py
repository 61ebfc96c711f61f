"""The migrations build exactly the schema ``store/tables.py`` declares, on both backends,
and a query for a project's usage still finds the partial project index."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from gencredits.store.engine import is_sqlite, make_engine, migrate
from gencredits.store.tables import metadata


def test_migrations_match_the_declared_tables(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, metadata)
            assert differences == []
            if is_sqlite(engine):
                plan = connection.execute(text(
                    "EXPLAIN QUERY PLAN SELECT sum(balance_delta) FROM entries "
                    "WHERE account_id = 'a' AND project = 'p' AND effective_at >= '2026-01-01'"
                )).all()
                assert "ix_entries_project" in " ".join(str(row) for row in plan)
                where = connection.execute(text(
                    "SELECT sql FROM sqlite_master WHERE name = 'ix_entries_project'"
                )).scalar_one()
                assert "WHERE project IS NOT NULL" in where
            else:
                where = connection.execute(text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_entries_project'"
                )).scalar_one()
                assert "WHERE (project IS NOT NULL)" in where
    finally:
        engine.dispose()
