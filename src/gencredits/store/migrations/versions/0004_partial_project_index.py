"""entries' project index covers only entries with a project

Most charges carry no project; an index of every entry by project made each of them write one
more index page for nothing (about 5% of a durable charge on SQLite, benchmarks/RESULTS.md).
Project-cap checks ask for ``project = ?``, which implies ``project IS NOT NULL``, so both
SQLite and PostgreSQL still use the partial index for them.

Revision ID: 0004
Revises: 0003

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = ['account_id', 'project', 'effective_at']
WITH_PROJECT = sa.text('project IS NOT NULL')


def upgrade() -> None:
    op.drop_index('ix_entries_project', table_name='entries')
    op.create_index(
        'ix_entries_project', 'entries', COLUMNS,
        sqlite_where=WITH_PROJECT, postgresql_where=WITH_PROJECT,
    )


def downgrade() -> None:
    op.drop_index('ix_entries_project', table_name='entries')
    op.create_index('ix_entries_project', 'entries', COLUMNS)
