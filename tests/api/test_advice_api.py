"""The advice and report endpoints over HTTP: shapes, the SPEC's worked examples, and scoping
(an account key sees its own account only; another id answers 404; margins are the
operator's)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest

from gencredits import QuoteRequest
from tests.api.support import LiveServer, assert_problem, idem, open_account

FIFTY_SHOTS = {"lines": [{"model": "flux-2-pro", "count": 50}]}  # 250 credits, 300 with buffer
ACCOUNT_READS = ("advice/plan", "forecast", "cycles", "report", "report.csv")


def nano(count: int) -> dict[str, object]:
    return {"lines": [{"model": "nano-banana-2", "count": count}]}  # exactly `count` credits


@pytest.fixture
def ana(live: LiveServer, api: httpx.Client) -> httpx.Client:
    """Ana (Pro) and Bob (Ultra) exist; the client holds Ana's account key."""
    open_account(api, "ana", plan="pro")
    open_account(api, "bob", plan="ultra")
    return live.client(live.account_key("ana"))


def test_the_spec_estimate_for_the_operator_and_for_an_account(
    live: LiveServer, api: httpx.Client, ana: httpx.Client
) -> None:
    plain = api.post("/v1/estimates", json=FIFTY_SHOTS).json()
    assert (plain["subtotal"], plain["buffer"], plain["total"]) == (250, 50, 300)
    assert plain["available"] is None and plain["quote"]["total"] == 250
    assert {a["model"] for a in plain["alternatives"]} == {"imagen-4", "flux-2-flex"}
    api.post("/v1/accounts/ana/charges", json=nano(880), headers=idem())
    own = ana.post("/v1/estimates", json=FIFTY_SHOTS).json()  # an account key: its own
    assert (own["available"], own["shortfall"], own["cycles_needed"]) == (120, 180, 1)
    named = api.post("/v1/estimates", json={**FIFTY_SHOTS, "account_id": "bob",
                                            "buffer_percent": "10"}).json()
    assert (named["total"], named["available"], named["shortfall"]) == (275, 5_000, 0)
    assert_problem(ana.post("/v1/estimates", json={**FIFTY_SHOTS, "account_id": "bob"}),
                   404, "not_found")
    assert_problem(api.post("/v1/estimates", json={**FIFTY_SHOTS, "buffer_percent": 101}), 422)
    assert_problem(api.post("/v1/estimates", json={**FIFTY_SHOTS, "surprise": 1}), 422)


def test_drafts_and_model_advice(api: httpx.Client, ana: httpx.Client) -> None:
    plan = ana.post("/v1/advice/drafts", json={"draft_model": "nano-banana-2", "drafts": 20,
                                               "final_model": "flux-2-max", "finals": 5})
    assert plan.status_code == 200, plan.text
    assert (plan.json()["saved"], plan.json()["saved_percent"]) == (220, "73.3")
    models = ana.post("/v1/advice/models", json={"task": "photoreal", "kind": "image",
                                                 "max_credits_per_output": 5}).json()
    assert [m["model"] for m in models] == ["flux-2-flex", "imagen-4", "flux-2-pro"]
    vector = api.post("/v1/advice/models", json={"task": "vector"}).json()
    assert vector[0]["reason"] == ("recraft-v4 does vector; 4 credits per output, "
                                   "8 less than flux-2-max")
    assert_problem(api.post("/v1/advice/models", json={"task": "hologram"}), 422,
                   field="task")
    assert_problem(api.post("/v1/advice/drafts", json={"draft_model": "nope", "drafts": 1,
                                                       "final_model": "flux-2-max",
                                                       "finals": 1}), 422, field="draft_model")


def test_account_reads_are_scoped_to_the_key(
    live: LiveServer, api: httpx.Client, ana: httpx.Client
) -> None:
    for path in ACCOUNT_READS:
        assert ana.get(f"/v1/accounts/ana/{path}").status_code == 200, path
        assert api.get(f"/v1/accounts/bob/{path}").status_code == 200, path
        foreign = ana.get(f"/v1/accounts/bob/{path}")
        missing = ana.get(f"/v1/accounts/nobody/{path}")
        assert_problem(foreign, 404, "not_found")
        assert_problem(missing, 404, "not_found")
        assert set(foreign.json()) == set(missing.json())
    assert_problem(ana.get("/v1/margins"), 403, "forbidden")
    margins = api.get("/v1/margins").json()
    assert margins["credit_value"] == "0.0096" and margins["below_target"] == ["dall-e-3"]
    given = api.get("/v1/margins", params={"credit_value": "0.02", "target_margin_percent": "61"})
    assert given.json()["below_target"] == ["dall-e-3"]
    assert_problem(api.get("/v1/margins", params={"credit_value": "0"}), 422)
    assert_problem(api.get("/v1/accounts/ana/report", params={"period": "week"}), 422)
    assert_problem(api.get("/v1/accounts/ana/report", params={"periods": 25}), 422)


def test_plan_advice_forecast_and_reports_from_cycles_of_use(
    live: LiveServer, api: httpx.Client, ana: httpx.Client
) -> None:
    """Ana runs out in two of three Pro cycles: upgrade. The report matches her charges."""
    credits, clock = live.credits, live.clock
    for day, amount in ((12, 1_000), (3, 400), (20, 1_000)):
        account = credits.account("ana")
        clock.set(account.cycle_starts_at + timedelta(days=day))
        credits.charge("ana", QuoteRequest.single("nano-banana-2", count=amount),
                       project="acme")
        clock.set(account.cycle_ends_at + timedelta(hours=1))
    clock.advance(days=2)
    api.post("/v1/accounts/ana/charges", json=nano(100), headers=idem())

    advice = ana.get("/v1/accounts/ana/advice/plan").json()
    assert (advice["action"], advice["recommended_plan"]) == ("upgrade", "ultra")
    assert [c["used"] for c in advice["cycles"]] == [1_000, 400, 1_000]
    assert [c["ran_out_at"] is not None for c in advice["cycles"]] == [True, False, True]
    cycles = ana.get("/v1/accounts/ana/cycles", params={"cycles": 2}).json()
    assert [c["expired"] for c in cycles] == [600, 0]

    forecast = ana.get("/v1/accounts/ana/forecast").json()
    assert forecast["used"] == 100 and forecast["available"] == 900
    assert forecast["runs_out_at"] is not None  # 100 in two days of a 31-day cycle

    report = ana.get("/v1/accounts/ana/report", params={"periods": 4}).json()
    assert [p["used"] for p in report["periods"]] == [1_000, 400, 1_000, 100]
    assert report["periods"][0]["by_project"] == [{"key": "acme", "credits": 1_000,
                                                   "charges": 1}]
    exported = ana.get("/v1/accounts/ana/report.csv", params={"periods": 4})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    used = [int(r["credits"]) for r in rows if (r["group"], r["key"]) == ("total", "used")]
    assert used == [1_000, 400, 1_000, 100]
    months = api.get("/v1/accounts/ana/report", params={"period": "month", "periods": 6})
    assert months.json()["used"] == 2_500
