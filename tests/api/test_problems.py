"""Every refusal is an RFC 9457 problem detail naming the field, and writes nothing.

Each test opens ``ana`` (Pro, 1,000 credits), counts the ledger, sends refused requests and
counts again: a refused mutation must leave every account's entries as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.support import FLUX_4, LiveServer, assert_problem, idem, open_account

BIG = 2**63
VEO_8 = {"lines": [{"model": "veo-3", "seconds": 8, "quality": "1080p"}]}  # 120 credits


@pytest.fixture
def ana(live: LiveServer, api: httpx.Client) -> LiveServer:
    open_account(api, "ana")
    return live


class Unchanged:
    """Asserts on exit that no ledger entry was written (and no account opened)."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live

    def __enter__(self) -> Unchanged:
        self.entries = self.live.entry_count()
        self.accounts = self.live.credits.accounts(limit=500)
        return self

    def __exit__(self, *_: object) -> None:
        assert self.live.entry_count() == self.entries, "a refused request wrote an entry"
        assert self.live.credits.accounts(limit=500) == self.accounts


@pytest.fixture
def unchanged(ana: LiveServer) -> Iterator[Unchanged]:
    with Unchanged(ana) as guard:
        yield guard


# --- 401 ----------------------------------------------------------------------------------------


def test_a_missing_or_unknown_key_is_401(ana: LiveServer, unchanged: Unchanged) -> None:
    client = ana.anonymous()
    for authorization in (None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer gc_op_unknown",
                          "Bearer " + "x" * 300, f"Bearer {ana.operator_key}x"):
        headers = {} if authorization is None else {"Authorization": authorization}
        for response in (
            client.get("/v1/accounts/ana", headers=headers),
            client.post("/v1/accounts/ana/charges", json=FLUX_4, headers=headers | idem()),
        ):
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_key_is_401(ana: LiveServer, api: httpx.Client) -> None:
    made = api.post("/v1/keys", json={"name": "app", "account_id": "ana"}).json()
    client = ana.client(made["secret"])
    assert client.get("/v1/accounts/ana").status_code == 200
    assert api.delete(f"/v1/keys/{made['id']}").status_code == 200
    with Unchanged(ana):
        assert_problem(client.get("/v1/accounts/ana"), 401, "unauthorized")
        refused = client.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem())
        assert_problem(refused, 401, "unauthorized")


# --- 404 ----------------------------------------------------------------------------------------


def test_unknown_ids_are_404_naming_the_field(ana: LiveServer, api: httpx.Client) -> None:
    held = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()
    assert held["id"]
    with Unchanged(ana):
        cases: list[tuple[httpx.Response, str | None]] = [
            (api.get("/v1/accounts/nobody"), "account_id"),
            (api.get("/v1/accounts/nobody/entries"), "account_id"),
            (api.post("/v1/accounts/nobody/charges", json=FLUX_4, headers=idem()), "account_id"),
            (api.post("/v1/accounts/nobody/holds", json=FLUX_4, headers=idem()), "account_id"),
            (api.post("/v1/accounts/nobody/grants", json={"amount": 5, "source": "promo"},
                      headers=idem()), "account_id"),
            (api.post("/v1/accounts/nobody/adjustments", json={"amount": 5, "reason": "x"},
                      headers=idem()), "account_id"),
            (api.put("/v1/accounts/nobody/plan", json={"plan": "ultra"}, headers=idem()),
             "account_id"),
            (api.put("/v1/accounts/ana/plan", json={"plan": "nope"}, headers=idem()), "plan"),
            (api.post("/v1/accounts/nobody/members", json={"add": ["x"]}), "account_id"),
            (api.put("/v1/accounts/nobody/projects/acme/cap", json={"cap": 5}), "account_id"),
            (api.post("/v1/transfers", json={"from_account": "ana", "to_account": "nobody",
                                             "amount": 5}, headers=idem()), "account_id"),
            (api.get("/v1/holds/999999"), "hold_id"),
            (api.post("/v1/holds/999999/capture", json={}, headers=idem()), "hold_id"),
            (api.post("/v1/holds/999999/release", headers=idem()), "hold_id"),
            (api.get("/v1/entries/999999"), "entry_id"),
            (api.post("/v1/entries/999999/refund", json={}, headers=idem()), "entry_id"),
            (api.get("/v1/catalog/no-such-model"), "model_id"),
            (api.delete("/v1/keys/key_nope"), "key_id"),
            (api.delete("/v1/webhooks/wh_nope"), "webhook_id"),
            (api.get("/v1/no-such-route"), None),
            (api.get("/problems/no_such_problem"), "code"),
        ]
        for response, field in cases:
            assert_problem(response, 404, "not_found", field)


