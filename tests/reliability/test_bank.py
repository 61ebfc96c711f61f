"""Bank conservation (Jepsen's bank workload): transfers move credits between accounts and
never make or lose any, and a reader never sees a transfer half done.

Eight accounts with a known total; concurrent transfers between random pairs (library
``transfer``: worker processes on SQLite, threads on PostgreSQL) while readers read every
balance at once (``credits.accounts()``, one read transaction: a WAL snapshot on SQLite,
REPEATABLE READ on PostgreSQL). Every read must sum to the total, with no balance negative.

The checker is shown able to fail: the same balances read one account per transaction (as a
naive reader would) are torn by a transfer committed between two reads, deterministically
(a transfer is committed between the reads on purpose) and under the concurrent load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select

import gencredits
from gencredits import AccountView, Gencredits, ManualClock
from gencredits.service.accounts import account_view
from gencredits.store.engine import read_transaction
from gencredits.store.tables import entries
from tests.reliability.checks import check_verify_and_integrity
from tests.reliability.harness import START, is_sqlite_url, process_pool
from tests.reliability.tally import Figures
from tests.reliability.workers import call, run_transfers, transfers_in_process

ACCOUNT_IDS = tuple(f"bank-{n}" for n in range(8))
OPENING_CREDITS = 1_000
WRITERS = 3
WRITE_SECONDS = 4.0
SEED = "20260131-bank"


@dataclass
class Bank:
    credits: Gencredits
    database_url: str
    total: int


@pytest.fixture
def bank(database_url: str) -> Iterator[Bank]:
    credits = gencredits.open(database_url, clock=ManualClock(START), pool_size=12)
    try:
        for account_id in ACCOUNT_IDS:
            credits.create_account(account_id, name=account_id, plan="free")
            credits.grant(account_id, OPENING_CREDITS, source="promo")
        total = sum(view.balance_credits for view in credits.accounts(limit=500))
        yield Bank(credits, database_url, total)
    finally:
        credits.close()


def torn(views: Sequence[AccountView], total: int) -> list[str]:
    """What is wrong with one read of every balance (nothing, when it is consistent)."""
    problems = []
    seen = sum(view.balance_credits for view in views)
    if len(views) != len(ACCOUNT_IDS):
        problems.append(f"read {len(views)} accounts, not {len(ACCOUNT_IDS)}")
    if seen != total:
        problems.append(f"balances sum to {seen}, not {total}")
    for view in views:
        if min(view.balance_credits, view.available_credits, view.held_credits) < 0:
            problems.append(f"{view.id} negative: {view.balance_credits}/{view.available_credits}")
    return problems


def one_at_a_time(credits: Gencredits) -> list[AccountView]:
    """The naive reader: each balance in its own transaction (the negative control)."""
    views = []
    for account_id in ACCOUNT_IDS:
        views.append(credits.account(account_id))
        time.sleep(0.001)
    return views


def test_transfers_conserve_credits_under_snapshot_reads(bank: Bank, figures: Figures) -> None:
    credits, total = bank.credits, bank.total
    stop = threading.Event()
    reads: list[int] = [0, 0]  # snapshot reads, naive reads
    naive_torn: list[list[str]] = []
    failures: list[str] = []

    def snapshot_reader() -> None:
        try:
            while not stop.is_set():
                for problem in torn(credits.accounts(limit=500), total):
                    figures.anomaly(f"snapshot read: {problem}")
                reads[0] += 1
        except Exception as error:
            failures.append(repr(error))

    def naive_reader() -> None:
        try:
            while not stop.is_set():
                problems = torn(one_at_a_time(credits), total)
                if problems:
                    naive_torn.append(problems)
                reads[1] += 1
        except Exception as error:
            failures.append(repr(error))

    readers = [threading.Thread(target=snapshot_reader) for _ in range(2)]
    readers.append(threading.Thread(target=naive_reader))
    for reader in readers:
        reader.start()
    start_at = time.time() + (2.0 if is_sqlite_url(bank.database_url) else 0.2)
    try:
        if is_sqlite_url(bank.database_url):
            with process_pool(WRITERS) as pool:
                results = pool.starmap(call, [
                    (transfers_in_process, bank.database_url, START, ACCOUNT_IDS,
                     f"{SEED}-{n}", WRITE_SECONDS, start_at)
                    for n in range(WRITERS)
                ], chunksize=1)
        else:
            results = []
            threads = [
                threading.Thread(target=lambda n=n: results.append(run_transfers(
                    credits, ACCOUNT_IDS, f"{SEED}-{n}", WRITE_SECONDS, start_at)))
                for n in range(WRITERS * 2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
    assert not failures, failures
    done = sum(result["transfers"] for result in results)
    refused = sum(result["refused"] for result in results)

    # After the storm: the total is intact, and each transfer is a matched pair of entries.
    for problem in torn(credits.accounts(limit=500), total):
        figures.anomaly(f"final read: {problem}")
    with read_transaction(credits.engine) as connection:
        rows = list(connection.execute(
            select(entries.c.id, entries.c.kind, entries.c.amount_credits,
                   entries.c.related_entry_id, entries.c.account_id)
            .where(entries.c.kind.in_(("transfer_out", "transfer_in")))
        ).mappings())
    outgoing = {row["id"]: row for row in rows if row["kind"] == "transfer_out"}
    incoming = [row for row in rows if row["kind"] == "transfer_in"]
    figures.check(len(outgoing) == done == len(incoming),
                  f"{done} transfers made, {len(outgoing)} out and {len(incoming)} in entries")
    for row in incoming:
        pair = outgoing.get(row["related_entry_id"])
        figures.check(pair is not None and pair["amount_credits"] == row["amount_credits"]
                      and pair["account_id"] != row["account_id"],
                      f"transfer_in {row['id']} does not match its transfer_out")
    check_verify_and_integrity(bank.database_url, figures)

    figures.add(operations=done + refused + reads[0] + reads[1])
    figures.controls_flagged += len(naive_torn)
    figures.note(f"{done} transfers ({refused} refused), {reads[0]} snapshot reads, "
                 f"{reads[1]} naive reads of which {len(naive_torn)} torn")
    figures.assert_clean()
    assert done > 100 and reads[0] > 20, "the workload hardly ran"
    # The negative control: the checker does flag torn reads when reads are not one snapshot.
    # With a transfer committing every few milliseconds and a 1 ms pause between the naive
    # reader's eight reads, a torn read in four seconds is a certainty, not a hope.
    assert naive_torn, "the naive reader was never torn: the checker may be blind"


def test_a_transfer_between_two_reads_cannot_tear_a_snapshot(bank: Bank, figures: Figures) -> None:
    """The same interleaving, forced: read the first account, commit a transfer into it from
    the last, read the rest. One snapshot still sums to the total; separate transactions do
    not, and the checker says so (the deterministic negative control)."""
    credits, total = bank.credits, bank.total
    first, last = ACCOUNT_IDS[0], ACCOUNT_IDS[-1]

    with read_transaction(credits.engine) as connection:
        views = [account_view(connection, first)]
        credits.transfer(last, first, 300)  # its own connection, committed
        views += [account_view(connection, account_id) for account_id in ACCOUNT_IDS[1:]]
    figures.check(not torn(views, total), f"one snapshot was torn: {torn(views, total)}")

    views = [credits.account(first)]
    credits.transfer(first, last, 200)
    views += [credits.account(account_id) for account_id in ACCOUNT_IDS[1:]]
    flagged = torn(views, total)
    assert flagged == [f"balances sum to {total + 200}, not {total}"], flagged
    figures.controls_flagged += 1
    figures.add(operations=2 * len(ACCOUNT_IDS) + 2)
    check_verify_and_integrity(bank.database_url, figures)
    figures.assert_clean()
