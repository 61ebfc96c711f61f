"""Events reach every webhook once and every poller in full, whatever order their transactions
commit in (SPEC 7). On PostgreSQL an event's id is taken from a sequence when it is inserted,
so the transaction of a lower id can commit after that of a higher one: here two transactions
each emit an event and the later-numbered one commits first, with a dispatcher pass and polls
(through the service and through ``GET /v1/events?after=``) between the two commits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Connection

from gencredits.service import events
from gencredits.service.events import EventType, WebhookDispatcher
from tests.api.support import LiveServer
from tests.service.test_events import Receiver


def emit(connection: Connection, live: LiveServer, account_id: str) -> str:
    return events.emit(connection, EventType.LOW_BALANCE, account_id=account_id,
                       payload={"available": 1}, now=live.clock.now())


class Poller:
    """Polls both ways from its own cursors, as a client would, and keeps what it saw."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.api = live.client()
        self.service_cursor: int | None = None
        self.http_cursor: int | None = None
        self.by_service: list[str] = []
        self.by_http: list[str] = []

    def poll(self) -> None:
        found = events.list_events(self.live.credits.engine, account_id=None,
                                   after=self.service_cursor, limit=100)
        self.by_service += [event["id"] for event in found]
        if found:
            self.service_cursor = found[-1]["sequence"]
        params: dict[str, Any] = {} if self.http_cursor is None else {"after": self.http_cursor}
        response = self.api.get("/v1/events", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        self.by_http += [event["id"] for event in page["events"]]
        self.http_cursor = page["next_cursor"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_event_committed_after_a_later_numbered_one_is_delivered_and_polled(
    live: LiveServer,
) -> None:
    receiver = Receiver(failures=0)
    engine = live.credits.engine
    dispatcher = WebhookDispatcher(engine)
    poller = Poller(live)
    try:
        events.create_webhook(engine, receiver.url, (), live.clock.now())
        with engine.connect() as first, engine.connect() as second:
            first.begin()
            early = emit(first, live, "ana")  # the lower id
            second.begin()
            late = emit(second, live, "bo")  # the higher id, committed first
            second.commit()
            dispatcher.run_once(live.clock.now())
            poller.poll()
            assert poller.by_service == poller.by_http == [late]
            first.commit()
        for _ in range(2):
            dispatcher.run_once(live.clock.now())
            poller.poll()
        delivered = [json.loads(body)["id"] for _, body in receiver.received]
        assert sorted(delivered) == sorted([early, late])
        assert poller.by_service == poller.by_http == [late, early]  # in commit order
        assert events.delivery_counts(engine) == {"delivered": 2}
    finally:
        dispatcher.close()
        receiver.stop()


def test_pollers_see_every_event_once_in_commit_order(live: LiveServer) -> None:
    """Both backends: events committed one after another are polled once each, in that order,
    by a poller that reads pages of one; ``sequence`` grows with commit order."""
    engine = live.credits.engine
    emitted = []
    poller = Poller(live)
    for round_ in range(3):
        for index in range(2):
            with engine.begin() as connection:
                emitted.append(emit(connection, live, f"acct-{round_}-{index}"))
        poller.poll()
    poller.poll()
    assert poller.by_service == poller.by_http == emitted
    listed = events.list_events(engine, account_id=None, after=None, limit=100)
    sequences = [event["sequence"] for event in listed]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(emitted)
