"""drop what nothing reads: the chats table and media.kind

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("chats")
    # a plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): batch mode would re-create the media table
    op.drop_column("media", "kind")


def downgrade() -> None:
    # every stored photo was a photo; the default fills the rows kept since the upgrade
    op.add_column("media", sa.Column("kind", sa.String(length=16), nullable=False, server_default="photo"))
    op.create_table(
        "chats",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
    )
