"""A storm on one account: many workers charging and holding a balance smaller than their
total demand, at once, on SQLite (separate processes, each with its own ``gencredits.open``)
and on PostgreSQL (threads, sharing one service as a server would).

One checking function judges every run: never overdrawn, the final balance is the initial one
less every accepted charge and capture, every accepted charge is in the ledger exactly once
(by its idempotency key), ``verify`` is clean. To show the check can fail, the same function
is run over a deliberately naive read-modify-write charge (read the balance, wait a moment,
write it back less the cost, no lock) on PostgreSQL at READ COMMITTED: it must find the lost
updates, while a serial run of the same naive code passes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text

import gencredits
from gencredits import Gencredits, ManualClock
from gencredits.store.tables import entries, holds
from tests.service import probes, workers
from tests.service.conftest import START
from tests.service.workers import Outcome

STORM_ACCOUNT = "studio"
WORKERS = 8
OPERATIONS = 30  # per worker: about 2,500 credits of demand on 1,200


def open_storm_account(credits: Gencredits) -> int:
    credits.create_account(STORM_ACCOUNT, name="Studio", plan="pro")
    credits.grant(STORM_ACCOUNT, 200, source="promo")  # a second grant to burn through
    return credits.account(STORM_ACCOUNT).balance_credits


def check_storm(
    credits: Gencredits, account_id: str, initial_credits: int, outcomes: Sequence[Outcome]
) -> list[str]:
    """Every anomaly the ledger shows after a storm; an empty list when it is sound."""
    anomalies = [f"worker {o.worker}: {error}" for o in outcomes for error in o.errors]
    stored = probes.cached(credits, account_id)
    if stored.available_credits < 0 or stored.held_credits < 0:
        anomalies.append(f"overdrawn: {stored}")
    lowest = probes.scalar(
        credits,
        select(func.min(entries.c.available_after)).where(entries.c.account_id == account_id),
    )
    if lowest is not None and lowest < 0:
        anomalies.append(f"an entry left {lowest} available")
    charged = sum(o.charged_credits for o in outcomes)
    captured = sum(o.captured_credits for o in outcomes)
    expected = initial_credits - charged - captured
    if stored.balance_credits != expected:
        anomalies.append(
            f"balance {stored.balance_credits}, but {initial_credits} less accepted charges "
            f"{charged} and captures {captured} is {expected}"
        )
    rebuilt = probes.entries_balance(credits, account_id)
    if rebuilt != stored.balance_credits:
        anomalies.append(f"entries sum to {rebuilt}, the account caches {stored.balance_credits}")
    if stored.held_credits:
        anomalies.append(f"{stored.held_credits} credits still held after every hold settled")

    # Every accepted charge exactly once, under its key; no charge nobody was told about.
    in_ledger = probes.rows(
        credits,
        select(entries.c.id, entries.c.idempotency_key, entries.c.amount_credits).where(
            entries.c.account_id == account_id, entries.c.kind == "charge"
        ),
    )
    per_key = Counter(row["idempotency_key"] for row in in_ledger)
    by_key = {row["idempotency_key"]: (row["id"], row["amount_credits"]) for row in in_ledger}
    accepted = {key: (entry_id, amount) for o in outcomes for key, entry_id, amount in o.charges}
    for key, (entry_id, amount) in accepted.items():
        if per_key[key] != 1:
            anomalies.append(f"charge {key} is in the ledger {per_key[key]} times")
        elif by_key[key] != (entry_id, amount):
            anomalies.append(
                f"charge {key} is {by_key[key]} in the ledger, {entry_id, amount} told"
            )
    for key in per_key.keys() - accepted.keys():
        anomalies.append(f"charge {key} is in the ledger but was never accepted")

    # Every hold settled once, keeping what its worker was told.
    kept = {
        row["id"]: (row["status"], row["captured_credits"])
        for row in probes.rows(credits, select(holds).where(holds.c.account_id == account_id))
    }
    for outcome in outcomes:
        for key, hold_id, _, credits_kept in outcome.holds:
            status, captured_credits = kept.get(hold_id, (None, None))
            if status not in ("captured", "released") or (captured_credits or 0) != credits_kept:
                anomalies.append(f"hold {key} is {status} with {captured_credits} captured")

    report = credits.verify()
    anomalies.extend(report.differences)
    return anomalies


def summary(outcomes: Sequence[Outcome]) -> tuple[int, int, int]:
    accepted = sum(len(o.charges) + len(o.holds) for o in outcomes)
    return accepted, sum(o.refused for o in outcomes), sum(o.replays for o in outcomes)


def test_a_storm_of_processes_on_sqlite_never_overdraws(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gencredits.db"
    with gencredits.open(url, clock=ManualClock(START)) as credits:
        initial = open_storm_account(credits)
        outcomes = workers.run_in_processes(
            workers.storm_process,
            [(url, START, STORM_ACCOUNT, n, OPERATIONS) for n in range(WORKERS)],
        )
        accepted, refused, replays = summary(outcomes)
        assert accepted > 0 and refused > 0 and replays > 0, "demand must exceed the balance"
        assert check_storm(credits, STORM_ACCOUNT, initial, outcomes) == []


@pytest.mark.postgres
def test_a_storm_of_threads_on_postgres_never_overdraws(postgres_url: str) -> None:
    with gencredits.open(postgres_url, clock=ManualClock(START), pool_size=WORKERS) as credits:
        initial = open_storm_account(credits)
        outcomes = workers.run_in_threads(
            workers.storm, [(credits, STORM_ACCOUNT, n, OPERATIONS) for n in range(WORKERS)]
        )
        accepted, refused, replays = summary(outcomes)
        assert accepted > 0 and refused > 0 and replays > 0
        assert check_storm(credits, STORM_ACCOUNT, initial, outcomes) == []


# --- the check can fail: a naive charge without a lock ------------------------------------------

NAIVE_COST = 5


def naive_charges(engine: Engine, account_id: str, worker: int, operations: int) -> Outcome:
    """Read the balance, think for a moment, write it back less the cost: no row lock, no
    conditional update. Correct alone; loses updates when two run at once."""
    outcome = Outcome(worker)
    for step in range(operations):
        key = f"naive-{worker}-{step}"
        with engine.begin() as connection:  # PostgreSQL's default, READ COMMITTED
            available = connection.execute(
                text("SELECT available_credits FROM accounts WHERE id = :id"), {"id": account_id}
            ).scalar_one()
            grant_id, remaining = connection.execute(
                text(
                    "SELECT id, remaining_credits FROM grants WHERE account_id = :id "
                    "AND expired = false AND remaining_credits >= :cost ORDER BY id LIMIT 1"
                ),
                {"id": account_id, "cost": NAIVE_COST},
            ).one_or_none() or (None, 0)
            if available < NAIVE_COST or grant_id is None:
                outcome.refused += 1
                continue
            time.sleep(0.003)  # the window in which another worker reads the same balance
            connection.execute(
                text("UPDATE accounts SET available_credits = :left WHERE id = :id"),
                {"left": available - NAIVE_COST, "id": account_id},
            )
            connection.execute(
                text("UPDATE grants SET remaining_credits = :left WHERE id = :id"),
                {"left": remaining - NAIVE_COST, "id": grant_id},
            )
            entry_id = connection.execute(
                insert(entries)
                .values(
                    account_id=account_id,
                    kind="charge",
                    amount_credits=NAIVE_COST,
                    balance_delta=-NAIVE_COST,
                    held_delta=0,
                    balance_after=available - NAIVE_COST,
                    available_after=available - NAIVE_COST,
                    grants=[[grant_id, NAIVE_COST]],
                    idempotency_key=key,
                    actor="naive",
                    effective_at=START,
                    created_at=START,
                )
                .returning(entries.c.id)
            ).scalar_one()
        outcome.charges.append((key, entry_id, NAIVE_COST))
    return outcome


@pytest.mark.postgres
def test_the_check_catches_a_naive_read_modify_write(postgres_url: str) -> None:
    with gencredits.open(postgres_url, clock=ManualClock(START), pool_size=WORKERS) as credits:
        initial = open_storm_account(credits)

        # Alone, the naive charge keeps the books: the check finds nothing.
        serial = [naive_charges(credits.engine, STORM_ACCOUNT, 0, 10)]
        assert check_storm(credits, STORM_ACCOUNT, initial, serial) == []

        # At once, its lost updates leave a balance the accepted charges do not explain.
        outcomes = workers.run_in_threads(
            naive_charges, [(credits.engine, STORM_ACCOUNT, n, 10) for n in range(1, WORKERS + 1)]
        )
        anomalies = check_storm(credits, STORM_ACCOUNT, initial, [*serial, *outcomes])
        assert any("less accepted charges" in anomaly for anomaly in anomalies), anomalies
        assert any("balance from entries" in anomaly for anomaly in anomalies), anomalies
