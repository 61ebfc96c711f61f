"""Reports never overflow (issue 16 defect 8): balances stay under 2**53 - 1, but the credits
granted, charged or expired over a cycle add up without bound. 1,025 grants of 2**53 - 1, each
taken back by an adjustment, pass 2**63 in one cycle: SQLite's SUM raised "integer overflow"
(a 500 from every report, forecast and advice route) and PostgreSQL's SUM over BIGINT answers
NUMERIC. Every figure must come back exact, as an int, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from gencredits import Gencredits, ManualClock, QuoteRequest

MAX = 2**53 - 1
ROUNDS = 1_025
PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)


def churn(credits: Gencredits, account_id: str) -> None:
    for _ in range(ROUNDS):
        credits.grant(account_id, MAX, source="promo", expires_at=PRO_RENEWAL)
        credits.adjust(account_id, -MAX, reason="taken back")


def test_reports_add_past_int64_exactly(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.charge("ana", QuoteRequest.single("nano-banana-2", count=1_000))  # all of it
    churn(credits, "ana")
    # One more grant, 10 of it spent and the rest left to expire at renewal.
    credits.grant("ana", MAX, source="promo", expires_at=PRO_RENEWAL)
    credits.charge("ana", QuoteRequest.single("flux-2-pro", count=2))
    assert ROUNDS * MAX > 2**63
    granted = 1_000 + ROUNDS * MAX + MAX

    report = credits.usage_report("ana", period="cycle", periods=1)
    current = report.periods[-1]
    assert current.totals.granted_credits == granted
    assert isinstance(current.totals.granted_credits, int)
    assert current.totals.charged_credits == 1_010
    assert "ana" in credits.usage_report_csv("ana")
    credits.forecast("ana")

    clock.set(PRO_RENEWAL)
    credits.renew()
    cycles = credits.cycle_history("ana")
    assert cycles[0].granted_credits == granted
    assert cycles[0].expired_credits == MAX - 10
    credits.advise_plan("ana")
    report = credits.usage_report("ana", period="month", periods=2)
    assert sum(period.totals.expired_credits for period in report.periods) == MAX - 10
    assert credits.verify().ok
