"""A stored idempotency key keeps the hash of its first request, so the hash's canonical form
can never change: a replay after an upgrade would be refused as a conflict."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits import (
    Gencredits,
    IdempotencyConflict,
    QuoteRequest,
)
from gencredits.domain.pricing import LineItem
from gencredits.service.charge_records import charge_digest, charge_payload
from gencredits.service.idempotency import canonical_json, request_hash
from tests.service import probes
from tests.service.probes import assert_books_balance

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


# --- a charge's hash, written out fast -------------------------------------------------------

_texts = st.none() | st.text(max_size=12)
_numbers = st.none() | st.booleans() | st.integers(-(2**70), 2**70)
_lines = st.builds(
    LineItem,
    model_id=st.text(max_size=12),
    outputs=st.integers(-5, 2**40) | st.booleans(),
    count=st.integers(-5, 2**40) | st.booleans(),
    seconds=_numbers,
    quality=_texts,
    option=_texts,
)


@given(
    lines=st.lists(_lines, min_size=1, max_size=4),
    project=_texts,
    job_ref=_texts,
    price_version=_numbers,
)
def test_charge_digest_is_the_hash_of_the_charge_payload(
    lines: list[LineItem],
    project: str | None,
    job_ref: str | None,
    price_version: int | None,
) -> None:
    """Whatever a caller sends (non-ASCII text, bools where numbers go, huge numbers), the
    fast digest is the canonical one, first from scratch and then from its memo."""
    request = QuoteRequest(tuple(lines))
    expected = request_hash("charge", charge_payload(request, project, job_ref, price_version))
    assert charge_digest(request, project, job_ref, price_version) == expected
    assert charge_digest(request, project, job_ref, price_version) == expected


def test_the_lines_memo_tells_true_from_one() -> None:
    """``True == 1`` as a dict key: a memo keyed by value alone would hand a request with a
    bool the JSON of the one with an int."""
    with_int = QuoteRequest((LineItem("flux-2-pro", outputs=1),))
    with_bool = QuoteRequest((LineItem("flux-2-pro", outputs=True),))
    for request in (with_int, with_bool, with_int):
        assert charge_digest(request, None, None, None) == request_hash(
            "charge", charge_payload(request, None, None, None)
        )
    assert charge_digest(with_int, None, None, None) != charge_digest(
        with_bool, None, None, None
    )


def test_canonical_json_of_plain_values_is_json_dumps() -> None:
    values = ("é\n\"", "", None, 0, -7, 2**80, True, 1.5, Decimal("2.50"), [{"b": 1, "a": 2}])
    for value in values:
        assert canonical_json(value) == json.dumps(value, sort_keys=True, default=str)


single = QuoteRequest.single


@pytest.mark.pgbouncer
def test_idempotent_replays_return_the_first_result_and_write_nothing(
    credits: Gencredits,
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("bob", name="Bob", plan="pro")
    request = single("flux-2-pro", outputs=4)

    first = credits.charge("ana", request, idempotency_key="k-1")
    before = probes.ledger_snapshot(credits, "ana")
    assert credits.charge("ana", request, idempotency_key="k-1") == first
    assert probes.ledger_snapshot(credits, "ana") == before

    # Same key, different payload: refused, nothing written.
    for other in (
        lambda: credits.charge("ana", single("flux-2-pro", outputs=2), idempotency_key="k-1"),
        lambda: credits.charge("ana", request, idempotency_key="k-1", project="x"),
        lambda: credits.hold("ana", request, idempotency_key="k-1"),
        lambda: credits.grant("ana", 5, source="promo", idempotency_key="k-1"),
    ):
        with pytest.raises(IdempotencyConflict):
            other()
    assert probes.ledger_snapshot(credits, "ana") == before

    # Keys are scoped per account: Bob's k-1 is a charge of its own.
    bobs = credits.charge("bob", request, idempotency_key="k-1")
    assert bobs.id != first.id and bobs.account_id == "bob"
    assert credits.account("bob").balance_credits == 982

    hold = credits.hold("ana", request, idempotency_key="h-1")
    assert credits.hold("ana", request, idempotency_key="h-1") == hold
    settled = credits.capture(hold.id, outputs_delivered=3, idempotency_key="c-1")
    assert credits.capture(hold.id, outputs_delivered=3, idempotency_key="c-1") == settled
    with pytest.raises(IdempotencyConflict):
        credits.capture(hold.id, outputs_delivered=2, idempotency_key="c-1")
    refund = credits.refund(first.id, amount_credits=3, idempotency_key="r-1")
    assert credits.refund(first.id, amount_credits=3, idempotency_key="r-1") == refund
    grant = credits.grant("ana", 7, source="promo", idempotency_key="g-1")
    assert credits.grant("ana", 7, source="promo", idempotency_key="g-1") == grant
    adjust = credits.adjust("ana", -2, reason="fix", idempotency_key="a-1")
    assert credits.adjust("ana", -2, reason="fix", idempotency_key="a-1") == adjust
    moved = credits.transfer("ana", "bob", 4, idempotency_key="t-1")
    assert credits.transfer("ana", "bob", 4, idempotency_key="t-1") == moved
    released = credits.hold("ana", request, idempotency_key="h-2")
    assert credits.release(released.id, idempotency_key="l-1") == credits.release(
        released.id, idempotency_key="l-1"
    )

    # Each mutation happened once: the replays left no trace.
    ana = credits.account("ana")
    assert ana.balance_credits == 1_000 - 18 - 14 + 3 + 7 - 2 - 4
    assert [e.idempotency_key for e in credits.history("ana", kinds=("charge",)).entries] == ["k-1"]
    assert credits.account("bob").balance_credits == 982 + 4
    assert_books_balance(credits, "ana", "bob")
