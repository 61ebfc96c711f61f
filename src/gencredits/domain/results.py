"""The values the use cases answer with, beside the ledger's own (``Entry``, ``Hold``):
an account's state, a plan change, a page of history, a settlement, a transfer, the sweep's
and ``verify``'s figures. Pure data with their JSON shapes (``as_dict`` / ``from_dict``), so
the in-process service and the HTTP client (``gencredits.client``) answer with the same
classes and the client needs no service module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gencredits.domain.catalog import Kind
from gencredits.domain.ledger import Entry, Hold
from gencredits.domain.plans import PlanChange
from gencredits.domain.pricing import Quote, QuoteLine


@dataclass(frozen=True, slots=True)
class AccountView:
    id: str
    name: str
    kind: str
    plan_id: str
    pending_plan_id: str | None
    balance_credits: int
    available_credits: int
    held_credits: int
    active_holds: int
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    allowance_credits: int
    allowance_used_credits: int
    members: tuple[str, ...]
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "plan": self.plan_id,
            "pending_plan": self.pending_plan_id,
            "balance": self.balance_credits,
            "available": self.available_credits,
            "held": self.held_credits,
            "active_holds": self.active_holds,
            "cycle_start": self.cycle_starts_at.isoformat(),
            "cycle_end": self.cycle_ends_at.isoformat(),
            "allowance": self.allowance_credits,
            "allowance_used": self.allowance_used_credits,
            "members": list(self.members),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountView:
        return cls(
            id=data["id"],
            name=data["name"],
            kind=data["kind"],
            plan_id=data["plan"],
            pending_plan_id=data["pending_plan"],
            balance_credits=data["balance"],
            available_credits=data["available"],
            held_credits=data["held"],
            active_holds=data["active_holds"],
            cycle_starts_at=datetime.fromisoformat(data["cycle_start"]),
            cycle_ends_at=datetime.fromisoformat(data["cycle_end"]),
            allowance_credits=data["allowance"],
            allowance_used_credits=data["allowance_used"],
            members=tuple(data["members"]),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class PlanChangeResult:
    change: PlanChange
    account: AccountView

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change.value, "account": self.account.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanChangeResult:
        return cls(PlanChange(data["change"]), AccountView.from_dict(data["account"]))


@dataclass(frozen=True, slots=True)
class Page:
    entries: tuple[Entry, ...]
    next_cursor: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": [entry.as_dict() for entry in self.entries],
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True, slots=True)
class SweepResult:
    accounts_checked: int
    accounts_updated: int
    keys_purged: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts_checked": self.accounts_checked,
            "accounts_updated": self.accounts_updated,
            "keys_purged": self.keys_purged,
        }


@dataclass
class VerifyReport:
    accounts_checked: int = 0
    entries_checked: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts_checked": self.accounts_checked,
            "entries_checked": self.entries_checked,
            "differences": self.differences,
        }


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of capturing a hold: the hold, the capture entry and the release of the
    rest (when less than the whole hold was captured)."""

    hold: Hold
    capture: Entry | None
    release: Entry | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "hold": self.hold.as_dict(),
            "capture": self.capture.as_dict() if self.capture else None,
            "release": self.release.as_dict() if self.release else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settlement:
        return cls(
            Hold.from_dict(data["hold"]),
            Entry.from_dict(data["capture"]) if data["capture"] else None,
            Entry.from_dict(data["release"]) if data["release"] else None,
        )


@dataclass(frozen=True, slots=True)
class Transfer:
    outgoing: Entry
    incoming: Entry

    def as_dict(self) -> dict[str, Any]:
        return {"out": self.outgoing.as_dict(), "in": self.incoming.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transfer:
        return cls(Entry.from_dict(data["out"]), Entry.from_dict(data["in"]))


def quote_from_dict(data: Mapping[str, Any]) -> Quote:
    """A :class:`Quote` from its ``as_dict()`` shape (exact decimals come as strings)."""
    return Quote(
        price_version=data["price_version"],
        lines=tuple(
            QuoteLine(
                model_id=line["model"],
                model_name=line["model_name"],
                kind=Kind(line["kind"]),
                rule=line["rule"],
                outputs=line["outputs"],
                count=line["count"],
                seconds=line["seconds"],
                quality=line["quality"],
                option=line["option"],
                price_per_output=Decimal(line["price_per_output"]),
                undiscounted_request=Decimal(line["undiscounted_request"]),
                discount_name=line["discount"],
                discount_percent=Decimal(line["discount_percent"]),
                request_credits=line["unit_credits"],
                subtotal_credits=line["subtotal"],
            )
            for line in data["lines"]
        ),
        total_credits=data["total"],
        issued_at=datetime.fromisoformat(data["issued_at"]),
        expires_at=datetime.fromisoformat(data["expires_at"]),
    )
