"""The database schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Constraints back the ledger's invariants, so even a bug above cannot break them:

* ``grants.remaining_credits`` stays between 0 and the grant's amount (no negative grant);
* ``accounts.available_credits`` and ``held_credits`` never go below 0 (no overdraft);
* a plan allowance is granted once per account and cycle: ``UNIQUE (account_id, cycle_number)``
  on grants (ordinary grants leave ``cycle_number`` NULL, which never collides);
* an idempotency key is used once per scope: primary key ``(scope, key)``.

``entries`` is append-only: rows are inserted, never updated or deleted. The cached balances on
``accounts`` (available and held) are derived from the entries, and ``gencredits verify``
rebuilds them to prove it. Amounts are ``BigInteger`` credits; times are UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gencredits.store.types import utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


# Integer primary keys autoincrement on both backends (SQLite maps BIGINT PKs badly).
Id = BigInteger().with_variant(Integer(), "sqlite")

catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", JSON, nullable=False),
    Column("created_at", utc(), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

plans = Table(
    "plans",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("document", JSON, nullable=False),
    Column("created_at", utc(), nullable=False),
    Column("updated_at", utc(), nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", utc(), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("plan_id", String(64), ForeignKey("plans.id"), nullable=False),
    Column("pending_plan_id", String(64), ForeignKey("plans.id"), nullable=True),
    # The subscription moment that anchors the current plan's cycles.
    Column("anchor_at", utc(), nullable=False),
    Column("cycle_index", Integer, nullable=False),  # index since anchor_at
    Column("cycle_number", Integer, nullable=False),  # counts every cycle the account began
    Column("cycle_starts_at", utc(), nullable=False),
    Column("cycle_ends_at", utc(), nullable=False),
    Column("available_credits", BigInteger, nullable=False),
    Column("held_credits", BigInteger, nullable=False),
    # The earliest moment something happens by itself (renewal, grant expiry, hold expiry):
    # before it, a charge needs no catch-up work.
    Column("next_event_at", utc(), nullable=False),
    # Below this many available credits the account is "low" (a share of its allowance,
    # set at each cycle start) and a low_balance event fires once when it crosses.
    Column("low_balance_credits", BigInteger, nullable=False, server_default="0"),
    Column("created_at", utc(), nullable=False),
    CheckConstraint("available_credits >= 0", name="available_not_negative"),
    CheckConstraint("held_credits >= 0", name="held_not_negative"),
    CheckConstraint("kind IN ('person', 'pool')", name="kind"),
)

account_members = Table(
    "account_members",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("member_id", String(120), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("added_at", utc(), nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("source", String(16), nullable=False),
    Column("amount_credits", BigInteger, nullable=False),
    Column("remaining_credits", BigInteger, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("starts_at", utc(), nullable=False),
    Column("expires_at", utc(), nullable=True),
    Column("expired", Boolean, nullable=False, default=False),
    Column("cycle_number", Integer, nullable=True),
    Column("created_at", utc(), nullable=False),
    CheckConstraint("amount_credits > 0", name="amount_positive"),
    CheckConstraint(
        "remaining_credits >= 0 AND remaining_credits <= amount_credits", name="remaining_bounds"
    ),
    UniqueConstraint("account_id", "cycle_number", name="uq_grants_one_allowance_per_cycle"),
)
Index("ix_grants_live", grants.c.account_id, grants.c.expired, grants.c.expires_at)

holds = Table(
    "holds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_credits", BigInteger, nullable=False),
    Column("captured_credits", BigInteger, nullable=True),
    # [[grant_id, credits], ...] in burn order: where the held credits came from.
    Column("allocations", JSON, nullable=False),
    Column("request", JSON, nullable=False),
    Column("quote", JSON, nullable=False),
    Column("price_version", Integer, nullable=False),
    Column("model_id", String(64), nullable=True),
    Column("project", String(120), nullable=True),
    Column("job_ref", String(200), nullable=True),
    Column("actor", String(120), nullable=False),
    Column("created_at", utc(), nullable=False),
    Column("expires_at", utc(), nullable=False),
    Column("settled_at", utc(), nullable=True),
    CheckConstraint("amount_credits > 0", name="amount_positive"),
    CheckConstraint("status IN ('pending', 'captured', 'released', 'expired')", name="status"),
)
Index("ix_holds_pending", holds.c.status, holds.c.expires_at)
Index("ix_holds_account", holds.c.account_id, holds.c.status)
Index("ix_holds_job", holds.c.account_id, holds.c.job_ref)

entries = Table(
    "entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_credits", BigInteger, nullable=False),
    # Effects on the balance (credits in live grants, held or not) and on the held part.
    Column("balance_delta", BigInteger, nullable=False),
    Column("held_delta", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("available_after", BigInteger, nullable=False),
    # [[grant_id, credits], ...]: the grants this entry touched, in order.
    Column("grants", JSON, nullable=False),
    Column("hold_id", BigInteger, nullable=True),
    Column("related_entry_id", BigInteger, nullable=True),
    Column("model_id", String(64), nullable=True),
    Column("price_version", Integer, nullable=True),
    Column("project", String(120), nullable=True),
    Column("job_ref", String(200), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("actor", String(120), nullable=False),
    Column("reason", Text, nullable=True),
    # The quote that priced it (lines, rules, discounts, rounding, price version).
    Column("details", JSON, nullable=True),
    Column("effective_at", utc(), nullable=False),
    Column("created_at", utc(), nullable=False),
    CheckConstraint("amount_credits >= 0", name="amount_not_negative"),
    CheckConstraint(
        "kind IN ('grant', 'expire', 'charge', 'hold', 'capture', 'release', 'refund', "
        "'adjust', 'transfer_out', 'transfer_in')",
        name="kind",
    ),
)
Index("ix_entries_account", entries.c.account_id, entries.c.id)
Index("ix_entries_account_time", entries.c.account_id, entries.c.effective_at)
# Only entries with a project: most charges have none, and need not write this index.
Index(
    "ix_entries_project",
    entries.c.account_id,
    entries.c.project,
    entries.c.effective_at,
    sqlite_where=entries.c.project.is_not(None),
    postgresql_where=entries.c.project.is_not(None),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", utc(), nullable=False),
)
Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)

project_caps = Table(
    "project_caps",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("project", String(120), primary_key=True),
    Column("cap_credits", BigInteger, nullable=False),
    Column("updated_at", utc(), nullable=False),
    CheckConstraint("cap_credits >= 0", name="cap_not_negative"),
)

refused_charges = Table(
    "refused_charges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("required_credits", BigInteger, nullable=False),
    Column("available_credits", BigInteger, nullable=False),
    Column("model_id", String(64), nullable=True),
    Column("project", String(120), nullable=True),
    Column("created_at", utc(), nullable=False),
)
Index("ix_refused_account_time", refused_charges.c.account_id, refused_charges.c.created_at)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    # NULL for the operator's keys; an account key reads and spends that account only.
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=True),
    Column("name", String(120), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", utc(), nullable=False),
    Column("revoked_at", utc(), nullable=True),
)
Index("ix_api_keys_account", api_keys.c.account_id)

# The outbox: events are written in the same transaction as the change that causes them, so
# none is lost and none describes a change that did not commit.
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("account_id", String(64), nullable=True),
    Column("type", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", utc(), nullable=False),
    # The event's place in commit order, the cursor pollers pass as ``after``: NULL until the
    # sequencer (store/queries/events.py) numbers it after its transaction committed. Ids come
    # from a sequence and become visible out of commit order on PostgreSQL; positions do not.
    Column("position", BigInteger, nullable=True),
)
Index("ix_events_position", events.c.position, unique=True)
Index("ix_events_account", events.c.account_id, events.c.position)
# Events not yet numbered: few, found at once by the sequencer and by a poll's check.
Index("ix_events_unnumbered", events.c.id,
      sqlite_where=events.c.position.is_(None), postgresql_where=events.c.position.is_(None))

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", utc(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("webhook_id", String(32), ForeignKey("webhooks.id"), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", utc(), nullable=False),
    # Written by the event's own transaction, one per active webhook subscribed to its type.
    # A sender claims a delivery until this moment, so two servers never send it at once.
    Column("claimed_until", utc(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", utc(), nullable=True),
    UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_once"),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
)
Index(
    "ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at
)

# Dashboard sessions signed out before their cookie expires, kept until then: every worker
# process refuses them (the cookie is signed, not stored, so sign-out needs this list).
signed_out_sessions = Table(
    "signed_out_sessions",
    metadata,
    Column("nonce", String(40), primary_key=True),
    Column("expires_at_seconds", BigInteger, nullable=False),
)
Index("ix_signed_out_sessions_expiry", signed_out_sessions.c.expires_at_seconds)

# Rate limits shared by every worker process: a token bucket per name (an API key's id, or a
# client address for failed sign-ins), kept as its theoretical arrival time in microseconds
# (GCRA). A missing row is a full bucket; a row whose time has passed carries no information.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("arrival_microseconds", BigInteger, nullable=False),
)
Index("ix_rate_buckets_arrival", rate_buckets.c.arrival_microseconds)
