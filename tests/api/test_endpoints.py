"""Every route answers its documented success, over a real server, on both backends."""

from __future__ import annotations

import httpx

from gencredits import AccountView, Entry, Hold, Settlement, Transfer
from tests.api.support import FLUX_4, LiveServer, idem, open_account

VEO_8 = {"lines": [{"model": "veo-3", "seconds": 8, "quality": "1080p"}]}


def test_operations_answer_without_a_key(live: LiveServer) -> None:
    anonymous = live.anonymous()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    anonymous.get("/healthz")
    metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert 'gencredits_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        metrics.text
    )
    document = anonymous.get("/openapi.json").json()
    assert document["info"]["title"] == "gencredits"
    assert "/v1/accounts/{account_id}/charges" in document["paths"]
    page = anonymous.get("/problems/insufficient_credits")
    assert page.status_code == 200 and "Not enough credits" in page.text


def test_responses_carry_a_request_id(live: LiveServer) -> None:
    response = live.anonymous().get("/healthz", headers={"X-Request-Id": "trace-7"})
    assert response.headers["x-request-id"] == "trace-7"
    assert len(live.anonymous().get("/healthz").headers["x-request-id"]) == 32


def test_catalog_quotes_and_plans(api: httpx.Client) -> None:
    catalog = api.get("/v1/catalog").json()
    assert catalog["price_version"] == 1
    flux = next(model for model in catalog["models"] if model["id"] == "flux-2-pro")
    assert flux["credits"] == "5" and flux["price"]["rule"] == "flat"
    assert api.get("/v1/catalog/flux-2-pro").json()["name"] == "Flux 2 Pro"

    quote = api.post("/v1/quotes", json=FLUX_4).json()
    assert (quote["total"], quote["undiscounted"], quote["price_version"]) == (18, 20, 1)
    assert quote["lines"][0]["explanation"] == "4 x 5 = 20, 10% batch discount -> 18"
    fifty = api.post("/v1/quotes", json={"lines": [{"model": "flux-2-pro", "count": 50}]})
    assert fifty.json()["total"] == 250

    plans = {plan["id"]: plan for plan in api.get("/v1/plans").json()}
    assert plans["pro"]["allowance_credits"] == 1000


def test_operators_publish_models_and_plans(api: httpx.Client) -> None:
    model = {"name": "Cheap Draft", "kind": "image", "tier": "budget",
             "price": {"rule": "flat", "credits": 1}, "max_outputs": 2}
    published = api.put("/v1/catalog/cheap-draft", json=model)
    assert published.status_code == 200, published.text
    assert (published.json()["id"], published.json()["price_version"]) == ("cheap-draft", 2)
    versions = api.get("/v1/catalog-versions").json()
    assert [version["version"] for version in versions] == [2, 1]
    old = api.post("/v1/quotes", json={"lines": [{"model": "flux-2-pro"}], "price_version": 1})
    assert old.json()["price_version"] == 1

    plan = {"name": "Studio", "allowance_credits": 20000, "period": "month"}
    assert api.put("/v1/plans/studio", json=plan).json()["allowance_credits"] == 20000
    assert "studio" in {p["id"] for p in api.get("/v1/plans").json()}


def test_accounts_open_page_and_change(api: httpx.Client) -> None:
    ana = AccountView.from_dict(open_account(api, "ana"))
    assert (ana.plan_id, ana.balance_credits, ana.available_credits) == ("pro", 1000, 1000)
    open_account(api, "bob", plan="free")
    open_account(api, "cy")
    first = api.get("/v1/accounts", params={"limit": 2}).json()
    assert [a["id"] for a in first["accounts"]] == ["ana", "bob"]
    assert first["next_cursor"] == "bob"
    rest = api.get("/v1/accounts", params={"after": "bob", "limit": 2}).json()
    assert [a["id"] for a in rest["accounts"]] == ["cy"] and rest["next_cursor"] is None
    assert api.get("/v1/accounts/bob").json()["plan"] == "free"

    members = api.post("/v1/accounts/cy/members", json={"add": ["dee", "eve"]}).json()
    assert members["members"] == ["dee", "eve"] and members["kind"] == "pool"
    upgraded = api.put("/v1/accounts/ana/plan", json={"plan": "ultra"}, headers=idem()).json()
    assert upgraded["change"] == "upgrade" and upgraded["account"]["balance"] == 5000
    capped = api.put("/v1/accounts/ana/projects/acme/cap", json={"cap": 20})
    assert capped.status_code == 204 and capped.content == b""


