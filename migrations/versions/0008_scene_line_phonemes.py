"""scene_lines.phonemes: a /say line keeps the phoneme timeline its speech was made with

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("scene_lines", sa.Column("phonemes", sa.JSON(), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), as in 0004: no batch re-creation
    op.drop_column("scene_lines", "phonemes")
