"""Reading the ledger back: history pages, the renewal sweep, and ``verify``.

``verify`` rebuilds every account's balance from its entries and compares it with the cached
figures, the grants and the holds. Any difference is a bug; there must be none.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.domain.ledger import Entry, EntryKind, HoldStatus
from gencredits.domain.results import Page, SweepResult, VerifyReport
from gencredits.service.context import Context
from gencredits.service.idempotency import purge_keys, replay_of
from gencredits.service.mutation import Mutation, operator_scope
from gencredits.store import queries
from gencredits.store.engine import read_transaction
from gencredits.store.queries import EntryFilter
from gencredits.store.tables import accounts, entries, grants, holds


def history(
    ctx: Context,
    account_id: str,
    *,
    kinds: tuple[str, ...] = (),
    model_id: str | None = None,
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: int | None = None,
    limit: int = limits.DEFAULT_PAGE_SIZE,
) -> Page:
    """Entries newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    if not 1 <= limit <= limits.MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be between 1 and {limits.MAX_PAGE_SIZE}", field="limit")
    for kind in kinds:
        if kind not in EntryKind.__members__.values():
            raise InvalidRequest(
                f"unknown entry kind {kind!r} (kinds: {', '.join(k.value for k in EntryKind)})",
                field="kind",
            )
    from gencredits.service.accounts import get_account

    get_account(ctx, account_id)  # brings it up to date and says NotFound plainly
    where = EntryFilter(account_id, tuple(kinds), model_id, project, since, until)
    with read_transaction(ctx.engine) as connection:
        rows = queries.page_entries(connection, where, before_id=cursor, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(tuple(rows), rows[-1].id if more and rows else None)


def get_entry(ctx: Context, entry_id: int) -> Entry:
    with read_transaction(ctx.engine) as connection:
        entry = queries.read_entry(connection, entry_id)
    if entry is None:
        raise NotFound("entry", entry_id, field="entry_id")
    return entry


def sweep(
    ctx: Context, *, batch_size: int = 200, idempotency_key: str | None = None
) -> SweepResult:
    """Renew cycles and expire grants and holds on every account that has something due.

    Safe to run from cron and from several servers at once: each account is locked while it
    is brought up to date, and whoever comes second finds nothing left to do. The sweep spans
    many transactions, so its key is claimed in the last one: a replay (even one that raced
    the first through the accounts, changing nothing) gets the first sweep's figures.
    """
    mutation = Mutation(
        scope=operator_scope("renew"), key=idempotency_key, operation="renew", payload={},
        encode=SweepResult.as_dict, decode=lambda data: SweepResult(**data),
    )
    if idempotency_key is not None:
        with read_transaction(ctx.engine) as connection:
            stored = replay_of(connection, scope=mutation.scope, key=idempotency_key,
                               operation="renew", payload={}, decode=mutation.decode)
        if stored is not None:
            return stored
    now = ctx.now()
    checked = updated = 0
    after = ""
    while True:
        with read_transaction(ctx.engine) as connection:
            due = list(
                connection.execute(
                    select(accounts.c.id)
                    .where(accounts.c.next_event_at <= now, accounts.c.id > after)
                    .order_by(accounts.c.id)
                    .limit(batch_size)
                ).scalars()
            )
        if not due:
            break
        for account_id in due:
            checked += 1
            with ctx.unit_of_work() as connection:
                before = queries.lock_account(connection, account_id)
                after_row = ctx.open_account(connection, account_id, now)
                if before is not None and after_row != before:
                    updated += 1
        after = due[-1]

    def finish(connection: Connection, now: datetime) -> SweepResult:
        return SweepResult(checked, updated, purge_keys(connection, now))

    return ctx.mutation(mutation, finish)


def verify(ctx: Context) -> VerifyReport:
    """Rebuild every balance from the entries and compare (read-only)."""
    report = VerifyReport()
    with read_transaction(ctx.engine) as connection:
        sums = {
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
        live = {
            row[0]: int(row[1])
            for row in connection.execute(
                select(grants.c.account_id, func.sum(grants.c.remaining_credits))
                .where(grants.c.expired.is_(False))
                .group_by(grants.c.account_id)
            )
        }
        lapsed = {
            row[0]: int(row[1])
            for row in connection.execute(
                select(grants.c.account_id, func.sum(grants.c.remaining_credits))
                .where(grants.c.expired.is_(True))
                .group_by(grants.c.account_id)
            )
        }
        pending = {
            row[0]: int(row[1])
            for row in connection.execute(
                select(holds.c.account_id, func.sum(holds.c.amount_credits))
                .where(holds.c.status == HoldStatus.PENDING.value)
                .group_by(holds.c.account_id)
            )
        }
        last_after = {
            row[0]: (int(row[1]), int(row[2]))
            for row in connection.execute(
                select(
                    entries.c.account_id, entries.c.balance_after, entries.c.available_after
                ).where(
                    entries.c.id.in_(select(func.max(entries.c.id)).group_by(entries.c.account_id))
                )
            )
        }
        for account in connection.execute(select(accounts)).mappings():
            report.accounts_checked += 1
            account_id = account["id"]
            balance, held, count = sums.get(account_id, (0, 0, 0))
            report.entries_checked += count
            available = account["available_credits"]
            cached_held = account["held_credits"]
            checks = [
                ("balance from entries", balance, available + cached_held),
                ("held from entries", held, cached_held),
                ("available in live grants", live.get(account_id, 0), available),
                ("held in pending holds", pending.get(account_id, 0), cached_held),
                ("credits left in expired grants", lapsed.get(account_id, 0), 0),
            ]
            if account_id in last_after:
                checks.append(
                    (
                        "balance after the last entry",
                        last_after[account_id][0],
                        available + cached_held,
                    )
                )
                checks.append(
                    ("available after the last entry", last_after[account_id][1], available)
                )
            for label, rebuilt, stored in checks:
                if rebuilt != stored:
                    report.differences.append(
                        f"{account_id}: {label} is {rebuilt}, cached {stored}"
                    )
    return report
