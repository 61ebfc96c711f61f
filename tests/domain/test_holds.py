"""Hold settlement, pure (``domain/holds.py``): the worked example and the boundaries first,
then properties over any sequence of captures, releases and expiries."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain import holds
from gencredits.domain.errors import ExceedsHoldAmount, HoldNotPending
from gencredits.domain.holds import HeldCredits, HoldSettlement
from gencredits.domain.ledger import HoldStatus

T0 = datetime(2026, 1, 31, 9, tzinfo=UTC)
EXPIRES = T0 + timedelta(minutes=30)


def pending(*allocations: tuple[int, int], hold_id: int = 7) -> HeldCredits:
    return HeldCredits(
        hold_id=hold_id,
        status=HoldStatus.PENDING,
        amount_credits=sum(credits for _, credits in allocations),
        allocations=allocations,
        expires_at=EXPIRES,
    )


# --- examples --------------------------------------------------------------------------------


def test_the_worked_example_keeps_burn_order_first_and_returns_the_rest() -> None:
    held = pending((3, 5), (2, 95))
    settlement = holds.capture(held, 60, T0)
    assert settlement == HoldSettlement(
        hold_id=7,
        status=HoldStatus.CAPTURED,
        captured_credits=60,
        released_credits=40,
        captured_allocations=((3, 5), (2, 55)),
        released_allocations=((2, 40),),
        settled_at=T0,
    )
    assert settlement.held_credits == 100
    assert settlement.recorded_captured_credits == 60
    after = holds.settled(held, settlement)
    assert after.status is HoldStatus.CAPTURED
    with pytest.raises(HoldNotPending, match="hold 7 is already captured"):
        holds.capture(after, 1, T0)
    with pytest.raises(HoldNotPending, match="hold 7 is already captured"):
        holds.release(after, T0)


def test_a_whole_capture_returns_nothing_and_a_zero_capture_returns_everything() -> None:
    held = pending((3, 5), (2, 95))
    whole = holds.capture(held, 100, T0)
    assert (whole.captured_allocations, whole.released_allocations) == (((3, 5), (2, 95)), ())
    none = holds.capture(held, 0, T0)
    assert (none.captured_credits, none.released_credits) == (0, 100)
    assert none.captured_allocations == ()
    assert none.status is HoldStatus.CAPTURED and none.recorded_captured_credits == 0


def test_one_credit_above_the_hold_is_refused_with_its_numbers() -> None:
    held = pending((2, 100))
    with pytest.raises(ExceedsHoldAmount) as refused:
        holds.capture(held, 101, T0)
    error = refused.value
    assert (error.hold_id, error.held_credits, error.requested_credits) == ("7", 100, 101)
    assert error.code == "exceeds_hold_amount"


def test_a_settled_hold_is_refused_before_its_amount_is_looked_at() -> None:
    released = replace(pending((2, 100)), status=HoldStatus.RELEASED)
    with pytest.raises(HoldNotPending) as refused:
        holds.capture(released, 101, T0)
    assert (refused.value.hold_id, refused.value.status) == ("7", "released")


def test_release_returns_every_credit_now() -> None:
    settlement = holds.release(pending((3, 5), (2, 95)), T0)
    assert settlement.status is HoldStatus.RELEASED
    assert settlement.released_allocations == ((3, 5), (2, 95))
    assert (settlement.captured_credits, settlement.released_credits) == (0, 100)
    assert settlement.recorded_captured_credits is None
    assert settlement.settled_at == T0


def test_a_hold_is_due_from_its_expiry_on_and_expires_at_it() -> None:
    held = pending((2, 10))
    assert not holds.is_due(held, EXPIRES - timedelta(microseconds=1))
    assert holds.is_due(held, EXPIRES)
    assert holds.is_due(held, EXPIRES + timedelta(days=1))
    settlement = holds.expire(held)
    assert settlement.status is HoldStatus.EXPIRED
    assert settlement.settled_at == EXPIRES  # dated at the expiry, not when it was noticed
    assert settlement.released_allocations == ((2, 10),)
    expired = holds.settled(held, settlement)
    assert not holds.is_due(expired, EXPIRES + timedelta(days=1))
    with pytest.raises(HoldNotPending, match="already expired"):
        holds.expire(expired)


def test_invalid_values_are_programmer_errors() -> None:
    with pytest.raises(AssertionError):
        HeldCredits(7, HoldStatus.PENDING, 10, ((2, 9),), EXPIRES)  # allocations short
    with pytest.raises(AssertionError):
        HeldCredits(7, HoldStatus.PENDING, 0, ((2, 0),), EXPIRES)  # an empty allocation
    with pytest.raises(AssertionError):
        holds.capture(pending((2, 10)), -1, T0)
    with pytest.raises(AssertionError):
        holds.settled(pending((2, 10), hold_id=8), holds.release(pending((2, 10)), T0))


# --- properties ------------------------------------------------------------------------------

allocation_lists = st.lists(
    st.tuples(st.integers(1, 50), st.integers(1, 2**53 - 1)), min_size=1, max_size=8,
    unique_by=lambda allocation: allocation[0],
)  # fmt: skip

attempts = st.lists(
    st.one_of(
        st.tuples(st.just("capture"), st.integers(0, 2**54)),
        st.tuples(st.just("capture_part"), st.floats(0, 1)),
        st.tuples(st.just("release"), st.just(0)),
        st.tuples(st.just("expire"), st.integers(-3600, 3600)),
    ),
    max_size=10,
)


def attempt(held: HeldCredits, action: str, value: float) -> HoldSettlement | None:
    """One settlement attempt as a service makes it: expiry only once due."""
    if action == "capture":
        return holds.capture(held, int(value), T0)
    if action == "capture_part":
        return holds.capture(held, int(held.amount_credits * value), T0)
    if action == "release":
        return holds.release(held, T0)
    if not holds.is_due(held, EXPIRES + timedelta(seconds=value)):
        return None
    return holds.expire(held)


@given(allocation_lists, attempts)
def test_any_sequence_settles_at_most_once_and_conserves_credits(
    allocations: list[tuple[int, int]], sequence: list[tuple[str, float]]
) -> None:
    held = pending(*allocations)
    settlements: list[HoldSettlement] = []
    for action, value in sequence:
        try:
            settlement = attempt(held, action, value)
        except HoldNotPending:
            assert settlements, "only a settled hold is refused as not pending"
            continue
        except ExceedsHoldAmount:
            assert action == "capture" and value > held.amount_credits
            continue
        if settlement is not None:
            held = holds.settled(held, settlement)
            settlements.append(settlement)
    assert len(settlements) <= 1
    assert held.status is (settlements[0].status if settlements else HoldStatus.PENDING)
    for settlement in settlements:
        assert 0 <= settlement.captured_credits <= held.amount_credits
        assert settlement.released_credits == held.amount_credits - settlement.captured_credits
        given_back = Counter[int]()
        for grant_id, credits in (
            *settlement.captured_allocations, *settlement.released_allocations
        ):
            assert credits > 0
            given_back[grant_id] += credits
        assert given_back == Counter(dict(allocations))  # every credit held, to one side


@given(allocation_lists, st.data())
def test_a_capture_keeps_the_first_credits_in_burn_order(
    allocations: list[tuple[int, int]], data: st.DataObject
) -> None:
    held = pending(*allocations)
    kept = data.draw(st.integers(0, held.amount_credits))
    settlement = holds.capture(held, kept, T0)
    # Every grant before the last one kept from is kept whole; none after it is touched.
    kept_ids = [grant_id for grant_id, _ in settlement.captured_allocations]
    assert kept_ids == [grant_id for grant_id, _ in allocations[: len(kept_ids)]]
    for (grant_id, credits), (same_id, whole) in zip(
        settlement.captured_allocations[:-1], allocations, strict=False
    ):
        assert (grant_id, credits) == (same_id, whole)
