"""Where transferred credits land: one incoming grant per expiry of the grants they left.

A transfer burns the sender's grants in burn order (:func:`gencredits.domain.ledger.allocate`)
and gives the receiver the same credits as new grants of source ``transfer``. SPEC section 7:
moved credits keep the expiry of the grant they came from, so the receiving side is split by
expiry. Plan credits that expire at the sender's renewal still expire then on the receiver's
side (they are never turned into lasting credits, and never outlive a renewal), and credits
that last stay lasting.

Each incoming grant has source ``transfer`` and its default priority, whatever the sources it
came from: the receiver did not subscribe to the sender's plan, and the expiry, which decides
the burn order first, is what is kept.

Worked example: a Pro pool has 1,000 plan credits expiring on 28 February and 1 promo credit
that lasts. Transferring 1,001 gives the member two grants: 1,000 expiring on 28 February and
1 that lasts. After the member's own renewal, the 1,000 are gone (or were spent) either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gencredits.domain.ledger import Allocation


@dataclass(frozen=True, slots=True)
class IncomingGrant:
    """One grant the receiver of a transfer gets."""

    amount_credits: int
    expires_at: datetime | None

    def __post_init__(self) -> None:
        assert self.amount_credits > 0, "an incoming grant carries credits"


def _expiry_order(item: tuple[datetime | None, int]) -> tuple[bool, float]:
    """Soonest expiry first, lasting credits last (the burn order's first criterion)."""
    expires_at = item[0]
    return (expires_at is None, 0.0 if expires_at is None else expires_at.timestamp())


def split_by_expiry(
    allocations: Sequence[Allocation], expiries: Mapping[int, datetime | None]
) -> tuple[IncomingGrant, ...]:
    """The incoming grants for credits taken from the sender's grants by ``allocations``.

    ``expiries`` gives each source grant's expiry (``None``: it lasts). Credits from grants
    with the same expiry land in one grant; the result is ordered soonest expiry first and
    adds up to exactly the credits moved.
    """
    credits_by_expiry: dict[datetime | None, int] = {}
    for grant_id, credits in allocations:
        assert credits > 0, "an allocation takes credits"
        assert grant_id in expiries, f"the expiry of grant {grant_id} is known"
        expires_at = expiries[grant_id]
        credits_by_expiry[expires_at] = credits_by_expiry.get(expires_at, 0) + credits
    ordered = sorted(credits_by_expiry.items(), key=_expiry_order)
    incoming = tuple(IncomingGrant(credits, expires_at) for expires_at, credits in ordered)
    assert sum(part.amount_credits for part in incoming) == sum(c for _, c in allocations)
    return incoming
