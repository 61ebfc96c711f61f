"""The benchmarks: each measures gencredits and its baseline in the same run, in alternating
rounds, and records measurements, ratios and targets in a :class:`Results`.

Every charge carries a unique idempotency key, as a real pipeline's would. Every suite ends by
checking ``verify()`` (balances rebuilt from the ledger): a fast wrong answer is no answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import replace
from typing import Any

from benchmarks import baseline
from benchmarks.config import Config
from benchmarks.fixtures import (
    CHARGE_CREDITS,
    CHARGE_REQUEST,
    HOLD_REQUEST,
    QUOTE_REQUEST,
    Database,
    account_ids,
    context_of,
    service_with_accounts,
    spread,
)
from benchmarks.harness import (
    Measurement,
    Results,
    Round,
    alternate,
    measurement,
    time_round,
    time_threads,
)
from gencredits import Gencredits, LineItem, QuoteRequest, quote
from gencredits.service.batch_apply import charge_many
from gencredits.service.charge_records import ChargeItem
from gencredits.service.group_commit import GroupCommitter

RAW_BALANCE_CREDITS = 10**12
QUOTES_PER_SECOND_TARGET = 100_000
GROUP_COMMIT_TARGET = 4.0
PER_CHARGE_TARGET = 0.8  # the per-charge path against the raw-SQL baseline


def _warm(service: Gencredits, ids: list[str], label: str, count: int) -> None:
    """Fill SQLAlchemy's statement cache and the catalog cache before timing."""
    for number in range(count):
        service.charge(
            spread(ids, number), CHARGE_REQUEST, idempotency_key=f"warm-{label}-{number}"
        )


def _verified(service: Gencredits, suite: str) -> None:
    report = service.verify()
    assert report.ok, f"{suite}: verify found {report.differences[:3]}"


def _raw_sqlite(database: Database, accounts: int) -> baseline.RawSqliteLedger:
    path = database.directory / f"raw-{uuid.uuid4().hex[:8]}.db"
    return baseline.RawSqliteLedger(path, accounts=accounts, balance_credits=RAW_BALANCE_CREDITS)


def _charger(service: Gencredits, ids: list[str], prefix: str) -> Callable[[int], object]:
    def charge(number: int) -> object:
        return service.charge(
            spread(ids, number), CHARGE_REQUEST, idempotency_key=f"{prefix}-{number}"
        )

    return charge


def _raw_debiter(
    raw: baseline.RawSqliteLedger | baseline.RawPostgresLedger, accounts: int, prefix: str
) -> Callable[[int], object]:
    ids = baseline.account_ids(accounts)

    def debit(number: int) -> object:
        assert raw.debit(spread(ids, number), CHARGE_CREDITS, f"{prefix}-{number}")
        return None

    return debit


# --- per-charge on SQLite ----------------------------------------------------------------------


def _label(accounts: int) -> str:
    return "one account" if accounts == 1 else f"{accounts:,} accounts"


def charges(results: Results, config: Config, database: Database) -> None:
    """One writer, one charge per transaction, against the raw debit."""
    for accounts in (1, config.many_accounts):
        _charges_on(results, config, database, accounts)


def _charges_on(results: Results, config: Config, database: Database, accounts: int) -> None:
    url = database.sqlite_url("charges")
    with (
        closing(_raw_sqlite(database, accounts)) as raw,
        service_with_accounts(url, accounts) as service,
    ):
        ids = account_ids(accounts)
        _warm(service, ids, "charges", config.warmup)
        path = url.removeprefix("sqlite:///")
        with (
            closing(baseline.RawSqliteCharges(path)) as statements,
            closing(
                baseline.RawSqliteChargesKeyInEntry.copy_of(path, f"{path}-key-in-entry.db")
            ) as smaller,
        ):
            rounds = alternate(
                {
                    "gencredits": lambda n: time_round(
                        _charger(service, ids, f"c{n}"), config.charges
                    ),
                    "raw": lambda n: time_round(
                        _raw_debiter(raw, accounts, f"r{n}"), config.charges
                    ),
                    "statements": lambda n: time_round(
                        _statement_charger(statements, ids, f"s{n}"), config.charges
                    ),
                    "smaller": lambda n: time_round(
                        _statement_charger(smaller, ids, f"k{n}"), config.charges
                    ),
                },
                config.rounds,
            )
        _verified(service, "charges")
    name = f"charge, {_label(accounts)}"
    ours = measurement(
        "charges", name, "gencredits", "sqlite", rounds["gencredits"], accounts=accounts
    )
    theirs = measurement("charges", name, "raw SQL", "sqlite", rounds["raw"], accounts=accounts)
    floor = measurement(
        "charges", name, STATEMENTS, "sqlite", rounds["statements"], accounts=accounts
    )
    _compare_per_charge(results, "charges", name, ours, theirs, floor, PER_CHARGE_TARGET)
    # Whether a smaller ledger could reach the target: the key kept in the entry row.
    smaller = measurement(
        "charges", name, SMALLER_LEDGER, "sqlite", rounds["smaller"], accounts=accounts
    )
    results.add(smaller)
    results.compare("charges", name, smaller, theirs)


