"""Queries for group-chat scenes: one photo, members claim faces and record lines, one render.

Rules kept by the database itself: one member per face and one face per member
(unique (scene_id, face) and (scene_id, user_id)); one line per member per scene
(re-recording replaces the line and keeps its place in the recorded order).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import FaceTaken
from storage.models import Scene, SceneClaim, SceneLine, SceneStatus, Status, utcnow


async def create_scene(
    s: AsyncSession,
    *,
    chat_id: int,
    creator_id: int,
    file_id: str,
    file_unique_id: str,
    faces: list[dict[str, Any]],
    photo_message_id: int | None = None,
    message_id: int | None = None,
    now: datetime | None = None,
) -> Scene:
    """Opens a scene on a photo; `faces` is [{"index": 0, "usable": True, "reason": None}, …]."""
    now = now or utcnow()
    scene = Scene(
        chat_id=chat_id,
        creator_id=creator_id,
        photo_file_id=file_id,
        photo_file_unique_id=file_unique_id,
        photo_message_id=photo_message_id,
        message_id=message_id,
        faces=faces,
        status=SceneStatus.OPEN,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        claims=[],
        lines=[],
    )
    s.add(scene)
    await s.flush()
    return scene


async def get_scene(s: AsyncSession, scene_id: int) -> Scene | None:
    """The scene with its claims (by face) and lines (in recorded order), fresh from the database."""
    return await s.get(Scene, scene_id, populate_existing=True)


async def scene_for_message(s: AsyncSession, chat_id: int, message_id: int) -> Scene | None:
    """The scene a reply points at: its scene message, or the photo message it was made from."""
    return await s.scalar(
        select(Scene)
        .where(
            Scene.chat_id == chat_id,
            or_(Scene.message_id == message_id, Scene.photo_message_id == message_id),
        )
        .order_by(Scene.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def set_scene_message(s: AsyncSession, scene_id: int, message_id: int) -> None:
    """Remembers the bot's scene message, which members reply to."""
    scene = await s.get_one(Scene, scene_id)
    scene.message_id = message_id
    await s.flush()


async def claim_face(
    s: AsyncSession, scene_id: int, user_id: int, face: int, now: datetime | None = None
) -> SceneClaim:
    """Lets a member speak for a face; moving to another face frees the old one.

    Raises FaceTaken when another member holds that face (also when two members race for it).
    The member's recorded line, if any, moves to the new face with them.
    """
    now = now or utcnow()
    holder = await s.scalar(
        select(SceneClaim).where(SceneClaim.scene_id == scene_id, SceneClaim.face == face)
    )
    if holder is not None:
        if holder.user_id != user_id:
            raise FaceTaken(scene_id, face, holder.user_id)
        return holder
    mine = await s.scalar(
        select(SceneClaim).where(SceneClaim.scene_id == scene_id, SceneClaim.user_id == user_id)
    )
    try:
        # a savepoint, so losing a race leaves the caller's transaction usable
        async with s.begin_nested():
            if mine is None:
                mine = SceneClaim(scene_id=scene_id, user_id=user_id, face=face, created_at=now)
                s.add(mine)
            else:
                mine.face = face
            await s.flush()
    except IntegrityError:
        winner = await s.scalar(
            select(SceneClaim.user_id).where(SceneClaim.scene_id == scene_id, SceneClaim.face == face)
        )
        raise FaceTaken(scene_id, face, winner if winner is not None else 0) from None
    line = await s.scalar(
        select(SceneLine).where(SceneLine.scene_id == scene_id, SceneLine.user_id == user_id)
    )
    if line is not None:
        line.face = face
    await touch(s, scene_id, now)
    return mine


async def release_face(s: AsyncSession, scene_id: int, user_id: int, now: datetime | None = None) -> bool:
    """Frees the member's face (their line stays until they record again or the scene ends)."""
    mine = await s.scalar(
        select(SceneClaim).where(SceneClaim.scene_id == scene_id, SceneClaim.user_id == user_id)
    )
    if mine is None:
        return False
    await s.delete(mine)
    await touch(s, scene_id, now)
    return True


