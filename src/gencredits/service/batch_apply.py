"""Applying a batch of prepared charges in one write transaction: group commit's writer
(service/group_commit.py) and ``charge_many`` both come here.

A batch shares statements: its accounts are locked in one statement and each caught up once,
their live grants are read in one statement and drawn down in memory, the batch's idempotency
keys are looked up in one statement, the entries and keys are written as multi-row INSERTs,
and each grant and balance is updated once for all its charges (service/batches.py).
A refusal (``InsufficientCredits``, ``ProjectCapExceeded``, ``IdempotencyConflict``) raises
before the charge writes anything, so it refuses that charge alone; it is noted
(``refused_charges``) in the same transaction, as a single charge notes it in its own. Any
other failure before the commit rolls the transaction back and applies the batch again with
each charge in a ``SAVEPOINT`` of its own, so the failure stays with its charge. When a
renewal or expiry falls between an account's charges, those charges take that one-by-one
path.

The batch locks accounts in account-id order (a stable sort keeps each account's charges in
arrival order), the order ``service/transfers.py``'s ``transfer`` uses, so on PostgreSQL two
batches, or a batch and a transfer, never deadlock. An account stays locked until the batch
commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import (
    GencreditsError,
    InsufficientCredits,
    NotFound,
    OutOfRange,
    ProjectCapExceeded,
)
from gencredits.domain.ledger import Entry
from gencredits.service.batches import ChargeBatch
from gencredits.service.charge_records import (
    ChargeItem,
    PendingCharge,
    prepare_or_replay,
    record_refusal,
)
from gencredits.service.charging import apply_charge
from gencredits.service.context import Context
from gencredits.service.timeline import catch_up
from gencredits.store import queries
from gencredits.store.queries import AccountRow

MAX_BATCH_ITEMS = limits.MAX_BATCH_ITEMS

# Up to this many accounts (or charges), a batch locks, reads grants and looks up keys with the
# one-row statements a lone charge uses; past it, with one IN-list statement each. For a lone
# charge through the committer the one-row statements cost ~5% less CPU (511-519 against
# 535-540 µs, measured in the third round).
FEW = 8

Outcome = Entry | BaseException


def charge_many(ctx: Context, items: Sequence[ChargeItem]) -> list[Entry | GencreditsError]:
    """Apply up to :data:`MAX_BATCH_ITEMS` charges in one transaction; one outcome per item,
    in order: its entry, or the operating error that refused it (nothing written for it).

    A failure that is not an operating error (the database gone, a broken invariant) is
    raised, and then none of the charges was applied."""
    if not 1 <= len(items) <= MAX_BATCH_ITEMS:
        raise OutOfRange(len(items), 1, MAX_BATCH_ITEMS, field="items")
    outcomes: list[Entry | GencreditsError | None] = [None] * len(items)
    pending: list[tuple[int, PendingCharge]] = []
    for index, item in enumerate(items):
        try:
            prepared = prepare_or_replay(ctx, item)
        except GencreditsError as error:
            outcomes[index] = error
            continue
        if isinstance(prepared, Entry):
            outcomes[index] = prepared
        else:
            pending.append((index, prepared))
    applied = apply_batch(ctx, [charge for _, charge in pending]) if pending else []
    for (index, _), outcome in zip(pending, applied, strict=True):
        if not isinstance(outcome, Entry | GencreditsError):
            raise outcome
        outcomes[index] = outcome
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def apply_batch(ctx: Context, batch: Sequence[PendingCharge]) -> list[Outcome]:
    """Apply prepared charges in one write transaction; returns one outcome per charge, in
    order. Raises (and applies nothing) when the transaction itself fails to begin or commit.

    Each account's charges run through one :class:`ChargeBatch`: its row is locked
    and caught up once, its live grants read once, and each grant and its balance written once
    for the whole batch, so a charge in a batch costs its idempotency look-up, its entry and its
    key. Refusals write nothing and leave the others standing. Should anything else fail
    before the commit, the transaction is rolled back and the batch applied again, in a new
    one, with each charge in a savepoint of its own, so that failure stays with its charge."""
    assert 1 <= len(batch) <= MAX_BATCH_ITEMS
    order = sorted(range(len(batch)), key=lambda index: batch[index].account_id)
    try:
        with ctx.unit_of_work() as connection:
            try:
                return _apply_by_account(ctx, connection, batch, order)
            except Exception as error:  # before the commit: nothing of it stays
                raise _BatchFailed from error
    except _BatchFailed:  # one charge's unexpected failure: find it, alone
        with ctx.unit_of_work() as connection:
            return _apply_one_by_one(ctx, connection, batch, order)


class _BatchFailed(Exception):
    """A batch failed before its commit (and was rolled back): apply it one by one."""


def _apply_by_account(
    ctx: Context, connection: Connection, batch: Sequence[PendingCharge], order: list[int]
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(batch)
    together = ChargeBatch(connection)
    batched: list[int] = []
    groups = [
        (account_id, list(group))
        for account_id, group in groupby(order, key=lambda index: batch[index].account_id)
    ]
    locked = _lock(connection, [account_id for account_id, _ in groups])
    # read afresh in this transaction if any account has a renewal or expiry due (see
    # Context.plans_due); the batch's last moment bounds every account's catch-up
    latest = max(pending.now for pending in batch)
    plans = ctx.all_plans(
        connection, fresh=any(latest >= row.next_event_at for row in locked.values())
    )
    for account_id, indexes in groups:
        first = min(batch[index].now for index in indexes)
        last = max(batch[index].now for index in indexes)
        row = locked.get(account_id)
        if row is None:
            missing = NotFound("account", account_id, field="account_id")
            for index in indexes:
                outcomes[index] = missing
            continue
        account = catch_up(connection, row, plans, first)
        if last >= account.next_event_at:
            # A renewal or an expiry falls between these charges: each catches up on its own.
            opened = {account_id: account}
            for index in indexes:
                outcomes[index] = _apply_one(ctx, connection, opened, batch[index])
            continue
        together.add_account(account)
        batched.extend(indexes)
    if len(locked) > FEW:  # else each account's grants are read at its first charge
        together.prefetch_grants(min(batch[index].now for index in batched))
    if len(batched) > FEW:  # else each key is looked up by itself
        together.prefetch_keys([batch[index] for index in batched])
    _charge_together(connection, together, batch, batched, outcomes)
    return outcomes  # type: ignore[return-value]


def _lock(connection: Connection, account_ids: list[str]) -> dict[str, AccountRow]:
    """Lock the batch's accounts (in the order given): the rows found, by id."""
    if len(account_ids) > FEW:
        return queries.lock_accounts(connection, account_ids)
    # a few accounts: prebuilt one-row statements beat one with an IN list
    rows = (queries.lock_account(connection, account_id) for account_id in account_ids)
    return {row.id: row for row in rows if row is not None}


