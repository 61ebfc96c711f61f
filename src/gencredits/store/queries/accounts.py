"""Accounts: the row a balance change locks, and the only statements that change balances.

Balances change only through :func:`apply_account_delta` (or :func:`apply_available_deltas`
for a batch), which the caller runs after :func:`lock_account`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    func,
    insert,
    select,
    update,
)

from gencredits.store.engine import is_sqlite
from gencredits.store.failures import duplicates_raised
from gencredits.store.prepared import Prepared, PreparedIn
from gencredits.store.tables import (
    accounts,
)


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    name: str
    kind: str
    plan_id: str
    pending_plan_id: str | None
    anchor_at: datetime
    cycle_index: int
    cycle_number: int
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    available_credits: int
    held_credits: int
    next_event_at: datetime
    created_at: datetime
    low_balance_credits: int = 0

    @property
    def balance_credits(self) -> int:
        return self.available_credits + self.held_credits


# The statements of the charge's hot path are built once, with bound parameters, and run
# through the driver (store/prepared.py): building a Core statement per call cost 60-120 us
# each, and SQLAlchemy's execution path as much again as the driver's (benchmarks/RESULTS.md).
# Parameter names avoid column names, which UPDATE reserves.
_SELECT_ACCOUNT_COLUMNS = select(*(accounts.c[name] for name in AccountRow.__slots__))
_SELECT_ACCOUNT = _SELECT_ACCOUNT_COLUMNS.where(accounts.c.id == bindparam("p_account_id"))
_READ_ACCOUNT = Prepared(_SELECT_ACCOUNT)
_LOCK_ACCOUNT = Prepared(_SELECT_ACCOUNT.with_for_update())


def lock_account(connection: Connection, account_id: str) -> AccountRow | None:
    """Read an account and lock its row until commit (a no-op lock under SQLite's
    ``BEGIN IMMEDIATE``, which already holds the database's write lock)."""
    row = _LOCK_ACCOUNT.first(connection, {"p_account_id": account_id})
    return None if row is None else AccountRow(*row)


# FOR UPDATE locks on PostgreSQL; SQLite's compiler leaves it out (BEGIN IMMEDIATE holds the
# database's write lock already).
_LOCK_ACCOUNTS = PreparedIn(
    lambda binds: (
        _SELECT_ACCOUNT_COLUMNS.where(accounts.c.id.in_(binds))
        .order_by(accounts.c.id)
        .with_for_update()
    )
)


def lock_accounts(connection: Connection, account_ids: Sequence[str]) -> dict[str, AccountRow]:
    """Read and lock many accounts in one statement, in id order (PostgreSQL locks the rows
    in the order it returns them: the order every multi-account lock here takes; a batch of
    more than one statement's worth locks them chunk by chunk, still in id order)."""
    rows = _LOCK_ACCOUNTS.rows(connection, sorted(set(account_ids)))
    return {row[0]: AccountRow(*row) for row in rows}


def read_account(connection: Connection, account_id: str) -> AccountRow | None:
    row = _READ_ACCOUNT.first(connection, {"p_account_id": account_id})
    return None if row is None else AccountRow(*row)


_APPLY_DELTA = (
    update(accounts)
    .where(accounts.c.id == bindparam("p_account_id"))
    .values(
        available_credits=accounts.c.available_credits + bindparam("p_available_delta"),
        held_credits=accounts.c.held_credits + bindparam("p_held_delta"),
    )
)
_NEXT_EVENT_BOUND = bindparam("p_next_event_at", type_=accounts.c.next_event_at.type)
_APPLY_DELTA_AND_EVENT = {
    "sqlite": Prepared(
        _APPLY_DELTA.values(next_event_at=func.min(accounts.c.next_event_at, _NEXT_EVENT_BOUND))
    ),
    "postgresql": Prepared(
        _APPLY_DELTA.values(next_event_at=func.least(accounts.c.next_event_at, _NEXT_EVENT_BOUND))
    ),
}
_APPLY_DELTA_ONLY = Prepared(_APPLY_DELTA)


def apply_account_delta(
    connection: Connection,
    account_id: str,
    *,
    available_delta: int,
    held_delta: int,
    next_event_at: datetime | None = None,
) -> None:
    parameters: dict[str, Any] = {
        "p_account_id": account_id,
        "p_available_delta": available_delta,
        "p_held_delta": held_delta,
    }
    statement = _APPLY_DELTA_ONLY
    if next_event_at is not None:
        parameters["p_next_event_at"] = next_event_at
        statement = _APPLY_DELTA_AND_EVENT["sqlite" if is_sqlite(connection) else "postgresql"]
    statement.change(connection, parameters, 1, f"account {account_id} is gone")


def apply_available_deltas(connection: Connection, deltas: Sequence[tuple[str, int]]) -> None:
    """Change many accounts' available credits: (account id, delta) each; one executemany
    for a batch's many accounts."""
    parameters = [
        {"p_account_id": account_id, "p_available_delta": delta, "p_held_delta": 0}
        for account_id, delta in deltas
    ]
    if len(parameters) > 2:
        _APPLY_DELTA_ONLY.change_many(connection, parameters, "an account is gone")
        return
    for values in parameters:
        _APPLY_DELTA_ONLY.change(connection, values, 1, f"account {values['p_account_id']} is gone")


def update_account(connection: Connection, account_id: str, **values: Any) -> None:
    connection.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


def count_accounts_among(connection: Connection, account_ids: Sequence[str]) -> int:
    """How many of these ids are accounts."""
    found = connection.execute(
        select(func.count()).where(accounts.c.id.in_(account_ids))
    ).scalar_one()
    return int(found)


def has_accounts(connection: Connection) -> bool:
    return connection.execute(select(accounts.c.id).limit(1)).first() is not None


def first_accounts(connection: Connection, limit: int) -> list[tuple[str, str]]:
    """(id, name) of the first ``limit`` accounts in id order."""
    rows = connection.execute(
        select(accounts.c.id, accounts.c.name).order_by(accounts.c.id).limit(limit)
    ).all()
    return [(str(row[0]), str(row[1])) for row in rows]


def insert_account(
    connection: Connection,
    *,
    account_id: str,
    name: str,
    kind: str,
    plan_id: str,
    now: datetime,
    next_event_at: datetime,
) -> None:
    """A new account with no credits, its cycle not started yet (``cycle_*`` at ``now``).

    Raises :class:`~gencredits.store.failures.DuplicateRow` when another transaction opened
    an account with this id first (PostgreSQL has no row to lock before it exists)."""
    with duplicates_raised():
        connection.execute(
            insert(accounts).values(
                id=account_id,
                name=name,
                kind=kind,
                plan_id=plan_id,
                pending_plan_id=None,
                anchor_at=now,
                cycle_index=0,
                cycle_number=0,
                cycle_starts_at=now,
                cycle_ends_at=now,
                available_credits=0,
                held_credits=0,
                next_event_at=next_event_at,
                created_at=now,
            )
        )


def page_account_ids(connection: Connection, *, after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` account ids in id order, those after ``after`` (a page's cursor)."""
    statement = select(accounts.c.id).order_by(accounts.c.id).limit(limit)
    if after:
        statement = statement.where(accounts.c.id > after)
    return list(connection.execute(statement).scalars())


def accounts_due(connection: Connection, now: datetime, *, after: str, limit: int) -> list[str]:
    """Up to ``limit`` ids, in id order after ``after``, of accounts with something due by
    ``now`` (a renewal, an expiry)."""
    statement = (
        select(accounts.c.id)
        .where(accounts.c.next_event_at <= now, accounts.c.id > after)
        .order_by(accounts.c.id)
        .limit(limit)
    )
    return list(connection.execute(statement).scalars())


def account_exists(connection: Connection, account_id: str) -> bool:
    found = connection.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first()
    return found is not None
