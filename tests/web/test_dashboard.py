"""The dashboard in a real browser: sign in, price live, charge, estimate, read the charts,
operator pages and their refusals, sign out. Each page is also saved as a screenshot under
test-artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Site


def sign_in(page: Page, site: Site, key: str) -> None:
    page.goto(site.url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/generate"))


def shoot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def available(page: Page) -> int:
    return int(page.locator("#header-available").inner_text().replace(",", ""))


def test_sign_in_page_refuses_a_wrong_key(page: Page, site: Site, screenshots: Path) -> None:
    page.goto(site.url + "/app/balance")
    expect(page).to_have_url(re.compile(r"/\?next="))
    shoot(page, screenshots, "signin")
    page.get_by_label("API key").fill("gc_ak_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Key: this key is unknown")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")


def test_model_selector_prices_live(page: Page, site: Site, screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    models = page.locator("#generate-form")
    expect(models.get_by_role("group", name="Images")).to_be_visible()
    expect(models.get_by_role("group", name="Video")).to_be_visible()
    expect(page.locator('label[for="model-flux-2-pro"]')).to_contain_text("5")
    page.locator('label[for="model-flux-2-pro"]').click()
    page.get_by_label("Outputs", exact=True).fill("1")
    expect(page.locator("#total")).to_have_text("5")
    page.get_by_label("Outputs", exact=True).fill("4")
    expect(page.locator("#total")).to_have_text("18")
    expect(page.locator("#explanation")).to_contain_text("10% batch discount")
    expect(page.locator("#coverage")).to_contain_text("covers it")
    # A video model brings its own choices: seconds and quality.
    page.locator('label[for="model-veo-3"]').click()
    expect(page.get_by_label("Seconds", exact=True)).to_be_visible()
    page.get_by_label("Seconds", exact=True).select_option("8")
    page.get_by_label("Quality", exact=True).select_option("1080p")
    expect(page.locator("#total")).to_have_text("120")
    page.locator('label[for="model-flux-2-pro"]').click()
    page.get_by_label("Outputs", exact=True).fill("4")
    expect(page.locator("#total")).to_have_text("18")
    expect(page.get_by_label("Seconds", exact=True)).to_be_hidden()
    shoot(page, screenshots, "generate-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#total")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshots / "generate-phone.png"))
    expect(page.locator(".mobile-summary [data-total]")).to_have_text("18")
    page.get_by_role("link", name="Continue to options and charge").click()
    page.screenshot(path=str(screenshots / "generate-phone-order.png"))


def test_too_many_outputs_are_refused_naming_the_field(page: Page, site: Site) -> None:
    sign_in(page, site, site.account_key)
    page.locator('label[for="model-flux-2-pro"]').click()
    page.get_by_label("Outputs", exact=True).fill("9")
    expect(page.locator("#explanation")).to_contain_text(
        "Outputs must be between 1 and 4, got 9 (flux-2-pro makes at most 4"
    )
    expect(page.get_by_role("button", name="Charge")).to_be_disabled()


def test_charge_lowers_the_balance(page: Page, site: Site, screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    before = available(page)
    page.locator('label[for="model-flux-2-pro"]').click()
    page.get_by_label("Outputs", exact=True).fill("4")
    page.get_by_label("Project (optional)").fill("web-test")
    expect(page.locator("#total")).to_have_text("18")
    page.get_by_role("button", name="Charge").click()
    expect(page.locator("#charged-notice")).to_contain_text("Charged 18 credits")
    assert available(page) == before - 18
    shoot(page, screenshots, "generate-charged")
    page.get_by_role("link", name="Balance").click()
    expect(page.locator("#available")).to_have_text(f"{before - 18:,}")
    expect(page.locator("#forecast")).to_contain_text("credits")
    expect(page.get_by_label(re.compile("Allowance used"))).to_be_visible()
    shoot(page, screenshots, "balance")


def test_estimator_adds_lines_and_a_buffer(page: Page, site: Site, screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    page.get_by_role("link", name="Estimator").click()
    expect(page.get_by_role("heading", name="Nothing to estimate yet")).to_be_visible()
    page.get_by_label("Model").select_option("flux-2-pro")
    page.get_by_label("Requests").fill("50")
    page.get_by_role("button", name="Estimate").click()
    expect(page.locator("#estimate-subtotal")).to_have_text("250")
    expect(page.locator("#estimate-buffer")).to_have_text("50")
    expect(page.locator("#estimate-total")).to_have_text("300")
    expect(page.locator("#estimate-result")).to_contain_text("Imagen 4")
    page.get_by_role("button", name="Add a line").click()
    line_two = page.get_by_role("group", name="Line 2")
    line_two.get_by_label("Model").select_option("nano-banana-2")
    line_two.get_by_label("Requests").fill("20")
    page.get_by_role("button", name="Estimate").click()
    expect(page.locator("#estimate-subtotal")).to_have_text("270")
    expect(page.locator("#estimate-total")).to_have_text("324")
    shoot(page, screenshots, "estimator")


def test_history_shows_charts_and_the_ledger(page: Page, site: Site, screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    page.get_by_role("link", name="History").click()
    days = page.locator("svg#chart-days")
    expect(days).to_be_visible()
    expect(days.locator("title").first).to_contain_text("per day")
    assert days.locator("rect.bar").count() >= 3
    assert page.locator("svg#chart-cycles rect.bar").count() >= 3
    expect(page.locator("#ledger tbody tr").first).to_be_visible()
    shoot(page, screenshots, "history")
    assert page.locator("#ledger tbody tr").count() == 25
    newest = page.locator("#ledger tbody tr").first.inner_text()
    page.get_by_role("link", name="Older entries").click()
    expect(page.get_by_role("link", name="Newest")).to_be_visible()
    expect(page.locator("#ledger tbody tr").first).not_to_have_text(newest)
    page.get_by_role("link", name="Newest").click()
    page.get_by_role("link", name="By project").click()
    expect(page.locator("figure").first).to_contain_text("spring-campaign")
    page.get_by_label("Kind", exact=True).select_option("grant")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#ledger tbody tr").first).to_contain_text("grant")
    page.get_by_label("Project", exact=True).fill("no-such-project")
    page.get_by_label("Kind", exact=True).select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No entries match these filters.")).to_be_visible()


def test_advice_plans_drafts_and_models(page: Page, site: Site, screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    page.get_by_role("link", name="Advice").click()
    expect(page.locator("#plan-verdict")).to_contain_text("Pro")
    expect(page.locator("#drafts-saving")).to_contain_text("220 credits (73.3%)")
    page.get_by_label("Task", exact=True).select_option("vector")
    page.get_by_role("button", name="Advise").click()
    expect(page.locator("ol.ranked")).to_contain_text("Recraft V4")
    shoot(page, screenshots, "advice")


def test_an_account_key_sees_only_its_own_account(page: Page, site: Site,
                                                  screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    expect(page.get_by_role("link", name="Catalog")).to_have_count(0)
    response = page.goto(site.url + "/app/operator/catalog")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Operator only")).to_be_visible()
    shoot(page, screenshots, "forbidden")
    response = page.goto(site.url + "/app/balance?account=bob")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(site.url + "/app/history?account=bob")
    assert response is not None and response.status == 404


def test_operator_edits_a_price_and_grants_credits(page: Page, site: Site,
                                                   screenshots: Path) -> None:
    sign_in(page, site, site.operator_key)
    page.get_by_role("link", name="Catalog").click()
    expect(page.locator("#catalog-table")).to_contain_text("Flux 2 Max")
    expect(page.get_by_text(re.compile("priced below the target margin"))).to_be_visible()
    shoot(page, screenshots, "operator-catalog")
    row = page.locator("#model-dall-e-3")
    row.locator("summary").click()
    row.get_by_label("Credits per image").fill("3")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "operator-catalog-edit.png"))
    row.get_by_role("button", name="Publish new price").click()
    expect(page.locator("#published")).to_contain_text("Published price version")
    expect(page.locator("#model-dall-e-3")).to_contain_text("3 / image")

    page.get_by_role("link", name="Accounts").click()
    expect(page.locator("#accounts-table")).to_contain_text("Bob Kim")
    grant = page.locator("#grant-form")
    grant.get_by_label("Account").fill("bob")
    grant.get_by_label("Credits").fill("250")
    grant.get_by_label("Source").select_option("promo")
    grant.get_by_role("button", name="Grant").click()
    expect(page.locator("#done")).to_contain_text("Granted +250 credits on bob")
    adjust = page.locator("#adjust-form")
    adjust.get_by_label("Account").fill("nobody")
    adjust.get_by_label(re.compile("Credits")).fill("-50")
    adjust.get_by_label("Reason").fill("goodwill correction")
    adjust.get_by_role("button", name="Adjust").click()
    expect(page.get_by_role("alert")).to_contain_text("Account: no account 'nobody'")
    adjust = page.locator("#adjust-form")
    expect(adjust.get_by_label("Reason")).to_have_value("goodwill correction")
    adjust.get_by_label("Account").fill("bob")
    adjust.get_by_role("button", name="Adjust").click()
    expect(page.locator("#done")).to_contain_text("Adjusted -50 credits on bob")
    shoot(page, screenshots, "operator-accounts")

    page.get_by_label("Viewing account").fill("bob")
    page.get_by_role("button", name="View").click()
    page.get_by_role("link", name="Balance").click()
    expect(page.locator("#available")).to_have_text("1,200")
    expect(page.locator(".page-head .lead")).to_contain_text("Bob Kim")


def test_sign_out_ends_the_session(page: Page, site: Site) -> None:
    sign_in(page, site, site.account_key)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    page.goto(site.url + "/app/balance")
    expect(page).to_have_url(re.compile(r"/\?next="))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_pages_fit_a_phone_screen(page: Page, site: Site, screenshots: Path) -> None:
    sign_in(page, site, site.account_key)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [("/app/generate", "generate"), ("/app/balance", "balance"),
                       ("/app/estimate?model=flux-2-pro&count=50", "estimator"),
                       ("/app/history", "history"), ("/app/advice", "advice")]:
        page.goto(site.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px screen"
        shoot(page, screenshots, f"phone-{name}")


def test_the_selector_works_without_javascript(browser: Browser, site: Site) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site, site.account_key)
        page.locator('label[for="model-veo-3"]').click()
        page.get_by_role("button", name="Update price").click()
        expect(page.get_by_label("Seconds", exact=True)).to_be_visible()
        page.get_by_label("Seconds", exact=True).select_option("8")
        page.get_by_role("button", name="Update price").click()
        expect(page.locator("#total")).to_have_text("80")
        page.locator('label[for="model-flux-2-pro"]').click()
        page.get_by_label("Outputs", exact=True).fill("4")
        page.get_by_role("button", name="Update price").click()
        expect(page.locator("#total")).to_have_text("18")
        expect(page.get_by_label("Seconds", exact=True)).to_be_hidden()
    finally:
        context.close()
