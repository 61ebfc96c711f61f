"""How the server is put together for speed, with its behaviour kept: group commit behind
``GENCREDITS_GROUP_COMMIT`` (counted in /metrics, closed at shutdown), the opt-in cache of
authenticated keys, one thread-pool hop on the charge path, and ``TCP_NODELAY`` on the
connections of ``gencredits serve --workers N``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from benchmarks.processes import free_port
from sqlalchemy import update

import gencredits
from gencredits.api.deps import KeyCache
from gencredits.api.http import CheckedRoute
from gencredits.api.routes import accounts, advice, catalog, events, money, ops
from gencredits.cli import serve_commands
from gencredits.domain.errors import InvalidRequest
from gencredits.server import app_from_environment, group_commit_from_environment
from gencredits.service import keys
from gencredits.store.engine import write_transaction
from gencredits.store.tables import api_keys
from gencredits.web import auth_routes, generate_routes, insight_routes, operator_routes
from tests.api.support import (
    FLUX_4,
    QUIET,
    LiveServer,
    assert_problem,
    idem,
    open_account,
)

STARTUP_SECONDS = 10.0

# --- group commit in the server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ("1", True), ("true", True), ("ON", True), (" yes ", True),
     ("0", False), ("false", False), ("off", False), ("No", False)],
)
def test_group_commit_is_on_unless_switched_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("GENCREDITS_GROUP_COMMIT", raising=False)
    else:
        monkeypatch.setenv("GENCREDITS_GROUP_COMMIT", value)
    assert group_commit_from_environment() is expected


def test_a_bad_group_commit_setting_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENCREDITS_GROUP_COMMIT", "sometimes")
    with pytest.raises(InvalidRequest, match="GENCREDITS_GROUP_COMMIT") as refused:
        group_commit_from_environment()
    assert refused.value.field == "GENCREDITS_GROUP_COMMIT"


def test_serve_refuses_a_bad_group_commit_setting_before_it_starts(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("GENCREDITS_")}
    environment.update(GENCREDITS_GROUP_COMMIT="sometimes",
                       GENCREDITS_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "gencredits", "serve", "--port", str(free_port())],
        capture_output=True, text=True, env=environment, timeout=60, check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "GENCREDITS_GROUP_COMMIT must be" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """``app_from_environment`` sets up JSON logs on stderr; put the logger back after."""
    logger = logging.getLogger("gencredits")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def serve_in_thread(app: Any) -> tuple[str, Callable[[], None]]:
    """``app`` on a free port of 127.0.0.1, with its lifespan; returns the base URL and a
    function that stops the server (and waits for its shutdown)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on",
    ))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.005)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the server did not stop"

    return f"http://127.0.0.1:{port}", stop


@pytest.mark.parametrize("switch", ["1", "0"])
def test_the_server_charges_through_group_commit_counts_it_and_closes_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch, restored_logging: None, switch: str
) -> None:
    with gencredits.open(database_url, pool_size=2) as setup:
        setup.create_account("ana", name="Ana", plan="pro")
        _, secret = keys.create_key(setup.engine, account_id=None, name="op",
                                    now=setup.clock.now())
    for name, value in {
        "GENCREDITS_DATABASE_URL": database_url, "GENCREDITS_GROUP_COMMIT": switch,
        "GENCREDITS_SWEEP_SECONDS": "0", "GENCREDITS_WEBHOOK_SECONDS": "0",
        "GENCREDITS_RATE_PER_SECOND": "0", "GENCREDITS_POOL_SIZE": "5",
    }.items():
        monkeypatch.setenv(name, value)
    app = app_from_environment()
    credits: gencredits.Gencredits = app.state.credits
    assert (credits.committer is not None) is (switch == "1")
    base_url, stop = serve_in_thread(app)
    try:
        with httpx.Client(base_url=base_url, timeout=30,
                          headers={"Authorization": f"Bearer {secret}"}) as client:

            def charge(number: int) -> httpx.Response:
                return client.post("/v1/accounts/ana/charges", json=FLUX_4,
                                   headers=idem(f"charge-{number}"))

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(charge, range(24)))
            assert [answer.status_code for answer in answers] == [201] * 24
            metrics = client.get("/metrics").text
            replay = charge(3)
            assert replay.status_code == 201 and replay.json() == answers[3].json()
            short = client.post("/v1/accounts/ana/charges", headers=idem(),
                                json={"lines": [{"model": "flux-2-pro", "count": 1000}]})
            assert_problem(short, 402, "insufficient_credits")
            account = client.get("/v1/accounts/ana").json()
            assert account["balance"] == 1000 - 24 * 18
    finally:
        stop()
    if switch == "1":
        assert "gencredits_group_commit_charges_total 24.0" in metrics
        batches = next(line for line in metrics.splitlines()
                       if line.startswith("gencredits_group_commit_batches_total "))
        assert 1 <= float(batches.split()[1]) <= 24
    else:
        assert "gencredits_group_commit" not in metrics
    assert credits.committer is None  # the app closed the service at shutdown
    with gencredits.open(database_url, pool_size=1) as after:
        assert after.verify().ok
        assert after.account("ana").balance_credits == 1000 - 24 * 18


