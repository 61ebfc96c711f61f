"""Refunds (service/refunds.py): whole, part and by job reference.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

import pytest

from gencredits import (
    EntryKind,
    Gencredits,
    InvalidRequest,
    NotFound,
    OutOfRange,
    QuoteRequest,
)
from tests.service import probes
from tests.service.probes import assert_books_balance

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single


def test_refund_whole_part_and_by_job_reference(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    plan_id = probes.plan_grants(credits, "ana")[0]["id"]
    charge = credits.charge("ana", single("flux-2-max", outputs=4), job_ref="job-9")  # 43

    part = credits.refund(charge.id, amount_credits=10, reason="one image failed")
    assert (part.kind, part.amount_credits, part.balance_delta) == (EntryKind.REFUND, 10, 10)
    assert (part.related_entry_id, part.grants, part.job_ref) == (
        charge.id,
        ((plan_id, 10),),
        "job-9",
    )
    assert credits.account("ana").balance_credits == 1_000 - 43 + 10

    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(OutOfRange) as over:
        credits.refund(charge.id, amount_credits=34)
    assert over.value.maximum == 33
    assert probes.ledger_snapshot(credits, "ana") == before

    rest = credits.refund(account_id="ana", job_ref="job-9")
    assert (rest.amount_credits, rest.related_entry_id) == (33, charge.id)
    assert credits.account("ana").balance_credits == 1_000
    assert probes.plan_grants(credits, "ana")[0]["remaining_credits"] == 1_000

    after = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(InvalidRequest):
        credits.refund(charge.id)  # already fully refunded
    with pytest.raises(InvalidRequest):
        credits.refund(rest.id)  # a refund is not refunded
    grant_entry = probes.entries_of(credits, "ana", kind="grant")[0]
    with pytest.raises(InvalidRequest):
        credits.refund(grant_entry["id"])
    with pytest.raises(NotFound):
        credits.refund(account_id="ana", job_ref="job-404")
    assert probes.ledger_snapshot(credits, "ana") == after

    # A capture is refunded like a charge.
    hold = credits.hold("ana", single("flux-2-pro", outputs=4))
    captured = credits.capture(hold.id).capture
    assert captured is not None
    refund = credits.refund(captured.id)
    assert refund.amount_credits == 18
    assert credits.account("ana").balance_credits == 1_000
    assert_books_balance(credits, "ana")
