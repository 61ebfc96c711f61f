"""The client's plumbing: one ``httpx.Client`` with the API key, requests that carry an
``Idempotency-Key`` when they mutate, problems raised as the library's errors (through
:mod:`gencredits.client_errors`), and the small conversions of values to the API's JSON.

:class:`gencredits.client.Client` adds the calls, one method per operation of the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote as percent_encode

import httpx

from gencredits.client_errors import raise_for_problem
from gencredits.documents.requests import line_to_json
from gencredits.domain.pricing import LineItem, QuoteRequest

Lines = QuoteRequest | Sequence[Mapping[str, Any] | LineItem]
JSON = dict[str, Any]


# --- values to JSON ----------------------------------------------------------------------------


def lines_document(lines: Lines) -> list[JSON]:
    """Request lines as the API's JSON (plain dicts are sent as they are)."""
    items: Iterable[Mapping[str, Any] | LineItem]
    items = lines.lines if isinstance(lines, QuoteRequest) else lines
    return [line_to_json(item) if isinstance(item, LineItem) else dict(item) for item in items]


def without_none(document: Mapping[str, Any]) -> JSON:
    return {key: value for key, value in document.items() if value is not None}


def iso_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def amount_of(amount: int | None, amount_credits: int | None) -> int | None:
    if amount is not None and amount_credits is not None:
        raise TypeError("pass amount or amount_credits, not both")
    return amount if amount is not None else amount_credits


def segment(text: str) -> str:
    """One path segment, percent-encoded (an id with ``/`` or ``?`` stays one segment)."""
    return percent_encode(str(text), safe="")


# --- the connection ---------------------------------------------------------------------------


class HttpConnection:
    """A gencredits server's HTTP API, with one key. Thread-safe as httpx.Client is."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        mutation: bool = False,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {}
        if mutation:
            key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
            headers["Idempotency-Key"] = key
        response = self._http.request(
            method, path, json=None if body is None else dict(body), params=params,
            headers=headers,
        )
        raise_for_problem(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _mutate(
        self, path: str, body: Mapping[str, Any] | None, idempotency_key: str | None,
        decode: Callable[[dict[str, Any]], Any], *, method: str = "POST",
    ) -> Any:
        data = self._call(method, path, body=body, mutation=True,
                          idempotency_key=idempotency_key)
        return decode(data)

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
