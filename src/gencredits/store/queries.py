"""Every SQL statement the ledger runs, in one place (Polar's habit: queries per domain).

Functions take an open :class:`Connection` inside the caller's transaction and never commit.
Rows come back as domain values or plain mappings; balances change only through
:func:`apply_account_delta`, which the caller runs after :func:`lock_account`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from gencredits.domain.ledger import (
    Allocation,
    Entry,
    EntryKind,
    GrantBalance,
    Hold,
    HoldStatus,
)
from gencredits.store.engine import is_sqlite
from gencredits.store.prepared import Prepared, PreparedIn, PreparedInsert
from gencredits.store.tables import (
    accounts,
    entries,
    grants,
    holds,
    idempotency_keys,
)


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    name: str
    kind: str
    plan_id: str
    pending_plan_id: str | None
    anchor_at: datetime
    cycle_index: int
    cycle_number: int
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    available_credits: int
    held_credits: int
    next_event_at: datetime
    created_at: datetime
    low_balance_credits: int = 0

    @property
    def balance_credits(self) -> int:
        return self.available_credits + self.held_credits


# The statements of the charge's hot path are built once, with bound parameters, and run
# through the driver (store/prepared.py): building a Core statement per call cost 60-120 us
# each, and SQLAlchemy's execution path as much again as the driver's (benchmarks/RESULTS.md).
# Parameter names avoid column names, which UPDATE reserves.
_SELECT_ACCOUNT_COLUMNS = select(*(accounts.c[name] for name in AccountRow.__slots__))
_SELECT_ACCOUNT = _SELECT_ACCOUNT_COLUMNS.where(accounts.c.id == bindparam("p_account_id"))
_READ_ACCOUNT = Prepared(_SELECT_ACCOUNT)
_LOCK_ACCOUNT = Prepared(_SELECT_ACCOUNT.with_for_update())


def lock_account(connection: Connection, account_id: str) -> AccountRow | None:
    """Read an account and lock its row until commit (a no-op lock under SQLite's
    ``BEGIN IMMEDIATE``, which already holds the database's write lock)."""
    row = _LOCK_ACCOUNT.first(connection, {"p_account_id": account_id})
    return None if row is None else AccountRow(*row)


# FOR UPDATE locks on PostgreSQL; SQLite's compiler leaves it out (BEGIN IMMEDIATE holds the
# database's write lock already).
_LOCK_ACCOUNTS = PreparedIn(
    lambda binds: _SELECT_ACCOUNT_COLUMNS.where(accounts.c.id.in_(binds))
    .order_by(accounts.c.id)
    .with_for_update()
)


def lock_accounts(connection: Connection, account_ids: Sequence[str]) -> dict[str, AccountRow]:
    """Read and lock many accounts in one statement, in id order (PostgreSQL locks the rows
    in the order it returns them: the order every multi-account lock here takes; a batch of
    more than one statement's worth locks them chunk by chunk, still in id order)."""
    rows = _LOCK_ACCOUNTS.rows(connection, sorted(set(account_ids)))
    return {row[0]: AccountRow(*row) for row in rows}


def read_account(connection: Connection, account_id: str) -> AccountRow | None:
    row = _READ_ACCOUNT.first(connection, {"p_account_id": account_id})
    return None if row is None else AccountRow(*row)


_APPLY_DELTA = (
    update(accounts)
    .where(accounts.c.id == bindparam("p_account_id"))
    .values(
        available_credits=accounts.c.available_credits + bindparam("p_available_delta"),
        held_credits=accounts.c.held_credits + bindparam("p_held_delta"),
    )
)
_NEXT_EVENT_BOUND = bindparam("p_next_event_at", type_=accounts.c.next_event_at.type)
_APPLY_DELTA_AND_EVENT = {
    "sqlite": Prepared(
        _APPLY_DELTA.values(next_event_at=func.min(accounts.c.next_event_at, _NEXT_EVENT_BOUND))
    ),
    "postgresql": Prepared(
        _APPLY_DELTA.values(
            next_event_at=func.least(accounts.c.next_event_at, _NEXT_EVENT_BOUND)
        )
    ),
}
_APPLY_DELTA_ONLY = Prepared(_APPLY_DELTA)


def apply_account_delta(
    connection: Connection,
    account_id: str,
    *,
    available_delta: int,
    held_delta: int,
    next_event_at: datetime | None = None,
) -> None:
    parameters: dict[str, Any] = {
        "p_account_id": account_id,
        "p_available_delta": available_delta,
        "p_held_delta": held_delta,
    }
    statement = _APPLY_DELTA_ONLY
    if next_event_at is not None:
        parameters["p_next_event_at"] = next_event_at
        statement = _APPLY_DELTA_AND_EVENT["sqlite" if is_sqlite(connection) else "postgresql"]
    statement.change(connection, parameters, 1, f"account {account_id} is gone")


def apply_available_deltas(connection: Connection, deltas: Sequence[tuple[str, int]]) -> None:
    """Change many accounts' available credits: (account id, delta) each; one executemany
    for a batch's many accounts."""
    parameters = [
        {"p_account_id": account_id, "p_available_delta": delta, "p_held_delta": 0}
        for account_id, delta in deltas
    ]
    if len(parameters) > 2:
        _APPLY_DELTA_ONLY.change_many(connection, parameters, "an account is gone")
        return
    for values in parameters:
        _APPLY_DELTA_ONLY.change(connection, values, 1, f"account {values['p_account_id']} is gone")


def update_account(connection: Connection, account_id: str, **values: Any) -> None:
    connection.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


# --- grants ----------------------------------------------------------------------------------


_LIVE_GRANTS = Prepared(select(
    grants.c.id, grants.c.remaining_credits, grants.c.priority, grants.c.expires_at
).where(
    grants.c.account_id == bindparam("p_account_id"),
    grants.c.expired.is_(False),
    grants.c.remaining_credits > 0,
    or_(grants.c.expires_at.is_(None), grants.c.expires_at > bindparam("p_now")),
))


def live_grants(connection: Connection, account_id: str, now: datetime) -> list[GrantBalance]:
    """Grants with credits left that have not expired, for :func:`allocate`."""
    rows = _LIVE_GRANTS.rows(connection, {"p_account_id": account_id, "p_now": now})
    return [GrantBalance(*row) for row in rows]


_LIVE_GRANTS_OF = PreparedIn(
    lambda binds: select(
        grants.c.account_id,
        grants.c.id,
        grants.c.remaining_credits,
        grants.c.priority,
        grants.c.expires_at,
    ).where(
        grants.c.account_id.in_(binds),
        grants.c.expired.is_(False),
        grants.c.remaining_credits > 0,
        or_(
            grants.c.expires_at.is_(None),
            grants.c.expires_at > bindparam("p_now", type_=grants.c.expires_at.type),
        ),
    )
)


def live_grants_of(
    connection: Connection, account_ids: Sequence[str], now: datetime
) -> dict[str, list[GrantBalance]]:
    """:func:`live_grants` of many accounts in one statement."""
    found: dict[str, list[GrantBalance]] = {account_id: [] for account_id in account_ids}
    for account_id, *grant in _LIVE_GRANTS_OF.rows(
        connection, sorted(set(account_ids)), {"p_now": now}
    ):
        found[account_id].append(GrantBalance(*grant))
    return found


_TAKE_FROM_GRANT = Prepared(
    update(grants)
    .where(
        grants.c.id == bindparam("p_grant_id"),
        grants.c.remaining_credits >= bindparam("p_take"),
    )
    .values(remaining_credits=grants.c.remaining_credits - bindparam("p_take"))
)


def take_from_grants(connection: Connection, allocations: Sequence[Allocation]) -> None:
    if len(allocations) > 2:  # many grants (a batch's): one executemany
        parameters = [{"p_grant_id": grant, "p_take": credits} for grant, credits in allocations]
        _TAKE_FROM_GRANT.change_many(connection, parameters, "a grant could not give its share")
        return
    for grant_id, credits in allocations:
        _TAKE_FROM_GRANT.change(
            connection,
            {"p_grant_id": grant_id, "p_take": credits},
            1,
            f"grant {grant_id} could not give {credits}",
        )


_RETURN_TO_GRANT = Prepared(
    update(grants)
    .where(grants.c.id == bindparam("p_grant_id"))
    .values(remaining_credits=grants.c.remaining_credits + bindparam("p_credits"))
)


def return_to_grants(connection: Connection, allocations: Sequence[Allocation]) -> None:
    """Give credits back to the grants they came from (a release, a refund)."""
    for grant_id, credits in allocations:
        values = {"p_grant_id": grant_id, "p_credits": credits}
        _RETURN_TO_GRANT.change(connection, values, 1, f"grant {grant_id} is gone")


def expired_grant_ids(connection: Connection, grant_ids: Iterable[int]) -> set[int]:
    ids = list(grant_ids)
    if not ids:
        return set()
    rows = connection.execute(
        select(grants.c.id).where(grants.c.id.in_(ids), grants.c.expired.is_(True))
    ).all()
    return {row[0] for row in rows}


def insert_grant(connection: Connection, **values: Any) -> int:
    result = connection.execute(insert(grants).values(**values).returning(grants.c.id))
    return int(result.scalar_one())


def grants_due(connection: Connection, account_id: str, now: datetime) -> list[RowMapping]:
    """Unexpired grants whose expiry has passed, oldest expiry first."""
    return list(
        connection.execute(
            select(grants)
            .where(
                grants.c.account_id == account_id,
                grants.c.expired.is_(False),
                grants.c.expires_at.is_not(None),
                grants.c.expires_at <= now,
            )
            .order_by(grants.c.expires_at, grants.c.id)
        ).mappings()
    )


def mark_grant_expired(connection: Connection, grant_id: int, *, expires_at: datetime) -> None:
    connection.execute(
        update(grants)
        .where(grants.c.id == grant_id)
        .values(remaining_credits=0, expired=True, expires_at=expires_at)
    )


_NEXT_GRANT_EXPIRY = select(func.min(grants.c.expires_at)).where(
    grants.c.account_id == bindparam("p_account_id"),
    grants.c.expired.is_(False),
    grants.c.expires_at.is_not(None),
)


def next_grant_expiry(connection: Connection, account_id: str) -> datetime | None:
    return connection.execute(_NEXT_GRANT_EXPIRY, {"p_account_id": account_id}).scalar_one_or_none()


# --- holds -----------------------------------------------------------------------------------


def _hold(row: Mapping[Any, Any]) -> Hold:
    return Hold(
        id=row["id"],
        account_id=row["account_id"],
        status=HoldStatus(row["status"]),
        amount_credits=row["amount_credits"],
        captured_credits=row["captured_credits"],
        price_version=row["price_version"],
        model_id=row["model_id"],
        project=row["project"],
        job_ref=row["job_ref"],
        quote=row["quote"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        settled_at=row["settled_at"],
    )


# A hold and its capture are the second hot path: built once, like the charge's statements.
_HOLD_COLUMNS = tuple(column.key for column in holds.c if column.key != "id")
_INSERT_HOLD = Prepared(
    insert(holds).values({name: bindparam(name) for name in _HOLD_COLUMNS}).returning(holds)
)
_READ_HOLD = Prepared(select(holds).where(holds.c.id == bindparam("p_hold_id")))
_SETTLE_HOLD = Prepared(
    update(holds)
    .where(holds.c.id == bindparam("p_hold_id"), holds.c.status == HoldStatus.PENDING.value)
    .values(
        status=bindparam("p_status"),
        captured_credits=bindparam("p_captured"),
        settled_at=bindparam("p_settled_at", type_=holds.c.settled_at.type),
    )
    .returning(holds)
)
_NEXT_HOLD_EXPIRY = Prepared(
    select(func.min(holds.c.expires_at)).where(
        holds.c.account_id == bindparam("p_account_id"),
        holds.c.status == HoldStatus.PENDING.value,
    )
)
_PENDING_HOLD_COUNT = Prepared(
    select(func.count()).where(
        holds.c.account_id == bindparam("p_account_id"),
        holds.c.status == HoldStatus.PENDING.value,
    )
)


def insert_hold(connection: Connection, **values: Any) -> Hold:
    unknown = values.keys() - set(_HOLD_COLUMNS)
    assert not unknown, f"holds have no column {sorted(unknown)}"
    row = _INSERT_HOLD.first_mapping(connection, dict.fromkeys(_HOLD_COLUMNS) | values)
    assert row is not None
    return _hold(row)


_HOLD_ACCOUNT = Prepared(select(holds.c.account_id).where(holds.c.id == bindparam("p_hold_id")))


def hold_account(connection: Connection, hold_id: int) -> str | None:
    """The account a hold belongs to (which never changes): what a settlement locks before
    it reads the hold itself."""
    row = _HOLD_ACCOUNT.first(connection, {"p_hold_id": hold_id})
    return None if row is None else str(row[0])


def read_hold(connection: Connection, hold_id: int) -> tuple[Hold, Mapping[str, Any]] | None:
    row = _READ_HOLD.first_mapping(connection, {"p_hold_id": hold_id})
    return None if row is None else (_hold(row), row)


def hold_by_job(connection: Connection, account_id: str, job_ref: str) -> int | None:
    return connection.execute(
        select(holds.c.id)
        .where(holds.c.account_id == account_id, holds.c.job_ref == job_ref)
        .order_by(holds.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def settle_hold(
    connection: Connection, hold_id: int, status: HoldStatus, captured: int | None, at: datetime
) -> Hold:
    parameters = {
        "p_hold_id": hold_id,
        "p_status": status.value,
        "p_captured": captured,
        "p_settled_at": at,
    }
    row = _SETTLE_HOLD.first_mapping(connection, parameters)
    assert row is not None, f"hold {hold_id} was not pending"
    return _hold(row)


def holds_due(connection: Connection, account_id: str, now: datetime) -> list[RowMapping]:
    return list(
        connection.execute(
            select(holds)
            .where(
                holds.c.account_id == account_id,
                holds.c.status == HoldStatus.PENDING.value,
                holds.c.expires_at <= now,
            )
            .order_by(holds.c.expires_at, holds.c.id)
        ).mappings()
    )


def next_hold_expiry(connection: Connection, account_id: str) -> datetime | None:
    row = _NEXT_HOLD_EXPIRY.first(connection, {"p_account_id": account_id})
    return None if row is None else row[0]


def pending_hold_count(connection: Connection, account_id: str) -> int:
    row = _PENDING_HOLD_COUNT.first(connection, {"p_account_id": account_id})
    assert row is not None
    return int(row[0])


def list_holds(
    connection: Connection, account_id: str, status: HoldStatus | None, limit: int
) -> list[Hold]:
    statement = select(holds).where(holds.c.account_id == account_id)
    if status is not None:
        statement = statement.where(holds.c.status == status.value)
    rows = connection.execute(statement.order_by(holds.c.id.desc()).limit(limit)).mappings()
    return [_hold(row) for row in rows]


# --- entries ---------------------------------------------------------------------------------


_ENTRY_KINDS = {kind.value: kind for kind in EntryKind}


def _entry(row: Mapping[Any, Any]) -> Entry:
    return Entry(
        id=row["id"],
        account_id=row["account_id"],
        kind=_ENTRY_KINDS[row["kind"]],
        amount_credits=row["amount_credits"],
        balance_delta=row["balance_delta"],
        held_delta=row["held_delta"],
        balance_after=row["balance_after"],
        available_after=row["available_after"],
        grants=tuple(map(tuple, row["grants"])),
        hold_id=row["hold_id"],
        related_entry_id=row["related_entry_id"],
        model_id=row["model_id"],
        price_version=row["price_version"],
        project=row["project"],
        job_ref=row["job_ref"],
        idempotency_key=row["idempotency_key"],
        actor=row["actor"],
        reason=row["reason"],
        details=row["details"],
        effective_at=row["effective_at"],
        created_at=row["created_at"],
    )


_ENTRY_COLUMNS = tuple(entries.c.keys())
_NO_ENTRY_VALUES = dict.fromkeys(_ENTRY_COLUMNS)
_INSERT_ENTRY = PreparedInsert(
    insert(entries).values({name: bindparam(name) for name in _ENTRY_COLUMNS if name != "id"})
)


def insert_entry(connection: Connection, **values: Any) -> Entry:
    """Append an entry and return it as stored.

    Only the id comes back from the database; every other field is the value just written
    (JSON values are plain lists, dicts, strings and numbers; times come back as aware UTC,
    as the column type returns them). Returning the whole row decoded again the JSON and
    times just encoded: a third of the cost of the charge's INSERT."""
    return insert_entries(connection, [values])[0]


def _entry_row(values: dict[str, Any]) -> dict[str, Any]:
    """Every column of an entry: the values given (grants as JSON lists), None for the rest."""
    values["grants"] = [list(allocation) for allocation in values.get("grants", ())]
    assert values.keys() <= _NO_ENTRY_VALUES.keys(), (
        f"entries have no column {sorted(values.keys() - _NO_ENTRY_VALUES.keys())}"
    )
    return _NO_ENTRY_VALUES | values


def _written_entry(row: dict[str, Any], entry_id: int) -> Entry:
    """The entry ``row`` became under ``entry_id`` (times as aware UTC, as the column reads)."""
    row["id"] = int(entry_id)
    row["effective_at"] = row["effective_at"].astimezone(UTC)
    row["created_at"] = row["created_at"].astimezone(UTC)
    return _entry(row)


def insert_entries(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[Entry]:
    """Append entries in order and return them as :func:`insert_entry` does: one statement
    sent for all of them through the driver (store/prepared.py's ``PreparedInsert``), which
    gives back their ids in order."""
    written = [_entry_row(values) for values in rows]
    ids = _INSERT_ENTRY.insert_many(connection, written)
    assert len(ids) == len(written)
    return [_written_entry(row, entry_id) for row, entry_id in zip(written, ids, strict=True)]


def read_entry(connection: Connection, entry_id: int) -> Entry | None:
    row = connection.execute(select(entries).where(entries.c.id == entry_id)).mappings().first()
    return None if row is None else _entry(row)


def entry_by_job(connection: Connection, account_id: str, job_ref: str) -> Entry | None:
    row = (
        connection.execute(
            select(entries)
            .where(
                entries.c.account_id == account_id,
                entries.c.job_ref == job_ref,
                entries.c.kind.in_([EntryKind.CHARGE.value, EntryKind.CAPTURE.value]),
            )
            .order_by(entries.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else _entry(row)


def refunded_credits(connection: Connection, entry_id: int) -> int:
    return int(
        connection.execute(
            select(func.coalesce(func.sum(entries.c.amount_credits), 0)).where(
                entries.c.related_entry_id == entry_id,
                entries.c.kind == EntryKind.REFUND.value,
            )
        ).scalar_one()
    )


@dataclass(frozen=True, slots=True)
class EntryFilter:
    account_id: str
    kinds: tuple[str, ...] = ()
    model_id: str | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def page_entries(
    connection: Connection, where: EntryFilter, *, before_id: int | None, limit: int
) -> list[Entry]:
    """Newest first; ``before_id`` is the cursor (entry ids only grow)."""
    conditions = [entries.c.account_id == where.account_id]
    if where.kinds:
        conditions.append(entries.c.kind.in_(where.kinds))
    if where.model_id:
        conditions.append(entries.c.model_id == where.model_id)
    if where.project:
        conditions.append(entries.c.project == where.project)
    if where.since:
        conditions.append(entries.c.effective_at >= where.since)
    if where.until:
        conditions.append(entries.c.effective_at < where.until)
    if before_id is not None:
        conditions.append(entries.c.id < before_id)
    rows = connection.execute(
        select(entries).where(and_(*conditions)).order_by(entries.c.id.desc()).limit(limit)
    ).mappings()
    return [_entry(row) for row in rows]


def project_usage(connection: Connection, account_id: str, project: str, since: datetime) -> int:
    """Credits a project spent since ``since``: charges and captures less refunds."""
    spent = connection.execute(
        select(func.coalesce(func.sum(-entries.c.balance_delta), 0)).where(
            entries.c.account_id == account_id,
            entries.c.project == project,
            entries.c.effective_at >= since,
            entries.c.kind.in_(
                [EntryKind.CHARGE.value, EntryKind.CAPTURE.value, EntryKind.REFUND.value]
            ),
        )
    ).scalar_one()
    held = connection.execute(
        select(func.coalesce(func.sum(holds.c.amount_credits), 0)).where(
            holds.c.account_id == account_id,
            holds.c.project == project,
            holds.c.status == HoldStatus.PENDING.value,
        )
    ).scalar_one()
    return int(spent) + int(held)


# --- idempotency -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredKey:
    operation: str
    request_hash: str
    response: Any


_FIND_KEY = Prepared(
    select(
        idempotency_keys.c.operation,
        idempotency_keys.c.request_hash,
        idempotency_keys.c.response,
    ).where(
        idempotency_keys.c.scope == bindparam("p_scope"),
        idempotency_keys.c.key == bindparam("p_key"),
    )
)
_KEY_COLUMNS = ("scope", "key", "operation", "request_hash", "response", "created_at")
_INSERT_KEY = Prepared(
    insert(idempotency_keys).values({name: bindparam(name) for name in _KEY_COLUMNS})
)


def find_idempotency_key(connection: Connection, scope: str, key: str) -> StoredKey | None:
    row = _FIND_KEY.first(connection, {"p_scope": scope, "p_key": key})
    return None if row is None else StoredKey(*row)


def _find_keys(binds: list[Any]) -> Any:
    """The stored keys among the (scope, key) pairs ``binds``: the pairs as a table, each
    looked up in the keys' primary key. A row-value ``IN`` list made SQLite scan the whole
    index instead (150 µs a pair at 200,000 keys); ``CROSS JOIN`` keeps SQLite from putting
    the keys table in the outer loop (PostgreSQL plans it as it likes)."""
    pairs = ", ".join(f"(:{scope.key}, :{key.key})" for scope, key in binds)
    return text(
        f'WITH wanted (scope, "key") AS (VALUES {pairs}) '
        'SELECT k.scope, k."key", k.operation, k.request_hash, k.response '
        "FROM wanted CROSS JOIN idempotency_keys AS k "
        'WHERE k.scope = wanted.scope AND k."key" = wanted."key"'
    ).columns(
        idempotency_keys.c.scope,
        idempotency_keys.c.key,
        idempotency_keys.c.operation,
        idempotency_keys.c.request_hash,
        idempotency_keys.c.response,
    )


_FIND_KEYS = PreparedIn(_find_keys, width=2)


def find_idempotency_keys(
    connection: Connection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], StoredKey]:
    """Many keys in one statement: (scope, key) -> what is stored, for those found."""
    rows = _FIND_KEYS.rows(connection, sorted(set(pairs)))
    return {(scope, key): StoredKey(*stored) for scope, key, *stored in rows}


def insert_idempotency_keys(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Many keys (each a mapping of the columns of :func:`insert_idempotency_key`)."""
    if len(rows) == 1:
        insert_idempotency_key(connection, **rows[0])
    elif rows:
        _INSERT_KEY.execute_many(connection, rows)


def insert_idempotency_key(
    connection: Connection,
    *,
    scope: str,
    key: str,
    operation: str,
    request_hash: str,
    response: Any,
    created_at: datetime,
) -> None:
    _INSERT_KEY.execute(
        connection,
        {
            "scope": scope,
            "key": key,
            "operation": operation,
            "request_hash": request_hash,
            "response": response,
            "created_at": created_at,
        },
    )
