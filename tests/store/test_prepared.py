"""Statements run through the driver give what ``Connection.execute`` gives, on both backends:
the same SQL, the same typed values in (UTC datetimes, JSON, booleans, literals written into
the statement) and the same values out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, bindparam, insert, select, update

from gencredits.store.engine import make_engine, migrate, write_transaction
from gencredits.store.prepared import Prepared
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
