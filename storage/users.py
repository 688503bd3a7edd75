"""Queries about users and chats: language, chosen voice, bans (audited) and /forget."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage._sql import ensure_user, insert_for
from storage.models import (
    AuditEntry,
    Chat,
    Job,
    Media,
    PendingRequest,
    QuotaEntry,
    Scene,
    SceneClaim,
    SceneLine,
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


async def upsert_chat(s: AsyncSession, chat_id: int, kind: str, title: str | None = None) -> Chat:
    """Creates or refreshes a chat row (kind: private, group, supergroup, channel)."""
    await s.execute(
        insert_for(s, Chat)
        .values(id=chat_id, kind=kind, title=title)
        .on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=[Chat.id]
        )
    )
    chat = await s.get_one(Chat, chat_id, populate_existing=True)
    chat.kind, chat.title = kind, title
    await s.flush()
    return chat


async def forget_user(s: AsyncSession, user_id: int, now: datetime | None = None) -> list[str]:
    """Deletes everything stored about a user; returns the local files the caller must delete.

    Two things survive, both without personal content: a ban (a banned user cannot lift it by
    forgetting themselves) and the last two days of quota counts (nor reset their allowance).
    """
    now = now or utcnow()
    paths = [p for p in (await s.scalars(select(Media.path).where(Media.user_id == user_id))) if p]
    await s.execute(delete(Media).where(Media.user_id == user_id))
    await s.execute(delete(PendingRequest).where(PendingRequest.user_id == user_id))
    own_scenes = select(Scene.id).where(Scene.creator_id == user_id).scalar_subquery()
    await s.execute(delete(SceneLine).where(SceneLine.scene_id.in_(own_scenes)))
    await s.execute(delete(SceneClaim).where(SceneClaim.scene_id.in_(own_scenes)))
    await s.execute(delete(Scene).where(Scene.creator_id == user_id))
    await s.execute(delete(SceneLine).where(SceneLine.user_id == user_id))
    await s.execute(delete(SceneClaim).where(SceneClaim.user_id == user_id))
    recent = now - LEDGER_KEPT_AFTER_FORGET
    await s.execute(delete(QuotaEntry).where(QuotaEntry.user_id == user_id, QuotaEntry.counts_at < recent))
    await s.execute(delete(Job).where(Job.user_id == user_id))
    user = await s.get(User, user_id, populate_existing=True)
    if user is None:
        return paths
    keeps_ledger = await s.scalar(select(exists().where(QuotaEntry.user_id == user_id)))
    if user.banned or keeps_ledger:
        user.username = user.language = user.voice = None
        if not user.banned:
            await s.execute(delete(AuditEntry).where(AuditEntry.target_user_id == user_id))
    else:
        await s.execute(delete(AuditEntry).where(AuditEntry.target_user_id == user_id))
        await s.delete(user)
    await s.flush()
    return paths
