"""HTTP: charges through the running server, with a load generator on loopback.

For each worker count in ``http_workers`` a fresh SQLite database gets the default catalog,
``http_accounts`` funded accounts and an operator key; ``gencredits serve --workers N`` then
runs on it in a subprocess (its own process group, a free port of 127.0.0.1) with the
server's defaults, except the per-key rate limit, which is switched off
(``GENCREDITS_RATE_PER_SECOND=0``: its default, 200 a second, would refuse the load). Then,
after an untimed warm-up:

* **closed loop** (the most it can do): ``http_clients`` threads, each with one keep-alive
  connection (:class:`LoadClient`), send ``POST /v1/accounts/{id}/charges`` one after the
  other;
* **open loop** (a fixed rate): every request has a scheduled send
  time, sender threads send each at its time, and its latency counts from that scheduled time,
  not from when a sender got round to it, so a server that falls behind shows it in the p99
  instead of quietly slowing the load down (coordinated omission). A request not sent within a
  second of the last scheduled time is given up and counted as *unsent*. It runs twice: at
  ``http_open_share`` of the rate the closed loop reached (the latency at a load the server
  carries), then at ``http_rate`` (the target: p99 under 10 ms at 1,000 charges a second,
  recorded as an absolute target that any error or unsent charge also misses).

Each phase stops at its count or its seconds, whichever comes first. Every charge carries its
own ``Idempotency-Key``, spread over the accounts. Any answer but 201, and any transport error,
is an error: counted by kind in the measurement's settings and named in the notes. The
latencies (p50, p99) are those of every request sent, errors included. ``cpu_us`` is the CPU
time of the server's processes per charge (from ``/proc``); the load generator's own CPU per
request is in the settings, since it runs on the same cores.

The server is stopped (SIGTERM, then SIGKILL after 15 s) whatever happens. Then the database is
opened with the library: ``verify()`` must pass, and the charge entries must be exactly the 201
answers, with 5 credits each.
"""

from __future__ import annotations

import contextlib
import gc
import http.client as http_client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select

from benchmarks.config import Config
from benchmarks.fixtures import (
    BENCH_PLAN,
    CHARGE_CREDITS,
    Database,
    account_ids,
    create_accounts,
    spread,
)
from benchmarks.harness import Measurement, Results, Round, measurement
from benchmarks.processes import (
    HOST,
    cpu_seconds_by_process,
    free_port,
    group_alive,
    group_processes,
)
from gencredits import Gencredits
from gencredits import open as open_service
from gencredits.service import keys
from gencredits.store.engine import read_transaction
from gencredits.store.tables import entries

P99_TARGET_US = 10_000.0  # the target: p99 under 10 ms at 1,000 charges a second
RATE_TOLERANCE = 0.99  # the open loop "holds" its rate when it achieves 99% of it
# The body of CHARGE_REQUEST (one flux-2-pro image, 5 credits) as the API takes it.
CHARGE_BODY = {"lines": [{"model": "flux-2-pro"}]}
CREATED = 201
READY_SECONDS = 60.0
SETTLE_SECONDS = 0.2  # the server counts as started when its CPU is idle this long
STOP_SECONDS = 15.0
REQUEST_TIMEOUT_SECONDS = 10.0
GIVE_UP_SECONDS = 1.0  # open loop: a request this late after the last due time is not sent


# --- the server -------------------------------------------------------------------------------


