"""Admin commands (ids from settings.admin_ids): /stats, /grant USER N, /ban USER, /unban USER.

/refund USER CHARGE_ID lives with the other Stars handlers in bot/payments.py.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.intake import speaker
from bot.runtime import runtime
from bot.texts import t
from storage import payments, quotas, users


async def _admin_speaker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """The admin's language, or None (after saying so) when the sender is not an admin."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    if who.user_id not in runtime(context).settings.admin_ids:
        await update.effective_message.reply_text(t("admin_only", who.lang))
        return None
    return who.lang


def _ints(args: list[str] | None, count: int) -> list[int] | None:
    """The first `count` command arguments as integers, or None when they are not."""
    args = args or []
    if len(args) < count:
        return None
    try:
        return [int(arg) for arg in args[:count]]
    except ValueError:
        return None


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the queue and usage counters."""
    lang = await _admin_speaker(update, context)
    if lang is None:
        return
    rt = runtime(context)
    figures = await rt.queue.stats()
    async with rt.db.read_session() as s:
        money = await payments.stats(s)
    figures |= {
        "stars_earned": money.stars_earned,
        "stars_refunded": money.stars_refunded,
        "credits_sold": money.credits_sold,
        "credits_spent": money.credits_spent,
        "credits_refunded": money.credits_revoked,
    }
    lines = "\n".join(f"{name}: {value}" for name, value in sorted(figures.items()))
    assert update.effective_message is not None
    await update.effective_message.reply_text(t("stats", lang, lines=lines))


async def grant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Gives a user N extra videos for today (audited)."""
    lang = await _admin_speaker(update, context)
    if lang is None:
        return
    assert update.effective_message is not None and update.effective_user is not None
    numbers = _ints(context.args, 2)
    if numbers is None:
        await update.effective_message.reply_text(t("grant_usage", lang))
        return
    user_id, count = numbers
    rt = runtime(context)
    async with rt.db.session() as s, s.begin():
        await quotas.grant(s, user_id, count, update.effective_user.id)
    await update.effective_message.reply_text(t("granted", lang, count=count, user=user_id))


async def ban(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Bans (/ban) or unbans (/unban) a user (audited)."""
    lang = await _admin_speaker(update, context)
    if lang is None:
        return
    assert update.effective_message is not None and update.effective_user is not None
    text = update.effective_message.text or ""
    command = text.split()[0].lstrip("/").split("@")[0]
    numbers = _ints(context.args, 1)
    if numbers is None:
        await update.effective_message.reply_text(t("ban_usage", lang, command=command))
        return
    banned = command == "ban"
    rt = runtime(context)
    async with rt.db.session() as s, s.begin():
        await users.set_banned(s, numbers[0], banned, update.effective_user.id)
    key = "user_banned" if banned else "user_unbanned"
    await update.effective_message.reply_text(t(key, lang, user=numbers[0]))
