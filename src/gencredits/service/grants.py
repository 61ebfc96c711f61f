"""Grants and adjustments: credits added to an account by hand (a promo, a top-up pack, a
trial, an operator's adjustment), and an operator's negative adjustment, which removes credits
in burn order and never below zero. Plan credits come from billing cycles
(service/timeline.py), not from here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import FeatureDisabled, InvalidRequest, OutOfRange
from gencredits.domain.ledger import DEFAULT_PRIORITY, Entry, EntryKind, GrantSource
from gencredits.service.book import AccountBook
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.service.mutation import Mutation
from gencredits.service.pricing import check_amount, spend
from gencredits.store import queries
from gencredits.store.queries import AccountRow
from gencredits.store.queries.settings import topups_enabled

MANUAL_GRANT_SOURCES = frozenset(
    {GrantSource.PROMO, GrantSource.TOPUP, GrantSource.ADJUSTMENT, GrantSource.TRIAL}
)

# How a grant's or an adjustment's idempotency key keeps its answer, the entry.
_ENTRY_CODEC = (Entry.as_dict, Entry.from_dict)


def grant(
    ctx: Context,
    account_id: str,
    amount_credits: int,
    *,
    source: GrantSource,
    expires_at: datetime | None = None,
    priority: int | None = None,
    reason: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Entry:
    """Add credits to an account as a grant (promo, top-up, trial or adjustment)."""
    check_key(idempotency_key)
    check_amount(amount_credits, "amount")
    if source not in MANUAL_GRANT_SOURCES:
        raise InvalidRequest(
            "plan credits come from billing cycles; grant promo, topup, trial or adjustment",
            field="source",
        )
    if priority is not None and not 0 <= priority <= 1000:
        raise OutOfRange(priority, 0, 1000, field="priority")

    def lock(connection: Connection, now: datetime) -> AccountRow:
        if source is GrantSource.TOPUP and not topups_enabled(connection):
            raise FeatureDisabled("top-up packs")
        return ctx.open_account(connection, account_id, now)

    def perform(connection: Connection, account: AccountRow, now: datetime) -> Entry:
        # Checked here, not up front: a replay of a grant whose expiry has since passed
        # still returns the grant it made.
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest("expires_at must be in the future", field="expires_at")
        return _add_grant(
            connection, account, now, actor, amount_credits, source=source,
            expires_at=expires_at, priority=priority, reason=reason, kind=EntryKind.GRANT,
            idempotency_key=idempotency_key,
        )

    payload = {
        "amount": amount_credits,
        "source": source.value,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "priority": priority,
        "reason": reason,
    }
    mutation = Mutation(account_id, idempotency_key, "grant", payload, *_ENTRY_CODEC)
    return ctx.locked_mutation(lock, lambda _: mutation, perform)


def _add_grant(
    connection: Connection,
    account: AccountRow,
    now: datetime,
    actor: str,
    amount: int,
    *,
    source: GrantSource,
    expires_at: datetime | None,
    priority: int | None,
    reason: str | None,
    kind: EntryKind,
    **fields: Any,
) -> Entry:
    grant_id = queries.insert_grant(
        connection,
        account_id=account.id,
        source=source.value,
        amount_credits=amount,
        remaining_credits=amount,
        priority=DEFAULT_PRIORITY[source] if priority is None else priority,
        starts_at=now,
        expires_at=expires_at,
        expired=False,
        cycle_number=None,
        created_at=now,
    )
    book = AccountBook(connection, account, now, actor)
    entry = book.record(
        kind, amount, available_delta=amount, grants=((grant_id, amount),), reason=reason, **fields
    )
    book.event_at(expires_at)
    book.save()
    return entry


def adjust(
    ctx: Context,
    account_id: str,
    amount_credits: int,
    *,
    reason: str,
    expires_at: datetime | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Entry:
    """An operator's correction: positive adds an adjustment grant, negative removes credits
    (burn order, never below zero)."""
    check_key(idempotency_key)
    if (
        not isinstance(amount_credits, int)
        or isinstance(amount_credits, bool)
        or not (amount_credits != 0 and abs(amount_credits) <= limits.MAX_AMOUNT_CREDITS)
    ):
        raise InvalidRequest("an adjustment is a non-zero whole number of credits", field="amount")
    if not reason or not reason.strip():
        raise InvalidRequest("say why: an adjustment needs a reason", field="reason")

    def perform(connection: Connection, account: AccountRow, now: datetime) -> Entry:
        if amount_credits > 0:
            return _add_grant(
                connection, account, now, actor, amount_credits, source=GrantSource.ADJUSTMENT,
                expires_at=expires_at, priority=None, reason=reason, kind=EntryKind.ADJUST,
                idempotency_key=idempotency_key,
            )
        book = AccountBook(connection, account, now, actor)
        allocations = spend(book, -amount_credits, now)
        entry = book.record(
            EntryKind.ADJUST,
            -amount_credits,
            available_delta=amount_credits,
            grants=allocations,
            reason=reason,
            idempotency_key=idempotency_key,
        )
        book.save()
        return entry

    payload = {
        "amount": amount_credits,
        "reason": reason,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }
    mutation = Mutation(account_id, idempotency_key, "adjust", payload, *_ENTRY_CODEC)
    return ctx.account_mutation(account_id, mutation, perform)
