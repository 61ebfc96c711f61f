"""Entries: the append-only ledger, written in order and paged newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    select,
)

from gencredits.domain.ledger import (
    Entry,
    EntryKind,
    HoldStatus,
)
from gencredits.store.prepared import PreparedInsert
from gencredits.store.tables import (
    entries,
    holds,
)

_ENTRY_KINDS = {kind.value: kind for kind in EntryKind}


def _entry(row: Mapping[Any, Any]) -> Entry:
    return Entry(
        id=row["id"],
        account_id=row["account_id"],
        kind=_ENTRY_KINDS[row["kind"]],
        amount_credits=row["amount_credits"],
        balance_delta=row["balance_delta"],
        held_delta=row["held_delta"],
        balance_after=row["balance_after"],
        available_after=row["available_after"],
        grants=tuple(map(tuple, row["grants"])),
        hold_id=row["hold_id"],
        related_entry_id=row["related_entry_id"],
        model_id=row["model_id"],
        price_version=row["price_version"],
        project=row["project"],
        job_ref=row["job_ref"],
        idempotency_key=row["idempotency_key"],
        actor=row["actor"],
        reason=row["reason"],
        details=row["details"],
        effective_at=row["effective_at"],
        created_at=row["created_at"],
    )


_ENTRY_COLUMNS = tuple(entries.c.keys())
_NO_ENTRY_VALUES = dict.fromkeys(_ENTRY_COLUMNS)
_INSERT_ENTRY = PreparedInsert(
    insert(entries).values({name: bindparam(name) for name in _ENTRY_COLUMNS if name != "id"})
)


def _entry_row(values: dict[str, Any]) -> dict[str, Any]:
    """Every column of an entry: the values given (grants as JSON lists), None for the rest."""
    values["grants"] = [list(allocation) for allocation in values.get("grants", ())]
    assert values.keys() <= _NO_ENTRY_VALUES.keys(), (
        f"entries have no column {sorted(values.keys() - _NO_ENTRY_VALUES.keys())}"
    )
    return _NO_ENTRY_VALUES | values


def _written_entry(row: dict[str, Any], entry_id: int) -> Entry:
    """The entry ``row`` became under ``entry_id`` (times as aware UTC, as the column reads)."""
    row["id"] = int(entry_id)
    row["effective_at"] = row["effective_at"].astimezone(UTC)
    row["created_at"] = row["created_at"].astimezone(UTC)
    return _entry(row)


def insert_entries(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[Entry]:
    """Append entries in order and return them as stored: one statement sent for all of them
    through the driver (store/prepared.py's ``PreparedInsert``), which gives back their ids
    in order. Only the ids come back from the database; every other field is the value just
    written (JSON values are plain lists, dicts, strings and numbers; times come back as aware
    UTC, as the column type returns them). Returning the whole row decoded again the JSON and
    times just encoded: a third of the cost of the charge's INSERT. The rows are laid out by
    service/book.py's ``entry_row``, the one writer of entries."""
    written = [_entry_row(values) for values in rows]
    ids = _INSERT_ENTRY.insert_many(connection, written)
    assert len(ids) == len(written)
    return [_written_entry(row, entry_id) for row, entry_id in zip(written, ids, strict=True)]


def read_entry(connection: Connection, entry_id: int) -> Entry | None:
    row = connection.execute(select(entries).where(entries.c.id == entry_id)).mappings().first()
    return None if row is None else _entry(row)


def entry_by_job(connection: Connection, account_id: str, job_ref: str) -> Entry | None:
    row = (
        connection.execute(
            select(entries)
            .where(
                entries.c.account_id == account_id,
                entries.c.job_ref == job_ref,
                entries.c.kind.in_([EntryKind.CHARGE.value, EntryKind.CAPTURE.value]),
            )
            .order_by(entries.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else _entry(row)


def refunded_credits(connection: Connection, entry_id: int) -> int:
    return int(
        connection.execute(
            select(func.coalesce(func.sum(entries.c.amount_credits), 0)).where(
                entries.c.related_entry_id == entry_id,
                entries.c.kind == EntryKind.REFUND.value,
            )
        ).scalar_one()
    )


@dataclass(frozen=True, slots=True)
class EntryFilter:
    account_id: str
    kinds: tuple[str, ...] = ()
    model_id: str | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def page_entries(
    connection: Connection, where: EntryFilter, *, before_id: int | None, limit: int
) -> list[Entry]:
    """Newest first; ``before_id`` is the cursor (entry ids only grow)."""
    conditions = [entries.c.account_id == where.account_id]
    if where.kinds:
        conditions.append(entries.c.kind.in_(where.kinds))
    if where.model_id:
        conditions.append(entries.c.model_id == where.model_id)
    if where.project:
        conditions.append(entries.c.project == where.project)
    if where.since:
        conditions.append(entries.c.effective_at >= where.since)
    if where.until:
        conditions.append(entries.c.effective_at < where.until)
    if before_id is not None:
        conditions.append(entries.c.id < before_id)
    rows = connection.execute(
        select(entries).where(and_(*conditions)).order_by(entries.c.id.desc()).limit(limit)
    ).mappings()
    return [_entry(row) for row in rows]


def project_usage(connection: Connection, account_id: str, project: str, since: datetime) -> int:
    """Credits a project spent since ``since``: charges and captures less refunds."""
    spent = connection.execute(
        select(func.coalesce(func.sum(-entries.c.balance_delta), 0)).where(
            entries.c.account_id == account_id,
            entries.c.project == project,
            entries.c.effective_at >= since,
            entries.c.kind.in_(
                [EntryKind.CHARGE.value, EntryKind.CAPTURE.value, EntryKind.REFUND.value]
            ),
        )
    ).scalar_one()
    held = connection.execute(
        select(func.coalesce(func.sum(holds.c.amount_credits), 0)).where(
            holds.c.account_id == account_id,
            holds.c.project == project,
            holds.c.status == HoldStatus.PENDING.value,
        )
    ).scalar_one()
    return int(spent) + int(held)