# --- the key cache -------------------------------------------------------------------------


def test_by_default_a_key_revoked_anywhere_is_refused_at_once(live: LiveServer) -> None:
    """Keys are cached by default on SQLite (not on PostgreSQL), and a key revoked by
    another process (here the library, as ``gencredits keys revoke`` does) is refused by the
    very next request either way."""
    cached = live.credits.engine.dialect.name == "sqlite"
    assert (live.app.state.key_cache is not None) == cached
    open_account(live.client(), "ana")
    made, secret = keys.create_key(live.credits.engine, account_id="ana", name="app",
                                   now=live.clock.now())
    ana = live.client(secret)
    assert ana.get("/v1/accounts/ana").status_code == 200
    assert ana.get("/v1/accounts/ana").status_code == 200  # now from the cache
    keys.revoke_key(live.credits.engine, made.id, live.clock.now())
    assert_problem(ana.get("/v1/accounts/ana"), 401, "unauthorized")


def test_with_the_cache_a_key_revoked_through_the_api_is_refused_at_once(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(replace(QUIET, key_cache_seconds=60.0))
    operator = live.client()
    open_account(operator, "ana")
    made = operator.post("/v1/keys", json={"name": "app", "account_id": "ana"}).json()
    ana = live.client(made["secret"])
    assert ana.get("/v1/accounts/ana").status_code == 200  # now cached
    assert operator.delete(f"/v1/keys/{made['id']}").status_code == 200
    assert_problem(ana.get("/v1/accounts/ana"), 401, "unauthorized")
    refused = ana.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem())
    assert_problem(refused, 401, "unauthorized")


def test_a_key_revoked_around_gencredits_lasts_until_its_entry_expires(
    serve: Callable[..., LiveServer],
) -> None:
    """The cache's trade-off: a revocation written straight into the database (no
    ``revoke_key``, so no signal) is seen when the key's entry expires."""
    live = serve(replace(QUIET, key_cache_seconds=60.0))
    open_account(live.client(), "ana")
    made, secret = keys.create_key(live.credits.engine, account_id="ana", name="app",
                                   now=live.clock.now())
    ana = live.client(secret)
    assert ana.get("/v1/accounts/ana").status_code == 200
    with write_transaction(live.credits.engine) as connection:
        connection.execute(
            update(api_keys).where(api_keys.c.id == made.id).values(revoked_at=live.clock.now())
        )
    assert ana.get("/v1/accounts/ana").status_code == 200  # cached for up to 60 s
    cache: KeyCache = live.app.state.key_cache
    cache.drop(made.id)  # as if its 60 s had passed
    assert_problem(ana.get("/v1/accounts/ana"), 401, "unauthorized")


def test_no_key_cache_when_switched_off(serve: Callable[..., LiveServer]) -> None:
    live = serve(replace(QUIET, key_cache_seconds=0.0))
    assert live.app.state.key_cache is None


def test_a_revocation_in_another_process_empties_the_cache(tmp_path: Path) -> None:
    """The signal between processes: the size of ``<database>-keys.revoked`` grows with each
    revocation, and a cache that sees it move forgets every key, and stores nothing it read
    before the move."""
    credits = gencredits.open(f"sqlite:///{tmp_path}/ledger.db")
    try:
        count = keys.revocations(credits.engine)
        assert count is not None and count() == 0
        made, secret = keys.create_key(credits.engine, account_id=None, name="a",
                                       now=credits.clock.now())
        cache = KeyCache(60.0, revocations=count)
        cache.put(secret, made, cache.generation)
        assert cache.get(secret) == made
        read_at = cache.generation  # a request reads a key from the database ...
        other, _ = keys.create_key(credits.engine, account_id=None, name="b",
                                   now=credits.clock.now())
        keys.revoke_key(credits.engine, other.id, credits.clock.now())  # ... "elsewhere"
        assert count() == 1
        cache.put("another-secret", made, read_at)  # ... and comes back after the revocation
        assert cache.get("another-secret") is None, "read before the revocation: not stored"
        assert cache.get(secret) is None, "emptied"
        cache.put(secret, made, cache.generation)
        assert cache.get(secret) == made
    finally:
        credits.close()


