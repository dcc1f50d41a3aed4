"""incidents: the breach register and its append-only steps (policy 8; Art. 33(5))

Revision ID: 0009_incidents
Revises: 0008_analytics_publications
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_incidents"
down_revision = "0008_analytics_publications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("processor", sa.String(length=64), nullable=True),
        sa.Column("description_enc", sa.LargeBinary(), nullable=False),
        sa.Column("opened_by", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_status_deadline", "incidents", ["status", "deadline_at"])
    op.create_table(
        "incident_steps",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("incident_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("incident_steps")
    op.drop_index("ix_incidents_status_deadline", table_name="incidents")
    op.drop_table("incidents")
