"""Fuzzing the request parser and the pricing behind it (Hypothesis).

``parse_quote_request`` takes any JSON-like document, as the API and the CLI receive them:
the only outcomes allowed are a valid :class:`QuoteRequest` or :class:`InvalidRequest` naming a
field, never another exception. Every request it accepts is then priced against the default
catalog: the only outcomes allowed are a :class:`Quote` whose total is the sum of its lines,
each at least one credit and the whole inside int64, and priced the same on a second call (the
pricing cache), or an operating error (unknown model or option, a number out of range), never
another exception.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gencredits import GencreditsError, InvalidRequest, LineItem, Quote, QuoteRequest, quote
from gencredits.documents.catalog import load_catalog_file
from gencredits.documents.requests import parse_quote_request
from gencredits.domain import limits
from tests.reliability.tally import Figures

CATALOG = load_catalog_file()
MODEL_IDS = tuple(entry.id for entry in CATALOG.entries)
NOW = datetime(2026, 1, 31, 9, tzinfo=UTC)
INT64 = 2**63

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.sampled_from((0, -1, 1, 4, 5, 500, 501, 10_000, 10_001, INT64, -INT64, 2**100, 1.0))
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
COUNTS = st.integers(min_value=-3, max_value=12) | st.sampled_from(
    (0, 1, 2, 3, 4, 5, 10, 50, 499, 500, 501, 9_999, 10_000, 10_001, INT64, 2**64)
) | SCALARS
FIELDS = {
    "model": st.sampled_from(MODEL_IDS) | st.sampled_from(("", "x" * 65, "FLUX-2-PRO")) | JSON,
    "outputs": COUNTS,
    "count": COUNTS,
    "seconds": COUNTS,
    "quality": st.sampled_from(("720p", "1080p", "4k", "")) | JSON,
    "option": st.sampled_from(("small", "large", "huge", "")) | JSON,
}
TYPED_LINES = st.fixed_dictionaries(  # the right types, values around the limits
    {"model": st.sampled_from(MODEL_IDS)},
    optional={"outputs": st.integers(-1, 6) | st.sampled_from((499, 500, 501)),
              "count": st.integers(0, 3) | st.sampled_from((10_000, 10_001, INT64)),
              "seconds": st.integers(0, 12) | st.sampled_from((600, 601)),
              "quality": st.sampled_from(("720p", "1080p", "4k")),
              "option": st.sampled_from(("small", "large", "huge"))},
)
LINES = st.fixed_dictionaries({}, optional=FIELDS) | st.fixed_dictionaries(
    {"model": st.sampled_from(MODEL_IDS)},
    optional={**{k: v for k, v in FIELDS.items() if k != "model"}, "extra": JSON},
) | TYPED_LINES
DOCUMENTS = (
    JSON
    | st.builds(lambda lines: {"lines": lines}, st.lists(LINES, max_size=6))
    | st.lists(LINES, min_size=1, max_size=4)
    | st.builds(lambda lines: {"lines": lines},
                st.lists(st.just({"model": "nano-banana-2"}), min_size=49, max_size=52))
    | st.dictionaries(st.sampled_from(("lines", "price_version", "project")), JSON, max_size=3)
)
TYPED_DOCUMENTS = st.builds(lambda lines: {"lines": lines},
                            st.lists(TYPED_LINES, min_size=1, max_size=5)) | DOCUMENTS
FUZZ = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def _is_valid_request(request: QuoteRequest) -> bool:
    def exact_int(value: Any) -> bool:
        return type(value) is int

    def text_or_none(value: Any) -> bool:
        return value is None or type(value) is str

    return 1 <= len(request.lines) <= limits.MAX_LINES_PER_REQUEST and all(
        isinstance(line, LineItem) and type(line.model_id) is str
        and 1 <= len(line.model_id) <= limits.MAX_ID_LENGTH
        and exact_int(line.outputs) and exact_int(line.count)
        and (line.seconds is None or exact_int(line.seconds))
        and text_or_none(line.quality) and text_or_none(line.option)
        for line in request.lines
    )


def _price(request: QuoteRequest) -> Quote | GencreditsError:
    try:
        return quote(request, CATALOG, issued_at=NOW)
    except GencreditsError as refusal:
        return refusal


@FUZZ
@given(document=DOCUMENTS)
def test_parser_returns_a_request_or_invalid_request(document: Any, figures: Figures) -> None:
    figures.add(inputs=1)
    try:
        request = parse_quote_request(document)
    except InvalidRequest as refusal:
        assert refusal.field, f"no field named for {document!r}"
        return
    except Exception as error:
        figures.anomaly(f"parse_quote_request({document!r:.200}) raised {error!r}")
        raise
    assert isinstance(request, QuoteRequest) and _is_valid_request(request), request


@FUZZ
@given(document=TYPED_DOCUMENTS)
def test_accepted_requests_price_or_refuse_cleanly(document: Any, figures: Figures) -> None:
    figures.add(inputs=1)
    try:
        request = parse_quote_request(document)
    except InvalidRequest:
        return
    try:
        first, second = _price(request), _price(request)
    except Exception as error:
        figures.anomaly(f"quote({request!r:.200}) raised {error!r}")
        raise
    if isinstance(first, GencreditsError):
        assert type(second) is type(first) and str(second) == str(first), (first, second)
        return
    assert isinstance(second, Quote)
    assert first.total_credits == second.total_credits and first.lines == second.lines
    assert type(first.total_credits) is int and 1 <= first.total_credits < INT64
    assert first.total_credits == sum(line.subtotal_credits for line in first.lines)
    assert all(line.subtotal_credits >= 1 for line in first.lines)
