"""pending requests: a voice note sent before any photo survives restarts and replicas

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_requests",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("track", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pending_requests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_requests")),
        sa.UniqueConstraint("chat_id", "user_id", name=op.f("uq_pending_requests_chat_id_user_id")),
    )
    op.create_index(op.f("ix_pending_requests_created_at"), "pending_requests", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_requests_created_at"), table_name="pending_requests")
    op.drop_table("pending_requests")
