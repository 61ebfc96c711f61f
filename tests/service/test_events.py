"""Events are written with the change that causes them, and webhooks deliver them at least
once, signed, through receiver failures and dispatcher restarts (on both backends)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from benchmarks.processes import free_port

import gencredits
from gencredits import InsufficientCredits, ManualClock, QuoteRequest
from gencredits.service import events
from gencredits.service.events import WebhookDispatcher

START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def credits(database_url: str, clock: ManualClock) -> Iterator[gencredits.Gencredits]:
    service = gencredits.open(database_url, clock=clock)
    yield service
    service.close()


def types_of(service: gencredits.Gencredits, account_id: str) -> list[str]:
    found = events.list_events(service.engine, account_id=account_id, after=None, limit=500)
    return [event["type"] for event in found]


def test_balance_events_fire_once_when_crossing(credits: gencredits.Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")  # low below 100 of 1,000
    flux = QuoteRequest.single("flux-2-pro", count=100)  # 500 credits
    credits.charge("ana", flux, idempotency_key="a")
    credits.charge("ana", QuoteRequest.single("flux-2-pro", count=80), idempotency_key="b")
    assert types_of(credits, "ana") == []  # 100 left: not below the mark yet
    credits.charge("ana", QuoteRequest.single("flux-2-pro", count=1), idempotency_key="c")
    credits.charge("ana", QuoteRequest.single("flux-2-pro", count=1), idempotency_key="d")
    assert types_of(credits, "ana") == ["low_balance"]
    credits.charge("ana", QuoteRequest.single("flux-2-pro", count=18), idempotency_key="e")
    assert types_of(credits, "ana") == ["low_balance", "credits_exhausted"]
    with pytest.raises(InsufficientCredits):
        credits.charge("ana", flux, idempotency_key="f")
    refused = events.list_events(credits.engine, account_id="ana", after=None, limit=10,
                                 types=("charge_refused",))
    assert refused[0]["data"]["required"] == 500 and refused[0]["data"]["available"] == 0


def test_renewal_and_hold_expiry_events(credits: gencredits.Gencredits, clock: ManualClock
                                        ) -> None:
    credits.create_account("bo", name="Bo", plan="pro")
    credits.hold("bo", QuoteRequest.single("veo-3"), idempotency_key="h", ttl_seconds=60)
    clock.advance(days=29)
    credits.renew()
    assert types_of(credits, "bo") == ["hold_expired", "renewal"]
    renewal = events.list_events(credits.engine, account_id="bo", after=None, limit=5,
                                 types=("renewal",))[0]
    assert renewal["data"]["allowance"] == 1000 and renewal["data"]["plan"] == "pro"


def test_a_refused_change_leaves_no_event(credits: gencredits.Gencredits) -> None:
    credits.create_account("cy", name="Cy", plan="free")
    before = events.list_events(credits.engine, account_id="cy", after=None, limit=50)
    with pytest.raises(gencredits.UnknownModel):
        credits.charge("cy", QuoteRequest.single("nope"), idempotency_key="x")
    assert events.list_events(credits.engine, account_id="cy", after=None, limit=50) == before


class Receiver:
    """A webhook receiver on 127.0.0.1 that fails its first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []  # of each request received, in the same order
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                owner.paths.append(self.path)
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if len(owner.received) <= owner.failures else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_webhooks_retry_until_delivered_and_sign_each_event(
    credits: gencredits.Gencredits, clock: ManualClock
) -> None:
    receiver = Receiver(failures=2)
    try:
        _, secret = events.create_webhook(credits.engine, receiver.url, (), clock.now())
        credits.create_account("di", name="Di", plan="pro")
        credits.charge("di", QuoteRequest.single("flux-2-pro", count=200), idempotency_key="x")
        dispatcher = WebhookDispatcher(credits.engine)
        try:
            for _ in range(6):
                dispatcher.run_once(clock.now())
                clock.advance(minutes=10)
        finally:
            dispatcher.close()
        assert len(receiver.received) == 3  # two failures, then the delivery
        headers, body = receiver.received[-1]
        event = json.loads(body)
        assert event["type"] == "credits_exhausted" and event["account_id"] == "di"
        assert headers["gencredits-event-id"] == event["id"]
        stamp, signature = (part.split("=", 1)[1] for part in
                            headers["gencredits-signature"].split(","))
        expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        assert hmac.compare_digest(signature, expected.hexdigest())
        assert events.delivery_counts(credits.engine) == {"delivered": 1}
    finally:
        receiver.stop()


def test_nothing_is_lost_while_the_receiver_or_the_sender_is_down(
    credits: gencredits.Gencredits, clock: ManualClock
) -> None:
    port = free_port()  # nothing listens here yet: the receiver is down
    url = f"http://127.0.0.1:{port}/hook"
    events.create_webhook(credits.engine, url, ("credits_exhausted",), clock.now())
    credits.create_account("ed", name="Ed", plan="free")
    credits.charge("ed", QuoteRequest.single("nano-banana-2", count=100), idempotency_key="x")
    first = WebhookDispatcher(credits.engine)
    try:
        assert first.run_once(clock.now())["failed"] == 1
    finally:
        first.close()  # the sending server goes away too
    receiver = Receiver(failures=0)
    receiver.server.server_close()
    receiver.server = HTTPServer(("127.0.0.1", port), receiver.server.RequestHandlerClass)
    receiver.thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    receiver.thread.start()
    try:
        second = WebhookDispatcher(credits.engine)  # a restarted server
        try:
            clock.advance(seconds=events.retry_delay_seconds(1) - 1)
            assert second.run_once(clock.now())["sent"] == 0  # not due yet: backoff
            clock.advance(seconds=2)
            assert second.run_once(clock.now())["sent"] == 1
            assert second.run_once(clock.now() + timedelta(hours=1))["sent"] == 0  # once only
        finally:
            second.close()
        assert [json.loads(body)["type"] for _, body in receiver.received] == [
            "credits_exhausted"
        ]
    finally:
        receiver.stop()


