"""Amounts of credits and the one place where rounding happens.

Credits are whole numbers (``int``). A catalog rate may be a ``Decimal`` (12.5 credits per
second), and prices are computed exactly in ``Decimal``; the result is turned into credits by
:func:`round_half_up`, once per request, never earlier. Floats never enter a money path:
:func:`to_decimal` refuses them.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

ONE = Decimal(1)
HUNDRED = Decimal(100)


def to_decimal(value: object) -> Decimal:
    """Turn an int, a decimal string or a Decimal into a Decimal; refuse floats and bools."""
    if isinstance(value, bool | float):
        raise TypeError(f"credit rates must be int, str or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        result = Decimal(value)
    else:
        raise TypeError(f"credit rates must be int, str or Decimal, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"credit rate must be finite, got {value!r}")
    return result


def round_half_up(amount: Decimal) -> int:
    """Round to whole credits, halves away from zero: 62.5 -> 63, 62.49 -> 62."""
    return int(amount.quantize(ONE, rounding=ROUND_HALF_UP))


def round_up(amount: Decimal) -> int:
    """Round up to whole credits (the estimator's buffer): 50.1 -> 51."""
    return int(amount.quantize(ONE, rounding=ROUND_CEILING))


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    """``percent`` percent of ``amount``, exactly."""
    return amount * percent / HUNDRED


def plain_decimal(value: Decimal) -> str:
    """A Decimal as people write it, without exponent or trailing zeros: 12.50 -> '12.5'."""
    return f"{value.normalize():f}"


def format_credits(amount_credits: int) -> str:
    """A credit amount for people: ``1,250``."""
    return f"{amount_credits:,}"
