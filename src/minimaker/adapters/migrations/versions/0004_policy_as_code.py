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


#: Staff second factor (sealed TOTP secret, confirmation, last step), training, the policy
#: version acknowledged, a contractor's end of term (policy 5.1, 5.2, 11.2).
_STAFF_COLUMNS = (
    ("totp_secret_enc", sa.LargeBinary()),
    ("totp_confirmed_at", sa.DateTime(timezone=True)),
    ("totp_last_step", sa.Integer()),
    ("trained_at", sa.DateTime(timezone=True)),
    ("training_expires_at", sa.DateTime(timezone=True)),
    ("policy_version", sa.String(length=64)),
    ("policy_acknowledged_at", sa.DateTime(timezone=True)),
    ("access_expires_at", sa.DateTime(timezone=True)),
)


def _staff_access() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        for name, kind in _STAFF_COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        # Sessions opened before this change had passed the only factor there was; they end
        # at their expiry like any other, and new ones need the second factor.
        batch_op.add_column(
            sa.Column("stage", sa.String(length=8), nullable=False, server_default="full")
        )
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_recovery_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_recovery_codes_staff_id"), ["staff_id"], unique=False
        )


def _staff_access_down() -> None:
    op.drop_table("staff_recovery_codes")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_column("stage")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        for name, _ in reversed(_STAFF_COLUMNS):
            batch_op.drop_column(name)


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
    # Policy 12: every published version kept whole; who was asked to acknowledge which.
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("significant", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_through", sa.String(length=32), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_index(
        "ix_policy_versions_published_at", "policy_versions", ["published_at"], unique=False
    )
    op.create_table(
        "policy_acknowledgements",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["version"], ["policy_versions.version"]),
        sa.PrimaryKeyConstraint("subject_id", "version"),
    )


def _policy_versions_down() -> None:
    op.drop_table("policy_acknowledgements")
    op.drop_index("ix_policy_versions_published_at", table_name="policy_versions")
    op.drop_table("policy_versions")
