"""The composition root: the HTTP API and the web dashboard in one app, built from the
environment for uvicorn's worker processes (``gencredits serve``)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from gencredits.api.app import ApiSettings, create_app
from gencredits.api.observability import configure_json_logging
from gencredits.service.facade import Gencredits
from gencredits.service.facade import open as open_service
from gencredits.web import install_dashboard


def settings_from_environment() -> ApiSettings:
    return ApiSettings(
        sweep_interval_seconds=float(os.environ.get("GENCREDITS_SWEEP_SECONDS", "30")),
        webhook_interval_seconds=float(os.environ.get("GENCREDITS_WEBHOOK_SECONDS", "2")),
        rate_per_second=float(os.environ.get("GENCREDITS_RATE_PER_SECOND", "200")),
        rate_burst=int(os.environ.get("GENCREDITS_RATE_BURST", "400")),
    )


def build_app(credits: Gencredits, settings: ApiSettings | None = None) -> FastAPI:
    """The API and everything served beside it: the web dashboard at ``/`` and ``/app/``."""
    app = create_app(credits, settings)
    install_dashboard(app)
    return app


def app_from_environment() -> FastAPI:
    """uvicorn factory: ``GENCREDITS_DATABASE_URL`` names the database."""
    configure_json_logging()
    pool_size = int(os.environ.get("GENCREDITS_POOL_SIZE", "20"))
    return build_app(open_service(pool_size=pool_size), settings_from_environment())
