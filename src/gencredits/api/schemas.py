"""Request and response bodies of the HTTP API (Pydantic v2).

Requests refuse unknown fields (``extra="forbid"``): a client can never set a balance, an
owner or a price it was not asked for. Numbers are strict integers. Responses mirror the
``as_dict()`` shapes of the library's values, so the API, the CLI's ``--json`` and the Python
client agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from gencredits.documents.bounds import BoundedMoment
from gencredits.documents.requests import LineItemIn, StrictModel
from gencredits.domain import limits

Credits = StrictInt
Amount = Field(ge=1, le=limits.MAX_AMOUNT_CREDITS)
Label = Field(default=None, min_length=1, max_length=limits.MAX_LABEL_LENGTH)
JobRef = Field(default=None, min_length=1, max_length=200)

# Entry, hold and event ids are 64-bit (BIGINT) and price versions 32-bit (INTEGER): a larger
# number names nothing, so it is refused here (422) instead of reaching a driver that cannot
# bind it (a 500).
MAX_ROW_ID = 2**63 - 1
MAX_PRICE_VERSION = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Cursor = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]


# --- requests ---------------------------------------------------------------------------------


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    return False


class NoNulStrings(BaseModel):
    """Mixed into every request body: no string may hold a NUL character. PostgreSQL text
    cannot store one (the driver fails, a 500), and no id, label or reason needs one."""

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


class ApiModel(NoNulStrings, StrictModel):
    """A strict request body (unknown fields refused) without NUL characters."""


class QuoteIn(ApiModel):
    lines: list[LineItemIn] = Field(min_length=1, max_length=limits.MAX_LINES_PER_REQUEST)
    price_version: StrictInt | None = Field(default=None, ge=1, le=MAX_PRICE_VERSION)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"lines": [{"model": "flux-2-pro", "outputs": 4}]}]},
    )


class ChargeIn(QuoteIn):
    project: str | None = Label
    job_ref: str | None = JobRef

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"lines": [{"model": "flux-2-pro", "outputs": 4}], "project": "acme"}]
        },
    )


class HoldIn(ChargeIn):
    ttl_seconds: StrictInt = Field(
        default=limits.DEFAULT_HOLD_TTL_SECONDS, ge=1, le=limits.MAX_HOLD_TTL_SECONDS
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"lines": [{"model": "veo-3", "seconds": 8, "quality": "1080p"}],
                 "job_ref": "render-981"}
            ]
        },
    )


class CaptureIn(ApiModel):
    amount: StrictInt | None = Field(default=None, ge=0, le=limits.MAX_AMOUNT_CREDITS)
    outputs_delivered: StrictInt | None = Field(default=None, ge=0, le=limits.MAX_EDIT_BATCH_ITEMS)


class RefundIn(ApiModel):
    amount: StrictInt | None = Field(default=None, ge=1, le=limits.MAX_AMOUNT_CREDITS)
    reason: str | None = Field(default=None, max_length=500)


class AccountIn(ApiModel):
    id: str | None = Field(default=None, min_length=1, max_length=64, examples=["ana"])
    name: str = Field(min_length=1, max_length=limits.MAX_LABEL_LENGTH, examples=["Ana"])
    plan: str | None = Field(default=None, min_length=1, max_length=64, examples=["pro"])
    kind: Literal["person", "pool"] = "person"
    members: list[str] = Field(default_factory=list, max_length=500)


class MembersIn(ApiModel):
    add: list[str] = Field(default_factory=list, max_length=500)
    remove: list[str] = Field(default_factory=list, max_length=500)


class GrantIn(ApiModel):
    amount: StrictInt = Amount
    source: Literal["promo", "topup", "trial", "adjustment"]
    expires_at: BoundedMoment | None = None
    priority: StrictInt | None = Field(default=None, ge=0, le=1000)
    reason: str | None = Field(default=None, max_length=500)


class AdjustmentIn(ApiModel):
    amount: StrictInt = Field(ge=-limits.MAX_AMOUNT_CREDITS, le=limits.MAX_AMOUNT_CREDITS)
    reason: str = Field(min_length=1, max_length=500)
    expires_at: BoundedMoment | None = None


class TransferIn(ApiModel):
    from_account: str = Field(min_length=1, max_length=64)
    to_account: str = Field(min_length=1, max_length=64)
    amount: StrictInt = Amount
    reason: str | None = Field(default=None, max_length=500)


class PlanChangeIn(ApiModel):
    plan: str = Field(min_length=1, max_length=64, examples=["ultra"])


class ProjectCapIn(ApiModel):
    cap: StrictInt | None = Field(ge=0, le=limits.MAX_AMOUNT_CREDITS)


class KeyIn(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    account_id: str | None = Field(default=None, min_length=1, max_length=64)


class TopupsIn(ApiModel):
    enabled: bool


# --- responses --------------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class QuoteLineOut(Out):
    model: str
    model_name: str
    kind: str
    rule: str
    outputs: int
    count: int
    seconds: int | None
    quality: str | None
    option: str | None
    price_per_output: str
    undiscounted_request: str
    discount: str | None
    discount_percent: str
    unit_credits: int
    subtotal: int
    capped_by_outputs: int | None = None
    explanation: str


class QuoteOut(Out):
    price_version: int
    total: int
    undiscounted: int
    issued_at: datetime
    expires_at: datetime
    lines: list[QuoteLineOut]


class EntryOut(Out):
    id: int
    account_id: str
    kind: str
    amount: int
    balance_delta: int
    held_delta: int
    balance_after: int
    available_after: int
    grants: list[list[int]]
    hold_id: int | None
    related_entry_id: int | None
    model: str | None
    price_version: int | None
    project: str | None
    job_ref: str | None
    idempotency_key: str | None
    actor: str
    reason: str | None
    details: dict[str, Any] | None
    effective_at: datetime
    created_at: datetime


class HoldOut(Out):
    id: int
    account_id: str
    status: str
    amount: int
    captured: int | None
    price_version: int
    model: str | None
    project: str | None
    job_ref: str | None
    quote: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None


class SettlementOut(Out):
    hold: HoldOut
    capture: EntryOut | None
    release: EntryOut | None


class TransferOut(Out):
    out: EntryOut = Field(alias="out")
    in_: EntryOut = Field(alias="in")


class AccountOut(Out):
    id: str
    name: str
    kind: str
    plan: str
    pending_plan: str | None
    balance: int
    available: int
    held: int
    active_holds: int
    cycle_start: datetime
    cycle_end: datetime
    allowance: int
    allowance_used: int
    members: list[str]
    created_at: datetime


class AccountPageOut(Out):
    accounts: list[AccountOut]
    next_cursor: str | None


class PlanChangeOut(Out):
    change: str
    account: AccountOut


class EntryPageOut(Out):
    entries: list[EntryOut]
    next_cursor: int | None


class SweepOut(Out):
    accounts_checked: int
    accounts_updated: int
    keys_purged: int


class VerifyOut(Out):
    ok: bool
    accounts_checked: int
    entries_checked: int
    differences: list[str]


class CatalogOut(Out):
    price_version: int
    models: list[dict[str, Any]]


class CatalogEntryOut(Out):
    id: str
    name: str
    kind: str
    tier: str
    price: dict[str, Any]
    max_outputs: int
    strengths: list[str]
    speed: int
    active: bool
    credits: str
    price_version: int


class PlanOut(Out):
    id: str
    name: str
    allowance_credits: int
    period: str


class KeyOut(Out):
    id: str
    account_id: str | None
    name: str
    prefix: str
    operator: bool
    created_at: datetime
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    secret: str = Field(description="Shown once; store it now.")


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    error: str | None = Field(
        default=None, description="The library's exception class (a refusal by the ledger)."
    )
    details: dict[str, Any] | None = Field(
        default=None, description="That exception's data: the client rebuilds it from these."
    )