# --- 402 ----------------------------------------------------------------------------------------


def test_short_credits_are_402_with_available_and_required(
    ana: LiveServer, api: httpx.Client
) -> None:
    api.post("/v1/accounts/ana/charges", json={"lines": [{"model": "flux-2-pro", "count": 190}]},
             headers=idem())  # 950 of 1,000
    with Unchanged(ana):
        for path in ("/v1/accounts/ana/charges", "/v1/accounts/ana/holds"):
            body = assert_problem(api.post(path, json=VEO_8, headers=idem()), 402,
                                  "insufficient_credits")
            assert (body["available"], body["required"]) == (50, 120)
        moved = api.post("/v1/accounts/ana/adjustments", json={"amount": -51, "reason": "over"},
                         headers=idem())
        body = assert_problem(moved, 402, "insufficient_credits")
        assert (body["available"], body["required"]) == (50, 51)
    assert api.get("/v1/accounts/ana").json()["available"] == 50


def test_a_project_cap_is_402_with_its_numbers(ana: LiveServer, api: httpx.Client) -> None:
    api.put("/v1/accounts/ana/projects/acme/cap", json={"cap": 20})
    api.post("/v1/accounts/ana/charges", json=FLUX_4 | {"project": "acme"}, headers=idem())
    with Unchanged(ana):
        refused = api.post("/v1/accounts/ana/charges", json=FLUX_4 | {"project": "acme"},
                           headers=idem())
        body = assert_problem(refused, 402, "project_cap_exceeded")
        assert (body["project"], body["cap"], body["used"], body["required"]) == (
            "acme", 20, 18, 18)


# --- 409 ----------------------------------------------------------------------------------------


def test_settled_holds_are_409(ana: LiveServer, api: httpx.Client) -> None:
    captured = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()["id"]
    released = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()["id"]
    pending = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()["id"]
    assert api.post(f"/v1/holds/{captured}/capture", json={}, headers=idem()).status_code == 200
    assert api.post(f"/v1/holds/{released}/release", headers=idem()).status_code == 200
    with Unchanged(ana):
        for hold_id, verb, body in (
            (captured, "capture", {}), (captured, "release", None),
            (released, "capture", {"amount": 1}), (released, "release", None),
        ):
            refused = api.post(f"/v1/holds/{hold_id}/{verb}", json=body, headers=idem())
            assert_problem(refused, 409, "hold_not_pending")
        too_much = api.post(f"/v1/holds/{pending}/capture", json={"amount": 19}, headers=idem())
        problem = assert_problem(too_much, 409, "exceeds_hold_amount")
        assert (problem["held"], problem["requested"]) == (18, 19)
        assert_problem(api.post("/v1/accounts", json={"id": "ana", "name": "Again"},
                                headers=idem()), 409, "conflict")


def test_a_reused_key_with_another_body_is_409(ana: LiveServer, api: httpx.Client) -> None:
    key = idem()
    assert api.post("/v1/accounts/ana/charges", json=FLUX_4, headers=key).status_code == 201
    with Unchanged(ana):
        other = {"lines": [{"model": "flux-2-pro", "outputs": 3}]}
        refused = api.post("/v1/accounts/ana/charges", json=other, headers=key)
        assert_problem(refused, 409, "idempotency_conflict")


