"""The periods of a report and their totals: cycles as their allowance grants record them,
calendar months in UTC, and each period's usage, grants, expiries, refusals and run-out
moment (what these mean is written down in ``gencredits.service.reports``).

The plan advisor and the forecast (``service.advice``) read their figures here too. The
statements are in ``store/queries/reports.py``; this module only turns their rows into
periods and totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain.plans import Plans, add_months
from gencredits.domain.results import AccountView
from gencredits.store.queries import reports as report_queries


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


def spans(windows: Sequence[Window]) -> list[report_queries.Span]:
    return [(window.starts_at, window.ends_at) for window in windows]


def cycle_windows(
    connection: Connection, account: AccountView, plans: Plans, *, limit: int
) -> list[Window]:
    """The account's last ``limit`` cycles with an allowance, oldest first."""
    rows = report_queries.cycle_allowances(connection, account.id, limit=limit)
    windows = []
    for number, source, amount, starts_at, expires_at in reversed(rows):
        if expires_at is None or expires_at <= starts_at:
            continue  # an allowance always expires with its cycle; nothing to report otherwise
        windows.append(
            Window(
                number=number,
                label=f"cycle {number}",
                starts_at=starts_at,
                ends_at=expires_at,
                plan_id=plan_of_grant(plans, account, source, amount),
                allowance_credits=amount,
            )
        )
    return windows


def plan_of_grant(plans: Plans, account: AccountView, source: str, amount_credits: int) -> str:
    """The plan whose allowance made a grant (see ``service.reports``)."""
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


def period_totals(
    connection: Connection, account_id: str, windows: Sequence[Window]
) -> list[Totals]:
    """Usage, grants, expiries, refusals and the run-out moment of each window, in SQL."""
    if not windows:
        return []
    figures: list[dict[str, Any]] = [{} for _ in windows]
    periods = spans(windows)
    for rows in (
        report_queries.usage_figures(connection, account_id, periods),
        report_queries.expired_figures(connection, account_id, periods),
        report_queries.refused_figures(connection, account_id, periods),
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
