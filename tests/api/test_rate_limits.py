"""The shared rate limiter: two limiters (as two worker processes would hold) over one real
database bucket, on SQLite and PostgreSQL, with a frozen clock: together they admit the burst,
at most ``workers * fold_every`` more, refill at the rate, and refuse without the database."""

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

    def send(self, count: int, name: str = "key:k") -> list[int | None]:
        """``count`` requests alternating between the two limiters."""

        async def run() -> list[int | None]:
            return [await self.limiters[n % 2].admit(name) for n in range(count)]

        return asyncio.run(run())


@pytest.mark.parametrize("burst", [1, 20, 400])
def test_two_workers_admit_the_burst_and_at_most_their_slack_more(
    database_url: str, burst: int
) -> None:
    with gencredits.open(database_url, pool_size=2) as credits:
        workers = Workers(credits.engine, 1.0, burst)
        fold_every = workers.limiters[0].fold_every
        answers = workers.send(burst * 3)
        admitted = answers.count(None)
        assert burst <= admitted <= burst + 2 * fold_every
        refused = workers.send(100)  # each worker folds what it still had pending, once
        assert refused.count(None) == 0
        folds = workers.folds
        assert workers.send(200).count(None) == 0
        assert workers.folds == folds  # past the limit, no database access at all
        assert all(isinstance(wait, int) and wait >= 1 for wait in refused)
        assert workers.send(1, name="key:other") == [None]  # its own bucket


def test_the_bucket_refills_at_the_rate(database_url: str) -> None:
    with gencredits.open(database_url, pool_size=2) as credits:
        workers = Workers(credits.engine, 2.0, 16)  # fold_every 1: exact but for one each
        first = workers.send(40).count(None)
        assert 16 <= first <= 18
        workers.now += 10 * 1_000_000  # ten seconds: twenty tokens, capped at the burst
        again = workers.send(40).count(None)
        assert 16 - 2 <= again <= 16 + 2


def test_retry_after_is_the_time_until_one_token() -> None:
    now = [START_MICROSECONDS]
    arrival = [0]

    def fold(_: str, count: int, interval: int, at: int) -> int:
        arrival[0] = max(arrival[0], at) + count * interval
        return arrival[0]

    limiter = SharedRateLimiter(0.1, 1, fold=fold, clock=lambda: now[0])  # a token per 10 s

    async def run() -> list[int | None]:
        return [await limiter.admit("key:k") for _ in range(2)]

    assert asyncio.run(run()) == [None, 10]
    now[0] += 4 * 1_000_000
    assert limiter.refused("key:k") == 6
