"""analytics publications: each day's aggregates published, with its privacy cost (4.2, 7.3)

Revision ID: 0008_analytics_publications
Revises: 0007_pseudonymous_usage
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_analytics_publications"
down_revision = "0007_pseudonymous_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_publications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("people_scale", sa.Float(), nullable=False),
        sa.Column("events_scale", sa.Float(), nullable=False),
        sa.Column("mechanism", sa.String(length=40), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", "seq", name="uq_analytics_publications_day_seq"),
    )


def downgrade() -> None:
    op.drop_table("analytics_publications")
