"""Retention: forget media, finished jobs and old ledger rows after the configured days."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    FINISHED,
    Job,
    Media,
    PendingRequest,
    PhotoAnalysis,
    QuotaEntry,
    Scene,
    SceneClaim,
    SceneLine,
    SceneStatus,
)

# The quota counts today's ledger rows in any time zone (UTC−12 … UTC+14): keep two days at least.
LEDGER_MIN_KEEP = timedelta(days=2)


async def purge(s: AsyncSession, now: datetime, days: float) -> list[str]:
    """Deletes rows older than `days`; returns the local media files the caller must delete.

    Purged: photos (media rows) and analyses nobody references, finished jobs, ledger rows the
    quota no longer needs, and closed or expired scenes. Queued and running jobs are never touched.
    """
    cutoff = now - timedelta(days=days)
    old_media = select(Media.id, Media.path).where(Media.created_at < cutoff)
    rows = (await s.execute(old_media)).all()
    paths = [path for _, path in rows if path]
    if rows:
        await s.execute(delete(Media).where(Media.id.in_([media_id for media_id, _ in rows])))
    referenced = select(Media.analysis_id).where(Media.analysis_id.is_not(None))
    await s.execute(
        delete(PhotoAnalysis).where(PhotoAnalysis.created_at < cutoff, PhotoAnalysis.id.not_in(referenced))
    )

    await s.execute(delete(PendingRequest).where(PendingRequest.created_at < cutoff))

    finished_at = func.coalesce(Job.finished_at, Job.created_at)
    await s.execute(delete(Job).where(Job.status.in_(FINISHED), finished_at < cutoff))

    ledger_cutoff = min(cutoff, now - LEDGER_MIN_KEEP)
    await s.execute(delete(QuotaEntry).where(QuotaEntry.counts_at < ledger_cutoff))

    closed = select(Scene.id).where(
        Scene.status.in_([SceneStatus.DONE, SceneStatus.EXPIRED]), Scene.last_activity_at < cutoff
    )
    closed_ids = list(await s.scalars(closed))
    if closed_ids:
        await s.execute(delete(SceneLine).where(SceneLine.scene_id.in_(closed_ids)))
        await s.execute(delete(SceneClaim).where(SceneClaim.scene_id.in_(closed_ids)))
        await s.execute(delete(Scene).where(Scene.id.in_(closed_ids)))
    await s.flush()
    return paths
