"""Quotes: the exact price of a request, computed by one function for quotes and charges alike.

The rounding rule, named once: a request's price is its exact ``Decimal`` price less its
volume discount, **rounded half-up to whole credits, once per request**, and never below 1.
Rounding half-up is monotone, so the result is never above the undiscounted price rounded the
same way. A line's ``count`` (separate, identical requests) multiplies the rounded request
price without discount. The total is the sum of the lines.

Worked example: 50 separate flux-2-pro shots (``count=50``) cost 50 x 5 = 250, while one
4-image request (``outputs=4``) costs round_half_up(20 x 0.90) = 18. Five seconds of sora at
12.5 per second are 62.5, rounded to 63.

Pricing is pure, so its results are cached: a catalog never changes once built (new prices
make a new :class:`Catalog`), and a priced line is an immutable value. The cache is keyed by
the catalog *object* and the request's exact values, and holds a reference to the catalog it
was computed at, so a key can never be confused with another catalog's. Only requests whose
every field has its exact expected type are cached (``True`` equals ``1`` as a dict key but is
refused as a quantity), and refusals are never cached: they are recomputed and raised every
time. The cache is bounded; it is emptied when full.

A quote names its price version. Once a newer version is published the old one is
*superseded*, and :func:`superseded_version_honoured` says for how long a request naming it is
still priced at it: as long as a quote made just before the change is valid
(``limits.QUOTE_VALIDITY_SECONDS`` after the next version was published, that moment included);
after that it is refused ("quote again"), never re-priced silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gencredits.domain import limits
from gencredits.domain.catalog import Catalog, CatalogEntry, Choice, Kind
from gencredits.domain.credits import HUNDRED, plain_decimal, round_half_up
from gencredits.domain.errors import InvalidRequest, OutOfRange


@dataclass(frozen=True, slots=True)
class LineItem:
    """One kind of request: ``outputs`` per request (images per prompt, or items in an editing
    tool's batch operation), repeated ``count`` times."""

    model_id: str
    outputs: int = 1
    count: int = 1
    seconds: int | None = None
    quality: str | None = None
    option: str | None = None


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    lines: tuple[LineItem, ...]

    @classmethod
    def single(cls, model_id: str, **options: Any) -> QuoteRequest:
        return cls(lines=(LineItem(model_id, **options),))


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """A priced line and everything needed to explain it."""

    model_id: str
    model_name: str
    kind: Kind
    rule: str
    outputs: int
    count: int
    seconds: int | None
    quality: str | None
    option: str | None
    price_per_output: Decimal  # exact, before discount
    undiscounted_request: Decimal  # price_per_output x outputs, exact
    discount_name: str | None
    discount_percent: Decimal
    request_credits: int  # one request, discounted and rounded
    subtotal_credits: int  # request_credits x count
    capped_by_outputs: int | None = None  # priced as this larger request, which costs less
    # What as_dict() and undiscounted_credits computed: a line is immutable, and the pricing
    # cache hands the same line to every charge of the same request.
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def undiscounted_credits(self) -> int:
        found = self._memo.get("undiscounted_credits")
        if found is None:
            found = self._memo["undiscounted_credits"] = (
                round_half_up(self.undiscounted_request) * self.count
            )
        return int(found)

    def explain(self) -> str:
        """``4 x 5 = 20, 10% batch discount -> 18, x 50 requests = 900``."""
        per_output = plain_decimal(self.price_per_output)
        text = f"{self.outputs} x {per_output} = {plain_decimal(self.undiscounted_request)}"
        if self.discount_percent:
            text += f", {plain_decimal(self.discount_percent)}% {self.discount_name} discount"
        if self.capped_by_outputs:
            text += f", capped at the price of {self.capped_by_outputs}"
        if self.discount_percent or self.undiscounted_request != self.request_credits:
            text += f" -> {self.request_credits}"
        if self.count > 1:
            text += f", x {self.count} requests = {self.subtotal_credits}"
        return text

    def as_dict(self) -> dict[str, Any]:
        """The line as JSON-ready values (a new dict each call; built once per line)."""
        found = self._memo.get("as_dict")
        if found is None:
            found = self._memo["as_dict"] = self._as_dict()
        return dict(found)

    def _as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "model_name": self.model_name,
            "kind": self.kind.value,
            "rule": self.rule,
            "outputs": self.outputs,
            "count": self.count,
            "seconds": self.seconds,
            "quality": self.quality,
            "option": self.option,
            "price_per_output": plain_decimal(self.price_per_output),
            "undiscounted_request": plain_decimal(self.undiscounted_request),
            "discount": self.discount_name,
            "discount_percent": plain_decimal(self.discount_percent),
            "unit_credits": self.request_credits,
            "subtotal": self.subtotal_credits,
            "capped_by_outputs": self.capped_by_outputs,
            "explanation": self.explain(),
        }


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced request at one price version, valid until ``expires_at``."""

    price_version: int
    lines: tuple[QuoteLine, ...]
    total_credits: int
    issued_at: datetime
    expires_at: datetime

    @property
    def undiscounted_credits(self) -> int:
        return sum(line.undiscounted_credits for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "price_version": self.price_version,
            "total": self.total_credits,
            "undiscounted": self.undiscounted_credits,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "lines": [line.as_dict() for line in self.lines],
        }


def price_line(line: LineItem, catalog: Catalog, *, field_prefix: str = "") -> QuoteLine:
    """Price one line; errors name ``field_prefix`` + the field (``lines.2.outputs``)."""
    entry = catalog.get_active(line.model_id, field=f"{field_prefix}model")
    _check_quantities(line, entry, field_prefix)
    choice = entry.rule.resolve(
        entry.id, Choice(line.seconds, line.quality, line.option), field_prefix
    )
    price_per_output = entry.rule.price_per_output(choice)
    undiscounted = price_per_output * line.outputs
    percent = entry.discount.percent_for(line.outputs) if entry.discount else Decimal(0)
    request_credits = _discounted_credits(undiscounted, percent)
    # Never dearer than a larger request: just below a discount threshold, a request costs at
    # most what the threshold's request costs (49 items at 5% off would be 93, 50 at 10% are
    # 90, so 49 cost 90). This keeps every price monotone in the quantity ordered.
    capped_by_outputs = None
    for threshold, step_percent in entry.discount.steps if entry.discount else ():
        if line.outputs < threshold <= entry.max_outputs:
            larger = _discounted_credits(price_per_output * threshold, step_percent)
            if larger < request_credits:
                request_credits, capped_by_outputs = larger, threshold
    return QuoteLine(
        model_id=entry.id,
        model_name=entry.name,
        kind=entry.kind,
        rule=entry.rule.name,
        outputs=line.outputs,
        count=line.count,
        seconds=choice.seconds,
        quality=choice.quality,
        option=choice.option,
        price_per_output=price_per_output,
        undiscounted_request=undiscounted,
        discount_name=entry.discount.name if entry.discount and percent else None,
        discount_percent=percent,
        request_credits=request_credits,
        subtotal_credits=request_credits * line.count,
        capped_by_outputs=capped_by_outputs,
    )


def _discounted_credits(undiscounted: Decimal, percent: Decimal) -> int:
    """The one rounding rule: less the discount, half-up to whole credits, at least 1."""
    return max(1, round_half_up(undiscounted * (HUNDRED - percent) / HUNDRED))


# Distinct (catalog, request) pairs remembered; a model selector quotes a few dozen per
# catalog, so this holds every hot request while bounding memory to a few megabytes.
PRICED_CACHE_MAX_REQUESTS = 4_096

_CacheKey = tuple[int, tuple[LineItem, ...]]
_priced: dict[_CacheKey, tuple[Catalog, tuple[QuoteLine, ...], int]] = {}


def _is_exact(line: LineItem) -> bool:
    return (
        type(line.model_id) is str
        and type(line.outputs) is int
        and type(line.count) is int
        and (line.seconds is None or type(line.seconds) is int)
        and (line.quality is None or type(line.quality) is str)
        and (line.option is None or type(line.option) is str)
    )


def exact_lines(request: QuoteRequest) -> bool:
    """A tuple of lines whose every field has exactly the type a valid line has (no bools,
    floats or subclasses): such lines can key a cache (``True`` equals ``1`` as a key, but is
    refused as a number)."""
    return type(request.lines) is tuple and all(map(_is_exact, request.lines))


def _price_lines(request: QuoteRequest, catalog: Catalog) -> tuple[tuple[QuoteLine, ...], int]:
    lines = tuple(
        price_line(line, catalog, field_prefix=f"lines.{index}.")
        for index, line in enumerate(request.lines)
    )
    # Amounts stay exact in JSON (limits.MAX_AMOUNT_CREDITS); the catalog's own bounds allow
    # about 1e18 credits on one line of a dear video model.
    for index, priced in enumerate(lines):
        if priced.subtotal_credits > limits.MAX_AMOUNT_CREDITS:
            most = limits.MAX_AMOUNT_CREDITS // priced.request_credits
            raise OutOfRange(priced.count, 1, most, field=f"lines.{index}.count",
                             reason="more credits than any amount may be")
    total_credits = sum(line.subtotal_credits for line in lines)
    if total_credits > limits.MAX_AMOUNT_CREDITS:
        raise OutOfRange(total_credits, 1, limits.MAX_AMOUNT_CREDITS, field="lines",
                         reason="the request's total is more credits than any amount may be")
    return lines, total_credits


def _priced_lines(request: QuoteRequest, catalog: Catalog) -> tuple[tuple[QuoteLine, ...], int]:
    """:func:`_price_lines`, remembered per catalog object and exact request."""
    if not exact_lines(request):
        return _price_lines(request, catalog)
    key = (id(catalog), request.lines)
    cached = _priced.get(key)
    # The entry keeps its catalog alive, so no other catalog can have taken its id.
    if cached is not None and cached[0] is catalog:
        return cached[1], cached[2]
    lines, total_credits = _price_lines(request, catalog)
    if len(_priced) >= PRICED_CACHE_MAX_REQUESTS:
        _priced.clear()
    _priced[key] = (catalog, lines, total_credits)
    return lines, total_credits


def quote(
    request: QuoteRequest,
    catalog: Catalog,
    *,
    issued_at: datetime,
    valid_for_seconds: int = limits.QUOTE_VALIDITY_SECONDS,
) -> Quote:
    """Price every line of ``request`` at ``catalog``'s version."""
    if not 1 <= len(request.lines) <= limits.MAX_LINES_PER_REQUEST:
        raise OutOfRange(len(request.lines), 1, limits.MAX_LINES_PER_REQUEST, field="lines")
    lines, total_credits = _priced_lines(request, catalog)
    return Quote(
        price_version=catalog.version,
        lines=lines,
        total_credits=total_credits,
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=valid_for_seconds),
    )


