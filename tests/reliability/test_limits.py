"""Every bound, tested at its edge (SPEC: "bounded everything"; domain/limits.py says why each
value): page size, body size, lines per request, count per line, idempotency key length and
open holds per account. At the bound the request is served; one past it is refused with a 4xx
problem naming the field, and nothing is written.

tests/api/ already covers 413 for a body far over 64 KiB and ``limit=0``; here are the exact
edges, the same bounds in the library, and the open-hold bound (lowered for the test).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gencredits import InvalidRequest, OutOfRange, QuoteRequest
from gencredits.api.observability import MAX_BODY_BYTES
from gencredits.domain import limits
from tests.reliability.harness import InThreadServer
from tests.reliability.tally import Figures

LINE = {"model": "nano-banana-2"}


@pytest.fixture
def server(serve: Callable[..., InThreadServer]) -> InThreadServer:
    live = serve()
    live.credits.create_account("ana", name="Ana", plan="ultra")
    return live


def _post(client: httpx.Client, path: str, **options: Any) -> httpx.Response:
    headers = {"Idempotency-Key": uuid.uuid4().hex, **options.pop("headers", {})}
    return client.post(path, headers=headers, **options)


def _refused(response: httpx.Response, status: int, field: str | None, figures: Figures,
             what: str) -> None:
    figures.add(inputs=1)
    ok = response.status_code == status and (
        field is None or response.json().get("field") == field)
    figures.check(ok, f"{what}: expected {status} on {field}, got {response.status_code} "
                      f"{response.text[:200]}")


def _served(response: httpx.Response, status: int, figures: Figures, what: str) -> None:
    figures.add(inputs=1)
    figures.check(response.status_code == status,
                  f"{what}: expected {status}, got {response.status_code} {response.text[:200]}")


def test_page_size(server: InThreadServer, figures: Figures) -> None:
    api = server.client()
    top = limits.MAX_PAGE_SIZE
    for path in ("/v1/accounts", "/v1/accounts/ana/entries", "/v1/events"):
        _served(api.get(path, params={"limit": top}), 200, figures, f"{path} limit {top}")
        _refused(api.get(path, params={"limit": top + 1}), 422, "limit", figures,
                 f"{path} limit {top + 1}")
    with pytest.raises(InvalidRequest):
        server.credits.history("ana", limit=top + 1)
    assert server.credits.accounts(limit=top) is not None
    figures.assert_clean()


def test_body_size_at_the_byte(server: InThreadServer, figures: Figures) -> None:
    """A body of exactly 64 KiB is read (and refused for its content, 422); one byte more is
    413 before it is read, whether its length is declared or streamed."""
    api = server.client()
    before = server.counts()
    for size, status in ((MAX_BODY_BYTES, 422), (MAX_BODY_BYTES + 1, 413)):
        prefix = b'{"lines":[{"model":"nano-banana-2"}],"job_ref":"'
        body = prefix + b"x" * (size - len(prefix) - 2) + b'"}'
        assert len(body) == size
        headers = {"Content-Type": "application/json"}
        _refused(_post(api, "/v1/accounts/ana/charges", content=body, headers=headers), status,
                 "job_ref" if status == 422 else "body", figures, f"{size} bytes declared")

        def stream(data: bytes = body) -> Any:
            for start in range(0, len(data), 1000):
                yield data[start:start + 1000]

        _refused(_post(api, "/v1/accounts/ana/charges", content=stream(), headers=headers),
                 status, None, figures, f"{size} bytes streamed")
    figures.check(server.counts() == before, "an oversized body wrote something")
    figures.assert_clean()


def test_lines_per_request_and_count_per_line(server: InThreadServer, figures: Figures) -> None:
    api = server.client()
    top, count = limits.MAX_LINES_PER_REQUEST, limits.MAX_COUNT_PER_LINE
    before = server.counts()
    for path in ("/v1/quotes", "/v1/accounts/ana/charges", "/v1/accounts/ana/holds"):
        _refused(_post(api, path, json={"lines": [LINE] * (top + 1)}), 422, "lines", figures,
                 f"{path}: {top + 1} lines")
        _refused(_post(api, path, json={"lines": [{**LINE, "count": count + 1}]}), 422,
                 "lines.0.count", figures, f"{path}: count {count + 1}")
    figures.check(server.counts() == before, "a refused request wrote something")
    _served(_post(api, "/v1/quotes", json={"lines": [LINE] * top}), 200, figures,
            f"{top} lines")
    _served(_post(api, "/v1/quotes", json={"lines": [{**LINE, "count": count}]}), 200,
            figures, f"count {count}")
    # The library keeps the same bounds for callers that bypass the API.
    with pytest.raises(OutOfRange):
        server.credits.quote(QuoteRequest.single("nano-banana-2", count=count + 1))
    with pytest.raises(OutOfRange):
        server.credits.quote(QuoteRequest(QuoteRequest.single("nano-banana-2").lines * (top + 1)))
    figures.assert_clean()


def test_idempotency_key_length(server: InThreadServer, figures: Figures) -> None:
    api = server.client()
    top = limits.MAX_IDEMPOTENCY_KEY_LENGTH
    body = {"lines": [LINE]}
    _served(_post(api, "/v1/accounts/ana/charges", json=body,
                  headers={"Idempotency-Key": "k" * top}), 201, figures, f"a {top}-char key")
    before = server.counts()
    refused = _post(api, "/v1/accounts/ana/charges", json=body,
                    headers={"Idempotency-Key": "k" * (top + 1)})
    _refused(refused, 422, None, figures, f"a {top + 1}-char key")
    figures.check(server.counts() == before, "a refused key wrote something")
    with pytest.raises(InvalidRequest):
        server.credits.charge("ana", QuoteRequest.single("nano-banana-2"),
                              idempotency_key="k" * (top + 1))
    figures.assert_clean()


def test_open_holds_per_account(
    server: InThreadServer, figures: Figures, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the bound lowered to 3: three holds are taken, the fourth is refused (4xx, nothing
    written), and settling or expiring one makes room again. Another account is unaffected."""
    monkeypatch.setattr(limits, "MAX_OPEN_HOLDS", 3)
    server.credits.create_account("bob", name="Bob", plan="pro")
    api = server.client()
    body = {"lines": [LINE], "ttl_seconds": 60}
    held = []
    for _ in range(3):
        response = _post(api, "/v1/accounts/ana/holds", json=body)
        _served(response, 201, figures, "a hold within the bound")
        held.append(response.json()["id"])
    before = server.counts()
    refused = _post(api, "/v1/accounts/ana/holds", json=body)
    figures.add(inputs=1)
    figures.check(400 <= refused.status_code < 500, f"a 4th hold: {refused.status_code}")
    figures.check(server.counts() == before, "a refused hold wrote something")
    _served(_post(api, "/v1/accounts/bob/holds", json=body), 201, figures, "another account")
    with pytest.raises(InvalidRequest):
        server.credits.hold("ana", QuoteRequest.single("nano-banana-2"))

    _served(_post(api, f"/v1/holds/{held[0]}/release"), 200, figures, "release one")
    _served(_post(api, "/v1/accounts/ana/holds", json=body), 201, figures, "room again")
    _refused(_post(api, "/v1/accounts/ana/holds", json=body), 422, None, figures, "full again")
    server.clock.advance(seconds=61)  # every hold expires: all the room comes back
    for _ in range(3):
        _served(_post(api, "/v1/accounts/ana/holds", json=body), 201, figures, "after expiry")
    figures.check(server.credits.account("ana").active_holds == 3, "three open holds")
    report = server.credits.verify()
    figures.check(report.ok, f"verify: {report.differences}")
    figures.assert_clean()

