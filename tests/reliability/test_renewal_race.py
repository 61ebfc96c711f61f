"""Renewal racing itself: the sweep (``renew()``), reads and charges, which all bring an
account up to date, run at once from several worker processes and threads, each with its clock
at the same moment past one or more cycle ends. Each billing cycle must be granted exactly once:

    SELECT account_id, cycle_number, count(*) FROM grants WHERE cycle_number IS NOT NULL
    GROUP BY account_id, cycle_number HAVING count(*) > 1      -- returns nothing

and the result must be the one a single caller gets doing the same things one at a time (a
serial replay on a fresh SQLite database): same plans, cycles, grants and balances.

The moments include a cycle end exactly, 1 µs before one, a renewal two cycles late, the end of
a free trial, a month-end anchor (31 January), and a downgrade that takes effect at renewal.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import gencredits
from gencredits import Gencredits, ManualClock
from gencredits.domain.plans import add_months
from gencredits.store.engine import read_transaction
from gencredits.store.tables import accounts, grants
from tests.reliability.checks import check_verify_and_integrity, duplicate_cycle_grants
from tests.reliability.harness import START, process_pool
from tests.reliability.tally import Figures
from tests.reliability.workers import call, renewal_round_in_process, run_renewal_round

SEED = "20260131-renewal"
PROCESSES = 3
THREADS = 3
# (account, plan, created this long after START)
ACCOUNTS = (
    ("pro-31", "pro", timedelta(0)),
    ("ultra-31", "ultra", timedelta(0)),
    ("pro-mid", "pro", timedelta(days=14, hours=3)),
    ("ultra-mid", "ultra", timedelta(days=14, hours=3)),
    ("trial", "free", timedelta(0)),
    ("pro-b", "pro", timedelta(days=1)),
)
ROUNDS: tuple[tuple[datetime, tuple[tuple[str, str], ...]], ...] = (
    (add_months(START, 1), ()),  # exactly the 31-anchored cycle end (28 Feb), and the trial's
    (add_months(START, 2) - timedelta(microseconds=1), ()),  # 1 µs before 31 March
    (add_months(START, 2) + timedelta(hours=1), (("ultra-31", "pro"),)),  # downgrade pending
    (add_months(START, 4) + timedelta(days=1), (("pro-b", "ultra"),)),  # two cycles late
    (add_months(START, 5) + timedelta(days=20), ()),
)


def _setup(credits: Gencredits, clock: ManualClock) -> None:
    for account_id, plan, after in sorted(ACCOUNTS, key=lambda a: a[2]):
        clock.set(START + after)
        credits.create_account(account_id, name=account_id, plan=plan)
        credits.grant(account_id, 1_000_000, source="promo")  # charges never run short


def _actions(moment: datetime, rng: random.Random, workers: int) -> list[list[tuple[str, str]]]:
    """Each worker's actions: a sweep first, then reads and charges of random accounts."""
    others: list[tuple[str, str]] = [("renew", "")] * workers
    ids = [a[0] for a in ACCOUNTS]
    others += [("read", account_id) for account_id in ids * 2]
    others += [("charge", f"{rng.choice(ids)}/charge-{moment.isoformat()}-{n}")
               for n in range(2 * workers)]
    rng.shuffle(others)
    dealt: list[list[tuple[str, str]]] = [[("renew", "")] for _ in range(workers)]
    for n, action in enumerate(others):
        dealt[n % workers].append(action)
    return dealt


def _plan_changes(credits: Gencredits, changes: tuple[tuple[str, str], ...]) -> None:
    for account_id, plan in changes:
        credits.change_plan(account_id, plan, idempotency_key=f"change-{account_id}-{plan}")


def _state(credits: Gencredits) -> dict[str, Any]:
    """Everything renewal decides, without ids (which differ between databases)."""
    with read_transaction(credits.engine) as connection:
        rows = connection.execute(select(
            accounts.c.id, accounts.c.plan_id, accounts.c.pending_plan_id, accounts.c.cycle_number,
            accounts.c.cycle_starts_at, accounts.c.cycle_ends_at, accounts.c.available_credits,
            accounts.c.held_credits,
        ).order_by(accounts.c.id)).all()
        allowances = connection.execute(select(
            grants.c.account_id, grants.c.cycle_number, grants.c.source, grants.c.amount_credits,
            grants.c.remaining_credits, grants.c.starts_at, grants.c.expires_at, grants.c.expired,
        ).where(grants.c.cycle_number.is_not(None)).order_by(
            grants.c.account_id, grants.c.cycle_number)).all()
    return {"accounts": [tuple(r) for r in rows], "allowances": [tuple(r) for r in allowances]}