class ServerProcess:
    """``python -m gencredits serve`` on ``database_url`` in its own process group, which is
    the only thing it ever signals. :meth:`stop` always leaves no process of it behind."""

    def __init__(self, database_url: str, directory: Path, workers: int) -> None:
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = directory / f"server-{workers}w-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def group(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def command(self) -> list[str]:
        """``gencredits serve`` from this interpreter's environment, the server's defaults."""
        return [
            sys.executable, "-m", "gencredits", "serve",
            "--database-url", self.database_url,
            "--host", HOST,
            "--port", str(self.port),
            "--workers", str(self.workers),
        ]  # fmt: skip

    def start(self) -> None:
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("GENCREDITS_")
        }
        environment["GENCREDITS_RATE_PER_SECOND"] = "0"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """``/readyz`` answers, every worker process exists, and the group's CPU has gone
        quiet (each worker has finished importing the app)."""
        deadline = time.monotonic() + READY_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                self._check_running(deadline)
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        break
                time.sleep(0.05)
        expected = self.workers + 1 if self.workers > 1 else 1  # uvicorn's supervisor too
        while len(group_processes(self.group)) < expected:
            self._check_running(deadline)
            time.sleep(0.05)
        before = sum(cpu_seconds_by_process(self.group).values())
        while True:
            self._check_running(deadline)
            time.sleep(SETTLE_SECONDS)
            now = sum(cpu_seconds_by_process(self.group).values())
            if now - before < SETTLE_SECONDS * 0.1:
                return
            before = now

    def _check_running(self, deadline: float) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not ready in {READY_SECONDS} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL if it is still there after ``STOP_SECONDS``."""
        if self.process is None:
            return
        group = self.process.pid
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS)
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_alive(group):
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=STOP_SECONDS)
            deadline = time.monotonic() + STOP_SECONDS
            while group_alive(group) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.process = None
        if group_alive(group):
            raise RuntimeError(f"server process group {group} survived SIGKILL")

    def _signal(self, which: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, which)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running_server(database_url: str, directory: Path, workers: int) -> Iterator[ServerProcess]:
    """A started server, stopped on the way out whatever happened."""
    server = ServerProcess(database_url, directory, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def prepare_database(database_url: str, accounts: int) -> str:
    """Migrate and seed a fresh database, fund ``accounts`` accounts and return a new operator
    key's secret; closed before the server opens it."""
    service = open_service(database_url)
    try:
        service.put_plan(BENCH_PLAN)
        create_accounts(service, account_ids(accounts))
        _, secret = keys.create_key(
            service.engine, account_id=None, name="http benchmark", now=service.clock.now()
        )
        return secret
    finally:
        service.close()


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client thread saw: latencies of every request it sent, and its errors."""

    latencies_ns: list[int] = field(default_factory=list)
    created: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    unsent: int = 0
    last_done_ns: int = 0


@dataclass(frozen=True)
class Load:
    """One phase's outcome, all threads together."""

    created: int  # 201 answers
    sent: int
    errors: dict[str, int]  # "503", "ReadTimeout", ...: every answer but 201
    unsent: int  # open loop: given up, too far behind schedule
    seconds: float
    latencies_ns: tuple[int, ...]
    client_cpu_seconds: float
    server_cpu_seconds: dict[int, float]  # by server process

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_round(self) -> Round:
        """The phase as a harness round: operations are the 201 answers, CPU the server's."""
        return Round(
            self.created, self.seconds, self.latencies_ns, sum(self.server_cpu_seconds.values())
        )


class LoadClient:
    """One keep-alive HTTP/1.1 connection with ``TCP_NODELAY``: the standard library's
    ``http.client``, which spends a third of httpx's CPU on a request (180 against 620 µs
    here). The load generator shares the server's two cores, so what it spends the server
    does not get. A connection that fails or that the server closes is opened again on the
    next request."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self._address = (parts.hostname or HOST, parts.port or 80)
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._connection: http_client.HTTPConnection | None = None

    def _connected(self) -> http_client.HTTPConnection:
        if self._connection is None:
            connection = http_client.HTTPConnection(*self._address, timeout=self._timeout)
            connection.connect()
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connection = connection
        return self._connection

    def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send; the answer's status and body. Transport failures raise ``OSError`` or
        ``http.client.HTTPException``."""
        connection = self._connected()
        try:
            connection.request(method, path, body=body, headers=self._headers | (headers or {}))
            answer = connection.getresponse()
            content = answer.read()
        except BaseException:
            self.close()
            raise
        if answer.will_close:
            self.close()
        return answer.status, content

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> LoadClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


TRANSPORT_ERRORS = (OSError, http_client.HTTPException)
CHARGE_BYTES = json.dumps(CHARGE_BODY).encode()

# Sends one charge: (account id, idempotency key) -> the answer's status.
Sender = Callable[[LoadClient, str, str], int]