def superseded_version_honoured(
    superseded_at: datetime | None,
    now: datetime,
    *,
    valid_for_seconds: int = limits.QUOTE_VALIDITY_SECONDS,
) -> bool:
    """Is a price version that is no longer current still honoured at ``now``?

    ``superseded_at`` is when the version after it was published (``None``: no such version
    on record, so nothing vouches for it). A quote made at the old version just before then
    stays valid for ``valid_for_seconds``, so the version is honoured until that long after
    ``superseded_at``, inclusive. A ``now`` before ``superseded_at`` (a clock a little behind
    the one that published) is inside the window.
    """
    if superseded_at is None:
        return False
    return now - superseded_at <= timedelta(seconds=valid_for_seconds)


def _check_quantities(line: LineItem, entry: CatalogEntry, field_prefix: str) -> None:
    for name, value in (("outputs", line.outputs), ("count", line.count)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRequest(f"{name} must be a whole number", field=f"{field_prefix}{name}")
    if not 1 <= line.outputs <= entry.max_outputs:
        if entry.kind is Kind.VIDEO:
            reason = f"{entry.id} makes one clip per request"
        elif entry.kind is Kind.EDIT:
            reason = f"{entry.id} edits at most {entry.max_outputs} items in one batch"
        else:
            reason = f"{entry.id} makes at most {entry.max_outputs} outputs per request"
        if entry.max_outputs > 1 and entry.kind is Kind.VIDEO:
            reason = f"{entry.id} makes at most {entry.max_outputs} clips per request"
        raise OutOfRange(
            line.outputs, 1, entry.max_outputs, field=f"{field_prefix}outputs", reason=reason
        )
    if not 1 <= line.count <= limits.MAX_COUNT_PER_LINE:
        raise OutOfRange(line.count, 1, limits.MAX_COUNT_PER_LINE, field=f"{field_prefix}count")
