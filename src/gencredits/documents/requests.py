"""Request documents: the one codec of request lines, and the input models that parse them.

A line's JSON is ``{"model": ..., "outputs": ..., "count": ..., "seconds": ..., "quality": ...,
"option": ...}`` with absent options left out. ``line_to_json`` / ``request_to_json`` write it
(the client's bodies, a hold's stored request, an idempotency payload and its digest);
``line_from_json`` / ``request_from_json`` read back what was written (trusted: stored rows);
``request_from_specs`` turns parsed input models into a request. Untrusted documents (JSON
bodies, YAML/JSON files) go through the Pydantic models below, which the API and the CLI
share: unknown fields refused and numbers strict (``"4"`` and ``4.0`` are not counts). A
validation failure becomes :class:`InvalidRequest` naming the field as a dotted path
(``lines.2.outputs``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from gencredits.documents.catalog import parse_yaml
from gencredits.domain import limits
from gencredits.domain.errors import CatalogInvalid, InvalidRequest
from gencredits.domain.pricing import LineItem, QuoteRequest

# --- the line-item codec ----------------------------------------------------------------------


def line_to_json(line: LineItem) -> dict[str, Any]:
    """A line as its JSON document, options that are not set left out."""
    return {
        key: value
        for key, value in (
            ("model", line.model_id),
            ("outputs", line.outputs),
            ("count", line.count),
            ("seconds", line.seconds),
            ("quality", line.quality),
            ("option", line.option),
        )
        if value is not None
    }


def line_from_json(document: Mapping[str, Any]) -> LineItem:
    """The line ``line_to_json`` wrote (``outputs`` and ``count`` default to 1)."""
    return LineItem(
        model_id=document["model"],
        outputs=document.get("outputs", 1),
        count=document.get("count", 1),
        seconds=document.get("seconds"),
        quality=document.get("quality"),
        option=document.get("option"),
    )


def request_to_json(request: QuoteRequest) -> list[dict[str, Any]]:
    return [line_to_json(line) for line in request.lines]


def request_from_json(lines: Iterable[Mapping[str, Any]]) -> QuoteRequest:
    return QuoteRequest(tuple(line_from_json(line) for line in lines))


def request_from_specs(specs: Iterable[LineItemIn]) -> QuoteRequest:
    """A request from lines an input model has already validated."""
    return QuoteRequest(tuple(spec.to_domain() for spec in specs))


# --- input models -----------------------------------------------------------------------------


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineItemIn(StrictModel):
    """One line of a quote, estimate, charge or hold."""

    model: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH, examples=["flux-2-pro"])
    outputs: StrictInt = Field(
        default=1, description="Outputs per request (images per prompt, or items in an edit batch)."
    )
    count: StrictInt = Field(default=1, description="How many such requests; no discount.")
    seconds: StrictInt | None = Field(default=None, description="Video duration in seconds.")
    quality: str | None = Field(default=None, max_length=32, examples=["1080p"])
    option: str | None = Field(default=None, max_length=32, examples=["large"])

    def to_domain(self) -> LineItem:
        return LineItem(
            model_id=self.model,
            outputs=self.outputs,
            count=self.count,
            seconds=self.seconds,
            quality=self.quality,
            option=self.option,
        )


class QuoteRequestIn(StrictModel):
    lines: list[LineItemIn] = Field(min_length=1, max_length=limits.MAX_LINES_PER_REQUEST)

    def to_domain(self) -> QuoteRequest:
        return request_from_specs(self.lines)


def validation_error_to_invalid(error: ValidationError) -> InvalidRequest:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidRequest(f"{field}: {first['msg']}", field=field)


def parse_quote_request(document: Any) -> QuoteRequest:
    """A ``{"lines": [...]}`` document (or a bare list of lines) as a QuoteRequest."""
    if isinstance(document, list):
        document = {"lines": document}
    try:
        return QuoteRequestIn.model_validate(document).to_domain()
    except ValidationError as error:
        raise validation_error_to_invalid(error) from None


def read_document_file(path: Path) -> Any:
    """Read a YAML or JSON file (by extension; YAML otherwise) for a request document."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidRequest(f"cannot read {path}: {error.strerror}", field="file") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidRequest(f"{path} is not valid JSON: {error}", field="file") from None
    try:
        return parse_yaml(text, source=str(path))
    except CatalogInvalid as error:
        raise InvalidRequest(error.message, field="file") from None
