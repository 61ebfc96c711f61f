"""Checks of what the database holds against what clients were told, by plain SQL.

None of these trust the service's own report: they read entries, holds and the cached balances
straight from the tables, and record every difference as an anomaly on the test's figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, func, select, text

import gencredits
from gencredits.store.engine import read_transaction
from gencredits.store.tables import accounts, entries, holds
from tests.reliability.harness import is_sqlite_url, sqlite_integrity
from tests.reliability.load import REFUSED, Ack
from tests.reliability.tally import Figures


def keyed_entries(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every entry written under an idempotency key, grouped by the key."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    statement = select(
        entries.c.id, entries.c.account_id, entries.c.kind, entries.c.amount_credits,
        entries.c.hold_id, entries.c.idempotency_key,
    ).where(entries.c.idempotency_key.is_not(None)).order_by(entries.c.id)
    with read_transaction(engine) as connection:
        for row in connection.execute(statement).mappings():
            grouped[row["idempotency_key"]].append(dict(row))
    return grouped


def _expected_entries(ack: Ack) -> list[tuple[str, int | None, int | None]]:
    """The entries (kind, entry id, hold id) an acknowledged mutation must have left."""
    body = ack.body
    if ack.status == REFUSED:
        return []
    if ack.operation in ("charge", "refund"):
        return [(ack.operation, int(body["id"]), None)]
    if ack.operation == "hold":
        return [("hold", None, int(body["id"]))]
    if ack.operation == "release":
        return [("release", None, int(body["id"]))]
    if ack.operation == "capture":
        hold_id = int(body["hold"]["id"])
        expected = []
        if body["capture"]:
            expected.append(("capture", int(body["capture"]["id"]), hold_id))
        if body["release"]:
            expected.append(("release", int(body["release"]["id"]), hold_id))
        return expected
    raise AssertionError(ack.operation)


def _matches(row: dict[str, Any], wanted: tuple[str, int | None, int | None]) -> bool:
    kind, entry_id, hold_id = wanted
    return (
        row["kind"] == kind
        and (entry_id is None or row["id"] == entry_id)
        and (hold_id is None or row["hold_id"] == hold_id)
    )


def check_acknowledged(
    engine: Engine, acks: Iterable[Ack], figures: Figures, *, setup_prefix: str = "setup-"
) -> int:
    """Every acknowledged mutation is in the ledger exactly once, as acknowledged; nothing else
    written under a key is there. Returns how many acknowledgements were checked."""
    found = keyed_entries(engine)
    checked = 0
    seen: set[str] = set()
    for ack in acks:
        checked += 1
        seen.add(ack.key)
        stored = found.get(ack.key, [])
        expected = _expected_entries(ack)
        if len(stored) != len(expected) or not all(
            _matches(row, wanted) for row, wanted in zip(stored, expected, strict=True)
        ):
            figures.anomaly(
                f"{ack.operation} {ack.key} (answered {ack.status} after {ack.attempts} "
                f"attempts): expected {expected}, ledger has "
                f"{[(r['kind'], r['id'], r['hold_id']) for r in stored]}"
            )
        for row in stored:
            if row["account_id"] != ack.account_id and ack.operation != "refund":
                figures.anomaly(f"{ack.key}: entry {row['id']} is on {row['account_id']}")
    for key, rows in found.items():
        if key not in seen and not key.startswith(setup_prefix):
            figures.anomaly(f"entries {[r['id'] for r in rows]} under key {key} never acknowledged")
    return checked


def check_holds(engine: Engine, figures: Figures) -> dict[str, int]:
    """Each hold has one hold entry and at most one outcome, whose entries add up to the hold:
    captured (capture + release of the rest), released or expired (release of all), or
    pending (nothing). Returns how many holds ended in each status."""
    statuses: dict[str, int] = defaultdict(int)
    by_hold: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with read_transaction(engine) as connection:
        hold_rows = list(connection.execute(select(holds)).mappings())
        for row in connection.execute(
            select(entries.c.id, entries.c.kind, entries.c.amount_credits, entries.c.hold_id)
            .where(entries.c.hold_id.is_not(None))
        ).mappings():
            by_hold[int(row["hold_id"])].append(dict(row))
    for hold in hold_rows:
        hold_id, amount, status = int(hold["id"]), int(hold["amount_credits"]), hold["status"]
        statuses[status] += 1
        kinds: dict[str, list[int]] = defaultdict(list)
        for row in by_hold.get(hold_id, []):
            kinds[row["kind"]].append(int(row["amount_credits"]))
        figures.check(kinds["hold"] == [amount], f"hold {hold_id}: hold entries {kinds['hold']}")
        captured, returned = kinds["capture"], kinds["release"]
        figures.check(len(captured) <= 1 and len(returned) <= 1,
                      f"hold {hold_id} ({status}) settled more than once: {dict(kinds)}")
        if status == "pending":
            figures.check(not captured and not returned, f"pending hold {hold_id}: {dict(kinds)}")
        elif status == "captured":
            kept = int(hold["captured_credits"])
            figures.check(sum(captured) == kept and sum(captured) + sum(returned) == amount,
                          f"captured hold {hold_id} ({amount}, kept {kept}): {dict(kinds)}")
        elif status in ("released", "expired"):
            figures.check(not captured and returned == [amount],
                          f"{status} hold {hold_id} ({amount}): {dict(kinds)}")
        else:
            figures.anomaly(f"hold {hold_id} has status {status!r}")
    return dict(statuses)


def balances(engine: Engine) -> dict[str, tuple[int, int]]:
    """(available, held) of every account, cached, from one snapshot."""
    with read_transaction(engine) as connection:
        return {
            row[0]: (int(row[1]), int(row[2]))
            for row in connection.execute(
                select(accounts.c.id, accounts.c.available_credits, accounts.c.held_credits)
            )
        }


def ledger_balances(engine: Engine) -> dict[str, int]:
    with read_transaction(engine) as connection:
        return {
            row[0]: int(row[1])
            for row in connection.execute(
                select(entries.c.account_id, func.sum(entries.c.balance_delta)).group_by(
                    entries.c.account_id
                )
            )
        }


def check_verify_and_integrity(database_url: str, figures: Figures) -> None:
    """``verify()`` finds no difference; on SQLite, ``PRAGMA integrity_check`` says ok."""
    with gencredits.open(database_url, pool_size=2) as credits:
        report = credits.verify()
        for difference in report.differences:
            figures.anomaly(f"verify: {difference}")
        figures.check(report.accounts_checked > 0, "verify checked no account")
    if is_sqlite_url(database_url):
        result = sqlite_integrity(database_url)
        figures.check(result == "ok", f"PRAGMA integrity_check: {result}")


def duplicate_cycle_grants(engine: Engine) -> list[tuple[str, int, int]]:
    """(account, cycle, grants) for every billing cycle granted more than once."""
    query = text(
        "SELECT account_id, cycle_number, count(*) FROM grants WHERE cycle_number IS NOT NULL "
        "GROUP BY account_id, cycle_number HAVING count(*) > 1"
    )
    with read_transaction(engine) as connection:
        return [(row[0], int(row[1]), int(row[2])) for row in connection.execute(query)]