def send_charge(client: LoadClient, account_id: str, key: str) -> int:
    status, _ = client.request(
        "POST",
        f"/v1/accounts/{account_id}/charges",
        CHARGE_BYTES,
        {"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    return status


def _record(tally: Tally, sender: Sender, client: LoadClient, account: str, key: str) -> None:
    """Send one charge and count its answer; the caller records its latency."""
    try:
        status = sender(client, account, key)
    except TRANSPORT_ERRORS as error:
        tally.errors[type(error).__name__] += 1
        return
    if status == CREATED:
        tally.created += 1
    else:
        tally.errors[str(status)] += 1


@dataclass(frozen=True)
class Aim:
    """Where the load goes: the server, its key, the accounts, and a prefix that keeps this
    phase's idempotency keys apart from every other phase's."""

    base_url: str
    api_key: str
    accounts: list[str]
    prefix: str
    group: int | None = None  # the server's process group, for its CPU time
    sender: Sender = send_charge

    def client(self) -> LoadClient:
        return LoadClient(self.base_url, self.api_key, REQUEST_TIMEOUT_SECONDS)

    def server_cpu(self) -> dict[int, float]:
        return cpu_seconds_by_process(self.group) if self.group is not None else {}


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in the load generator while it sends (a phase allocates
    some megabytes of latencies): a collector pause here would delay sends and count as the
    server's latency. The server is measured with its own settings."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_threads(aim: Aim, threads: int, body: Callable[[LoadClient, Tally, int], None]) -> Load:
    """Start ``threads`` threads, each with its own connected client, release them together
    (``body`` gets the start time, ns), and gather what they saw."""
    tallies = [Tally() for _ in range(threads)]
    failures: list[BaseException] = []
    start: list[int] = []
    cpu: dict[str, Any] = {}

    def mark_start() -> None:
        cpu["client"] = time.process_time()
        cpu["server"] = aim.server_cpu()
        start.append(time.perf_counter_ns())

    barrier = threading.Barrier(threads, action=mark_start)

    def work(tally: Tally) -> None:
        try:
            with aim.client() as client:
                client.request("GET", "/healthz")  # connected before the clock starts
                barrier.wait()
                body(client, tally, start[0])
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:  # reported below, in the calling thread
            failures.append(error)
            barrier.abort()

    workers = [
        threading.Thread(target=work, args=(tally,), name=f"http-load-{n}", daemon=True)
        for n, tally in enumerate(tallies)
    ]
    with _collector_paused():
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    if failures:
        raise failures[0]
    client_cpu = time.process_time() - cpu["client"]
    after = aim.server_cpu()
    server_cpu = {pid: after[pid] - cpu["server"].get(pid, 0.0) for pid in after}
    last = max((tally.last_done_ns for tally in tallies), default=start[0])
    errors: Counter[str] = Counter()
    for tally in tallies:
        errors.update(tally.errors)
    created = sum(tally.created for tally in tallies)
    return Load(
        created=created,
        sent=created + sum(errors.values()),
        errors=dict(sorted(errors.items())),
        unsent=sum(tally.unsent for tally in tallies),
        seconds=max(last - start[0], 1) / 1e9,
        latencies_ns=tuple(latency for tally in tallies for latency in tally.latencies_ns),
        client_cpu_seconds=client_cpu,
        server_cpu_seconds=server_cpu,
    )


def closed_loop(aim: Aim, clients: int, count: int, seconds: float) -> Load:
    """``clients`` threads send charges back to back until ``count`` are sent or ``seconds``
    have passed; a request's latency runs from its send to its answer."""
    numbers = itertools.count()  # next() on it is atomic: each number goes to one thread
    clock = time.perf_counter_ns

    def body(client: LoadClient, tally: Tally, start: int) -> None:
        deadline = start + int(seconds * 1e9)
        for number in numbers:
            if number >= count or clock() >= deadline:
                return
            before = clock()
            _record(
                tally, aim.sender, client, spread(aim.accounts, number),
                f"{aim.prefix}-{number}",
            )  # fmt: skip
            tally.last_done_ns = clock()
            tally.latencies_ns.append(tally.last_done_ns - before)

    return _run_threads(aim, clients, body)


def scheduled(rate: float, count: int, seconds: float) -> int:
    """How many charges an open loop schedules: ``count``, or fewer if ``seconds`` at ``rate``
    run out first."""
    return max(1, min(count, int(rate * seconds)))


def open_loop(aim: Aim, senders: int, rate: float, count: int, seconds: float) -> Load:
    """Charge number ``n`` is due at ``start + n / rate``, for ``min(count, rate * seconds)``
    charges; ``senders`` threads take them in order and send each when due. Latency runs from
    the due time to the answer, so time spent waiting for a free sender counts. A charge that
    could not be sent within ``GIVE_UP_SECONDS`` after the last due time is counted unsent."""
    assert rate > 0, "an open loop needs a rate"
    total = scheduled(rate, count, seconds)
    interval_ns = 1e9 / rate
    numbers = itertools.count()
    clock = time.perf_counter_ns

    def body(client: LoadClient, tally: Tally, start: int) -> None:
        give_up = start + int((total - 1) * interval_ns + GIVE_UP_SECONDS * 1e9)
        for number in numbers:
            if number >= total:
                return
            due = start + int(number * interval_ns)
            now = clock()
            if now < due:
                time.sleep((due - now) / 1e9)
            elif now > give_up:
                tally.unsent += 1
                continue
            _record(
                tally, aim.sender, client, spread(aim.accounts, number),
                f"{aim.prefix}-{number}",
            )  # fmt: skip
            tally.last_done_ns = clock()
            tally.latencies_ns.append(tally.last_done_ns - due)

    return _run_threads(aim, senders, body)


# --- the suite --------------------------------------------------------------------------------


def _settings(load: Load, **settings: Any) -> dict[str, Any]:
    """What a measurement records beside its figures: errors by kind, CPU on both sides, and
    how the server's CPU was shared among its processes (a lopsided share means connections
    landed unevenly on the workers)."""
    server_total = sum(load.server_cpu_seconds.values())
    shares = sorted(
        (round(cpu / server_total, 3) if server_total else 0.0)
        for cpu in load.server_cpu_seconds.values()
    )
    return {
        **settings,
        "sent": load.sent,
        "errors": load.error_count,
        "errors_by_kind": load.errors,
        "unsent": load.unsent,
        "client_cpu_us": round(load.client_cpu_seconds / load.sent * 1e6, 1) if load.sent else None,
        "server_cpu_share_by_process": shares,
        "cpu_us_is": "server processes' CPU per 201 answer",
    }


def note_failures(results: Results, label: str, load: Load) -> None:
    if load.error_count or load.unsent:
        kinds = ", ".join(f"{kind} x{times}" for kind, times in load.errors.items()) or "none"
        results.notes.append(
            f"http: {label}: {load.error_count:,} errors of {load.sent:,} sent ({kinds}), "
            f"{load.unsent:,} unsent"
        )


def ledger_check(database_url: str, answered: int) -> dict[str, Any]:
    """Open the database with the library after the server has stopped: ``verify()`` and the
    charge entries against the 201 answers."""
    service: Gencredits = open_service(database_url)
    try:
        report = service.verify()
        with read_transaction(service.engine) as connection:
            row = connection.execute(
                select(func.count(), func.coalesce(func.sum(entries.c.amount_credits), 0)).where(
                    entries.c.kind == "charge"
                )
            ).one()
    finally:
        service.close()
    charge_entries, charged_credits = int(row[0]), int(row[1])
    return {
        "verify_ok": report.ok,
        "differences": report.differences[:3],
        "accounts_checked": report.accounts_checked,
        "entries_checked": report.entries_checked,
        "charge_entries": charge_entries,
        "answers_201": answered,
        "charged_credits": charged_credits,
        "entries_match_answers": charge_entries == answered
        and charged_credits == answered * CHARGE_CREDITS,
    }


def server_stack() -> dict[str, Any]:
    """What serves the requests: uvicorn's version, the HTTP parser and event loop it picks
    (httptools and uvloop when installed, else h11 and asyncio), and the one setting changed."""
    import importlib.util

    import uvicorn

    def installed(name: str) -> bool:
        return importlib.util.find_spec(name) is not None

    return {
        "command": "gencredits serve --host 127.0.0.1 --port <free> --workers <N>",
        "environment": {"GENCREDITS_RATE_PER_SECOND": "0"},
        "uvicorn": uvicorn.__version__,
        "http_parser": "httptools" if installed("httptools") else "h11",
        "event_loop": "uvloop" if installed("uvloop") else "asyncio",
        "client": "http.client (standard library), one keep-alive connection per thread",
    }


def http(results: Results, config: Config, database: Database) -> None:
    """Charges through the running server (closed loop, and open loop at a fixed rate)."""
    servers: list[dict[str, Any]] = []
    results.extra["http"] = {
        "load_average_before": [round(load, 2) for load in os.getloadavg()],
        "server": server_stack(),
        "servers": servers,
    }
    closed: dict[int, Measurement] = {}
    for workers in config.http_workers:
        closed[workers] = _http_on(results, config, database, workers, servers)
    first = config.http_workers[0]
    for workers in config.http_workers[1:]:
        results.compare(
            "http",
            f"closed loop, {workers} / {first} worker processes",
            closed[workers],
            closed[first],
        )


def _http_on(
    results: Results, config: Config, database: Database, workers: int, servers: list[Any]
) -> Measurement:
    """One server with ``workers`` processes on a fresh database: warm-up, the closed loop,
    the open loop at a share of what the closed loop reached, the open loop at the target
    rate; then the server is stopped and the ledger checked."""
    url = database.sqlite_url(f"http-{workers}w")
    api_key = prepare_database(url, config.http_accounts)
    ids = account_ids(config.http_accounts)
    label = f"{workers} worker process{'es' if workers > 1 else ''}"
    record: dict[str, Any] = {"workers": workers}
    servers.append(record)
    # subject -> (what was measured, the load, its settings)
    phases: dict[str, tuple[str, Load, dict[str, Any]]] = {}
    try:
        with running_server(url, database.directory, workers) as server:
            record.update(pid=server.group, port=server.port)

            def aim(prefix: str) -> Aim:
                return Aim(server.base_url, api_key, ids, prefix, server.group)

            warm = closed_loop(aim("warm"), config.http_clients, config.warmup * workers, 60.0)
            note_failures(results, f"{label}, warm-up", warm)
            closed = closed_loop(
                aim("closed"), config.http_clients, config.http_closed_charges,
                config.http_closed_seconds,
            )  # fmt: skip
            phases["closed loop"] = (
                "charge over HTTP, closed loop", closed,
                {"clients": config.http_clients, "count": config.http_closed_charges,
                 "seconds": config.http_closed_seconds},
            )  # fmt: skip
            if config.http_open_share > 0 and closed.created:
                rate = round(closed.created / closed.seconds * config.http_open_share, 1)
                phases["open loop, share"] = (
                    f"charge over HTTP, open loop at {config.http_open_share:.0%} of closed loop",
                    *_open_phase(aim("share"), config, rate),
                )
            phases["open loop"] = (
                f"charge over HTTP, open loop at {config.http_rate:,.0f}/s",
                *_open_phase(aim("open"), config, config.http_rate),
            )
    finally:
        record["stopped"] = not group_alive(record["pid"]) if "pid" in record else True
    loads = [warm, *(load for _, load, _ in phases.values())]
    record["ledger"] = _checked_ledger(results, url, loads, label)
    found = {
        subject: measurement(
            "http",
            name,
            subject,
            "sqlite",
            load.as_round(),
            workers=workers,
            **_settings(load, **settings),
        )
        for subject, (name, load, settings) in phases.items()
    }
    results.add(*found.values())
    for subject, (_, load, _) in phases.items():
        note_failures(results, f"{label}, {subject}", load)
    opened = phases["open loop"][1]
    results.require(
        "http",
        f"p99 at {config.http_rate:,.0f} charges/s, {label}",
        found["open loop"],
        config.http_rate * RATE_TOLERANCE,
        maximum_p99_us=P99_TARGET_US,
        failures=opened.error_count + opened.unsent,
    )
    return found["closed loop"]


def _open_phase(aim: Aim, config: Config, rate: float) -> tuple[Load, dict[str, Any]]:
    """The open loop at ``rate``, and the settings it ran with."""
    senders, count, seconds = (
        config.http_senders,
        config.http_open_charges,
        config.http_open_seconds,
    )
    load = open_loop(aim, senders, rate, count, seconds)
    return load, {
        "senders": senders,
        "rate": rate,
        "count": count,
        "seconds": seconds,
        "scheduled": scheduled(rate, count, seconds),
    }


def _checked_ledger(results: Results, url: str, loads: list[Load], label: str) -> dict[str, Any]:
    """The ledger after the run: ``verify()`` must pass, and the charge entries must be the
    201 answers, unless a request failed in transit (it may have been applied unanswered)."""
    ledger = ledger_check(url, sum(load.created for load in loads))
    assert ledger["verify_ok"], f"http: {label}: verify found {ledger['differences']}"
    if not ledger["entries_match_answers"]:
        in_transit = any(not kind.isdigit() for load in loads for kind in load.errors)
        assert in_transit, f"http: {label}: the ledger disagrees with the answers: {ledger}"
        results.notes.append(f"http: {label}: entries differ from the 201 answers: {ledger}")
    return ledger
