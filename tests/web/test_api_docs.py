"""The API documentation in a real browser: ``/docs`` must render the operations of the
served OpenAPI document (3.1), offline, not Swagger UI's "Unable to render this definition"."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.conftest import Site


def test_the_docs_render_the_charge_operation(page: Page, site: Site, screenshots: Path) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(site.url + "/docs")
    charge = page.get_by_role(
        "button", name="POST /v1/accounts/{account_id}/charges Charge a request"
    )
    expect(charge).to_be_visible()
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    charge.click()
    expect(page.get_by_text("Idempotency-Key").first).to_be_visible()
    page.screenshot(path=str(screenshots / "api-docs.png"))
    # Everything the page loaded came from the server itself: nothing from a CDN.
    assert requested and all(url.startswith((site.url, "data:")) for url in requested)
