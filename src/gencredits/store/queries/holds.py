"""Holds: credits reserved for a job, settled (captured or released) at most once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    bindparam,
    func,
    insert,
    select,
    update,
)

from gencredits.domain.holds import HeldCredits
from gencredits.domain.ledger import (
    Hold,
    HoldStatus,
)
from gencredits.store.prepared import Prepared
from gencredits.store.tables import (
    holds,
)


def _hold(row: Mapping[Any, Any]) -> Hold:
    return Hold(
        id=row["id"],
        account_id=row["account_id"],
        status=HoldStatus(row["status"]),
        amount_credits=row["amount_credits"],
        captured_credits=row["captured_credits"],
        price_version=row["price_version"],
        model_id=row["model_id"],
        project=row["project"],
        job_ref=row["job_ref"],
        quote=row["quote"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        settled_at=row["settled_at"],
    )


def held_credits(row: Mapping[Any, Any]) -> HeldCredits:
    """What settling the hold of ``row`` (a row of ``holds``) needs, for ``domain/holds.py``."""
    return HeldCredits(
        hold_id=row["id"],
        status=HoldStatus(row["status"]),
        amount_credits=row["amount_credits"],
        allocations=tuple((grant_id, credits) for grant_id, credits in row["allocations"]),
        expires_at=row["expires_at"],
    )


# A hold and its capture are the second hot path: built once, like the charge's statements.
_HOLD_COLUMNS = tuple(column.key for column in holds.c if column.key != "id")
_INSERT_HOLD = Prepared(
    insert(holds).values({name: bindparam(name) for name in _HOLD_COLUMNS}).returning(holds)
)
_READ_HOLD = Prepared(select(holds).where(holds.c.id == bindparam("p_hold_id")))
_SETTLE_HOLD = Prepared(
    update(holds)
    .where(holds.c.id == bindparam("p_hold_id"), holds.c.status == HoldStatus.PENDING.value)
    .values(
        status=bindparam("p_status"),
        captured_credits=bindparam("p_captured"),
        settled_at=bindparam("p_settled_at", type_=holds.c.settled_at.type),
    )
    .returning(holds)
)
_NEXT_HOLD_EXPIRY = Prepared(
    select(func.min(holds.c.expires_at)).where(
        holds.c.account_id == bindparam("p_account_id"),
        holds.c.status == HoldStatus.PENDING.value,
    )
)
_PENDING_HOLD_COUNT = Prepared(
    select(func.count()).where(
        holds.c.account_id == bindparam("p_account_id"),
        holds.c.status == HoldStatus.PENDING.value,
    )
)


def insert_hold(connection: Connection, **values: Any) -> Hold:
    unknown = values.keys() - set(_HOLD_COLUMNS)
    assert not unknown, f"holds have no column {sorted(unknown)}"
    row = _INSERT_HOLD.first_mapping(connection, dict.fromkeys(_HOLD_COLUMNS) | values)
    assert row is not None
    return _hold(row)


_HOLD_ACCOUNT = Prepared(select(holds.c.account_id).where(holds.c.id == bindparam("p_hold_id")))


def hold_account(connection: Connection, hold_id: int) -> str | None:
    """The account a hold belongs to (which never changes): what a settlement locks before
    it reads the hold itself."""
    row = _HOLD_ACCOUNT.first(connection, {"p_hold_id": hold_id})
    return None if row is None else str(row[0])


def read_hold(connection: Connection, hold_id: int) -> tuple[Hold, Mapping[str, Any]] | None:
    row = _READ_HOLD.first_mapping(connection, {"p_hold_id": hold_id})
    return None if row is None else (_hold(row), row)


def hold_by_job(connection: Connection, account_id: str, job_ref: str) -> int | None:
    return connection.execute(
        select(holds.c.id)
        .where(holds.c.account_id == account_id, holds.c.job_ref == job_ref)
        .order_by(holds.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def settle_hold(
    connection: Connection, hold_id: int, status: HoldStatus, captured: int | None, at: datetime
) -> Hold:
    parameters = {
        "p_hold_id": hold_id,
        "p_status": status.value,
        "p_captured": captured,
        "p_settled_at": at,
    }
    row = _SETTLE_HOLD.first_mapping(connection, parameters)
    assert row is not None, f"hold {hold_id} was not pending"
    return _hold(row)


def holds_due(connection: Connection, account_id: str, now: datetime) -> list[RowMapping]:
    return list(
        connection.execute(
            select(holds)
            .where(
                holds.c.account_id == account_id,
                holds.c.status == HoldStatus.PENDING.value,
                holds.c.expires_at <= now,
            )
            .order_by(holds.c.expires_at, holds.c.id)
        ).mappings()
    )


def next_hold_expiry(connection: Connection, account_id: str) -> datetime | None:
    row = _NEXT_HOLD_EXPIRY.first(connection, {"p_account_id": account_id})
    return None if row is None else row[0]


def pending_hold_count(connection: Connection, account_id: str) -> int:
    row = _PENDING_HOLD_COUNT.first(connection, {"p_account_id": account_id})
    assert row is not None
    return int(row[0])


def list_holds(
    connection: Connection, account_id: str, status: HoldStatus | None, limit: int
) -> list[Hold]:
    statement = select(holds).where(holds.c.account_id == account_id)
    if status is not None:
        statement = statement.where(holds.c.status == status.value)
    rows = connection.execute(statement.order_by(holds.c.id.desc()).limit(limit)).mappings()
    return [_hold(row) for row in rows]