def test_the_cache_keeps_live_keys_for_its_seconds_and_never_unknown_ones(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(replace(QUIET, key_cache_seconds=60.0))
    stranger = live.client("gc_ak_" + "x" * 43)
    assert_problem(stranger.get("/v1/catalog"), 401, "unauthorized")
    cache: KeyCache = live.app.state.key_cache
    assert cache.get("gc_ak_" + "x" * 43) is None
    assert live.client().get("/v1/catalog").status_code == 200
    assert cache.get(live.operator_key) is not None


def test_a_cache_entry_expires_after_its_seconds() -> None:
    now = [100.0]
    cache = KeyCache(2.0, clock=lambda: now[0])
    key = _api_key("key_1")
    cache.put("secret-1", key, cache.generation)
    cache.put("secret-2", _api_key("key_2"), cache.generation)
    assert cache.get("secret-1") == key
    now[0] = 101.9
    assert cache.get("secret-1") == key
    now[0] = 102.0
    assert cache.get("secret-1") is None
    cache.drop("key_2")
    assert cache.get("secret-2") is None


def test_a_key_read_before_a_revocation_dropped_it_is_not_cached() -> None:
    """A request that read the key from the database while it was being revoked through this
    process must not put it back into the cache."""
    cache = KeyCache(60.0)
    seen = cache.generation  # the request starts its database read
    cache.drop("key_1")  # DELETE /v1/keys/key_1 commits and drops it meanwhile
    cache.put("secret-1", _api_key("key_1"), seen)
    assert cache.get("secret-1") is None
    cache.put("secret-1", _api_key("key_1"), cache.generation)
    assert cache.get("secret-1") is not None


def _api_key(key_id: str) -> keys.ApiKey:
    return keys.ApiKey(key_id, "ana", "app", "gc_ak_abcd", datetime(2026, 1, 1, tzinfo=UTC), None)


def test_the_cache_is_bounded() -> None:
    cache = KeyCache(60.0)
    for number in range(KeyCache.MAX_ENTRIES + 5):
        cache.put(f"secret-{number}", _api_key(f"key_{number}"), cache.generation)
    assert cache.get(f"secret-{KeyCache.MAX_ENTRIES + 4}") is not None
    assert len(cache._keys) <= KeyCache.MAX_ENTRIES


# --- the thread pool -----------------------------------------------------------------------


def test_the_charge_and_hold_paths_hop_through_the_thread_pool_once(live: LiveServer) -> None:
    """Every dependency of the charge and hold routes is async and so is the endpoint, which
    runs the library call in the pool itself: a sync dependency or endpoint would each add a
    hop (FastAPI runs them in the pool), ~0.15 ms of CPU apiece."""

    def calls(dependant: Any) -> Iterator[Any]:
        yield dependant.call
        for sub in dependant.dependencies:
            yield from calls(sub)

    # None app-wide: FastAPI's machinery costs ~40 µs a request per dependency; the app-wide
    # check (no NUL characters) runs in every route's CheckedRoute instead.
    assert live.app.router.dependencies == []
    for path in ("/v1/accounts/{account_id}/charges", "/v1/accounts/{account_id}/holds"):
        route = next(r for r in money.router.routes if getattr(r, "path", None) == path)
        found = list(calls(route.dependant))  # type: ignore[attr-defined]
        assert {"service", "principal", "idempotency_key"} <= {call.__name__ for call in found}
        sync = [call.__name__ for call in found if not inspect.iscoroutinefunction(call)]
        assert sync == [], f"{path}: sync dependencies {sync}"


# --- TCP_NODELAY with several workers --------------------------------------------------------


def test_the_workers_listener_gives_its_connections_tcp_nodelay() -> None:
    """uvicorn binds the ``--workers N`` listener with protocol 0 and asyncio then leaves
    ``TCP_NODELAY`` off on its connections (uvicorn #3149): every answer on a busy keep-alive
    connection waited ~40 ms for a delayed ACK. ``tcp_listener`` names the protocol."""
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bound.bind(("127.0.0.1", 0))
    address = bound.getsockname()
    listener = serve_commands.tcp_listener(bound)
    assert listener.proto == socket.IPPROTO_TCP
    assert listener.getsockname() == address
    assert listener.get_inheritable()
    assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)

    async def accepted_nodelay() -> int:
        options: list[int] = []

        def connected(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            options.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listener)  # plain asyncio loop
        async with server:
            _, writer = await asyncio.open_connection(*address)
            while not options:
                await asyncio.sleep(0.01)
            writer.close()
        return options[0]

    try:
        assert asyncio.run(accepted_nodelay()) != 0
    finally:
        listener.close()


def test_serve_with_workers_hands_uvicorn_the_tcp_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: list[socket.socket] = []

    class Supervisor:
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            assert config.workers == 2
            handed.extend(sockets)

        def run(self) -> None:
            pass

    import uvicorn.supervisors

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    config = uvicorn.Config(serve_commands.APP_FACTORY, factory=True, host="127.0.0.1",
                            port=free_port(), workers=2, log_level="warning")
    serve_commands._run_workers(config)
    try:
        assert len(handed) == 1 and handed[0].proto == socket.IPPROTO_TCP
    finally:
        for sock in handed:
            sock.close()


def test_every_route_refuses_nul_characters() -> None:
    """Each router is a ``checked_router``: one made otherwise would let a NUL through to
    PostgreSQL (a 500) on its routes. Every API and dashboard route is a CheckedRoute."""
    modules = (
        catalog, accounts, money, events, ops, advice,
        auth_routes, generate_routes, insight_routes, operator_routes,
    )
    routes = [route for module in modules for route in module.router.routes]
    assert len(routes) > 50
    unchecked = [route.path for route in routes if not isinstance(route, CheckedRoute)]
    assert unchecked == []
