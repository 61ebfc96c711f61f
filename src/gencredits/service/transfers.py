"""Transfers: credits moved between accounts in one unit of work (an agency pool funding a
member); on the receiving side the credits land as one grant per source expiry.

:func:`transfer` burns the sender's grants and calls :func:`receive`, which writes the
receiver's grants (split by expiry, see ``domain/transfers.py``) and one ``transfer_in`` entry
naming all of them, in the same unit of work. The incoming grants have source ``transfer``
and its default priority.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain.errors import InvalidRequest
from gencredits.domain.ledger import DEFAULT_PRIORITY, Allocation, Entry, EntryKind, GrantSource
from gencredits.domain.results import Transfer
from gencredits.domain.transfers import split_by_expiry
from gencredits.service.book import AccountBook
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.service.mutation import Mutation
from gencredits.service.pricing import check_amount, spend
from gencredits.store import queries
from gencredits.store.queries import AccountRow
from gencredits.store.queries.grants import grant_expiries


def receive(
    connection: Connection,
    target: AccountRow,
    taken: Sequence[Allocation],
    *,
    now: datetime,
    actor: str,
    reason: str | None,
    **fields: Any,
) -> Entry:
    """Give ``target`` the credits ``taken`` from the sender's grants, each keeping the expiry
    of the grant it came from; returns the ``transfer_in`` entry."""
    expiries = grant_expiries(connection, (grant_id for grant_id, _ in taken))
    allocations: list[Allocation] = []
    book = AccountBook(connection, target, now, actor)
    for part in split_by_expiry(taken, expiries):
        grant_id = queries.insert_grant(
            connection,
            account_id=target.id,
            source=GrantSource.TRANSFER.value,
            amount_credits=part.amount_credits,
            remaining_credits=part.amount_credits,
            priority=DEFAULT_PRIORITY[GrantSource.TRANSFER],
            starts_at=now,
            expires_at=part.expires_at,
            expired=False,
            cycle_number=None,
            created_at=now,
        )
        allocations.append((grant_id, part.amount_credits))
        book.event_at(part.expires_at)
    amount = sum(credits for _, credits in allocations)
    entry = book.record(
        EntryKind.TRANSFER_IN,
        amount,
        available_delta=amount,
        grants=tuple(allocations),
        reason=reason,
        **fields,
    )
    book.save()
    return entry


def transfer(
    ctx: Context,
    from_account_id: str,
    to_account_id: str,
    amount_credits: int,
    *,
    reason: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Transfer:
    """Move credits between accounts atomically (an agency pool funding a member). The
    credits keep the expiry of each grant they came from (service/transfers.py): a transfer
    never turns expiring plan credits into lasting ones."""
    check_key(idempotency_key)
    check_amount(amount_credits, "amount")
    if from_account_id == to_account_id:
        raise InvalidRequest("a transfer needs two different accounts", field="to_account_id")

    def lock(connection: Connection, now: datetime) -> tuple[AccountRow, AccountRow]:
        # Lock in id order so two opposite transfers cannot deadlock.
        first, second = sorted((from_account_id, to_account_id))
        opened = {first: ctx.open_account(connection, first, now)}
        opened[second] = ctx.open_account(connection, second, now)
        return opened[from_account_id], opened[to_account_id]

    def perform(
        connection: Connection, accounts: tuple[AccountRow, AccountRow], now: datetime
    ) -> Transfer:
        source, target = accounts
        book = AccountBook(connection, source, now, actor)
        allocations = spend(book, amount_credits, now)
        outgoing = book.record(
            EntryKind.TRANSFER_OUT,
            amount_credits,
            available_delta=-amount_credits,
            grants=allocations,
            reason=reason,
            idempotency_key=idempotency_key,
        )
        book.save()
        incoming = receive(
            connection, target, allocations, now=now, actor=actor, reason=reason,
            related_entry_id=outgoing.id, idempotency_key=idempotency_key,
        )
        return Transfer(outgoing, incoming)

    payload = {"to": to_account_id, "amount": amount_credits, "reason": reason}
    mutation = Mutation(
        from_account_id, idempotency_key, "transfer", payload, Transfer.as_dict, Transfer.from_dict
    )
    return ctx.locked_mutation(lock, lambda _: mutation, perform)
