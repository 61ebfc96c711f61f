"""Reading what people type: url-encoded forms and query strings, turned into domain values.

Forms are parsed here (no multipart support is needed: the dashboard sends no files). Numbers
are whole and bounded; a bad one is an :class:`~gencredits.domain.errors.InvalidRequest`
naming the field, shown to people like any other operating error. A line's seconds, quality
and option are kept only when the model's pricing rule takes them, so switching models in a
form never trips over a leftover choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request

from gencredits.domain import limits
from gencredits.domain.catalog import Catalog, CatalogEntry, OptionTableRule, PerSecondRule
from gencredits.domain.errors import InvalidRequest, OutOfRange
from gencredits.domain.pricing import LineItem

# A form has a few dozen fields; the estimator's fifty lines of six fields is the largest.
MAX_FORM_FIELDS = 400


@dataclass(frozen=True, slots=True)
class Form:
    """Submitted fields; every value a stripped string, repeated names kept in order."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Form:
        collected: dict[str, list[str]] = {}
        for count, (name, value) in enumerate(pairs):
            if count >= MAX_FORM_FIELDS:
                break
            collected.setdefault(name, []).append(value.strip())
        return cls({name: tuple(values) for name, values in collected.items()})

    @classmethod
    def from_query(cls, request: Request) -> Form:
        return cls.of(request.query_params.multi_items())

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, ())

    def optional(self, name: str) -> str | None:
        return self.get(name) or None


async def read_form(request: Request) -> Form:
    body = await request.body()
    text = body.decode("utf-8", errors="replace")
    return Form.of(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))


def whole(
    text: str | None, *, field: str, minimum: int, maximum: int, default: int | None = None
) -> int:
    """A whole number typed by a person, within bounds; errors name ``field``."""
    text = (text or "").strip().replace(",", "")
    if not text:
        if default is not None:
            return default
        raise InvalidRequest("enter a whole number", field=field)
    try:
        value = int(text, 10)
    except ValueError:
        raise InvalidRequest(f"enter a whole number, not {text[:20]!r}", field=field) from None
    if not minimum <= value <= maximum:
        raise OutOfRange(value, minimum, maximum, field=field)
    return value


def optional_whole(text: str | None, *, field: str, minimum: int, maximum: int) -> int | None:
    return None if not (text or "").strip() else whole(
        text, field=field, minimum=minimum, maximum=maximum
    )


def line_item(
    catalog: Catalog,
    *,
    model: str,
    outputs: str = "",
    count: str = "",
    seconds: str = "",
    quality: str = "",
    option: str = "",
    field_prefix: str = "",
) -> LineItem:
    """A line from form text; choices the model's rule does not take are dropped."""
    if not model:
        raise InvalidRequest("choose a model", field=f"{field_prefix}model")
    entry = catalog.get_active(model, field=f"{field_prefix}model")
    rule = entry.rule
    per_second = isinstance(rule, PerSecondRule)
    return LineItem(
        entry.id,
        # The model's own limit is checked by pricing, which says why ("makes at most 4").
        outputs=whole(outputs, field=f"{field_prefix}outputs", minimum=1,
                      maximum=limits.MAX_EDIT_BATCH_ITEMS, default=1),
        count=whole(count, field=f"{field_prefix}count", minimum=1,
                    maximum=limits.MAX_COUNT_PER_LINE, default=1),
        seconds=optional_whole(seconds, field=f"{field_prefix}seconds", minimum=1,
                               maximum=limits.MAX_VIDEO_SECONDS) if per_second else None,
        quality=(quality or None) if per_second else None,
        option=(option or None) if isinstance(rule, OptionTableRule) else None,
    )


def choices_of(entry: CatalogEntry) -> dict[str, tuple[str, ...]]:
    """The choices a model offers, for the form's selects (and the script's data)."""
    rule = entry.rule
    if isinstance(rule, PerSecondRule):
        return {
            "seconds": tuple(str(s) for s in rule.durations()),
            "quality": tuple(rule.quality_multipliers),
            "option": (),
        }
    if isinstance(rule, OptionTableRule):
        return {"seconds": (), "quality": (), "option": tuple(rule.prices)}
    return {"seconds": (), "quality": (), "option": ()}


def defaults_of(entry: CatalogEntry) -> dict[str, str]:
    rule = entry.rule
    if isinstance(rule, PerSecondRule):
        return {"seconds": str(rule.durations()[0]), "quality": rule.default_quality,
                "option": ""}
    if isinstance(rule, OptionTableRule):
        return {"seconds": "", "quality": "", "option": rule.default_option}
    return {"seconds": "", "quality": "", "option": ""}
