"""The priced catalog: every model and tool that costs credits, and its pricing rule.

A :class:`Catalog` is an immutable value with a ``version`` (the *price version*). Changing
anything makes a new catalog with the next version; quotes, holds and charges keep the version
that priced them, so nothing already priced is ever repriced.

Three pricing rules give the undiscounted price of *one output* (one image, one clip, one
edited item); a :class:`VolumeDiscount` then takes a percentage off a request of several
outputs. ``gencredits.domain.pricing`` combines them and rounds, once.

Worked examples, one per rule (the default catalog's figures):

* ``FlatRule``: flux-2-pro at 5 credits per image; one image costs 5.
* ``PerSecondRule``: veo-3 at 10 credits per second, x1.5 at 1080p, 5-8 seconds;
  8 seconds at 1080p cost 10 x 8 x 1.5 = 120.
* ``OptionTableRule``: ai-expand, ``small`` 3 or ``large`` 5 per image; one large expand costs 5.
* ``VolumeDiscount`` ``batch`` (images per prompt): 5% / 7% / 10% off from 2 / 3 / 4 outputs;
  four flux-2-pro images cost 20 less 10% = 18.
* ``VolumeDiscount`` ``bulk`` (an editing tool's batch operation): 5% from 10 items, 10% from
  50; background-removal on 100 images costs 200 less 10% = 180.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from gencredits.domain import limits
from gencredits.domain.credits import plain_decimal
from gencredits.domain.errors import (
    CatalogInvalid,
    InactiveModel,
    InvalidRequest,
    OutOfRange,
    UnknownModel,
    UnknownOption,
)


class Kind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    EDIT = "edit"


class Tier(StrEnum):
    BUDGET = "budget"
    STANDARD = "standard"
    PREMIUM = "premium"
    SPECIALTY = "specialty"


@dataclass(frozen=True, slots=True)
class Choice:
    """The options of one request after defaults are applied (``None`` where not priced)."""

    seconds: int | None = None
    quality: str | None = None
    option: str | None = None


@dataclass(frozen=True, slots=True)
class FlatRule:
    """A fixed price per output: per image, per edited item."""

    credits_per_output: Decimal
    unit: str = "image"

    name = "flat"

    def __post_init__(self) -> None:
        _check_rate(self.credits_per_output, "credits_per_output")

    def resolve(self, model_id: str, choice: Choice, field_prefix: str) -> Choice:
        _refuse(model_id, "seconds", choice.seconds, field_prefix)
        _refuse(model_id, "quality", choice.quality, field_prefix)
        _refuse(model_id, "option", choice.option, field_prefix)
        return Choice()

    def price_per_output(self, choice: Choice) -> Decimal:
        return self.credits_per_output

    def price_bounds(self) -> tuple[Decimal, Decimal]:
        return self.credits_per_output, self.credits_per_output

    def describe(self) -> str:
        return f"{plain_decimal(self.credits_per_output)} / {self.unit}"


@dataclass(frozen=True, slots=True)
class PerSecondRule:
    """Credits per second of output, times a quality multiplier, within duration bounds.

    ``allowed_seconds`` restricts durations to a fixed set (runway: 5 or 10); empty means any
    whole number of seconds from ``min_seconds`` to ``max_seconds``. Without ``seconds`` a
    request gets the shortest duration; without ``quality`` the default quality.
    """

    credits_per_second: Decimal
    min_seconds: int
    max_seconds: int
    quality_multipliers: Mapping[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({"720p": Decimal(1)})
    )
    default_quality: str = "720p"
    allowed_seconds: tuple[int, ...] = ()

    name = "per_second"

    def __post_init__(self) -> None:
        _check_rate(self.credits_per_second, "credits_per_second")
        if not 1 <= self.min_seconds <= self.max_seconds <= limits.MAX_VIDEO_SECONDS:
            raise CatalogInvalid(
                f"need 1 <= min_seconds <= max_seconds <= {limits.MAX_VIDEO_SECONDS}, got "
                f"{self.min_seconds}..{self.max_seconds}",
                location="min_seconds",
            )
        for seconds in self.allowed_seconds:
            if not self.min_seconds <= seconds <= self.max_seconds:
                raise CatalogInvalid(
                    f"allowed duration {seconds} lies outside "
                    f"{self.min_seconds}..{self.max_seconds}",
                    location="allowed_seconds",
                )
        if self.default_quality not in self.quality_multipliers:
            raise CatalogInvalid(
                f"default quality {self.default_quality!r} has no multiplier",
                location="default_quality",
            )
        for quality, multiplier in self.quality_multipliers.items():
            _check_rate(multiplier, f"quality_multipliers.{quality}")
        object.__setattr__(
            self, "quality_multipliers", MappingProxyType(dict(self.quality_multipliers))
        )

    def durations(self) -> tuple[int, ...]:
        return self.allowed_seconds or tuple(range(self.min_seconds, self.max_seconds + 1))

    def resolve(self, model_id: str, choice: Choice, field_prefix: str) -> Choice:
        _refuse(model_id, "option", choice.option, field_prefix)
        seconds = self.durations()[0] if choice.seconds is None else choice.seconds
        if not self.min_seconds <= seconds <= self.max_seconds:
            raise OutOfRange(
                seconds,
                self.min_seconds,
                self.max_seconds,
                field=f"{field_prefix}seconds",
                reason=f"{model_id} makes clips of {self.describe_durations()}",
            )
        if self.allowed_seconds and seconds not in self.allowed_seconds:
            raise InvalidRequest(
                f"{model_id} makes clips of {self.describe_durations()}, not {seconds} s",
                field=f"{field_prefix}seconds",
            )
        quality = self.default_quality if choice.quality is None else choice.quality
        if quality not in self.quality_multipliers:
            raise UnknownOption(
                model_id,
                quality,
                tuple(self.quality_multipliers),
                field=f"{field_prefix}quality",
            )
        return Choice(seconds=seconds, quality=quality)

    def price_per_output(self, choice: Choice) -> Decimal:
        assert choice.seconds is not None and choice.quality is not None
        return self.credits_per_second * choice.seconds * self.quality_multipliers[choice.quality]

    def price_bounds(self) -> tuple[Decimal, Decimal]:
        durations = self.durations()
        multipliers = self.quality_multipliers.values()
        return (
            self.credits_per_second * durations[0] * min(multipliers),
            self.credits_per_second * durations[-1] * max(multipliers),
        )

    def describe_durations(self) -> str:
        if self.allowed_seconds:
            return " or ".join(str(s) for s in self.allowed_seconds) + " s"
        return f"{self.min_seconds}-{self.max_seconds} s"

    def describe(self) -> str:
        text = f"{plain_decimal(self.credits_per_second)} / s, {self.describe_durations()}"
        extra = [
            f"x{plain_decimal(m)} at {q}"
            for q, m in self.quality_multipliers.items()
            if q != self.default_quality
        ]
        return ", ".join([text, *extra])


@dataclass(frozen=True, slots=True)
class OptionTableRule:
    """A price per named option (ai-expand: ``small`` 3, ``large`` 5), per output."""

    prices: Mapping[str, Decimal]
    default_option: str

    name = "option_table"

    def __post_init__(self) -> None:
        if not self.prices:
            raise CatalogInvalid("an option table needs at least one option", location="options")
        for option, price in self.prices.items():
            _check_rate(price, f"options.{option}")
        if self.default_option not in self.prices:
            raise CatalogInvalid(
                f"default option {self.default_option!r} is not in the table",
                location="default_option",
            )
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))

    def resolve(self, model_id: str, choice: Choice, field_prefix: str) -> Choice:
        _refuse(model_id, "seconds", choice.seconds, field_prefix)
        _refuse(model_id, "quality", choice.quality, field_prefix)
        option = self.default_option if choice.option is None else choice.option
        if option not in self.prices:
            raise UnknownOption(model_id, option, tuple(self.prices), field=f"{field_prefix}option")
        return Choice(option=option)

    def price_per_output(self, choice: Choice) -> Decimal:
        assert choice.option is not None
        return self.prices[choice.option]

    def price_bounds(self) -> tuple[Decimal, Decimal]:
        return min(self.prices.values()), max(self.prices.values())

    def describe(self) -> str:
        return " / ".join(
            f"{option} {plain_decimal(price)}" for option, price in self.prices.items()
        )


PricingRule = FlatRule | PerSecondRule | OptionTableRule


@dataclass(frozen=True, slots=True)
class VolumeDiscount:
    """Percent off a request of several outputs, by thresholds on the output count.

    ``steps`` are ``(from_outputs, percent_off)`` pairs in ascending order; the highest step
    reached applies. ``batch`` (images per prompt) and ``bulk`` (an editing tool's batch
    operation) are both volume discounts with different steps.
    """

    name: str
    steps: tuple[tuple[int, Decimal], ...]

    def __post_init__(self) -> None:
        previous_outputs, previous_percent = 1, Decimal(0)
        for from_outputs, percent in self.steps:
            if from_outputs <= previous_outputs or not previous_percent <= percent < 100:
                raise CatalogInvalid(
                    "steps start at 2 outputs or more and rise; percents rise and stay below 100",
                    location=f"discounts.{self.name}",
                )
            previous_outputs, previous_percent = from_outputs, percent

    def percent_for(self, outputs: int) -> Decimal:
        percent = Decimal(0)
        for from_outputs, step_percent in self.steps:
            if outputs >= from_outputs:
                percent = step_percent
        return percent

    def describe(self) -> str:
        return ", ".join(f"{plain_decimal(p)}% from {n}" for n, p in self.steps)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One model or editing tool and how it is priced."""

    id: str
    name: str
    kind: Kind
    tier: Tier
    rule: PricingRule
    max_outputs: int
    strengths: tuple[str, ...] = ()
    speed: int = 3
    active: bool = True
    discount: VolumeDiscount | None = None
    provider_cost: Decimal | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > limits.MAX_ID_LENGTH or not _is_slug(self.id):
            raise CatalogInvalid(
                "an id is a lowercase slug of letters, digits, '-' and '.'", location="id"
            )
        ceiling = limits.MAX_EDIT_BATCH_ITEMS if self.kind is Kind.EDIT else 16
        if not 1 <= self.max_outputs <= ceiling:
            raise CatalogInvalid(
                f"max_outputs must be between 1 and {ceiling}", location="max_outputs"
            )
        if not 1 <= self.speed <= 5:
            raise CatalogInvalid("speed is relative, from 1 (slow) to 5 (fast)", location="speed")
        if self.provider_cost is not None and self.provider_cost < 0:
            raise CatalogInvalid("provider_cost cannot be negative", location="provider_cost")

    def price_range(self) -> tuple[Decimal, Decimal]:
        """Cheapest and dearest single output, before any discount."""
        return self.rule.price_bounds()


