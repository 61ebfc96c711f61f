"""The one definition of the bounds on input values (SPEC section 7), as pure checks.

Every edge (API bodies and query strings, dashboard forms, CLI options, catalog and plans
documents) passes times and decimals through these, so "1970 to 9999 after the offset" and
"a bounded number of digits and exponent" mean the same everywhere. Each check returns the
value it accepts and raises :class:`InvalidRequest` naming ``field`` otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest

EARLIEST_MOMENT = datetime.fromisoformat(limits.EARLIEST_MOMENT_ISO)
LATEST_MOMENT = datetime.fromisoformat(limits.LATEST_MOMENT_ISO)


def moment_problem(moment: datetime) -> str | None:
    """Why ``moment`` is out of bounds (naive read as UTC), or None when it is within them."""
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 or 9999-12-31T23:59-14:00 leave the range
        utc = None
    if utc is None or not EARLIEST_MOMENT <= utc <= LATEST_MOMENT:
        return (f"must be between {EARLIEST_MOMENT.date()} and {LATEST_MOMENT.date()} "
                "after applying its offset")
    return None


def bounded_moment(moment: datetime, *, field: str) -> datetime:
    """``moment`` in UTC (naive times are taken as UTC) within the time bounds."""
    problem = moment_problem(moment)
    if problem is not None:
        raise InvalidRequest(f"{field} {problem}", field=field)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def decimal_problem(value: Decimal) -> str | None:
    """Why ``value`` is not a bounded decimal (finite, few digits, small exponent), or None."""
    if not value.is_finite():
        return "must be a finite number"
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:  # trailing zeros carry no digits
        significant -= 1
        exponent += 1
    if significant > limits.MAX_DECIMAL_SIGNIFICANT_DIGITS:
        return f"must have at most {limits.MAX_DECIMAL_SIGNIFICANT_DIGITS} significant digits"
    if exponent < -limits.MAX_DECIMAL_PLACES and any(digits):
        return f"must have at most {limits.MAX_DECIMAL_PLACES} decimal places"
    if any(digits) and value.adjusted() > limits.MAX_DECIMAL_ADJUSTED_EXPONENT:
        return f"must be below 1e{limits.MAX_DECIMAL_ADJUSTED_EXPONENT + 1}"
    return None


def bounded_decimal(value: Decimal, *, field: str) -> Decimal:
    """``value`` when it is a bounded decimal; ranges of particular fields are checked apart."""
    problem = decimal_problem(value)
    if problem is not None:
        raise InvalidRequest(f"{field} {problem}", field=field)
    return value
