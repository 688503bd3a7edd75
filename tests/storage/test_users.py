"""Users: upsert keeps what it is not told, voice, audited bans, and /forget."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from storage import (
    AuditEntry,
    Database,
    Job,
    JobQueue,
    Media,
    QuotaEntry,
    QuotaPolicy,
    SceneStatus,
    Status,
    UserBanned,
    media,
    quotas,
    scenes,
    users,
)
from tests.storage.helpers import NOW, spec


async def test_upsert_keeps_fields_it_is_not_given(db: Database) -> None:
    async with db.session() as s, s.begin():
        await users.upsert_user(s, 1, language="zh", username="li")
    async with db.session() as s, s.begin():
        user = await users.upsert_user(s, 1, username="li_new")
        await users.set_voice(s, 1, "zh-CN-XiaoxiaoNeural")
    async with db.session() as s:
        stored = await users.get_user(s, 1)
        assert stored is not None
        assert (stored.language, stored.username, stored.voice) == ("zh", "li_new", "zh-CN-XiaoxiaoNeural")
        assert user.created_at.tzinfo is not None
        assert await users.get_user(s, 2) is None


async def test_ban_and_unban_are_audited(db: Database, queue: JobQueue, policy: QuotaPolicy) -> None:
    async with db.session() as s, s.begin():
        await users.set_banned(s, 5, True, admin_id=9)
    async with db.session() as s, s.begin():
        await users.set_banned(s, 5, False, admin_id=9)
    await queue.enqueue(spec(5, 1), policy, NOW)  # unbanned: allowed again
    async with db.session() as s:
        log = [tuple(r) for r in await s.execute(select(AuditEntry.action, AuditEntry.target_user_id))]
    assert log == [("ban", 5), ("unban", 5)]


async def _photo(db: Database, user_id: int, message_id: int, path: str) -> None:
    async with db.session() as s, s.begin():
        await media.save_photo(
            s,
            chat_id=user_id,
            user_id=user_id,
            message_id=message_id,
            file_id=f"f{message_id}",
            file_unique_id=f"u{message_id}",
            path=path,
            analysis={"faces": []},
            expires_at=NOW + timedelta(hours=2),
            now=NOW,
        )


async def test_forget_deletes_the_users_rows_and_counts_them(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    async with db.session() as s, s.begin():
        await users.upsert_user(s, 10, language="en", username="ann")
        await users.upsert_user(s, 11, language="en", username="bob")
    await _photo(db, 10, 1, "/data/media/a.jpg")
    await _photo(db, 11, 2, "/data/media/b.jpg")
    await queue.enqueue(spec(10, 3), policy, NOW)
    await queue.enqueue(spec(11, 3), policy, NOW)
    async with db.session() as s, s.begin():
        scene = await scenes.create_scene(
            s, chat_id=-5, creator_id=11, file_id="g", file_unique_id="gu", faces=[{"index": 0}], now=NOW
        )
        await scenes.claim_face(s, scene.id, 10, 0, NOW)

    async with db.session() as s, s.begin():
        forgotten = await users.forget_user(s, 10, NOW)
    assert (forgotten.photos, forgotten.jobs) == (1, 1)
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Media).where(Media.user_id == 10)) == 0
        assert await s.scalar(select(func.count()).select_from(Job).where(Job.user_id == 10)) == 0
        assert await scenes.face_of(s, scene.id, 10) is None
        kept = await users.get_user(s, 10)
        # today's quota count survives, with no personal data, so /forget never resets the allowance
        assert kept is not None and (kept.username, kept.language) == (None, None)
        other = await users.get_user(s, 11)
        assert other is not None and other.username == "bob"
        assert await s.scalar(select(func.count()).select_from(Media)) == 1


async def test_forget_does_not_lift_a_ban(db: Database, queue: JobQueue, policy: QuotaPolicy) -> None:
    async with db.session() as s, s.begin():
        await users.set_banned(s, 20, True, admin_id=1)
    async with db.session() as s, s.begin():
        await users.forget_user(s, 20, NOW)
    try:
        await queue.enqueue(spec(20, 1), policy, NOW)
    except UserBanned:
        pass
    else:
        raise AssertionError("a banned user escaped the ban through /forget")


async def test_forget_a_user_with_nothing_stored_removes_the_row(db: Database) -> None:
    async with db.session() as s, s.begin():
        await users.upsert_user(s, 30, language="en")
    async with db.session() as s, s.begin():
        assert await users.forget_user(s, 30, NOW) == users.Forgotten(0, 0, 0, 0, 0, 0, 0)
    async with db.session() as s:
        assert await users.get_user(s, 30) is None


def track(user_id: int, file_id: str) -> dict[str, object]:
    """A scene member's recorded line as the render request carries it."""
    return {"source": "voice", "file_id": file_id, "text": None, "face": 0, "user_id": user_id}


