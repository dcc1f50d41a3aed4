"""selfcheck runs: the record of regular security audits (policy 5.1)

Revision ID: 0011_selfcheck_runs
Revises: 0010_audit_scoping_index
Create Date: 2026-12-10 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_selfcheck_runs"
down_revision = "0010_audit_scoping_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "selfcheck_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_selfcheck_runs_at", "selfcheck_runs", ["at"])


def downgrade() -> None:
    op.drop_index("ix_selfcheck_runs_at", table_name="selfcheck_runs")
    op.drop_table("selfcheck_runs")
