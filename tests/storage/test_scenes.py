"""Group scenes: one member per face, one line per member, idle expiry, and the render's outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from storage import (
    Database,
    FaceTaken,
    Job,
    JobQueue,
    QuotaPolicy,
    Scene,
    SceneNotOpen,
    SceneStatus,
    Status,
    quotas,
    scenes,
)
from tests.storage.helpers import NOW, spec

FACES = [
    {"index": 0, "usable": True, "reason": None},
    {"index": 1, "usable": True, "reason": None},
    {"index": 2, "usable": False, "reason": "too_small"},
]


async def new_scene(db: Database, chat_id: int = -100) -> Scene:
    async with db.session() as s, s.begin():
        scene = await scenes.create_scene(
            s,
            chat_id=chat_id,
            creator_id=1,
            file_id="photo",
            file_unique_id="photo-u",
            faces=FACES,
            photo_message_id=10,
            now=NOW,
        )
        await scenes.set_scene_message(s, scene.id, 11)
        return scene


async def test_one_member_per_face_and_moving_frees_the_old_face(db: Database) -> None:
    scene = await new_scene(db)
    async with db.session() as s, s.begin():
        await scenes.claim_face(s, scene.id, 1, 0, NOW)
        await scenes.claim_face(s, scene.id, 1, 0, NOW)  # claiming one's own face again is fine
    async with db.session() as s, s.begin():
        with pytest.raises(FaceTaken) as caught:
            await scenes.claim_face(s, scene.id, 2, 0, NOW)
        assert caught.value.user_id == 1
        await scenes.claim_face(s, scene.id, 2, 1, NOW)  # the transaction is still usable
    async with db.session() as s, s.begin():
        await scenes.claim_face(s, scene.id, 1, 2, NOW)  # member 1 moves on …
        await scenes.claim_face(s, scene.id, 3, 0, NOW)  # … so face 0 is free for member 3
    async with db.session() as s:
        fresh = await scenes.get_scene(s, scene.id)
        assert fresh is not None
        assert [(c.face, c.user_id) for c in fresh.claims] == [(0, 3), (1, 2), (2, 1)]


async def test_a_line_per_member_replaced_in_place_in_recorded_order(db: Database) -> None:
    scene = await new_scene(db)
    async with db.session() as s, s.begin():
        await scenes.claim_face(s, scene.id, 1, 0, NOW)
        await scenes.claim_face(s, scene.id, 2, 1, NOW)
        await scenes.set_line(s, scene.id, 2, face=1, source="voice", file_id="v2", duration=2.0, now=NOW)
        await scenes.set_line(
            s, scene.id, 1, face=0, source="text", text="hi", voice="en-US-AriaNeural", now=NOW
        )
        # member 2 records again: the new take replaces the old one and keeps its place
        await scenes.set_line(s, scene.id, 2, face=1, source="voice", file_id="v2b", duration=3.0, now=NOW)
        await scenes.claim_face(s, scene.id, 1, 2, NOW)  # moving takes the line along
    async with db.session() as s:
        lines = await scenes.lines(s, scene.id)
    assert [(ln.user_id, ln.face, ln.file_id or ln.text, ln.duration) for ln in lines] == [
        (2, 1, "v2b", 3.0),
        (1, 2, "hi", None),
    ]


async def test_scene_is_found_from_its_message_or_its_photo(db: Database) -> None:
    scene = await new_scene(db)
    await new_scene(db, chat_id=-200)
    async with db.session() as s:
        by_message = await scenes.scene_for_message(s, -100, 11)
        by_photo = await scenes.scene_for_message(s, -100, 10)
        assert by_message is not None and by_photo is not None
        assert by_message.id == by_photo.id == scene.id
        assert await scenes.scene_for_message(s, -100, 99) is None


async def test_idle_scenes_expire_and_active_ones_do_not(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    idle = await new_scene(db)
    active = await new_scene(db)
    rendering = await new_scene(db)
    async with db.session() as s, s.begin():
        await scenes.touch(s, active.id, NOW + timedelta(minutes=25))
    await render(queue, policy, rendering, 40)  # its render job moves it to RENDERING
    async with db.session() as s, s.begin():
        expired = await scenes.expire_idle(s, NOW + timedelta(minutes=31), idle_minutes=30)
    assert [sc.id for sc in expired] == [idle.id]
    async with db.session() as s:
        assert (await scenes.get_scene(s, idle.id)).status == SceneStatus.EXPIRED  # type: ignore[union-attr]
        assert (await scenes.get_scene(s, active.id)).status == SceneStatus.OPEN  # type: ignore[union-attr]
        assert [sc.id for sc in await scenes.open_scenes(s, -100)] == [active.id]


async def scene_state(db: Database, scene_id: int) -> tuple[SceneStatus, int | None]:
    async with db.read_session() as s:
        scene = await scenes.get_scene(s, scene_id)
        assert scene is not None
        return scene.status, scene.job_id


async def render(queue: JobQueue, policy: QuotaPolicy, scene: Scene, message_id: int) -> Job:
    """The creator asks for the scene's clip: enqueue links the scene in the same transaction."""
    return await queue.enqueue(
        replace(spec(1, message_id, chat_id=scene.chat_id), scene_id=scene.id), policy, NOW
    )


async def test_a_delivered_render_marks_its_scene_done(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    scene = await new_scene(db)
    job = await render(queue, policy, scene, 50)
    assert await scene_state(db, scene.id) == (SceneStatus.RENDERING, job.id)
    claimed = await queue.claim("w", 60)
    assert claimed is not None and claimed.id == job.id
    assert await queue.finish(job.id, "w", "video-file-id")
    assert await scene_state(db, scene.id) == (SceneStatus.DONE, job.id)


async def test_a_refused_failed_or_cancelled_render_reopens_its_scene(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    refused, vanished, cancelled = [await new_scene(db, chat_id=-100 - n) for n in range(3)]
    refused_job = await render(queue, policy, refused, 50)
    vanished_job = await render(queue, policy, vanished, 51)
    cancelled_job = await render(queue, policy, cancelled, 52)

    claimed = await queue.claim("w", 60)
    assert claimed is not None and claimed.id == refused_job.id
    assert await queue.fail(refused_job.id, "w", "no_speech", refund=True)  # the generator refused a line
    for _ in range(3):  # the worker dies on each of the three attempts
        assert (await queue.claim("w", 60, NOW)) is not None
        await queue.reclaim_expired(NOW + timedelta(minutes=5))
    assert (await queue.get(vanished_job.id)).status == Status.FAILED  # type: ignore[union-attr]
    assert await queue.cancel(1, cancelled_job.id) is not None

    for scene, job in ((refused, refused_job), (vanished, vanished_job), (cancelled, cancelled_job)):
        assert await scene_state(db, scene.id) == (SceneStatus.OPEN, job.id)
    # open again means the creator can render again, under a new job
    again = await render(queue, policy, refused, 53)
    assert await scene_state(db, refused.id) == (SceneStatus.RENDERING, again.id)


async def test_a_scene_already_rendering_is_not_rendered_twice(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    scene = await new_scene(db)
    first = await render(queue, policy, scene, 50)
    with pytest.raises(SceneNotOpen):
        await render(queue, policy, scene, 51)
    assert await scene_state(db, scene.id) == (SceneStatus.RENDERING, first.id)
    assert [job.id for job in await queue.pending_for_user(1)] == [first.id]
    async with db.read_session() as s:
        assert (await quotas.status(s, 1, policy, NOW)).used == 1  # the refused request cost nothing
