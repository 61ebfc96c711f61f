"""The composition root: the HTTP API and the web dashboard in one app, built from the
environment for uvicorn's worker processes (``gencredits serve``)."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from gencredits.api.app import ApiSettings, create_app
from gencredits.api.observability import configure_json_logging
from gencredits.client import Client
from gencredits.config import Settings
from gencredits.protocol import CreditsApi
from gencredits.service.facade import Gencredits
from gencredits.service.facade import open as open_service
from gencredits.web import install_dashboard


def settings_from_environment(settings: Settings | None = None) -> ApiSettings:
    settings = settings or Settings.from_environment()
    return ApiSettings(
        sweep_interval_seconds=settings.sweep_seconds,
        webhook_interval_seconds=settings.webhook_seconds,
        rate_per_second=settings.rate_per_second,
        rate_burst=settings.rate_burst,
        failure_rate_per_second=settings.auth_failures_per_minute / 60,
        failure_burst=settings.auth_failure_burst,
        key_cache_seconds=settings.key_cache_seconds,
    )


def group_commit_from_environment() -> bool:
    """``GENCREDITS_GROUP_COMMIT``: on unless ``0``/``false``/``no``/``off``."""
    return Settings.from_environment().group_commit


def build_app(
    credits: Gencredits, settings: ApiSettings | None = None, *, owns_service: bool = False
) -> FastAPI:
    """The API and everything served beside it: the web dashboard at ``/`` and ``/app/``.
    With ``owns_service`` the app closes ``credits`` when it shuts down."""
    app = create_app(credits, settings, owns_service=owns_service)
    install_dashboard(app)
    return app


def app_from_environment() -> FastAPI:
    """uvicorn factory: ``GENCREDITS_DATABASE_URL`` names the database.

    Charges go through group commit (``GENCREDITS_GROUP_COMMIT``, on by default): the request
    threads' concurrent charges share one transaction and one fsync, each still answered only
    once its charge is durable. The service, and with it the group committer (charges already
    submitted are committed first), is closed when the server shuts down."""
    configure_json_logging()
    environment = Settings.from_environment()
    group_commit = environment.group_commit
    settings = settings_from_environment(environment)
    credits = open_service(pool_size=environment.pool_size, background_checkpoints=True)
    # Load the catalog and plans now: read lazily, they would be read through a second pooled
    # connection from inside the first requests' write transactions, and with more concurrent
    # charges than connections (SQLite) that waits on the pool while holding the write lock.
    credits.catalog()
    credits.plans()
    if group_commit:
        credits.start_group_commit()
    app = build_app(credits, settings, owns_service=True)
    # What exists now (modules, the app, the catalog) lives as long as the process: leave it
    # out of the cyclic collector's full passes, whose pauses were part of the p99.
    gc.collect()
    gc.freeze()
    return app


def credits_apis(local: Gencredits, remote: Client) -> tuple[CreditsApi, CreditsApi]:
    """Both front doors as :class:`~gencredits.protocol.CreditsApi`: ``mypy --strict`` checks
    this assignment, so a door of ``Gencredits`` or ``Client`` that parts from the protocol
    fails ``make lint`` (tests/architecture/test_protocol.py checks the same names at run
    time)."""
    in_process: CreditsApi = local
    over_http: CreditsApi = remote
    return in_process, over_http
