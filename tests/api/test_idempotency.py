"""Idempotency over HTTP: a replay returns the first answer byte for byte and writes nothing;
the same key with another body is 409; fifty concurrent copies make one entry."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.support import FLUX_4, LiveServer, assert_problem, idem, open_account

Request = tuple[str, str, Any]


def prepare(api: httpx.Client, name: str) -> dict[str, Any]:
    """Two fresh accounts for one case (``<name>-a`` and ``<name>-b``), two holds, a charge."""
    a, b = f"{name}-a", f"{name}-b"
    open_account(api, a)
    open_account(api, b)
    holds = [api.post(f"/v1/accounts/{a}/holds", json=FLUX_4, headers=idem()).json()["id"]
             for _ in range(2)]
    charge = api.post(f"/v1/accounts/{a}/charges", json=FLUX_4, headers=idem()).json()["id"]
    return {"a": a, "b": b, "hold": holds[0], "other_hold": holds[1], "charge": charge,
            "new": f"{name}-new"}


Ids = dict[str, Any]

# (name, first request, a different request under the same key)
CASES: list[tuple[str, Callable[[Ids], Request], Callable[[Ids], Request]]] = [
    ("open-account",
     lambda ids: ("POST", "/v1/accounts", {"id": ids["new"], "name": "Cy", "plan": "pro"}),
     lambda ids: ("POST", "/v1/accounts", {"id": ids["new"], "name": "Cy", "plan": "ultra"})),
    ("charge",
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/charges", FLUX_4),
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/charges", FLUX_4 | {"project": "acme"})),
    ("hold",
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/holds", FLUX_4),
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/holds", FLUX_4 | {"ttl_seconds": 60})),
    ("capture",
     lambda ids: ("POST", f"/v1/holds/{ids['hold']}/capture", {"amount": 10}),
     lambda ids: ("POST", f"/v1/holds/{ids['hold']}/capture", {"amount": 11})),
    ("release",
     lambda ids: ("POST", f"/v1/holds/{ids['hold']}/release", None),
     lambda ids: ("POST", f"/v1/holds/{ids['other_hold']}/release", None)),
    ("refund",
     lambda ids: ("POST", f"/v1/entries/{ids['charge']}/refund", {"amount": 3}),
     lambda ids: ("POST", f"/v1/entries/{ids['charge']}/refund", {"amount": 4})),
    ("grant",
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/grants", {"amount": 50, "source": "promo"}),
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/grants", {"amount": 51, "source": "promo"})),
    ("adjust",
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/adjustments",
                  {"amount": -5, "reason": "typo"}),
     lambda ids: ("POST", f"/v1/accounts/{ids['a']}/adjustments",
                  {"amount": -6, "reason": "typo"})),
    ("transfer",
     lambda ids: ("POST", "/v1/transfers", {"from_account": ids["a"], "to_account": ids["b"],
                                            "amount": 7}),
     lambda ids: ("POST", "/v1/transfers", {"from_account": ids["a"], "to_account": ids["b"],
                                            "amount": 8})),
    ("change-plan",
     lambda ids: ("PUT", f"/v1/accounts/{ids['a']}/plan", {"plan": "ultra"}),
     lambda ids: ("PUT", f"/v1/accounts/{ids['a']}/plan", {"plan": "free"})),
]


def test_a_replay_returns_the_first_answer_and_writes_nothing(
    live: LiveServer, api: httpx.Client, subtests: pytest.Subtests
) -> None:
    for name, first, different in CASES:
        with subtests.test(name):
            ids = prepare(api, name)
            method, path, body = first(ids)
            key = idem()
            original = api.request(method, path, json=body, headers=key)
            assert original.status_code in (200, 201), original.text
            written = live.entry_count()
            accounts = live.credits.accounts(limit=500)
            for _ in range(2):
                replay = api.request(method, path, json=body, headers=key)
                assert replay.status_code == original.status_code
                assert replay.content == original.content
                assert replay.headers["content-type"] == original.headers["content-type"]
            assert (live.entry_count(), live.credits.accounts(limit=500)) == (written, accounts)

            method, path, body = different(ids)
            refused = api.request(method, path, json=body, headers=key)
            assert_problem(refused, 409, "idempotency_conflict")
            assert (live.entry_count(), live.credits.accounts(limit=500)) == (written, accounts)


def test_keys_are_scoped_to_the_account(live: LiveServer, api: httpx.Client) -> None:
    open_account(api, "ana")
    open_account(api, "bob")
    key = idem("order-1")
    for account in ("ana", "bob"):
        response = api.post(f"/v1/accounts/{account}/charges", json=FLUX_4, headers=key)
        assert response.status_code == 201 and response.json()["account_id"] == account
    assert live.entry_count() == 4


def test_a_refused_charge_keeps_its_key_free_for_the_retry(
    live: LiveServer, api: httpx.Client
) -> None:
    open_account(api, "ana", plan="free")  # 100 credits
    big = {"lines": [{"model": "flux-2-pro", "count": 30}]}  # 150
    key = idem()
    assert_problem(api.post("/v1/accounts/ana/charges", json=big, headers=key), 402)
    api.post("/v1/accounts/ana/grants", json={"amount": 100, "source": "promo"}, headers=idem())
    retried = api.post("/v1/accounts/ana/charges", json=big, headers=key)
    assert retried.status_code == 201 and retried.json()["amount"] == 150


def test_fifty_concurrent_copies_make_one_entry(live: LiveServer, api: httpx.Client) -> None:
    open_account(api, "ana")
    key = idem()
    start = threading.Barrier(50)
    local = threading.local()

    def send(_: int) -> httpx.Response:
        if not hasattr(local, "client"):
            local.client = live.client()
        start.wait(timeout=30)
        response: httpx.Response = local.client.post("/v1/accounts/ana/charges", json=FLUX_4,
                                                     headers=key)
        return response

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, range(50)))

    created = [r for r in responses if r.status_code == 201]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_progress) == 50, Counter(r.status_code for r in responses)
    assert created, "at least the first request succeeds"
    assert len({r.content for r in created}) == 1  # every 201 is the same answer
    for response in in_progress:
        assert_problem(response, 409, "idempotency_key_in_use")
    assert live.entry_count("ana") == 2  # the plan grant and one charge
    account = api.get("/v1/accounts/ana").json()
    assert (account["balance"], account["available"]) == (1000 - 18, 1000 - 18)
