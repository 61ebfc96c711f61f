"""Reading an account's history back as figures per period, aggregated in SQL.

One read transaction per call, and ``GROUP BY`` over a ``CASE`` that buckets each row into its
period, so the work grows with the number of periods, models and projects, never with the
number of entries. The plan advisor and the forecast (``service.advice``) read their figures
here too. The definitions, once:

* **Usage** is what generations cost: charges and captures, less refunds, i.e. the
  ``-balance_delta`` of ``charge``, ``capture`` and ``refund`` entries. A hold is not usage
  (its credits come back unless captured); its capture is. A refund counts in the period it
  was made, so a period's net usage may be negative for a model refunded later.
* A **cycle** is what its allowance grant records: ``[starts_at, expires_at)`` of the grant
  with that ``cycle_number`` (an upgrade ends a cycle early by expiring its grant at once).
  Its plan is not stored with the grant; it is the plan whose allowance and grant source match
  the grant, preferring the account's current plan, then its pending one, then display order.
  A **month** is a calendar month in UTC.
* **Expired** credits of a period are those of ``expire`` entries dated in ``(starts_at,
  ends_at]``: the allowance that lapses at a cycle's end is dated exactly at that end (the
  next cycle's start), so it belongs to the cycle that wasted it.
* A cycle **ran out** at the first spending entry (charge, hold, negative adjustment, transfer
  out) that left nothing available, or at its first charge refused for lack of credits, if
  earlier (a few credits may be left that no generation fits in). **Refused charges** come
  from ``refused_charges`` (not ledger entries): reports count every refusal, and
  ``refused_for_credits`` those refused for lack of credits rather than by a project cap.
* **Kind and tier** of usage come from the catalog *at the entry's price version*, the price
  the generation was charged at, so re-tiering a model later does not rewrite old reports; a
  model missing there falls back to the current catalog, and a charge of several models
  (model id ``mixed``) is reported as kind and tier ``mixed``.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, literal, or_, select

from gencredits.domain.catalog import Catalog
from gencredits.domain.errors import InsufficientCredits, InvalidRequest, NotFound, OutOfRange
from gencredits.domain.ledger import EntryKind
from gencredits.domain.plans import Plans, add_months
from gencredits.service.accounts import AccountView, get_account
from gencredits.service.context import Context
from gencredits.store.engine import read_transaction
from gencredits.store.sums import joined, split_sum
from gencredits.store.tables import entries, grants, refused_charges

MAX_REPORT_PERIODS = 24
TOP_MODELS = 5
NO_PROJECT = "(no project)"
MIXED = "mixed"
UNKNOWN = "unknown"
PERIODS: tuple[str, ...] = ("cycle", "month")

USAGE_KINDS = (EntryKind.CHARGE.value, EntryKind.CAPTURE.value, EntryKind.REFUND.value)
SPENDING_KINDS = (EntryKind.CHARGE.value, EntryKind.CAPTURE.value)
RUN_OUT_KINDS = (
    EntryKind.CHARGE.value,
    EntryKind.HOLD.value,
    EntryKind.ADJUST.value,
    EntryKind.TRANSFER_OUT.value,
)
INCOMING_KINDS = (EntryKind.GRANT.value, EntryKind.TRANSFER_IN.value)


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """One period of a report or of the plan advisor: ``[starts_at, ends_at)``."""

    number: int  # the cycle number, or months since year 0 for a calendar month
    label: str
    starts_at: datetime
    ends_at: datetime
    plan_id: str | None = None
    allowance_credits: int | None = None

    def complete(self, now: datetime) -> bool:
        return self.ends_at <= now


def cycle_windows(
    connection: Connection, account: AccountView, plans: Plans, *, limit: int
) -> list[Window]:
    """The account's last ``limit`` cycles with an allowance, oldest first."""
    rows = connection.execute(
        select(
            grants.c.cycle_number,
            grants.c.source,
            grants.c.amount_credits,
            grants.c.starts_at,
            grants.c.expires_at,
        )
        .where(grants.c.account_id == account.id, grants.c.cycle_number.is_not(None))
        .order_by(grants.c.cycle_number.desc())
        .limit(limit)
    ).all()
    windows = []
    for number, source, amount, starts_at, expires_at in reversed(rows):
        if expires_at is None or expires_at <= starts_at:
            continue  # an allowance always expires with its cycle; nothing to report otherwise
        windows.append(
            Window(
                number=int(number),
                label=f"cycle {number}",
                starts_at=starts_at,
                ends_at=expires_at,
                plan_id=plan_of_grant(plans, account, str(source), int(amount)),
                allowance_credits=int(amount),
            )
        )
    return windows