# --- 422 ----------------------------------------------------------------------------------------

LINE = {"model": "flux-2-pro"}

BAD_CHARGES: list[tuple[str, Any, str, str]] = [
    ("unknown-field", {"lines": [LINE], "balance": 5}, "validation_error", "balance"),
    ("unknown-line-field", {"lines": [LINE | {"price": 0}]}, "validation_error", "lines.0.price"),
    ("float", {"lines": [LINE | {"outputs": 2.5}]}, "validation_error", "lines.0.outputs"),
    ("whole-float", {"lines": [LINE | {"outputs": 4.0}]}, "validation_error", "lines.0.outputs"),
    ("string", {"lines": [LINE | {"outputs": "4"}]}, "validation_error", "lines.0.outputs"),
    ("boolean", {"lines": [LINE | {"count": True}]}, "validation_error", "lines.0.count"),
    ("negative", {"lines": [LINE | {"outputs": -1}]}, "out_of_range", "lines.0.outputs"),
    ("zero-count", {"lines": [LINE | {"count": 0}]}, "out_of_range", "lines.0.count"),
    ("over-max", {"lines": [LINE | {"outputs": 5}]}, "out_of_range", "lines.0.outputs"),
    ("huge-outputs", {"lines": [LINE | {"outputs": BIG}]}, "out_of_range", "lines.0.outputs"),
    ("huge-count", {"lines": [LINE | {"count": BIG * 4}]}, "out_of_range", "lines.0.count"),
    ("huge-seconds", {"lines": [{"model": "veo-3", "seconds": BIG}]}, "out_of_range",
     "lines.0.seconds"),
    ("huge-version", {"lines": [LINE], "price_version": BIG}, "validation_error",
     "price_version"),
    ("unknown-model", {"lines": [{"model": "gpt-9"}]}, "unknown_model", "lines.0.model"),
    ("unknown-option", {"lines": [{"model": "veo-3", "seconds": 8, "quality": "8k"}]},
     "unknown_option", "lines.0.quality"),
    ("no-lines", {"lines": []}, "validation_error", "lines"),
    ("no-body-fields", {}, "validation_error", "lines"),
    ("not-an-object", [LINE], "validation_error", "body"),
    ("nul", {"lines": [LINE], "project": "a\x00b"}, "validation_error", "project"),
]


def test_bad_charges_are_422_naming_the_field(
    ana: LiveServer, api: httpx.Client, unchanged: Unchanged, subtests: pytest.Subtests
) -> None:
    for name, body, code, field in BAD_CHARGES:
        with subtests.test(name):
            for path in ("/v1/accounts/ana/charges", "/v1/accounts/ana/holds"):
                assert_problem(api.post(path, json=body, headers=idem()), 422, code, field)


