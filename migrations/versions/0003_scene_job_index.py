"""scenes.job_id indexed: a job's outcome settles its scene in the job's own transaction

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_scenes_job_id"), "scenes", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_scenes_job_id"), table_name="scenes")
