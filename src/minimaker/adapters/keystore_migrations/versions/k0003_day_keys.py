"""key store: the day keys of usage pseudonyms (policy 4.2, 7.3)

Revision ID: k0003
Revises: k0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0003"
down_revision = "k0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "day_keys",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("day_keys")
