"""Queries about photos the bot saw (newest per chat, replies, cached analyses) and requests awaiting one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage._sql import ensure_user, insert_for
from storage.models import Media, PendingRequest, PhotoAnalysis, utcnow


async def save_photo(
    s: AsyncSession,
    *,
    chat_id: int,
    user_id: int,
    message_id: int,
    file_id: str,
    file_unique_id: str,
    path: str | None,
    analysis: dict[str, Any] | None,
    expires_at: datetime,
    now: datetime | None = None,
) -> Media:
    """Stores a photo and its face analysis (cached by file_unique_id for the next time it is seen)."""
    now = now or utcnow()
    await ensure_user(s, user_id)
    cached: PhotoAnalysis | None = None
    if analysis is not None:
        upsert = insert_for(s, PhotoAnalysis).values(
            file_unique_id=file_unique_id, data=analysis, created_at=now
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[PhotoAnalysis.file_unique_id],
            set_={"data": upsert.excluded.data, "created_at": now},
        )
        await s.execute(upsert)
        cached = await s.scalar(
            select(PhotoAnalysis)
            .where(PhotoAnalysis.file_unique_id == file_unique_id)
            .execution_options(populate_existing=True)
        )
    else:
        cached = await s.scalar(select(PhotoAnalysis).where(PhotoAnalysis.file_unique_id == file_unique_id))
    media = Media(
        chat_id=chat_id,
        user_id=user_id,
        message_id=message_id,
        file_id=file_id,
        file_unique_id=file_unique_id,
        path=path,
        photo_analysis=cached,
        expires_at=expires_at,
        created_at=now,
    )
    s.add(media)
    await s.flush()
    return media


async def cached_analysis(s: AsyncSession, file_unique_id: str) -> dict[str, Any] | None:
    """The stored analysis of a picture seen before (a forwarded or re-sent photo), if any."""
    return await s.scalar(select(PhotoAnalysis.data).where(PhotoAnalysis.file_unique_id == file_unique_id))


async def get_media(s: AsyncSession, media_id: int) -> Media | None:
    """One stored photo by id."""
    return await s.get(Media, media_id)


async def last_photo(
    s: AsyncSession, chat_id: int, user_id: int, now: datetime | None = None
) -> Media | None:
    """The user's newest photo in this chat that has not expired yet."""
    now = now or utcnow()
    return await s.scalar(
        select(Media)
        .where(Media.chat_id == chat_id, Media.user_id == user_id, Media.expires_at > now)
        .order_by(Media.created_at.desc(), Media.id.desc())
        .limit(1)
    )


async def photo_for_message(s: AsyncSession, chat_id: int, message_id: int) -> Media | None:
    """The photo sent in that message, for "reply to an earlier photo" (expired or not)."""
    return await s.scalar(
        select(Media)
        .where(Media.chat_id == chat_id, Media.message_id == message_id)
        .order_by(Media.id.desc())
        .limit(1)
    )


async def set_face(s: AsyncSession, media_id: int, face: int | None, chorus: bool = False) -> None:
    """Remembers which face (or all of them, chorus) should speak in this photo."""
    media = await s.get_one(Media, media_id)
    media.face, media.chorus = face, chorus
    await s.flush()


async def set_style(s: AsyncSession, media_id: int, style: str | None) -> Media:
    """Remembers the style this photo's videos use (a caption keyword), whatever the user's /style."""
    media = await s.get_one(Media, media_id)
    media.style = style
    await s.flush()
    return media


async def save_pending(
    s: AsyncSession,
    *,
    chat_id: int,
    user_id: int,
    message_id: int,
    track: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Keeps a request sent before any photo; a newer one from the same user replaces it."""
    now = now or utcnow()
    await ensure_user(s, user_id)
    await s.execute(
        delete(PendingRequest).where(PendingRequest.chat_id == chat_id, PendingRequest.user_id == user_id)
    )
    s.add(
        PendingRequest(chat_id=chat_id, user_id=user_id, message_id=message_id, track=track, created_at=now)
    )
    await s.flush()


async def take_pending(
    s: AsyncSession, chat_id: int, user_id: int, newer_than: datetime
) -> tuple[int, dict[str, Any]] | None:
    """Removes and returns (message id, track) of the user's pending request, if newer than the cut-off."""
    pending = await s.scalar(
        select(PendingRequest).where(PendingRequest.chat_id == chat_id, PendingRequest.user_id == user_id)
    )
    if pending is None:
        return None
    await s.delete(pending)
    await s.flush()
    if pending.created_at <= newer_than:
        return None
    return pending.message_id, pending.track
