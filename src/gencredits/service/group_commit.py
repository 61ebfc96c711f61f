"""Group commit: many charges, one durable transaction (TigerBeetle's batching).

A charge on SQLite with ``synchronous=FULL`` (or PostgreSQL with ``synchronous_commit=on``)
waits for one fsync per commit. Applying many charges in one transaction pays that once. Two
doors lead here, and both apply charges with :class:`spending.ChargeBatch`, the very code of a
single charge (a batch of one), so locks, idempotency and the no-overdraft rule are the same:

* :class:`GroupCommitter`: concurrent callers each submit a charge and block; a single writer
  thread takes what has arrived (waiting at most ``window_seconds`` for more, up to
  ``max_items``, and no longer once as many charges are queued as its last batch answered:
  callers that charge in a loop are back by then), applies it in one write transaction,
  commits once, and only then answers each caller, with its own entry or its own exception.
  Nothing is acknowledged before the commit is durable; if the commit fails, every caller of
  that batch gets the failure.
* :func:`charge_many`: an operator settles a list of charges at once and gets one outcome per
  item, an :class:`Entry` or the operating error that refused it.

A batch also shares statements: its accounts are locked in one statement and each caught up
once, their live grants are read in one statement and drawn down in memory, the batch's
idempotency keys are looked up in one statement, the entries and keys are written as multi-row
INSERTs, and each grant and balance is updated once for all its charges.
A refusal (``InsufficientCredits``, ``ProjectCapExceeded``, ``IdempotencyConflict``) raises
before the charge writes anything, so it refuses that charge alone; it is noted
(``refused_charges``) in the same transaction, as a single charge notes it in its own. Any
other failure before the commit rolls the transaction back and applies the batch again with
each charge in a ``SAVEPOINT`` of its own, so the failure stays with its charge. When a
renewal or expiry falls between an account's charges, those charges take that one-by-one
path. Checking and pricing happen before the batch: in the caller's thread for ``charge``
(bad input is refused at once), in the writer thread for ``charge_async`` (an event loop must
not wait on the catalog's database read), where a refused charge is answered and goes no
further.

The batch locks accounts in account-id order (a stable sort keeps each account's charges in
arrival order), the order :func:`spending.transfer` uses, so on PostgreSQL two batches, or a
batch and a transfer, never deadlock. An account stays locked until the batch commits.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import (
    GencreditsError,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    OutOfRange,
    ProjectCapExceeded,
)
from gencredits.domain.ledger import Entry
from gencredits.domain.pricing import QuoteRequest
from gencredits.service import spending
from gencredits.service.context import Context
from gencredits.service.spending import PendingCharge
from gencredits.service.timeline import catch_up
from gencredits.store import queries
from gencredits.store.queries import AccountRow

MAX_BATCH_ITEMS = limits.MAX_BATCH_ITEMS
DEFAULT_WINDOW_SECONDS = limits.DEFAULT_GROUP_COMMIT_WINDOW_SECONDS
MAX_WINDOW_SECONDS = limits.MAX_GROUP_COMMIT_WINDOW_SECONDS
MAX_WRITERS = limits.MAX_GROUP_COMMIT_WRITERS

OPERATOR = "operator"

# Up to this many accounts (or charges), a batch locks, reads grants and looks up keys with the
# one-row statements a lone charge uses; past it, with one IN-list statement each. For a lone
# charge through the committer the one-row statements cost ~5% less CPU (511-519 against
# 535-540 µs, measured in the third round).
FEW = 8

Outcome = Entry | BaseException


@dataclass(frozen=True, slots=True)
class ChargeItem:
    """One charge of :func:`charge_many`: the arguments of ``Gencredits.charge``."""

    account_id: str
    request: QuoteRequest
    idempotency_key: str | None
    price_version: int | None = None
    project: str | None = None
    job_ref: str | None = None
    actor: str = OPERATOR


def prepare(ctx: Context, item: ChargeItem) -> PendingCharge:
    return spending.prepare_charge(
        ctx,
        item.account_id,
        item.request,
        idempotency_key=item.idempotency_key,
        price_version=item.price_version,
        project=item.project,
        job_ref=item.job_ref,
        actor=item.actor,
    )


def prepare_or_replay(ctx: Context, item: ChargeItem) -> PendingCharge | Entry:
    """:func:`prepare`; or, as a single charge does, the first entry of a replay whose request
    no longer prices (its model since switched off, its price version superseded)."""
    try:
        return prepare(ctx, item)
    except InvalidRequest:
        payload = spending.charge_payload(
            item.request, item.project, item.job_ref, item.price_version
        )
        first = spending.replayed(
            ctx, item.account_id, item.idempotency_key, "charge", payload, spending.stored_charge
        )
        if first is None:
            raise
        return first


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

    Each account's charges run through one :class:`spending.AccountCharges`: its row is locked
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
    together = spending.ChargeBatch(connection)
    batched: list[int] = []
    groups = [
        (account_id, list(group))
        for account_id, group in groupby(order, key=lambda index: batch[index].account_id)
    ]
    account_ids = [account_id for account_id, _ in groups]
    if len(account_ids) > FEW:
        locked = queries.lock_accounts(connection, account_ids)
    else:  # a few accounts: prebuilt one-row statements beat one with an IN list
        rows = (queries.lock_account(connection, account_id) for account_id in account_ids)
        locked = {row.id: row for row in rows if row is not None}
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
    handles: dict[int, int] = {}
    for index in batched:
        pending = batch[index]
        try:
            outcome = together.charge(pending)
        except (InsufficientCredits, ProjectCapExceeded) as refused:
            spending.record_refusal(
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
    return outcomes  # type: ignore[return-value]


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
            entry, opened[account_id] = spending.apply_charge(connection, account, pending)
        return entry
    except (InsufficientCredits, ProjectCapExceeded) as error:
        spending.record_refusal(
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


class GroupCommitter:
    """Charges from many threads, one transaction and one fsync per batch.

    ``charge`` has the signature and the answers of ``Gencredits.charge``: it returns once the
    charge is durable, or raises this charge's own error. Close it (or use it as a context
    manager) to stop the writer threads; charges already submitted are applied first.

    ``writers`` writer threads each own the accounts whose id hashes to them, so their batches
    lock disjoint accounts and never wait for one another. On PostgreSQL several writers keep
    several connections busy (a lone writer would wait for each statement's round trip in
    turn); on SQLite, which has one write lock, one writer is best.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_items: int = MAX_BATCH_ITEMS,
        writers: int = 1,
    ) -> None:
        if not 0 <= window_seconds <= MAX_WINDOW_SECONDS:
            raise InvalidRequest(
                f"the window is 0 to {MAX_WINDOW_SECONDS} seconds", field="window_seconds"
            )
        if not 1 <= max_items <= MAX_BATCH_ITEMS:
            raise OutOfRange(max_items, 1, MAX_BATCH_ITEMS, field="max_items")
        if not 1 <= writers <= MAX_WRITERS:
            raise OutOfRange(writers, 1, MAX_WRITERS, field="writers")
        self._ctx = ctx
        self._lanes = tuple(
            _Lane(ctx, window_seconds, max_items, name=f"gencredits-group-commit-{number}")
            for number in range(writers)
        )

    def charge(
        self,
        account_id: str,
        request: QuoteRequest,
        *,
        idempotency_key: str | None = None,
        price_version: int | None = None,
        project: str | None = None,
        job_ref: str | None = None,
        actor: str = OPERATOR,
    ) -> Entry:
        item = ChargeItem(
            account_id, request, idempotency_key, price_version, project, job_ref, actor
        )
        prepared = prepare_or_replay(self._ctx, item)
        if isinstance(prepared, Entry):
            return prepared
        waiter = _Waiter()
        self._lane_of(prepared).enqueue(prepared, waiter)
        return waiter.result()

    async def charge_async(self, item: ChargeItem) -> Entry:
        """:meth:`charge` for an event loop: nothing blocks it and no thread waits. The writer
        thread checks and prices the charge (which may read the catalog from the database)
        before it applies its batch, and the answer comes back through the loop."""
        return await asyncio.wrap_future(self.submit(item))

    def submit(self, charge: PendingCharge | ChargeItem) -> Future[Entry]:
        """Queue a charge, prepared or not (the writer prepares it then); the future completes
        after its batch commits, or with the error that refused it."""
        future: Future[Entry] = Future()
        self._lane_of(charge).enqueue(charge, future)
        return future

    def _lane_of(self, charge: PendingCharge | ChargeItem) -> _Lane:
        return self._lanes[zlib.crc32(charge.account_id.encode()) % len(self._lanes)]

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def batches(self) -> int:
        """Transactions committed (or failed), for benchmarks and metrics."""
        return sum(lane.batches for lane in self._lanes)

    @property
    def charges(self) -> int:
        """Charges those transactions carried."""
        return sum(lane.charges for lane in self._lanes)

    @property
    def mean_batch_items(self) -> float:
        return self.charges / self.batches if self.batches else 0.0


