"""Grants: the credits an account holds, burned in order, given back, expired."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from gencredits.domain.ledger import (
    Allocation,
    GrantBalance,
)
from gencredits.store.prepared import Prepared, PreparedIn
from gencredits.store.tables import (
    grants,
)

_LIVE_GRANTS = Prepared(
    select(grants.c.id, grants.c.remaining_credits, grants.c.priority, grants.c.expires_at).where(
        grants.c.account_id == bindparam("p_account_id"),
        grants.c.expired.is_(False),
        grants.c.remaining_credits > 0,
        or_(grants.c.expires_at.is_(None), grants.c.expires_at > bindparam("p_now")),
    )
)


def live_grants(connection: Connection, account_id: str, now: datetime) -> list[GrantBalance]:
    """Grants with credits left that have not expired, for :func:`allocate`."""
    rows = _LIVE_GRANTS.rows(connection, {"p_account_id": account_id, "p_now": now})
    return [GrantBalance(*row) for row in rows]


_LIVE_GRANTS_OF = PreparedIn(
    lambda binds: select(
        grants.c.account_id,
        grants.c.id,
        grants.c.remaining_credits,
        grants.c.priority,
        grants.c.expires_at,
    ).where(
        grants.c.account_id.in_(binds),
        grants.c.expired.is_(False),
        grants.c.remaining_credits > 0,
        or_(
            grants.c.expires_at.is_(None),
            grants.c.expires_at > bindparam("p_now", type_=grants.c.expires_at.type),
        ),
    )
)


def live_grants_of(
    connection: Connection, account_ids: Sequence[str], now: datetime
) -> dict[str, list[GrantBalance]]:
    """:func:`live_grants` of many accounts in one statement."""
    found: dict[str, list[GrantBalance]] = {account_id: [] for account_id in account_ids}
    for account_id, *grant in _LIVE_GRANTS_OF.rows(
        connection, sorted(set(account_ids)), {"p_now": now}
    ):
        found[account_id].append(GrantBalance(*grant))
    return found


_TAKE_FROM_GRANT = Prepared(
    update(grants)
    .where(
        grants.c.id == bindparam("p_grant_id"),
        grants.c.remaining_credits >= bindparam("p_take"),
    )
    .values(remaining_credits=grants.c.remaining_credits - bindparam("p_take"))
)


def take_from_grants(connection: Connection, allocations: Sequence[Allocation]) -> None:
    if len(allocations) > 2:  # many grants (a batch's): one executemany
        parameters = [{"p_grant_id": grant, "p_take": credits} for grant, credits in allocations]
        _TAKE_FROM_GRANT.change_many(connection, parameters, "a grant could not give its share")
        return
    for grant_id, credits in allocations:
        _TAKE_FROM_GRANT.change(
            connection,
            {"p_grant_id": grant_id, "p_take": credits},
            1,
            f"grant {grant_id} could not give {credits}",
        )


_RETURN_TO_GRANT = Prepared(
    update(grants)
    .where(grants.c.id == bindparam("p_grant_id"))
    .values(remaining_credits=grants.c.remaining_credits + bindparam("p_credits"))
)


def return_to_grants(connection: Connection, allocations: Sequence[Allocation]) -> None:
    """Give credits back to the grants they came from (a release, a refund)."""
    for grant_id, credits in allocations:
        values = {"p_grant_id": grant_id, "p_credits": credits}
        _RETURN_TO_GRANT.change(connection, values, 1, f"grant {grant_id} is gone")


def expired_grant_ids(connection: Connection, grant_ids: Iterable[int]) -> set[int]:
    ids = list(grant_ids)
    if not ids:
        return set()
    rows = connection.execute(
        select(grants.c.id).where(grants.c.id.in_(ids), grants.c.expired.is_(True))
    ).all()
    return {row[0] for row in rows}


def insert_grant(connection: Connection, **values: Any) -> int:
    result = connection.execute(insert(grants).values(**values).returning(grants.c.id))
    return int(result.scalar_one())


def grants_due(connection: Connection, account_id: str, now: datetime) -> list[RowMapping]:
    """Unexpired grants whose expiry has passed, oldest expiry first."""
    return list(
        connection.execute(
            select(grants)
            .where(
                grants.c.account_id == account_id,
                grants.c.expired.is_(False),
                grants.c.expires_at.is_not(None),
                grants.c.expires_at <= now,
            )
            .order_by(grants.c.expires_at, grants.c.id)
        ).mappings()
    )


def mark_grant_expired(connection: Connection, grant_id: int, *, expires_at: datetime) -> None:
    connection.execute(
        update(grants)
        .where(grants.c.id == grant_id)
        .values(remaining_credits=0, expired=True, expires_at=expires_at)
    )


_NEXT_GRANT_EXPIRY = select(func.min(grants.c.expires_at)).where(
    grants.c.account_id == bindparam("p_account_id"),
    grants.c.expired.is_(False),
    grants.c.expires_at.is_not(None),
)


def next_grant_expiry(connection: Connection, account_id: str) -> datetime | None:
    return connection.execute(_NEXT_GRANT_EXPIRY, {"p_account_id": account_id}).scalar_one_or_none()


def has_cycle_grant(connection: Connection, account_id: str, source: str) -> bool:
    """Whether the account was ever given a cycle's allowance from ``source`` (a once plan,
    the free trial, grants its allowance once per account)."""
    granted = connection.execute(
        select(grants.c.id)
        .where(
            grants.c.account_id == account_id,
            grants.c.source == source,
            grants.c.cycle_number.is_not(None),
        )
        .limit(1)
    ).first()
    return granted is not None


def cycle_allowance(
    connection: Connection, account_id: str, cycle_number: int
) -> tuple[int, int] | None:
    """(amount, remaining) of the allowance granted for the account's cycle, if any."""
    row = connection.execute(
        select(grants.c.amount_credits, grants.c.remaining_credits).where(
            grants.c.account_id == account_id, grants.c.cycle_number == cycle_number
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def live_cycle_grants(
    connection: Connection, account_id: str, cycle_number: int
) -> list[tuple[int, int, str]]:
    """(id, remaining, source) of the cycle's grants that have not expired."""
    rows = connection.execute(
        select(grants.c.id, grants.c.remaining_credits, grants.c.source).where(
            grants.c.account_id == account_id,
            grants.c.cycle_number == cycle_number,
            grants.c.expired.is_(False),
        )
    ).all()
    return [(int(grant_id), int(remaining), str(source)) for grant_id, remaining, source in rows]


def grant_expiries(connection: Connection, grant_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Each grant's expiry (``None``: it lasts), by grant id."""
    ids = sorted(set(grant_ids))
    if not ids:
        return {}
    rows = connection.execute(
        select(grants.c.id, grants.c.expires_at).where(grants.c.id.in_(ids))
    ).all()
    return {int(grant_id): expires_at for grant_id, expires_at in rows}
