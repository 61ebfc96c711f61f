"""An account's books inside one unit of work: entries appended, the cached balance kept.

:class:`AccountBook` is opened on a locked account row. Each :meth:`AccountBook.record`
appends one entry with the running balance after it; :meth:`AccountBook.save` writes the net
change to the account's cached balance once. The running figures are a
:class:`~gencredits.domain.balances.Balance`, which keeps their rules: they never go below zero
(asserted there, and by CHECK constraints in the database), and an entry that would take the
balance past ``limits.MAX_BALANCE_CREDITS`` is refused with ``BalanceCeilingExceeded``: every
credit added to an account is recorded here, so one check covers grants, adjustments,
transfers in and refunds.

:func:`entry_row` is the one layout of an entry row and :func:`write_entries` the one writer of
them: the book records through both, and so does a batch of charges (service/batches.py),
which keeps its running balances in memory and writes its entries together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain.balances import Balance
from gencredits.domain.ledger import Allocation, Entry, EntryKind
from gencredits.service import events
from gencredits.store import queries
from gencredits.store.queries import AccountRow

FAR_FUTURE_EVENT = datetime.fromisoformat("9999-01-01T00:00:00+00:00")


@dataclass
class AccountBook:
    connection: Connection
    account: AccountRow
    now: datetime
    actor: str
    # Spending below the low-balance mark emits an event; expiries and renewals do not.
    spending: bool = True
    balance: Balance = field(init=False)
    next_event_at: datetime | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.balance = Balance(self.account.available_credits, self.account.held_credits)

    @property
    def available_credits(self) -> int:
        return self.balance.available_credits

    @property
    def held_credits(self) -> int:
        return self.balance.held_credits

    @property
    def balance_credits(self) -> int:
        return self.balance.total_credits

    def record(
        self,
        kind: EntryKind,
        amount_credits: int,
        *,
        available_delta: int,
        held_delta: int = 0,
        grants: tuple[Allocation, ...] = (),
        effective_at: datetime | None = None,
        **fields: Any,
    ) -> Entry:
        # Refused past the ceiling before any change; never below zero (domain/balances.py).
        self.balance = self.balance.moved(available_delta, held_delta)
        row = entry_row(
            self.account.id,
            kind,
            amount_credits,
            available_delta=available_delta,
            held_delta=held_delta,
            available_after=self.available_credits,
            held_after=self.held_credits,
            grants=grants,
            actor=fields.pop("actor", self.actor),
            now=self.now,
            effective_at=effective_at,
            **fields,
        )
        return write_entries(self.connection, [row])[0]

    def event_at(self, moment: datetime | None) -> None:
        """Something will happen by itself at ``moment`` (a hold or grant expiring)."""
        if moment is not None and (self.next_event_at is None or moment < self.next_event_at):
            self.next_event_at = moment

    def save(self) -> AccountRow:
        """Write the net change to the cached balance; returns the account as it now stands.

        Crossing below the low-balance mark, or reaching zero, emits its event here, in the
        same transaction (the outbox)."""
        if self.spending:
            spending_events(
                self.connection, self.account, self.account.available_credits,
                self.available_credits, self.held_credits, self.now,
            )
        available_delta = self.available_credits - self.account.available_credits
        held_delta = self.held_credits - self.account.held_credits
        if available_delta or held_delta or self.next_event_at is not None:
            queries.apply_account_delta(
                self.connection,
                self.account.id,
                available_delta=available_delta,
                held_delta=held_delta,
                next_event_at=self.next_event_at,
            )
        next_event_at = self.account.next_event_at
        if self.next_event_at is not None:
            next_event_at = min(next_event_at, self.next_event_at)
        return replace(
            self.account,
            available_credits=self.available_credits,
            held_credits=self.held_credits,
            next_event_at=next_event_at,
        )

    def return_credits(
        self,
        allocations: tuple[Allocation, ...],
        *,
        effective_at: datetime | None = None,
        **fields: Any,
    ) -> int:
        """Give held or spent credits back to the grants they came from.

        Call it after recording the entry that makes the credits available again (a release,
        a refund). The part that belongs to a grant that has already expired expires at once,
        with an ``expire`` entry. Returns the credits that stayed available.
        """
        expired = queries.expired_grant_ids(self.connection, (g for g, _ in allocations))
        live = tuple((g, c) for g, c in allocations if g not in expired)
        lapsed = tuple((g, c) for g, c in allocations if g in expired)
        queries.return_to_grants(self.connection, live)
        if lapsed:
            lapsed_credits = sum(c for _, c in lapsed)
            self.record(
                EntryKind.EXPIRE,
                lapsed_credits,
                available_delta=-lapsed_credits,
                grants=lapsed,
                effective_at=effective_at,
                reason="returned to a grant that had already expired",
                **fields,
            )
        return sum(c for _, c in live)


def spending_events(
    connection: Connection, account: AccountRow, before: int, after: int, held: int,
    now: datetime,
) -> None:
    """Spending from ``before`` to ``after`` available credits: crossing below the account's
    low-balance mark, or reaching zero, emits its event (in this transaction: the outbox)."""
    if after >= before:
        return
    payload = {"available": after, "before": before, "held": held}
    if after == 0:
        events.emit(connection, events.EventType.CREDITS_EXHAUSTED, account_id=account.id,
                    payload=payload, now=now)
    elif before >= account.low_balance_credits > after:
        events.emit(connection, events.EventType.LOW_BALANCE, account_id=account.id,
                    payload=payload | {"threshold": account.low_balance_credits}, now=now)


def entry_row(
    account_id: str,
    kind: EntryKind,
    amount_credits: int,
    *,
    available_delta: int,
    held_delta: int,
    available_after: int,
    held_after: int,
    grants: tuple[Allocation, ...],
    actor: str,
    now: datetime,
    effective_at: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The row of one entry, laid out here alone: :meth:`AccountBook.record` and a charge
    batch (service/batches.py) both write what this gives, through :func:`write_entries`.
    ``fields``: the entry's other columns (hold, related entry, model, price version,
    project, job, idempotency key, reason, details)."""
    return {
        "account_id": account_id,
        "kind": kind.value,
        "amount_credits": amount_credits,
        "balance_delta": available_delta + held_delta,
        "held_delta": held_delta,
        "balance_after": available_after + held_after,
        "available_after": available_after,
        "grants": grants,
        "actor": actor,
        "effective_at": effective_at or now,
        "created_at": now,
        **fields,
    }


def write_entries(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[Entry]:
    """Append the rows of :func:`entry_row` in order, in one statement; the entries as
    written. The one door to the entries table (tests/architecture/test_entry_writer.py)."""
    return queries.insert_entries(connection, rows)
