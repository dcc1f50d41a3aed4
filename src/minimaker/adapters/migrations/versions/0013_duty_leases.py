"""duty leases: each periodic duty once per schedule across every worker

Revision ID: 0013_duty_leases
Revises: 0012_detection_alerts
Create Date: 2026-12-03 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_duty_leases"
down_revision = "0012_detection_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("duty_leases")