def test_charge_hold_capture_release_refund(live: LiveServer, api: httpx.Client) -> None:
    open_account(api, "ana")
    charged = api.post("/v1/accounts/ana/charges", json=FLUX_4 | {"project": "acme",
                                                                   "job_ref": "job-1"},
                       headers=idem())
    assert charged.status_code == 201, charged.text
    charge = Entry.from_dict(charged.json())
    assert (charge.amount_credits, charge.balance_after, charge.project) == (18, 982, "acme")
    assert charge.actor.startswith("key:")
    assert api.get(f"/v1/entries/{charge.id}").json()["details"]["total"] == 18

    held = api.post("/v1/accounts/ana/holds", json=FLUX_4 | {"ttl_seconds": 600},
                    headers=idem())
    assert held.status_code == 201, held.text
    hold = Hold.from_dict(held.json())
    assert (hold.amount_credits, hold.status.value) == (18, "pending")
    assert api.get(f"/v1/holds/{hold.id}").json()["status"] == "pending"
    assert api.get("/v1/accounts/ana").json()["available"] == 982 - 18

    captured = api.post(f"/v1/holds/{hold.id}/capture", json={"outputs_delivered": 3},
                        headers=idem())
    assert captured.status_code == 200, captured.text
    settled = Settlement.from_dict(captured.json())
    assert settled.capture is not None and settled.capture.amount_credits == 14  # 3 x 5, 7% off
    assert settled.release is not None and settled.release.amount_credits == 4

    second = Hold.from_dict(api.post("/v1/accounts/ana/holds", json=VEO_8,
                                     headers=idem()).json())
    released = api.post(f"/v1/holds/{second.id}/release", headers=idem())
    assert released.status_code == 200 and released.json()["status"] == "released"

    refunded = api.post(f"/v1/entries/{charge.id}/refund", json={"amount": 5, "reason": "blurry"},
                        headers=idem())
    assert refunded.status_code == 201, refunded.text
    assert (refunded.json()["kind"], refunded.json()["amount"]) == ("refund", 5)
    assert api.get("/v1/accounts/ana").json()["balance"] == 1000 - 18 - 14 + 5
    assert api.get("/v1/verify").json()["ok"] is True
    assert live.entry_count("ana") == 1 + 1 + 1 + 2 + 1 + 1 + 1  # grant..refund


def test_grants_adjustments_transfers_and_topups(api: httpx.Client) -> None:
    open_account(api, "ana")
    open_account(api, "bob")
    promo = api.post("/v1/accounts/ana/grants",
                     json={"amount": 50, "source": "promo", "expires_at": "2026-03-01T00:00:00Z",
                           "reason": "launch"}, headers=idem())
    assert promo.status_code == 201 and promo.json()["amount"] == 50
    adjusted = api.post("/v1/accounts/ana/adjustments", json={"amount": -30, "reason": "typo"},
                        headers=idem())
    assert adjusted.status_code == 201 and adjusted.json()["balance_delta"] == -30
    moved = api.post("/v1/transfers", json={"from_account": "ana", "to_account": "bob",
                                            "amount": 100}, headers=idem())
    assert moved.status_code == 201, moved.text
    transfer = Transfer.from_dict(moved.json())
    assert (transfer.outgoing.account_id, transfer.incoming.account_id) == ("ana", "bob")
    assert api.get("/v1/accounts/bob").json()["balance"] == 1100

    assert api.put("/v1/settings/topups", json={"enabled": True}).status_code == 204
    topup = api.post("/v1/accounts/ana/grants", json={"amount": 500, "source": "topup"},
                     headers=idem())
    assert topup.status_code == 201, topup.text


