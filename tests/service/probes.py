"""Reading the database behind the service's back, with plain SQL, to check what it wrote.

The tests never trust the service's own report of its effects: entries, grants, holds and the
cached balances are read here straight from the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from gencredits import Gencredits
from gencredits.store.tables import accounts, entries, grants, holds


def _engine(target: Gencredits | Engine) -> Engine:
    return target.engine if isinstance(target, Gencredits) else target


def rows(target: Gencredits | Engine, statement: Any) -> list[dict[str, Any]]:
    with _engine(target).connect() as connection:
        return [dict(row) for row in connection.execute(statement).mappings()]


def scalar(target: Gencredits | Engine, statement: Any) -> Any:
    with _engine(target).connect() as connection:
        return connection.execute(statement).scalar()


def entry_count(target: Gencredits | Engine, account_id: str | None = None) -> int:
    statement = select(func.count()).select_from(entries)
    if account_id is not None:
        statement = statement.where(entries.c.account_id == account_id)
    return int(scalar(target, statement))


def entries_balance(target: Gencredits | Engine, account_id: str) -> int:
    """The balance rebuilt from the ledger: the sum of the entries' balance_delta."""
    return int(
        scalar(
            target,
            select(func.coalesce(func.sum(entries.c.balance_delta), 0)).where(
                entries.c.account_id == account_id
            ),
        )
    )


@dataclass(frozen=True)
class Cached:
    available_credits: int
    held_credits: int

    @property
    def balance_credits(self) -> int:
        return self.available_credits + self.held_credits


def cached(target: Gencredits | Engine, account_id: str) -> Cached:
    found = rows(
        target,
        select(accounts.c.available_credits, accounts.c.held_credits).where(
            accounts.c.id == account_id
        ),
    )
    assert len(found) == 1, account_id
    return Cached(int(found[0]["available_credits"]), int(found[0]["held_credits"]))


def plan_grants(target: Gencredits | Engine, account_id: str) -> list[dict[str, Any]]:
    """The allowance grants (one per cycle): grants with a cycle_number, in cycle order."""
    return rows(
        target,
        select(
            grants.c.id,
            grants.c.cycle_number,
            grants.c.source,
            grants.c.amount_credits,
            grants.c.remaining_credits,
            grants.c.starts_at,
            grants.c.expires_at,
            grants.c.expired,
        )
        .where(grants.c.account_id == account_id, grants.c.cycle_number.is_not(None))
        .order_by(grants.c.cycle_number),
    )


def plan_grants_per_cycle(target: Gencredits | Engine) -> dict[tuple[str, int], int]:
    """How many allowance grants each (account, cycle_number) has; each must have one."""
    found = rows(
        target,
        select(grants.c.account_id, grants.c.cycle_number, func.count().label("n"))
        .where(grants.c.cycle_number.is_not(None))
        .group_by(grants.c.account_id, grants.c.cycle_number),
    )
    return {(row["account_id"], int(row["cycle_number"])): int(row["n"]) for row in found}


def ledger_snapshot(target: Gencredits | Engine, account_id: str) -> tuple[Any, ...]:
    """Everything a refused call must leave untouched for one account."""
    return (
        entry_count(target),
        cached(target, account_id),
        rows(
            target,
            select(grants.c.id, grants.c.remaining_credits, grants.c.expired)
            .where(grants.c.account_id == account_id)
            .order_by(grants.c.id),
        ),
        rows(
            target,
            select(holds.c.id, holds.c.status, holds.c.captured_credits)
            .where(holds.c.account_id == account_id)
            .order_by(holds.c.id),
        ),
    )


def entries_of(
    target: Gencredits | Engine, account_id: str, *, kind: str | None = None
) -> list[dict[str, Any]]:
    statement = select(entries).where(entries.c.account_id == account_id)
    if kind is not None:
        statement = statement.where(entries.c.kind == kind)
    return rows(target, statement.order_by(entries.c.id))


def assert_books_balance(credits: Gencredits, *account_ids: str) -> None:
    """verify() finds nothing, and each balance equals the sum of its entries (plain SQL)."""
    report = credits.verify()
    assert report.ok, report.differences
    assert report.entries_checked == entry_count(credits)
    for account_id in account_ids:
        view = credits.account(account_id)
        assert view.available_credits == view.balance_credits - view.held_credits >= 0
        assert view.balance_credits == entries_balance(credits, account_id)
        assert cached(credits, account_id).balance_credits == view.balance_credits


def grant_id_of(entry_grants: tuple[tuple[int, int], ...]) -> int:
    assert len(entry_grants) == 1
    return entry_grants[0][0]
