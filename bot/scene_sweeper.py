"""Idle scenes expire: closed with a short notice, swept every `SWEEP_EVERY` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import ReplyParameters
from telegram.error import TelegramError
from telegram.ext import Application

from bot.runtime import Runtime, utcnow
from bot.scene_view import format_seconds
from bot.texts import language_of, t
from storage import scenes, users

log = logging.getLogger(__name__)

#: Seconds between sweeps for idle scenes.
SWEEP_EVERY = 60.0


async def expire_idle_scenes(
    application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime
) -> list[int]:
    """Closes scenes idle too long, says so in each, and returns their ids."""
    start_sweeper(application)
    minutes = rt.settings.scene_idle_minutes
    async with rt.db.session() as s, s.begin():
        idle = await scenes.expire_idle(s, utcnow(), minutes)
        closing = [(scene.id, scene.chat_id, scene.message_id, scene.creator_id) for scene in idle]
        languages = {}
        for _, _, _, creator_id in closing:
            row = await users.get_user(s, creator_id)
            languages[creator_id] = language_of(row.language if row else None)
    bot = application.bot
    for scene_id, chat_id, message_id, creator_id in closing:
        lang = languages[creator_id]
        log.info("scene %s expired after %s idle minutes", scene_id, minutes)
        if message_id is None:
            continue
        with contextlib.suppress(TelegramError):
            await bot.edit_message_caption(
                chat_id=chat_id,
                message_id=message_id,
                caption=t("scene_expired_caption", lang, minutes=format_seconds(minutes)),
                reply_markup=None,
            )
        with contextlib.suppress(TelegramError):
            await bot.send_message(
                chat_id,
                t("scene_expired", lang, minutes=format_seconds(minutes)),
                reply_parameters=ReplyParameters(message_id=message_id, allow_sending_without_reply=True),
            )
    return [scene_id for scene_id, *_ in closing]


def start_sweeper(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Starts the idle-scene sweeper once per application (its task ends with the runtime's)."""
    rt: Runtime | None = application.bot_data.get("runtime")
    task = application.bot_data.get("scene_sweeper")
    if rt is None or (task is not None and not task.done()):
        return
    task = asyncio.get_running_loop().create_task(_sweep_forever(application, rt), name="scene-sweeper")
    application.bot_data["scene_sweeper"] = task
    rt.background.add(task)  # cancelled in post_shutdown with the other background tasks


async def _sweep_forever(application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime) -> None:
    while True:
        await asyncio.sleep(SWEEP_EVERY)
        try:
            await expire_idle_scenes(application, rt)
        except Exception:
            log.exception("sweeping idle scenes failed; trying again later")