def test_bad_bodies_elsewhere_are_422(ana: LiveServer, api: httpx.Client) -> None:
    hold = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()["id"]
    charge = api.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem()).json()["id"]
    cases: list[tuple[str, str, Any, str]] = [
        ("POST", "/v1/accounts", {"id": "eve", "name": "Eve", "owner": "mallory"}, "owner"),
        ("POST", "/v1/accounts", {"id": "eve", "name": "Eve", "balance": 5}, "balance"),
        ("POST", "/v1/accounts", {"id": "bad id!", "name": "Eve"}, "account_id"),
        ("POST", "/v1/accounts", {"id": "eve", "name": "Eve", "kind": "robot"}, "kind"),
        ("POST", "/v1/accounts/ana/grants", {"amount": BIG, "source": "promo"}, "amount"),
        ("POST", "/v1/accounts/ana/grants", {"amount": -5, "source": "promo"}, "amount"),
        ("POST", "/v1/accounts/ana/grants", {"amount": "5", "source": "promo"}, "amount"),
        ("POST", "/v1/accounts/ana/grants", {"amount": 5, "source": "plan"}, "source"),
        ("POST", "/v1/accounts/ana/grants",
         {"amount": 5, "source": "promo", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ("POST", "/v1/accounts/ana/grants",
         {"amount": 5, "source": "promo", "expires_at": "someday"}, "expires_at"),
        ("POST", "/v1/accounts/ana/adjustments", {"amount": 0, "reason": "x"}, "amount"),
        ("POST", "/v1/accounts/ana/adjustments", {"amount": -BIG, "reason": "x"}, "amount"),
        ("POST", "/v1/accounts/ana/adjustments", {"amount": 5}, "reason"),
        ("POST", "/v1/transfers", {"from_account": "ana", "to_account": "ana", "amount": 5},
         "to_account_id"),
        ("POST", "/v1/transfers", {"from_account": "ana", "to_account": "bob", "amount": 0},
         "amount"),
        ("POST", f"/v1/holds/{hold}/capture", {"amount": BIG}, "amount"),
        ("POST", f"/v1/holds/{hold}/capture", {"amount": 2.5}, "amount"),
        ("POST", f"/v1/holds/{hold}/capture", {"outputs_delivered": -1}, "outputs_delivered"),
        ("POST", f"/v1/holds/{hold}/capture", {"amount": 5, "outputs_delivered": 2}, "amount"),
        ("POST", f"/v1/entries/{charge}/refund", {"amount": 0}, "amount"),
        ("POST", f"/v1/entries/{charge}/refund", {"amount": BIG}, "amount"),
        ("POST", f"/v1/entries/{charge}/refund", {"amount": 19}, "amount"),
        ("POST", "/v1/entries/1/refund", {}, "entry_id"),  # the plan grant
        ("PUT", "/v1/accounts/ana/plan", {"plan": "pro", "credits": 5}, "credits"),
        ("POST", "/v1/accounts/ana/holds", FLUX_4 | {"ttl_seconds": 0}, "ttl_seconds"),
        ("POST", "/v1/accounts/ana/holds", FLUX_4 | {"ttl_seconds": BIG}, "ttl_seconds"),
    ]
    with Unchanged(ana):
        for method, path, body, field in cases:
            response = api.request(method, path, json=body, headers=idem())
            problem = assert_problem(response, 422, field=field)
            assert field in problem["detail"] or problem["code"] != "validation_error"


def test_huge_or_nul_ids_in_paths_and_queries_are_422(
    ana: LiveServer, api: httpx.Client, unchanged: Unchanged
) -> None:
    for method, path, field in (
        ("GET", f"/v1/entries/{BIG}", "entry_id"),
        ("GET", f"/v1/holds/{BIG}", "hold_id"),
        ("POST", f"/v1/holds/{BIG}/capture", "hold_id"),
        ("POST", f"/v1/holds/{BIG}/release", "hold_id"),
        ("POST", f"/v1/entries/{BIG}/refund", "entry_id"),
        ("GET", "/v1/entries/0", "entry_id"),
        ("GET", "/v1/holds/abc", "hold_id"),
        ("GET", f"/v1/accounts/ana/entries?cursor={BIG}", "cursor"),
        ("GET", f"/v1/events?after={BIG}", "after"),
        ("GET", "/v1/accounts?limit=0", "limit"),
        ("GET", "/v1/accounts/ana/entries?kind=bonus", "kind.0"),
        ("GET", "/v1/accounts/ana/entries?since=yesterday", "since"),
        ("GET", "/v1/accounts/ana%00/entries", "account_id"),
        ("GET", "/v1/accounts?after=a%00", "after"),
        ("POST", "/v1/accounts/ana%00/charges", "account_id"),
    ):
        body = FLUX_4 if path.endswith("charges") else {}
        response = api.request(method, path, json=body if method == "POST" else None,
                               headers=idem())
        assert_problem(response, 422, field=field)


MUTATIONS = {
    ("POST", "/v1/accounts"),
    ("PUT", "/v1/accounts/{account_id}/plan"),
    ("POST", "/v1/accounts/{account_id}/charges"),
    ("POST", "/v1/accounts/{account_id}/holds"),
    ("POST", "/v1/holds/{hold_id}/capture"),
    ("POST", "/v1/holds/{hold_id}/release"),
    ("POST", "/v1/entries/{entry_id}/refund"),
    ("POST", "/v1/accounts/{account_id}/grants"),
    ("POST", "/v1/accounts/{account_id}/adjustments"),
    ("POST", "/v1/transfers"),
    ("POST", "/v1/renewals"),
}


def test_ledger_mutations_need_an_idempotency_key(ana: LiveServer, api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    declared = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(p["name"] == "Idempotency-Key" and p["required"]
               for p in operation.get("parameters", []))
    }
    assert declared == MUTATIONS
    hold = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()["id"]
    charge = api.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem()).json()["id"]
    bodies: dict[str, Any] = {
        "/v1/accounts": {"id": "eve", "name": "Eve"},
        "/v1/accounts/{account_id}/plan": {"plan": "ultra"},
        "/v1/accounts/{account_id}/charges": FLUX_4,
        "/v1/accounts/{account_id}/holds": FLUX_4,
        "/v1/holds/{hold_id}/capture": {},
        "/v1/entries/{entry_id}/refund": {},
        "/v1/accounts/{account_id}/grants": {"amount": 5, "source": "promo"},
        "/v1/accounts/{account_id}/adjustments": {"amount": 5, "reason": "x"},
        "/v1/transfers": {"from_account": "ana", "to_account": "eve", "amount": 5},
    }
    with Unchanged(ana):
        for method, template in sorted(MUTATIONS):
            path = template.format(account_id="ana", hold_id=hold, entry_id=charge)
            for headers in ({}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 201}):
                response = api.request(method, path, json=bodies.get(template), headers=headers)
                assert_problem(response, 422, "validation_error", "Idempotency-Key")


