"""Splitting a transfer's incoming side by expiry: the worked example, boundaries, properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain.ledger import GrantBalance, allocate
from gencredits.domain.transfers import IncomingGrant, split_by_expiry

RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)


def test_the_issue_example_keeps_the_plan_credits_expiring() -> None:
    # Pro pool: 1,000 plan credits expiring at renewal (grant 1), 1 promo credit that lasts
    # (grant 2); 1,001 moved. Before the fix the member got one lasting grant of 1,001.
    incoming = split_by_expiry(((1, 1_000), (2, 1)), {1: RENEWAL, 2: None})
    assert incoming == (IncomingGrant(1_000, RENEWAL), IncomingGrant(1, None))


def test_grants_with_one_expiry_land_in_one_grant_soonest_first() -> None:
    later = RENEWAL + timedelta(days=30)
    incoming = split_by_expiry(
        ((5, 2), (3, 4), (9, 7), (4, 1)), {5: None, 3: later, 9: RENEWAL, 4: later}
    )
    assert incoming == (
        IncomingGrant(7, RENEWAL),
        IncomingGrant(5, later),
        IncomingGrant(2, None),
    )


def test_lasting_credits_stay_lasting_and_one_grant_stays_one() -> None:
    assert split_by_expiry(((1, 50),), {1: None}) == (IncomingGrant(50, None),)
    assert split_by_expiry(((1, 50),), {1: RENEWAL}) == (IncomingGrant(50, RENEWAL),)


def test_invalid_inputs_are_programmer_errors() -> None:
    with pytest.raises(AssertionError):
        split_by_expiry(((1, 0),), {1: None})
    with pytest.raises(AssertionError):
        split_by_expiry(((1, 5),), {})
    with pytest.raises(AssertionError):
        IncomingGrant(0, None)


expiry_days = st.one_of(st.none(), st.integers(min_value=0, max_value=5))
grant_sets = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2**53 - 1), expiry_days,
              st.integers(min_value=0, max_value=1_000)),
    min_size=1,
    max_size=12,
)


@given(grant_sets, st.data())
def test_moved_credits_keep_every_expiry_and_add_up(
    grant_specs: list[tuple[int, int | None, int]], data: st.DataObject
) -> None:
    grants = [
        GrantBalance(
            id=index,
            remaining_credits=remaining,
            priority=priority,
            expires_at=None if days is None else RENEWAL + timedelta(days=days),
        )
        for index, (remaining, days, priority) in enumerate(grant_specs)
    ]
    total = sum(grant.remaining_credits for grant in grants)
    if total == 0:
        return
    amount = data.draw(st.integers(min_value=1, max_value=total))
    allocations = allocate(grants, amount)
    expiries = {grant.id: grant.expires_at for grant in grants}
    incoming = split_by_expiry(allocations, expiries)

    assert sum(part.amount_credits for part in incoming) == amount
    # Per expiry, exactly the credits taken from grants with that expiry: none made lasting,
    # none made to expire later than the grant they came from.
    for part in incoming:
        assert part.amount_credits == sum(
            credits for grant_id, credits in allocations if expiries[grant_id] == part.expires_at
        )
    expiries_out = [part.expires_at for part in incoming]
    assert len(set(expiries_out)) == len(expiries_out)
    dated = [moment for moment in expiries_out if moment is not None]
    assert dated == sorted(dated)
    assert None not in expiries_out[:-1]
