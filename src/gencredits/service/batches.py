"""A batch of charges: many charges, on many accounts, applied in one unit of work with
exactly the rules of a lone charge (a lone charge is a batch of one, service/charging.py).

Group commit (service/group_commit.py, service/batch_apply.py) and ``charge_many`` fill a
:class:`ChargeBatch` with prepared charges (service/charge_records.py) on accounts it has
locked; :meth:`ChargeBatch.flush` then writes them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain.errors import IdempotencyConflict, InsufficientCredits
from gencredits.domain.ledger import Entry, EntryKind, GrantBalance, allocate
from gencredits.service.book import entry_row, spending_events, write_entries
from gencredits.service.charge_records import PendingCharge, charge_result, stored_charge
from gencredits.service.idempotency import first_result
from gencredits.service.pricing import check_project_cap
from gencredits.store import queries
from gencredits.store.prepared import pipelined
from gencredits.store.queries import AccountRow


@dataclass(slots=True)
class _BatchAccount:
    """One account's part of a :class:`ChargeBatch`."""

    row: AccountRow  # as locked and caught up
    available: int  # its available credits as the batch's charges leave them
    grants: dict[int, GrantBalance] | None = None  # live grants, drawn down in memory
    taken: dict[int, int] = field(default_factory=dict)  # credits each grant gave
    projects: dict[str, int] = field(default_factory=dict)  # credits charged per project


class ChargeBatch:
    """Charges applied together inside one unit of work, their writes made together.

    A lone charge is a batch of one; group commit and ``charge_many`` put many charges, on
    many accounts, in one. Every charge follows the same rules either way: its idempotency key
    (looked up in the database, or among this batch's charges), its project's cap, its
    account's available credits, burn order. What a batch shares is the writing: each account's
    live grants are read once and drawn down in memory; the entries go in as one multi-row
    INSERT, the idempotency keys as another, and each grant and account is updated once, by
    :meth:`flush`. :meth:`charge` refuses (:class:`InsufficientCredits`,
    :class:`ProjectCapExceeded`, :class:`IdempotencyConflict`) before it changes anything, so
    the charges before and after a refusal stand.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._accounts: dict[str, _BatchAccount] = {}
        self._rows: list[dict[str, Any]] = []  # entries to write, in order
        self._keys: list[tuple[dict[str, Any], int]] = []  # keys to write, with their entry
        self._batch_keys: dict[tuple[str, str], tuple[str, int]] = {}  # -> (hash, entry)
        self._stored: dict[tuple[str, str], queries.StoredKey] | None = None

    def add_account(self, account: AccountRow) -> None:
        """An account the batch charges: locked by this unit of work and caught up to the
        moment of its charges (no renewal or expiry due before the last of them)."""
        self._accounts[account.id] = _BatchAccount(account, account.available_credits)

    def prefetch_grants(self, now: datetime) -> None:
        """Read the live grants of every account added, in one statement (call it with the
        moment of the batch's first charge; no grant of these accounts expires before the
        last, or its account would not be in the batch)."""
        waiting = [part for part in self._accounts.values() if part.grants is None]
        found = queries.live_grants_of(self.connection, [part.row.id for part in waiting], now)
        for part in waiting:
            part.grants = {grant.id: grant for grant in found[part.row.id]}

    def prefetch_keys(self, pending: Sequence[PendingCharge]) -> None:
        """Look up the idempotency keys of these charges in one statement (call it after
        their accounts are locked, so nobody else can store one of them meanwhile)."""
        self._stored = queries.find_idempotency_keys(
            self.connection,
            ((p.account_id, p.idempotency_key) for p in pending if p.idempotency_key),
        )

    def charge(self, pending: PendingCharge) -> int | Entry:
        """Debit ``pending``: the handle of its entry, written by :meth:`flush`; or the entry
        its idempotency key was first charged with (replays change nothing)."""
        key = pending.idempotency_key
        if key is None:
            return self._debit(pending)
        digest = pending.digest
        assert digest is not None, "a keyed charge carries its request's hash (prepare_charge)"
        scope_key = (pending.account_id, key)
        in_batch = self._batch_keys.get(scope_key)
        if in_batch is not None:
            if in_batch[0] != digest:
                raise IdempotencyConflict(key)
            return in_batch[1]
        if self._stored is None:
            stored = queries.find_idempotency_key(self.connection, *scope_key)
        else:
            stored = self._stored.get(scope_key)
        if stored is not None:
            return first_result(
                stored, digest, key, lambda data: stored_charge(self.connection, data)
            )
        handle = self._debit(pending)
        self._batch_keys[scope_key] = (digest, handle)
        key_row = {
            "scope": pending.account_id,
            "key": key,
            "operation": "charge",
            "request_hash": digest,
            "created_at": pending.now,
        }
        self._keys.append((key_row, handle))
        return handle

    def flush(self) -> list[Entry]:
        """Write the batch: entries (in the order charged), keys, grants, balances. Returns
        the entries; a handle from :meth:`charge` is an index into them. On PostgreSQL the
        writes go out in one pipeline: two round trips (the entries' ids are needed for the
        keys), where they were one to three each."""
        with pipelined(self.connection):
            written = write_entries(self.connection, self._rows) if self._rows else []
            queries.insert_idempotency_keys(
                self.connection,
                [row | {"response": charge_result(written[handle])} for row, handle in self._keys],
            )
            taken = [item for part in self._accounts.values() for item in part.taken.items()]
            queries.take_from_grants(self.connection, taken)
            queries.apply_available_deltas(
                self.connection,
                [
                    (account_id, part.available - part.row.available_credits)
                    for account_id, part in self._accounts.items()
                    if part.available != part.row.available_credits
                ],
            )
        return written

    def _debit(self, pending: PendingCharge) -> int:
        part = self._accounts[pending.account_id]
        total, project = pending.priced.total_credits, pending.project
        if project is not None:
            check_project_cap(
                self.connection, part.row, project, total, batched=part.projects.get(project, 0)
            )
        if part.available < total:
            raise InsufficientCredits(available=part.available, required=total)
        if part.grants is None:
            live = queries.live_grants(self.connection, part.row.id, pending.now)
            part.grants = {grant.id: grant for grant in live}
        allocations = allocate(tuple(part.grants.values()), total)
        for grant_id, credits in allocations:
            grant = part.grants[grant_id]
            part.grants[grant_id] = GrantBalance(
                grant.id, grant.remaining_credits - credits, grant.priority, grant.expires_at
            )
            part.taken[grant_id] = part.taken.get(grant_id, 0) + credits
        before = part.available
        part.available -= total
        if project is not None:
            part.projects[project] = part.projects.get(project, 0) + total
        held = part.row.held_credits
        self._rows.append(
            entry_row(
                part.row.id,
                EntryKind.CHARGE,
                total,
                available_delta=-total,
                held_delta=0,
                available_after=part.available,
                held_after=held,
                grants=allocations,
                actor=pending.actor,
                now=pending.now,
                model_id=pending.model_id,
                price_version=pending.priced.price_version,
                project=project,
                job_ref=pending.job_ref,
                idempotency_key=pending.idempotency_key,
                details=pending.priced.as_dict(),
            )
        )
        spending_events(self.connection, part.row, before, part.available, held, pending.now)
        return len(self._rows) - 1
