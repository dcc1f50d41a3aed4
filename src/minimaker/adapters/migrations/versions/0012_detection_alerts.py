"""detection alerts and state: the breach-detection rules' findings (policy 5.1, 8)

Revision ID: 0012_detection_alerts
Revises: 0011_selfcheck_runs
Create Date: 2026-12-11 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_detection_alerts"
down_revision = "0011_selfcheck_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detection_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("reference", sa.String(length=21), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule", "scope", "window_start", name="uq_detection_alerts_window"),
    )
    op.create_index(
        "ix_detection_alerts_status_opened", "detection_alerts", ["status", "opened_at"]
    )
    op.create_table(
        "detection_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("held_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("detection_state")
    op.drop_index("ix_detection_alerts_status_opened", table_name="detection_alerts")
    op.drop_table("detection_alerts")
