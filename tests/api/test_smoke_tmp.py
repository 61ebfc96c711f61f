from tests.api.support import LiveServer, idem, open_account, FLUX_4

def show(r):
    print(r.request.method, r.request.url, r.status_code, r.headers.get("content-type"), r.text[:300])

def test_explore(live: LiveServer) -> None:
    c = live.client()
    open_account(c, "ana")
    for path in ["/v1/entries/9223372036854775808", "/v1/holds/9223372036854775808",
                 "/v1/entries/-1", "/v1/accounts/ana/entries?cursor=9223372036854775808",
                 "/v1/events?after=9223372036854775808", "/v1/catalog-versions?limit=99999999999999999999",
                 "/v1/accounts?limit=0", "/v1/accounts/" + "x"*300, "/v1/accounts/ana/entries?kind=bogus",
                 "/v1/accounts/ana/entries?since=garbage", "/v1/catalog/nope", "/problems/nope", "/problems/not_found",
                 "/v1/accounts?after=" + "a"*100, "/v1/keys", "/v1/webhooks", "/v1/verify", "/v1/plans", "/v1/events"]:
        show(c.get(path))
    show(c.post("/v1/quotes", json={"lines":[{"model":"flux-2-pro"}], "price_version": 2**40}))
    show(c.post("/v1/quotes", json={"lines":[{"model":"flux-2-pro"}], "price_version": 2**70}))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"flux-2-pro"}], "price_version": 2**40}, headers=idem()))
    show(c.post("/v1/accounts/ana/holds", json={"lines":[{"model":"flux-2-pro"}], "ttl_seconds": 2**70}, headers=idem()))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"veo-3","seconds":2**70, "quality":"1080p"}]}, headers=idem()))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"x"*65}]}, headers=idem()))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"flux-2-pro"}]}, headers=idem("x"*201)))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"flux-2-pro"}]}, headers={"Idempotency-Key": "\x01a"}))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"flux-2-pro"}], "project": "p"*121}, headers=idem()))
    show(c.post("/v1/accounts/ana/charges", json=[1,2], headers=idem()))
    show(c.post("/v1/accounts/ana/charges", json=None, headers=idem()))
    show(c.post("/v1/accounts/ana/charges", content=b"", headers=idem()))
    show(c.post("/v1/accounts/ana/refund", json={}, headers=idem()))
    show(c.post("/v1/entries/1/refund", json={}, headers=idem()))
    show(c.post("/v1/accounts/ana/grants", json={"amount":5,"source":"topup"}, headers=idem()))
    show(c.post("/v1/accounts/ana/grants", json={"amount":5,"source":"promo","expires_at":"2020-01-01T00:00:00Z"}, headers=idem()))
    show(c.post("/v1/accounts/ana/grants", json={"amount":5,"source":"promo","expires_at":"99999-01-01"}, headers=idem()))
    show(c.post("/v1/accounts/ana/adjustments", json={"amount":0,"reason":"x"}, headers=idem()))
    show(c.post("/v1/accounts/ana/adjustments", json={"amount":-5000,"reason":"x"}, headers=idem()))
    show(c.post("/v1/transfers", json={"from_account":"ana","to_account":"ana","amount":5}, headers=idem()))
    show(c.post("/v1/transfers", json={"from_account":"ana","to_account":"nobody","amount":5}, headers=idem()))
    show(c.put("/v1/accounts/ana/plan", json={"plan":"nope"}, headers=idem()))
    show(c.put("/v1/accounts/ana/plan", json={"plan":"ultra"}, headers=idem()))
    show(c.put("/v1/accounts/ana/projects/acme/cap", json={"cap": 10}))
    show(c.put("/v1/accounts/nobody/projects/acme/cap", json={"cap": 10}))
    show(c.put("/v1/accounts/ana/projects/" + "p"*200 + "/cap", json={"cap": 10}))
    show(c.post("/v1/accounts/ana/charges", json={"lines":[{"model":"flux-2-pro","count":3}], "project":"acme"}, headers=idem()))
    show(c.post("/v1/accounts/ana/members", json={"add":["x"]}))
    show(c.post("/v1/accounts", json={"id":"pool","name":"P","kind":"pool","members":["a","b"]}, headers=idem()))
    show(c.post("/v1/accounts", json={"id":"bad id!","name":"P"}, headers=idem()))
    show(c.post("/v1/accounts", json={"id":"ana","name":"P"}, headers=idem()))
    show(c.post("/v1/accounts", json={"name":"P"}, headers=idem()))
    show(c.post("/v1/keys", json={"name":"k","account_id":"nobody"}))
    show(c.delete("/v1/keys/nope"))
    show(c.delete("/v1/webhooks/nope"))
    show(c.post("/v1/webhooks", json={"url":"notaurl!!"}))
    show(c.put("/v1/settings/topups", json={"enabled": "yes"}))
    show(c.put("/v1/plans/x", json={}))
    show(c.put("/v1/catalog/x", json={}))
    show(c.post("/v1/renewals", headers=idem()))
    show(c.get("/v1/accounts/ana/entries?limit=2"))
    show(c.get("/healthz")); show(c.get("/readyz")); show(c.get("/metrics"))
    show(c.get("/openapi.json"))
    assert False
