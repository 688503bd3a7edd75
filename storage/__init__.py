"""Persistence for phototalk: models, every query, quotas, the durable job queue and its worker loop.

    from storage import Database, JobQueue, QuotaPolicy, JobSpec, Status, Job, Worker
    from storage import users, media, payments, quotas, ratelimit, retention, scenes

It never reads the bot's settings: callers pass URLs, policies and limits in. `JobQueue` opens
its own short transaction per method; every other use case takes the caller's session (see
storage/README.md, "Transactions: who opens them").
"""

from storage import media, payments, quotas, ratelimit, retention, scenes, users
from storage.db import Database, alembic_config, run_migrations
from storage.errors import (
    AlreadyQueued,
    FaceTaken,
    JobNotFound,
    JobRejected,
    LeaseExpired,
    PaymentNotFound,
    QueueFull,
    QueueUnavailable,
    QuotaExceeded,
    SceneNotOpen,
    StorageError,
    TooManyQueued,
    UserBanned,
)
from storage.jobs import DELIVERY_UNCONFIRMED, LEASE_EXPIRED, JobQueue, JobSpec
from storage.models import (
    AuditEntry,
    Base,
    Job,
    LedgerReason,
    Media,
    Payment,
    PhotoAnalysis,
    QuotaEntry,
    Scene,
    SceneClaim,
    SceneLine,
    SceneStatus,
    Status,
    User,
    utcnow,
)
from storage.quotas import QuotaPolicy, QuotaStatus
from storage.worker import Worker

__all__ = [
    "DELIVERY_UNCONFIRMED",
    "LEASE_EXPIRED",
    "AlreadyQueued",
    "AuditEntry",
    "Base",
    "Database",
    "FaceTaken",
    "Job",
    "JobNotFound",
    "JobQueue",
    "JobRejected",
    "JobSpec",
    "LeaseExpired",
    "LedgerReason",
    "Media",
    "Payment",
    "PaymentNotFound",
    "PhotoAnalysis",
    "QueueFull",
    "QueueUnavailable",
    "QuotaEntry",
    "QuotaExceeded",
    "QuotaPolicy",
    "QuotaStatus",
    "Scene",
    "SceneClaim",
    "SceneLine",
    "SceneNotOpen",
    "SceneStatus",
    "Status",
    "StorageError",
    "TooManyQueued",
    "User",
    "UserBanned",
    "Worker",
    "alembic_config",
    "media",
    "payments",
    "quotas",
    "ratelimit",
    "retention",
    "run_migrations",
    "scenes",
    "users",
    "utcnow",
]
