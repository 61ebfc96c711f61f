"""Usage per day of the current cycle, for the history chart.

*Usage* means what ``service.reports`` says it means (the per-cycle chart reads that report):
charges and captures, less refunds, by the entry's model (``mixed`` for a request of several)
and project. The service has no per-day report, so the days are summed here from the cycle's
history, read in pages of the largest size and at most :data:`MAX_PAGES` of them: a chart never
reads more than 10,000 entries, and says so when there were more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gencredits.domain import limits
from gencredits.domain.ledger import Entry
from gencredits.service.facade import Gencredits
from gencredits.service.reports import NO_PROJECT, UNKNOWN, USAGE_KINDS

MAX_PAGES = 20
# A bar per day reads well up to about two months; a yearly cycle shows its last 62 days.
MAX_DAYS = 62


@dataclass(frozen=True, slots=True)
class Spend:
    at: datetime
    credits: int  # negative for a refund
    model: str
    project: str


@dataclass(frozen=True, slots=True)
class Spending:
    items: tuple[Spend, ...]
    complete: bool  # False when more entries existed than were read

    def between(self, since: datetime, until: datetime) -> tuple[Spend, ...]:
        return tuple(item for item in self.items if since <= item.at < until)


def read_spending(credits: Gencredits, account_id: str, since: datetime) -> Spending:
    items: list[Spend] = []
    cursor: int | None = None
    for _ in range(MAX_PAGES):
        page = credits.history(account_id, kinds=USAGE_KINDS, since=since, cursor=cursor,
                               limit=limits.MAX_PAGE_SIZE)
        for entry in page.entries:
            items.extend(spends_of(entry))
        cursor = page.next_cursor
        if cursor is None:
            return Spending(tuple(sorted(items, key=lambda s: s.at)), True)
    return Spending(tuple(sorted(items, key=lambda s: s.at)), False)


def spends_of(entry: Entry) -> list[Spend]:
    return [Spend(entry.effective_at, -entry.balance_delta, entry.model_id or UNKNOWN,
                  entry.project or NO_PROJECT)]


def group_of(item: Spend, by: str) -> str:
    return item.project if by == "project" else item.model


def _bucket(items: Iterable[Spend], by: str) -> dict[str, int]:
    parts: dict[str, int] = {}
    for item in items:
        key = group_of(item, by)
        parts[key] = parts.get(key, 0) + item.credits
    return {key: credits for key, credits in parts.items() if credits > 0}


def short_day(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}"


def daily(
    spending: Spending, starts_at: datetime, ends_at: datetime, now: datetime, by: str
) -> list[tuple[str, dict[str, int]]]:
    """Usage per calendar day (UTC) of the cycle up to today, at most the last MAX_DAYS."""
    last = min(now, ends_at - timedelta(microseconds=1)).date()
    first = max(starts_at.date(), last - timedelta(days=MAX_DAYS - 1))
    by_day: dict[object, list[Spend]] = {}
    for item in spending.between(starts_at, ends_at):
        by_day.setdefault(item.at.date(), []).append(item)
    buckets = []
    current = first
    while current <= last:
        label = f"{current:%b} {current.day}"
        buckets.append((label, _bucket(by_day.get(current, ()), by)))
        current += timedelta(days=1)
    return buckets
