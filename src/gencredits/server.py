"""The composition root: the HTTP API and the web dashboard in one app, built from the
environment for uvicorn's worker processes (``gencredits serve``)."""

from __future__ import annotations

import gc
import os

from fastapi import FastAPI

from gencredits.api.app import ApiSettings, create_app, switch_from_environment
from gencredits.api.observability import configure_json_logging
from gencredits.client import Client
from gencredits.protocol import CreditsApi
from gencredits.service.facade import Gencredits
from gencredits.service.facade import open as open_service
from gencredits.web import install_dashboard


def settings_from_environment() -> ApiSettings:
    return ApiSettings(
        sweep_interval_seconds=float(os.environ.get("GENCREDITS_SWEEP_SECONDS", "30")),
        webhook_interval_seconds=float(os.environ.get("GENCREDITS_WEBHOOK_SECONDS", "2")),
        rate_per_second=float(os.environ.get("GENCREDITS_RATE_PER_SECOND", "200")),
        rate_burst=int(os.environ.get("GENCREDITS_RATE_BURST", "400")),
        failure_rate_per_second=float(
            os.environ.get("GENCREDITS_AUTH_FAILURES_PER_MINUTE", "10")) / 60,
        failure_burst=int(os.environ.get("GENCREDITS_AUTH_FAILURE_BURST", "20")),
        key_cache_seconds=_seconds_or_none(os.environ.get("GENCREDITS_KEY_CACHE_SECONDS")),
    )


def _seconds_or_none(value: str | None) -> float | None:
    return None if value is None or not value.strip() else float(value)


def group_commit_from_environment() -> bool:
    """``GENCREDITS_GROUP_COMMIT``: on unless ``0``/``false``/``no``/``off``."""
    return switch_from_environment("GENCREDITS_GROUP_COMMIT", default=True)


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
    pool_size = int(os.environ.get("GENCREDITS_POOL_SIZE", "20"))
    group_commit = group_commit_from_environment()
    settings = settings_from_environment()
    credits = open_service(pool_size=pool_size, background_checkpoints=True)
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