def test_malformed_json_and_wrong_content_types_are_refused(
    ana: LiveServer, api: httpx.Client, unchanged: Unchanged
) -> None:
    path = "/v1/accounts/ana/charges"
    json_type = {"Content-Type": "application/json"}
    for content in (b"{not json", b'{"lines": [', b"", b"null", b"[]", b'"lines"'):
        response = api.post(path, content=content, headers=idem() | json_type)
        assert_problem(response, 422, "validation_error", "body")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = api.post(path, content=b'{"lines": [{"model": "flux-2-pro"}]}',
                            headers=idem() | {"Content-Type": content_type})
        assert_problem(response, 422, "validation_error", "body")
    not_utf8 = api.post(path, content=b'{"lines": "\xff\xfe"}', headers=idem() | json_type)
    assert_problem(not_utf8, 400, "malformed_body", "body")


def test_wrong_methods_are_405(api: httpx.Client) -> None:
    assert_problem(api.delete("/v1/catalog"), 405, "method_not_allowed")
    assert_problem(api.get("/v1/transfers"), 405, "method_not_allowed")


# --- 413 ----------------------------------------------------------------------------------------


def test_bodies_over_64_kib_are_413(
    ana: LiveServer, api: httpx.Client, unchanged: Unchanged
) -> None:
    filler = "x" * (64 * 1024)
    declared = api.post("/v1/accounts/ana/charges", json={"lines": [LINE], "job_ref": filler},
                        headers=idem())
    assert_problem(declared, 413, "body_too_large", "body")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"lines": [{"model": "flux-2-pro"}], "job_ref": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    streamed = api.post("/v1/accounts/ana/charges", content=chunks(),
                        headers=idem() | {"Content-Type": "application/json"})
    assert_problem(streamed, 413, "body_too_large", "body")
    just_under = api.post("/v1/quotes", json={"lines": [LINE] * 50})
    assert just_under.status_code == 200