def _charge_together(
    connection: Connection,
    together: ChargeBatch,
    batch: Sequence[PendingCharge],
    batched: list[int],
    outcomes: list[Outcome | None],
) -> None:
    """Charge ``batch[index]`` for each index of ``batched`` through ``together``, then write
    them; each outcome goes into ``outcomes`` at its index."""
    handles: dict[int, int] = {}
    for index in batched:
        pending = batch[index]
        try:
            outcome = together.charge(pending)
        except (InsufficientCredits, ProjectCapExceeded) as refused:
            record_refusal(
                connection, pending.account_id, refused, pending.model_id, pending.project,
                pending.now,
            )
            outcomes[index] = refused
        except GencreditsError as error:  # an idempotency conflict: raised before writing
            outcomes[index] = error
        else:
            if isinstance(outcome, Entry):
                outcomes[index] = outcome
            else:
                handles[index] = outcome
    written = together.flush()
    for index, handle in handles.items():
        outcomes[index] = written[handle]


def _apply_one_by_one(
    ctx: Context, connection: Connection, batch: Sequence[PendingCharge], order: list[int]
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(batch)
    opened: dict[str, AccountRow] = {}
    for index in order:
        outcomes[index] = _apply_one(ctx, connection, opened, batch[index])
    return outcomes  # type: ignore[return-value]


def _apply_one(
    ctx: Context, connection: Connection, opened: dict[str, AccountRow], pending: PendingCharge
) -> Outcome:
    account_id = pending.account_id
    try:
        with _savepoint(connection):
            account = opened.pop(account_id, None)
            if account is None:
                account = ctx.open_account(connection, account_id, pending.now)
            else:
                # Still locked by this transaction: only time may have moved.
                plans = ctx.plans_due(connection, account, pending.now)
                account = catch_up(connection, account, plans, pending.now)
            entry, opened[account_id] = apply_charge(connection, account, pending)
        return entry
    except (InsufficientCredits, ProjectCapExceeded) as error:
        record_refusal(
            connection, account_id, error, pending.model_id, pending.project, pending.now
        )
        return error
    except Exception as error:  # this charge's own failure, rolled back to its savepoint
        return error


@contextmanager
def _savepoint(connection: Connection) -> Iterator[None]:
    """Roll back to here on any exception (and re-raise it); release on success."""
    connection.exec_driver_sql("SAVEPOINT gencredits_charge")
    try:
        yield
    except BaseException:
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT gencredits_charge")
        connection.exec_driver_sql("RELEASE SAVEPOINT gencredits_charge")
        raise
    connection.exec_driver_sql("RELEASE SAVEPOINT gencredits_charge")
