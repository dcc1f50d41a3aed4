"""policy as code: staff second factor and training, consents, sharing, policy versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _staff_access()
    _consent()
    _sharing()
    _policy_versions()


def downgrade() -> None:
    _policy_versions_down()
    _sharing_down()
    _consent_down()
    _staff_access_down()


# Each section belongs to one change; keep its upgrade and downgrade next to each other.
# A section with nothing to do yet is `pass`; its owner fills it in.


def _staff_access() -> None:
    pass


def _staff_access_down() -> None:
    pass


def _consent() -> None:
    # Art. 7: one row per purpose the subject consented to; none means no consent.
    op.create_table(
        "consents",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subject_id", "purpose"),
    )


def _consent_down() -> None:
    op.drop_table("consents")


def _sharing() -> None:
    pass


def _sharing_down() -> None:
    pass


def _policy_versions() -> None:
    pass


def _policy_versions_down() -> None:
    pass
