"""The authorization matrix: which key may call which route, and what a foreign id looks like.

Every route of the served app is classified here as public, open to account keys, or for
the operator only; a route in none of the lists fails the test, so a new route cannot ship
unclassified. An account key for ``ana`` used on ``bob``'s account, holds or entries gets
404, exactly as for ids that do not exist, and nothing of ``bob``'s changes. Account keys get
403 on every operator route, even about their own account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.staticfiles import StaticFiles

from tests.api.support import FLUX_4, LiveServer, assert_problem, idem, open_account

Route = tuple[str, str]

PUBLIC: set[Route] = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/problems/{code}"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs-start.js"),
}

# Routes an account key may call; those naming an account, hold or entry check it is theirs.
ACCOUNT_ALLOWED: set[Route] = {
    ("GET", "/v1/catalog"), ("GET", "/v1/catalog/{model_id}"), ("POST", "/v1/quotes"),
    ("GET", "/v1/plans"), ("GET", "/v1/events"),
    ("GET", "/v1/accounts/{account_id}"), ("GET", "/v1/accounts/{account_id}/entries"),
    ("GET", "/v1/entries/{entry_id}"),
    ("POST", "/v1/accounts/{account_id}/charges"), ("POST", "/v1/accounts/{account_id}/holds"),
    ("GET", "/v1/holds/{hold_id}"), ("POST", "/v1/holds/{hold_id}/capture"),
    ("POST", "/v1/holds/{hold_id}/release"),
    ("POST", "/v1/estimates"), ("POST", "/v1/advice/drafts"), ("POST", "/v1/advice/models"),
    ("GET", "/v1/accounts/{account_id}/advice/plan"), ("GET", "/v1/accounts/{account_id}/forecast"),
    ("GET", "/v1/accounts/{account_id}/cycles"), ("GET", "/v1/accounts/{account_id}/report"),
    ("GET", "/v1/accounts/{account_id}/report.csv"),
}

OPERATOR_ONLY: set[Route] = {
    ("PUT", "/v1/catalog/{model_id}"), ("GET", "/v1/catalog-versions"),
    ("PUT", "/v1/plans/{plan_id}"),
    ("POST", "/v1/accounts"), ("GET", "/v1/accounts"),
    ("POST", "/v1/accounts/{account_id}/members"), ("PUT", "/v1/accounts/{account_id}/plan"),
    ("PUT", "/v1/accounts/{account_id}/projects/{project}/cap"),
    ("POST", "/v1/entries/{entry_id}/refund"), ("POST", "/v1/accounts/{account_id}/grants"),
    ("POST", "/v1/accounts/{account_id}/adjustments"), ("POST", "/v1/transfers"),
    ("POST", "/v1/webhooks"), ("GET", "/v1/webhooks"), ("DELETE", "/v1/webhooks/{webhook_id}"),
    ("POST", "/v1/renewals"), ("GET", "/v1/verify"),
    ("POST", "/v1/keys"), ("GET", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}"),
    ("PUT", "/v1/settings/topups"), ("GET", "/v1/margins"),
}


def served_routes(routes: list[Any]) -> Iterator[tuple[Route, Any]]:
    """(method, path) of every route, included routers walked; HEAD and OPTIONS left out."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            for (method, path), found in served_routes(route.original_router.routes):
                yield (method, route.include_context.prefix + path), found
            continue
        for method in sorted(getattr(route, "methods", None) or {"*"}):
            if method not in ("HEAD", "OPTIONS"):
                yield (method, route.path), route


def is_dashboard(route: Any) -> bool:
    """The web dashboard signs people in with its own session (tests/web covers it), and its
    static files need no key: both are outside the bearer-key API."""
    if isinstance(getattr(route, "app", None), StaticFiles):
        return True
    endpoint = getattr(route, "endpoint", None)
    return getattr(endpoint, "__module__", "").startswith("gencredits.web")