def plan_of_grant(plans: Plans, account: AccountView, source: str, amount_credits: int) -> str:
    """The plan whose allowance made a grant (see the module docstring)."""
    matching = [
        plan.id
        for plan in plans
        if plan.allowance_credits == amount_credits and plan.grant_source == source
    ]
    for preferred in (account.plan_id, account.pending_plan_id):
        if preferred in matching:
            return preferred
    return matching[0] if matching else account.plan_id


def month_windows(now: datetime, count: int) -> list[Window]:
    """The last ``count`` calendar months (UTC), the current one last."""
    current = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    windows = []
    for back in range(count - 1, -1, -1):
        starts_at = add_months(current, -back)
        windows.append(
            Window(
                number=starts_at.year * 12 + starts_at.month - 1,
                label=f"{starts_at:%Y-%m}",
                starts_at=starts_at,
                ends_at=add_months(starts_at, 1),
            )
        )
    return windows


def _bucket(column: Any, windows: Sequence[Window], *, end_inclusive: bool = False) -> Any:
    """A SQL ``CASE`` giving the index of the window ``column`` falls in (NULL for none)."""
    whens = []
    for index, window in enumerate(windows):
        if end_inclusive:
            inside = and_(column > window.starts_at, column <= window.ends_at)
        else:
            inside = and_(column >= window.starts_at, column < window.ends_at)
        whens.append((inside, literal(index)))
    return case(*whens, else_=literal(-1))


def _span(column: Any, windows: Sequence[Window], *, end_inclusive: bool = False) -> Any:
    """A range condition covering every window (lets the database use its time index)."""
    first, last = min(w.starts_at for w in windows), max(w.ends_at for w in windows)
    if end_inclusive:
        return and_(column > first, column <= last)
    return and_(column >= first, column < last)


# --- per-period figures ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    """A period's figures before any breakdown."""

    charged_credits: int = 0
    refunded_credits: int = 0
    charges: int = 0
    granted_credits: int = 0
    expired_credits: int = 0
    refused_charges: int = 0
    refused_credits: int = 0
    refused_for_credits: int = 0  # refused for lack of credits (not a project cap)
    ran_out_at: datetime | None = None

    @property
    def used_credits(self) -> int:
        return self.charged_credits - self.refunded_credits


def _sum_if(condition: ColumnElement[bool], value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=literal(0))), 0)


def _credits_if(condition: ColumnElement[bool], value: Any) -> tuple[Any, Any]:
    """A sum of credits that cannot overflow (store/sums.py): two columns, see ``joined``."""
    return split_sum(case((condition, value), else_=literal(0)))


def period_totals(
    connection: Connection, account_id: str, windows: Sequence[Window]
) -> list[Totals]:
    """Usage, grants, expiries, refusals and the run-out moment of each window, in SQL."""
    if not windows:
        return []
    figures: list[dict[str, Any]] = [{} for _ in windows]
    for rows in (
        _usage_figures(connection, account_id, windows),
        _expired_figures(connection, account_id, windows),
        _refused_figures(connection, account_id, windows),
    ):
        for index, values in rows:
            if index >= 0:
                figures[index].update(values)
    totals = []
    for values in figures:
        # Credits run out at the first entry that left none available, or at the first charge
        # refused for lack of them (a few credits may be left that no generation fits in).
        moments = [m for m in (values.pop("empty_at", None), values.pop("short_at", None)) if m]
        totals.append(Totals(**values, ran_out_at=min(moments) if moments else None))
    return totals


Figures = list[tuple[int, dict[str, Any]]]


def _usage_figures(connection: Connection, account_id: str, windows: Sequence[Window]) -> Figures:
    kind = entries.c.kind
    bucket = _bucket(entries.c.effective_at, windows)
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
        .where(entries.c.account_id == account_id, _span(entries.c.effective_at, windows))
        .group_by(bucket)
    ).all()
    return [
        (row[0], {"charged_credits": joined(row[1], row[2]),
                  "refunded_credits": joined(row[3], row[4]), "charges": int(row[5]),
                  "granted_credits": joined(row[6], row[7]), "empty_at": _aware(row[8])})
        for row in rows
    ]