class _Waiter:
    """The answer to one caller's thread: the part of a ``Future`` the writer uses (running,
    result, exception), on one lock the caller sleeps on. A ``Future`` builds a condition
    and, to wait, a second lock, and wakes its waiter through both: with 64 threads on one
    writer, 91-94 µs of CPU a charge against 84-91 µs with this (benchmarks/RESULTS.md)."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._value: Entry | None = None
        self._error: BaseException | None = None

    def set_running_or_notify_cancel(self) -> bool:
        return True  # a waiting thread cannot cancel

    def set_result(self, value: Entry) -> None:
        self._value = value
        self._done.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.release()

    def result(self) -> Entry:
        self._done.acquire()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


_Answer = Future[Entry] | _Waiter


class _Lane:
    """One writer thread and its queue."""

    def __init__(self, ctx: Context, window_seconds: float, max_items: int, *, name: str) -> None:
        self._ctx = ctx
        self._window_seconds = window_seconds
        self._max_items = max_items
        self._queue: deque[tuple[PendingCharge | ChargeItem, _Answer]] = deque()
        self._condition = threading.Condition()
        self._closed = False
        # How many charges the writer waits for before its window ends: as many as the last
        # batch answered (callers charging in a loop are back by then), at most a full batch.
        self._enough = max_items
        self.batches = 0
        self.charges = 0
        self._writer = threading.Thread(target=self._run, name=name, daemon=True)
        self._writer.start()

    def enqueue(self, charge: PendingCharge | ChargeItem, answer: _Answer) -> None:
        with self._condition:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.append((charge, answer))
            # Wake the writer only when it waits for a first charge, or when its window can end
            # early (as many charges as it waits for): during the window it sleeps until the
            # deadline, and a wake-up per arriving charge cost each charge a thread switch.
            if len(self._queue) == 1 or len(self._queue) == self._enough:
                self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._writer.join()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            self._settle(batch)

    def _next_batch(self) -> list[tuple[PendingCharge | ChargeItem, _Answer]]:
        """Wait for a first charge, then up to the window for more; empty when closed."""
        with self._condition:
            while not self._queue and not self._closed:
                self._condition.wait()
            if self._queue and self._window_seconds:
                deadline = time.monotonic() + self._window_seconds
                while len(self._queue) < self._enough and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
            count = min(len(self._queue), self._max_items)
            # the next window waits for as many (at least two: one alone need not wait)
            self._enough = min(max(count, 2), self._max_items)
            return [self._queue.popleft() for _ in range(count)]

    def _settle(self, batch: list[tuple[PendingCharge | ChargeItem, _Answer]]) -> None:
        self.batches += 1
        self.charges += len(batch)
        prepared = list(self._prepared(batch))
        if not prepared:
            return
        try:
            outcomes = apply_batch(self._ctx, [pending for pending, _ in prepared])
        except BaseException as error:  # the transaction failed: nothing was applied
            for _, future in prepared:
                future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), outcome in zip(prepared, outcomes, strict=True):
            if isinstance(outcome, Entry):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def _prepared(
        self, batch: list[tuple[PendingCharge | ChargeItem, _Answer]]
    ) -> Iterator[tuple[PendingCharge, _Answer]]:
        """The batch's charges, prepared; a charge refused by its checks or its price, or a
        replay answered from its stored result, is answered here and goes no further."""
        for charge, future in batch:
            # Running from now on: a caller that gives up (a cancelled task, a closed
            # connection) can no longer cancel it, and gets no answer; one that gave up before
            # is skipped, nothing written for it.
            if not future.set_running_or_notify_cancel():
                continue
            if isinstance(charge, PendingCharge):
                yield charge, future
                continue
            try:
                prepared = prepare_or_replay(self._ctx, charge)
            except Exception as error:
                future.set_exception(error)
                continue
            if isinstance(prepared, Entry):
                future.set_result(prepared)
            else:
                yield prepared, future
