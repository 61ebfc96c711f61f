"""The shared rate limiter: two limiters (as two worker processes would hold) over one real
database bucket, on SQLite and PostgreSQL, with a frozen clock: together they admit the burst,
at most ``workers * slack_per_worker`` more, refill at the rate, and refuse without the database."""

from __future__ import annotations

import asyncio

import pytest

import gencredits
from gencredits.api.rate_limits import SharedRateLimiter
from gencredits.service import shared_state

START_MICROSECONDS = 1_800_000_000_000_000


class Workers:
    """Two limiters sharing ``engine``'s bucket table, their folds counted."""

    def __init__(self, engine: object, rate_per_second: float, burst: int) -> None:
        self.now = START_MICROSECONDS
        self.folds = 0

        def fold(name: str, count: int, interval: int, now: int) -> int:
            self.folds += 1
            return shared_state.fold_into_bucket(engine, name, count, interval, now)  # type: ignore[arg-type]

        self.limiters = [
            SharedRateLimiter(rate_per_second, burst, fold=fold, clock=lambda: self.now)
            for _ in range(2)
        ]

    async def settle(self) -> None:
        for limiter in self.limiters:
            await limiter.settle()

    async def send(self, count: int, name: str = "key:k") -> list[int | None]:
        """``count`` requests alternating between the two limiters."""
        return [await self.limiters[n % 2].admit(name) for n in range(count)]


@pytest.mark.parametrize("burst", [1, 20, 400])
def test_two_workers_admit_the_burst_and_at_most_their_slack_more(
    database_url: str, burst: int
) -> None:
    async def run(workers: Workers) -> None:
        slack = 2 * workers.limiters[0].slack_per_worker
        answers = await workers.send(burst * 3)
        admitted = answers.count(None)
        assert burst <= admitted <= burst + slack
        refused = await workers.send(100)  # each worker folds what it still had pending
        assert refused.count(None) == 0
        await asyncio.sleep(0.5)  # lets a fold still running in the background finish
        folds = workers.folds
        assert (await workers.send(200)).count(None) == 0
        assert workers.folds == folds  # past the limit, no database access at all
        assert all(isinstance(wait, int) and wait >= 1 for wait in refused)
        assert await workers.send(1, name="key:other") == [None]  # its own bucket
        await workers.settle()

    with gencredits.open(database_url, pool_size=2) as credits:
        asyncio.run(run(Workers(credits.engine, 1.0, burst)))


def test_the_bucket_refills_at_the_rate(database_url: str) -> None:
    async def run(workers: Workers) -> None:
        first = (await workers.send(40)).count(None)
        assert 16 <= first <= 16 + 4
        workers.now += 10 * 1_000_000  # ten seconds: twenty tokens, capped at the burst
        again = (await workers.send(40)).count(None)
        assert 16 - 4 <= again <= 16 + 4
        await workers.settle()

    with gencredits.open(database_url, pool_size=2) as credits:
        asyncio.run(run(Workers(credits.engine, 2.0, 16)))  # slack: two per worker


def test_retry_after_is_the_time_until_one_token() -> None:
    now = [START_MICROSECONDS]
    arrival = [0]

    def fold(_: str, count: int, interval: int, at: int) -> int:
        arrival[0] = max(arrival[0], at) + count * interval
        return arrival[0]

    limiter = SharedRateLimiter(0.1, 1, fold=fold, clock=lambda: now[0])  # a token per 10 s

    async def run() -> None:
        assert [await limiter.admit("key:k") for _ in range(2)] == [None, 10]
        await asyncio.sleep(0.2)  # the fold started in the background records the first
        now[0] += 4 * 1_000_000
        assert limiter.refused("key:k") == 6
        await limiter.settle()

    asyncio.run(run())
