"""outbox messages record their latest replay (replayed_at): the retry window starts again there, so a
message replayed after its window ran out is retried for a whole window instead of dying at its first
transient failure

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replayed_at', shared.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite copies the table to drop a column: keep AUTOINCREMENT on the copy (a seq is never reused)
    with op.batch_alter_table('outbox_messages', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('replayed_at')
