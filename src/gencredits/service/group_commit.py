"""Group commit: many charges, one durable transaction (TigerBeetle's batching).

A charge on SQLite with ``synchronous=FULL`` (or PostgreSQL with ``synchronous_commit=on``)
waits for one fsync per commit. Applying many charges in one transaction pays that once. Two
doors lead to a batch, and both apply charges with :class:`batches.ChargeBatch`, the very code
of a single charge (a batch of one), so locks, idempotency and the no-overdraft rule are the
same:

* :class:`GroupCommitter` (here): concurrent callers each submit a charge and block; a single
  writer thread takes what has arrived (waiting at most ``window_seconds`` for more, up to
  ``max_items``, and no longer once as many charges are queued as its last batch answered:
  callers that charge in a loop are back by then), applies it in one write transaction,
  commits once, and only then answers each caller, with its own entry or its own exception.
  Nothing is acknowledged before the commit is durable; if the commit fails, every caller of
  that batch gets the failure.
* ``charge_many`` (service/batch_apply.py): an operator settles a list of charges at once and
  gets one outcome per item, an :class:`Entry` or the operating error that refused it.

How a batch is applied (shared statements, refusals, the one-by-one retry, lock order) is
told in service/batch_apply.py. Checking and pricing happen before the batch: in the caller's
thread for ``charge`` (bad input is refused at once), in the writer thread for
``charge_async`` (an event loop must not wait on the catalog's database read), where a
refused charge is answered and goes no further.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest, OutOfRange
from gencredits.domain.ledger import Entry
from gencredits.domain.pricing import QuoteRequest
from gencredits.service.batch_apply import apply_batch
from gencredits.service.charge_records import (
    OPERATOR,
    ChargeItem,
    PendingCharge,
    prepare_or_replay,
)
from gencredits.service.context import Context

MAX_BATCH_ITEMS = limits.MAX_BATCH_ITEMS
DEFAULT_WINDOW_SECONDS = limits.DEFAULT_GROUP_COMMIT_WINDOW_SECONDS
MAX_WINDOW_SECONDS = limits.MAX_GROUP_COMMIT_WINDOW_SECONDS
MAX_WRITERS = limits.MAX_GROUP_COMMIT_WRITERS


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