def _expired_figures(
    connection: Connection, account_id: str, windows: Sequence[Window]
) -> Figures:
    bucket = _bucket(entries.c.effective_at, windows, end_inclusive=True)
    rows = connection.execute(
        select(bucket, *split_sum(entries.c.amount_credits))
        .where(
            entries.c.account_id == account_id,
            entries.c.kind == EntryKind.EXPIRE.value,
            _span(entries.c.effective_at, windows, end_inclusive=True),
        )
        .group_by(bucket)
    ).all()
    return [(index, {"expired_credits": joined(high, low)}) for index, high, low in rows]


def _refused_figures(
    connection: Connection, account_id: str, windows: Sequence[Window]
) -> Figures:
    bucket = _bucket(refused_charges.c.created_at, windows)
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
            _span(refused_charges.c.created_at, windows),
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


# --- usage reports ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Net credits used under one key (a model, kind, tier or project) and the charges."""

    key: str
    credits: int
    charges: int

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "credits": self.credits, "charges": self.charges}


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    """One cycle or calendar month of an account's usage."""

    label: str
    starts_at: datetime
    ends_at: datetime
    complete: bool
    plan_id: str | None
    allowance_credits: int | None
    totals: Totals
    by_model: tuple[UsageLine, ...]
    by_kind: tuple[UsageLine, ...]
    by_tier: tuple[UsageLine, ...]
    by_project: tuple[UsageLine, ...]

    @property
    def used_credits(self) -> int:
        return self.totals.used_credits

    @property
    def top_models(self) -> tuple[UsageLine, ...]:
        return tuple(line for line in self.by_model if line.credits > 0)[:TOP_MODELS]

    def as_dict(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "label": self.label,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "complete": self.complete,
            "plan": self.plan_id,
            "allowance": self.allowance_credits,
            "used": totals.used_credits,
            "charged": totals.charged_credits,
            "refunded": totals.refunded_credits,
            "charges": totals.charges,
            "granted": totals.granted_credits,
            "expired": totals.expired_credits,
            "refused_charges": totals.refused_charges,
            "refused_credits": totals.refused_credits,
            "ran_out_at": None if totals.ran_out_at is None else totals.ran_out_at.isoformat(),
            "by_model": [line.as_dict() for line in self.by_model],
            "by_kind": [line.as_dict() for line in self.by_kind],
            "by_tier": [line.as_dict() for line in self.by_tier],
            "by_project": [line.as_dict() for line in self.by_project],
            "top_models": [line.as_dict() for line in self.top_models],
        }


@dataclass(frozen=True, slots=True)
class UsageReport:
    """An account's usage per cycle or per calendar month, oldest period first."""

    account_id: str
    period: str
    generated_at: datetime
    periods: tuple[PeriodUsage, ...]

    @property
    def used_credits(self) -> int:
        return sum(period.used_credits for period in self.periods)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "period": self.period,
            "generated_at": self.generated_at.isoformat(),
            "used": self.used_credits,
            "periods": [period.as_dict() for period in self.periods],
        }


def usage_report(
    ctx: Context, account_id: str, *, period: str = "cycle", periods: int = 3
) -> UsageReport:
    """Usage of the last ``periods`` cycles (``period="cycle"``) or calendar months
    (``"month"``), the current one included: totals by model, kind, tier and project, top
    models, expired credits and refused charges."""
    if period not in PERIODS:
        raise InvalidRequest(f"period must be one of {', '.join(PERIODS)}, got {period!r}",
                             field="period")
    check_count(periods, field="periods")
    account = get_account(ctx, account_id)
    now = ctx.now()
    with read_transaction(ctx.engine) as connection:
        if period == "cycle":
            windows = cycle_windows(connection, account, ctx.all_plans(connection), limit=periods)
        else:
            windows = month_windows(now, periods)
        totals = period_totals(connection, account_id, windows)
        rows = _usage_rows(connection, account_id, windows)
    breakdowns = _breakdowns(ctx, rows, len(windows))
    return UsageReport(
        account_id=account_id,
        period=period,
        generated_at=now,
        periods=tuple(
            PeriodUsage(
                label=window.label,
                starts_at=window.starts_at,
                ends_at=window.ends_at,
                complete=window.complete(now),
                plan_id=window.plan_id,
                allowance_credits=window.allowance_credits,
                totals=figures,
                **breakdowns[index],
            )
            for index, (window, figures) in enumerate(zip(windows, totals, strict=True))
        ),
    )


