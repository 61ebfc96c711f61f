"""Input classes from the served OpenAPI document (SPEC section 7, "Bounds on every value").

For every operation of ``/openapi.json``, every path, query and body field whose schema is a
date-time, a decimal (number, or number-or-string), an integer or a string gets the extremes of
its class, one field at a time with the rest of the request valid: times in years 1 and 9999
with both extreme offsets, 1e999999, NaN, 2**53, 2**63, 2**64, formula prefixes, CR/LF, NUL.
Each answer must be below 500; a 400 or 422 must be a problem detail naming the field; any 4xx
must leave every table's row count as it was. Valid requests come from ``VALID``, one entry per
operation: an operation added without one fails the test, so new routes cannot slip past it.
The dashboard's history filters and the operator's catalog form get the same treatment.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from gencredits.store.engine import read_transaction
from gencredits.store.tables import metadata
from tests.reliability.harness import InThreadServer
from tests.reliability.openapi_fields import Browser, Schemas, with_value
from tests.reliability.tally import Figures

DATES = (
    "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-14:00",
    "0001-01-01", "9999-12-31", "1969-12-31T23:59:59Z",
)
DECIMALS = ("1e999999", "-1e999999", "1e-999999", "NaN", "Infinity", "-Infinity", "sNaN",
            str(2**53), str(2**63), str(2**64), "0." + "0" * 60 + "1", "9" * 60)
INTEGERS = (2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, -(2**53))
STRINGS = ('=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)",
           "\t=1+1", "a\rb", "a\r\nb", "a\x00b", "x" * 300)

# Not integers, though a lax parser makes them one: bodies are strict (a JSON document has
# numbers; a query string has only text, so these are for bodies).
COERCED: dict[str, tuple[Any, ...]] = {"integer": ("5", True, 5.0)}

CLASSES: dict[str, tuple[Any, ...]] = {
    "date-time": DATES, "decimal": DECIMALS, "integer": INTEGERS, "string": STRINGS,
}

# What reads the values operators and creators write: each must still answer after a write.
READS = ("/v1/catalog", "/v1/margins", "/v1/plans", "/v1/accounts/fuzz/report",
         "/v1/accounts/fuzz/entries", "/v1/accounts/sink/forecast")

LINE = {"model": "flux-2-pro", "outputs": 1}
ENTRY = {"name": "Probe", "kind": "image", "tier": "budget",
         "price": {"rule": "flat", "credits": "2"}, "max_outputs": 4, "provider_cost": "0.01",
         "strengths": ["draft"]}


def valid_requests(hold_id: int, entry_id: int) -> dict[str, dict[str, Any]]:
    """A valid request of every operation: path parameters, query and JSON body."""
    fuzz = {"account_id": "fuzz"}
    # Grants and adjustments of 2**53 - 1 are valid, and a few of them carry a balance past
    # what any other request on that account may read: they go to an account of their own.
    sink = {"account_id": "sink"}
    return {
        "POST /v1/accounts/{account_id}/charges": {"path": fuzz, "body": {"lines": [LINE]}},
        "POST /v1/accounts/{account_id}/holds": {"path": fuzz, "body": {"lines": [LINE]}},
        "GET /v1/holds/{hold_id}": {"path": {"hold_id": hold_id}},
        "POST /v1/holds/{hold_id}/capture": {"path": {"hold_id": hold_id}, "body": {}},
        "POST /v1/holds/{hold_id}/release": {"path": {"hold_id": hold_id}},
        "POST /v1/entries/{entry_id}/refund": {"path": {"entry_id": entry_id},
                                               "body": {"amount": 1}},
        "POST /v1/accounts/{account_id}/grants": {
            "path": sink, "body": {"amount": 5, "source": "promo"}},
        "POST /v1/accounts/{account_id}/adjustments": {
            "path": sink, "body": {"amount": 5, "reason": "probe"}},
        "POST /v1/transfers": {"body": {"from_account": "fuzz", "to_account": "other",
                                        "amount": 1}},
        "GET /v1/catalog": {},
        "GET /v1/catalog/{model_id}": {"path": {"model_id": "flux-2-pro"}},
        "PUT /v1/catalog/{model_id}": {"path": {"model_id": "probe-model"}, "body": ENTRY},
        "GET /v1/catalog-versions": {"query": {"limit": 5}},
        "POST /v1/quotes": {"body": {"lines": [LINE]}},
        "GET /v1/plans": {},
        "PUT /v1/plans/{plan_id}": {"path": {"plan_id": "probe-plan"}, "body": {
            "name": "Probe", "allowance_credits": 10, "period": "month", "price": "1.5"}},
        "POST /v1/accounts": {"body": {"name": "Probe", "plan": "pro"}},
        "GET /v1/accounts": {"query": {"limit": 5}},
        "GET /v1/accounts/{account_id}": {"path": fuzz},
        "POST /v1/accounts/{account_id}/members": {"path": {"account_id": "pool"},
                                                   "body": {"add": ["fuzz"]}},
        "PUT /v1/accounts/{account_id}/plan": {"path": fuzz, "body": {"plan": "pro"}},
        "PUT /v1/accounts/{account_id}/projects/{project}/cap": {
            "path": {"account_id": "fuzz", "project": "acme"}, "body": {"cap": 100}},
        "GET /v1/accounts/{account_id}/entries": {"path": fuzz, "query": {"limit": 5}},
        "GET /v1/entries/{entry_id}": {"path": {"entry_id": entry_id}},
        "GET /v1/events": {"query": {"limit": 5}},
        "GET /v1/webhooks": {},
        "POST /v1/webhooks": {"body": {"url": "https://example.com/hook"}},
        "DELETE /v1/webhooks/{webhook_id}": {"path": {"webhook_id": "wh_missing"}},
        "GET /healthz": {},
        "GET /readyz": {},
        "GET /metrics": {},
        "POST /v1/renewals": {},
        "GET /v1/verify": {},
        "GET /v1/keys": {},
        "POST /v1/keys": {"body": {"name": "probe", "account_id": "fuzz"}},
        "DELETE /v1/keys/{key_id}": {"path": {"key_id": "key_missing"}},
        "PUT /v1/settings/topups": {"body": {"enabled": False}},
        "POST /v1/estimates": {"body": {"lines": [LINE], "buffer_percent": "20",
                                        "account_id": "fuzz"}},
        "POST /v1/advice/drafts": {"body": {"draft_model": "nano-banana-2", "drafts": 2,
                                            "final_model": "flux-2-max", "finals": 1}},
        "POST /v1/advice/models": {"body": {"task": "vector", "max_credits_per_output": 10}},
        "GET /v1/accounts/{account_id}/advice/plan": {"path": fuzz},
        "GET /v1/accounts/{account_id}/forecast": {"path": fuzz},
        "GET /v1/accounts/{account_id}/cycles": {"path": fuzz, "query": {"cycles": 2}},
        "GET /v1/accounts/{account_id}/report": {"path": fuzz, "query": {"periods": 2}},
        "GET /v1/accounts/{account_id}/report.csv": {"path": fuzz, "query": {"periods": 2}},
        "GET /v1/margins": {"query": {"target_margin_percent": "30", "credit_value": "0.01"}},
    }


# --- the probe ------------------------------------------------------------------------------------


class Target:
    """A server with two accounts, a pool, one charge and one pending hold."""

    def __init__(self, server: InThreadServer) -> None:
        from gencredits import QuoteRequest

        self.server = server
        credits = server.credits
        credits.create_account("fuzz", name="Fuzz", plan="pro")
        credits.create_account("other", name="Other", plan="pro")
        credits.create_account("pool", name="Pool", plan="pro", kind="pool")
        credits.create_account("sink", name="Sink", plan="pro")
        self.entry_id = credits.charge(
            "fuzz", QuoteRequest.single("flux-2-pro", outputs=2), idempotency_key="setup").id
        self.hold_id = credits.hold(
            "fuzz", QuoteRequest.single("kling", outputs=1, seconds=4), idempotency_key="hold"
        ).id
        self.client = server.client()

    def counts(self) -> dict[str, int]:
        with read_transaction(self.server.credits.engine) as connection:
            return {table.name: int(connection.execute(
                select(func.count()).select_from(table)).scalar_one())
                for table in metadata.sorted_tables}

    def send(self, method: str, path: str, request: dict[str, Any]) -> httpx.Response:
        url = path.format(**{k: quote(str(v), safe="") for k, v in
                             request.get("path", {}).items()})
        options: dict[str, Any] = {"params": request.get("query") or None}
        if "body" in request:
            options["content"] = json.dumps(request["body"]).encode()
            options["headers"] = {"Content-Type": "application/json"}
        headers = {"Idempotency-Key": uuid.uuid4().hex, **options.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **options)


@pytest.fixture
def target(serve: Callable[..., InThreadServer]) -> Target:
    return Target(serve())


def names_the_field(response: httpx.Response, field: str) -> bool:
    try:
        problem = response.json()
    except ValueError:
        return False
    if not isinstance(problem, dict):
        return False
    named = f"{problem.get('field') or ''} {problem.get('detail') or ''}"
    return field in named


@dataclass(frozen=True)
class Case:
    """One request: a field of an operation set to one extreme, the rest valid."""

    name: str
    field: str
    method: str
    path: str
    request: dict[str, Any]
    must_refuse: bool = False  # a coerced value ("5", true, 5.0 for an integer)


def cases(target: Target, document: dict[str, Any]) -> Iterator[Case]:
    """Every extreme of every field of every operation."""
    schemas = Schemas(document)
    table = valid_requests(target.hold_id, target.entry_id)
    missing = [f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops
               if f"{m.upper()} {p}" not in table]
    assert not missing, f"operations without a valid request in VALID: {missing}"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            valid = table[key]
            for parameter in operation.get("parameters", []):
                where = {"path": "path", "query": "query"}.get(parameter["in"])
                kind = schemas.field_class(parameter["schema"])
                if where is None or kind is None:
                    continue
                for value in CLASSES[kind]:
                    request = json.loads(json.dumps(valid))
                    request.setdefault(where, {})[parameter["name"]] = value
                    yield Case(f"{key} {parameter['name']}={value!r}", parameter["name"],
                               method, path, request)
            body_schema = (operation.get("requestBody", {}).get("content", {})
                           .get("application/json", {}).get("schema"))
            if body_schema is None:
                continue
            for field_path, kind in schemas.body_fields(body_schema, valid.get("body", {})):
                field = ".".join(str(part) for part in field_path)
                tried = [(v, False) for v in CLASSES[kind]]
                for value, must_refuse in tried + [(v, True) for v in COERCED.get(kind, ())]:
                    request = dict(valid, body=with_value(valid.get("body", {}), field_path,
                                                          value))
                    yield Case(f"{key} {field}={value!r}", field, method, path, request,
                               must_refuse=must_refuse)


def test_every_field_of_every_operation_at_its_extremes(target: Target, figures: Figures) -> None:
    document = target.client.get("/openapi.json").json()
    before = target.counts()
    statuses: dict[int, int] = {}
    for case in cases(target, document):
        try:
            response = target.send(case.method.upper(), case.path, case.request)
        except httpx.TransportError as error:  # the server hung up: not an answer
            figures.anomaly(f"{case.name}: no HTTP answer ({error!r})")
            continue
        figures.add(inputs=1)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        after = judge(target, case, response, before, figures)
        before = after
    figures.note(f"statuses {dict(sorted(statuses.items()))}")
    figures.assert_clean()


def judge(target: Target, case: Case, response: httpx.Response, before: dict[str, int],
          figures: Figures) -> dict[str, int]:
    """Record what is wrong with ``response`` to ``case``; the row counts after it."""
    status = response.status_code
    if not figures.check(status < 500, f"{case.name}: {status} {response.text[:200]}"):
        return target.counts()
    if status < 300 and case.method != "get":
        figures.check(not case.must_refuse, f"{case.name}: coerced and accepted ({status})")
        # An accepted value must not break what reads it later (a provider cost of 1e999999
        # once made every margins page a 500).
        for read in READS:
            try:
                answered = target.client.get(read).status_code
            except httpx.TransportError:
                answered = 599  # the server hung up
            figures.check(answered < 500, f"{case.name}: then GET {read} answered {answered}")
    after = target.counts()
    if 400 <= status < 500:
        changed = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        figures.check(not changed, f"{case.name}: {status} yet wrote {changed}")
        figures.check(
            response.headers.get("content-type", "").startswith("application/problem+json"),
            f"{case.name}: {status} is not a problem detail: {response.text[:200]}")
    if status in (400, 422):
        named = next(p for p in reversed(case.field.split(".")) if not p.isdigit())
        figures.check(names_the_field(response, named),
                      f"{case.name}: {status} does not name {case.field}: {response.text[:200]}")
    return after


# --- the dashboard's query strings and forms ----------------------------------------------------


def test_dashboard_filters_and_forms_at_their_extremes(
    target: Target, figures: Figures
) -> None:
    browser = Browser(target.server)
    statuses: dict[int, int] = {}

    def check(name: str, response: httpx.Response, field: str, before: dict[str, int]) -> None:
        figures.add(inputs=1)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        figures.check(response.status_code < 500, f"{name}: {response.status_code}")
        if 400 <= response.status_code < 500:
            figures.check(target.counts() == before, f"{name}: wrote rows")
            figures.check(field.replace("_", " ").lower() in response.text.lower()
                          or field in response.text, f"{name}: the page does not name {field}")

    for field in ("since", "until"):
        for value in (*DATES, "0001-01-01T00:00", "9999-12-31T23:59:59.999999"):
            before = target.counts()
            response = browser.get("/app/history", account="fuzz", **{field: value})
            check(f"history {field}={value!r}", response, field, before)
    for value in DECIMALS:  # the estimator's buffer, a percentage
        before = target.counts()
        response = browser.get("/app/estimate", account="fuzz", buffer=value)
        check(f"estimate buffer={value!r}", response, "percentage", before)
    page = browser.get("/app/operator/catalog")
    csrf = browser.csrf(page.text)
    for field, values in (("price", DECIMALS), ("provider_cost", DECIMALS)):
        for value in values:
            before = target.counts()
            data = {"csrf_token": csrf, "price": "5", "provider_cost": "0.01", "active": "1",
                    field: value}
            response = browser.post("/app/operator/catalog/flux-2-pro", data)
            check(f"catalog form {field}={value!r}", response, field.split("_")[0], before)
    figures.note(f"statuses {dict(sorted(statuses.items()))}")
    figures.assert_clean()
