"""Growth: does the charge stay fast, and the monthly report usable, as the ledger grows?

For each size (0, 10^5, 10^6 entries; 10^7 behind ``--ten-million``) a fresh SQLite database
gets ``growth_accounts`` accounts and a year of charges written straight into the tables, as
consistent as the service would have left them: running balances, grants drawn down, cached
balances (``verify()`` is timed and must pass). One *heavy* account holds 10% of the ledger
(about 8,300 charges a month at 10^6), the others share the rest. Then, single writer:

* per-charge throughput and latency on the heavy account and spread over every account;
* the monthly usage report of one account (credits and count by model over a calendar month,
  the query behind the history page), for the heavy account and a typical one;
* ``verify()`` over the whole ledger.

Ratios compare each size with the empty ledger of the same run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import make_url

from benchmarks.config import Config
from benchmarks.fixtures import (
    CHARGE_REQUEST,
    Database,
    account_ids,
    service_with_accounts,
    spread,
)
from benchmarks.harness import Measurement, Results, Round, measurement, time_round
from gencredits import Gencredits, QuoteRequest
from gencredits.store.engine import read_transaction
from gencredits.store.tables import entries

# The image models a year of history is spread over, with their price per image.
HISTORY_MODELS = (
    ("flux-2-pro", 5),
    ("imagen-4", 4),
    ("nano-banana-2", 1),
    ("flux-2-flex", 2),
    ("ideogram-3", 5),
    ("recraft-v4", 4),
    ("flux-2-max", 12),
    ("gpt-image-1.5", 8),
)
SEED_CHUNK_ROWS = 50_000
HISTORY_DAYS = 365

INSERT_ENTRY = (
    "INSERT INTO entries (account_id, kind, amount_credits, balance_delta, held_delta, "
    "balance_after, available_after, grants, model_id, price_version, idempotency_key, actor, "
    "details, effective_at, created_at) "
    "VALUES (?, 'charge', ?, ?, 0, ?, ?, ?, ?, 1, ?, 'operator', ?, ?, ?)"
)


def sqlite_path(service: Gencredits) -> Path:
    database = make_url(str(service.engine.url)).database
    assert database, "growth runs on a SQLite file"
    return Path(database)


def _stamp(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores it in SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed_history(service: Gencredits, size: int, *, heavy_share: float, now: datetime) -> float:
    """Write ``size`` charges over the last year, as the service would have; returns seconds."""
    if size == 0:
        return 0.0
    began = time.perf_counter()
    details = {
        model: json.dumps(service.quote(QuoteRequest.single(model)).as_dict())
        for model, _ in HISTORY_MODELS
    }
    connection = sqlite3.connect(sqlite_path(service), isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")  # seeding: durability does not matter
        rows = connection.execute(
            "SELECT a.id, a.available_credits, g.id FROM accounts a "
            "JOIN grants g ON g.account_id = a.id AND g.source = 'plan'"
        ).fetchall()
        balance = {account: int(available) for account, available, _ in rows}
        grant_of = {account: grant for account, _, grant in rows}
        ids = sorted(balance)
        heavy, others = ids[0], ids[1:] or ids[:1]
        start = now - timedelta(days=HISTORY_DAYS)
        step = timedelta(days=HISTORY_DAYS - 1) / size
        batch: list[tuple[Any, ...]] = []
        for number in range(size):
            is_heavy = int((number + 1) * heavy_share) > int(number * heavy_share)
            account = heavy if is_heavy else others[number % len(others)]
            model, price = HISTORY_MODELS[number % len(HISTORY_MODELS)]
            balance[account] -= price
            moment = _stamp(start + step * number)
            batch.append(
                (
                    account,
                    price,
                    -price,
                    balance[account],
                    balance[account],
                    json.dumps([[grant_of[account], price]]),
                    model,
                    f"seed-{number}",
                    details[model],
                    moment,
                    moment,
                )
            )
            if len(batch) == SEED_CHUNK_ROWS:
                _insert(connection, batch)
        if batch:
            _insert(connection, batch)
        connection.execute("BEGIN IMMEDIATE")
        for account in ids:
            connection.execute(
                "UPDATE accounts SET available_credits = ? WHERE id = ?",
                (balance[account], account),
            )
            connection.execute(
                "UPDATE grants SET remaining_credits = ? WHERE id = ?",
                (balance[account], grant_of[account]),
            )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    # Seeding wrote with synchronous=OFF: flush the file now, or the first checkpoint's fsync
    # inside the timed charges pays for the whole seed (a 0.4-0.6 s stall at 10^6-10^7
    # entries, measured, that doubled the heavy account's mean charge).
    descriptor = os.open(sqlite_path(service), os.O_RDWR)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return time.perf_counter() - began


def _insert(connection: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(INSERT_ENTRY, batch)
    connection.execute("COMMIT")
    batch.clear()


def monthly_usage(
    connection: Connection, account_id: str, month_starts_at: datetime, month_ends_at: datetime
) -> list[tuple[str | None, int, int]]:
    """Credits spent and charges made by model over one month (charges and captures, less
    refunds): the usage report of one account."""
    rows = connection.execute(
        select(entries.c.model_id, func.count(), func.sum(-entries.c.balance_delta))
        .where(
            entries.c.account_id == account_id,
            entries.c.effective_at >= month_starts_at,
            entries.c.effective_at < month_ends_at,
            entries.c.kind.in_(("charge", "capture", "refund")),
        )
        .group_by(entries.c.model_id)
    ).all()
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


def report_month(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month before last: complete, and inside the seeded year."""
    first_of_this = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ends_at = (first_of_this - timedelta(days=1)).replace(day=1)
    starts_at = (ends_at - timedelta(days=1)).replace(day=1)
    return starts_at, ends_at


