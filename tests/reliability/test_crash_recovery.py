"""Crash recovery (SPEC section 6): "a crash at any instant loses no acknowledged mutation and
applies none twice".

A real server process (``python -m gencredits serve``) runs under charge/hold/capture/release/
refund load from client threads and is SIGKILLed at random moments (fixed seed, printed), then
restarted on the same database; the clients send every unacknowledged mutation again with its
idempotency key until it is acknowledged. On PostgreSQL the database itself is also crashed
(``pg_ctl stop -m immediate``) under load while the server keeps running. Afterwards:

* every acknowledged mutation is in the ledger exactly once, with the ids it was answered with,
  and nothing was applied that no client was told about (matched by idempotency key);
* every refusal (402) wrote nothing;
* each account's balance is its opening balance moved by exactly the acknowledged amounts;
* every hold has one outcome; ``verify()`` finds no difference; SQLite's integrity check is ok.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import gencredits
from tests.pgserver import PostgresServer, find_bindir, start_postgres
from tests.reliability.checks import (
    balances,
    check_acknowledged,
    check_holds,
    check_verify_and_integrity,
    ledger_balances,
)
from tests.reliability.harness import ServerProcess, new_operator_key
from tests.reliability.load import REFUSED, Ack, InFlight, LoadClient
from tests.reliability.tally import Figures

SEED = 20260131
SQLITE_KILLS = int(os.environ.get("GENCREDITS_SQLITE_KILLS", "20"))
POSTGRES_KILLS = int(os.environ.get("GENCREDITS_POSTGRES_KILLS", "5"))
POSTGRES_CRASHES = 3
UP_SECONDS = (0.3, 1.8)  # how long the server runs under load before each kill
DOWN_SECONDS = (0.0, 0.3)  # how long it stays dead
# Two rich accounts and a thin one that runs dry, so refusals (402) happen under crashes too.
ACCOUNTS = {"rich-a": 10**9, "rich-b": 10**9, "thin": 500}
CLIENTS = ("rich-a", "rich-b", "thin", "thin")


def _prepare(database_url: str) -> tuple[str, dict[str, int]]:
    """Open the accounts and fund them (setup keys), make an operator key; return the key
    and each account's opening balance."""
    with gencredits.open(database_url, pool_size=2) as credits:
        key = new_operator_key(credits)
        for account_id, amount in ACCOUNTS.items():
            credits.create_account(account_id, name=account_id, plan="free",
                                   idempotency_key=f"setup-open-{account_id}")
            credits.grant(account_id, amount, source="promo",
                          idempotency_key=f"setup-grant-{account_id}")
        opening = {a: credits.account(a).balance_credits for a in ACCOUNTS}
    return key, opening


class Load:
    """The client threads, started and always stopped and joined."""

    def __init__(self, base_url: str, operator_key: str, seed: str) -> None:
        self.stop = threading.Event()
        self.in_flight = InFlight()
        self.clients = [
            LoadClient(base_url, operator_key, account_id, f"{seed}-{n}",
                       self.stop, self.in_flight)
            for n, account_id in enumerate(CLIENTS)
        ]

    def __enter__(self) -> Load:
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.finish()

    def finish(self) -> None:
        """Stop after each client's current mutation is acknowledged."""
        self.stop.set()
        for client in self.clients:
            client.join(timeout=180)
        assert not any(client.is_alive() for client in self.clients), "a load client hung"

    @property
    def acks(self) -> list[Ack]:
        return [ack for client in self.clients for ack in client.acks]

    def count(self) -> int:
        return sum(len(client.acks) for client in self.clients)