def test_history_pages_and_filters(api: httpx.Client) -> None:
    open_account(api, "ana")
    for _ in range(3):
        api.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem())
    page = api.get("/v1/accounts/ana/entries", params={"limit": 2}).json()
    assert [e["kind"] for e in page["entries"]] == ["charge", "charge"]
    assert page["next_cursor"] is not None
    rest = api.get("/v1/accounts/ana/entries",
                   params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["kind"] for e in rest["entries"]] == ["charge", "grant"]
    assert rest["next_cursor"] is None
    grants = api.get("/v1/accounts/ana/entries", params={"kind": "grant"}).json()
    assert [e["kind"] for e in grants["entries"]] == ["grant"]
    by_model = api.get("/v1/accounts/ana/entries", params={"model": "flux-2-pro"}).json()
    assert len(by_model["entries"]) == 3
    window = api.get("/v1/accounts/ana/entries",
                     params={"since": "2026-01-31T00:00:00Z", "until": "2026-02-01T00:00:00Z"})
    assert len(window.json()["entries"]) == 4


def test_events_webhooks_renewals_and_keys(live: LiveServer, api: httpx.Client) -> None:
    open_account(api, "ana")
    events = api.get("/v1/events").json()
    assert set(events) == {"events", "next_cursor"}

    hook = api.post("/v1/webhooks", json={"url": "https://example.com/hooks",
                                          "event_types": ["low_balance"]})
    assert hook.status_code == 201, hook.text
    assert hook.json()["secret"]
    assert [h["id"] for h in api.get("/v1/webhooks").json()] == [hook.json()["id"]]
    assert api.delete(f"/v1/webhooks/{hook.json()['id']}").status_code == 204

    live.clock.advance(days=29)
    renewed = api.post("/v1/renewals", headers=idem())
    assert renewed.status_code == 200 and renewed.json()["accounts_updated"] == 1

    made = api.post("/v1/keys", json={"name": "ana's app", "account_id": "ana"})
    assert made.status_code == 201 and made.json()["secret"].startswith("gc_ak_")
    assert made.json()["operator"] is False
    assert made.json()["id"] in {k["id"] for k in api.get("/v1/keys").json()}
    revoked = api.delete(f"/v1/keys/{made.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None


def test_account_keys_use_their_own_account(live: LiveServer, api: httpx.Client) -> None:
    open_account(api, "ana")
    ana = live.client(live.account_key("ana"))
    assert ana.get("/v1/accounts/ana").json()["balance"] == 1000
    assert ana.get("/v1/catalog").status_code == 200
    assert ana.post("/v1/quotes", json=FLUX_4).json()["total"] == 18
    charged = ana.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem())
    assert charged.status_code == 201
    held = ana.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()
    assert ana.get(f"/v1/holds/{held['id']}").status_code == 200
    assert ana.post(f"/v1/holds/{held['id']}/capture", json={}, headers=idem()).status_code == 200
    other = ana.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()
    assert ana.post(f"/v1/holds/{other['id']}/release", headers=idem()).status_code == 200
    assert ana.get(f"/v1/entries/{charged.json()['id']}").status_code == 200
    assert len(ana.get("/v1/accounts/ana/entries").json()["entries"]) == 6
    assert ana.get("/v1/events").status_code == 200
    assert ana.get("/v1/plans").status_code == 200


def test_provider_costs_are_the_operators_alone(live: LiveServer, api: httpx.Client) -> None:
    open_account(api, "pat")
    creator = live.client(live.account_key("pat"))
    operator_view = api.get("/v1/catalog/flux-2-pro").json()
    creator_view = creator.get("/v1/catalog/flux-2-pro").json()
    assert operator_view["provider_cost"] == "0.03"
    assert creator_view["provider_cost"] is None
    assert all(m["provider_cost"] is None for m in creator.get("/v1/catalog").json()["models"])


def test_the_docs_render_from_local_files(live: LiveServer) -> None:
    anonymous = live.anonymous()
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assert "/docs-static/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    script = anonymous.get("/docs-static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
