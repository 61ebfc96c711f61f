"""The balance ceiling as a pure rule: its boundary and a property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain.balances import check_balance_ceiling, room_under_ceiling
from gencredits.domain.errors import BalanceCeilingExceeded, Conflict
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
