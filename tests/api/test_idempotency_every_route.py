"""Every mutating operation the API serves is idempotent (SPEC 7): the same request twice
with one ``Idempotency-Key`` answers the same status and body and writes nothing the second
time (every table of the database is compared, row for row), and the same key with another
payload is a 409 that writes nothing either.

The operations are read from the served OpenAPI document, not listed by hand: a new POST,
PUT, PATCH or DELETE without a row in :data:`REQUESTS` (or a reason in :data:`READ_ONLY`)
fails :func:`test_every_mutating_operation_has_a_case`. Both backends (``database_url``).
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.mutations import READ_ONLY, REQUESTS, database, mutating_operations, prepare, send
from tests.api.support import LiveServer, assert_problem, idem


def test_every_mutating_operation_has_a_case(live: LiveServer, api: httpx.Client) -> None:
    operations = mutating_operations(api)
    assert set(operations) - set(READ_ONLY) == set(REQUESTS), (
        "a mutating operation needs a case in REQUESTS (or a reason in READ_ONLY)"
    )
    for name, operation in operations.items():
        if name in READ_ONLY:
            continue
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, name


@pytest.mark.parametrize("operation", sorted(REQUESTS), ids=" ".join)
def test_a_replay_is_the_first_answer_on_every_mutating_route(
    live: LiveServer, api: httpx.Client, operation: tuple[str, str]
) -> None:
    first, other = REQUESTS[operation](prepare(api, "case"))
    key = idem()
    original = send(api, first, key)
    assert original.status_code in (200, 201, 204), original.text
    written = database(live.credits.engine)
    for _ in range(2):
        replay = send(api, first, key)
        assert (replay.status_code, replay.content) == (original.status_code, original.content)
    assert database(live.credits.engine) == written
    if other is not None:
        assert_problem(send(api, other, key), 409, "idempotency_conflict")
        assert database(live.credits.engine) == written