async def face_of(s: AsyncSession, scene_id: int, user_id: int) -> int | None:
    """The face the member claimed in the scene, if any."""
    return await s.scalar(
        select(SceneClaim.face).where(SceneClaim.scene_id == scene_id, SceneClaim.user_id == user_id)
    )


async def set_line(
    s: AsyncSession,
    scene_id: int,
    user_id: int,
    *,
    face: int,
    source: str,
    file_id: str | None = None,
    text: str | None = None,
    voice: str | None = None,
    duration: float | None = None,
    phonemes: list[list[Any]] | None = None,
    now: datetime | None = None,
) -> SceneLine:
    """Records the member's line; a second recording replaces the first and keeps its place."""
    now = now or utcnow()
    line = await s.scalar(
        select(SceneLine).where(SceneLine.scene_id == scene_id, SceneLine.user_id == user_id)
    )
    if line is None:
        last = await s.scalar(select(func.max(SceneLine.seq)).where(SceneLine.scene_id == scene_id))
        line = SceneLine(scene_id=scene_id, user_id=user_id, seq=(last or 0) + 1, created_at=now)
        s.add(line)
    line.face, line.source, line.file_id, line.text = face, source, file_id, text
    line.voice, line.duration, line.phonemes, line.updated_at = voice, duration, phonemes, now
    await s.flush()
    await touch(s, scene_id, now)
    return line


async def lines(s: AsyncSession, scene_id: int) -> list[SceneLine]:
    """The scene's lines in recorded order."""
    return list(
        await s.scalars(
            select(SceneLine)
            .where(SceneLine.scene_id == scene_id)
            .order_by(SceneLine.seq, SceneLine.id)
            .execution_options(populate_existing=True)
        )
    )


async def touch(s: AsyncSession, scene_id: int, now: datetime | None = None) -> None:
    """Records activity, so the scene is not expired while members are still at it."""
    now = now or utcnow()
    scene = await s.get_one(Scene, scene_id)
    scene.last_activity_at = scene.updated_at = now
    await s.flush()


async def expire_idle(s: AsyncSession, now: datetime, idle_minutes: float) -> list[Scene]:
    """Closes open scenes idle for `idle_minutes`; returns them so the bot can say so."""
    cutoff = now - timedelta(minutes=idle_minutes)
    idle = list(
        await s.scalars(
            select(Scene)
            .where(Scene.status == SceneStatus.OPEN, Scene.last_activity_at < cutoff)
            .order_by(Scene.id)
            .with_for_update(skip_locked=True)
        )
    )
    for scene in idle:
        scene.status = SceneStatus.EXPIRED
        scene.updated_at = now
    await s.flush()
    return idle


async def open_scenes(s: AsyncSession, chat_id: int) -> list[Scene]:
    """The chat's scenes still collecting lines, newest first."""
    return list(
        await s.scalars(
            select(Scene)
            .where(Scene.chat_id == chat_id, Scene.status == SceneStatus.OPEN)
            .order_by(Scene.id.desc())
        )
    )


async def settle_render(s: AsyncSession, job_id: int, outcome: Status, now: datetime) -> None:
    """The scene rendered by this job follows its outcome, in the caller's (the job's) transaction.

    Done → the scene is DONE (retention can reach it). Failed or cancelled → it is OPEN again, so
    members can record again and the creator render again. Only the scene's current render moves
    it: a stale job (the scene re-rendered since) finds no scene in RENDERING pointing at it.
    """
    status = SceneStatus.DONE if outcome == Status.DONE else SceneStatus.OPEN
    await s.execute(
        update(Scene)
        .where(Scene.job_id == job_id, Scene.status == SceneStatus.RENDERING)
        .values(status=status, updated_at=now, last_activity_at=now)
        .execution_options(synchronize_session=False)
    )
