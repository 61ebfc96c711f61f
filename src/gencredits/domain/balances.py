"""The balance ceiling: no account holds more than ``limits.MAX_BALANCE_CREDITS``.

Every amount the product accepts is at most 2**53 - 1 credits, but many such amounts add up:
1,025 grants of 2**53 - 1 passed the int64 of the cached balance (a 500). So every operation
that adds to a balance (a grant, an adjustment, a transfer in, a refund; a release only moves
held credits back to available) checks the balance it would leave, and is refused with
:class:`BalanceCeilingExceeded`, nothing written. Since available and held credits are never
negative, the ceiling on their sum bounds each of them and the sum of live grants too.

Renewals are not refused (a sweep must not stop on one account): their allowance is cut to
the room left under the ceiling, see :func:`room_under_ceiling`.
"""

from __future__ import annotations

from gencredits.domain.errors import BalanceCeilingExceeded
from gencredits.domain.limits import MAX_BALANCE_CREDITS


def check_balance_ceiling(balance_credits: int, added_credits: int) -> None:
    """Refuse adding ``added_credits`` to ``balance_credits`` past the ceiling."""
    assert balance_credits >= 0 and added_credits >= 0
    if balance_credits + added_credits > MAX_BALANCE_CREDITS:
        raise BalanceCeilingExceeded(balance_credits, added_credits, MAX_BALANCE_CREDITS)


def room_under_ceiling(balance_credits: int) -> int:
    """How many credits ``balance_credits`` can still take (0 at the ceiling)."""
    assert balance_credits >= 0
    return max(0, MAX_BALANCE_CREDITS - balance_credits)
