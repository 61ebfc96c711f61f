"""Plans as a document: the YAML file that ships the defaults, and its JSON twin.

``load_plans_file`` reads and validates a YAML plans file; any error names the file, the plan
(by position and id) and the field. Prices are read from their text, so ``12.99`` is exactly
``Decimal("12.99")``; a float sent through the API is refused rather than trusted.
``plan_to_document`` and ``plan_from_document`` give one plan the same shape, which is how
operators define plans through the API and CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gencredits.documents.bounds import BoundedDecimal
from gencredits.documents.catalog import read_yaml_file
from gencredits.domain import limits
from gencredits.domain.credits import plain_decimal
from gencredits.domain.errors import CatalogInvalid
from gencredits.domain.plans import (
    DEFAULT_PLAN_ID,
    MAX_DURATION_DAYS,
    MAX_PLANS,
    MAX_PRICE,
    Period,
    Plan,
    Plans,
)

DEFAULT_PLANS_NAME = "plans.yaml"

# Room for a sentence or two on a plan card, not a terms-of-service page.
MAX_DESCRIPTION_LENGTH = 1_000


Price = Annotated[BoundedDecimal, Field(ge=0, le=MAX_PRICE)]


class PlanSpec(BaseModel):
    """One plan as written in the file or sent to the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH)
    name: str = Field(min_length=1, max_length=limits.MAX_LABEL_LENGTH)
    # Strict: a credit allowance is a whole number, never 100.0 or true.
    allowance_credits: int = Field(strict=True, ge=0, le=limits.MAX_AMOUNT_CREDITS)
    period: Period
    duration_days: int | None = Field(default=None, strict=True, ge=1, le=MAX_DURATION_DAYS)
    price: Price | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    grant_source: Literal["plan", "trial"] = "plan"
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)


class PlansSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_plan: str = DEFAULT_PLAN_ID
    plans: list[PlanSpec] = Field(min_length=1, max_length=MAX_PLANS)


def load_plans_file(path: Path | str | None = None) -> Plans:
    """Read a YAML plans file; ``None`` reads the default shipped with the package."""
    document, source = read_yaml_file(path, default_name=DEFAULT_PLANS_NAME)
    return plans_from_document(document, source=source)


def plans_from_document(document: Any, *, source: str) -> Plans:
    """Validate a parsed plans document and build :class:`Plans`; errors name ``source``."""
    try:
        spec = PlansSpec.model_validate(document)
    except ValidationError as error:
        raise CatalogInvalid(_describe(error, document), location=source) from None
    plans = []
    for index, plan_spec in enumerate(spec.plans):
        where = f"{source}: plans[{index}] ({plan_spec.id})"
        plans.append(_plan_from_spec(plan_spec, where))
    try:
        return Plans(tuple(plans), default_plan_id=spec.default_plan)
    except CatalogInvalid as error:
        raise CatalogInvalid(error.message, location=source) from None


def plan_from_document(document: Any, *, source: str = "plan") -> Plan:
    """Validate one plan (the API's and CLI's shape); errors read ``plan (pro): price: ...``."""
    plan_id = document.get("id", "?") if isinstance(document, dict) else "?"
    where = f"{source} ({plan_id})"
    try:
        spec = PlanSpec.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise CatalogInvalid(
            first["msg"], location=f"{where}: {field}" if field else where
        ) from None
    return _plan_from_spec(spec, where)


def plans_to_document(plans: Plans) -> dict[str, Any]:
    """The JSON-safe document of ``plans``; loads back identically."""
    return {
        "default_plan": plans.default_plan_id,
        "plans": [plan_to_document(plan) for plan in plans],
    }


def plan_to_document(plan: Plan) -> dict[str, Any]:
    """The JSON-safe document of one plan (prices as decimal strings)."""
    return {
        "id": plan.id,
        "name": plan.name,
        "allowance_credits": plan.allowance_credits,
        "period": plan.period.value,
        "duration_days": plan.duration_days,
        "price": None if plan.price is None else plain_decimal(plan.price),
        "currency": plan.currency,
        "grant_source": plan.grant_source,
        "description": plan.description,
    }


def _plan_from_spec(spec: PlanSpec, where: str) -> Plan:
    """Build the domain plan; a domain error gets ``where`` (file and plan) prefixed."""
    try:
        return Plan(
            id=spec.id,
            name=spec.name,
            allowance_credits=spec.allowance_credits,
            period=spec.period,
            duration_days=spec.duration_days,
            price=spec.price,
            currency=spec.currency,
            grant_source=spec.grant_source,
            description=spec.description,
        )
    except CatalogInvalid as error:
        # The domain names only the field; keep its reason and put the file and plan first.
        reason = error.message.removeprefix(f"{error.location}: ")
        raise CatalogInvalid(reason, location=f"{where}: {error.location}") from None


def _describe(error: ValidationError, document: Any) -> str:
    """The first validation error as ``plans[1] (pro): price: <message>``."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    text = ".".join(location)
    if len(location) >= 2 and location[0] == "plans" and location[1].isdigit():
        index = int(location[1])
        plan_id = "?"
        plans = document.get("plans") if isinstance(document, dict) else None
        if isinstance(plans, list) and index < len(plans) and isinstance(plans[index], dict):
            plan_id = str(plans[index].get("id", "?"))
        rest = ".".join(location[2:])
        text = f"plans[{index}] ({plan_id})" + (f": {rest}" if rest else "")
    return f"{text}: {first['msg']}" if text else first["msg"]
