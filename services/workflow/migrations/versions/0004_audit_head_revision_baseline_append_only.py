"""the audit chain's head on the application (a deleted tail is found by /audit/verify), the plan versions
a revision is measured against, and materials, opinions and panel conclusions append-only

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import PortableJSON, append_only_ddl, drop_append_only_ddl

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# services.workflow.models.APPEND_ONLY_TABLES as of this revision, beyond audit_log (0002)
APPEND_ONLY = ("materials", "opinions", "panel_conclusions")


def upgrade() -> None:
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_head_seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('audit_head_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('revision_baseline', PortableJSON, nullable=True))
    # the head of every existing chain: its newest entry
    op.execute(
        "UPDATE applications SET "
        "audit_head_seq = (SELECT max(a.seq) FROM audit_log a WHERE a.application_id = applications.id), "
        "audit_head_hash = (SELECT a.entry_hash FROM audit_log a WHERE a.application_id = applications.id "
        "ORDER BY a.seq DESC LIMIT 1)")
    # an application waiting for its revision: the versions current when it was requested. Until now
    # materials were uploaded in draft (round 0) and in revision_requested (the round of the request) only,
    # so those of an earlier round are the ones the panel saw.
    bind = op.get_bind()
    applications = sa.table('applications', sa.column('id', sa.Integer()),
                            sa.column('revision_baseline', PortableJSON))
    waiting = bind.execute(sa.text("SELECT id, round FROM applications WHERE state = 'revision_requested'")).all()
    for application_id, round_ in waiting:
        versions = bind.execute(sa.text(
            "SELECT item, max(version) FROM materials WHERE application_id = :a AND round < :r GROUP BY item"),
            {"a": application_id, "r": round_}).all()
        bind.execute(applications.update().where(applications.c.id == application_id)
                     .values(revision_baseline={item: int(v) for item, v in sorted(versions)}))
    for statement in append_only_ddl(bind.dialect.name, APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('revision_baseline')
        batch_op.drop_column('audit_head_hash')
        batch_op.drop_column('audit_head_seq')