STATEMENTS = "raw SQL, gencredits' statements"
SMALLER_LEDGER = "raw SQL, key in the entry row"


def _compare_per_charge(
    results: Results,
    suite: str,
    name: str,
    ours: Measurement,
    raw: Measurement,
    floor: Measurement,
    target: float | None,
) -> None:
    """gencredits against the raw debit (the target); and the floor, gencredits' own
    statements with no Python around them, against the raw debit (what the target asks of the
    rows alone), and gencredits against that floor."""
    results.add(ours, raw, floor)
    results.compare(suite, name, ours, raw, target)
    results.compare(suite, name, floor, raw)
    results.compare(suite, name, ours, floor)


def _statement_charger(
    statements: baseline.RawSqliteCharges | baseline.RawPostgresCharges,
    ids: list[str],
    prefix: str,
) -> Callable[[int], object]:
    def charge(number: int) -> object:
        assert statements.charge(spread(ids, number), CHARGE_CREDITS, f"{prefix}-{number}")
        return None

    return charge


# --- holds ------------------------------------------------------------------------------------


def holds(results: Results, config: Config, database: Database) -> None:
    """Hold + capture pairs (two transactions each) against two raw debits (two commits)."""
    backends = ["sqlite"] + (["postgresql"] if database.postgres_server else [])
    for backend in backends:
        _holds_on(results, config, database, backend)


def _hold_and_capture(service: Gencredits, account_id: str, prefix: str) -> Callable[[int], object]:
    def pair(number: int) -> object:
        held = service.hold(account_id, HOLD_REQUEST, idempotency_key=f"{prefix}-{number}")
        return service.capture(held.id, idempotency_key=f"{prefix}-c-{number}")

    return pair


def _two_debits(
    raw: baseline.RawSqliteLedger | baseline.RawPostgresLedger, prefix: str
) -> Callable[[int], object]:
    debit = _raw_debiter(raw, 1, prefix)
    return lambda number: (debit(2 * number), debit(2 * number + 1))


def _holds_on(results: Results, config: Config, database: Database, backend: str) -> None:
    raw: baseline.RawSqliteLedger | baseline.RawPostgresLedger
    url = database.url(backend, "holds")
    with service_with_accounts(url, 1) as service, ExitStack() as closes:
        if backend == "sqlite":
            raw = _raw_sqlite(database, 1)
        else:
            raw = baseline.RawPostgresLedger(url, accounts=1, balance_credits=RAW_BALANCE_CREDITS)
        closes.callback(raw.close)
        account_id = account_ids(1)[0]
        _warm(service, [account_id], "holds", config.warmup)
        rounds = alternate(
            {
                "gencredits": lambda n: time_round(
                    _hold_and_capture(service, account_id, f"h{n}"), config.holds
                ),
                "raw": lambda n: time_round(_two_debits(raw, f"r{n}"), config.holds),
            },
            config.rounds,
        )
        _verified(service, "holds")
    ours = measurement("holds", "hold + capture pair", "gencredits", backend, rounds["gencredits"])
    theirs = measurement(
        "holds", "hold + capture pair", "raw SQL, two debits", backend, rounds["raw"]
    )
    results.add(ours, theirs)
    results.compare("holds", f"hold + capture, {backend}", ours, theirs)


# --- quotes -----------------------------------------------------------------------------------


