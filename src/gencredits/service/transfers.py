"""The receiving side of a transfer: the credits land as one grant per source expiry.

:func:`gencredits.service.spending.transfer` burns the sender's grants and calls
:func:`receive`, which writes the receiver's grants (split by expiry, see
``domain/transfers.py``) and one ``transfer_in`` entry naming all of them, in the same unit of
work. The incoming grants have source ``transfer`` and its default priority.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain.ledger import DEFAULT_PRIORITY, Allocation, Entry, EntryKind, GrantSource
from gencredits.domain.transfers import split_by_expiry
from gencredits.service.book import AccountBook
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
