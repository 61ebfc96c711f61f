"""Pricing rules, rounding and quotes: worked examples, boundaries and properties."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.documents.catalog import load_catalog_file
from gencredits.domain import limits
from gencredits.domain.catalog import (
    Catalog,
    CatalogEntry,
    FlatRule,
    Kind,
    OptionTableRule,
    PerSecondRule,
    Tier,
    VolumeDiscount,
)
from gencredits.domain.credits import round_half_up, to_decimal
from gencredits.domain.errors import (
    InactiveModel,
    InvalidRequest,
    OutOfRange,
    UnknownModel,
    UnknownOption,
)
from gencredits.domain.pricing import LineItem, QuoteRequest, price_line, quote

NOW = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
CATALOG = load_catalog_file()


def total(*lines: LineItem) -> int:
    return quote(QuoteRequest(lines=lines), CATALOG, issued_at=NOW).total_credits


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (LineItem("flux-2-pro", count=50), 250),  # 50 separate shots: no discount
        (LineItem("flux-2-pro", outputs=4), 18),  # 10% off 20
        (LineItem("flux-2-pro", outputs=2), 10),  # 5% off 10 = 9.5 -> 10 (half-up)
        (LineItem("flux-2-pro", outputs=3), 14),  # 7% off 15 = 13.95 -> 14
        (LineItem("nano-banana-2", outputs=2), 2),  # 5% off 2 = 1.9 -> 2
        (LineItem("flux-2-max", outputs=4), 43),  # 10% off 48 = 43.2 -> 43
        (LineItem("veo-3", seconds=8, quality="1080p"), 120),
        (LineItem("veo-3"), 50),  # shortest duration, default 720p
        (LineItem("veo-3", seconds=5, quality="1080p"), 75),
        (LineItem("sora", seconds=5), 63),  # 62.5 rounds half-up
        (LineItem("sora", seconds=10), 125),
        (LineItem("runway-gen-4", seconds=10), 100),
        (LineItem("kling", seconds=4), 20),
        (LineItem("background-removal", outputs=100), 180),  # 10% off 200
        (LineItem("background-removal", outputs=10), 19),  # 5% off 20
        (LineItem("background-removal", outputs=9), 18),  # below the first threshold
        (LineItem("background-removal", outputs=49), 90),  # 93.1, capped at 50's price
        (LineItem("background-removal", outputs=47), 89),  # 5% off 94 = 89.3: below the cap
        (LineItem("background-removal", outputs=48), 90),  # 91.2 -> 91, capped at 90
        (LineItem("background-removal", outputs=50), 90),
        (LineItem("ai-expand"), 3),  # default option small
        (LineItem("ai-expand", option="large", outputs=10), 48),  # 5% off 50 = 47.5 -> 48
        (LineItem("quality-boost", outputs=500), 2250),
    ],
)
def test_worked_examples(line: LineItem, expected: int) -> None:
    assert total(line) == expected


def test_lines_add_up_and_explain_themselves() -> None:
    priced = quote(
        QuoteRequest(
            lines=(LineItem("flux-2-pro", outputs=4, count=3), LineItem("sora", seconds=5))
        ),
        CATALOG,
        issued_at=NOW,
    )
    first, second = priced.lines
    assert (first.request_credits, first.subtotal_credits) == (18, 54)
    assert first.explain() == "4 x 5 = 20, 10% batch discount -> 18, x 3 requests = 54"
    assert second.explain() == "1 x 62.5 = 62.5 -> 63"
    assert priced.total_credits == 117
    assert priced.undiscounted_credits == 60 + 63
    assert priced.price_version == CATALOG.version
    assert priced.expires_at > priced.issued_at
    document = priced.as_dict()
    assert document["total"] == 117 and len(document["lines"]) == 2


@pytest.mark.parametrize(
    ("line", "error", "field"),
    [
        (LineItem("no-such-model"), UnknownModel, "lines.0.model"),
        (LineItem("kling", outputs=2), OutOfRange, "lines.0.outputs"),
        (LineItem("flux-2-pro", outputs=0), OutOfRange, "lines.0.outputs"),
        (LineItem("flux-2-pro", outputs=5), OutOfRange, "lines.0.outputs"),
        (LineItem("background-removal", outputs=501), OutOfRange, "lines.0.outputs"),
        (LineItem("flux-2-pro", count=0), OutOfRange, "lines.0.count"),
        (LineItem("flux-2-pro", count=limits.MAX_COUNT_PER_LINE + 1), OutOfRange, "lines.0.count"),
        (LineItem("veo-3", seconds=4), OutOfRange, "lines.0.seconds"),
        (LineItem("veo-3", seconds=9), OutOfRange, "lines.0.seconds"),
        (LineItem("runway-gen-4", seconds=7), InvalidRequest, "lines.0.seconds"),
        (LineItem("veo-3", quality="4k"), UnknownOption, "lines.0.quality"),
        (LineItem("kling", quality="1080p"), UnknownOption, "lines.0.quality"),
        (LineItem("ai-expand", option="huge"), UnknownOption, "lines.0.option"),
        (LineItem("flux-2-pro", seconds=5), InvalidRequest, "lines.0.seconds"),
        (LineItem("flux-2-pro", option="large"), InvalidRequest, "lines.0.option"),
        (LineItem("ai-expand", quality="1080p"), InvalidRequest, "lines.0.quality"),
        (LineItem("veo-3", option="large"), InvalidRequest, "lines.0.option"),
    ],
)
def test_bad_lines_name_their_field(line: LineItem, error: type[Exception], field: str) -> None:
    with pytest.raises(error) as raised:
        total(line)
    assert raised.value.field == field  # type: ignore[attr-defined]


def test_second_line_errors_name_the_second_line() -> None:
    with pytest.raises(OutOfRange) as raised:
        total(LineItem("flux-2-pro"), LineItem("kling", outputs=3))
    assert raised.value.field == "lines.1.outputs"
    assert "one clip per request" in raised.value.message


def test_just_below_a_threshold_is_never_dearer_than_at_it() -> None:
    priced = price_line(LineItem("background-removal", outputs=49), CATALOG)
    assert priced.capped_by_outputs == 50
    assert priced.explain() == "49 x 2 = 98, 5% bulk discount, capped at the price of 50 -> 90"
    prices = [
        price_line(LineItem("background-removal", outputs=n), CATALOG).request_credits
        for n in range(1, 501)
    ]
    assert prices == sorted(prices)


def test_request_sizes_are_bounded() -> None:
    with pytest.raises(OutOfRange):
        quote(QuoteRequest(lines=()), CATALOG, issued_at=NOW)
    lines = (LineItem("nano-banana-2"),) * (limits.MAX_LINES_PER_REQUEST + 1)
    with pytest.raises(OutOfRange) as raised:
        quote(QuoteRequest(lines=lines), CATALOG, issued_at=NOW)
    assert raised.value.field == "lines"


def test_non_integer_quantities_are_refused() -> None:
    with pytest.raises(InvalidRequest) as raised:
        total(LineItem("flux-2-pro", outputs=True))
    assert raised.value.field == "lines.0.outputs"


def test_inactive_models_cannot_be_quoted() -> None:
    catalog = CATALOG.without_entry("dall-e-3")
    assert catalog.version == CATALOG.version + 1
    with pytest.raises(InactiveModel):
        price_line(LineItem("dall-e-3"), catalog)


def test_rounding_rule() -> None:
    assert round_half_up(Decimal("62.5")) == 63
    assert round_half_up(Decimal("62.49")) == 62
    assert round_half_up(Decimal("0.5")) == 1
    with pytest.raises(TypeError):
        to_decimal(0.1)
    with pytest.raises(TypeError):
        to_decimal(True)


def test_a_discount_never_takes_a_request_below_one_credit() -> None:
    cheap = CatalogEntry(
        id="tiny",
        name="Tiny",
        kind=Kind.IMAGE,
        tier=Tier.BUDGET,
        rule=FlatRule(Decimal("0.2")),
        max_outputs=4,
        discount=VolumeDiscount("batch", ((2, Decimal(50)),)),
    )
    catalog = Catalog(version=1, entries=(cheap,))
    assert price_line(LineItem("tiny"), catalog).request_credits == 1  # 0.2 rounds to 0 -> 1
    assert price_line(LineItem("tiny", outputs=2), catalog).request_credits == 1


def test_catalog_changes_make_new_price_versions_and_leave_old_ones_alone() -> None:
    entry = CATALOG.get("flux-2-pro")
    from dataclasses import replace

    repriced = CATALOG.with_entry(replace(entry, rule=FlatRule(Decimal(6))))
    assert repriced.version == CATALOG.version + 1
    assert price_line(LineItem("flux-2-pro"), repriced).request_credits == 6
    assert price_line(LineItem("flux-2-pro"), CATALOG).request_credits == 5
    assert [e.id for e in repriced.entries] == [e.id for e in CATALOG.entries]


# --- properties ---------------------------------------------------------------------------

ACTIVE = CATALOG.active_entries()


@st.composite
def valid_lines(draw: st.DrawFn) -> LineItem:
    entry = draw(st.sampled_from(ACTIVE))
    outputs = draw(st.integers(1, entry.max_outputs))
    count = draw(st.integers(1, 50))
    rule = entry.rule
    if isinstance(rule, PerSecondRule):
        return LineItem(
            entry.id,
            outputs=outputs,
            count=count,
            seconds=draw(st.sampled_from(rule.durations())),
            quality=draw(st.sampled_from(sorted(rule.quality_multipliers))),
        )
    if isinstance(rule, OptionTableRule):
        option = draw(st.sampled_from(sorted(rule.prices)))
        return LineItem(entry.id, outputs=outputs, count=count, option=option)
    return LineItem(entry.id, outputs=outputs, count=count)


@given(valid_lines())
def test_a_line_is_never_above_undiscounted_nor_below_one(line: LineItem) -> None:
    priced = price_line(line, CATALOG)
    assert 1 <= priced.request_credits <= round_half_up(priced.undiscounted_request)
    assert priced.subtotal_credits == priced.request_credits * line.count
    assert isinstance(priced.subtotal_credits, int)


@given(st.lists(valid_lines(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_total_is_independent_of_line_order(lines: list[LineItem], rng: object) -> None:
    shuffled = list(lines)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    first = quote(QuoteRequest(tuple(lines)), CATALOG, issued_at=NOW)
    second = quote(QuoteRequest(tuple(shuffled)), CATALOG, issued_at=NOW)
    assert first.total_credits == second.total_credits
    assert first.total_credits <= first.undiscounted_credits


FLAT_BATCH = [e for e in ACTIVE if isinstance(e.rule, FlatRule)]


@given(st.sampled_from(FLAT_BATCH), st.data())
def test_flat_prices_are_monotone_in_quantity(entry: CatalogEntry, data: st.DataObject) -> None:
    outputs = data.draw(st.integers(1, entry.max_outputs - 1)) if entry.max_outputs > 1 else 1
    count = data.draw(st.integers(1, 100))
    base = price_line(LineItem(entry.id, outputs=outputs, count=count), CATALOG)
    more_count = price_line(LineItem(entry.id, outputs=outputs, count=count + 1), CATALOG)
    assert more_count.subtotal_credits >= base.subtotal_credits
    if entry.max_outputs > 1:
        more_outputs = price_line(LineItem(entry.id, outputs=outputs + 1, count=count), CATALOG)
        assert more_outputs.subtotal_credits >= base.subtotal_credits


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2),
    st.integers(1, 4),
    st.integers(0, 99),
)
def test_any_rate_and_discount_stay_in_bounds(rate: Decimal, outputs: int, percent: int) -> None:
    discount = VolumeDiscount("batch", ((2, Decimal(percent)),)) if percent else None
    entry = CatalogEntry(
        id="m",
        name="M",
        kind=Kind.IMAGE,
        tier=Tier.STANDARD,
        rule=FlatRule(rate),
        max_outputs=4,
        discount=discount,
    )
    priced = price_line(LineItem("m", outputs=outputs), Catalog(version=1, entries=(entry,)))
    assert 1 <= priced.request_credits <= max(1, round_half_up(rate * outputs))


# --- the price cache ----------------------------------------------------------------------------


@given(st.lists(valid_lines(), min_size=1, max_size=5))
def test_a_cached_quote_is_the_quote_computed_afresh(lines: list[LineItem]) -> None:
    request = QuoteRequest(lines=tuple(lines))
    first = quote(request, CATALOG, issued_at=NOW)
    again = quote(request, CATALOG, issued_at=NOW)  # from the cache
    fresh = tuple(price_line(line, CATALOG, field_prefix=f"lines.{n}.") for n, line in
                  enumerate(lines))
    assert first == again
    assert first.lines == fresh
    assert first.total_credits == sum(line.subtotal_credits for line in fresh)


def test_the_cache_never_answers_for_another_catalog_or_a_look_alike_request() -> None:
    from dataclasses import replace

    request = QuoteRequest.single("flux-2-pro")
    assert quote(request, CATALOG, issued_at=NOW).total_credits == 5
    repriced = CATALOG.with_entry(replace(CATALOG.get("flux-2-pro"), rule=FlatRule(Decimal(6))))
    assert quote(request, repriced, issued_at=NOW).total_credits == 6  # new catalog, new price
    assert quote(request, CATALOG, issued_at=NOW).total_credits == 5
    # True == 1 as a dict key, but True is refused as a quantity, cached 1 or not.
    with pytest.raises(InvalidRequest, match="whole number"):
        quote(QuoteRequest(lines=(LineItem("flux-2-pro", outputs=True),)), CATALOG, issued_at=NOW)


def test_refusals_are_not_cached_and_the_cache_stays_bounded() -> None:
    from gencredits.domain import pricing

    bad = QuoteRequest.single("flux-2-pro", outputs=99)
    for _ in range(2):  # refused every time, with its field
        with pytest.raises(OutOfRange) as refused:
            quote(bad, CATALOG, issued_at=NOW)
        assert refused.value.field == "lines.0.outputs"
    for count in range(1, pricing.PRICED_CACHE_MAX_REQUESTS + 50):
        quote(QuoteRequest((LineItem("flux-2-pro", count=count % 9_999 + 1),)), CATALOG,
              issued_at=NOW)
        assert len(pricing._priced) <= pricing.PRICED_CACHE_MAX_REQUESTS