def _check_everything(
    database_url: str, server: ServerProcess, load: Load, opening: dict[str, int],
    figures: Figures, *, server_errors_allowed: bool,
) -> None:
    for client in load.clients:
        for anomaly in client.anomalies:
            figures.anomaly(anomaly)
    server_errors = sum(client.server_errors for client in load.clients)
    kinds: dict[tuple[int, str | None, str | None], int] = {}
    for client in load.clients:
        for kind, count in client.server_error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
    if not server_errors_allowed:
        figures.check(server_errors == 0, f"{server_errors} answers were 5xx: {kinds}")
    # While the database is down the server says so: 503 database_unavailable, Retry-After.
    figures.check(set(kinds) <= {(503, "database_unavailable", "1")}, f"5xx answers: {kinds}")
    acks = load.acks
    from gencredits.service.facade import open as open_service

    with open_service(database_url, pool_size=2) as credits:
        engine = credits.engine
        checked = check_acknowledged(engine, acks, figures)
        statuses = check_holds(engine, figures)
        figures.check(statuses.get("pending", 0) == 0 and statuses.get("expired", 0) == 0,
                      f"holds left unsettled or expired: {statuses}")
        cached, rebuilt = balances(engine), ledger_balances(engine)
    for account_id, opened in opening.items():
        moved = 0
        for ack in acks:
            if ack.account_id != account_id or ack.status == REFUSED:
                continue
            if ack.operation == "charge":
                moved -= int(ack.body["amount"])
            elif ack.operation == "refund":
                moved += int(ack.body["amount"])
            elif ack.operation == "capture" and ack.body["capture"]:
                moved -= int(ack.body["capture"]["amount"])
        available, held = cached[account_id]
        figures.check(held == 0, f"{account_id}: {held} credits still held")
        figures.check(available + held == opened + moved,
                      f"{account_id}: balance {available + held}, expected {opened} {moved:+}")
        figures.check(rebuilt[account_id] == opened + moved,
                      f"{account_id}: ledger sums to {rebuilt[account_id]}, expected "
                      f"{opened} {moved:+}")
    check_verify_and_integrity(database_url, figures)
    refused = sum(1 for ack in acks if ack.status == REFUSED)
    retried = sum(1 for ack in acks if ack.attempts > 1)
    figures.add(operations=checked)
    figures.note(f"{len(acks)} acknowledged, {retried} after retries, {refused} refused, "
                 f"{server_errors} 5xx retried, holds {statuses}")
    figures.assert_clean()
    # The load did what it is for (not anomalies: properties of the load, not of the server).
    assert refused > 0, "the thin account was never refused: no 402 under crashes"
    assert retried > 0, "no mutation was ever retried: the kills hit nothing"


def _kill_rounds(
    database_url: str, workdir: Path, figures: Figures, *, kills: int, workers: int, seed: str
) -> None:
    rng = random.Random(seed)
    print(f"crash recovery: seed {seed!r}, {kills} kills")
    figures.note(f"seed {seed!r}")
    key, opening = _prepare(database_url)
    started = time.monotonic()
    busy_kills = 0
    with ServerProcess(database_url, workdir, workers=workers, sweep_seconds=0.5) as server:
        server.start()
        with Load(server.base_url, key, seed) as load:
            for _ in range(kills):
                before = load.count()
                time.sleep(rng.uniform(*UP_SECONDS))
                busy_kills += load.in_flight.count > 0
                server.kill()
                figures.add(kills=1)
                time.sleep(rng.uniform(*DOWN_SECONDS))
                server.start()
                figures.check(load.count() > before or kills == 0, "no progress in a round")
            time.sleep(1.0)  # the last run: every retried mutation gets through
            load.finish()
        server.stop()
        figures.note(f"{busy_kills} of {kills} kills with requests in flight, "
                     f"{time.monotonic() - started:.0f} s")
        _check_everything(database_url, server, load, opening, figures,
                          server_errors_allowed=False)


def test_sigkill_under_load_sqlite(tmp_path: Path, figures: Figures) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    _kill_rounds(url, tmp_path, figures, kills=SQLITE_KILLS, workers=1, seed=f"{SEED}-sqlite")


