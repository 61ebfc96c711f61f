"""Refunds: all or part of a charge (or a capture) returned to the grants it burned, each
credit to the grant it came from; a part of a grant that has since expired expires again at
once (``AccountBook.return_credits``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from gencredits.domain.errors import AlreadyRefunded, InvalidRequest, NotFound, OutOfRange
from gencredits.domain.ledger import Entry, EntryKind, refund_allocations
from gencredits.service.book import AccountBook
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.service.mutation import Mutation
from gencredits.service.pricing import check_amount
from gencredits.store import queries
from gencredits.store.queries import AccountRow


def refund(
    ctx: Context,
    entry_id: int | None,
    *,
    amount_credits: int | None = None,
    account_id: str | None = None,
    job_ref: str | None = None,
    reason: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Entry:
    """Return all or part of a charge (or capture) to the grants it burned."""
    check_key(idempotency_key)
    if amount_credits is not None:
        check_amount(amount_credits, "amount")

    def lock(connection: Connection, now: datetime) -> tuple[Entry, AccountRow]:
        original = _refunded_entry(connection, entry_id, account_id, job_ref)
        return original, ctx.open_account(connection, original.account_id, now)

    def describe(locked: tuple[Entry, AccountRow]) -> Mutation[Entry]:
        original, account = locked
        payload = {"entry_id": original.id, "amount": amount_credits, "reason": reason}
        return Mutation(
            account.id, idempotency_key, "refund", payload, Entry.as_dict, Entry.from_dict
        )

    def perform(connection: Connection, locked: tuple[Entry, AccountRow], now: datetime) -> Entry:
        original, account = locked
        book = AccountBook(connection, account, now, actor)
        return _refund(book, original, amount_credits, reason, idempotency_key)

    return ctx.locked_mutation(lock, describe, perform)


def _refunded_entry(
    connection: Connection, entry_id: int | None, account_id: str | None, job_ref: str | None
) -> Entry:
    """The charge or capture a refund names: by id, or by its account and job reference."""
    if entry_id is None:
        if account_id is None or job_ref is None:
            raise InvalidRequest(
                "name an entry id, or an account and its job reference", field="entry_id"
            )
        found = queries.entry_by_job(connection, account_id, job_ref)
        if found is None:
            raise NotFound("charge for job", job_ref, field="job_ref")
        entry_id = found.id
    original = queries.read_entry(connection, entry_id)
    if original is None or (account_id is not None and original.account_id != account_id):
        raise NotFound("entry", entry_id, field="entry_id")
    if original.kind not in (EntryKind.CHARGE, EntryKind.CAPTURE):
        raise InvalidRequest(
            f"entry {entry_id} is a {original.kind.value}; only charges and captures are "
            "refunded",
            field="entry_id",
        )
    return original


def _refund(
    book: AccountBook,
    original: Entry,
    amount_credits: int | None,
    reason: str | None,
    idempotency_key: str | None,
) -> Entry:
    """Write the refund of ``original`` on its locked account's ``book``."""
    already = queries.refunded_credits(book.connection, original.id)
    refundable = original.amount_credits - already
    amount = refundable if amount_credits is None else amount_credits
    if refundable <= 0:
        raise AlreadyRefunded(original.id)
    if amount > refundable:
        raise OutOfRange(
            amount, 1, refundable, field="amount", reason="more than is left to refund"
        )
    allocations = refund_allocations(original.grants, already, amount)
    entry = book.record(
        EntryKind.REFUND,
        amount,
        available_delta=amount,
        grants=allocations,
        related_entry_id=original.id,
        model_id=original.model_id,
        price_version=original.price_version,
        project=original.project,
        job_ref=original.job_ref,
        idempotency_key=idempotency_key,
        reason=reason,
    )
    book.return_credits(allocations, related_entry_id=original.id)
    book.save()
    return entry
