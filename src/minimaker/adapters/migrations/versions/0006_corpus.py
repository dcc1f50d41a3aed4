"""the anonymous training corpus: items, the staging area, batches (policy 9.2)

Revision ID: 0006_corpus
Revises: 0005_retention
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_corpus"
down_revision = "0005_retention"
branch_labels = None
depends_on = None


def _copy_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("marketing_allowed", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    for name in ("corpus_items", "corpus_staged"):
        op.create_table(
            name,
            *_copy_columns(),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("blob_id"),
        )
    op.create_table(
        "corpus_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("corpus_batches")
    op.drop_table("corpus_staged")
    op.drop_table("corpus_items")
