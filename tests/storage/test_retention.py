"""Retention: old media, finished jobs and ledger rows go; pending jobs and today's quota stay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import delete, func, select

from storage import (
    Database,
    Job,
    JobQueue,
    Media,
    QuotaPolicy,
    SceneLine,
    SceneStatus,
    Status,
    media,
    quotas,
    retention,
    scenes,
)
from tests.storage.helpers import NOW, spec


async def test_purge_removes_old_rows_and_counts_them(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    old = NOW - timedelta(days=10)
    async with db.session() as s, s.begin():
        for n, at in enumerate([old, NOW]):
            await media.save_photo(
                s,
                chat_id=1,
                user_id=1,
                message_id=n,
                file_id=f"f{n}",
                file_unique_id=f"u{n}",
                path=f"/media/{n}.jpg",
                analysis={"faces": []},
                expires_at=at + timedelta(hours=2),
                now=at,
            )
        scene = await scenes.create_scene(
            s, chat_id=-1, creator_id=1, file_id="g", file_unique_id="gu", faces=[], now=old
        )
        await scenes.expire_idle(s, old + timedelta(minutes=1), idle_minutes=0)
    finished = await queue.enqueue(spec(1, 100), policy, old)
    job = await queue.claim("w", 60, old)
    assert job is not None and job.id == finished.id
    await queue.finish(job.id, "w", "video", old)
    waiting = await queue.enqueue(spec(1, 101), policy, old)  # old but never run: must survive
    await queue.enqueue(spec(1, 102), policy, NOW)

    async with db.session() as s, s.begin():
        purged = await retention.purge(s, NOW, days=7)
    assert (purged.photos, purged.jobs, purged.scenes) == (1, 1, 1)
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Media)) == 1
        ids = set(await s.scalars(select(Job.id)))
        assert finished.id not in ids and waiting.id in ids
        assert await s.scalar(select(Job.status).where(Job.id == waiting.id)) == Status.QUEUED
        assert await scenes.get_scene(s, scene.id) is None
        assert (await quotas.status(s, 1, policy, NOW)).used == 1  # today's debit kept


async def test_purge_keeps_ledger_rows_the_quota_still_needs(db: Database, queue: JobQueue) -> None:
    policy = QuotaPolicy(daily=1, timezone="Pacific/Kiritimati")  # UTC+14
    await queue.enqueue(spec(2, 1), policy, NOW)
    async with db.session() as s, s.begin():
        await retention.purge(s, NOW + timedelta(hours=12), days=0)
    async with db.session() as s:
        assert (await quotas.status(s, 2, policy, NOW + timedelta(hours=12))).used == 1


async def test_a_rendered_scene_and_its_lines_are_purged_after_the_retention_days(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    old = NOW - timedelta(days=10)
    async with db.session() as s, s.begin():
        scene = await scenes.create_scene(
            s, chat_id=-1, creator_id=1, file_id="g", file_unique_id="gu", faces=[], now=old
        )
        await scenes.claim_face(s, scene.id, 2, 0, old)
        await scenes.set_line(s, scene.id, 2, face=0, source="voice", file_id="line", now=old)
    job = await queue.enqueue(replace(spec(1, 100, chat_id=-1), scene_id=scene.id), policy, old)
    assert await queue.claim("w", 60, old) is not None
    await queue.finish(job.id, "w", "video", old)  # nothing else touches the scene: storage settles it

    async with db.session() as s, s.begin():
        await retention.purge(s, NOW, days=7)
    async with db.read_session() as s:
        assert await scenes.get_scene(s, scene.id) is None
        assert await s.scalar(select(func.count()).select_from(SceneLine)) == 0


async def test_purge_reaches_every_idle_scene_but_one_still_rendering(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    old = NOW - timedelta(days=10)
    async with db.session() as s, s.begin():
        made = [
            await scenes.create_scene(
                s, chat_id=-1, creator_id=1, file_id="g", file_unique_id=f"gu{n}", faces=[], now=old
            )
            for n in range(3)
        ]
    never_swept, orphaned, rendering = made
    gone = await queue.enqueue(replace(spec(1, 100, chat_id=-1), scene_id=orphaned.id), policy, old)
    await queue.enqueue(replace(spec(1, 101, chat_id=-1), scene_id=rendering.id), policy, old)
    async with db.session() as s, s.begin():
        await s.execute(delete(Job).where(Job.id == gone.id))  # its job vanished (e.g. /forget)

    async with db.session() as s, s.begin():
        purged = await retention.purge(s, NOW, days=7)
    assert purged.scenes == 2
    async with db.read_session() as s:
        assert await scenes.get_scene(s, never_swept.id) is None
        assert await scenes.get_scene(s, orphaned.id) is None
        kept = await scenes.get_scene(s, rendering.id)
        assert kept is not None and kept.status == SceneStatus.RENDERING
