"""events numbered in commit order; deliveries written with their event

Event ids come from a sequence and, on PostgreSQL, become visible out of commit order, so a
cursor over ids (a poller's ``after``, a webhook's ``cursor_event_id``) skipped an event whose
transaction committed after a later-numbered one. Events gain a ``position`` given after
commit, in commit order (existing events: in id order, all committed); webhooks lose their
cursor, because ``emit`` now writes one pending delivery per subscribed webhook in the event's
own transaction. Events past a webhook's cursor that had no delivery yet get one here, so an
upgrade loses none.

Revision ID: 0005
Revises: 0004

"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UNNUMBERED = sa.text('position IS NULL')


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.BigInteger(), nullable=True))
    op.execute('UPDATE events SET position = id')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_account')
        batch_op.create_index('ix_events_account', ['account_id', 'position'], unique=False)
        batch_op.create_index('ix_events_position', ['position'], unique=True)
        batch_op.create_index(
            'ix_events_unnumbered', ['id'], unique=False,
            sqlite_where=UNNUMBERED, postgresql_where=UNNUMBERED,
        )
    _queue_past_cursors(op.get_bind())
    # Not a batch (copy and move) on SQLite: dropping the old webhooks table would break the
    # deliveries' foreign key. SQLite drops a column itself since 3.35 (RETURNING needs it too).
    op.execute('ALTER TABLE webhooks DROP COLUMN cursor_event_id')


def _queue_past_cursors(connection: Any) -> None:
    """A pending delivery for each event past an active webhook's cursor (of its types)."""
    hooks = connection.execute(sa.text(
        'SELECT id, event_types, cursor_event_id, created_at FROM webhooks WHERE active'
    )).all()
    queued = {(hook, event) for hook, event in connection.execute(sa.text(
        'SELECT webhook_id, event_id FROM webhook_deliveries'
    ))}
    for hook_id, event_types, cursor, created_at in hooks:
        wanted = set(event_types if isinstance(event_types, list) else _json(event_types))
        rows = connection.execute(
            sa.text('SELECT id, type FROM events WHERE id > :cursor ORDER BY id'),
            {'cursor': cursor},
        ).all()
        for event_row_id, type_ in rows:
            if (wanted and type_ not in wanted) or (hook_id, event_row_id) in queued:
                continue
            connection.execute(sa.text(
                'INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, '
                "next_attempt_at) VALUES (:hook, :event, 'pending', 0, :now)"
            ), {'hook': hook_id, 'event': event_row_id, 'now': created_at})


def _json(text: str) -> list[str]:
    import json

    found: list[str] = json.loads(text)
    return found


def downgrade() -> None:
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('cursor_event_id', sa.BigInteger(), server_default='0', nullable=False)
        )
    # Every event has its deliveries already: the cursors start past them all.
    op.execute('UPDATE webhooks SET cursor_event_id = (SELECT coalesce(max(id), 0) FROM events)')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unnumbered')
        batch_op.drop_index('ix_events_position')
        batch_op.drop_index('ix_events_account')
        batch_op.create_index('ix_events_account', ['account_id', 'id'], unique=False)
    op.execute('ALTER TABLE events DROP COLUMN position')
