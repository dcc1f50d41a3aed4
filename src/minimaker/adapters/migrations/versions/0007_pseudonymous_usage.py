"""usage events pseudonymous: HMAC(day key, subject id) instead of the subject id (4.2, 7.3)

Revision ID: 0007_pseudonymous_usage
Revises: 0006_corpus
Create Date: 2026-12-03 08:00:00

The day keys live in the key store, which this migration cannot reach: events stored under a
subject id cannot be re-keyed here, so they are deleted (raw analytics, kept 90 days at most)
rather than left linked to their subject.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_pseudonymous_usage"
down_revision = "0006_corpus"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM usage_events")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_subject_id")
        batch_op.drop_column("subject_id")
        batch_op.add_column(sa.Column("pseudonym", sa.String(length=64), nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM usage_events")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_column("pseudonym")
        batch_op.add_column(sa.Column("subject_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_usage_events_subject_id", ["subject_id"], unique=False)