@dataclass(frozen=True, slots=True)
class Catalog:
    """All entries at one price version. Look-ups by id are O(1)."""

    version: int
    entries: tuple[CatalogEntry, ...]
    _by_id: Mapping[str, CatalogEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version < 1:
            raise CatalogInvalid("a price version starts at 1", location="version")
        by_id: dict[str, CatalogEntry] = {}
        for entry in self.entries:
            if entry.id in by_id:
                raise CatalogInvalid(f"duplicate id {entry.id!r}", location=f"models.{entry.id}")
            by_id[entry.id] = entry
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def get(self, model_id: str, *, field: str = "model") -> CatalogEntry:
        """The entry, or :class:`UnknownModel` naming ``field``."""
        try:
            return self._by_id[model_id]
        except KeyError:
            raise UnknownModel(model_id, field=field) from None

    def get_active(self, model_id: str, *, field: str = "model") -> CatalogEntry:
        entry = self.get(model_id, field=field)
        if not entry.active:
            raise InactiveModel(model_id, field=field)
        return entry

    def active_entries(self) -> tuple[CatalogEntry, ...]:
        return tuple(entry for entry in self.entries if entry.active)

    def with_entry(self, entry: CatalogEntry) -> Catalog:
        """A new price version with ``entry`` added, or replacing the entry of the same id."""
        entries = [e for e in self.entries if e.id != entry.id]
        position = next((i for i, e in enumerate(self.entries) if e.id == entry.id), None)
        if position is None:
            entries.append(entry)
        else:
            entries.insert(position, entry)
        return Catalog(version=self.version + 1, entries=tuple(entries))

    def without_entry(self, model_id: str) -> Catalog:
        """A new price version with the model switched off (entries are never deleted)."""
        entry = self.get(model_id)
        return self.with_entry(replace(entry, active=False))


def _check_rate(value: Decimal, location: str) -> None:
    if not isinstance(value, Decimal):
        raise CatalogInvalid(f"must be a Decimal, got {type(value).__name__}", location=location)
    if not value.is_finite() or value <= 0 or value > limits.MAX_RATE_CREDITS:
        raise CatalogInvalid(
            f"must be above 0 and at most {limits.MAX_RATE_CREDITS}, got {value}",
            location=location,
        )


def _refuse(model_id: str, name: str, value: object, field_prefix: str) -> None:
    if value is not None:
        raise InvalidRequest(f"{model_id} takes no {name}", field=f"{field_prefix}{name}")


def _is_slug(text: str) -> bool:
    return text[0].isalnum() and all(c.islower() or c.isdigit() or c in "-." for c in text)
