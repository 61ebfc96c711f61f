"""The balance ceiling over HTTP (issue 16 defect 8): every route that adds credits answers
409 ``balance_ceiling_exceeded`` naming the field, with the numbers, and writes nothing; the
next grant past 2**53 - 1 used to answer 500 (int too large / bigint out of range)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import LiveServer, assert_problem, idem, open_account
from tests.domain.test_quote_bounds import DEAREST

CEILING = 2**53 - 1


class Unchanged:
    """Asserts on exit that no ledger entry was written and no balance changed."""

    def __init__(self, live: LiveServer, api: httpx.Client) -> None:
        self.live, self.api = live, api

    def balances(self) -> list[tuple[int, int]]:
        return [(self.api.get(f"/v1/accounts/{a}").json()["balance"],
                 self.api.get(f"/v1/accounts/{a}").json()["held"]) for a in ("ana", "bo")]

    def __enter__(self) -> Unchanged:
        self.entries, self.before = self.live.entry_count(), self.balances()
        return self

    def __exit__(self, *_: object) -> None:
        assert self.live.entry_count() == self.entries, "a refused request wrote an entry"
        assert self.balances() == self.before


def refused_at_ceiling(response: httpx.Response, amount: int) -> None:
    body = assert_problem(response, 409, "balance_ceiling_exceeded", field="amount")
    assert (body["balance"], body["amount"], body["ceiling"]) == (CEILING, amount, CEILING)


@pytest.fixture
def full(live: LiveServer, api: httpx.Client) -> int:
    """ana (Pro) filled to the ceiling over HTTP, with a charge of 5 made before; bo (Pro)
    with its 1,000. Returns the charge's entry id."""
    open_account(api, "ana")
    open_account(api, "bo")
    charge = api.post("/v1/accounts/ana/charges", json={"lines": [{"model": "flux-2-pro"}]},
                      headers=idem())
    assert charge.status_code == 201, charge.text
    filled = api.post("/v1/accounts/ana/grants", json={"amount": CEILING - 995,
                                                        "source": "promo"}, headers=idem())
    assert filled.status_code == 201, filled.text
    assert filled.json()["balance_after"] == CEILING
    return int(charge.json()["id"])


def test_every_route_that_adds_credits_is_409_at_the_ceiling(
    live: LiveServer, api: httpx.Client, full: int
) -> None:
    with Unchanged(live, api):
        for source in ("promo", "trial", "adjustment"):
            for amount in (1, CEILING):
                refused_at_ceiling(api.post("/v1/accounts/ana/grants", json={
                    "amount": amount, "source": source}, headers=idem()), amount)
        refused_at_ceiling(api.post("/v1/accounts/ana/adjustments", json={
            "amount": 1, "reason": "bonus"}, headers=idem()), 1)
        refused_at_ceiling(api.post("/v1/transfers", json={
            "from_account": "bo", "to_account": "ana", "amount": 7}, headers=idem()), 7)
        refused_at_ceiling(api.post(f"/v1/entries/{full}/refund", json={}, headers=idem()), 5)
        refused_at_ceiling(api.post(f"/v1/entries/{full}/refund", json={"amount": 2},
                                    headers=idem()), 2)
    page = live.anonymous().get("/problems/balance_ceiling_exceeded")
    assert page.status_code == 200


def test_at_the_ceiling_credits_still_leave_and_held_credits_come_back(
    live: LiveServer, api: httpx.Client, full: int
) -> None:
    held = api.post("/v1/accounts/ana/holds", json={"lines": [{"model": "flux-2-pro"}]},
                    headers=idem())
    assert held.status_code == 201, held.text
    released = api.post(f"/v1/holds/{held.json()['id']}/release", headers=idem())
    assert released.status_code == 200, released.text
    moved = api.post("/v1/transfers", json={"from_account": "ana", "to_account": "bo",
                                            "amount": 3}, headers=idem())
    assert moved.status_code == 201, moved.text
    refunded = api.post(f"/v1/entries/{full}/refund", json={"amount": 3}, headers=idem())
    assert refunded.status_code == 201, refunded.text
    assert api.get("/v1/accounts/ana").json()["balance"] == CEILING
    assert api.get("/v1/verify").json()["ok"] is True


def test_reports_past_int64_answer_200_with_exact_figures(
    live: LiveServer, api: httpx.Client
) -> None:
    open_account(api, "ana")
    api.post("/v1/accounts/ana/charges", json={"lines": [{"model": "nano-banana-2",
                                                          "count": 1_000}]}, headers=idem())
    for _ in range(1_025):  # 1,025 x (2**53 - 1) granted in one cycle: past 2**63
        live.credits.grant("ana", CEILING, source="promo")
        live.credits.adjust("ana", -CEILING, reason="taken back")
    report = api.get("/v1/accounts/ana/report", params={"period": "cycle", "periods": 1})
    assert report.status_code == 200, report.text
    assert report.json()["periods"][-1]["granted"] == 1_000 + 1_025 * CEILING
    for path in ("report.csv", "forecast", "cycles", "advice/plan"):
        answer = api.get(f"/v1/accounts/ana/{path}")
        assert answer.status_code == 200, (path, answer.text)


def test_quotes_charges_and_holds_past_the_amount_bound_are_422_naming_the_field(
    live: LiveServer, api: httpx.Client
) -> None:
    live.credits.put_catalog_entry(DEAREST)  # 9.6e13 credits a request: 93 fit under 2**53
    open_account(api, "ana")
    entries = live.entry_count()
    line = {"model": "dearest", "outputs": 16, "seconds": 600}
    for path in ("/v1/quotes", "/v1/accounts/ana/charges", "/v1/accounts/ana/holds"):
        one_line = {"lines": [line | {"count": 94}]}
        assert_problem(api.post(path, json=one_line, headers=idem()), 422, "out_of_range",
                       field="lines.0.count")
        two_lines = {"lines": [line | {"count": 93}, line | {"count": 93}]}
        assert_problem(api.post(path, json=two_lines, headers=idem()), 422, "out_of_range",
                       field="lines")
    assert live.entry_count() == entries
    assert api.post("/v1/quotes", json={"lines": [line | {"count": 93}]}).status_code == 200
