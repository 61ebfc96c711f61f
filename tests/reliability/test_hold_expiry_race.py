"""Captures racing the expiry sweep at the TTL boundary: every hold ends exactly one way.

Each round opens holds with a 60 s TTL, then races, from several worker processes and threads
at once: capturers whose clock reads 1 ms *before* the TTL (a capture they may still make),
capturers whose clock reads 1 ms *past* it (they must lose), and the sweep (``renew()``) with
its clock 1 ms past the TTL. Whoever takes the account's lock first decides. Afterwards each
hold is captured XOR expired, with the entries of exactly that outcome; at most one capture
succeeded per hold, and it is the one the database shows; each account's balance is its
opening balance less exactly the captured credits (the expired credits came back once);
``verify()`` finds no difference.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

import gencredits
from gencredits import Gencredits, ManualClock, QuoteRequest
from gencredits.store.engine import read_transaction
from gencredits.store.tables import holds
from tests.reliability.checks import balances, check_holds, check_verify_and_integrity
from tests.reliability.harness import START, process_pool
from tests.reliability.tally import Figures
from tests.reliability.workers import (
    WON,
    call,
    captures_in_process,
    run_captures,
    run_sweeps,
    sweeps_in_process,
)

ACCOUNT_IDS = tuple(f"race-{n:02}" for n in range(12))  # the sweep takes them one by one
HOLDS_PER_ACCOUNT = 3
ROUNDS = 4
TTL_SECONDS = 60
OPENING_CREDITS = 1_000_000
SEED = "20260131-expiry"
REQUESTS = (
    QuoteRequest.single("kling", seconds=4),  # 20
    QuoteRequest.single("flux-2-pro", outputs=4),  # 18
    QuoteRequest.single("veo-3", seconds=8, quality="1080p"),  # 120
)
EPSILON = timedelta(milliseconds=1)


def test_captures_race_the_expiry_sweep(database_url: str, figures: Figures) -> None:
    rng = random.Random(SEED)
    clock = ManualClock(START)
    credits = gencredits.open(database_url, clock=clock, pool_size=12)
    outcomes: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    try:
        for account_id in ACCOUNT_IDS:
            credits.create_account(account_id, name=account_id, plan="free")
            credits.grant(account_id, OPENING_CREDITS, source="promo")
        opening = {a: credits.account(a).balance_credits for a in ACCOUNT_IDS}
        with process_pool(3) as pool:
            for round_number in range(ROUNDS):
                created_at = START + timedelta(hours=round_number)
                clock.set(created_at)
                made = [
                    credits.hold(account_id, rng.choice(REQUESTS), ttl_seconds=TTL_SECONDS)
                    for account_id in ACCOUNT_IDS
                    for _ in range(HOLDS_PER_ACCOUNT)
                ]
                deadline = created_at + timedelta(seconds=TTL_SECONDS)
                pairs = [(h.id, h.amount_credits) for h in made]
                won: set[int] = set()
                for result in _race(credits, pool, database_url, deadline, pairs, rng,
                                    f"{SEED}-{round_number}"):
                    for hold_id, outcome, kept in result:
                        outcomes[hold_id].append((outcome, kept))
                        if outcome == WON:
                            won.add(hold_id)
                figures.note(f"round {round_number}: {len(won)} of {len(pairs)} captured")
        _check(credits, database_url, opening, outcomes, figures)
    finally:
        credits.close()


def _race(
    credits: Gencredits, pool: object, database_url: str, deadline: object,
    pairs: list[tuple[int, int]], rng: random.Random, seed: str,
) -> list[list[tuple[int, str, int | None]]]:
    """One round: two capturers before the deadline and one past it, each in a process and a
    thread, and the sweep past it in a process and a thread, all at once."""
    assert isinstance(deadline, type(START))
    before, after = deadline - EPSILON, deadline + EPSILON
    # The first round waits for the pool's processes to start and open the database.
    start_at = time.time() + (1.0 if seed.endswith("-0") else 0.3)

    def shuffled() -> list[tuple[int, int]]:
        order = list(pairs)
        rng.shuffle(order)
        return order

    # The sweep starts up to 60 ms after the captures: SQLite's write lock is not fair (a
    # waiter sleeps while the sweep takes the lock again at once), so a sweep starting with
    # the captures would win almost every hold, and the race would not be one.
    sweep_at = [start_at + rng.uniform(0.0, 0.06) for _ in range(2)]
    process_jobs = [
        (captures_in_process, database_url, before, shuffled(), f"{seed}-p-early", start_at),
        (captures_in_process, database_url, after, shuffled(), f"{seed}-p-late", start_at),
        (sweeps_in_process, database_url, after, 6, sweep_at[0]),
    ]
    pending = pool.starmap_async(call, process_jobs, chunksize=1)  # type: ignore[attr-defined]
    thread_results: list[list[tuple[int, str, int | None]]] = []
    early = Gencredits(credits.engine, clock=ManualClock(before))
    late = Gencredits(credits.engine, clock=ManualClock(after))
    jobs = [
        lambda: thread_results.append(run_captures(early, shuffled(), f"{seed}-t-early",
                                                   start_at)),
        lambda: thread_results.append(run_captures(late, shuffled(), f"{seed}-t-late",
                                                   start_at)),
        lambda: run_sweeps(late, 6, sweep_at[1]),
    ]
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    process_results = pending.get(timeout=120)
    return [*thread_results, process_results[0], process_results[1]]


def _check(
    credits: Gencredits, database_url: str, opening: dict[str, int],
    outcomes: dict[int, list[tuple[str, int | None]]], figures: Figures,
) -> None:
    with read_transaction(credits.engine) as connection:
        stored = {row["id"]: row for row in connection.execute(select(holds)).mappings()}
    statuses = check_holds(credits.engine, figures)
    captured_total: dict[str, int] = defaultdict(int)
    for hold_id, row in stored.items():
        tries = outcomes.get(hold_id, [])
        figures.check(len(tries) == 4, f"hold {hold_id}: {len(tries)} capture attempts, not 4")
        wins = [kept for outcome, kept in tries if outcome == WON]
        status = row["status"]
        if status == "captured":
            figures.check(wins == [row["captured_credits"]],
                          f"captured hold {hold_id}: stored {row['captured_credits']}, "
                          f"captures answered {tries}")
            captured_total[row["account_id"]] += row["captured_credits"]
        elif status == "expired":
            figures.check(not wins and all(o == "expired" for o, _ in tries),
                          f"expired hold {hold_id}, captures answered {tries}")
        else:
            figures.anomaly(f"hold {hold_id} ended {status}: neither captured nor expired")
    cached = balances(credits.engine)
    for account_id, opened in opening.items():
        available, held = cached[account_id]
        figures.check(held == 0, f"{account_id}: {held} still held")
        figures.check(available == opened - captured_total[account_id],
                      f"{account_id}: available {available}, expected "
                      f"{opened} - {captured_total[account_id]}")
    check_verify_and_integrity(database_url, figures)
    figures.add(operations=sum(len(t) for t in outcomes.values()) + len(stored))
    figures.note(f"{len(stored)} holds: {statuses}")
    figures.assert_clean()
    # Both outcomes happened, or the race was not a race (a property of the test, not the code).
    assert statuses.get("captured", 0) and statuses.get("expired", 0), statuses


pytestmark = pytest.mark.timeout(300)
