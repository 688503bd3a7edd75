"""The scene message: its caption (cast, lines, total) and buttons, rewritten as the scene changes."""

from __future__ import annotations

import contextlib
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError
from telegram.ext import Application

from bot import texts
from bot.callbacks import scene_data
from bot.runtime import Runtime
from bot.texts import language_of, t
from storage import Scene, SceneStatus, scenes, users

#: The bot's application: its Bot and the per-chat data where member names are remembered.
#: (Taken instead of a handler's context, so a worker's callback can redraw a scene too.)
App = Application[Any, Any, Any, Any, Any, Any]
#: Buttons per keyboard row.
ROW = 4


async def refresh_scene(app: App, rt: Runtime, scene_id: int, *, unless_caption: str | None = None) -> None:
    """Rewrites the scene message: cast, lines, total, and the buttons while it is open.

    `unless_caption`: the caption the message shows now; no edit if it is still right.
    """
    async with rt.db.read_session() as s:
        scene = await scenes.get_scene(s, scene_id)
        if scene is None or scene.message_id is None:
            return
        creator = await users.get_user(s, scene.creator_id)
        lang = language_of(creator.language if creator else None)
        caption, keyboard = await scene_view(app, rt, scene, lang)
    if caption == unless_caption:
        return
    with contextlib.suppress(TelegramError):  # "message is not modified" and a deleted scene message
        await app.bot.edit_message_caption(
            chat_id=scene.chat_id, message_id=scene.message_id, caption=caption, reply_markup=keyboard
        )


async def scene_view(
    app: App, rt: Runtime, scene: Scene, lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The scene message's caption and keyboard, in the creator's language."""
    creator = await name_of(app, scene.chat_id, scene.creator_id)
    holders = {claim.face: claim.user_id for claim in scene.claims}
    lines = {line.user_id: line for line in scene.lines}
    usable = [f for f in scene.faces if f.get("usable")]
    rows = [t("scene_title", lang, creator=creator)]
    total = 0.0
    for number, face in enumerate(usable, start=1):
        user_id = holders.get(face["index"])
        if user_id is None:
            rows.append(t("scene_face_free", lang, number=number))
            continue
        name = await name_of(app, scene.chat_id, user_id)
        line = lines.get(user_id)
        if line is None or line.face != face["index"]:
            rows.append(t("scene_face_waiting", lang, number=number, name=name))
        else:
            total += line.duration or 0.0
            seconds = format_seconds(line.duration) if line.duration else t("scene_unknown_length", lang)
            rows.append(t("scene_face_ready", lang, number=number, name=name, seconds=seconds))
    unusable = [f for f in scene.faces if not f.get("usable")]
    if unusable:
        reasons = ", ".join(sorted({reason_text(f.get("reason"), lang) for f in unusable}))
        rows.append(t("scene_unusable", lang, count=len(unusable), reasons=reasons))
    limit = rt.settings.max_clip_seconds
    key = "scene_total_over" if total > limit + 0.5 else "scene_total"
    rows.append(t(key, lang, total=format_seconds(total), limit=format_seconds(limit)))
    if scene.status in (SceneStatus.RENDERING, SceneStatus.DONE):
        rows.append(t("scene_rendering", lang, count=len(lines)))
        return "\n".join(rows), None
    if scene.status == SceneStatus.EXPIRED:
        return t("scene_expired_caption", lang, minutes=format_seconds(rt.settings.scene_idle_minutes)), None
    rows.append("")
    rows.append(t("scene_how", lang, creator=creator))
    buttons = [
        InlineKeyboardButton(
            t("scene_claim_button", lang, number=number),
            callback_data=scene_data(scene.id, "claim", face["index"]),
        )
        for number, face in enumerate(usable, start=1)
    ]
    keyboard = [buttons[i : i + ROW] for i in range(0, len(buttons), ROW)]
    keyboard.append(
        [InlineKeyboardButton(t("scene_render_button", lang), callback_data=scene_data(scene.id, "render"))]
    )
    return "\n".join(rows), InlineKeyboardMarkup(keyboard)


async def name_of(app: App, chat_id: int, user_id: int) -> str:
    """A member's first name: remembered from their updates, else asked of Telegram."""
    names: dict[int, str] = app.chat_data[chat_id].setdefault("scene_names", {})
    if user_id in names:
        return names[user_id]
    try:
        member = await app.bot.get_chat_member(chat_id, user_id)
        names[user_id] = member.user.first_name
    except TelegramError:
        return f"#{user_id}"
    return names[user_id]


def usable_indices(scene: Scene) -> list[int]:
    """The indices of the scene photo's usable faces, left to right."""
    return [f["index"] for f in scene.faces if f.get("usable")]


def number_of(scene: Scene, face: int) -> int:
    """The number a face carries on the scene's picture (usable faces, left to right, from 1)."""
    usable = usable_indices(scene)
    return usable.index(face) + 1 if face in usable else face + 1


def reason_text(reason: str | None, lang: str) -> str:
    """Why a face can't be used, in a few words."""
    key = f"reason_{reason}"
    return t(key if key in texts.CATALOG else "reason_other", lang)


def format_seconds(value: float) -> str:
    """Seconds as people read them: whole numbers, one decimal under ten."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
