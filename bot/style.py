"""/style: the user picks how the person in their photos performs (a style and a motion scale).

The choice is stored on the user's row, so every replica and restart sees it; renders read it
through `bot.styles`. The menu message is edited in place after each tap, its ticks moved to the
new choice, so the user can pick a style and a motion amount from one message.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.callbacks import motion_data, parse_motion, parse_style, style_data
from bot.intake import speaker
from bot.runtime import runtime
from bot.styles import MOTION_STEPS, StyleChoice, choice_of, motion_label, style_label
from bot.texts import t
from generator.types import STYLES
from storage import users

#: Style buttons per keyboard row.
ROW = 3


async def style(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the current style and motion with buttons to change them."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        describe("style_menu", who.choice, who.lang),
        reply_markup=keyboard(who.choice, who.lang),
    )


async def pick_style(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remembers the style the user tapped."""
    assert update.callback_query is not None
    await _remember(update, context, style=parse_style(update.callback_query.data))


async def pick_motion(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remembers the motion scale the user tapped."""
    assert update.callback_query is not None
    await _remember(update, context, motion=parse_motion(update.callback_query.data))


async def _remember(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    style: str | None = None,
    motion: float | None = None,
) -> None:
    """Saves a tapped style or motion (neither: data /style never offered) and shows the choice."""
    query = update.callback_query
    assert query is not None
    who, _ = await speaker(update, context)
    if style is None and motion is None:
        await query.answer(t("button_unknown", who.lang), show_alert=True)
        return
    rt = runtime(context)
    async with rt.db.session() as s, s.begin():
        if style is not None:
            await users.set_style(s, who.user_id, style)
        if motion is not None:
            await users.set_motion(s, who.user_id, motion)
        choice = choice_of(await users.get_user(s, who.user_id))
    await query.answer()
    try:
        await query.edit_message_text(
            describe("style_set", choice, who.lang), reply_markup=keyboard(choice, who.lang)
        )
    except BadRequest as exc:
        if "not modified" not in exc.message:  # the menu already shows this choice: nothing to do
            raise


def describe(key: str, choice: StyleChoice, lang: str) -> str:
    """The catalog message `key` naming the choice's style and motion."""
    return t(key, lang, style=style_label(choice.style, lang), motion=motion_label(choice.motion, lang))


def keyboard(choice: StyleChoice, lang: str) -> InlineKeyboardMarkup:
    """The style buttons, then the motion buttons, the current ones ticked."""

    def tick(label: str, chosen: bool) -> str:
        return f"✓ {label}" if chosen else label

    styles = [
        InlineKeyboardButton(tick(style_label(s, lang), s == choice.style), callback_data=style_data(s))
        for s in STYLES
    ]
    motions = [
        InlineKeyboardButton(tick(motion_label(m, lang), m == choice.motion), callback_data=motion_data(m))
        for m in MOTION_STEPS.values()
    ]
    return InlineKeyboardMarkup([*(styles[i : i + ROW] for i in range(0, len(styles), ROW)), motions])
