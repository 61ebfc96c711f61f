"""The FastAPI application factory.

``create_app(credits)`` wires the routes, the problem-details error table, the request
middleware (request id, JSON logs, metrics, body limit) and, unless switched off, the
background sweep that renews cycles and expires holds on schedule. The sweep locks each
account as it brings it up to date, so several server processes may run it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gencredits import __version__
from gencredits.api import problems
from gencredits.api.deps import KeyCache
from gencredits.api.observability import GroupCommitCollector, Metrics, RequestMiddleware
from gencredits.api.rate_limits import SharedRateLimiter
from gencredits.api.routes import accounts, advice, catalog, events, money, ops
from gencredits.api.security_headers import SecurityHeadersMiddleware
from gencredits.domain.errors import GencreditsError
from gencredits.service import health
from gencredits.service.events import WebhookDispatcher
from gencredits.service.facade import Gencredits

log = logging.getLogger("gencredits.http")


@dataclass(frozen=True, slots=True)
class ApiSettings:
    sweep_interval_seconds: float = 30.0  # 0 switches the in-server sweep off
    webhook_interval_seconds: float = 2.0  # 0 switches webhook delivery off
    rate_per_second: float = 200.0  # per key, sustained, over all workers (0: no limits)
    rate_burst: int = 400
    # Wrong keys (API or dashboard sign-in) per client address: 10 a minute, 20 at once.
    failure_rate_per_second: float = 10 / 60
    failure_burst: int = 20
    max_body_bytes: int = 64 * 1024
    # Seconds an authenticated API key is trusted without a database read (0: every request
    # reads it). None: DEFAULT_KEY_CACHE_SECONDS where every process hears of a revocation at
    # once (a SQLite file), else no cache. See deps.KeyCache.
    key_cache_seconds: float | None = None


DEFAULT_KEY_CACHE_SECONDS = 60.0


def key_cache(credits: Gencredits, seconds: float | None) -> KeyCache | None:
    """The server's key cache (see ``ApiSettings.key_cache_seconds``)."""
    revocations = credits.key_revocations()
    if seconds is None:
        seconds = DEFAULT_KEY_CACHE_SECONDS if revocations is not None else 0.0
    return KeyCache(seconds, revocations=revocations) if seconds > 0 else None


def shared_limiter(
    credits: Gencredits, rate_per_second: float, burst: int
) -> SharedRateLimiter | None:
    """A limit every worker process of ``credits``' database shares; None when off."""
    if rate_per_second <= 0 or burst < 1:
        return None
    return SharedRateLimiter(
        rate_per_second, burst, fold=credits.fold_into_bucket, forget=credits.forget_full_buckets
    )


def background_tasks(
    credits: Gencredits, settings: ApiSettings, *, owns_service: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: the sweep and webhook delivery run beside the requests; at shutdown
    they stop, the rate limiters record what they counted, and an owned service closes."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.sweep_interval_seconds > 0:
            tasks.append(
                asyncio.create_task(_sweep_forever(credits, settings.sweep_interval_seconds))
            )
        dispatcher = None
        if settings.webhook_interval_seconds > 0:
            dispatcher = credits.webhook_dispatcher()
            tasks.append(asyncio.create_task(
                _deliver_forever(credits, dispatcher, settings.webhook_interval_seconds)
            ))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if dispatcher is not None:
                dispatcher.close()
            for limiter in (app.state.rate_limiter, app.state.failure_limiter):
                if limiter is not None:
                    await limiter.settle()
            if owns_service:
                await asyncio.to_thread(credits.close)

    return lifespan


def create_app(
    credits: Gencredits, settings: ApiSettings | None = None, *, owns_service: bool = False
) -> FastAPI:
    """The API over ``credits``; with ``owns_service`` it closes ``credits`` (its group
    committer, then its connections) at shutdown, after the last request has been answered."""
    settings = settings or ApiSettings()

    lifespan = background_tasks(credits, settings, owns_service=owns_service)

    app = FastAPI(
        title="gencredits",
        version=__version__,
        summary="Credits for generative-AI products: catalog, quotes, balances, safe charging.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hooks check the global providers on every request;
        # this service reports through Prometheus (/metrics) and JSON logs instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served below from local files: nothing loads from a CDN
        redoc_url=None,
        responses={
            401: {"model": problems_model(), "description": "Missing, unknown or revoked key"},
            422: {"model": problems_model(), "description": "Invalid input; `field` names it"},
        },
    )
    app.state.credits = credits
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(GroupCommitCollector(lambda: credits.committer))
    app.state.key_cache = key_cache(credits, settings.key_cache_seconds)
    app.state.rate_limiter = shared_limiter(credits, settings.rate_per_second,
                                            settings.rate_burst)
    app.state.failure_limiter = shared_limiter(
        credits, settings.failure_rate_per_second if settings.rate_per_second > 0 else 0,
        settings.failure_burst,
    )
    app.add_exception_handler(GencreditsError, problems.handle_domain_error)
    app.add_exception_handler(RequestValidationError, problems.handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.handle_http_error)
    for outage in health.DATABASE_OUTAGES:  # the store's and SQLAlchemy's: 503, not 500
        app.add_exception_handler(outage, problems.handle_database_unavailable)
    # Routes are matched in the order included: charges and holds first, the hot path (behind
    # catalog and accounts, a charge was compared against 17 routes: 5% of its server CPU).
    for module in (money, catalog, accounts, events, ops, advice):
        app.include_router(module.router)
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics,
                       max_body_bytes=settings.max_body_bytes)
    # Outside the request middleware, so its own answers (413) get the headers too.
    app.add_middleware(SecurityHeadersMiddleware)
    install_docs(app)
    return app


def problems_model() -> type:
    from gencredits.api.schemas import ProblemOut

    return ProblemOut


async def _sweep_forever(credits: Gencredits, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            result = await asyncio.to_thread(credits.renew)
            if result.accounts_updated:
                log.info('{"event": "sweep", "accounts_updated": %d}', result.accounts_updated)
        except Exception:
            log.exception("sweep failed")


async def _deliver_forever(
    credits: Gencredits, dispatcher: WebhookDispatcher, interval_seconds: float
) -> None:
    """Send due webhook deliveries; several servers may do this at once (deliveries are
    claimed before they are sent)."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await asyncio.to_thread(dispatcher.run_once, credits.clock.now())
        except Exception:
            log.exception("webhook delivery failed")


def install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs``, its script and styles served from the installed
    ``fastapi-offline`` package (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI
    serves; the 3.x bundle used before rendered only an error), so the docs render offline;
    its start-up script is served as a file too, so the page's policy needs no inline script."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.responses import HTMLResponse, Response
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-static", StaticFiles(directory=str(static)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)

    @app.get("/docs-start.js", include_in_schema=False)
    def docs_start() -> Response:
        return Response(DOCS_START_SCRIPT, media_type="text/javascript")


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gencredits API</title>
<link rel="icon" href="/docs-static/favicon.png">
<link rel="stylesheet" href="/docs-static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs-static/swagger-ui-bundle.js"></script>
<script src="/docs-start.js"></script>
</body>
</html>
"""

DOCS_START_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
