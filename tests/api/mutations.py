"""Every mutating operation the API serves, with a valid request and another request under
the same key for each: the table the idempotency tests walk (tests/api and
tests/reliability/test_idempotency_multi_worker.py).

:data:`REQUESTS` is keyed by the OpenAPI document's (method, path template); a new POST, PUT,
PATCH or DELETE without a row here (or a reason in :data:`READ_ONLY`) fails
``test_every_mutating_operation_has_a_case``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine, inspect, text

from tests.api.support import FLUX_4, idem, open_account

MUTATING = ("post", "put", "patch", "delete")

# POSTs that change nothing: their body is a question, not an order.
READ_ONLY = {
    ("POST", "/v1/quotes"): "prices a request; writes nothing",
    ("POST", "/v1/estimates"): "estimates a project against a balance; writes nothing",
    ("POST", "/v1/advice/drafts"): "compares draft and final plans; writes nothing",
    ("POST", "/v1/advice/models"): "ranks models for a task; writes nothing",
}

Ids = dict[str, Any]
# A request: method, path, JSON body (None for none).
Call = tuple[str, str, Any]
# The first request and another one under the same key (None: the operation has no payload
# to vary, so no other request can share its key).
Case = Callable[[Ids], tuple[Call, Call | None]]


def _catalog_entry(api: httpx.Client, name: str) -> dict[str, Any]:
    entry = api.get("/v1/catalog/flux-2-pro").json()
    for shown in ("credits", "price_version", "id"):
        entry.pop(shown, None)
    return entry | {"name": name}


def _plan(api: httpx.Client, allowance: int) -> dict[str, Any]:
    pro = next(plan for plan in api.get("/v1/plans").json() if plan["id"] == "pro")
    pro.pop("id")
    return pro | {"allowance_credits": allowance}


REQUESTS: dict[tuple[str, str], Case] = {
    ("POST", "/v1/accounts"): lambda ids: (
        ("POST", "/v1/accounts", {"id": ids["new"], "name": "Cy", "plan": "pro"}),
        ("POST", "/v1/accounts", {"id": ids["new"], "name": "Cy", "plan": "ultra"})),
    ("POST", "/v1/accounts/{account_id}/members"): lambda ids: (
        ("POST", f"/v1/accounts/{ids['a']}/members", {"add": ["m1"]}),
        ("POST", f"/v1/accounts/{ids['a']}/members", {"add": ["m2"]})),
    ("PUT", "/v1/accounts/{account_id}/plan"): lambda ids: (
        ("PUT", f"/v1/accounts/{ids['a']}/plan", {"plan": "ultra"}),
        ("PUT", f"/v1/accounts/{ids['a']}/plan", {"plan": "free"})),
    ("PUT", "/v1/accounts/{account_id}/projects/{project}/cap"): lambda ids: (
        ("PUT", f"/v1/accounts/{ids['a']}/projects/acme/cap", {"cap": 100}),
        ("PUT", f"/v1/accounts/{ids['a']}/projects/acme/cap", {"cap": 101})),
    ("POST", "/v1/accounts/{account_id}/charges"): lambda ids: (
        ("POST", f"/v1/accounts/{ids['a']}/charges", FLUX_4),
        ("POST", f"/v1/accounts/{ids['a']}/charges", FLUX_4 | {"project": "acme"})),
    ("POST", "/v1/accounts/{account_id}/holds"): lambda ids: (
        ("POST", f"/v1/accounts/{ids['a']}/holds", FLUX_4),
        ("POST", f"/v1/accounts/{ids['a']}/holds", FLUX_4 | {"ttl_seconds": 60})),
    ("POST", "/v1/holds/{hold_id}/capture"): lambda ids: (
        ("POST", f"/v1/holds/{ids['hold']}/capture", {"amount": 10}),
        ("POST", f"/v1/holds/{ids['hold']}/capture", {"amount": 11})),
    ("POST", "/v1/holds/{hold_id}/release"): lambda ids: (
        ("POST", f"/v1/holds/{ids['hold']}/release", None),
        ("POST", f"/v1/holds/{ids['other_hold']}/release", None)),
    ("POST", "/v1/entries/{entry_id}/refund"): lambda ids: (
        ("POST", f"/v1/entries/{ids['charge']}/refund", {"amount": 3}),
        ("POST", f"/v1/entries/{ids['charge']}/refund", {"amount": 4})),
    ("POST", "/v1/accounts/{account_id}/grants"): lambda ids: (
        ("POST", f"/v1/accounts/{ids['a']}/grants", {"amount": 50, "source": "promo"}),
        ("POST", f"/v1/accounts/{ids['a']}/grants", {"amount": 51, "source": "promo"})),
    ("POST", "/v1/accounts/{account_id}/adjustments"): lambda ids: (
        ("POST", f"/v1/accounts/{ids['a']}/adjustments", {"amount": -5, "reason": "typo"}),
        ("POST", f"/v1/accounts/{ids['a']}/adjustments", {"amount": -6, "reason": "typo"})),
    ("POST", "/v1/transfers"): lambda ids: (
        ("POST", "/v1/transfers", {"from_account": ids["a"], "to_account": ids["b"], "amount": 7}),
        ("POST", "/v1/transfers", {"from_account": ids["a"], "to_account": ids["b"], "amount": 8})),
    # The sweep takes no payload: nothing can be sent under its key but the sweep itself.
    ("POST", "/v1/renewals"): lambda ids: (("POST", "/v1/renewals", None), None),
    ("POST", "/v1/keys"): lambda ids: (
        ("POST", "/v1/keys", {"name": "ci", "account_id": ids["a"]}),
        ("POST", "/v1/keys", {"name": "ci2", "account_id": ids["a"]})),
    ("DELETE", "/v1/keys/{key_id}"): lambda ids: (
        ("DELETE", f"/v1/keys/{ids['key']}", None),
        ("DELETE", f"/v1/keys/{ids['other_key']}", None)),
    ("PUT", "/v1/settings/topups"): lambda ids: (
        ("PUT", "/v1/settings/topups", {"enabled": True}),
        ("PUT", "/v1/settings/topups", {"enabled": False})),
    ("PUT", "/v1/catalog/{model_id}"): lambda ids: (
        ("PUT", "/v1/catalog/flux-2-pro", ids["entry"]),
        ("PUT", "/v1/catalog/flux-2-pro", ids["entry"] | {"name": "Other"})),
    ("PUT", "/v1/plans/{plan_id}"): lambda ids: (
        ("PUT", f"/v1/plans/{ids['plan']}", ids["plan_body"]),
        ("PUT", f"/v1/plans/{ids['plan']}", ids["plan_body"] | {"allowance_credits": 777})),
    ("POST", "/v1/webhooks"): lambda ids: (
        ("POST", "/v1/webhooks", {"url": "https://example.com/a"}),
        ("POST", "/v1/webhooks", {"url": "https://example.com/b"})),
    ("DELETE", "/v1/webhooks/{webhook_id}"): lambda ids: (
        ("DELETE", f"/v1/webhooks/{ids['webhook']}", None),
        ("DELETE", f"/v1/webhooks/{ids['other_webhook']}", None)),
}


def mutating_operations(api: httpx.Client) -> dict[tuple[str, str], dict[str, Any]]:
    document = api.get("/openapi.json").json()
    return {
        (method.upper(), path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in MUTATING
    }


def prepare(api: httpx.Client, name: str) -> Ids:
    """Fresh things for one case to act on: two accounts, two holds, a charge, two keys, two
    webhooks, a catalog entry and a plan body that differ from what is stored."""
    a, b = f"{name}-a", f"{name}-b"
    open_account(api, a)
    open_account(api, b)
    holds = [api.post(f"/v1/accounts/{a}/holds", json=FLUX_4, headers=idem()).json()["id"]
             for _ in range(2)]
    charge = api.post(f"/v1/accounts/{a}/charges", json=FLUX_4, headers=idem()).json()["id"]
    made_keys = [api.post("/v1/keys", json={"name": f"{name}-{n}", "account_id": a}).json()["id"]
                 for n in range(2)]
    # the switch's row exists (off), so every case's first call changes it alike
    assert api.put("/v1/settings/topups", json={"enabled": False}).status_code == 204
    hooks = [api.post("/v1/webhooks", json={"url": f"https://example.com/{name}/{n}"}).json()
             ["id"] for n in range(2)]
    return {"a": a, "b": b, "hold": holds[0], "other_hold": holds[1], "charge": charge,
            "new": f"{name}-new", "key": made_keys[0], "other_key": made_keys[1],
            "webhook": hooks[0], "other_webhook": hooks[1],
            "entry": _catalog_entry(api, f"Flux {name}"), "plan": f"plan-{name}"[:40],
            "plan_body": _plan(api, 1234)}


def database(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, as text, in a stable order: what a replay must not change."""
    with engine.connect() as connection:
        return {
            table: sorted(repr(tuple(row))
                          for row in connection.execute(text(f'SELECT * FROM "{table}"')))
            for table in inspect(connection).get_table_names()
        }


def row_counts(engine: Engine) -> dict[str, int]:
    return {table: len(rows) for table, rows in database(engine).items()}


def send(api: httpx.Client, call: Call, key: dict[str, str]) -> httpx.Response:
    method, path, body = call
    return api.request(method, path, json=body, headers=key)