async def test_forget_scrubs_the_users_lines_out_of_other_users_renders(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    member, creator, other = 10, 11, 12
    # a clip the creator already got, with the member's line in it
    old = await queue.enqueue(
        spec(creator, 1, tracks=[track(member, "line-of-10"), track(other, "line-of-12")]), policy, NOW
    )
    assert await queue.claim("w", 60) is not None
    assert await queue.finish(old.id, "w", "video")
    # and a scene whose render is waiting, with the member's line in it too
    async with db.session() as s, s.begin():
        scene = await scenes.create_scene(
            s, chat_id=-5, creator_id=creator, file_id="g", file_unique_id="gu", faces=[], now=NOW
        )
        for face, who in enumerate((member, other)):
            await scenes.claim_face(s, scene.id, who, face, NOW)
            await scenes.set_line(s, scene.id, who, face=face, source="voice", file_id=f"line-of-{who}")
    waiting = await queue.enqueue(
        replace(
            spec(creator, 2, chat_id=-5, tracks=[track(member, "line-of-10b"), track(other, "line-of-12")]),
            scene_id=scene.id,
        ),
        policy,
        NOW,
    )
    untouched = await queue.enqueue(spec(other, 3, tracks=[track(other, "solo-of-12")]), policy, NOW)

    async with db.session() as s, s.begin():
        forgotten = await users.forget_user(s, member, NOW)
    assert (forgotten.lines, forgotten.scrubbed_jobs, forgotten.cancelled_jobs) == (1, 2, 1)

    async with db.read_session() as s:
        payloads = {job.id: job.payload for job in await s.scalars(select(Job))}
        assert "line-of-10" not in str(payloads)  # no recording of the member is left in any job
        assert [t["file_id"] for t in payloads[old.id]["tracks"]] == ["line-of-12"]
        assert [t["file_id"] for t in payloads[waiting.id]["tracks"]] == ["line-of-12"]
        assert payloads[untouched.id]["tracks"] == [track(other, "solo-of-12")]
        fresh = await scenes.get_scene(s, scene.id)
        assert fresh is not None
        assert [(line.user_id, line.file_id) for line in fresh.lines] == [(other, "line-of-12")]
        assert [claim.user_id for claim in fresh.claims] == [other]
        # the render without the member's line is not what the creator asked for: cancelled,
        # refunded, and the scene open again to render anew
        assert fresh.status == SceneStatus.OPEN
        assert (await s.get_one(Job, waiting.id)).status == Status.CANCELLED
        assert (await s.get_one(Job, old.id)).status == Status.DONE
        assert (await quotas.status(s, creator, policy, NOW)).used == 1


async def test_forget_does_not_cancel_a_render_already_being_sent(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    member, creator = 10, 11
    sending = await queue.enqueue(spec(creator, 1, tracks=[track(member, "line-of-10")]), policy, NOW)
    assert await queue.claim("w", 60) is not None
    assert await queue.begin_delivery(sending.id, "w")
    async with db.session() as s, s.begin():
        forgotten = await users.forget_user(s, member, NOW)
    assert (forgotten.scrubbed_jobs, forgotten.cancelled_jobs) == (1, 0)
    fresh = await queue.get(sending.id)
    assert fresh is not None and fresh.status == Status.RUNNING and fresh.payload["tracks"] == []


async def test_forget_keeps_only_the_last_two_days_of_video_counts_so_the_allowance_is_not_reset(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    async with db.session() as s, s.begin():
        await users.upsert_user(s, 40, language="en", username="dee")
    await queue.enqueue(spec(40, 1), policy, NOW - timedelta(days=3))
    await queue.enqueue(spec(40, 2), policy, NOW)
    async with db.session() as s:
        before = await quotas.status(s, 40, policy, NOW)
    async with db.session() as s, s.begin():
        await users.forget_user(s, 40, NOW)
    async with db.session() as s:
        assert await quotas.status(s, 40, policy, NOW) == before  # today's count survives /forget
        kept = list(await s.scalars(select(QuotaEntry.counts_at).where(QuotaEntry.user_id == 40)))
        assert len(kept) == 1 and kept[0] >= NOW - timedelta(days=2)  # the older day's count is gone
        user = await users.get_user(s, 40)
        assert user is not None and (user.username, user.language, user.voice) == (None, None, None)


async def test_style_and_motion_are_remembered_and_forget_clears_them(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    async with db.session() as s, s.begin():
        await users.set_style(s, 40, "calm")  # a user the bot has not stored yet
        await users.set_motion(s, 40, 1.5)
    async with db.session() as s:
        stored = await users.get_user(s, 40)
        assert stored is not None and (stored.style, stored.motion) == ("calm", 1.5)
    await queue.enqueue(spec(40, 1), policy, NOW)  # today's count keeps the row through /forget
    async with db.session() as s, s.begin():
        await users.forget_user(s, 40, NOW)
    async with db.session() as s:
        kept = await users.get_user(s, 40)
        assert kept is not None and (kept.style, kept.motion) == (None, None)
