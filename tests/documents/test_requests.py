"""The one line-item codec: what the client sends, a hold stores and a digest hashes."""

from __future__ import annotations

from gencredits.documents.requests import (
    LineItemIn,
    line_from_json,
    line_to_json,
    parse_quote_request,
    request_from_json,
    request_from_specs,
    request_to_json,
)
from gencredits.domain.pricing import LineItem, QuoteRequest

VIDEO = LineItem("veo-3", seconds=8, quality="1080p")
IMAGES = LineItem("flux-2-pro", outputs=4, count=3)


def test_a_line_leaves_out_the_options_it_does_not_set() -> None:
    assert line_to_json(IMAGES) == {"model": "flux-2-pro", "outputs": 4, "count": 3}
    assert line_to_json(VIDEO) == {
        "model": "veo-3", "outputs": 1, "count": 1, "seconds": 8, "quality": "1080p"
    }


def test_a_request_round_trips_through_its_json() -> None:
    request = QuoteRequest((IMAGES, VIDEO, LineItem("upscale", option="large")))
    assert request_from_json(request_to_json(request)) == request


def test_outputs_and_count_default_to_one() -> None:
    assert line_from_json({"model": "flux-2-pro"}) == LineItem("flux-2-pro")


def test_the_codec_reads_what_the_input_models_parse() -> None:
    document = request_to_json(QuoteRequest((IMAGES, VIDEO)))
    assert parse_quote_request({"lines": document}) == request_from_json(document)
    specs = [LineItemIn.model_validate(line) for line in document]
    assert request_from_specs(specs) == request_from_json(document)
