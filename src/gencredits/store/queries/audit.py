"""The figures ``verify`` rebuilds every balance from: sums over the whole ledger per account
(entries, grants, holds), each one statement, and every account's cached balance."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from gencredits.domain.ledger import HoldStatus
from gencredits.store.tables import accounts, entries, grants, holds


@dataclass(frozen=True, slots=True)
class LedgerSums:
    """Per account id: what its entries, grants and holds add up to."""

    entries: dict[str, tuple[int, int, int]]  # (balance deltas, held deltas, entries)
    live_grants: dict[str, int]  # credits left in grants that have not expired
    lapsed_grants: dict[str, int]  # credits left in expired grants (there must be none)
    pending_holds: dict[str, int]  # credits in pending holds
    last_entry: dict[str, tuple[int, int]]  # (balance after, available after) the last entry


def ledger_sums(connection: Connection) -> LedgerSums:
    entry_sums = {
        row[0]: (int(row[1]), int(row[2]), int(row[3]))
        for row in connection.execute(
            select(
                entries.c.account_id,
                func.sum(entries.c.balance_delta),
                func.sum(entries.c.held_delta),
                func.count(),
            ).group_by(entries.c.account_id)
        )
    }
    last_entry = {
        row[0]: (int(row[1]), int(row[2]))
        for row in connection.execute(
            select(entries.c.account_id, entries.c.balance_after, entries.c.available_after).where(
                entries.c.id.in_(select(func.max(entries.c.id)).group_by(entries.c.account_id))
            )
        )
    }
    return LedgerSums(
        entries=entry_sums,
        live_grants=_remaining_in_grants(connection, expired=False),
        lapsed_grants=_remaining_in_grants(connection, expired=True),
        pending_holds={
            row[0]: int(row[1])
            for row in connection.execute(
                select(holds.c.account_id, func.sum(holds.c.amount_credits))
                .where(holds.c.status == HoldStatus.PENDING.value)
                .group_by(holds.c.account_id)
            )
        },
        last_entry=last_entry,
    )


def _remaining_in_grants(connection: Connection, *, expired: bool) -> dict[str, int]:
    return {
        row[0]: int(row[1])
        for row in connection.execute(
            select(grants.c.account_id, func.sum(grants.c.remaining_credits))
            .where(grants.c.expired.is_(expired))
            .group_by(grants.c.account_id)
        )
    }


def cached_balances(connection: Connection) -> list[tuple[str, int, int]]:
    """(id, available, held) of every account, as its row caches them."""
    rows = connection.execute(
        select(accounts.c.id, accounts.c.available_credits, accounts.c.held_credits)
    ).all()
    return [(str(account_id), int(available), int(held)) for account_id, available, held in rows]
