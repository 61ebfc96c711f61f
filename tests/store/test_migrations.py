"""The migrations build exactly the schema ``store/tables.py`` declares, on both backends,
a query for a project's usage still finds the partial project index, and the events already
written survive the move to commit order."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from gencredits.store.engine import alembic_config, is_sqlite, make_engine, migrate
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


def test_events_migrate_to_commit_order_losing_no_delivery(database_url: str) -> None:
    """0005 numbers the events already there in id order and queues, for each active webhook,
    the events past its old cursor (of its types) that had no delivery yet."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0004")
        with engine.begin() as connection:
            for index, type_ in enumerate(["renewal", "low_balance", "renewal", "renewal"], 1):
                connection.execute(text(
                    "INSERT INTO events (id, event_id, type, payload, created_at) "
                    "VALUES (:id, :event_id, :type, '{}', '2026-01-31 09:00:00')"
                ), {"id": index, "event_id": f"evt_{index}", "type": type_})
            for hook, types, cursor, active in [("wh_all", "[]", 2, True),
                                                ("wh_renewal", '["renewal"]', 0, True),
                                                ("wh_off", "[]", 0, False)]:
                connection.execute(text(
                    "INSERT INTO webhooks (id, url, secret, event_types, active, "
                    "cursor_event_id, created_at) VALUES (:id, 'http://h', 's', :types, "
                    ":active, :cursor, '2026-01-31 09:00:00')"
                ), {"id": hook, "types": types, "cursor": cursor, "active": active})
            connection.execute(text(  # queued before the upgrade: not queued twice
                "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, "
                "next_attempt_at) VALUES ('wh_renewal', 1, 'delivered', 1, "
                "'2026-01-31 09:00:00')"
            ))
        migrate(engine)
        with engine.connect() as connection:
            positions = connection.execute(text(
                "SELECT id, position FROM events ORDER BY id"
            )).all()
            deliveries = connection.execute(text(
                "SELECT webhook_id, event_id FROM webhook_deliveries "
                "ORDER BY webhook_id, event_id"
            )).all()
        assert [tuple(row) for row in positions] == [(1, 1), (2, 2), (3, 3), (4, 4)]
        assert [tuple(row) for row in deliveries] == [
            ("wh_all", 3), ("wh_all", 4), ("wh_renewal", 1), ("wh_renewal", 3),
            ("wh_renewal", 4),
        ]
        with engine.begin() as connection:  # and back, and forth again
            command.downgrade(alembic_config(connection), "0004")
        migrate(engine)
        with engine.connect() as connection:
            again = connection.execute(text("SELECT count(*) FROM webhook_deliveries"))
            assert again.scalar_one() == len(deliveries)
    finally:
        engine.dispose()
