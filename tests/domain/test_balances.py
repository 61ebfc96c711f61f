"""Balances as pure rules: the ceiling (its boundary and a property), and the
:class:`Balance` value (the worked example, the boundaries, and any sequence of moves)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain.balances import Balance, check_balance_ceiling, room_under_ceiling
from gencredits.domain.errors import BalanceCeilingExceeded, Conflict, InsufficientCredits
from gencredits.domain.limits import MAX_AMOUNT_CREDITS, MAX_BALANCE_CREDITS


def test_the_ceiling_is_the_largest_exact_json_integer() -> None:
    assert MAX_BALANCE_CREDITS == MAX_AMOUNT_CREDITS == 2**53 - 1
    assert float(MAX_BALANCE_CREDITS) == MAX_BALANCE_CREDITS


def test_up_to_the_ceiling_is_allowed_one_more_is_refused_with_its_numbers() -> None:
    check_balance_ceiling(0, MAX_BALANCE_CREDITS)
    check_balance_ceiling(MAX_BALANCE_CREDITS, 0)
    check_balance_ceiling(MAX_BALANCE_CREDITS - 1, 1)
    with pytest.raises(BalanceCeilingExceeded) as refused:
        check_balance_ceiling(MAX_BALANCE_CREDITS, 1)
    error = refused.value
    assert isinstance(error, Conflict)
    assert (error.balance_credits, error.amount_credits, error.ceiling_credits, error.field) == (
        MAX_BALANCE_CREDITS, 1, MAX_BALANCE_CREDITS, "amount"
    )
    assert error.code == "balance_ceiling_exceeded"
    assert room_under_ceiling(MAX_BALANCE_CREDITS) == 0
    assert room_under_ceiling(0) == MAX_BALANCE_CREDITS


credit_values = st.integers(min_value=0, max_value=MAX_BALANCE_CREDITS)


@given(credit_values, st.integers(min_value=0, max_value=MAX_AMOUNT_CREDITS))
def test_refused_exactly_when_the_room_is_short(balance: int, added: int) -> None:
    room = room_under_ceiling(balance)
    assert balance + room == MAX_BALANCE_CREDITS
    if added <= room:
        check_balance_ceiling(balance, added)
    else:
        with pytest.raises(BalanceCeilingExceeded):
            check_balance_ceiling(balance, added)


# --- Balance ---------------------------------------------------------------------------------


def test_the_worked_example_hold_capture_and_release() -> None:
    balance = Balance(available_credits=1_200, held_credits=0)
    held = balance.hold(100)
    assert (held.available_credits, held.held_credits, held.total_credits) == (1_100, 100, 1_200)
    settled = held.capture(60).release(40)
    assert (settled.available_credits, settled.held_credits, settled.total_credits) == (
        1_140, 0, 1_140,
    )  # fmt: skip
    assert balance == Balance(1_200, 0)  # values: nothing moved in place


def test_spending_or_holding_more_than_is_available_is_refused_with_its_numbers() -> None:
    balance = Balance(available_credits=7, held_credits=5)
    assert balance.debit(7) == Balance(0, 5)
    assert balance.hold(7) == Balance(0, 12)
    for move in (balance.debit, balance.hold):
        with pytest.raises(InsufficientCredits) as refused:
            move(8)  # held credits are not available
        assert (refused.value.available, refused.value.required) == (7, 8)


def test_the_ceiling_refuses_adding_but_never_moving_or_spending() -> None:
    full = Balance(available_credits=MAX_BALANCE_CREDITS - 10, held_credits=10)
    assert full.credit(0) == full
    with pytest.raises(BalanceCeilingExceeded) as refused:
        full.credit(1)
    assert (refused.value.balance_credits, refused.value.amount_credits) == (
        MAX_BALANCE_CREDITS, 1,
    )  # fmt: skip
    assert full.release(10) == Balance(MAX_BALANCE_CREDITS, 0)
    assert full.hold(5).total_credits == MAX_BALANCE_CREDITS
    # Written before the ceiling existed: still spendable, never added to.
    above = Balance(available_credits=MAX_BALANCE_CREDITS + 5, held_credits=0)
    assert above.debit(5) == Balance(MAX_BALANCE_CREDITS, 0)
    with pytest.raises(BalanceCeilingExceeded):
        above.credit(1)


def test_running_figures_below_zero_are_programmer_errors() -> None:
    with pytest.raises(AssertionError):
        Balance(available_credits=-1, held_credits=0)
    with pytest.raises(AssertionError):
        Balance(available_credits=0, held_credits=-1)
    with pytest.raises(AssertionError):
        Balance(5, 3).capture(4)  # more than is held
    with pytest.raises(AssertionError):
        Balance(5, 3).release(4)
    with pytest.raises(AssertionError):
        Balance(5, 3).moved(-6, 0)
    with pytest.raises(AssertionError):
        Balance(5, 3).credit(-1)


amounts = st.integers(min_value=0, max_value=MAX_AMOUNT_CREDITS)
moves = st.lists(
    st.tuples(st.sampled_from(["credit", "debit", "hold", "capture", "release"]), amounts),
    max_size=30,
)


@given(credit_values, moves)
def test_any_sequence_of_moves_keeps_the_invariants(
    start: int, sequence: list[tuple[str, int]]
) -> None:
    balance = Balance(available_credits=start, held_credits=0)
    credited = spent = 0  # what came in and what went out, to check the total against
    for name, amount in sequence:
        if name in ("capture", "release"):
            amount = min(amount, balance.held_credits)  # the hold's rules bound these
        before = balance
        try:
            balance = getattr(balance, name)(amount)
        except InsufficientCredits:
            assert name in ("debit", "hold") and amount > before.available_credits
            continue
        except BalanceCeilingExceeded:
            assert name == "credit" and before.total_credits + amount > MAX_BALANCE_CREDITS
            continue
        credited += amount if name == "credit" else 0
        spent += amount if name in ("debit", "capture") else 0
        assert balance.available_credits >= 0 and balance.held_credits >= 0
        assert balance.available_credits == balance.total_credits - balance.held_credits
        assert balance.total_credits <= MAX_BALANCE_CREDITS
    assert balance.total_credits == start + credited - spent


@given(credit_values, credit_values, st.integers(-(2**54), 2**54), st.integers(-(2**54), 2**54))
def test_a_move_is_refused_exactly_when_it_adds_past_the_ceiling(
    available: int, held: int, available_delta: int, held_delta: int
) -> None:
    balance = Balance(available, held)
    added = available_delta + held_delta
    if available + available_delta < 0 or held + held_delta < 0:
        if added <= 0 or balance.total_credits + added <= MAX_BALANCE_CREDITS:
            with pytest.raises(AssertionError):
                balance.moved(available_delta, held_delta)
        return
    if added > 0 and balance.total_credits + added > MAX_BALANCE_CREDITS:
        with pytest.raises(BalanceCeilingExceeded):
            balance.moved(available_delta, held_delta)
        return
    after = balance.moved(available_delta, held_delta)
    assert after.total_credits == balance.total_credits + added
    assert after.held_credits == held + held_delta
