"""api/http.py, what the dashboard shares with the API: the NUL check every route runs first,
the name failed sign-ins are counted under, and the status a domain error answers."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gencredits.api.http import client_address, refuse_nul_characters, status_for
from gencredits.domain.errors import InsufficientCredits, InvalidRequest, NotFound


def request(query: bytes = b"", client: tuple[str, int] | None = ("10.0.0.7", 5000)) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                    "query_string": query, "path_params": {}, "client": client})


def test_a_nul_in_a_query_parameter_is_refused_naming_it() -> None:
    refuse_nul_characters(request(b"project=acme"))
    with pytest.raises(InvalidRequest) as refused:
        refuse_nul_characters(request(b"project=ac%00me"))
    assert refused.value.field == "project"


def test_failures_are_counted_by_address() -> None:
    assert client_address(request()) == "address:10.0.0.7"
    assert client_address(request(client=None)) == "address:unknown"


def test_a_domain_error_answers_the_api_status() -> None:
    assert status_for(NotFound("account", "nobody")) == 404
    assert status_for(InsufficientCredits(available=1, required=2)) == 402
