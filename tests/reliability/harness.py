"""Servers and database probes for the reliability tests.

* :class:`ServerProcess`: ``python -m gencredits serve`` in its own process group on a free
  port of 127.0.0.1, started, SIGKILLed and restarted at will; :meth:`ServerProcess.close`
  always leaves no process behind.
* :class:`InThreadServer`: the same app under uvicorn in a thread of the test process, for
  tests that need to change module state (a lowered limit) or a manual clock.
* Probes that read the database behind the service's back (plain SQL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

# Shared with the HTTP benchmark, which starts servers the same way.
from benchmarks.processes import free_port, group_alive
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

import gencredits
from gencredits.api.app import ApiSettings
from gencredits.server import build_app
from gencredits.service import keys
from gencredits.store.engine import read_transaction
from gencredits.store.tables import accounts, entries, grants, holds, idempotency_keys

HOST = "127.0.0.1"
START = datetime(2026, 1, 31, 9, tzinfo=UTC)
QUIET = ApiSettings(sweep_interval_seconds=0, webhook_interval_seconds=0, rate_per_second=0)
READY_SECONDS = 30.0


def new_operator_key(credits: gencredits.Gencredits) -> str:
    _, secret = keys.create_key(
        credits.engine, account_id=None, name="reliability operator", now=credits.clock.now()
    )
    return secret


def new_account_key(credits: gencredits.Gencredits, account_id: str) -> str:
    _, secret = keys.create_key(
        credits.engine, account_id=account_id, name=f"key of {account_id}",
        now=credits.clock.now(),
    )
    return secret


# --- probes -----------------------------------------------------------------------------------

WRITTEN_TABLES = {
    "entries": entries,
    "holds": holds,
    "grants": grants,
    "accounts": accounts,
    "idempotency_keys": idempotency_keys,
}


def written_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table a mutation writes: a refused request must change none of them."""
    with read_transaction(engine) as connection:
        return {
            name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in WRITTEN_TABLES.items()
        }


def sqlite_integrity(database_url: str) -> str:
    """``PRAGMA integrity_check`` on a SQLite database file, through the plain driver."""
    path = make_url(database_url).database
    assert path, database_url
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    return "; ".join(str(row[0]) for row in rows)


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


# --- a server process -------------------------------------------------------------------------


class ServerProcess:
    """``python -m gencredits serve`` on ``database_url``, in its own process group.

    The group is killed as a whole (uvicorn's workers with it); no call here signals anything
    but the group this object started.
    """

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        workers: int = 1,
        sweep_seconds: float = 1.0,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.workers = workers
        self.sweep_seconds = sweep_seconds
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        self.environment = environment or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None, "already running"
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("GENCREDITS_")
        }
        # Defaults first, so that ``environment`` may override them (webhook delivery too).
        environment.update(
            GENCREDITS_WEBHOOK_SECONDS="0",
            GENCREDITS_RATE_PER_SECOND="0",
            GENCREDITS_POOL_SIZE="10",
        )
        environment.update(self.environment)  # the test's settings win over these defaults
        command = [
            sys.executable, "-m", "gencredits", "serve",
            "--database-url", self.database_url,
            "--host", HOST,
            "--port", str(self.port),
            "--workers", str(self.workers),
            "--sweep-seconds", str(self.sweep_seconds),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=environment, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.starts += 1
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        return
                time.sleep(0.02)
        raise RuntimeError(f"the server was not ready in {READY_SECONDS} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group, as a power cut would, and reap it."""
        self._signal_group(signal.SIGKILL)
        self._reap(timeout=10.0)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), or SIGKILL when it takes more than 15 s."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
        self._reap(timeout=10.0)

    def close(self) -> None:
        """Always safe: whatever state the server is in, none of its processes remain."""
        if self.process is not None:
            self._signal_group(signal.SIGKILL)
            self._reap(timeout=10.0)

    def _signal_group(self, which: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, which)

    def _reap(self, timeout: float) -> None:
        assert self.process is not None
        group = self.process.pid
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.process = None
        if group_alive(group):
            raise RuntimeError(f"process group {group} survived SIGKILL")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- a server thread --------------------------------------------------------------------------


class InThreadServer:
    """``build_app(gencredits.open(url, clock=...))`` under uvicorn in a thread of this
    process, with an operator key; closes everything it opened on exit."""

    def __init__(self, database_url: str, settings: ApiSettings = QUIET) -> None:
        self.clock = gencredits.ManualClock(START)
        self.credits = gencredits.open(database_url, clock=self.clock, pool_size=5)
        self.settings = settings
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.operator_key = new_operator_key(self.credits)
        self._clients: list[httpx.Client] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> InThreadServer:
        try:
            app = build_app(self.credits, self.settings)
            config = uvicorn.Config(
                app, host=HOST, port=self.port, log_level="warning", access_log=False,
                lifespan="on",
            )
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(
                target=self._server.run, name=f"uvicorn-{self.port}", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + READY_SECONDS
            while not self._server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the in-thread server did not start")
                time.sleep(0.005)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        for client in self._clients:
            client.close()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self.credits.close()

    def client(self, key: str | None = None, **options: Any) -> httpx.Client:
        """An httpx client sending ``key`` (the operator's by default) as its bearer."""
        headers = {"Authorization": f"Bearer {key or self.operator_key}"}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **options)
        self._clients.append(client)
        return client

    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self._clients.append(client)
        return client

    def counts(self) -> dict[str, int]:
        return written_counts(self.credits.engine)


# --- worker processes -------------------------------------------------------------------------


@contextlib.contextmanager
def process_pool(size: int) -> Iterator[Any]:
    """A ``spawn`` pool (the workers share nothing with this process but the database),
    closed and joined on the way out, terminated if the test failed."""
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(size)
    try:
        yield pool
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
