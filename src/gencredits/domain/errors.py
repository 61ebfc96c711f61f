"""Operating errors: what a caller did that gencredits refuses, with the data to say why.

They carry no HTTP status and no exit code; ``gencredits.api.problems`` maps them to RFC 9457
problem details and ``gencredits.cli.errors`` to exit codes, each in one table. Programmer
errors (a broken invariant) are assertions, not members of this tree.

    GencreditsError
    ├── InvalidRequest                 bad input; ``field`` names the offending field
    │   ├── UnknownModel               no such model or tool in the catalog
    │   ├── InactiveModel              the model exists but is switched off
    │   ├── UnknownOption              an option, quality or named choice the model lacks
    │   ├── OutOfRange                 a number below its minimum or above its maximum
    │   ├── TooManyOpenHolds           the account already has the most open holds allowed
    │   └── AlreadyRefunded            the charge or capture has been refunded in full
    ├── CatalogInvalid                 a catalog file or change that does not validate
    ├── NotFound                       an account, hold, entry or plan that does not exist
    ├── Conflict                       the request contradicts the current state
    │   ├── IdempotencyConflict        same idempotency key, different payload
    │   ├── HoldNotPending             capture or release of a hold already settled
    │   ├── ExceedsHoldAmount          capture of more than the hold reserved
    │   └── BalanceCeilingExceeded     the balance would pass 2**53-1 credits
    ├── InsufficientCredits            available < required; nothing was written
    ├── ProjectCapExceeded             the charge would pass the project's cycle cap
    └── FeatureDisabled                an operator switch is off (top-ups)

Every error carries its data as :meth:`~GencreditsError.details` (a JSON-safe dict of its
constructor's arguments) and is rebuilt from it by :meth:`~GencreditsError.from_details`: the
API sends ``error`` (the class name) and ``details`` in each problem body, and the HTTP client
raises the same exception from them without reading the message. ``TooManyOpenHolds`` and
``AlreadyRefunded`` keep the wire code of their parent (``invalid_request``), so a caller
that knew them as ``InvalidRequest`` sees no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self


class GencreditsError(Exception):
    """Base of every operating error; ``code`` is a stable machine-readable name."""

    code = "gencredits_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """The data this error carries, JSON-safe: :meth:`from_details` rebuilds it."""
        return {"message": self.message}

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> Self:
        """The error whose :meth:`details` are ``details`` (its constructor's arguments)."""
        return cls(**details)


class InvalidRequest(GencreditsError):
    """Input that cannot be processed; ``field`` is a dotted path such as ``lines.0.outputs``."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"message": self.message, "field": self.field}


class UnknownModel(InvalidRequest):
    code = "unknown_model"

    def __init__(self, model_id: str, *, field: str = "model") -> None:
        super().__init__(f"unknown model {model_id!r}", field=field)
        self.model_id = model_id

    def details(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "field": self.field}


class InactiveModel(InvalidRequest):
    code = "inactive_model"

    def __init__(self, model_id: str, *, field: str = "model") -> None:
        super().__init__(f"model {model_id!r} is not active", field=field)
        self.model_id = model_id

    def details(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "field": self.field}


class UnknownOption(InvalidRequest):
    code = "unknown_option"

    def __init__(self, model_id: str, value: str, allowed: tuple[str, ...], *, field: str) -> None:
        choices = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"{model_id} has no {field.rsplit('.', 1)[-1]} {value!r} (choose from: {choices})",
            field=field,
        )
        self.model_id = model_id
        self.value = value
        self.allowed = allowed

    def details(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "value": self.value, "allowed": list(self.allowed),
                "field": self.field}

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> Self:
        return cls(details["model_id"], details["value"], tuple(details["allowed"]),
                   field=details["field"])


class OutOfRange(InvalidRequest):
    code = "out_of_range"

    def __init__(
        self, value: int, minimum: int, maximum: int, *, field: str, reason: str = ""
    ) -> None:
        name = field.rsplit(".", 1)[-1]
        if minimum == maximum:
            detail = f"{name} must be {minimum}, got {value}"
        else:
            detail = f"{name} must be between {minimum} and {maximum}, got {value}"
        if reason:
            detail = f"{detail} ({reason})"
        super().__init__(detail, field=field)
        self.value = value
        self.minimum = minimum
        self.maximum = maximum
        self.reason = reason

    def details(self) -> dict[str, Any]:
        return {"value": self.value, "minimum": self.minimum, "maximum": self.maximum,
                "field": self.field, "reason": self.reason}


class TooManyOpenHolds(InvalidRequest):
    """The account already has ``maximum_holds`` open holds (``limits.MAX_OPEN_HOLDS``): capture
    or release one first. Sent as ``invalid_request``, as before it had a class of its own."""

    def __init__(self, maximum_holds: int, *, field: str = "account_id") -> None:
        super().__init__(f"an account may have at most {maximum_holds} open holds", field=field)
        self.maximum_holds = maximum_holds

    def details(self) -> dict[str, Any]:
        return {"maximum_holds": self.maximum_holds, "field": self.field}


class AlreadyRefunded(InvalidRequest):
    """Entry ``entry_id`` (a charge or capture) has nothing left to refund. Sent as
    ``invalid_request``, as before it had a class of its own."""

    def __init__(self, entry_id: int, *, field: str = "entry_id") -> None:
        super().__init__(f"entry {entry_id} is already fully refunded", field=field)
        self.entry_id = entry_id

    def details(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "field": self.field}


class CatalogInvalid(GencreditsError):
    """A catalog that does not validate; ``location`` names the file, entry and field."""

    code = "catalog_invalid"

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location
        self.reason = message

    def details(self) -> dict[str, Any]:
        return {"message": self.reason, "location": self.location}


class NotFound(GencreditsError):
    code = "not_found"

    def __init__(self, what: str, identifier: object, *, field: str = "id") -> None:
        super().__init__(f"{what} {identifier!r} not found")
        self.what = what
        self.identifier = identifier
        self.field = field

    def details(self) -> dict[str, Any]:
        identifier = self.identifier
        if not isinstance(identifier, (str, int, type(None))):
            identifier = str(identifier)
        return {"what": self.what, "identifier": identifier, "field": self.field}


class Conflict(GencreditsError):
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different request")
        self.key = key

    def details(self) -> dict[str, Any]:
        return {"key": self.key}


class HoldNotPending(Conflict):
    code = "hold_not_pending"

    def __init__(self, hold_id: str, status: str) -> None:
        super().__init__(f"hold {hold_id} is already {status}")
        self.hold_id = hold_id
        self.status = status

    def details(self) -> dict[str, Any]:
        return {"hold_id": self.hold_id, "status": self.status}


class ExceedsHoldAmount(Conflict):
    code = "exceeds_hold_amount"

    def __init__(self, hold_id: str, held_credits: int, requested_credits: int) -> None:
        super().__init__(
            f"cannot capture {requested_credits} credits from hold {hold_id}, "
            f"which reserved {held_credits}"
        )
        self.hold_id = hold_id
        self.held_credits = held_credits
        self.requested_credits = requested_credits

    def details(self) -> dict[str, Any]:
        return {"hold_id": self.hold_id, "held_credits": self.held_credits,
                "requested_credits": self.requested_credits}


class BalanceCeilingExceeded(Conflict):
    """Adding ``amount_credits`` to ``balance_credits`` would pass ``ceiling_credits``
    (``limits.MAX_BALANCE_CREDITS``); nothing was written. A conflict with the account's
    state, not bad input: the same amount is accepted by an account with room for it."""

    code = "balance_ceiling_exceeded"

    def __init__(
        self, balance_credits: int, amount_credits: int, ceiling_credits: int,
        *, field: str = "amount",
    ) -> None:
        super().__init__(
            f"a balance of {balance_credits} credits cannot take {amount_credits} more: "
            f"balances stay at most {ceiling_credits} credits"
        )
        self.balance_credits = balance_credits
        self.amount_credits = amount_credits
        self.ceiling_credits = ceiling_credits
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"balance_credits": self.balance_credits, "amount_credits": self.amount_credits,
                "ceiling_credits": self.ceiling_credits, "field": self.field}


class InsufficientCredits(GencreditsError):
    code = "insufficient_credits"

    def __init__(self, available: int, required: int) -> None:
        super().__init__(f"needs {required} credits, {available} available")
        self.available = available
        self.required = required

    def details(self) -> dict[str, Any]:
        return {"available": self.available, "required": self.required}


class ProjectCapExceeded(GencreditsError):
    code = "project_cap_exceeded"

    def __init__(self, project: str, cap_credits: int, used_credits: int, required: int) -> None:
        super().__init__(
            f"project {project!r} has used {used_credits} of its {cap_credits} credit cap "
            f"this cycle; {required} more would pass it"
        )
        self.project = project
        self.cap_credits = cap_credits
        self.used_credits = used_credits
        self.required = required

    def details(self) -> dict[str, Any]:
        return {"project": self.project, "cap_credits": self.cap_credits,
                "used_credits": self.used_credits, "required": self.required}


class FeatureDisabled(GencreditsError):
    code = "feature_disabled"

    def __init__(self, feature: str) -> None:
        super().__init__(f"{feature} is switched off by the operator")
        self.feature = feature

    def details(self) -> dict[str, Any]:
        return {"feature": self.feature}
