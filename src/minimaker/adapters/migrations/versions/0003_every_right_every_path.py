"""every right on every path: emailed download links, requests needing the officer, ...

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _email_route()
    _officer()
    _restore_and_mail()
    _transparency()


def downgrade() -> None:
    _transparency_down()
    _restore_and_mail_down()
    _officer_down()
    _email_route_down()


# Each section belongs to one change; keep its upgrade and downgrade next to each other.


def _email_route() -> None:
    # The single-use download links of emailed access and portability requests.
    op.create_table(
        "archive_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("archive_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["rights_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("archive_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_archive_links_request_id"), ["request_id"], unique=False
        )


def _email_route_down() -> None:
    with op.batch_alter_table("archive_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_links_request_id"))
    op.drop_table("archive_links")


#: Requests waiting for the privacy officer, the officer's statement, the evidence of identity.
_OFFICER_COLUMNS = ("attention_reason", "attention_at", "resolution_enc", "evidence_enc")


def _officer() -> None:
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attention_reason", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("attention_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("evidence_enc", sa.LargeBinary(), nullable=True))


def _officer_down() -> None:
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        for name in reversed(_OFFICER_COLUMNS):
            batch_op.drop_column(name)


def _restore_and_mail() -> None:
    pass


def _restore_and_mail_down() -> None:
    pass


def _transparency() -> None:
    pass


def _transparency_down() -> None:
    pass
