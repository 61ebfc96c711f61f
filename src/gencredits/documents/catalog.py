"""The catalog as a document: the YAML file that ships the default, and its JSON twin.

``load_catalog_file`` reads and validates a YAML catalog; any error names the file, the entry
(by position and id) and the field. Decimals in the file are read from their text, so
``12.5`` is exactly ``Decimal("12.5")``: no float ever holds a price. ``catalog_to_document``
writes a catalog back to the same shape, which is how price versions are stored.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from gencredits.documents.bounds import BoundedDecimal
from gencredits.domain import limits
from gencredits.domain.catalog import (
    Catalog,
    CatalogEntry,
    FlatRule,
    Kind,
    OptionTableRule,
    PerSecondRule,
    PricingRule,
    Tier,
    VolumeDiscount,
)
from gencredits.domain.credits import plain_decimal
from gencredits.domain.errors import CatalogInvalid

DEFAULT_CATALOG_NAME = "catalog.yaml"


Rate = Annotated[BoundedDecimal, Field(gt=0, le=limits.MAX_RATE_CREDITS)]
Percent = Annotated[BoundedDecimal, Field(ge=0, lt=100)]
Money = Annotated[BoundedDecimal, Field(ge=0, le=limits.MAX_MONEY)]
# Units, qualities, options, discounts and strengths: short names, as ids are.
Name = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID_LENGTH)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlatSpec(_Strict):
    rule: Literal["flat"]
    credits: Rate
    unit: Name = "image"


class PerSecondSpec(_Strict):
    rule: Literal["per_second"]
    credits_per_second: Rate
    min_seconds: StrictInt = Field(ge=1, le=limits.MAX_VIDEO_SECONDS)
    max_seconds: StrictInt = Field(ge=1, le=limits.MAX_VIDEO_SECONDS)
    qualities: dict[Name, Rate] = Field(default_factory=lambda: {"720p": Decimal(1)})
    default_quality: Name = "720p"
    allowed_seconds: list[Annotated[StrictInt, Field(ge=1, le=limits.MAX_VIDEO_SECONDS)]] = Field(
        default_factory=list, max_length=limits.MAX_VIDEO_SECONDS)


class OptionTableSpec(_Strict):
    rule: Literal["option_table"]
    options: dict[Name, Rate] = Field(min_length=1, max_length=limits.MAX_LINES_PER_REQUEST)
    default_option: Name


PriceSpec = Annotated[FlatSpec | PerSecondSpec | OptionTableSpec, Field(discriminator="rule")]


class EntrySpec(_Strict):
    """One catalog entry as written in the file or sent to the API."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    kind: Kind
    tier: Tier
    price: PriceSpec
    max_outputs: StrictInt = Field(ge=1, le=limits.MAX_EDIT_BATCH_ITEMS)
    discount: Name | None = None
    strengths: list[Name] = Field(default_factory=list, max_length=limits.MAX_LINES_PER_REQUEST)
    speed: StrictInt = Field(default=3, ge=1, le=5)
    active: StrictBool = True
    provider_cost: Money | None = None
    description: str = Field(default="", max_length=1_000)


class CatalogSpec(_Strict):
    version: StrictInt = Field(default=1, ge=1, le=2**31 - 1)
    discounts: dict[Name, dict[int, Percent]] = Field(default_factory=dict)
    models: list[EntrySpec] = Field(min_length=1)


def rule_from_spec(spec: FlatSpec | PerSecondSpec | OptionTableSpec) -> PricingRule:
    if isinstance(spec, FlatSpec):
        return FlatRule(spec.credits, unit=spec.unit)
    if isinstance(spec, PerSecondSpec):
        return PerSecondRule(
            credits_per_second=spec.credits_per_second,
            min_seconds=spec.min_seconds,
            max_seconds=spec.max_seconds,
            quality_multipliers=dict(spec.qualities),
            default_quality=spec.default_quality,
            allowed_seconds=tuple(spec.allowed_seconds),
        )
    return OptionTableRule(prices=dict(spec.options), default_option=spec.default_option)


def entry_from_spec(spec: EntrySpec, discounts: dict[str, VolumeDiscount]) -> CatalogEntry:
    """Build a domain entry; a domain error gets the entry's location prefixed by the caller."""
    discount = None
    if spec.discount is not None:
        if spec.discount not in discounts:
            raise CatalogInvalid(
                f"unknown discount {spec.discount!r} (defined: {', '.join(discounts) or 'none'})",
                location="discount",
            )
        discount = discounts[spec.discount]
    return CatalogEntry(
        id=spec.id,
        name=spec.name,
        kind=spec.kind,
        tier=spec.tier,
        rule=rule_from_spec(spec.price),
        max_outputs=spec.max_outputs,
        strengths=tuple(spec.strengths),
        speed=spec.speed,
        active=spec.active,
        discount=discount,
        provider_cost=spec.provider_cost,
        description=spec.description,
    )


