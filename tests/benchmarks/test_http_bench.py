"""The HTTP benchmark: the quick suite against the real server, and its load generator against
a stub server that answers what a test tells it to. Nothing here is timed; the bounds checked
are the load generator's own (it stops at its count or its seconds)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from benchmarks.config import QUICK
from benchmarks.harness import Results
from benchmarks.http_load import (
    P99_TARGET_US,
    Aim,
    Load,
    closed_loop,
    group_alive,
    note_failures,
    open_loop,
    prepare_database,
    running_server,
)
from benchmarks.run import run

from tests.benchmarks.test_bench_smoke import check_shape, quiet


def test_the_quick_http_suite(tmp_path: Path) -> None:
    content, path = run(("http",), QUICK, output_directory=tmp_path, console=quiet())
    check_shape(content, path)
    found = {(m["subject"], m["workers"]): m for m in content["measurements"]}
    assert set(found) == {
        (subject, workers)
        for subject in ("closed loop", "open loop, share", "open loop")
        for workers in QUICK.http_workers
    }
    for (subject, workers), measured in found.items():
        settings = measured["settings"]
        assert settings["errors"] == 0, settings["errors_by_kind"]
        assert settings["errors_by_kind"] == {}
        assert measured["operations"] == settings["sent"]  # every request sent got a 201
        assert measured["p99_us"] >= measured["p50_us"] > 0
        if subject == "closed loop":
            assert 0 < measured["operations"] <= QUICK.http_closed_charges
            assert settings["unsent"] == 0
            continue
        rate = settings["rate"]
        if subject == "open loop":
            assert rate == QUICK.http_rate
        else:  # half what the closed loop reached
            closed = found[("closed loop", workers)]["per_second"]
            assert rate == pytest.approx(closed * QUICK.http_open_share, rel=0.01)
        expected = min(QUICK.http_open_charges, int(rate * QUICK.http_open_seconds))
        assert settings["scheduled"] == max(1, expected)
        assert measured["operations"] + settings["unsent"] == settings["scheduled"]
    servers = content["http"]["servers"]
    assert [server["workers"] for server in servers] == list(QUICK.http_workers)
    for server in servers:
        ledger = server["ledger"]
        assert ledger["verify_ok"] and ledger["differences"] == []
        assert ledger["entries_match_answers"]
        assert ledger["charge_entries"] == ledger["answers_201"] > 0
        assert ledger["charged_credits"] == 5 * ledger["answers_201"]
        assert server["stopped"] and not group_alive(server["pid"])
    targets = [t for t in content["targets"] if t["suite"] == "http"]
    assert len(targets) == len(QUICK.http_workers)
    for target in targets:
        assert target["maximum_p99_us"] == P99_TARGET_US
        assert target["minimum_per_second"] == pytest.approx(QUICK.http_rate * 0.99)
        assert target["failures"] == 0 or not target["met"]
    assert {r["name"] for r in content["ratios"]} == {"closed loop, 2 / 1 worker processes"}


def test_the_server_is_stopped_whatever_happens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stop.db'}"
    prepare_database(url, 1)
    groups: list[int] = []
    with (
        pytest.raises(RuntimeError, match="the load failed"),
        running_server(url, tmp_path, workers=2) as server,
    ):
        groups.append(server.group)
        assert group_alive(server.group)
        raise RuntimeError("the load failed")
    assert groups and not group_alive(groups[0])
    server.stop()  # once more is harmless


def test_a_run_with_errors_says_so() -> None:
    results = Results()
    load = Load(
        created=7, sent=10, errors={"503": 2, "ReadTimeout": 1}, unsent=4, seconds=1.0,
        latencies_ns=(1,) * 10, client_cpu_seconds=0.0, server_cpu_seconds={},
    )  # fmt: skip
    note_failures(results, "2 worker processes, open loop", load)
    assert results.notes == [
        "http: 2 worker processes, open loop: 3 errors of 10 sent (503 x2, ReadTimeout x1), "
        "4 unsent"
    ]
    note_failures(results, "clean", Load(3, 3, {}, 0, 1.0, (1, 1, 1), 0.0, {}))
    assert len(results.notes) == 1


# --- the load generator against a stub ------------------------------------------------------------


class Stub(ThreadingHTTPServer):
    """Answers every charge with ``status``, after ``delay`` seconds; counts what it got."""

    daemon_threads = True

    def __init__(self, status: int, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.keys: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), StubHandler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server
    server: Stub

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.keys.append(self.headers["Idempotency-Key"])
        time.sleep(self.server.delay)
        self._answer(self.server.status)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub(request: pytest.FixtureRequest) -> Iterator[Stub]:
    status, delay = request.param
    server = Stub(status, delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def aim_at(stub: Stub, prefix: str) -> Aim:
    return Aim(stub.base_url, "key", ["a", "b", "c"], prefix)


@pytest.mark.parametrize("stub", [(503, 0.0)], indirect=True)
def test_every_answer_but_201_is_an_error(stub: Stub) -> None:
    closed = closed_loop(aim_at(stub, "c"), clients=3, count=20, seconds=30.0)
    assert closed.created == 0 and closed.sent == 20
    assert closed.errors == {"503": 20} and closed.error_count == 20
    assert len(closed.latencies_ns) == 20  # errors keep their latency in the percentiles
    opened = open_loop(aim_at(stub, "o"), senders=2, rate=200.0, count=10, seconds=5.0)
    assert opened.errors == {"503": 10} and opened.created == 0
    assert sorted(stub.keys) == sorted({*stub.keys})  # one key per request, never reused
    assert len(stub.keys) == 30


@pytest.mark.parametrize("stub", [(201, 0.0)], indirect=True)
def test_the_loads_stop_at_their_count(stub: Stub) -> None:
    closed = closed_loop(aim_at(stub, "c"), clients=4, count=25, seconds=30.0)
    assert closed.created == closed.sent == 25 and closed.errors == {}
    opened = open_loop(aim_at(stub, "o"), senders=3, rate=500.0, count=12, seconds=30.0)
    assert opened.created == 12 and opened.unsent == 0
    assert len(stub.keys) == 37


@pytest.mark.parametrize("stub", [(201, 0.05)], indirect=True)
def test_the_loads_stop_at_their_time(stub: Stub) -> None:
    began = time.monotonic()
    closed = closed_loop(aim_at(stub, "c"), clients=2, count=1_000_000, seconds=0.3)
    assert 0 < closed.created < 1_000_000
    assert time.monotonic() - began < 10
    # 2 senders of 50 ms requests cannot keep 200 a second: the backlog is given up a second
    # after the last due time, and counted; the latency of what was sent counts from its due
    # time, so it grows with the backlog instead of staying at the stub's 50 ms.
    began = time.monotonic()
    opened = open_loop(aim_at(stub, "o"), senders=2, rate=200.0, count=1_000, seconds=1.0)
    assert opened.unsent > 0
    assert opened.created + opened.unsent == 200
    assert max(opened.latencies_ns) > 0.5e9
    assert time.monotonic() - began < 10
