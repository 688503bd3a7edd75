"""rate_windows: per-user rate limits shared by every replica

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_rate_windows")),
    )
    op.create_index(op.f("ix_rate_windows_window_start"), "rate_windows", ["window_start"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_windows_window_start"), table_name="rate_windows")
    op.drop_table("rate_windows")
