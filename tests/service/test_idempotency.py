"""A stored idempotency key keeps the hash of its first request, so the hash's canonical form
can never change: a replay after an upgrade would be refused as a conflict."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from gencredits.service.idempotency import request_hash

PAYLOAD = {
    "lines": [{"model": "flux-2-pro", "outputs": 4}],
    "project": None,
    "job_ref": "job-1",
    "price_version": None,
}
# Keys sorted, ", " and ": " separators, non-ASCII escaped: json.dumps(sort_keys=True).
CANONICAL = (
    '{"job_ref": "job-1", "lines": [{"model": "flux-2-pro", "outputs": 4}], '
    '"operation": "charge", "price_version": null, "project": null}'
)


def test_the_hash_is_sha256_of_the_canonical_json() -> None:
    assert request_hash("charge", PAYLOAD) == hashlib.sha256(CANONICAL.encode()).hexdigest()
    assert request_hash("charge", PAYLOAD) == (
        "22616ee62d5e401e9af3db1fe242c1594fd8b1730a26b8203b5d9c8ff223f562"
    )


def test_key_order_does_not_matter_and_every_value_does() -> None:
    reordered = dict(reversed(list(PAYLOAD.items())))
    assert request_hash("charge", reordered) == request_hash("charge", PAYLOAD)
    assert request_hash("hold", PAYLOAD) != request_hash("charge", PAYLOAD)
    assert request_hash("charge", PAYLOAD | {"job_ref": "job-2"}) != request_hash(
        "charge", PAYLOAD
    )
    # Values JSON cannot write go in as their text, as they always have.
    assert request_hash("refund", {"amount": Decimal("1.50")}) == hashlib.sha256(
        b'{"amount": "1.50", "operation": "refund"}'
    ).hexdigest()
    assert request_hash("grant", {"note": "é"}) == hashlib.sha256(
        b'{"note": "\\u00e9", "operation": "grant"}'
    ).hexdigest()
