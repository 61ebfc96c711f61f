"""Events under a real multi-worker server (issue 16): ``serve --workers 2`` on SQLite and on
PostgreSQL, 16 clients charging their own accounts at once until they run out and are refused
(``low_balance``, ``credits_exhausted``, ``charge_refused``), while both workers' dispatchers
deliver to a webhook receiver and a poller follows ``GET /v1/events?after=``.

Afterwards every event in the database must have reached the receiver exactly once and the
poller exactly once, the poller's sequence numbers rising with no event missing between them,
and neither worker may have logged a failed delivery pass (the two dispatchers used to collide
on ``uq_webhook_deliveries_once``). On PostgreSQL transactions of different accounts commit in
any order, which lost events through the old cursors over ids (1-7 of 208 in 6 of 11 runs).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

import gencredits
from gencredits.service import events
from tests.reliability.harness import ServerProcess, new_operator_key
from tests.reliability.tally import Figures
from tests.service.test_events import Receiver

CLIENTS = 16
CHARGES_PER_CLIENT = 26  # 100 free credits at 5 each: 20 charged (the last two cross the
# low-balance mark and exhaust the account), then 6 refused
CHARGE = {"lines": [{"model": "flux-2-pro"}]}
EVENTS_PER_CLIENT = 1 + 1 + 6  # low_balance, credits_exhausted, charge_refused x 6
SETTLE_SECONDS = 60.0  # at most, for the last deliveries once the clients are done


def _prepare(database_url: str, hook_url: str) -> str:
    with gencredits.open(database_url, pool_size=2) as credits:
        for n in range(CLIENTS):
            credits.create_account(f"ev-{n}", name=f"Client {n}", plan="free")
        events.create_webhook(credits.engine, hook_url, (), credits.clock.now())
        return new_operator_key(credits)


def _charge_until_refused(base_url: str, key: str, account_id: str, answers: Counter[int]
                          ) -> None:
    with httpx.Client(base_url=base_url, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(CHARGES_PER_CLIENT):
            response = client.post(f"/v1/accounts/{account_id}/charges", json=CHARGE,
                                   headers={"Idempotency-Key": uuid.uuid4().hex})
            answers[response.status_code] += 1


class Poller(threading.Thread):
    """Follows the events feed from its cursor until told to stop, then reads it to the end."""

    def __init__(self, base_url: str, key: str) -> None:
        super().__init__(name="events-poller")
        self.client = httpx.Client(base_url=base_url, timeout=30,
                                   headers={"Authorization": f"Bearer {key}"})
        self.cursor: int | None = None
        self.seen: list[tuple[int, str]] = []  # (sequence, event id) in the order polled
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def poll(self) -> int:
        params = {"limit": 100} | ({} if self.cursor is None else {"after": self.cursor})
        response = self.client.get("/v1/events", params=params)
        if response.status_code != 200:
            self.failures.append(f"GET /v1/events: {response.status_code} {response.text}")
            return 0
        page = response.json()
        self.seen += [(event["sequence"], event["id"]) for event in page["events"]]
        self.cursor = page["next_cursor"]
        return len(page["events"])

    def run(self) -> None:
        while not self.stopping.is_set():
            self.poll()
            time.sleep(0.005)

    def drain(self) -> None:
        self.stopping.set()
        self.join()
        while self.poll():
            pass
        self.client.close()


def _events_in_database(database_url: str) -> list[str]:
    with gencredits.open(database_url, pool_size=2) as credits:
        found: list[str] = []
        after: int | None = None
        while page := events.list_events(credits.engine, account_id=None, after=after,
                                         limit=500):
            found += [event["id"] for event in page]
            after = page[-1]["sequence"]
        return found


def _settled(database_url: str, expected: int) -> dict[str, int]:
    """Wait (at most SETTLE_SECONDS) until ``expected`` deliveries are delivered."""
    with gencredits.open(database_url, pool_size=2) as credits:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            counts = events.delivery_counts(credits.engine)
            if counts.get("delivered", 0) >= expected or time.monotonic() > deadline:
                return counts
            time.sleep(0.05)


def test_every_event_is_delivered_and_polled_once_through_two_workers(
    database_url: str, tmp_path: Path, figures: Figures
) -> None:
    receiver = Receiver(failures=0)
    answers: Counter[int] = Counter()
    try:
        key = _prepare(database_url, receiver.url)
        environment = {"GENCREDITS_WEBHOOK_SECONDS": "0.05"}
        with ServerProcess(database_url, tmp_path, workers=2, sweep_seconds=0,
                           environment=environment) as server:
            server.start()
            poller = Poller(server.base_url, key)
            poller.start()
            clients = [
                threading.Thread(target=_charge_until_refused,
                                 args=(server.base_url, key, f"ev-{n}", answers))
                for n in range(CLIENTS)
            ]
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            expected = CLIENTS * EVENTS_PER_CLIENT
            counts = _settled(database_url, expected)
            poller.drain()
            server.stop()
            log = server.log_path.read_text(errors="replace")
        in_database = _events_in_database(database_url)
        delivered = Counter(json.loads(body)["id"] for _, body in receiver.received)
        polled = Counter(event_id for _, event_id in poller.seen)
        sequences = [sequence for sequence, _ in poller.seen]
        figures.add(operations=sum(answers.values()) + len(receiver.received) + len(poller.seen))
        figures.check(answers == Counter({201: CLIENTS * 20, 402: CLIENTS * 6}),
                      f"charges answered {dict(answers)}")
        figures.check(len(in_database) == expected,
                      f"{len(in_database)} events in the database, not {expected}")
        figures.check(counts == {"delivered": expected}, f"deliveries: {counts}")
        figures.check(set(delivered) == set(in_database),
                      f"{len(set(in_database) - set(delivered))} events never delivered, "
                      f"{len(set(delivered) - set(in_database))} delivered not in the database")
        figures.check(max(delivered.values(), default=1) == 1,
                      f"delivered twice: {[e for e, n in delivered.items() if n > 1][:5]}")
        figures.check(set(polled) == set(in_database),
                      f"{len(set(in_database) - set(polled))} events never polled")
        figures.check(max(polled.values(), default=1) == 1,
                      f"polled twice: {[e for e, n in polled.items() if n > 1][:5]}")
        figures.check(sequences == sorted(sequences), "the poller's sequence went backwards")
        figures.check(poller.failures == [], f"poll failures: {poller.failures[:3]}")
        figures.check("IntegrityError" not in log and "webhook delivery failed" not in log,
                      f"a worker's delivery pass failed:\n{log[-3000:]}")
    finally:
        receiver.stop()
    figures.assert_clean()
