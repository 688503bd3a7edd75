"""Queries about users: language, chosen voice, bans (audited) and /forget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, TextClause, cast, delete, exists, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from storage import quotas, scenes
from storage._sql import dialect_of, ensure_user, rowcount
from storage.models import (
    DAILY_REASONS,
    PENDING,
    AuditEntry,
    Job,
    Media,
    Payment,
    PendingRequest,
    PhotoAnalysis,
    QuotaEntry,
    RateWindow,
    Scene,
    SceneClaim,
    SceneLine,
    Status,
    User,
    utcnow,
)

# /forget keeps this much of the quota ledger (user id and counts only), so forgetting oneself
# never resets today's allowance.
LEDGER_KEPT_AFTER_FORGET = timedelta(days=2)


async def upsert_user(
    s: AsyncSession, user_id: int, *, language: str | None = None, username: str | None = None
) -> User:
    """Creates or refreshes a user; fields left as None keep their stored value."""
    await ensure_user(s, user_id, language=language, username=username)
    user = await s.get_one(User, user_id, populate_existing=True)
    if language is not None:
        user.language = language
    if username is not None:
        user.username = username
    await s.flush()
    return user


async def get_user(s: AsyncSession, user_id: int) -> User | None:
    """The user, or None if the bot has never stored them."""
    return await s.get(User, user_id)


async def set_voice(s: AsyncSession, user_id: int, voice: str | None) -> None:
    """Remembers the TTS voice the user picked (None: back to the default)."""
    await ensure_user(s, user_id)
    user = await s.get_one(User, user_id)
    user.voice = voice
    await s.flush()


async def set_style(s: AsyncSession, user_id: int, style: str | None) -> None:
    """Remembers the performance style the user picked (None: back to the default)."""
    await ensure_user(s, user_id)
    user = await s.get_one(User, user_id)
    user.style = style
    await s.flush()


async def set_motion(s: AsyncSession, user_id: int, motion: float | None) -> None:
    """Remembers the motion scale the user picked (None: back to the default)."""
    await ensure_user(s, user_id)
    user = await s.get_one(User, user_id)
    user.motion = motion
    await s.flush()


async def set_banned(s: AsyncSession, user_id: int, banned: bool, admin_id: int | None) -> None:
    """Bans or unbans a user (creating the row if unseen) and writes the audit log."""
    await ensure_user(s, user_id)
    user = await s.get_one(User, user_id, populate_existing=True)
    user.banned = banned
    s.add(AuditEntry(admin_id=admin_id, action="ban" if banned else "unban", target_user_id=user_id))
    await s.flush()


async def audit(
    s: AsyncSession, admin_id: int | None, action: str, target_user_id: int | None = None, **details: object
) -> None:
    """Records an admin action that has no dedicated query (e.g. a broadcast)."""
    s.add(AuditEntry(admin_id=admin_id, action=action, target_user_id=target_user_id, details=details))
    await s.flush()


@dataclass(frozen=True)
class Forgotten:
    """What /forget removed. Counts only: no user file outlives its job's work, so there is
    nothing on any machine's disk for the caller to delete."""

    photos: int
    requests: int
    jobs: int
    scenes: int
    lines: int
    # other users' jobs whose payload held this user's recordings or typed lines (now removed)
    scrubbed_jobs: int
    # of those, the ones still queued or running: cancelled and refunded (their scene reopens)
    cancelled_jobs: int


# error_code of another user's pending render cancelled because a member in it asked /forget
FORGOTTEN_MEMBER = "forgotten_member"