def test_backoff_doubles_and_is_capped() -> None:
    delays = [events.retry_delay_seconds(n) for n in range(1, 14)]
    assert delays[:4] == [10, 20, 40, 80]
    assert max(delays) == events.MAX_RETRY_SECONDS
    assert delays == sorted(delays)


def test_two_dispatchers_deliver_every_event_once_without_colliding(
    database_url: str, clock: ManualClock
) -> None:
    """Two services on one database, as two server workers: each dispatching in a loop while
    events are emitted. Every (webhook, event) arrives once, and no pass fails (two workers
    used to insert the same delivery and log IntegrityError on uq_webhook_deliveries_once)."""
    receiver = Receiver(failures=0)
    workers = [gencredits.open(database_url, clock=clock, pool_size=4) for _ in range(2)]
    dispatchers = [WebhookDispatcher(service.engine) for service in workers]
    failures: list[str] = []
    emitting = threading.Event()
    emitting.set()

    def dispatch(dispatcher: WebhookDispatcher) -> None:
        while emitting.is_set():
            try:
                dispatcher.run_once(clock.now(), batch=7)
            except Exception as error:  # what the server's loop would log
                failures.append(repr(error))

    try:
        every = events.create_webhook(workers[0].engine, receiver.url, (), clock.now())[0]
        refusals = events.create_webhook(
            workers[0].engine, receiver.url + "/refused", ("charge_refused",), clock.now()
        )[0]
        threads = [threading.Thread(target=dispatch, args=(d,)) for d in dispatchers]
        for thread in threads:
            thread.start()
        for index in range(60):
            with workers[index % 2].engine.begin() as connection:
                type_ = (events.EventType.CHARGE_REFUSED if index % 3 == 0
                         else events.EventType.LOW_BALANCE)
                events.emit(connection, type_, account_id=f"a{index}", payload={},
                            now=clock.now())
        emitting.clear()
        for thread in threads:
            thread.join()
        for _ in range(3):  # what the loops had not reached when they stopped
            for dispatcher in dispatchers:
                dispatcher.run_once(clock.now())
        assert failures == []
        listed = events.list_events(workers[0].engine, account_id=None, after=None, limit=500)
        expected = sorted([(every.url, e["id"]) for e in listed]
                          + [(refusals.url, e["id"]) for e in listed
                             if e["type"] == "charge_refused"])
        received = sorted(
            (receiver.url + path.removeprefix("/hook"), json.loads(body)["id"])
            for path, (_, body) in zip(receiver.paths, receiver.received, strict=True)
        )
        assert len(expected) == 80
        assert received == expected
        assert events.delivery_counts(workers[0].engine) == {"delivered": 80}
    finally:
        for dispatcher in dispatchers:
            dispatcher.close()
        for service in workers:
            service.close()
        receiver.stop()


def test_a_webhook_gets_the_events_of_its_types_while_active(
    credits: gencredits.Gencredits, clock: ManualClock
) -> None:
    """Deliveries are written with their event: one per active webhook subscribed to its type,
    none for a stopped webhook or another type, none for events before the webhook."""
    engine = credits.engine

    def emit(type_: events.EventType) -> None:
        with engine.begin() as connection:
            events.emit(connection, type_, account_id="fi", payload={}, now=clock.now())

    emit(events.EventType.RENEWAL)  # before any webhook
    every = events.create_webhook(engine, "http://127.0.0.1:9/every", (), clock.now())[0]
    renewals = events.create_webhook(engine, "http://127.0.0.1:9/renewal", ("renewal",),
                                     clock.now())[0]
    emit(events.EventType.RENEWAL)
    emit(events.EventType.LOW_BALANCE)
    events.disable_webhook(engine, every.id, clock.now())
    emit(events.EventType.RENEWAL)
    assert events.delivery_counts(engine) == {"pending": 4}  # every: 2, renewals: 2
    active = {hook.id: hook.active for hook in events.list_webhooks(engine)}
    assert active == {every.id: False, renewals.id: True}
    assert renewals.event_types == ("renewal",)


def test_claims_a_pass_has_no_time_to_use_are_given_back(
    credits: gencredits.Gencredits, clock: ManualClock
) -> None:
    """A pass out of sending time (slow receivers) sends nothing more and hands its remaining
    claims back at once, rather than leave them to run out while it might still send them: the
    next pass, on any server, sends each delivery once."""
    receiver = Receiver(failures=0)
    hurried = WebhookDispatcher(credits.engine, sending_seconds=0)
    patient = WebhookDispatcher(credits.engine)
    try:
        events.create_webhook(credits.engine, receiver.url, (), clock.now())
        for index in range(3):
            with credits.engine.begin() as connection:
                events.emit(connection, events.EventType.RENEWAL, account_id=f"g{index}",
                            payload={}, now=clock.now())
        assert hurried.run_once(clock.now())["sent"] == 0
        assert patient.run_once(clock.now())["sent"] == 3  # not waiting for the claims to end
        assert patient.run_once(clock.now() + timedelta(hours=1))["sent"] == 0
        assert len(receiver.received) == 3
    finally:
        hurried.close()
        patient.close()
        receiver.stop()
