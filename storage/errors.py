"""Domain exceptions raised by storage/; callers never see a database driver's error.

StorageError                  anything storage/ refuses to do
├── UserBanned                the user is banned; nothing was queued
├── AlreadyQueued             this Telegram update already has a job (re-delivered update)
├── TooManyQueued             the user already has the most pending jobs allowed
├── QueueFull                 the whole queue is at its cap: "busy, try later"
├── QuotaExceeded             today's allowance is used up; says when it resets
├── QueueUnavailable          the database could not be reached; nothing was queued
├── JobNotFound               no such job (or not the caller's)
├── FaceTaken                 another member already speaks for that face in a scene
├── LeaseExpired              a worker stopped heartbeating and the job ran out of attempts
├── JobRejected               raised BY a job handler: the input was refused before rendering
└── PaymentNotFound           no Stars payment with that charge id (for that user)
"""

from __future__ import annotations

from datetime import datetime


class StorageError(Exception):
    """Base of every exception storage/ raises on purpose."""


class UserBanned(StorageError):
    """The user is banned, so no job was queued."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} is banned")
        self.user_id = user_id


class AlreadyQueued(StorageError):
    """A job for this idempotency key exists already; no second job, no second debit."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"already queued as job {job_id}")
        self.job_id = job_id


class TooManyQueued(StorageError):
    """The user has `limit` jobs waiting or running already."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} jobs may wait per user")
        self.limit = limit


class QueueFull(StorageError):
    """The global queue is at its cap; the service is busy."""

    def __init__(self, limit: int = 0) -> None:
        super().__init__(f"the queue is full ({limit} jobs)")
        self.limit = limit


class QuotaExceeded(StorageError):
    """Today's allowance is used up; it resets at `resets_at` (UTC, timezone-aware)."""

    def __init__(self, resets_at: datetime, limit: int = 0) -> None:
        super().__init__(f"daily quota of {limit} used up; resets at {resets_at.isoformat()}")
        self.resets_at = resets_at
        self.limit = limit


class QueueUnavailable(StorageError):
    """The database could not be reached (down, restarting, locked past the busy timeout).

    The enqueue's transaction did not commit, so nothing was queued or charged; asking again
    later is safe.
    """


class JobNotFound(StorageError):
    """No job with that id (or it belongs to someone else)."""

    def __init__(self, job_id: int | None) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class FaceTaken(StorageError):
    """Another member already claimed that face in the scene."""

    def __init__(self, scene_id: int, face: int, user_id: int) -> None:
        super().__init__(f"face {face} of scene {scene_id} is taken by user {user_id}")
        self.scene_id = scene_id
        self.face = face
        self.user_id = user_id


class SceneNotOpen(StorageError):
    """A render was asked for a scene that is not collecting lines (already rendering, done, gone)."""

    def __init__(self, scene_id: int) -> None:
        super().__init__(f"scene {scene_id} is not open")
        self.scene_id = scene_id


class LeaseExpired(StorageError):
    """The job's worker vanished (lease expired) on its last allowed attempt."""

    def __init__(self, job_id: int, attempts: int) -> None:
        super().__init__(f"job {job_id} lost its worker {attempts} times; giving up")
        self.job_id = job_id
        self.attempts = attempts


class JobRejected(StorageError):
    """Raised by a job handler: the generator refused the input; fail and refund, never retry."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class PaymentNotFound(StorageError):
    """No payment with that Telegram charge id (for that user)."""

    def __init__(self, charge_id: str) -> None:
        super().__init__(f"payment {charge_id!r} not found")
        self.charge_id = charge_id
