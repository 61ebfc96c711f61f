"""signed-out sessions and rate buckets, shared by every worker process

A dashboard session signed out in one worker process, or a rate limit reached through one,
held only in that process. Both now live in the database.

Revision ID: 0006
Revises: 0005

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'signed_out_sessions',
        sa.Column('nonce', sa.String(length=40), nullable=False),
        sa.Column('expires_at_seconds', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('nonce', name=op.f('pk_signed_out_sessions')),
    )
    op.create_index('ix_signed_out_sessions_expiry', 'signed_out_sessions',
                    ['expires_at_seconds'])
    op.create_table(
        'rate_buckets',
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('arrival_microseconds', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_rate_buckets')),
    )
    op.create_index('ix_rate_buckets_arrival', 'rate_buckets', ['arrival_microseconds'])


def downgrade() -> None:
    op.drop_index('ix_rate_buckets_arrival', table_name='rate_buckets')
    op.drop_table('rate_buckets')
    op.drop_index('ix_signed_out_sessions_expiry', table_name='signed_out_sessions')
    op.drop_table('signed_out_sessions')