def catalog_from_document(document: Any, *, source: str) -> Catalog:
    """Validate a parsed document and build the :class:`Catalog`; errors name ``source``."""
    try:
        spec = CatalogSpec.model_validate(document)
    except ValidationError as error:
        raise CatalogInvalid(_describe(error, document), location=source) from None
    discounts = {}
    for name, steps in spec.discounts.items():
        try:
            discounts[name] = VolumeDiscount(name, tuple(sorted(steps.items())))
        except CatalogInvalid as error:
            raise CatalogInvalid(error.message, location=source) from None
    entries = []
    for index, entry_spec in enumerate(spec.models):
        try:
            entries.append(entry_from_spec(entry_spec, discounts))
        except CatalogInvalid as error:
            where = f"{source}: models[{index}] ({entry_spec.id}): {error.location}"
            raise CatalogInvalid(error.message.split(": ", 1)[-1], location=where) from None
    try:
        return Catalog(version=spec.version, entries=tuple(entries))
    except CatalogInvalid as error:
        raise CatalogInvalid(error.message, location=source) from None


def load_catalog_file(path: Path | str | None = None) -> Catalog:
    """Read a YAML catalog; ``None`` reads the default shipped with the package."""
    document, source = read_yaml_file(path, default_name=DEFAULT_CATALOG_NAME)
    return catalog_from_document(document, source=source)


def read_yaml_file(path: Path | str | None, *, default_name: str) -> tuple[Any, str]:
    """A YAML data file and the name errors should give it; ``None`` reads ``default_name``
    from the package's ``data`` folder."""
    if path is None:
        text = resources.files("gencredits.data").joinpath(default_name).read_text()
        return parse_yaml(text, source=default_name), default_name
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogInvalid(f"cannot read: {error.strerror}", location=source) from None
    return parse_yaml(text, source=source), source


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML with every float read as an exact Decimal from its text."""
    try:
        return yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as error:
        raise CatalogInvalid(f"not valid YAML: {error}", location=source) from None


def catalog_to_document(catalog: Catalog) -> dict[str, Any]:
    """The JSON-safe document of ``catalog`` (decimals as strings); loads back identically."""
    discounts: dict[str, VolumeDiscount] = {}
    for entry in catalog.entries:
        if entry.discount is not None:
            discounts.setdefault(entry.discount.name, entry.discount)
    return {
        "version": catalog.version,
        "discounts": {
            name: {str(n): plain_decimal(p) for n, p in d.steps} for name, d in discounts.items()
        },
        "models": [entry_to_document(entry) for entry in catalog.entries],
    }


def entry_to_document(entry: CatalogEntry) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "kind": entry.kind.value,
        "tier": entry.tier.value,
        "price": _rule_to_document(entry.rule),
        "max_outputs": entry.max_outputs,
        "discount": entry.discount.name if entry.discount else None,
        "strengths": list(entry.strengths),
        "speed": entry.speed,
        "active": entry.active,
        "provider_cost": plain_decimal(entry.provider_cost) if entry.provider_cost else None,
        "description": entry.description,
    }
    return document


def _rule_to_document(rule: PricingRule) -> dict[str, Any]:
    if isinstance(rule, FlatRule):
        return {
            "rule": "flat",
            "credits": plain_decimal(rule.credits_per_output),
            "unit": rule.unit,
        }
    if isinstance(rule, PerSecondRule):
        return {
            "rule": "per_second",
            "credits_per_second": plain_decimal(rule.credits_per_second),
            "min_seconds": rule.min_seconds,
            "max_seconds": rule.max_seconds,
            "qualities": {q: plain_decimal(m) for q, m in rule.quality_multipliers.items()},
            "default_quality": rule.default_quality,
            "allowed_seconds": list(rule.allowed_seconds),
        }
    return {
        "rule": "option_table",
        "options": {o: plain_decimal(p) for o, p in rule.prices.items()},
        "default_option": rule.default_option,
    }


def _describe(error: ValidationError, document: Any) -> str:
    """The first validation error as ``models[3] (flux-2-pro): price.credits: <message>``."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    # Drop the discriminator tag pydantic inserts (``price.flat.credits`` -> ``price.credits``).
    location = [
        part
        for i, part in enumerate(location)
        if not (
            i > 0 and location[i - 1] == "price" and part in {"flat", "per_second", "option_table"}
        )
    ]
    text = ".".join(location)
    if len(location) >= 2 and location[0] == "models" and location[1].isdigit():
        index = int(location[1])
        entry_id = "?"
        models = document.get("models") if isinstance(document, dict) else None
        if isinstance(models, list) and index < len(models) and isinstance(models[index], dict):
            entry_id = str(models[index].get("id", "?"))
        rest = ".".join(location[2:])
        text = f"models[{index}] ({entry_id})" + (f": {rest}" if rest else "")
    return f"{text}: {first['msg']}" if text else first["msg"]


class _DecimalLoader(yaml.SafeLoader):
    pass


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    try:
        value = Decimal(text.replace("_", ""))
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite():
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not a finite decimal number", node.start_mark
        )
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
