"""A real HTTP server for the API tests: uvicorn in a background thread on 127.0.0.1.

``serve()`` runs ``build_app(gencredits.open(database_url, clock=...))`` on both backends (the
``database_url`` fixture of tests/conftest.py), with the background sweep, webhook delivery
and the rate limit switched off unless asked, and hands out an operator key. Tests talk to it
with httpx, as any client would; Starlette's TestClient is not used (it warns, and it is not
a server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from benchmarks.processes import free_port

import gencredits
from gencredits.api.app import ApiSettings
from gencredits.server import build_app
from gencredits.service import keys
from tests.api.support import QUIET, START, LiveServer

STARTUP_SECONDS = 10.0


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start servers over ``database_url`` (a second one may share the database)."""
    running: list[tuple[uvicorn.Server, threading.Thread, LiveServer]] = []

    def start(settings: ApiSettings = QUIET) -> LiveServer:
        clock = gencredits.ManualClock(START)
        credits = gencredits.open(database_url, clock=clock, pool_size=5)
        app = build_app(credits, settings)
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        _, operator_key = keys.create_key(
            credits.engine, account_id=None, name="test operator", now=clock.now()
        )
        live = LiveServer(f"http://127.0.0.1:{port}", credits, clock, operator_key, app)
        running.append((server, thread, live))
        return live

    yield start
    for server, thread, live in running:
        live.close()
        server.should_exit = True
        thread.join(timeout=10)
        live.credits.close()


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve()


@pytest.fixture
def api(live: LiveServer) -> httpx.Client:
    """The operator's client."""
    return live.client()
