"""users.style, users.motion, media.style: the performance style a user picks (/style, caption keyword)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nullable, no default: existing users and photos read as "natural" at motion 1.0
    op.add_column("users", sa.Column("style", sa.String(length=16), nullable=True))
    op.add_column("users", sa.Column("motion", sa.Float(), nullable=True))
    op.add_column("media", sa.Column("style", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), as in 0004 and 0008: no batch re-creation
    op.drop_column("media", "style")
    op.drop_column("users", "motion")
    op.drop_column("users", "style")
