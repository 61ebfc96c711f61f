"""The bounds of ``domain/bounds.py`` as Pydantic types, for every document and request model.

``BoundedMoment`` is a timezone-aware UTC datetime (naive input is taken as UTC) between 1970
and 9999 after its offset; ``BoundedDecimal`` a finite Decimal with bounded digits and exponent,
never read from a float. A field's own range (``Field(ge=..., le=...)``) is added where it is
declared. The API, the dashboard and the CLI reach these through ``documents.requests``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from gencredits.domain.bounds import decimal_problem, moment_problem


def no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError('write decimals as integers or strings such as "12.5", not floats')
    return value


def _moment(value: datetime) -> datetime:
    problem = moment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _decimal(value: Decimal) -> Decimal:
    problem = decimal_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


BoundedMoment = Annotated[datetime, AfterValidator(_moment)]
BoundedDecimal = Annotated[Decimal, BeforeValidator(no_float), AfterValidator(_decimal)]
