"""Retention: forget media, finished jobs, closed scenes and old ledger rows after the configured days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage._sql import rowcount
from storage.models import (
    DAILY_REASONS,
    FINISHED,
    PENDING,
    Job,
    Media,
    PendingRequest,
    PhotoAnalysis,
    QuotaEntry,
    RateWindow,
    Scene,
    SceneStatus,
)

# The quota counts today's ledger rows in any time zone (UTC−12 … UTC+14): keep two days at least.
LEDGER_MIN_KEEP = timedelta(days=2)


@dataclass(frozen=True)
class Purged:
    """How many rows one purge deleted. Counts only: no user file outlives its job's work, so
    there is nothing on any machine's disk for the caller to delete."""

    photos: int
    analyses: int
    requests: int
    jobs: int
    ledger: int
    scenes: int


async def purge(s: AsyncSession, now: datetime, days: float) -> Purged:
    """Deletes rows older than `days`; returns how many of each went.

    Purged: photos (media rows) and analyses nobody references, requests still waiting for a
    photo, finished jobs (their payloads hold file ids and typed text), ledger rows the quota no
    longer needs, rate-limit windows that old, and every scene (with its claims and lines) idle
    that long — whatever its state, except one whose render is still queued or running. Queued
    and running jobs are never touched.
    """
    cutoff = now - timedelta(days=days)
    photos = rowcount(await s.execute(delete(Media).where(Media.created_at < cutoff)))
    referenced = select(Media.analysis_id).where(Media.analysis_id.is_not(None))
    analyses = rowcount(
        await s.execute(
            delete(PhotoAnalysis).where(
                PhotoAnalysis.created_at < cutoff, PhotoAnalysis.id.not_in(referenced)
            )
        )
    )
    requests = rowcount(await s.execute(delete(PendingRequest).where(PendingRequest.created_at < cutoff)))

    finished_at = func.coalesce(Job.finished_at, Job.created_at)
    jobs = rowcount(await s.execute(delete(Job).where(Job.status.in_(FINISHED), finished_at < cutoff)))

    ledger_cutoff = min(cutoff, now - LEDGER_MIN_KEEP)
    # Paid-credit rows are the user's balance, not a day's count: they never age out.
    ledger = rowcount(
        await s.execute(
            delete(QuotaEntry).where(
                QuotaEntry.counts_at < ledger_cutoff, QuotaEntry.reason.in_(DAILY_REASONS)
            )
        )
    )

    await s.execute(delete(RateWindow).where(RateWindow.window_start < cutoff))

    # A scene whose render is still pending waits for it; any other idle scene goes (done,
    # expired, open but never swept, or rendering for a job that no longer exists).
    rendering_now = exists().where(Job.id == Scene.job_id, Job.status.in_(PENDING))
    idle = select(Scene.id).where(
        Scene.last_activity_at < cutoff,
        not_((Scene.status == SceneStatus.RENDERING) & rendering_now),
    )
    idle_ids = list(await s.scalars(idle))
    if idle_ids:
        # claims and lines go with their scene (ON DELETE CASCADE)
        await s.execute(delete(Scene).where(Scene.id.in_(idle_ids)))
    await s.flush()
    return Purged(photos, analyses, requests, jobs, ledger, len(idle_ids))
