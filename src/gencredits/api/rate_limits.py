"""Rate limits that hold across every worker process of one database.

A limit is a token bucket (``rate_per_second`` sustained, ``burst`` at once) kept as GCRA's
one number, the bucket's theoretical arrival time, in the database (``rate_buckets``). A
write per request would put a write transaction on the hot path (on SQLite every charge
would queue behind it), so each worker counts the requests it admits locally and folds them
into the shared bucket once ``fold_every`` of them are pending (one UPSERT ... RETURNING, in
the background: requests go on being admitted meanwhile, and wait only once twice as many are
pending), reading the shared arrival time back. It admits a request only if the bucket, as it
last read it plus its own pending requests, has a token.

The guarantee: a refusal is never wrong (a worker's view of the bucket is never fuller than
the shared one), and across all workers a name is admitted at most
``workers * slack_per_worker`` requests more than one exact token bucket would admit, where
``slack_per_worker`` is ``2 * fold_every`` and ``fold_every`` is
``max(1, min(64, burst // 16))``: two requests per worker when the burst is under 32, at most
1/8 of the burst per worker above. Past the limit, refusals cost no
database access at all; below it, a name costs one write per ``fold_every`` admitted
requests per worker. Counts pending in a worker are lost if it dies (an under-count of at
most ``slack_per_worker``), and the pending count of a worker is folded as of the moment of the
fold (counting them a little late refuses a little early, never late).

All state is touched on the event loop only; the fold runs in the thread pool under a per-name
lock (one fold at a time per name), and pending never reaches ``slack_per_worker`` at an
admission.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

log = logging.getLogger("gencredits.http")

# fold(name, count, interval_microseconds, now_microseconds) -> the bucket's arrival time
Fold = Callable[[str, int, int, int], int]
Forget = Callable[[int], None]

MAX_NAMES = 10_000  # past this the local view is emptied: a bound on memory, not eviction
FORGET_EVERY_FOLDS = 1_000  # how often a worker deletes full buckets from the table


def now_microseconds() -> int:
    """Wall-clock microseconds: the one clock every worker process of a machine shares."""
    return time.time_ns() // 1_000


@dataclass(slots=True)
class _Bucket:
    arrival_microseconds: int = 0  # the shared arrival time as last read
    pending: int = 0  # admitted here, not yet folded into the shared bucket
    folding: bool = False  # a fold started in the background has not finished
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SharedRateLimiter:
    """A token bucket per name, shared through ``fold`` (see the module docstring)."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        fold: Fold,
        forget: Forget | None = None,
        clock: Callable[[], int] = now_microseconds,
    ) -> None:
        assert rate_per_second > 0 and burst >= 1
        self.interval_microseconds = max(1, round(1_000_000 / rate_per_second))
        self.tolerance_microseconds = burst * self.interval_microseconds
        self.fold_every = max(1, min(64, burst // 16))
        # Requests a worker may have admitted that the others have not seen yet.
        self.slack_per_worker = 2 * self.fold_every
        self._fold_call = fold
        self._tasks: set[asyncio.Task[None]] = set()
        self._forget = forget
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self.folds = 0

    def refused(self, name: str) -> int | None:
        """Seconds to wait if ``name`` has no token left as this worker sees it; else None.
        Reads nothing: for checks that must cost nothing (a flood of wrong keys)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return None
        now = self._clock()
        arrival = max(bucket.arrival_microseconds, now)
        arrival += (bucket.pending + 1) * self.interval_microseconds
        over = arrival - now - self.tolerance_microseconds
        if over <= 0:
            return None
        return max(1, -(-over // 1_000_000))

    async def admit(self, name: str) -> int | None:
        """Take a token for ``name``: None when admitted, else the seconds to wait."""
        bucket = await self._folded(name)
        retry_after = self.refused(name)
        if retry_after is None:
            bucket.pending += 1
        return retry_after

    async def count(self, name: str) -> None:
        """Take a token for ``name`` whether or not one is left (a failure to count)."""
        bucket = await self._folded(name)
        bucket.pending += 1

    async def _folded(self, name: str) -> _Bucket:
        """The name's bucket, with fewer than ``slack_per_worker`` requests unfolded: at
        ``fold_every`` a fold starts in the background (requests go on being admitted while
        it runs); at twice that, requests wait for it."""
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= MAX_NAMES:
                self._buckets.clear()
            bucket = self._buckets[name] = _Bucket()
        if bucket.pending >= self.fold_every and not bucket.folding:
            bucket.folding = True  # one background fold at a time per name
            task = asyncio.create_task(self._fold_in_background(name, bucket))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        while bucket.pending >= self.slack_per_worker:
            await self._fold(name, bucket, self.slack_per_worker)
        return bucket

    async def _fold_in_background(self, name: str, bucket: _Bucket) -> None:
        try:
            await self._fold(name, bucket, self.fold_every)
        except Exception:  # the next request retries; a request waiting for it sees the error
            log.exception("folding the rate bucket %s failed", name)
        finally:
            bucket.folding = False

    async def _fold(self, name: str, bucket: _Bucket, at_least: int) -> None:
        async with bucket.lock:
            count = bucket.pending
            if count < at_least:
                return
            arrival = await run_in_threadpool(
                self._fold_call, name, count, self.interval_microseconds, self._clock()
            )
            bucket.pending -= count
            bucket.arrival_microseconds = arrival
            await self._forget_now_and_then()

    async def settle(self) -> None:
        """Wait for the folds running in the background (before the database is closed)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _forget_now_and_then(self) -> None:
        self.folds += 1
        if self._forget is not None and self.folds % FORGET_EVERY_FOLDS == 0:
            await run_in_threadpool(self._forget, self._clock())