def query_plan(service: Gencredits, account_id: str, month: tuple[datetime, datetime]) -> str:
    with read_transaction(service.engine) as connection:
        compiled = (
            select(entries.c.model_id, func.count())
            .where(
                entries.c.account_id == account_id,
                entries.c.effective_at >= month[0],
                entries.c.effective_at < month[1],
            )
            .group_by(entries.c.model_id)
        )
        sql = str(compiled.compile(connection, compile_kwargs={"literal_binds": True}))
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    return "; ".join(str(row[-1]) for row in rows)


# Not in the schema: an experiment on what an index holding every column the report reads
# would buy (the report then never visits the wide entry rows, which carry the quote JSON).
COVERING_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_bench_entries_usage ON entries "
    "(account_id, effective_at, kind, model_id, balance_delta)"
)


def _with_covering_index(service: Gencredits, report: Any, repeats: int) -> Round:
    with service.engine.begin() as connection:
        connection.exec_driver_sql(COVERING_INDEX)
        connection.exec_driver_sql("ANALYZE entries")
    return time_round(report, repeats)


def growth(results: Results, config: Config, database: Database) -> None:
    """Charges and the monthly report at 10^5 and 10^6 entries against an empty ledger."""
    empty: dict[str, Measurement] = {}
    for size in (0, *config.growth_sizes):
        _growth_at(results, config, database, size, empty)


def _reporter(service: Gencredits, account_id: str, month: tuple[datetime, datetime]) -> Any:
    def report(_: int) -> object:
        with read_transaction(service.engine) as connection:
            return monthly_usage(connection, account_id, *month)

    return report


def _growth_at(
    results: Results,
    config: Config,
    database: Database,
    size: int,
    empty: dict[str, Measurement],
) -> None:
    with service_with_accounts(
        database.sqlite_url(f"growth-{size}"), config.growth_accounts
    ) as service:
        now = service.clock.now()
        seeded = seed_history(service, size, heavy_share=config.growth_heavy_share, now=now)
        ids = account_ids(config.growth_accounts)
        heavy, typical = ids[0], ids[-1]
        month = report_month(now)
        settings: dict[str, Any] = {
            "entries": size,
            "accounts": config.growth_accounts,
            "seed_seconds": round(seeded, 1),
            "database_bytes": sqlite_path(service).stat().st_size,
        }
        found = {
            "charge, heavy account": time_round(
                lambda n: service.charge(heavy, CHARGE_REQUEST, idempotency_key=f"h-{n}"),
                config.growth_charges,
            ),
            "charge, spread": time_round(
                lambda n: service.charge(spread(ids, n), CHARGE_REQUEST, idempotency_key=f"s-{n}"),
                config.growth_charges,
            ),
            "monthly report, heavy account": time_round(
                _reporter(service, heavy, month), config.report_repeats
            ),
            "monthly report, typical account": time_round(
                _reporter(service, typical, month), config.report_repeats
            ),
        }
        began = time.perf_counter()
        verified = service.verify()
        verify_seconds = time.perf_counter() - began
        assert verified.ok, f"growth {size}: {verified.differences[:3]}"
        with read_transaction(service.engine) as connection:
            heavy_rows = sum(row[1] for row in monthly_usage(connection, heavy, *month))
        plan = query_plan(service, heavy, month)
        found["monthly report, heavy account, covering index (experiment)"] = _with_covering_index(
            service, _reporter(service, heavy, month), config.report_repeats
        )
    here: dict[str, Measurement] = {}
    for name, timed in found.items():
        here[name] = measurement(
            "growth", f"{name}, {size:,} entries", "gencredits", "sqlite", timed, **settings
        )
        results.add(here[name])
        if size == 0:
            empty[name] = here[name]
        elif name in empty and "experiment" not in name:
            results.compare("growth", f"{name}: {size:,} entries / empty", here[name], empty[name])
    results.compare(
        "growth",
        f"monthly report, heavy account, {size:,} entries: covering index / schema",
        here["monthly report, heavy account, covering index (experiment)"],
        here["monthly report, heavy account"],
    )
    results.extra.setdefault("growth", []).append(
        settings
        | {
            "verify_seconds": round(verify_seconds, 2),
            "heavy_account_entries_in_report_month": heavy_rows,
            "report_query_plan": plan,
        }
    )
