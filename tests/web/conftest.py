"""The dashboard end to end: the real app under uvicorn on a free port, driven by Debian's
Chromium through Playwright (never ``playwright install``: the browser is the system one).

One server and one browser serve the whole module; each test gets a fresh browser context (its
own cookies). The database is SQLite in a temporary directory, seeded through the library with
a ManualClock: an account on Pro with charges over the last two and a half months, a second
account, an account key and the operator key.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

import gencredits
from gencredits.api.app import ApiSettings
from gencredits.domain.pricing import LineItem, QuoteRequest
from gencredits.server import build_app
from gencredits.service.clock import ManualClock
from gencredits.service.facade import Gencredits
from gencredits.service.keys import create_key

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
STARTED_AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

# Charges of the seeded history: (day after the start, request, project).
SEEDED_CHARGES: tuple[tuple[int, QuoteRequest, str | None], ...] = tuple(
    (day, request, project)
    for day, request, project in [
        (1, QuoteRequest.single("flux-2-pro", outputs=4), "spring-campaign"),
        (3, QuoteRequest.single("nano-banana-2", outputs=4), None),
        (8, QuoteRequest.single("veo-3", seconds=8), "launch-video"),
        (15, QuoteRequest.single("flux-2-max", count=10), "spring-campaign"),
        (24, QuoteRequest.single("ideogram-3", outputs=2), None),
        (33, QuoteRequest.single("flux-2-pro", count=20), "spring-campaign"),
        (36, QuoteRequest.single("sora", seconds=6), "launch-video"),
        (44, QuoteRequest.single("recraft-v4", outputs=4), "brand-kit"),
        (52, QuoteRequest.single("flux-2-max", count=15), "brand-kit"),
        (60, QuoteRequest.single("nano-banana-2", count=40), None),
        (61, QuoteRequest.single("flux-2-pro", outputs=4), "spring-campaign"),
        (62, QuoteRequest((LineItem("imagen-4", count=5), LineItem("quality-boost", outputs=3))),
         "brand-kit"),
        (64, QuoteRequest.single("veo-3", seconds=5, quality="1080p"), "launch-video"),
        (66, QuoteRequest.single("gpt-image-1.5", outputs=3), None),
        (67, QuoteRequest.single("flux-2-pro", count=6), "spring-campaign"),
        (69, QuoteRequest.single("kling", seconds=4), "launch-video"),
        *((day, QuoteRequest.single("dall-e-3"), "sketches") for day in range(40, 47)),
    ]
)
NOW_DAY = 70  # the clock stands here while the tests run: 2026-03-12 09:00


@dataclass(frozen=True)
class Site:
    url: str
    credits: Gencredits
    account_key: str
    operator_key: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(credits: Gencredits, clock: ManualClock) -> tuple[str, str]:
    credits.create_account("ana", name="Ana Studio", plan="pro")
    credits.create_account("bob", name="Bob Kim", plan="pro")
    for number, (day, request, project) in enumerate(sorted(SEEDED_CHARGES,
                                                            key=lambda charge: charge[0])):
        clock.set(STARTED_AT + timedelta(days=day, hours=1, minutes=number))
        credits.charge("ana", request, idempotency_key=f"seed-{number}", project=project)
    clock.set(STARTED_AT + timedelta(days=NOW_DAY))
    _, account_secret = create_key(credits.engine, account_id="ana", name="web test",
                                   now=clock.now())
    _, operator_secret = create_key(credits.engine, account_id=None, name="web operator",
                                    now=clock.now())
    return account_secret, operator_secret


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    database = tmp_path_factory.mktemp("web") / "gencredits.db"
    clock = ManualClock(STARTED_AT)
    credits = gencredits.open(f"sqlite:///{database}", clock=clock)
    account_secret, operator_secret = seed(credits, clock)
    app = build_app(credits, ApiSettings(sweep_interval_seconds=0, webhook_interval_seconds=0,
                                         rate_per_second=0))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Site(f"http://127.0.0.1:{port}", credits, account_secret, operator_secret)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        credits.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (part of `make test`)",
                    pytrace=False)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
