"""Small helpers shared by the advisors: exact integer arithmetic, checks and one-place percents.

Credits are rounded only by ``gencredits.domain.credits``; the helpers here either stay exact
(integer ceiling division) or shape a *percentage for display* to one decimal place, which is
not an amount of credits.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TypeGuard

from gencredits.domain.catalog import CatalogEntry, OptionTableRule, PerSecondRule
from gencredits.domain.credits import HUNDRED, to_decimal
from gencredits.domain.errors import InvalidRequest, OutOfRange
from gencredits.domain.pricing import LineItem

ONE_PLACE = Decimal("0.1")


def is_whole(value: object) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool`` (``True`` is not a quantity)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_whole(value: object, minimum: int, maximum: int, *, field: str) -> int:
    """``value`` as an int within ``minimum..maximum``, or an error naming ``field``."""
    if not is_whole(value):
        raise InvalidRequest(f"{field} must be a whole number, got {value!r}", field=field)
    if not minimum <= value <= maximum:
        raise OutOfRange(value, minimum, maximum, field=field)
    return value


def check_percent(value: object, *, field: str, upper_inclusive: bool = True) -> Decimal:
    """A percentage from 0 to 100 as an exact Decimal; floats, NaN and the rest are refused."""
    try:
        percent = to_decimal(value)
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"{field} must be an integer or a decimal, got {value!r}", field=field
        ) from None
    above = percent > HUNDRED if upper_inclusive else percent >= HUNDRED
    if percent < 0 or above:
        bound = "100" if upper_inclusive else "below 100"
        raise InvalidRequest(f"{field} must be from 0 to {bound}, got {percent}", field=field)
    return percent


def ceil_div(numerator: int, denominator: int) -> int:
    """Exact integer ceiling of ``numerator / denominator`` (no Decimal precision involved)."""
    assert denominator > 0, "divide by a positive number of credits"
    return -(-numerator // denominator)


def percent_one_place(part: Decimal | int, whole: Decimal | int) -> Decimal:
    """``part`` as a percentage of ``whole``, to one decimal place, halves up: 220/300 -> 73.3."""
    assert whole != 0, "a percentage of nothing"
    exact = Decimal(part) * HUNDRED / Decimal(whole)
    return exact.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def cheapest_line(entry: CatalogEntry) -> LineItem:
    """One output at the entry's cheapest options: shortest clip, cheapest quality or option.

    Priced through ``price_line`` it gives the model's lowest credits per output, with the
    pricing's own rounding and floor of one credit. Ties between options go to the name that
    sorts first, so the choice does not depend on the order options were written in.
    """
    rule = entry.rule
    if isinstance(rule, PerSecondRule):
        quality = min(rule.quality_multipliers, key=lambda q: (rule.quality_multipliers[q], q))
        return LineItem(entry.id, seconds=rule.durations()[0], quality=quality)
    if isinstance(rule, OptionTableRule):
        option = min(rule.prices, key=lambda o: (rule.prices[o], o))
        return LineItem(entry.id, option=option)
    return LineItem(entry.id)
