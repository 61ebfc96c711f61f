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

The periods and their totals are built in ``service/report_periods.py``, the statements live
in ``store/queries/reports.py``; this module assembles the report and its CSV.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gencredits.domain.catalog import Catalog
from gencredits.domain.errors import InvalidRequest, NotFound, OutOfRange
from gencredits.service.accounts import get_account
from gencredits.service.context import Context
from gencredits.service.csv_text import csv_text
from gencredits.service.report_periods import (
    Totals,
    Window,
    cycle_windows,
    month_windows,
    period_totals,
    spans,
)
from gencredits.store.engine import read_transaction
from gencredits.store.queries import reports as report_queries
from gencredits.store.queries.reports import NO_PROJECT, UNKNOWN, USAGE_KINDS

# Re-exported: the edges and the advice read the report's names here.
__all__ = [
    "CSV_COLUMNS",
    "MAX_REPORT_PERIODS",
    "MIXED",
    "NO_PROJECT",
    "PERIODS",
    "TOP_MODELS",
    "UNKNOWN",
    "USAGE_KINDS",
    "PeriodUsage",
    "Totals",
    "UsageLine",
    "UsageReport",
    "Window",
    "check_count",
    "cycle_windows",
    "month_windows",
    "period_totals",
    "report_csv",
    "usage_report",
]

MAX_REPORT_PERIODS = 24
TOP_MODELS = 5
MIXED = "mixed"
PERIODS: tuple[str, ...] = ("cycle", "month")


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
        rows = report_queries.usage_rows(connection, account_id, spans(windows))
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


def _breakdowns(
    ctx: Context, rows: Iterable[report_queries.UsageRow], count: int
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
    rows: list[tuple[object, ...]] = []
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
            rows.append((*head, "total", key, credits, charges))
        for group, lines in (("model", period.by_model), ("kind", period.by_kind),
                             ("tier", period.by_tier), ("project", period.by_project)):
            for line in lines:
                rows.append((*head, group, line.key, line.credits, line.charges))
    return csv_text(CSV_COLUMNS, rows)


def check_count(value: object, *, field: str) -> None:
    """A number of periods from 1 to :data:`MAX_REPORT_PERIODS`, or an error naming ``field``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a whole number", field=field)
    if not 1 <= value <= MAX_REPORT_PERIODS:
        raise OutOfRange(value, 1, MAX_REPORT_PERIODS, field=field)
