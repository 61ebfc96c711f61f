"""Operating errors: what a caller did that gencredits refuses, with the data to say why.

They carry no HTTP status and no exit code; ``gencredits.api.problems`` maps them to RFC 9457
problem details and ``gencredits.cli.errors`` to exit codes, each in one table. Programmer
errors (a broken invariant) are assertions, not members of this tree.

    GencreditsError
    ├── InvalidRequest                 bad input; ``field`` names the offending field
    │   ├── UnknownModel               no such model or tool in the catalog
    │   ├── InactiveModel              the model exists but is switched off
    │   ├── UnknownOption              an option, quality or named choice the model lacks
    │   └── OutOfRange                 a number below its minimum or above its maximum
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
"""

from __future__ import annotations


class GencreditsError(Exception):
    """Base of every operating error; ``code`` is a stable machine-readable name."""

    code = "gencredits_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(GencreditsError):
    """Input that cannot be processed; ``field`` is a dotted path such as ``lines.0.outputs``."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownModel(InvalidRequest):
    code = "unknown_model"

    def __init__(self, model_id: str, *, field: str = "model") -> None:
        super().__init__(f"unknown model {model_id!r}", field=field)
        self.model_id = model_id


class InactiveModel(InvalidRequest):
    code = "inactive_model"

    def __init__(self, model_id: str, *, field: str = "model") -> None:
        super().__init__(f"model {model_id!r} is not active", field=field)
        self.model_id = model_id


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


class CatalogInvalid(GencreditsError):
    """A catalog that does not validate; ``location`` names the file, entry and field."""

    code = "catalog_invalid"

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


class NotFound(GencreditsError):
    code = "not_found"

    def __init__(self, what: str, identifier: object, *, field: str = "id") -> None:
        super().__init__(f"{what} {identifier!r} not found")
        self.what = what
        self.identifier = identifier
        self.field = field


class Conflict(GencreditsError):
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different request")
        self.key = key


class HoldNotPending(Conflict):
    code = "hold_not_pending"

    def __init__(self, hold_id: str, status: str) -> None:
        super().__init__(f"hold {hold_id} is already {status}")
        self.hold_id = hold_id
        self.status = status


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


class InsufficientCredits(GencreditsError):
    code = "insufficient_credits"

    def __init__(self, available: int, required: int) -> None:
        super().__init__(f"needs {required} credits, {available} available")
        self.available = available
        self.required = required


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


class FeatureDisabled(GencreditsError):
    code = "feature_disabled"

    def __init__(self, feature: str) -> None:
        super().__init__(f"{feature} is switched off by the operator")
        self.feature = feature
