"""Ledger rules: grants, the burn order, entries and holds, as values and pure functions.

The model (OpenMeter's grants, TigerBeetle's two-phase transfers):

* Credits live in **grants**. Each has a source, an amount, a remaining part, a priority and an
  optional expiry. *Available* credits are the remaining parts of live grants; *held* credits
  were taken out of grants by pending holds; *balance* = available + held.
* Spending **burns** grants soonest-expiry first (grants that never expire last), then by
  priority (lower first), then oldest first; so plan credits, which expire at renewal, go
  before credits that last. :func:`allocate` computes which grants pay for an amount.
* A **hold** takes its credits out of grants at once (so they cannot be spent twice), and
  settles exactly once: *captured* (all or part; the rest returns to the grants it came from),
  *released*, or *expired* when its TTL passes. :func:`split_allocations` decides which
  credits are kept and which return.
* Every change is an **entry**, appended and never changed. Each entry records its effect on
  the balance and on the held part; ``balance = sum(balance_delta)`` and
  ``held = sum(held_delta)`` over an account's entries, always.

Worked example: a Pro account has 1,000 plan credits expiring at renewal and 200 promo credits
that never expire. A charge of 18 burns the plan grant (1,000 -> 982); a hold of 100 takes
100 more from it (882 available in the plan grant, 100 held); capturing 60 keeps 60 and
returns 40 to the plan grant (922). Balance: 922 + 200 = 1,122 = 1,200 - 18 - 60.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from gencredits.domain.errors import InsufficientCredits


class GrantSource(StrEnum):
    PLAN = "plan"
    TRIAL = "trial"
    PROMO = "promo"
    TOPUP = "topup"
    ADJUSTMENT = "adjustment"
    TRANSFER = "transfer"


# Lower burns first among grants with the same expiry: allowances before bought credits.
DEFAULT_PRIORITY: dict[GrantSource, int] = {
    GrantSource.PLAN: 10,
    GrantSource.TRIAL: 10,
    GrantSource.PROMO: 20,
    GrantSource.TRANSFER: 30,
    GrantSource.ADJUSTMENT: 40,
    GrantSource.TOPUP: 50,
}


class EntryKind(StrEnum):
    GRANT = "grant"
    EXPIRE = "expire"
    CHARGE = "charge"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    ADJUST = "adjust"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


# Entries that spend credits on generations (usage), and those that give some back.
SPENDING_KINDS = frozenset({EntryKind.CHARGE, EntryKind.CAPTURE})


class HoldStatus(StrEnum):
    PENDING = "pending"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


class AccountKind(StrEnum):
    PERSON = "person"
    POOL = "pool"


Allocation = tuple[int, int]  # (grant id, credits)


@dataclass(frozen=True, slots=True)
class GrantBalance:
    """The part of a grant that burn order needs."""

    id: int
    remaining_credits: int
    priority: int
    expires_at: datetime | None


def burn_order_key(grant: GrantBalance) -> tuple[bool, datetime | None, int, int]:
    """Soonest expiry first, never-expiring last, then priority, then oldest (lowest id)."""
    return (grant.expires_at is None, grant.expires_at, grant.priority, grant.id)


def allocate(grants: Sequence[GrantBalance], amount_credits: int) -> tuple[Allocation, ...]:
    """Which grants pay ``amount_credits``, in burn order; refuses when they do not cover it."""
    assert amount_credits > 0, "allocate a positive amount"
    available = sum(grant.remaining_credits for grant in grants)
    if available < amount_credits:
        raise InsufficientCredits(available=available, required=amount_credits)
    allocations: list[Allocation] = []
    left = amount_credits
    for grant in sorted(grants, key=burn_order_key):
        if left == 0:
            break
        take = min(grant.remaining_credits, left)
        if take > 0:
            allocations.append((grant.id, take))
            left -= take
    assert left == 0
    return tuple(allocations)


def split_allocations(
    allocations: Sequence[Allocation], kept_credits: int
) -> tuple[tuple[Allocation, ...], tuple[Allocation, ...]]:
    """Split a hold's allocations into the credits kept (burn order first) and those returned.

    Capturing part of a hold keeps what a direct charge of that amount would have burned, and
    returns the rest to the grants it came from.
    """
    total = sum(credits for _, credits in allocations)
    assert 0 <= kept_credits <= total
    kept: list[Allocation] = []
    returned: list[Allocation] = []
    left = kept_credits
    for grant_id, credits in allocations:
        take = min(credits, left)
        left -= take
        if take:
            kept.append((grant_id, take))
        if credits - take:
            returned.append((grant_id, credits - take))
    return tuple(kept), tuple(returned)


def refund_allocations(
    allocations: Sequence[Allocation], already_refunded_credits: int, refund_credits: int
) -> tuple[Allocation, ...]:
    """Where a refund goes: back to the grants a charge burned, last burned first.

    ``already_refunded_credits`` were returned by earlier partial refunds of the same charge.
    """
    total = sum(credits for _, credits in allocations)
    assert 0 < refund_credits <= total - already_refunded_credits
    skip = already_refunded_credits
    left = refund_credits
    result: list[Allocation] = []
    for grant_id, credits in reversed(allocations):
        usable = credits - min(credits, skip)
        skip -= min(credits, skip)
        take = min(usable, left)
        if take:
            result.append((grant_id, take))
            left -= take
    assert left == 0
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Entry:
    """One appended change of an account's credits."""

    id: int
    account_id: str
    kind: EntryKind
    amount_credits: int
    balance_delta: int
    held_delta: int
    balance_after: int
    available_after: int
    grants: tuple[Allocation, ...]
    hold_id: int | None
    related_entry_id: int | None
    model_id: str | None
    price_version: int | None
    project: str | None
    job_ref: str | None
    idempotency_key: str | None
    actor: str
    reason: str | None
    details: dict[str, Any] | None
    effective_at: datetime
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "kind": self.kind.value,
            "amount": self.amount_credits,
            "balance_delta": self.balance_delta,
            "held_delta": self.held_delta,
            "balance_after": self.balance_after,
            "available_after": self.available_after,
            "grants": [list(allocation) for allocation in self.grants],
            "hold_id": self.hold_id,
            "related_entry_id": self.related_entry_id,
            "model": self.model_id,
            "price_version": self.price_version,
            "project": self.project,
            "job_ref": self.job_ref,
            "idempotency_key": self.idempotency_key,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
            "effective_at": self.effective_at.isoformat(),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            kind=EntryKind(data["kind"]),
            amount_credits=data["amount"],
            balance_delta=data["balance_delta"],
            held_delta=data["held_delta"],
            balance_after=data["balance_after"],
            available_after=data["available_after"],
            grants=tuple((g, c) for g, c in data["grants"]),
            hold_id=data["hold_id"],
            related_entry_id=data["related_entry_id"],
            model_id=data["model"],
            price_version=data["price_version"],
            project=data["project"],
            job_ref=data["job_ref"],
            idempotency_key=data["idempotency_key"],
            actor=data["actor"],
            reason=data["reason"],
            details=data["details"],
            effective_at=datetime.fromisoformat(data["effective_at"]),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits reserved for a job until it is captured, released or expires."""

    id: int
    account_id: str
    status: HoldStatus
    amount_credits: int
    captured_credits: int | None
    price_version: int
    model_id: str | None
    project: str | None
    job_ref: str | None
    quote: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "status": self.status.value,
            "amount": self.amount_credits,
            "captured": self.captured_credits,
            "price_version": self.price_version,
            "model": self.model_id,
            "project": self.project,
            "job_ref": self.job_ref,
            "quote": self.quote,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "settled_at": self.settled_at.isoformat() if self.settled_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hold:
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            status=HoldStatus(data["status"]),
            amount_credits=data["amount"],
            captured_credits=data["captured"],
            price_version=data["price_version"],
            model_id=data["model"],
            project=data["project"],
            job_ref=data["job_ref"],
            quote=data["quote"],
            created_at=datetime.fromisoformat(data["created_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            settled_at=datetime.fromisoformat(data["settled_at"]) if data["settled_at"] else None,
        )
