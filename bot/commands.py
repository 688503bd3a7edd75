"""The user commands: /start, /help, /voice, /quota, /cancel, /privacy, /forget."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import offers, voices
from bot.intake import speaker
from bot.jobs import format_reset
from bot.runtime import runtime, utcnow
from bot.texts import t
from storage import quotas, users

log = logging.getLogger(__name__)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets the user and explains how to make a talking photo."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t("help", who.lang))


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says what the bot can use when a message carries nothing it can."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t("unsupported", who.lang))


async def voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offers the TTS voices, grouped by language, as an inline keyboard."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    rows: list[list[InlineKeyboardButton]] = []
    for language, group in voices.voices_by_language().items():
        # Each language's row opens with a button naming it (tapping it just answers the query).
        heading = InlineKeyboardButton(voices.LANGUAGES[language], callback_data="voice:-")
        buttons = [InlineKeyboardButton(v.label, callback_data=f"voice:{v.id}") for v in group]
        rows.append([heading, *buttons[:2]])
        rows.extend(buttons[i : i + 3] for i in range(2, len(buttons), 3))
    current = voices.resolve_voice(who.voice, who.lang)
    await update.effective_message.reply_text(
        t("voice_menu", who.lang, voice=current.label), reply_markup=InlineKeyboardMarkup(rows)
    )


async def pick_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stores the TTS voice the user tapped."""
    query = update.callback_query
    assert query is not None and query.data is not None
    who, _ = await speaker(update, context)
    chosen = voices.get_voice(query.data.removeprefix("voice:"))
    await query.answer()
    if chosen is None:  # a language heading, or a voice no longer offered
        return
    rt = runtime(context)
    async with rt.db.session() as s, s.begin():
        await users.set_voice(s, who.user_id, chosen.id)
    await query.edit_message_text(t("voice_set", who.lang, voice=chosen.label))


async def quota(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says how many videos the user has made today, how many are left and when the day resets."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    rt = runtime(context)
    async with rt.db.read_session() as s:
        status = await quotas.status(s, who.user_id, rt.policy, utcnow())
    text = t(
        "quota",
        who.lang,
        used=status.used,
        limit=status.limit,
        left=status.left,
        time=format_reset(status.resets_at, rt.settings.quota_timezone),
        timezone=rt.settings.quota_timezone,
    )
    if status.credits > 0:
        text += "\n" + t("quota_credits", who.lang, credits=status.credits)
    await update.effective_message.reply_text(
        text, reply_markup=offers.buy_more_markup(rt.settings, who.lang)
    )


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Cancels the user's newest video, waiting or in the making (the quota is refunded by storage).

    A render in the making stops within seconds: its worker looks at the job while it renders.
    """
    who, _ = await speaker(update, context)
    message = update.effective_message
    assert message is not None
    rt = runtime(context)
    job = await rt.queue.cancel(who.user_id)
    if job is None:
        running = await rt.queue.pending_for_user(who.user_id)  # none queued: the one in the making
        if running:
            job = await rt.queue.cancel(who.user_id, running[-1].id)
    if job is None:
        await message.reply_text(t("nothing_to_cancel", who.lang))
        return
    await message.reply_text(t("cancelled", who.lang))
    status_id = job.status_message_id
    if status_id:
        try:
            await context.bot.delete_message(job.chat_id, status_id)
        except Exception:  # the acknowledgement may already be gone; cancelling succeeded anyway
            log.debug("could not delete the status message of job %s", job.id, exc_info=True)


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says what is stored about the user and for how long."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    settings = runtime(context).settings
    speech = t("privacy_tts_online" if settings.tts_online else "privacy_tts_offline", who.lang)
    speech += "\n" + t("privacy_payments", who.lang)
    await update.effective_message.reply_text(
        t(
            "privacy",
            who.lang,
            days=settings.retention_days,
            minutes=settings.photo_memory_minutes,
            speech=speech,
        )
    )


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Asks the user to confirm deleting everything stored about them."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t("forget_yes", who.lang), callback_data="forget:yes"),
                InlineKeyboardButton(t("forget_no", who.lang), callback_data="forget:no"),
            ]
        ]
    )
    await update.effective_message.reply_text(t("forget_confirm", who.lang), reply_markup=keyboard)


async def confirm_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Deletes every row stored about the user (no file of theirs is kept on disk), once they confirmed."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    who, _ = await speaker(update, context)
    await query.answer()
    if query.data != "forget:yes":
        await query.edit_message_text(t("forget_kept", who.lang))
        return
    rt = runtime(context)
    async with rt.db.session() as s, s.begin():
        forgotten = await users.forget_user(s, who.user_id)
    log.info("forgot user %s: %s", who.user_id, forgotten)
    # The chat's pending voice note is the user's too.
    if context.chat_data is not None:
        context.chat_data.pop("pending", None)
    await query.edit_message_text(t("forgotten", who.lang))
