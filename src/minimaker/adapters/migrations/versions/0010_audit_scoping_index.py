"""audit scoping indexes: a staff account's entries and a time window's, by range (policy 8)

Breach scoping (breach/scope.py) asks the audit chain which subjects one staff account
touched in a time range, and which subjects any entry of a window names. Both are range
scans of these covering indexes (the subject rides in the index), not a walk of the chain.

Revision ID: 0010_audit_scoping_index
Revises: 0009_incidents
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_audit_scoping_index"
down_revision = "0009_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: over staff entries only (an index led by the actor slowed every append 4x).
    where = sa.text("actor LIKE 'staff:%'")
    op.create_index(
        "ix_audit_log_staff_ts_subject",
        "audit_log",
        ["actor", "ts", "subject"],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )
    op.create_index("ix_audit_log_ts_subject", "audit_log", ["ts", "subject"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_ts_subject", table_name="audit_log")
    op.drop_index("ix_audit_log_staff_ts_subject", table_name="audit_log")