def _usage_rows(
    connection: Connection, account_id: str, windows: Sequence[Window]
) -> list[tuple[int, str, int | None, str, int, int]]:
    """(window, model, price version, project, net credits, charges), grouped in SQL."""
    if not windows:
        return []
    bucket = _bucket(entries.c.effective_at, windows)
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
            _span(entries.c.effective_at, windows),
        )
        .group_by(bucket, model, entries.c.price_version, project)
    ).all()
    return [
        (int(index), str(model_id), None if version is None else int(version), str(label),
         joined(high, low), int(charges))
        for index, model_id, version, label, high, low, charges in rows
        if index >= 0
    ]


def _breakdowns(
    ctx: Context, rows: Iterable[tuple[int, str, int | None, str, int, int]], count: int
) -> list[dict[str, tuple[UsageLine, ...]]]:
    """Fold the grouped rows into per-window totals by model, kind, tier and project."""
    groups: list[dict[str, dict[str, list[int]]]] = [
        {"by_model": {}, "by_kind": {}, "by_tier": {}, "by_project": {}} for _ in range(count)
    ]
    for index, model_id, version, project, credits, charges in rows:
        kind, tier = _kind_and_tier(ctx, model_id, version)
        for name, key in (("by_model", model_id), ("by_kind", kind), ("by_tier", tier),
                          ("by_project", project)):
            line = groups[index][name].setdefault(key, [0, 0])
            line[0] += credits
            line[1] += charges
    return [
        {
            name: tuple(
                UsageLine(key, credits, charges)
                for key, (credits, charges) in sorted(
                    found.items(), key=lambda item: (-item[1][0], item[0])
                )
            )
            for name, found in group.items()
        }
        for group in groups
    ]


def _kind_and_tier(ctx: Context, model_id: str, version: int | None) -> tuple[str, str]:
    if model_id == MIXED:
        return MIXED, MIXED
    catalogs: list[Catalog] = []
    if version is not None:
        with contextlib.suppress(NotFound):  # price versions are never deleted, but still
            catalogs.append(ctx.catalogs.at(version))
    catalogs.append(ctx.catalogs.current())
    for catalog in catalogs:
        if model_id in catalog:
            entry = catalog.get(model_id)
            return entry.kind.value, entry.tier.value
    return UNKNOWN, UNKNOWN


CSV_COLUMNS = (
    "account", "period", "label", "starts_at", "ends_at", "group", "key", "credits", "charges",
)


def report_csv(report: UsageReport) -> str:
    """The report as CSV, one row per figure (long format, so any spreadsheet can pivot it).

    ``group`` is ``total`` (keys ``used``, ``charged``, ``refunded``, ``expired`` and
    ``refused``, whose ``charges`` column counts the refusals), ``model``, ``kind``, ``tier`` or
    ``project``; ``credits`` are net credits used (negative when refunds outweigh charges).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for period in report.periods:
        head = (report.account_id, report.period, period.label, period.starts_at.isoformat(),
                period.ends_at.isoformat())
        totals = period.totals
        for key, credits, charges in (
            ("used", totals.used_credits, totals.charges),
            ("charged", totals.charged_credits, totals.charges),
            ("refunded", totals.refunded_credits, 0),
            ("expired", totals.expired_credits, 0),
            ("refused", totals.refused_credits, totals.refused_charges),
        ):
            writer.writerow((*head, "total", key, credits, charges))
        for group, lines in (("model", period.by_model), ("kind", period.by_kind),
                             ("tier", period.by_tier), ("project", period.by_project)):
            for line in lines:
                writer.writerow((*head, group, line.key, line.credits, line.charges))
    return buffer.getvalue()


def check_count(value: object, *, field: str) -> None:
    """A number of periods from 1 to :data:`MAX_REPORT_PERIODS`, or an error naming ``field``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a whole number", field=field)
    if not 1 <= value <= MAX_REPORT_PERIODS:
        raise OutOfRange(value, 1, MAX_REPORT_PERIODS, field=field)