async def forget_user(s: AsyncSession, user_id: int, now: datetime | None = None) -> Forgotten:
    """Deletes everything stored about a user, and their lines inside other users' renders.

    Other users' group scenes lose this user's claim and line; other users' jobs lose every
    track this user recorded or typed (`payload["tracks"][i]["user_id"]`). A job still queued or
    running with such a track is cancelled and refunded — a render without one member's line is
    not what its creator asked for — and its scene reopens so they can render again.

    What survives has no personal content: a ban (a banned user cannot lift it by forgetting
    themselves), the last two days of quota counts (nor reset their allowance), the paid credits
    they bought (counts), and their payment records with the user id cleared (Telegram's terms
    and the operator's accounts need the charge ids).
    """
    now = now or utcnow()
    analysis_ids = [
        a for a in await s.scalars(select(Media.analysis_id).where(Media.user_id == user_id)) if a is not None
    ]
    photos = rowcount(await s.execute(delete(Media).where(Media.user_id == user_id)))
    if analysis_ids:
        # the face analyses of this user's pictures, unless someone else sent the same picture
        still_used = select(Media.analysis_id).where(Media.analysis_id.is_not(None))
        await s.execute(
            delete(PhotoAnalysis).where(
                PhotoAnalysis.id.in_(analysis_ids), PhotoAnalysis.id.not_in(still_used)
            )
        )
    requests = rowcount(await s.execute(delete(PendingRequest).where(PendingRequest.user_id == user_id)))
    lines = rowcount(await s.execute(delete(SceneLine).where(SceneLine.user_id == user_id)))
    await s.execute(delete(SceneClaim).where(SceneClaim.user_id == user_id))
    # their own scenes go whole, the other members' claims and lines with them (ON DELETE CASCADE)
    own_scenes = rowcount(await s.execute(delete(Scene).where(Scene.creator_id == user_id)))
    scrubbed, cancelled = await _scrub_tracks(s, user_id, now)
    await s.execute(delete(RateWindow).where(RateWindow.user_id == user_id))
    recent = now - LEDGER_KEPT_AFTER_FORGET
    # Paid credits (counts only) stay the user's; payment records stay, without the user's id.
    await s.execute(
        delete(QuotaEntry).where(
            QuotaEntry.user_id == user_id, QuotaEntry.counts_at < recent, QuotaEntry.reason.in_(DAILY_REASONS)
        )
    )
    await s.execute(update(Payment).where(Payment.user_id == user_id).values(user_id=None))
    jobs = rowcount(await s.execute(delete(Job).where(Job.user_id == user_id)))
    counts = Forgotten(photos, requests, jobs, own_scenes, lines, scrubbed, cancelled)
    user = await s.get(User, user_id, populate_existing=True)
    if user is None:
        await s.flush()
        return counts
    keeps_ledger = await s.scalar(select(exists().where(QuotaEntry.user_id == user_id)))
    if user.banned or keeps_ledger:
        user.username = user.language = user.voice = user.style = None
        user.motion = None
        if not user.banned:
            await s.execute(delete(AuditEntry).where(AuditEntry.target_user_id == user_id))
    else:
        await s.execute(delete(AuditEntry).where(AuditEntry.target_user_id == user_id))
        await s.delete(user)
    await s.flush()
    return counts


def _holds_track_of(s: AsyncSession, user_id: int) -> ColumnElement[bool] | TextClause:
    """Jobs whose payload["tracks"] has a track with this user_id (JSON, per dialect)."""
    if dialect_of(s) == "postgresql":
        return cast(Job.payload, JSONB).contains({"tracks": [{"user_id": user_id}]})
    return text(
        "EXISTS (SELECT 1 FROM json_each(jobs.payload, '$.tracks') AS track"
        " WHERE json_extract(track.value, '$.user_id') = :track_user_id)"
    ).bindparams(track_user_id=user_id)


async def _scrub_tracks(s: AsyncSession, user_id: int, now: datetime) -> tuple[int, int]:
    """Removes the user's tracks from other users' jobs; cancels and refunds pending ones."""
    held = list(
        await s.scalars(
            select(Job)
            .where(Job.user_id != user_id, _holds_track_of(s, user_id))
            .order_by(Job.id)
            .with_for_update()
        )
    )
    cancelled = 0
    for job in held:
        tracks = job.payload.get("tracks") or []
        kept = [t for t in tracks if not (isinstance(t, dict) and t.get("user_id") == user_id)]
        job.payload = {**job.payload, "tracks": kept}  # a new dict, so the change is written
        if job.status in PENDING and job.delivery_started_at is None:
            job.status, job.finished_at, job.lease_until = Status.CANCELLED, now, None
            job.error_code = FORGOTTEN_MEMBER
            await s.flush()
            await quotas.refund(s, job.id, now)
            await scenes.settle_render(s, job.id, Status.CANCELLED, now)
            cancelled += 1
    await s.flush()
    return len(held), cancelled