def test_every_route_is_classified(live: LiveServer) -> None:
    lists = (PUBLIC, ACCOUNT_ALLOWED, OPERATOR_ONLY)
    assert not (PUBLIC & ACCOUNT_ALLOWED or PUBLIC & OPERATOR_ONLY
                or ACCOUNT_ALLOWED & OPERATOR_ONLY)
    served = {key for key, route in served_routes(live.app.routes) if not is_dashboard(route)}
    unclassified = sorted(key for key in served if not any(key in group for group in lists))
    assert not unclassified, (
        f"classify these routes in {__name__}: PUBLIC, ACCOUNT_ALLOWED or OPERATOR_ONLY: "
        f"{unclassified}"
    )
    gone = sorted(set().union(*lists) - served)
    assert not gone, f"classified routes the app no longer serves: {gone}"


@dataclass
class World:
    live: LiveServer
    operator: httpx.Client
    ana: httpx.Client  # ana's account key
    bob_charge: int
    bob_hold: int
    bob_settled_hold: int
    ana_hold: int
    ana_charge: int

    def ids(self, owner: str) -> dict[str, Any]:
        mine = owner == "ana"
        return {
            "account_id": owner,
            "hold_id": self.ana_hold if mine else self.bob_hold,
            "entry_id": self.ana_charge if mine else self.bob_charge,
            "model_id": "flux-2-pro", "plan_id": "pro", "project": "acme",
            "webhook_id": "wh_0", "key_id": "key_0", "code": "not_found",
        }

    def snapshot(self, account_id: str) -> tuple[Any, ...]:
        page = self.live.credits.history(account_id, limit=500)
        holds = tuple(self.live.credits.get_hold(h).status for h in
                      (self.bob_hold, self.bob_settled_hold, self.ana_hold))
        return (self.live.credits.account(account_id), page.entries, holds)


@pytest.fixture
def world(live: LiveServer, api: httpx.Client) -> World:
    open_account(api, "ana")
    open_account(api, "bob")
    bob_charge = api.post("/v1/accounts/bob/charges", json=FLUX_4, headers=idem()).json()["id"]
    bob_hold = api.post("/v1/accounts/bob/holds", json=FLUX_4, headers=idem()).json()["id"]
    settled = api.post("/v1/accounts/bob/holds", json=FLUX_4, headers=idem()).json()["id"]
    api.post(f"/v1/holds/{settled}/release", headers=idem())
    ana_hold = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()["id"]
    ana_charge = api.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem()).json()["id"]
    ana = live.client(live.account_key("ana"))
    return World(live, api, ana, bob_charge, bob_hold, settled, ana_hold, ana_charge)


BODIES: dict[Route, Any] = {
    ("POST", "/v1/quotes"): FLUX_4,
    ("POST", "/v1/accounts/{account_id}/charges"): FLUX_4,
    ("POST", "/v1/accounts/{account_id}/holds"): FLUX_4,
    ("POST", "/v1/holds/{hold_id}/capture"): {},
    ("POST", "/v1/estimates"): {"lines": [{"model": "flux-2-pro", "count": 50}]},
    ("POST", "/v1/advice/drafts"): {"draft_model": "nano-banana-2", "drafts": 20,
                                    "final_model": "flux-2-max", "finals": 5},
    ("POST", "/v1/advice/models"): {"task": "vector"},
    ("PUT", "/v1/catalog/{model_id}"): {"name": "X", "kind": "image", "tier": "budget",
                                        "price": {"rule": "flat", "credits": 0},
                                        "max_outputs": 1},
    ("PUT", "/v1/plans/{plan_id}"): {"name": "Free for all", "allowance_credits": 10**9,
                                     "period": "month"},
    ("POST", "/v1/accounts"): {"id": "mallory", "name": "Mallory"},
    ("POST", "/v1/accounts/{account_id}/members"): {"add": ["mallory"]},
    ("PUT", "/v1/accounts/{account_id}/plan"): {"plan": "ultra"},
    ("PUT", "/v1/accounts/{account_id}/projects/{project}/cap"): {"cap": None},
    ("POST", "/v1/entries/{entry_id}/refund"): {},
    ("POST", "/v1/accounts/{account_id}/grants"): {"amount": 10**6, "source": "promo"},
    ("POST", "/v1/accounts/{account_id}/adjustments"): {"amount": 10**6, "reason": "gift"},
    ("POST", "/v1/transfers"): {"from_account": "bob", "to_account": "ana", "amount": 500},
    ("POST", "/v1/webhooks"): {"url": "https://example.com/steal"},
    ("POST", "/v1/keys"): {"name": "mine now", "account_id": "bob"},
    ("PUT", "/v1/settings/topups"): {"enabled": True},
}


