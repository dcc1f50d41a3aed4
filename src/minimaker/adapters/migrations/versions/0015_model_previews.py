"""model previews: each model's PNG previews, drawn once at generation, encrypted as blobs

Revision ID: 0015_model_previews
Revises: 0014_password_resets
Create Date: 2026-12-04 01:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_model_previews"
down_revision = "0014_password_resets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Models made before this revision have none: their previews are drawn when asked for.
    op.create_table(
        "model_previews",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("view", sa.String(length=8), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "view"),
        sa.UniqueConstraint("blob_id"),
    )
    op.create_index("ix_model_previews_owner_id", "model_previews", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_model_previews_owner_id", table_name="model_previews")
    op.drop_table("model_previews")
