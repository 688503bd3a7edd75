"""Typed declarative models: every table phototalk keeps, on SQLite and PostgreSQL alike.

Times are stored in UTC and always come back timezone-aware (SQLite has no time zones, so
`UTCDateTime` re-attaches UTC). Telegram ids are 64-bit. Status columns are plain strings in the
database and `StrEnum`s in Python, so adding a status never needs a database enum migration.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let Alembic create, compare and drop them identically on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, so row ids are BIGINT elsewhere only.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive values are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware times")
        value = value.astimezone(UTC)
        # SQLite stores text; a fixed naive-UTC form keeps string comparisons in SQL correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[enum.StrEnum]):
    """A `StrEnum` kept as a short string column (no native database enum to migrate)."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum_class: type[enum.StrEnum]) -> None:
        super().__init__()
        self.enum_class = enum_class

    def process_bind_param(self, value: enum.StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> enum.StrEnum | None:
        return None if value is None else self.enum_class(value)


class Status(enum.StrEnum):
    """Where a job is in its life: queued → running → done | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)
PENDING = (Status.QUEUED, Status.RUNNING)


class LedgerReason(enum.StrEnum):
    """Why the quota ledger moved.

    Today's free allowance: a job's debit, its refund, an admin's grant (counted per local day).
    Paid credits (bought with Telegram Stars, never expiring): a purchase, a job's spend of one
    credit, that spend given back, and credits revoked when an admin refunds a payment.
    """

    DEBIT = "debit"
    REFUND = "refund"
    GRANT = "grant"
    PURCHASE = "purchase"
    SPEND = "spend"
    CREDIT_REFUND = "credit_refund"
    REVOKE = "revoke"


#: Reasons that count toward today's free allowance; the others move the paid-credit balance.
DAILY_REASONS = (LedgerReason.DEBIT, LedgerReason.REFUND, LedgerReason.GRANT)
CREDIT_REASONS = (LedgerReason.PURCHASE, LedgerReason.SPEND, LedgerReason.CREDIT_REFUND, LedgerReason.REVOKE)


class SceneStatus(enum.StrEnum):
    """A group scene's life: open (collecting lines) → rendering → done, or expired when idle."""

    OPEN = "open"
    RENDERING = "rendering"
    DONE = "done"
    EXPIRED = "expired"


class Base(DeclarativeBase):
    """Declarative base with the naming convention and the type map every model shares."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[dict[str, Any]]: JSON(),
        str: String(255),
    }


class User(Base):
    """A Telegram user: language, chosen voice, ban flag."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    voice: Mapped[str | None] = mapped_column(String(64))
    # The performance style and motion scale picked with /style (None: "natural", 1.0).
    style: Mapped[str | None] = mapped_column(String(16))
    motion: Mapped[float | None] = mapped_column(Float)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PhotoAnalysis(Base):
    """Cached face analysis of one picture, keyed by Telegram's stable file_unique_id."""

    __tablename__ = "photo_analyses"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    file_unique_id: Mapped[str] = mapped_column(String(128), unique=True)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Media(Base):
    """A photo the bot saw in a chat: Telegram ids, local copy, chosen face, expiry."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_chat_user_created", "chat_id", "user_id", "created_at"),
        Index("ix_media_chat_message", "chat_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    path: Mapped[str | None] = mapped_column(String(1024))
    analysis_id: Mapped[int | None] = mapped_column(
        ForeignKey("photo_analyses.id", ondelete="SET NULL"), index=True
    )
    face: Mapped[int | None]
    chorus: Mapped[bool] = mapped_column(Boolean, default=False)
    # A style keyword in the photo's caption (e.g. #calm): its videos use it instead of the user's.
    style: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    # Always loaded with the row: async sessions cannot lazy-load on attribute access.
    photo_analysis: Mapped[PhotoAnalysis | None] = relationship(lazy="joined")

    @property
    def analysis(self) -> dict[str, Any] | None:
        """The cached face analysis saved with this photo, if any."""
        return None if self.photo_analysis is None else self.photo_analysis.data


class PendingRequest(Base):
    """A speech request that arrived before any photo; the next photo in the chat renders it."""

    __tablename__ = "pending_requests"
    __table_args__ = (UniqueConstraint("chat_id", "user_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    track: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Job(Base):
    """One render request: its payload, state machine, lease, quota and delivery bookkeeping."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_user_status", "user_id", "status"),
        Index("ix_jobs_user_started", "user_id", "started_at"),
        Index("ix_jobs_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # chat:message_id of the Telegram update, so a re-delivered update never makes a second job
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[Status] = mapped_column(StrEnumType(Status), default=Status.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    run_after: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    result_file_id: Mapped[str | None] = mapped_column(String(255))
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Set (JobQueue.begin_delivery) just before the video is sent: once set, no attempt of this
    # job renders or sends again, so Telegram never gets the same video twice.
    delivery_started_at: Mapped[datetime | None]
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    delivered_at: Mapped[datetime | None]
    charged: Mapped[bool] = mapped_column(Boolean, default=True)
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    @property
    def delivery_unconfirmed(self) -> bool:
        """Its sending started but was never confirmed: the user may or may not have the video.

        A job handed to a handler in this state must not be rendered or sent again; one that
        ended in it is DONE with error_code "delivery_unconfirmed" and keeps its quota debit.
        """
        return self.delivery_started_at is not None and not self.delivered

    def __repr__(self) -> str:
        return f"<Job {self.id} user={self.user_id} {self.status} attempt={self.attempts}>"


class QuotaEntry(Base):
    """One move of a user's allowance: debit −1 per job, refund +1, admin grant +N.

    `counts_at` is the moment the entry counts toward: a refund counts on its debit's day, so a
    job queued before midnight and failed after it gives back yesterday's render, not today's.
    """

    __tablename__ = "quota_ledger"
    __table_args__ = (
        # at most one debit and one refund per job, enforced by the database itself
        UniqueConstraint("job_id", "reason"),
        Index("ix_quota_ledger_user_counts_at", "user_id", "counts_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    reason: Mapped[LedgerReason] = mapped_column(StrEnumType(LedgerReason))
    delta: Mapped[int]
    admin_id: Mapped[int | None] = mapped_column(BigInteger)
    counts_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """A Telegram Stars payment for a pack of renders, credited once per Telegram charge id.

    Kept after /forget for Telegram's terms and the operator's accounts, with `user_id` cleared:
    no name, no content, only the charge, the pack and the Stars.
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    # No foreign key: the record outlives the user's row (/forget sets it to NULL).
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # unique: a re-delivered successful_payment update never credits twice
    telegram_payment_charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    provider_payment_charge_id: Mapped[str | None] = mapped_column(String(255))
    invoice_payload: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(8))
    stars: Mapped[int]
    credits: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    refunded_at: Mapped[datetime | None]
    refunded_by: Mapped[int | None] = mapped_column(BigInteger)
    # of `credits`, how many were still unspent and taken back at the refund
    credits_revoked: Mapped[int] = mapped_column(default=0)


class RateWindow(Base):
    """One user's use of one rate-limited action (e.g. photo analyses) in the current window."""

    __tablename__ = "rate_windows"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(index=True)
    hits: Mapped[int]


class AuditEntry(Base):
    """One admin action (ban, unban, grant), kept for accountability."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    admin_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Scene(Base):
    """A group-chat scene: one photo whose faces members voice, rendered as one clip."""

    __tablename__ = "scenes"
    __table_args__ = (
        Index("ix_scenes_chat_message", "chat_id", "message_id"),
        Index("ix_scenes_chat_photo_message", "chat_id", "photo_message_id"),
        Index("ix_scenes_status_activity", "status", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    creator_id: Mapped[int] = mapped_column(BigInteger)
    photo_file_id: Mapped[str] = mapped_column(String(255))
    photo_file_unique_id: Mapped[str] = mapped_column(String(128))
    photo_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # the bot's scene message that members reply to
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # [{"index": 0, "usable": true, "reason": null}, ...]
    faces: Mapped[list[dict[str, Any]]]
    status: Mapped[SceneStatus] = mapped_column(StrEnumType(SceneStatus), default=SceneStatus.OPEN)
    # The scene's current render. The job's outcome settles the scene in the job's own
    # transaction (storage.jobs): done → DONE, failed or cancelled → OPEN again.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)

    claims: Mapped[list[SceneClaim]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="SceneClaim.face"
    )
    lines: Mapped[list[SceneLine]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="SceneLine.seq"
    )


class SceneClaim(Base):
    """Which member speaks for which face: one face per member, one member per face."""

    __tablename__ = "scene_claims"
    __table_args__ = (UniqueConstraint("scene_id", "face"), UniqueConstraint("scene_id", "user_id"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    face: Mapped[int]
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SceneLine(Base):
    """A member's recorded line in a scene; re-recording replaces it and keeps its place."""

    __tablename__ = "scene_lines"
    __table_args__ = (UniqueConstraint("scene_id", "user_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    face: Mapped[int]
    # voice | audio | video | video_note | text — as in the job payload's tracks
    source: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)
    voice: Mapped[str | None] = mapped_column(String(64))
    duration: Mapped[float | None]
    # [start, end, phoneme] rows of a /say line's speech (bot.request.Track.phonemes); None for recordings
    phonemes: Mapped[list[list[Any]] | None] = mapped_column(JSON)
    # recorded order within the scene: 1, 2, 3 …
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