def without_ids(problem: dict[str, Any]) -> dict[str, Any]:
    """The problem with its ids taken out: from the message, and from the error's data (the
    ``identifier`` of a NotFound in ``details``)."""
    details = {name: "ID" if name == "identifier" else value
               for name, value in (problem.get("details") or {}).items()}
    return problem | {"detail": re.sub(r"'[^']*'|\d+", "ID", problem["detail"]),
                      "details": details}


def send(client: httpx.Client, route: Route, ids: dict[str, Any]) -> httpx.Response:
    method, template = route
    body = BODIES.get(route)
    return client.request(method, template.format(**ids),
                          json=body if method in ("POST", "PUT") else None, headers=idem())


def test_account_keys_get_403_on_every_operator_route(world: World) -> None:
    before = (world.snapshot("ana"), world.snapshot("bob"), world.live.entry_count())
    for route in sorted(OPERATOR_ONLY):
        for owner in ("ana", "bob"):
            response = send(world.ana, route, world.ids(owner))
            assert_problem(response, 403, "forbidden")
    assert (world.snapshot("ana"), world.snapshot("bob"), world.live.entry_count()) == before
    assert world.operator.get("/v1/accounts/mallory").status_code == 404
    assert world.operator.get("/v1/webhooks").json() == []
    owners = sorted(str(k["account_id"]) for k in world.operator.get("/v1/keys").json())
    assert owners == ["None", "ana"]  # the operator's and ana's: no key was made for bob


def test_a_foreign_id_answers_404_and_changes_nothing(world: World) -> None:
    with_ids = sorted(route for route in ACCOUNT_ALLOWED
                      if any(name in route[1] for name in ("account_id", "hold_id", "entry_id")))
    assert len(with_ids) >= 8
    before = (world.snapshot("bob"), world.live.entry_count())
    for route in with_ids:
        missing = assert_problem(
            send(world.ana, route, world.ids("nobody") | {"hold_id": 99999, "entry_id": 99999}),
            404, "not_found")
        for ids in (world.ids("bob"),
                    world.ids("bob") | {"hold_id": world.bob_settled_hold}):
            foreign = assert_problem(send(world.ana, route, ids), 404, "not_found")
            # A foreign id and a missing one are told apart by nothing but the id itself.
            assert without_ids(foreign) == without_ids(missing), route
    foreign_events = world.ana.get("/v1/events", params={"account_id": "bob"})
    assert_problem(foreign_events, 404, "not_found", "account_id")
    foreign_estimate = world.ana.post("/v1/estimates", json=BODIES[("POST", "/v1/estimates")]
                                      | {"account_id": "bob"})
    assert_problem(foreign_estimate, 404, "not_found", "account_id")
    assert (world.snapshot("bob"), world.live.entry_count()) == before
    assert world.live.credits.get_hold(world.bob_hold).status.value == "pending"


def test_the_same_routes_work_on_the_keys_own_ids(world: World) -> None:
    for route in sorted(ACCOUNT_ALLOWED):
        ids = world.ids("ana")
        if route[1].endswith("/release"):  # the capture before it settled ana's hold
            fresh = world.ana.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem())
            ids["hold_id"] = fresh.json()["id"]
        response = send(world.ana, route, ids)
        assert response.status_code in (200, 201), (route, response.text)


def test_account_keys_see_only_their_own_events(world: World) -> None:
    for _ in range(10):  # bob falls under his low-balance mark (100 of 1,000)
        world.operator.post("/v1/accounts/bob/charges",
                            json={"lines": [{"model": "flux-2-pro", "count": 19}]},
                            headers=idem())
    everything = world.operator.get("/v1/events").json()["events"]
    assert {event["account_id"] for event in everything} >= {"bob"}
    seen = world.ana.get("/v1/events").json()["events"]
    assert all(event["account_id"] == "ana" for event in seen)