@pytest.mark.postgres
def test_sigkill_under_load_postgres(postgres_url: str, tmp_path: Path, figures: Figures) -> None:
    _kill_rounds(postgres_url, tmp_path, figures, kills=POSTGRES_KILLS, workers=2,
                 seed=f"{SEED}-postgres")


@pytest.fixture
def dedicated_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to crash without harming the session's."""
    if os.environ.get("GENCREDITS_SKIP_POSTGRES") == "1":
        pytest.skip("GENCREDITS_SKIP_POSTGRES=1")
    if find_bindir() is None:
        pytest.fail("PostgreSQL binaries not found (make postgres)", pytrace=False)
    server = start_postgres()
    try:
        yield server
    finally:
        server.destroy()


@pytest.mark.postgres
def test_postgres_immediate_stop_under_load(
    dedicated_postgres: PostgresServer, tmp_path: Path, figures: Figures
) -> None:
    """``pg_ctl stop -m immediate`` (no checkpoint, no clean shutdown: crash recovery on the
    next start) while the server is charging; the server itself keeps running."""
    seed = f"{SEED}-pg-immediate"
    rng = random.Random(seed)
    print(f"postgres crash: seed {seed!r}, {POSTGRES_CRASHES} immediate stops")
    figures.note(f"seed {seed!r}")
    database_url = dedicated_postgres.create_database("crash")
    key, opening = _prepare(database_url)
    crash: Callable[[], None] = lambda: dedicated_postgres.stop("immediate")  # noqa: E731
    with ServerProcess(database_url, tmp_path, workers=1, sweep_seconds=0.5) as server:
        server.start()
        with Load(server.base_url, key, seed) as load:
            for _ in range(POSTGRES_CRASHES):
                before = load.count()
                time.sleep(rng.uniform(0.5, 2.0))
                crash()
                figures.add(kills=1)
                time.sleep(rng.uniform(0.2, 1.0))
                dedicated_postgres.start()
                time.sleep(0.5)
                figures.check(load.count() > before, "no progress between database crashes")
            time.sleep(1.5)
            load.finish()
        server.stop()
        _check_everything(database_url, server, load, opening, figures,
                          server_errors_allowed=True)


def test_the_checks_flag_lost_doubled_and_unacknowledged_mutations(
    tmp_path: Path, figures: Figures
) -> None:
    """The negative control of the checks above: a ledger that lost an acknowledged charge,
    applied one twice, or applied one nobody was told about is flagged each time."""
    from sqlalchemy import insert, select

    from gencredits import QuoteRequest
    from gencredits.store.engine import write_transaction
    from gencredits.store.tables import entries

    url = f"sqlite:///{tmp_path}/control.db"
    request = QuoteRequest.single("flux-2-pro")
    with gencredits.open(url, pool_size=2) as credits:
        credits.create_account("ana", name="Ana", plan="pro")
        charged = credits.charge("ana", request, idempotency_key="charge-1")
        told = Ack("charge", "ana", "charge-1", 201, charged.as_dict(), 1)

        def flagged(acks: list[Ack]) -> list[str]:
            probe = Figures("control")
            check_acknowledged(credits.engine, acks, probe)
            return probe.anomalies

        assert flagged([told]) == []
        lost = Ack("charge", "ana", "charge-lost", 201, {**charged.as_dict(), "id": 10**6}, 1)
        assert len(flagged([told, lost])) == 1
        credits.charge("ana", request, idempotency_key="charge-untold")
        assert len(flagged([told])) == 1
        with write_transaction(credits.engine) as connection:  # apply charge-1 a second time
            row = dict(connection.execute(
                select(entries).where(entries.c.id == charged.id)).mappings().one())
            del row["id"]
            connection.execute(insert(entries).values(**row))
        problems = flagged([told])
        assert any("charge-1" in problem for problem in problems), problems
        assert not credits.verify().ok
    figures.controls_flagged += 4
    figures.add(operations=4)
