"""Every response carries the headers its kind needs (issue 16, defect 10).

Every answer: ``X-Content-Type-Options: nosniff`` and a ``Referrer-Policy``. HTML (dashboard
pages, the sign-in page, Swagger UI at /docs): also ``X-Frame-Options: DENY`` and a
Content-Security-Policy with ``frame-ancestors 'none'``. Walked: every operation of the
OpenAPI document (whatever it answers: 2xx, 404, 422), /docs, /redoc, /openapi.json, the docs'
static files, the dashboard's pages signed in and out, its static files, a 413 and a 404.
"""

from __future__ import annotations

import httpx

from tests.api.support import LiveServer
from tests.reliability.openapi_fields import Browser

DASHBOARD_PAGES = ("/app/generate", "/app/estimate", "/app/history", "/app/advice",
                   "/app/operator", "/app/operator/catalog", "/app/operator/accounts",
                   "/app/balance", "/app/api/quote?model=flux-2-pro", "/app/nowhere")
PUBLIC = ("/", "/docs", "/redoc", "/openapi.json", "/docs-start.js",
          "/docs-static/swagger-ui.css", "/docs-static/swagger-ui-bundle.js",
          "/app/static/app.css", "/app/static/app.js", "/healthz", "/metrics", "/nowhere")


def problems_with(response: httpx.Response) -> list[str]:
    """What ``response`` lacks for its kind (empty when it has everything)."""
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    missing = []
    if headers.get("x-content-type-options") != "nosniff":
        missing.append(f"{where}: no nosniff")
    if not headers.get("referrer-policy"):
        missing.append(f"{where}: no Referrer-Policy")
    if headers.get("content-type", "").startswith("text/html"):
        if headers.get("x-frame-options") != "DENY":
            missing.append(f"{where}: HTML without X-Frame-Options: DENY")
        if "frame-ancestors 'none'" not in headers.get("content-security-policy", ""):
            missing.append(f"{where}: HTML without CSP frame-ancestors 'none'")
    return missing


def test_every_operation_and_page_answers_with_its_headers(live: LiveServer) -> None:
    api = live.client()
    document = api.get("/openapi.json").json()
    missing: list[str] = []
    kinds: set[str] = set()
    for path, operations in document["paths"].items():
        concrete = path.replace("{", "").replace("}", "")  # /v1/holds/hold_id: a 404 or 422
        for method in operations:
            response = api.request(method.upper(), concrete, json={},
                                   headers={"Idempotency-Key": f"k-{method}-{path}"})
            missing += problems_with(response)
            kinds.add(response.headers.get("content-type", "").split(";")[0])
    live.credits.create_account("ana", name="Ana", plan="pro")
    for path in ("/v1/accounts/ana/report.csv", "/v1/accounts/ana", "/metrics"):
        response = api.get(path)
        missing += problems_with(response)
        kinds.add(response.headers.get("content-type", "").split(";")[0])
    anonymous = live.anonymous()
    for path in PUBLIC:
        response = anonymous.get(path)
        missing += problems_with(response)
        kinds.add(response.headers.get("content-type", "").split(";")[0])
    too_large = api.post("/v1/quotes", content=b"x" * 100_000,
                         headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413
    missing += problems_with(too_large)
    browser = Browser(live)
    for path in DASHBOARD_PAGES:
        response = browser.client.get(path, headers={"Cookie": browser.cookie})
        missing += problems_with(response)
        kinds.add(response.headers.get("content-type", "").split(";")[0])
    assert not missing, "\n".join(missing)
    assert {"application/json", "application/problem+json", "text/html", "text/css", "text/csv",
            "text/javascript"} <= kinds, kinds
