"""jobs.delivery_started_at: a video whose sending started is never rendered or sent again

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("delivery_started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): batch mode would re-create the jobs
    # table, and dropping the old one fires ON DELETE SET NULL in scenes and quota_ledger
    op.drop_column("jobs", "delivery_started_at")
