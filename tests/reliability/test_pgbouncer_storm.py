"""A charge storm through PgBouncer in transaction mode (tests/pgbouncer.py): more threads than
PgBouncer has server connections charge and hold one small balance, so every transaction may
run on another server connection than the last. Judged by the service suite's storm check
(tests/service/test_concurrency.py): never overdrawn, every accepted charge in the ledger once
under its key, every hold settled as told, the cached balance rebuilt from the entries.

Before psycopg's server-side prepared statements were turned off, a connection's sixth run of
a statement PREPAREd it on whichever server connection PgBouncer had lent, and charges failed
with "prepared statement "_pg3_0" already exists" (or "does not exist")."""

from __future__ import annotations

import gencredits
from gencredits import ManualClock
from tests.pgbouncer import POOL_SIZE, PgBouncer
from tests.reliability.tally import Figures
from tests.service import workers
from tests.service.conftest import START
from tests.service.test_concurrency import (
    OPERATIONS,
    STORM_ACCOUNT,
    check_storm,
    open_storm_account,
    summary,
)

THREADS = POOL_SIZE + 4  # more clients than server connections: they queue in PgBouncer


def test_a_charge_storm_through_pgbouncer_never_overdraws(
    pgbouncer: PgBouncer, pgbouncer_url: str, figures: Figures
) -> None:
    with gencredits.open(pgbouncer_url, clock=ManualClock(START), pool_size=THREADS) as credits:
        initial = open_storm_account(credits)
        outcomes = workers.run_in_threads(
            workers.storm, [(credits, STORM_ACCOUNT, n, OPERATIONS) for n in range(THREADS)]
        )
        accepted, refused, replays = summary(outcomes)
        figures.check(refused > 0, "the storm's demand did not exceed the balance")
        for anomaly in check_storm(credits, STORM_ACCOUNT, initial, outcomes):
            figures.anomaly(anomaly)
    figures.add(operations=accepted + refused + replays)
    figures.note(
        f"{THREADS} threads through PgBouncer (transaction mode, {POOL_SIZE} server "
        f"connections): {accepted} accepted, {refused} refused, {replays} replays"
    )
    figures.assert_clean()
