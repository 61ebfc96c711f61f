"""Sums of credits that never overflow, on SQLite and PostgreSQL alike.

Balances stay at most 2**53 - 1, but what an account was granted, charged or lost to expiry
over a period adds up without bound (a grant of 2**53 - 1 taken back by an adjustment, 1,025
times, passes 2**63). SQLite's SUM over integers raises "integer overflow" there; PostgreSQL's
SUM over BIGINT answers NUMERIC. So a sum of credits is taken in two parts: the whole 2**32s
of each value and what is left of it, each far from overflowing (values are at most 2**53, so
the high parts are below 2**21 and the low parts below 2**32 each), and joined in Python as an
exact int. Integer division truncates on both backends; the low part is computed from the
high part with the same division, so the two always add back to the value.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func

PART = 2**32


def split_sum(value: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """Two aggregate columns whose :func:`joined` value is ``SUM(value)`` (0 for no rows)."""
    high = value // PART
    return (
        func.coalesce(func.sum(high), 0),
        func.coalesce(func.sum(value - high * PART), 0),
    )


def joined(high: Any, low: Any) -> int:
    """The exact sum from the two parts :func:`split_sum` selected (None counts as 0)."""
    return int(high or 0) * PART + int(low or 0)
