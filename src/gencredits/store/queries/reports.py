"""The reports' statements: an account's entries and refusals summed per period in SQL.

Each statement groups by a ``CASE`` that buckets a row into its period (given as
``(starts_at, ends_at)`` spans), so the work grows with the number of periods, models and
projects, never with the number of entries. What the figures mean is written down in
``gencredits.service.reports``; the kinds that make them are named here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, literal, or_, select

from gencredits.domain.errors import InsufficientCredits
from gencredits.domain.ledger import EntryKind
from gencredits.store.queries.sums import joined, split_sum
from gencredits.store.tables import entries, grants, refused_charges

NO_PROJECT = "(no project)"
UNKNOWN = "unknown"

USAGE_KINDS = (EntryKind.CHARGE.value, EntryKind.CAPTURE.value, EntryKind.REFUND.value)
SPENDING_KINDS = (EntryKind.CHARGE.value, EntryKind.CAPTURE.value)
RUN_OUT_KINDS = (
    EntryKind.CHARGE.value,
    EntryKind.HOLD.value,
    EntryKind.ADJUST.value,
    EntryKind.TRANSFER_OUT.value,
)
INCOMING_KINDS = (EntryKind.GRANT.value, EntryKind.TRANSFER_IN.value)

# A period: [starts_at, ends_at).
Span = tuple[datetime, datetime]
# (the index of the span a group of rows fell in, or -1 for none; the group's figures)
Figures = list[tuple[int, dict[str, Any]]]
# (span index, model, price version, project, net credits, charges)
UsageRow = tuple[int, str, int | None, str, int, int]


def cycle_allowances(
    connection: Connection, account_id: str, *, limit: int
) -> list[tuple[int, str, int, datetime, datetime | None]]:
    """(cycle number, source, credits, starts_at, expires_at) of the account's last ``limit``
    allowance grants, newest first."""
    rows = connection.execute(
        select(
            grants.c.cycle_number,
            grants.c.source,
            grants.c.amount_credits,
            grants.c.starts_at,
            grants.c.expires_at,
        )
        .where(grants.c.account_id == account_id, grants.c.cycle_number.is_not(None))
        .order_by(grants.c.cycle_number.desc())
        .limit(limit)
    ).all()
    return [
        (int(number), str(source), int(amount), starts_at, expires_at)
        for number, source, amount, starts_at, expires_at in rows
    ]


def _bucket(column: Any, spans: Sequence[Span], *, end_inclusive: bool = False) -> Any:
    """A SQL ``CASE`` giving the index of the span ``column`` falls in (-1 for none)."""
    whens = []
    for index, (starts_at, ends_at) in enumerate(spans):
        if end_inclusive:
            inside = and_(column > starts_at, column <= ends_at)
        else:
            inside = and_(column >= starts_at, column < ends_at)
        whens.append((inside, literal(index)))
    return case(*whens, else_=literal(-1))


def _span(column: Any, spans: Sequence[Span], *, end_inclusive: bool = False) -> Any:
    """A range condition covering every span (lets the database use its time index)."""
    first, last = min(span[0] for span in spans), max(span[1] for span in spans)
    if end_inclusive:
        return and_(column > first, column <= last)
    return and_(column >= first, column < last)


def _sum_if(condition: ColumnElement[bool], value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=literal(0))), 0)


def _credits_if(condition: ColumnElement[bool], value: Any) -> tuple[Any, Any]:
    """A sum of credits that cannot overflow (queries/sums.py): two columns, see ``joined``."""
    return split_sum(case((condition, value), else_=literal(0)))


def usage_figures(connection: Connection, account_id: str, spans: Sequence[Span]) -> Figures:
    """Charged, refunded and granted credits, charges and the first moment an entry left
    nothing available (``empty_at``), per span."""
    kind = entries.c.kind
    bucket = _bucket(entries.c.effective_at, spans)
    emptied = and_(kind.in_(RUN_OUT_KINDS), entries.c.available_after == 0,
                   entries.c.balance_delta <= 0)
    incoming = or_(kind.in_(INCOMING_KINDS),
                   and_(kind == EntryKind.ADJUST.value, entries.c.balance_delta > 0))
    rows = connection.execute(
        select(
            bucket,
            *_credits_if(kind.in_(SPENDING_KINDS), -entries.c.balance_delta),
            *_credits_if(kind == EntryKind.REFUND.value, entries.c.balance_delta),
            _sum_if(kind.in_(SPENDING_KINDS), literal(1)),
            *_credits_if(incoming, entries.c.balance_delta),
            func.min(case((emptied, entries.c.effective_at), else_=None)),
        )
        .where(entries.c.account_id == account_id, _span(entries.c.effective_at, spans))
        .group_by(bucket)
    ).all()
    return [
        (row[0], {"charged_credits": joined(row[1], row[2]),
                  "refunded_credits": joined(row[3], row[4]), "charges": int(row[5]),
                  "granted_credits": joined(row[6], row[7]), "empty_at": _aware(row[8])})
        for row in rows
    ]


def expired_figures(connection: Connection, account_id: str, spans: Sequence[Span]) -> Figures:
    """Credits of ``expire`` entries dated in ``(starts_at, ends_at]``, per span."""
    bucket = _bucket(entries.c.effective_at, spans, end_inclusive=True)
    rows = connection.execute(
        select(bucket, *split_sum(entries.c.amount_credits))
        .where(
            entries.c.account_id == account_id,
            entries.c.kind == EntryKind.EXPIRE.value,
            _span(entries.c.effective_at, spans, end_inclusive=True),
        )
        .group_by(bucket)
    ).all()
    return [(index, {"expired_credits": joined(high, low)}) for index, high, low in rows]


def refused_figures(connection: Connection, account_id: str, spans: Sequence[Span]) -> Figures:
    """Refused charges, their credits, those refused for lack of credits and the first of
    these (``short_at``), per span."""
    bucket = _bucket(refused_charges.c.created_at, spans)
    short = refused_charges.c.reason == InsufficientCredits.code
    rows = connection.execute(
        select(
            bucket,
            func.count(),
            *split_sum(refused_charges.c.required_credits),
            _sum_if(short, literal(1)),
            func.min(case((short, refused_charges.c.created_at), else_=None)),
        )
        .where(
            refused_charges.c.account_id == account_id,
            _span(refused_charges.c.created_at, spans),
        )
        .group_by(bucket)
    ).all()
    return [
        (index, {"refused_charges": int(count), "refused_credits": joined(high, low),
                 "refused_for_credits": int(short_count), "short_at": _aware(short_at)})
        for index, count, high, low, short_count, short_at in rows
    ]


def _aware(moment: Any) -> datetime | None:
    """A MIN() over a CASE comes back as the column's type on PostgreSQL, text on SQLite."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def usage_rows(connection: Connection, account_id: str, spans: Sequence[Span]) -> list[UsageRow]:
    """(span, model, price version, project, net credits, charges), grouped in SQL; rows
    outside every span are left out."""
    if not spans:
        return []
    bucket = _bucket(entries.c.effective_at, spans)
    model = func.coalesce(entries.c.model_id, UNKNOWN)
    project = func.coalesce(entries.c.project, NO_PROJECT)
    rows = connection.execute(
        select(
            bucket,
            model,
            entries.c.price_version,
            project,
            *split_sum(-entries.c.balance_delta),
            _sum_if(entries.c.kind.in_(SPENDING_KINDS), literal(1)),
        )
        .where(
            entries.c.account_id == account_id,
            entries.c.kind.in_(USAGE_KINDS),
            _span(entries.c.effective_at, spans),
        )
        .group_by(bucket, model, entries.c.price_version, project)
    ).all()
    return [
        (int(index), str(model_id), None if version is None else int(version), str(label),
         joined(high, low), int(charges))
        for index, model_id, version, label, high, low, charges in rows
        if index >= 0
    ]
