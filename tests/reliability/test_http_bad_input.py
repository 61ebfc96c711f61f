"""Bad input over HTTP (SPEC section 6): amounts of zero or less, non-integers, numbers above
2**63, 1 MB strings, JSON nested 10,000 deep, wrong content types, invalid UTF-8, malformed
JSON. Each must be answered 4xx, never 5xx, and write nothing (every table a mutation writes
keeps its row count). Hypothesis then throws arbitrary JSON at every mutating endpoint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.harness import InThreadServer
from tests.reliability.tally import Figures

MEGABYTE = 1024 * 1024
DEEP = 10_000
BIG = 2**63


class Target:
    """A server with an account (``fuzz``), one of its charges and one pending hold."""

    def __init__(self, server: InThreadServer) -> None:
        self.server = server
        credits = server.credits
        credits.create_account("fuzz", name="Fuzz", plan="pro")
        credits.create_account("other", name="Other", plan="pro")
        self.charge_id = credits.charge(
            "fuzz", _request("flux-2-pro", 2), idempotency_key="setup-charge").id
        self.hold_id = credits.hold("fuzz", _request("kling", 1, seconds=4),
                                    idempotency_key="setup-hold").id
        self.client = server.client()

    def paths(self) -> dict[str, str]:
        return {
            "charge": "/v1/accounts/fuzz/charges",
            "hold": "/v1/accounts/fuzz/holds",
            "quote": "/v1/quotes",
            "grant": "/v1/accounts/fuzz/grants",
            "adjust": "/v1/accounts/fuzz/adjustments",
            "transfer": "/v1/transfers",
            "capture": f"/v1/holds/{self.hold_id}/capture",
            "refund": f"/v1/entries/{self.charge_id}/refund",
            "account": "/v1/accounts",
            "plan": "/v1/accounts/fuzz/plan",
        }

    def send(self, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {"Idempotency-Key": uuid.uuid4().hex, **options.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **options)


def _request(model: str, outputs: int, **options: Any) -> Any:
    from gencredits import QuoteRequest

    return QuoteRequest.single(model, outputs=outputs, **options)


@pytest.fixture
def target(serve: Callable[..., InThreadServer]) -> Target:
    return Target(serve())


def _line(**fields: Any) -> dict[str, Any]:
    return {"lines": [{"model": "flux-2-pro", **fields}]}


def _cases(target: Target) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, method, path, httpx options) of every bad request."""
    p = target.paths()
    cases: list[tuple[str, str, str, dict[str, Any]]] = []

    def add(name: str, path: str, method: str = "POST", **options: Any) -> None:
        cases.append((name, method, path, options))

    # Amounts of zero or less.
    for value in (0, -1, -BIG):
        add(f"outputs {value}", p["charge"], json=_line(outputs=value))
        add(f"count {value}", p["charge"], json=_line(count=value))
        add(f"hold outputs {value}", p["hold"], json=_line(outputs=value))
        add(f"grant {value}", p["grant"], json={"amount": value, "source": "promo"})
        add(f"transfer {value}", p["transfer"],
            json={"from_account": "fuzz", "to_account": "other", "amount": value})
        add(f"refund {value}", p["refund"], json={"amount": value})
        add(f"video seconds {value}", p["charge"],
            json={"lines": [{"model": "kling", "seconds": value}]})
        add(f"ttl {value}", p["hold"], json={**_line(), "ttl_seconds": value})
    add("capture -1", p["capture"], json={"amount": -1})
    add("adjust 0", p["adjust"], json={"amount": 0, "reason": "zero"})
    # Not integers.
    for value in (1.5, 4.0, "4", True, None, [], {}, "1e3"):
        add(f"outputs {value!r}", p["charge"], json=_line(outputs=value))
        add(f"count {value!r}", p["hold"], json=_line(count=value))
        add(f"grant {value!r}", p["grant"], json={"amount": value, "source": "promo"})
        if value is not None:  # a null capture amount means "all of it"
            add(f"capture {value!r}", p["capture"], json={"amount": value})
    for raw in (b'{"lines":[{"model":"flux-2-pro","outputs":NaN}]}',
                b'{"lines":[{"model":"flux-2-pro","outputs":Infinity}]}',
                b'{"lines":[{"model":"flux-2-pro","outputs":-Infinity}]}',
                b'{"lines":[{"model":"flux-2-pro","outputs":1e400}]}',
                b'{"amount":1E2,"source":"promo"}'):
        add(f"raw {raw[-30:]!r}", p["grant"] if b"amount" in raw else p["charge"],
            content=raw, headers={"Content-Type": "application/json"})
    # Above 2**63 (and far above: a 5,000-digit number is past Python's int parsing limit).
    for value in (BIG - 1, BIG, 2**64, 10**30, -(BIG + 1)):
        add(f"outputs {value}", p["charge"], json=_line(outputs=value))
        add(f"count {value}", p["charge"], json=_line(count=value))
        add(f"grant {value}", p["grant"], json={"amount": value, "source": "promo"})
        add(f"transfer {value}", p["transfer"],
            json={"from_account": "fuzz", "to_account": "other", "amount": value})
        add(f"capture {value}", p["capture"], json={"amount": value})
        add(f"adjust {value}", p["adjust"], json={"amount": value, "reason": "huge"})
        add(f"price_version {value}", p["charge"], json={**_line(), "price_version": value})
    # A price version not yet published, at the top of a 32-bit column: found by the stateful
    # Schemathesis run as a 500 on PostgreSQL (the next version, 2**31, was looked up).
    for value in (2**31 - 1, 2**31, 99):
        for endpoint in ("charge", "hold", "quote"):
            add(f"{endpoint} price_version {value}", p[endpoint],
                json={**_line(), "price_version": value})
    for digits in (20, 4_300, 5_000, 60_000):
        number = b"9" * digits
        add(f"{digits}-digit outputs", p["charge"],
            content=b'{"lines":[{"model":"flux-2-pro","outputs":' + number + b"}]}",
            headers={"Content-Type": "application/json"})
        add(f"{digits}-digit grant", p["grant"],
            content=b'{"source":"promo","amount":' + number + b"}",
            headers={"Content-Type": "application/json"})
    add("limit 2**64", "/v1/accounts/fuzz/entries", "GET", params={"limit": str(2**64)})
    add("cursor 2**64", "/v1/accounts/fuzz/entries", "GET", params={"cursor": str(2**64)})
    add("hold id 2**64", f"/v1/holds/{2**64}/capture", json={})
    add("entry id 2**64", f"/v1/entries/{2**64}", "GET")
    # Huge strings: a 1 MB field (over the body limit) and 60 KB ones (under it).
    huge, large = "x" * MEGABYTE, "x" * 60_000
    add("1 MB model", p["charge"], json={"lines": [{"model": huge}]})
    add("1 MB project", p["charge"], json={**_line(), "project": huge})
    add("60 KB model", p["charge"], json={"lines": [{"model": large}]})
    add("60 KB project", p["charge"], json={**_line(), "project": large})
    add("60 KB job_ref", p["hold"], json={**_line(), "job_ref": large})
    add("60 KB reason", p["grant"], json={"amount": 1, "source": "promo", "reason": large})
    add("60 KB account id", p["account"], json={"id": large, "name": "x"})
    add("60 KB quality", p["charge"], json={"lines": [{"model": "veo-3", "seconds": 5,
                                                       "quality": large}]})
    add("1 MB idempotency key", p["charge"], json=_line(), headers={"Idempotency-Key": huge})
    add("8 KB idempotency key", p["charge"], json=_line(), headers={"Idempotency-Key": "k" * 8192})
    add("1 MB bearer", p["charge"], json=_line(), headers={"Authorization": "Bearer " + huge})
    add("60 KB query", "/v1/accounts/fuzz/entries", "GET", params={"model": large})
    add("60 KB path", f"/v1/accounts/{large}/charges", json=_line())
    # Deep JSON.
    for name, raw in (
        ("10,000 nested lists", "[" * DEEP + "]" * DEEP),
        ("10,000 nested objects", '{"a":' * DEEP + "1" + "}" * DEEP),
        ("lines nested 10,000", '{"lines":' + "[" * DEEP + "]" * DEEP + "}"),
        ("model nested 10,000", '{"lines":[{"model":' + "[" * DEEP + "]" * DEEP + "}]}"),
        ("unclosed 10,000", "[" * DEEP),
    ):
        add(name, p["charge"], content=raw.encode(), headers={"Content-Type": "application/json"})
        add(f"{name} (quote)", p["quote"], content=raw.encode(),
            headers={"Content-Type": "application/json"})
    # Wrong content types (the body is valid JSON: only the type is wrong). A ``+json`` type
    # such as application/merge-patch+json is JSON, and is accepted.
    valid = json.dumps(_line()).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
                         "multipart/form-data; boundary=x", "application/octet-stream",
                         "image/png", "json", ""):
        add(f"content-type {content_type!r}", p["charge"], content=valid,
            headers={"Content-Type": content_type})
    add("form fields", p["charge"], data={"lines": "flux-2-pro"})
    add("multipart file", p["charge"], files={"lines": ("a.json", valid, "application/json")})
    # Invalid UTF-8 and other malformed bodies.
    for name, raw in (
        ("invalid UTF-8 in a string", b'{"lines":[{"model":"flux-\xff\xfe-pro"}]}'),
        ("invalid UTF-8 alone", b"\xff\xfe\xfd"),
        ("lone surrogate escape", b'{"lines":[{"model":"\\ud800"}]}'),
        ("NUL in a string", b'{"lines":[{"model":"flux\\u0000pro"}]}'),
        ("truncated", valid[:-3]),
        ("trailing garbage", valid + b"xyz"),
        ("two documents", valid + valid),
        ("empty", b""),
        ("null", b"null"),
        ("a number", b"42"),
        ("a string", b'"lines"'),
        ("a list of lines", b'[{"model":"flux-2-pro"}]'),
        ("duplicate keys", b'{"lines":[{"model":"flux-2-pro","outputs":1,"outputs":"x"}]}'),
        ("unknown field", json.dumps({**_line(), "balance": 10**6}).encode()),
    ):
        add(name, p["charge"], content=raw, headers={"Content-Type": "application/json"})
    add("invalid UTF-8 grant reason", p["grant"],
        content=b'{"amount":5,"source":"promo","reason":"\xc3\x28"}',
        headers={"Content-Type": "application/json"})
    add("invalid UTF-8 in the path", "/v1/accounts/%FF%FE/charges", json=_line())
    add("invalid UTF-8 in a number query", "/v1/accounts/fuzz/entries?limit=%FF%FE", "GET")
    add("invalid UTF-8 in the bearer", p["charge"], json=_line(),
        headers={"Authorization": b"Bearer \xff\xfe"})
    # Not refused, and rightly: JSON sent as UTF-16 with a BOM (json.loads detects it), a
    # header's bytes 0x80-0xFF (HTTP field values are opaque bytes, read as Latin-1: a key
    # "\xff\xfe" is just a key) and a filter of %FF%FE (decoded with replacement characters:
    # it matches nothing). They are left out here.
    add("control characters in the key", p["charge"], json=_line(),
        headers={"Idempotency-Key": "a\tb"})
    return cases


