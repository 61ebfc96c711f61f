"""Reading the ledger back: history pages, the renewal sweep, and ``verify``.

``verify`` rebuilds every account's balance from its entries and compares it with the cached
figures, the grants and the holds. Any difference is a bug; there must be none.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.domain.ledger import Entry, EntryKind
from gencredits.domain.results import Page, SweepResult, VerifyReport
from gencredits.service.context import Context
from gencredits.service.idempotency import purge_keys, replay_of
from gencredits.service.mutation import Mutation, operator_scope
from gencredits.store import queries
from gencredits.store.engine import read_transaction
from gencredits.store.queries import EntryFilter
from gencredits.store.queries import accounts as account_queries
from gencredits.store.queries import audit as audit_queries


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
            due = account_queries.accounts_due(connection, now, after=after, limit=batch_size)
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
        sums = audit_queries.ledger_sums(connection)
        balances = audit_queries.cached_balances(connection)
    for account_id, available, cached_held in balances:
        report.accounts_checked += 1
        report.differences.extend(_differences(account_id, available, cached_held, sums))
        report.entries_checked += sums.entries.get(account_id, (0, 0, 0))[2]
    return report


def _differences(
    account_id: str, available: int, cached_held: int, sums: audit_queries.LedgerSums
) -> list[str]:
    """What the account's cached figures say that its ledger does not."""
    balance, held, _ = sums.entries.get(account_id, (0, 0, 0))
    checks = [
        ("balance from entries", balance, available + cached_held),
        ("held from entries", held, cached_held),
        ("available in live grants", sums.live_grants.get(account_id, 0), available),
        ("held in pending holds", sums.pending_holds.get(account_id, 0), cached_held),
        ("credits left in expired grants", sums.lapsed_grants.get(account_id, 0), 0),
    ]
    if account_id in sums.last_entry:
        balance_after, available_after = sums.last_entry[account_id]
        checks.append(("balance after the last entry", balance_after, available + cached_held))
        checks.append(("available after the last entry", available_after, available))
    return [
        f"{account_id}: {label} is {rebuilt}, cached {stored}"
        for label, rebuilt, stored in checks
        if rebuilt != stored
    ]
