"""Statements run through the driver give what ``Connection.execute`` gives, on both backends:
the same SQL, the same typed values in (UTC datetimes, JSON, booleans, literals written into
the statement) and the same values out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, insert, select, update

from gencredits.store import queries
from gencredits.store.engine import make_engine, migrate, write_transaction
from gencredits.store.prepared import (
    Prepared,
    PreparedIn,
    PreparedInsert,
    RowCountMismatch,
    pipelined,
)
from gencredits.store.tables import accounts, grants, idempotency_keys, plans

MOMENT = datetime(2026, 3, 31, 23, 59, 58, 123456, tzinfo=UTC)
# The same moment written in another zone: stored and read back as UTC.
ELSEWHERE = MOMENT.astimezone(timezone(timedelta(hours=-5)))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=2)
    migrate(engine)
    with write_transaction(engine) as connection:
        connection.execute(
            insert(plans).values(id="free", document={}, created_at=MOMENT, updated_at=MOMENT)
        )
        connection.execute(
            insert(accounts).values(
                id="acct", name="A", kind="person", plan_id="free", anchor_at=MOMENT,
                cycle_index=0, cycle_number=1, cycle_starts_at=MOMENT,
                cycle_ends_at=MOMENT + timedelta(days=30), available_credits=100,
                held_credits=0, next_event_at=MOMENT + timedelta(days=30), created_at=MOMENT,
            )
        )
    yield engine
    engine.dispose()


GRANT = {
    "account_id": "acct",
    "source": "plan",
    "amount_credits": 100,
    "remaining_credits": 40,
    "priority": 1,
    "starts_at": MOMENT,
    "expires_at": ELSEWHERE,
    "expired": False,
    "cycle_number": 1,
    "created_at": MOMENT,
}
INSERT_GRANT = Prepared(
    insert(grants).values({name: bindparam(name) for name in GRANT}).returning(grants.c.id)
)
LIVE = Prepared(
    select(grants.c.id, grants.c.expires_at, grants.c.expired).where(
        grants.c.account_id == bindparam("p_account"),
        grants.c.remaining_credits > 0,  # a literal the statement carries
        grants.c.expires_at > bindparam("p_now"),
    )
)
TAKE = Prepared(
    update(grants)
    .where(grants.c.id == bindparam("p_id"), grants.c.remaining_credits >= bindparam("p_take"))
    .values(remaining_credits=grants.c.remaining_credits - bindparam("p_take"))
)


def test_values_in_and_out_match_sqlalchemy(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        row = INSERT_GRANT.first(connection, GRANT)
        assert row is not None
        grant_id = row[0]
        prepared = LIVE.rows(connection, {"p_account": "acct", "p_now": MOMENT - timedelta(1)})
        through_sqlalchemy = connection.execute(
            LIVE.statement, {"p_account": "acct", "p_now": MOMENT - timedelta(1)}
        ).all()
    assert prepared == [tuple(r) for r in through_sqlalchemy]
    assert prepared == [(grant_id, MOMENT, False)]
    assert prepared[0][1].tzinfo == UTC


def test_literals_and_rowcounts(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        row = INSERT_GRANT.first(connection, GRANT | {"remaining_credits": 0})
        assert row is not None
        # remaining_credits > 0 is written into the statement: the empty grant is not live.
        assert LIVE.rows(connection, {"p_account": "acct", "p_now": MOMENT - timedelta(1)}) == []
        assert TAKE.execute(connection, {"p_id": row[0], "p_take": 1}) == 0
        full = INSERT_GRANT.first(connection, GRANT | {"cycle_number": 2})
        assert full is not None
        assert TAKE.execute(connection, {"p_id": full[0], "p_take": 40}) == 1
        remaining = connection.execute(
            select(grants.c.remaining_credits).where(grants.c.id == full[0])
        ).scalar_one()
    assert remaining == 0


def test_json_round_trips_and_missing_values_are_named(engine: Engine) -> None:
    statement = Prepared(
        insert(idempotency_keys).values(
            {name: bindparam(name) for name in ("scope", "key", "operation", "request_hash",
                                                "response", "created_at")}
        )
    )
    read = Prepared(
        select(idempotency_keys.c.response, idempotency_keys.c.created_at).where(
            idempotency_keys.c.key == bindparam("p_key")
        )
    )
    response = {"entry_id": 7, "nested": [1, "two", None], "text": "é"}
    with write_transaction(engine) as connection:
        statement.execute(
            connection,
            {"scope": "acct", "key": "k", "operation": "charge", "request_hash": "h",
             "response": response, "created_at": ELSEWHERE},
        )
        assert read.first(connection, {"p_key": "k"}) == (response, MOMENT)
        assert read.first(connection, {"p_key": "absent"}) is None
        with pytest.raises(KeyError, match="p_key"):
            read.first(connection, {})


def test_execute_many_counts_every_row_it_changed(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        first, second = (
            INSERT_GRANT.first(connection, GRANT | {"cycle_number": number}) for number in (2, 3)
        )
        assert first is not None and second is not None
        changed = TAKE.execute_many(
            connection,
            [{"p_id": first[0], "p_take": 10}, {"p_id": second[0], "p_take": 15},
             {"p_id": first[0], "p_take": 1000}],  # more than it has: changes nothing
        )
        left = dict(connection.execute(select(grants.c.id, grants.c.remaining_credits)).all())
    assert changed in (2, -1)  # -1: a driver that does not count executemany's rows
    assert left == {first[0]: 30, second[0]: 25}


def _remaining(engine: Engine) -> dict[int, int]:
    with engine.connect() as connection:
        return dict(connection.execute(select(grants.c.id, grants.c.remaining_credits)).all())


def test_a_pipeline_checks_every_row_count_and_reads_what_it_wrote(engine: Engine) -> None:
    """Inside ``pipelined`` (PostgreSQL's pipeline mode; nothing on SQLite) writes that must
    change rows are checked when the block ends, reads see the writes before them, and the
    transaction commits all of it."""
    with write_transaction(engine) as connection:
        first, second = (
            INSERT_GRANT.first(connection, GRANT | {"cycle_number": number}) for number in (2, 3)
        )
        assert first is not None and second is not None
        with pipelined(connection):
            TAKE.change(connection, {"p_id": first[0], "p_take": 10}, 1, "first")
            TAKE.change_many(
                connection,
                [{"p_id": second[0], "p_take": 15}, {"p_id": second[0], "p_take": 5}],
                "second",
            )
            ids = INSERT_GRANTS.insert_many(
                connection, [GRANT | {"cycle_number": 4}, GRANT | {"cycle_number": 5}]
            )
            seen = LIVE.rows(connection, {"p_account": "acct", "p_now": MOMENT - timedelta(1)})
            with pipelined(connection):  # nested: part of the outer pipeline
                TAKE.change(connection, {"p_id": ids[0], "p_take": 1}, 1, "nested")
        assert {row[0] for row in seen} == {first[0], second[0], *ids}
    assert _remaining(engine) == {first[0]: 30, second[0]: 20, ids[0]: 39, ids[1]: 40}


@pytest.mark.parametrize("many", [False, True])
def test_a_write_that_changes_too_few_rows_fails_its_transaction(
    engine: Engine, many: bool
) -> None:
    """A grant asked for more than it has changes no row: the check fails (at once on
    SQLite, when the pipeline ends on PostgreSQL) and the transaction keeps nothing, not even
    the writes of the same pipeline that did change their rows."""
    with write_transaction(engine) as connection:
        grant = INSERT_GRANT.first(connection, GRANT)
    assert grant is not None
    with (
        pytest.raises(RowCountMismatch, match="could not give"),
        write_transaction(engine) as connection,
        pipelined(connection),
    ):
        TAKE.change(connection, {"p_id": grant[0], "p_take": 10}, 1, "ten")
        if many:
            TAKE.change_many(
                connection,
                [{"p_id": grant[0], "p_take": 1}, {"p_id": grant[0], "p_take": 1000}],
                "could not give 1000",
            )
        else:
            TAKE.change(connection, {"p_id": grant[0], "p_take": 1000}, 1, "could not give")
        TAKE.change(connection, {"p_id": grant[0], "p_take": 5}, 1, "five")
    assert _remaining(engine) == {grant[0]: 40}
    # The connection is fit for the next unit of work (the pipeline closed, its checks gone).
    with write_transaction(engine) as connection:
        TAKE.change(connection, {"p_id": grant[0], "p_take": 40}, 1, "all")
    assert _remaining(engine) == {grant[0]: 0}


INSERT_GRANTS = PreparedInsert(insert(grants).values({name: bindparam(name) for name in GRANT}))


@pytest.mark.parametrize("count", [1, 2, 7])
def test_insert_many_returns_each_rows_id_in_order(engine: Engine, count: int) -> None:
    rows = [GRANT | {"cycle_number": 10 + number, "amount_credits": 1000 + number}
            for number in range(count)]
    with write_transaction(engine) as connection:
        INSERT_GRANT.first(connection, GRANT)  # ids need not start at 1
        ids = INSERT_GRANTS.insert_many(connection, rows)
        stored = dict(connection.execute(select(grants.c.id, grants.c.amount_credits)).all())
    assert len(set(ids)) == count
    assert [stored[grant_id] for grant_id in ids] == [row["amount_credits"] for row in rows]


ACCOUNT_NAMES = Prepared(select(accounts.c.id))


@pytest.mark.parametrize("count", [1, 3, 5, 16, 17, 300, 600])
def test_an_in_list_of_any_length_finds_each_item_once(engine: Engine, count: int) -> None:
    """Chunks of 256, each padded to a compiled size by repeating its last item."""
    ids_in = PreparedIn(
        lambda binds: select(accounts.c.id, accounts.c.available_credits).where(
            accounts.c.id.in_(binds)
        )
    )
    wanted = ["acct"] + [f"absent-{number}" for number in range(count - 1)]
    with write_transaction(engine) as connection:
        assert ids_in.rows(connection, wanted) == [("acct", 100)]
        assert ids_in.rows(connection, wanted[1:]) == []


def test_sqlite_looks_each_batch_item_up_in_an_index(tmp_path: Path) -> None:
    """The batch statements (accounts, live grants, idempotency keys) search an index for
    their IN list's items; a row-value IN made SQLite scan the whole key index per batch."""
    engine = make_engine(f"sqlite:///{tmp_path}/plans.db", pool_size=1)
    migrate(engine)
    statements = {
        "accounts": queries.accounts._LOCK_ACCOUNTS,
        "grants": queries.grants._LIVE_GRANTS_OF,
        "idempotency_keys": queries.idempotency._FIND_KEYS,
    }
    with engine.connect() as connection:
        for table, statement in statements.items():
            for size in PreparedIn.SIZES:
                compiled = statement._by_size[size]._compiled(connection.dialect)
                plan = connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + compiled.sql, tuple([None] * len(compiled.names))
                ).all()
                steps = " | ".join(row[-1] for row in plan)
                assert "SEARCH" in steps and f"SCAN {table}" not in steps, (table, size, steps)
                assert "SCAN k " not in steps + " ", (table, size, steps)
    engine.dispose()