def test_bad_input_is_refused_with_4xx_and_writes_nothing(target: Target, figures: Figures) -> None:
    before = target.server.counts()
    answers: dict[int, int] = {}
    for name, method, path, options in _cases(target):
        try:
            response = target.send(method, path, **options)
        except httpx.RemoteProtocolError as error:  # the server hung up: not an answer
            figures.anomaly(f"{name}: no HTTP answer ({error})")
            continue
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        figures.add(inputs=1)
        figures.check(400 <= response.status_code < 500,
                      f"{name}: answered {response.status_code}: {response.text[:200]}")
        after = target.server.counts()
        figures.check(after == before, f"{name}: wrote {_diff(before, after)}")
        before = after
    figures.note(f"statuses {dict(sorted(answers.items()))}")
    figures.assert_clean()


def _diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before if after[k] != before[k]}


# --- Hypothesis: arbitrary JSON at every mutating endpoint ------------------------------------

SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = ("model", "outputs", "count", "seconds", "quality", "option", "lines", "amount",
               "source", "reason", "from_account", "to_account", "ttl_seconds", "project",
               "job_ref", "price_version", "outputs_delivered", "balance", "owner", "plan")
NEAR = st.dictionaries(st.sampled_from(FIELD_NAMES), JSON | st.sampled_from(
    ("flux-2-pro", "kling", "promo", "fuzz", "other", "pro", 0, -1, 1, 4, 2**63, 1.5)
), max_size=5)
BODIES = JSON | NEAR | st.builds(lambda lines: {"lines": lines}, st.lists(NEAR, max_size=3))
ENDPOINTS = ("charge", "hold", "quote", "grant", "adjust", "transfer", "capture", "refund",
             "account", "plan")


def test_arbitrary_json_never_gets_a_5xx(target: Target, figures: Figures) -> None:
    paths = target.paths()
    statuses: dict[int, int] = {}

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(endpoint=st.sampled_from(ENDPOINTS), body=BODIES)
    def probe(endpoint: str, body: Any) -> None:
        before = target.server.counts()
        method = "PUT" if endpoint == "plan" else "POST"
        response = target.send(method, paths[endpoint], json=body)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        figures.add(inputs=1)
        assert response.status_code < 500, (endpoint, body, response.text[:300])
        if response.status_code >= 400:
            after = target.server.counts()
            assert after == before, (endpoint, body, response.status_code, _diff(before, after))

    try:
        probe()
    except AssertionError as error:
        figures.anomaly(f"arbitrary JSON: {error}")
        raise
    figures.note(f"statuses {dict(sorted(statuses.items()))}")
