"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# SQLite auto-increments only an INTEGER PRIMARY KEY; BIGINT everywhere else.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("admin_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_user_id", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_target_user_id"), "audit_log", ["target_user_id"], unique=False)

    op.create_table(
        "chats",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
    )
    op.create_table(
        "photo_analyses",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("file_unique_id", sa.String(length=128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo_analyses")),
        sa.UniqueConstraint("file_unique_id", name=op.f("uq_photo_analyses_file_unique_id")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("voice", sa.String(length=64), nullable=True),
        sa.Column("banned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("result_file_id", sa.String(length=255), nullable=True),
        sa.Column("status_message_id", sa.BigInteger(), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.Column("refunded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_jobs_idempotency_key")),
    )
    op.create_index("ix_jobs_status_id", "jobs", ["status", "id"], unique=False)
    op.create_index("ix_jobs_status_lease", "jobs", ["status", "lease_until"], unique=False)
    op.create_index("ix_jobs_user_started", "jobs", ["user_id", "started_at"], unique=False)
    op.create_index("ix_jobs_user_status", "jobs", ["user_id", "status"], unique=False)

    op.create_table(
        "media",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=False),
        sa.Column("file_unique_id", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("analysis_id", ROW_ID, nullable=True),
        sa.Column("face", sa.Integer(), nullable=True),
        sa.Column("chorus", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["photo_analyses.id"],
            name=op.f("fk_media_analysis_id_photo_analyses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_media_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    op.create_index(op.f("ix_media_analysis_id"), "media", ["analysis_id"], unique=False)
    op.create_index("ix_media_chat_message", "media", ["chat_id", "message_id"], unique=False)
    op.create_index("ix_media_chat_user_created", "media", ["chat_id", "user_id", "created_at"], unique=False)
    op.create_index(op.f("ix_media_created_at"), "media", ["created_at"], unique=False)

    op.create_table(
        "quota_ledger",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", ROW_ID, nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.BigInteger(), nullable=True),
        sa.Column("counts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_quota_ledger_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quota_ledger_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_ledger")),
        sa.UniqueConstraint("job_id", "reason", name=op.f("uq_quota_ledger_job_id_reason")),
    )
    op.create_index("ix_quota_ledger_user_counts_at", "quota_ledger", ["user_id", "counts_at"], unique=False)

    op.create_table(
        "scenes",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("creator_id", sa.BigInteger(), nullable=False),
        sa.Column("photo_file_id", sa.String(length=255), nullable=False),
        sa.Column("photo_file_unique_id", sa.String(length=128), nullable=False),
        sa.Column("photo_message_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("faces", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("job_id", ROW_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_scenes_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenes")),
    )
    op.create_index("ix_scenes_chat_message", "scenes", ["chat_id", "message_id"], unique=False)
    op.create_index("ix_scenes_chat_photo_message", "scenes", ["chat_id", "photo_message_id"], unique=False)
    op.create_index("ix_scenes_status_activity", "scenes", ["status", "last_activity_at"], unique=False)

    op.create_table(
        "scene_claims",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("scene_id", ROW_ID, nullable=False),
        sa.Column("face", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scene_id"], ["scenes.id"], name=op.f("fk_scene_claims_scene_id_scenes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scene_claims")),
        sa.UniqueConstraint("scene_id", "face", name=op.f("uq_scene_claims_scene_id_face")),
        sa.UniqueConstraint("scene_id", "user_id", name=op.f("uq_scene_claims_scene_id_user_id")),
    )
    op.create_index(op.f("ix_scene_claims_user_id"), "scene_claims", ["user_id"], unique=False)

    op.create_table(
        "scene_lines",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("scene_id", ROW_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("face", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("voice", sa.String(length=64), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scene_id"], ["scenes.id"], name=op.f("fk_scene_lines_scene_id_scenes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scene_lines")),
        sa.UniqueConstraint("scene_id", "user_id", name=op.f("uq_scene_lines_scene_id_user_id")),
    )
    op.create_index(op.f("ix_scene_lines_user_id"), "scene_lines", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("scene_lines")
    op.drop_table("scene_claims")
    op.drop_table("scenes")
    op.drop_table("quota_ledger")
    op.drop_table("media")
    op.drop_table("jobs")
    op.drop_table("users")
    op.drop_table("photo_analyses")
    op.drop_table("chats")
    op.drop_table("audit_log")