def quotes(results: Results, config: Config, database: Database) -> None:
    """A five-line request, in-process: the facade (catalog lookup included), the same with the
    request built per call (as an API handler does), and requests that miss the price cache."""
    with service_with_accounts(database.sqlite_url("quotes"), 1) as service:
        catalog = service.catalog()
        now = service.clock.now()
        lines = QUOTE_REQUEST.lines

        def uncached(number: int) -> object:
            # A different count each call: never the same request twice in a row of 10,000.
            last = LineItem("veo-3", seconds=6, quality="1080p", count=number % 10_000 + 1)
            return quote(QuoteRequest((*lines[:4], last)), catalog, issued_at=now)

        runners: dict[str, Callable[[int], Round]] = {
            "facade": lambda n: time_round(lambda i: service.quote(QUOTE_REQUEST), config.quotes),
            "built per call": lambda n: time_round(
                lambda i: service.quote(
                    QuoteRequest(
                        tuple(
                            LineItem(
                                line.model_id,
                                line.outputs,
                                line.count,
                                line.seconds,
                                line.quality,
                                line.option,
                            )
                            for line in lines
                        )
                    )
                ),
                config.quotes,
            ),
            "price cache missed": lambda n: time_round(uncached, config.quotes),
        }
        for runner in runners.values():  # warm
            runner(0)
        rounds = alternate(runners, config.rounds)
    found = {
        name: measurement("quotes", f"quote, 5 lines, {name}", "gencredits", "in-process", timed)
        for name, timed in rounds.items()
    }
    results.add(*found.values())
    results.require("quotes", "quote, 5 lines", found["facade"], QUOTES_PER_SECOND_TARGET)
    results.compare(
        "quotes", "price cache: hit / miss", found["facade"], found["price cache missed"]
    )


# --- group commit -----------------------------------------------------------------------------


def _group_round(
    service: Gencredits,
    ids: list[str],
    prefix: str,
    config: Config,
    stats: dict[str, float],
    writers: int = 1,
) -> Round:
    with GroupCommitter(
        context_of(service), window_seconds=config.group_window_seconds, writers=writers
    ) as group:

        def charge(number: int) -> object:
            return group.charge(
                spread(ids, number), CHARGE_REQUEST, idempotency_key=f"{prefix}-{number}"
            )

        timed = time_threads(charge, config.group_charges, config.group_threads)
    stats["mean_batch_items"] = round(group.mean_batch_items, 1)
    stats["batches"] = group.batches
    stats["writers"] = writers
    return timed


