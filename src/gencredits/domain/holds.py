"""Hold settlement: a hold settles once, and never for more than it holds.

A hold is TigerBeetle's pending transfer. Its credits left the grants when it was placed
(:func:`~gencredits.domain.ledger.allocate`), and it is *pending* until exactly one of three
settlements ends it:

* **captured**: some or all of it is kept (``0 <= captured <= held``); the rest is released
  back to the grants it came from, burn order first kept (what a direct charge of the kept
  amount would have burned, :func:`~gencredits.domain.ledger.split_allocations`);
* **released**: all of it goes back;
* **expired**: its TTL passed (``expires_at <= now``) unsettled; all of it goes back, dated at
  the expiry, not at the moment somebody noticed.

A settled hold refuses every later settlement with :class:`HoldNotPending`; a capture above
the hold is refused with :class:`ExceedsHoldAmount`. So, over any sequence of attempts: at most
one settlement, ``captured <= held``, ``released = held - captured``, and every credit held
goes to exactly one side (``captured_allocations + released_allocations = allocations``).

These functions decide; they write nothing. The service reads the :class:`HeldCredits` under
the account's lock, asks for the :class:`HoldSettlement`, and records it (the hold row, the
capture and release entries, the credits returned to their grants).

Worked example: a hold of 100 (5 from grant 3, 95 from grant 2) captured at 60 keeps
``((3, 5), (2, 55))`` and releases ``((2, 40),)``; a second capture or a release of it is
refused, ``hold 7 is already captured``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from gencredits.domain.errors import ExceedsHoldAmount, HoldNotPending
from gencredits.domain.ledger import Allocation, HoldStatus, split_allocations


@dataclass(frozen=True, slots=True)
class HeldCredits:
    """What settling a hold needs: its state, its credits and the grants they came from."""

    hold_id: int
    status: HoldStatus
    amount_credits: int
    allocations: tuple[Allocation, ...]
    expires_at: datetime

    def __post_init__(self) -> None:
        assert self.amount_credits >= 0, "a hold holds a whole number of credits"
        assert all(credits > 0 for _, credits in self.allocations), "allocations are positive"
        assert sum(credits for _, credits in self.allocations) == self.amount_credits, (
            "a hold's allocations add up to the credits it holds"
        )


@dataclass(frozen=True, slots=True)
class HoldSettlement:
    """How a pending hold ends: what is kept, what goes back to which grants, and when."""

    hold_id: int
    status: HoldStatus
    captured_credits: int
    released_credits: int
    captured_allocations: tuple[Allocation, ...]
    released_allocations: tuple[Allocation, ...]
    settled_at: datetime

    def __post_init__(self) -> None:
        assert self.status is not HoldStatus.PENDING, "a settlement ends the hold"
        assert self.captured_credits >= 0 and self.released_credits >= 0
        assert self.status is HoldStatus.CAPTURED or self.captured_credits == 0, (
            "only a capture keeps credits"
        )
        assert sum(c for _, c in self.captured_allocations) == self.captured_credits
        assert sum(c for _, c in self.released_allocations) == self.released_credits

    @property
    def held_credits(self) -> int:
        """The credits the hold held: every one of them was either captured or released."""
        return self.captured_credits + self.released_credits

    @property
    def recorded_captured_credits(self) -> int | None:
        """The hold's ``captured`` as it is stored and shown: a number only once captured."""
        return self.captured_credits if self.status is HoldStatus.CAPTURED else None


def check_pending(held: HeldCredits) -> None:
    """Refuse to settle a hold that is already settled (captured, released or expired)."""
    if held.status is not HoldStatus.PENDING:
        raise HoldNotPending(str(held.hold_id), held.status.value)


def is_due(held: HeldCredits, moment: datetime) -> bool:
    """Has a pending hold's TTL passed by ``moment``? (It then expires, at ``expires_at``.)"""
    return held.status is HoldStatus.PENDING and held.expires_at <= moment


def capture(held: HeldCredits, captured_credits: int, now: datetime) -> HoldSettlement:
    """Keep ``captured_credits`` of a pending hold (all of it, part, or none); the rest goes
    back. Refused when the hold is settled, or when it holds less than asked."""
    check_pending(held)
    assert captured_credits >= 0, "the edge refuses a negative capture"
    if captured_credits > held.amount_credits:
        raise ExceedsHoldAmount(str(held.hold_id), held.amount_credits, captured_credits)
    kept, returned = split_allocations(held.allocations, captured_credits)
    return HoldSettlement(
        hold_id=held.hold_id,
        status=HoldStatus.CAPTURED,
        captured_credits=captured_credits,
        released_credits=held.amount_credits - captured_credits,
        captured_allocations=kept,
        released_allocations=returned,
        settled_at=now,
    )


def release(held: HeldCredits, now: datetime) -> HoldSettlement:
    """Give every credit of a pending hold back to the grants it came from."""
    check_pending(held)
    return _returned_whole(held, HoldStatus.RELEASED, now)


def expire(held: HeldCredits) -> HoldSettlement:
    """A pending hold whose TTL passed gives every credit back, settled at its expiry."""
    check_pending(held)
    return _returned_whole(held, HoldStatus.EXPIRED, held.expires_at)


def settled(held: HeldCredits, settlement: HoldSettlement) -> HeldCredits:
    """The hold once ``settlement`` is recorded (no longer pending: it settles once)."""
    assert settlement.hold_id == held.hold_id, "a settlement of this hold"
    assert settlement.held_credits == held.amount_credits, "a settlement of all it holds"
    check_pending(held)
    return replace(held, status=settlement.status)


def _returned_whole(held: HeldCredits, status: HoldStatus, at: datetime) -> HoldSettlement:
    return HoldSettlement(
        hold_id=held.hold_id,
        status=status,
        captured_credits=0,
        released_credits=held.amount_credits,
        captured_allocations=(),
        released_allocations=held.allocations,
        settled_at=at,
    )