def _check_cycles(credits: Gencredits, moment: datetime, figures: Figures) -> int:
    for account_id, cycle, count in duplicate_cycle_grants(credits.engine):
        figures.anomaly(f"at {moment}: {account_id} cycle {cycle} granted {count} times")
    with read_transaction(credits.engine) as connection:
        numbers: dict[str, list[int]] = {}
        for account_id, cycle in connection.execute(
            select(grants.c.account_id, grants.c.cycle_number)
            .where(grants.c.cycle_number.is_not(None)).order_by(grants.c.cycle_number)
        ):
            numbers.setdefault(account_id, []).append(cycle)
        current = dict(connection.execute(select(accounts.c.id, accounts.c.cycle_number)).all())
    for account_id, cycles in numbers.items():
        figures.check(cycles == list(range(1, current[account_id] + 1)),
                      f"at {moment}: {account_id} granted cycles {cycles}, "
                      f"is in cycle {current[account_id]}")
    return sum(len(c) for c in numbers.values())


def _in_threads(
    credits: Gencredits, moment: datetime, dealt: list[list[tuple[str, str]]], start_at: float
) -> list[dict[str, int]]:
    """Run each list of actions in a thread of its own, with a clock of its own at ``moment``."""
    results: list[dict[str, int]] = []

    def work(actions: list[tuple[str, str]]) -> None:
        own = Gencredits(credits.engine, clock=ManualClock(moment))
        results.append(run_renewal_round(own, actions, start_at))

    threads = [threading.Thread(target=work, args=(actions,)) for actions in dealt]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _serial_replay(path: Path) -> dict[str, Any]:
    clock = ManualClock(START)
    with gencredits.open(f"sqlite:///{path}", clock=clock, pool_size=2) as credits:
        _setup(credits, clock)
        rng = random.Random(SEED)
        for moment, changes in ROUNDS:
            clock.set(moment)
            for actions in _actions(moment, rng, PROCESSES + THREADS):
                run_renewal_round(credits, actions, 0.0)
            _plan_changes(credits, changes)
        return _state(credits)


@pytest.mark.timeout(240)
def test_renewal_races_grant_each_cycle_once(
    database_url: str, tmp_path: Path, figures: Figures
) -> None:
    clock = ManualClock(START)
    credits = gencredits.open(database_url, clock=clock, pool_size=12)
    rng = random.Random(SEED)
    done: dict[str, int] = {"renew": 0, "read": 0, "charge": 0}
    try:
        _setup(credits, clock)
        with process_pool(PROCESSES) as pool:
            for number, (moment, changes) in enumerate(ROUNDS):
                clock.set(moment)
                dealt = _actions(moment, rng, PROCESSES + THREADS)
                start_at = time.time() + (1.5 if number == 0 else 0.3)
                pending = pool.starmap_async(call, [
                    (renewal_round_in_process, database_url, moment, actions, start_at)
                    for actions in dealt[:PROCESSES]
                ], chunksize=1)
                results = _in_threads(credits, moment, dealt[PROCESSES:], start_at)
                results += pending.get(timeout=120)
                figures.check(len(results) == PROCESSES + THREADS,
                              f"round {number}: {len(results)} workers finished")
                for result in results:
                    for kind, count in result.items():
                        done[kind] += count
                granted = _check_cycles(credits, moment, figures)
                _plan_changes(credits, changes)
        raced = _state(credits)
    finally:
        credits.close()
    check_verify_and_integrity(database_url, figures)
    reference = _serial_replay(tmp_path / "serial.db")
    for label in ("accounts", "allowances"):
        figures.check(raced[label] == reference[label],
                      f"{label} differ from the serial replay:\n{raced[label]}\n"
                      f"{reference[label]}")
    figures.add(operations=sum(done.values()))
    figures.note(f"{len(ROUNDS)} rounds, {done}, {granted} cycle grants")
    figures.assert_clean()