def _many_round(service: Gencredits, ids: list[str], prefix: str, total: int, batch: int) -> Round:
    """``charge_many`` over ``total`` charges in batches; latency is per batch call."""
    ctx = context_of(service)
    items = [ChargeItem(spread(ids, n), CHARGE_REQUEST, f"{prefix}-{n}") for n in range(total)]
    calls = -(-total // batch)
    timed = time_round(
        lambda number: charge_many(ctx, items[number * batch : (number + 1) * batch]), calls
    )
    return Round(total, timed.seconds, timed.latencies_ns, timed.cpu_seconds)


def group(results: Results, config: Config, database: Database) -> None:
    """Group commit (many callers, one transaction per batch) and ``charge_many`` against the
    per-charge path and the raw per-commit debit, on SQLite with synchronous=FULL."""
    for accounts in (1, config.many_accounts):
        _group_on(results, config, database, accounts)


def _group_on(results: Results, config: Config, database: Database, accounts: int) -> None:
    stats: dict[str, float] = {}
    threads, count = config.group_threads, config.group_charges
    with (
        closing(_raw_sqlite(database, accounts)) as raw,
        service_with_accounts(database.sqlite_url("group"), accounts) as service,
    ):
        ids = account_ids(accounts)
        _warm(service, ids, "group", config.warmup)
        runners: dict[str, Callable[[int], Round]] = {
            "per-charge": lambda n: time_round(_charger(service, ids, f"s{n}"), count),
            "raw SQL per commit": lambda n: time_round(_raw_debiter(raw, accounts, f"r{n}"), count),
            "group commit": lambda n: _group_round(service, ids, f"g{n}", config, stats),
            "charge_many x100": lambda n: _many_round(service, ids, f"m{n}", count, 100),
            "charge_many x1000": lambda n: _many_round(service, ids, f"k{n}", count, 1000),
        }
        if accounts == 1:
            runners["per-charge, threads"] = lambda n: time_threads(
                _charger(service, ids, f"t{n}"), count, threads
            )
        rounds = alternate(runners, config.rounds)
        _verified(service, "group")
    name = f"charge, {_label(accounts)}"
    workers = {"group commit": threads, "per-charge, threads": threads}
    extra: dict[str, dict[str, object]] = {
        "group commit": {"window_seconds": config.group_window_seconds, **stats},
        "charge_many x100": {"batch": 100},
        "charge_many x1000": {"batch": 1000},
    }
    found = {
        subject: measurement(
            "group",
            name,
            subject,
            "sqlite",
            timed,
            workers=workers.get(subject, 1),
            **extra.get(subject, {}),
        )
        for subject, timed in rounds.items()
    }
    results.add(*found.values())
    for subject in ("group commit", "charge_many x1000"):
        for base in ("per-charge", "raw SQL per commit"):
            results.compare("group", name, found[subject], found[base], GROUP_COMMIT_TARGET)
    if "per-charge, threads" in found:
        results.compare("group", name, found["group commit"], found["per-charge, threads"])


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres(results: Results, config: Config, database: Database) -> None:
    """The per-charge path at 1, 4 and 16 worker threads (one process) against the raw debit
    with as many psycopg connections; and group commit at the most workers."""
    if database.postgres_server is None:
        results.notes.append("postgres: skipped (no PostgreSQL server for this run)")
        return
    for accounts in (1, config.many_accounts):
        _postgres_on(results, config, database, accounts)


def _threaded(
    make: Callable[[Any, Any, str], Callable[[int], object]],
    target: Any,
    where: Any,
    prefix: str,
    count: int,
    workers: int,
) -> Callable[[int], Round]:
    """A runner of ``count`` operations over ``workers`` threads, fresh keys each round."""
    return lambda number: time_threads(make(target, where, f"{prefix}-{number}"), count, workers)


def _postgres_on(results: Results, config: Config, database: Database, accounts: int) -> None:
    name = f"charge, {_label(accounts)}"
    url = database.postgres_url("charges")
    most, count = max(config.postgres_workers), config.postgres_charges
    with service_with_accounts(url, accounts, workers=8) as service, ExitStack() as closes:
        raw = closes.enter_context(
            closing(
                baseline.RawPostgresLedger(
                    url, accounts=accounts, balance_credits=RAW_BALANCE_CREDITS
                )
            )
        )
        ids = account_ids(accounts)
        _warm(service, ids, "pg", config.warmup)
        statements = closes.enter_context(closing(baseline.RawPostgresCharges(url)))
        per_charge: dict[int, Measurement] = {}
        raw_at: dict[int, Measurement] = {}
        for workers in config.postgres_workers:
            rounds = alternate(
                {
                    "gencredits": _threaded(_charger, service, ids, f"w{workers}", count, workers),
                    "raw": _threaded(_raw_debiter, raw, accounts, f"w{workers}", count, workers),
                    "statements": _threaded(
                        _statement_charger, statements, ids, f"s{workers}", count, workers
                    ),
                },
                config.rounds,
            )
            ours, theirs, floor = (
                measurement("postgres", name, subject, "postgresql", rounds[key], workers=workers)
                for subject, key in (
                    ("gencredits", "gencredits"),
                    ("raw SQL", "raw"),
                    (STATEMENTS, "statements"),
                )
            )
            target = PER_CHARGE_TARGET if workers == most else None
            _compare_per_charge(
                results, "postgres", f"{name}, {workers} workers", ours, theirs, floor, target
            )
            per_charge[workers] = ours
            raw_at[workers] = theirs
        stats: dict[str, float] = {}
        grouped = replace(config, group_threads=most, group_charges=count)
        timed = alternate(
            {
                "group": lambda n: _group_round(
                    service, ids, f"pg-g{n}", grouped, stats, config.postgres_group_writers
                )
            },
            config.rounds,
        )
        together = measurement(
            "postgres", name, "group commit", "postgresql", timed["group"], workers=most, **stats
        )
        results.add(together)
        results.compare("postgres", f"{name}, {most} workers", together, per_charge[most])
        # What a server's request threads get with group commit on (the service's default).
        results.compare(
            "postgres", f"{name}, {most} workers", together, raw_at[most], PER_CHARGE_TARGET
        )
        _verified(service, "postgres")


def measurement_named(results: Results, suite: str, subject: str) -> Measurement | None:
    return next(
        (m for m in results.measurements if m.suite == suite and m.subject == subject), None
    )
