"""The burn order and the allocation rules of ``domain/ledger.py``, pure: which grants pay,
which credits a partial capture keeps and returns, where a refund goes. Examples first (the
boundaries), then properties for any grants and amounts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain.errors import InsufficientCredits
from gencredits.domain.ledger import (
    GrantBalance,
    allocate,
    burn_order_key,
    refund_allocations,
    split_allocations,
)

T0 = datetime(2026, 1, 31, 9, tzinfo=UTC)


def grant(id_: int, remaining: int, *, priority: int = 10, days: int | None = None) -> GrantBalance:
    expires = None if days is None else T0 + timedelta(days=days)
    return GrantBalance(id=id_, remaining_credits=remaining, priority=priority, expires_at=expires)


# --- examples --------------------------------------------------------------------------------


def test_soonest_expiry_burns_first_and_lasting_credits_last() -> None:
    lasting = grant(1, 200, priority=20)
    plan = grant(2, 1_000, days=28)
    promo_soon = grant(3, 5, priority=20, days=1)
    assert allocate([lasting, plan, promo_soon], 18) == ((3, 5), (2, 13))
    assert allocate([lasting, plan, promo_soon], 1_100) == ((3, 5), (2, 1_000), (1, 95))


def test_priority_then_age_break_ties_in_expiry() -> None:
    assert allocate([grant(7, 10, priority=50), grant(8, 10, priority=10)], 12) == (
        (8, 10), (7, 2),
    )  # fmt: skip
    assert allocate([grant(9, 10), grant(4, 10)], 12) == ((4, 10), (9, 2))


def test_an_exact_balance_is_spent_to_zero_and_one_more_is_refused() -> None:
    grants = [grant(1, 3), grant(2, 4, days=2)]
    assert allocate(grants, 7) == ((2, 4), (1, 3))
    with pytest.raises(InsufficientCredits) as refused:
        allocate(grants, 8)
    assert (refused.value.available, refused.value.required) == (7, 8)


def test_empty_grants_are_passed_over() -> None:
    assert allocate([grant(1, 0, days=1), grant(2, 5)], 5) == ((2, 5),)


def test_a_partial_capture_keeps_what_a_charge_would_burn() -> None:
    # The module docstring's example: a hold of 100 from the plan grant, 60 captured.
    assert split_allocations([(2, 100)], 60) == (((2, 60),), ((2, 40),))
    assert split_allocations([(3, 5), (2, 95)], 5) == (((3, 5),), ((2, 95),))
    assert split_allocations([(3, 5), (2, 95)], 0) == ((), ((3, 5), (2, 95)))
    assert split_allocations([(3, 5), (2, 95)], 100) == (((3, 5), (2, 95)), ())


def test_refunds_return_last_burned_first_across_partial_refunds() -> None:
    burned = [(3, 5), (2, 13)]
    assert refund_allocations(burned, 0, 10) == ((2, 10),)
    assert refund_allocations(burned, 10, 5) == ((2, 3), (3, 2))
    assert refund_allocations(burned, 15, 3) == ((3, 3),)
    with pytest.raises(AssertionError):
        refund_allocations(burned, 15, 4)  # more than is left to refund


# --- properties ------------------------------------------------------------------------------

grant_lists = st.lists(
    st.builds(
        grant,
        st.integers(1, 10_000),
        st.integers(0, 2**53 - 1),
        priority=st.sampled_from([10, 20, 30, 40, 50]),
        days=st.none() | st.integers(-5, 400),
    ),
    max_size=12,
    unique_by=lambda g: g.id,
)


@given(grant_lists, st.integers(1, 2**55))
def test_allocate_conserves_credits_and_keeps_the_burn_order(
    grants: list[GrantBalance], amount: int
) -> None:
    available = sum(g.remaining_credits for g in grants)
    if amount > available:
        with pytest.raises(InsufficientCredits):
            allocate(grants, amount)
        return
    allocations = allocate(grants, amount)
    by_id = {g.id: g for g in grants}
    assert sum(credits for _, credits in allocations) == amount
    assert all(0 < credits <= by_id[g].remaining_credits for g, credits in allocations)
    assert len({g for g, _ in allocations}) == len(allocations)
    # Burn order: allocations follow it, and every grant before the last one touched is
    # emptied (no credit of a later grant is taken while an earlier one has some left).
    ordered = [g.id for g in sorted(grants, key=burn_order_key) if g.remaining_credits]
    touched = [g for g, _ in allocations]
    assert touched == ordered[: len(touched)]
    for grant_id, credits in allocations[:-1]:
        assert credits == by_id[grant_id].remaining_credits


allocation_lists = st.lists(
    st.tuples(st.integers(1, 50), st.integers(1, 2**40)), min_size=1, max_size=8,
    unique_by=lambda a: a[0],
)  # fmt: skip


@given(allocation_lists, st.data())
def test_a_split_conserves_the_hold_and_keeps_burn_order_first(
    allocations: list[tuple[int, int]], data: st.DataObject
) -> None:
    total = sum(credits for _, credits in allocations)
    kept_credits = data.draw(st.integers(0, total))
    kept, returned = split_allocations(allocations, kept_credits)
    assert sum(c for _, c in kept) == kept_credits
    assert sum(c for _, c in returned) == total - kept_credits
    merged = Counter[int]()
    for grant_id, credits in (*kept, *returned):
        assert credits > 0
        merged[grant_id] += credits
    assert merged == Counter(dict(allocations))
    # What is kept is what a charge of kept_credits would burn from the same grants.
    if kept_credits:
        assert kept == allocate_in_given_order(allocations, kept_credits)


def allocate_in_given_order(
    allocations: list[tuple[int, int]], amount: int
) -> tuple[tuple[int, int], ...]:
    result, left = [], amount
    for grant_id, credits in allocations:
        take = min(credits, left)
        if take:
            result.append((grant_id, take))
            left -= take
    return tuple(result)


@given(allocation_lists, st.data())
def test_refunds_never_return_more_than_a_grant_gave_across_any_sequence(
    allocations: list[tuple[int, int]], data: st.DataObject
) -> None:
    total = sum(credits for _, credits in allocations)
    returned = Counter[int]()
    refunded = 0
    while refunded < total:
        part = data.draw(st.integers(1, total - refunded))
        for grant_id, credits in refund_allocations(allocations, refunded, part):
            returned[grant_id] += credits
        refunded += part
    # Refunding the whole charge in any number of parts returns exactly what was burned.
    assert returned == Counter(dict(allocations))


def credits_in_order(allocations: list[tuple[int, int]]) -> list[int]:
    """Each burned credit, by the grant it came from, in burn order."""
    return [grant_id for grant_id, credits in allocations for _ in range(credits)]


small_allocation_lists = st.lists(
    st.tuples(st.integers(1, 50), st.integers(1, 40)), min_size=1, max_size=6,
    unique_by=lambda a: a[0],
)  # fmt: skip


@given(small_allocation_lists, st.data())
def test_a_refund_gives_back_the_last_burned_credits_not_yet_given_back(
    allocations: list[tuple[int, int]], data: st.DataObject
) -> None:
    # Credit by credit: after ``already`` credits were refunded, a refund of ``part`` returns
    # exactly the ``part`` credits burned just before those, in reverse burn order.
    total = sum(credits for _, credits in allocations)
    already = data.draw(st.integers(0, total - 1))
    part = data.draw(st.integers(1, total - already))
    burned = credits_in_order(allocations)
    expected = list(reversed(burned[total - already - part : total - already]))
    assert credits_in_order(list(refund_allocations(allocations, already, part))) == expected
