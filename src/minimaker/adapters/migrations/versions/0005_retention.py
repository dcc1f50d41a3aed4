"""retention: legal holds, inactivity notices, the anchors of the account and model rules

Revision ID: 0005_retention
Revises: 0004
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_retention"
down_revision = "0004"
branch_labels = None
depends_on = None

_EXPIRY_INDEXES = (
    ("ix_users_created_at_id", "users", ["created_at", "id"]),
    ("ix_auth_sessions_expires_at_id", "auth_sessions", ["expires_at", "id"]),
    ("ix_models_created_at_id", "models", ["created_at", "id"]),
    ("ix_usage_events_at_id", "usage_events", ["at", "id"]),
    ("ix_uploads_created_at_id", "uploads", ["created_at", "id"]),
    ("ix_outbox_created_at_id", "outbox", ["created_at", "id"]),
    (
        "ix_verification_tokens_expires_at_token_hash",
        "verification_tokens",
        ["expires_at", "token_hash"],
    ),
    ("ix_archive_links_expires_at_token_hash", "archive_links", ["expires_at", "token_hash"]),
    ("ix_staff_sessions_expires_at_id", "staff_sessions", ["expires_at", "id"]),
    ("ix_jobs_finished_at_id", "jobs", ["finished_at", "id"]),
)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_subject_id"), ["subject_id"], unique=False)
    op.create_table(
        "inactivity_notices",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subject_id"),
        sa.UniqueConstraint("token_hash"),
    )
    # The retention sweeps walk these indexes (retention/declare.py): (seek, key) each.
    for name, table, columns in _EXPIRY_INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(_EXPIRY_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("inactivity_notices")
    op.drop_table("legal_holds")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_active_at")
