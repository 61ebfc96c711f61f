"""The balance ceiling: no account holds more than ``limits.MAX_BALANCE_CREDITS``.

Every amount the product accepts is at most 2**53 - 1 credits, but many such amounts add up:
1,025 grants of 2**53 - 1 passed the int64 of the cached balance (a 500). So every operation
that adds to a balance (a grant, an adjustment, a transfer in, a refund; a release only moves
held credits back to available) checks the balance it would leave, and is refused with
:class:`BalanceCeilingExceeded`, nothing written. Since available and held credits are never
negative, the ceiling on their sum bounds each of them and the sum of live grants too.

Renewals are not refused (a sweep must not stop on one account): their allowance is cut to
the room left under the ceiling, see :func:`room_under_ceiling`.

:class:`Balance` is an account's running figures as a value, with every rule on them in one
place: *available* and *held* credits never go below zero, the *total* is their sum (so
available = total - held, always), and a move that adds to the total is refused past the
ceiling before anything changes. Moves that keep the total (placing a hold, releasing it) or
lower it (a charge, an expiry, a capture) are never refused by the ceiling, so an account
that holds more than it (written before the ceiling existed) can still spend.

Worked example: 1,200 available; a hold of 100 leaves 1,100 available and 100 held (total
1,200); capturing 60 of it and releasing 40 leaves 1,140 available, nothing held.
"""

from __future__ import annotations

from dataclasses import dataclass

from gencredits.domain.errors import BalanceCeilingExceeded, InsufficientCredits
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


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's available and held credits; every move returns a new one."""

    available_credits: int
    held_credits: int

    def __post_init__(self) -> None:
        assert self.available_credits >= 0, "available credits never go below zero"
        assert self.held_credits >= 0, "held credits never go below zero"

    @property
    def total_credits(self) -> int:
        """Available and held together: the account's balance."""
        return self.available_credits + self.held_credits

    def moved(self, available_delta: int, held_delta: int) -> Balance:
        """The balance after an entry's effect. A move that adds to the total is refused past
        the ceiling (nothing changes); one that would leave a figure below zero is a
        programmer error (the rules that refuse spending ran before)."""
        added_credits = available_delta + held_delta
        if added_credits > 0:
            check_balance_ceiling(self.total_credits, added_credits)
        return Balance(self.available_credits + available_delta, self.held_credits + held_delta)

    def credit(self, amount_credits: int) -> Balance:
        """New available credits (a grant, an adjustment, a transfer in, a refund)."""
        assert amount_credits >= 0
        return self.moved(amount_credits, 0)

    def debit(self, amount_credits: int) -> Balance:
        """Available credits gone (a charge, an expiry, a transfer out); refused when short."""
        assert amount_credits >= 0
        self._check_available(amount_credits)
        return self.moved(-amount_credits, 0)

    def hold(self, amount_credits: int) -> Balance:
        """Available credits set aside for a job; refused when short. The total stays."""
        assert amount_credits >= 0
        self._check_available(amount_credits)
        return self.moved(-amount_credits, amount_credits)

    def capture(self, amount_credits: int) -> Balance:
        """Held credits spent (never more than are held: the hold's rules check first)."""
        assert 0 <= amount_credits <= self.held_credits
        return self.moved(0, -amount_credits)

    def release(self, amount_credits: int) -> Balance:
        """Held credits made available again. The total stays, so no ceiling applies."""
        assert 0 <= amount_credits <= self.held_credits
        return self.moved(amount_credits, -amount_credits)

    def _check_available(self, amount_credits: int) -> None:
        if amount_credits > self.available_credits:
            raise InsufficientCredits(available=self.available_credits, required=amount_credits)
