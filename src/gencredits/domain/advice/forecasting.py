"""The forecast: at the current cycle's burn rate, when credits run out, or what will expire.

The burn rate is the credits used so far in the cycle over the time elapsed. Kept up until the
cycle ends, it either uses more than is available (the credits run out at
``now + available / rate``) or leaves some unused, which expire at renewal (no rollover).

The decision compares exact integers (credits times microseconds), so no precision is lost
near the boundary; the projected remaining use is rounded half-up once, by
``credits.round_half_up``; a run-out moment is truncated to the microsecond.

Edge cases, by design: before any time has passed in the cycle there is no rate yet and no
use is projected; once the cycle has ended nothing more can be used, and everything available
expires at the (due) renewal; zero usage projects zero, so everything available expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from gencredits.domain import limits
from gencredits.domain.advice._common import check_whole
from gencredits.domain.credits import format_credits, plain_decimal, round_half_up
from gencredits.domain.errors import InvalidRequest

_MICROSECOND = timedelta(microseconds=1)
_MICROSECONDS_PER_DAY = 86_400_000_000
# Enough digits for a quotient of two int64-sized numbers to keep 30 places after the point.
_PRECISION_DIGITS = 70


@dataclass(frozen=True, slots=True)
class Forecast:
    """The projection of the current cycle at its burn rate so far."""

    now: datetime
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    used_credits: int
    available_credits: int
    burn_rate_credits_per_day: Decimal
    projected_use_credits: int  # from now until the cycle ends, at the burn rate
    runs_out_at: datetime | None
    expiring_credits: int
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "cycle_starts_at": self.cycle_starts_at.isoformat(),
            "cycle_ends_at": self.cycle_ends_at.isoformat(),
            "used": self.used_credits,
            "available": self.available_credits,
            "burn_rate_per_day": plain_decimal(self.burn_rate_credits_per_day),
            "projected_use": self.projected_use_credits,
            "runs_out_at": None if self.runs_out_at is None else self.runs_out_at.isoformat(),
            "expiring": self.expiring_credits,
            "summary": self.summary,
        }


def forecast(
    *,
    now: datetime,
    cycle_starts_at: datetime,
    cycle_ends_at: datetime,
    used_credits: int,
    available_credits: int,
) -> Forecast:
    """Project the cycle ``[cycle_starts_at, cycle_ends_at)`` from its use until ``now``.

    Worked examples, a 30-day cycle starting 2026-03-01:

    * On day 10, 500 used, 400 available: 50 a day; the 20 days left would use 1,000 > 400,
      so the credits run out 400 / 50 = 8 days later, on 2026-03-19.
    * On day 10, 100 used, 900 available: 10 a day; the 20 days left use 200, so 700 credits
      will expire unused at renewal.

    Errors name the field: a naive datetime, a cycle that does not end after it starts, or
    negative credits.
    """
    _check(now, cycle_starts_at, cycle_ends_at, used_credits, available_credits)
    length = (cycle_ends_at - cycle_starts_at) // _MICROSECOND
    elapsed = min(max((now - cycle_starts_at) // _MICROSECOND, 0), length)
    remaining = max((cycle_ends_at - now) // _MICROSECOND, 0)
    available_text = format_credits(available_credits)
    rate, projected, runs_out_at = Decimal(0), 0, None
    if remaining == 0:
        summary = f"the cycle has ended; {available_text} credits expire at renewal"
    elif elapsed == 0:
        summary = (
            f"no time has passed in this cycle yet, so there is no burn rate; "
            f"{available_text} credits would expire unused"
        )
    else:
        # The rate is for people, to the context's 28 significant digits; the decision below
        # compares exact integers and the projection uses a wider context.
        rate = Decimal(used_credits * _MICROSECONDS_PER_DAY) / Decimal(elapsed)
        with localcontext() as context:
            context.prec = _PRECISION_DIGITS
            projected = round_half_up(Decimal(used_credits * remaining) / Decimal(elapsed))
        rate_text = plain_decimal(rate.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        if used_credits * remaining > available_credits * elapsed:
            runs_out_at = now + timedelta(microseconds=available_credits * elapsed // used_credits)
            summary = (
                f"at {rate_text} credits a day the {available_text} available run out on "
                f"{runs_out_at.isoformat()}, before the cycle ends on "
                f"{cycle_ends_at.isoformat()}"
            )
        else:
            summary = (
                f"at {rate_text} credits a day the rest of the cycle uses about "
                f"{format_credits(projected)}; "
                f"{format_credits(max(0, available_credits - projected))} of the "
                f"{available_text} available will expire unused at renewal"
            )
    return Forecast(
        now=now,
        cycle_starts_at=cycle_starts_at,
        cycle_ends_at=cycle_ends_at,
        used_credits=used_credits,
        available_credits=available_credits,
        burn_rate_credits_per_day=rate,
        projected_use_credits=projected,
        runs_out_at=runs_out_at,
        expiring_credits=0 if runs_out_at is not None else max(0, available_credits - projected),
        summary=summary,
    )


def _check(
    now: datetime,
    cycle_starts_at: datetime,
    cycle_ends_at: datetime,
    used_credits: int,
    available_credits: int,
) -> None:
    for name, moment in (
        ("now", now),
        ("cycle_starts_at", cycle_starts_at),
        ("cycle_ends_at", cycle_ends_at),
    ):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidRequest(f"{name} must carry a time zone", field=name)
    if cycle_ends_at <= cycle_starts_at:
        raise InvalidRequest("a cycle must end after it starts", field="cycle_ends_at")
    check_whole(used_credits, 0, limits.MAX_AMOUNT_CREDITS, field="used_credits")
    check_whole(available_credits, 0, limits.MAX_AMOUNT_CREDITS, field="available_credits")
