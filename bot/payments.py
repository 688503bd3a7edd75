"""Telegram Stars: /buy and its packs, pre-checkout, successful_payment, refunds, /paysupport.

Digital goods in Telegram bots are sold in Stars (`XTR`): an invoice with no payment provider
and one price. Telegram asks the bot to confirm each payment (`pre_checkout_query`, answered
within 10 s) and reports a completed one as the user's `successful_payment` message; only that
message credits the pack, once per `telegram_payment_charge_id` (storage.payments). Credits are
spent after the day's free videos, in the enqueue transaction (storage.quotas).

A pack travels in the invoice payload as "pack:<videos>:<stars>", so a payment credits what the
user was offered even if the operator changes STARS_PACKS meanwhile; a pre-checkout for a pack
no longer offered is refused, and nothing is charged.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.intake import speaker
from bot.offers import BUY_MENU, BUY_PREFIX, pack_of, payload_of
from bot.runtime import runtime, utcnow
from bot.settings import Settings
from bot.texts import language_of, t
from storage import payments as ledger
from storage import quotas, users
from storage.errors import PaymentNotFound

log = logging.getLogger(__name__)

CURRENCY = "XTR"


def _packs_markup(settings: Settings, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("buy_pack_button", lang, videos=videos, stars=stars),
                    callback_data=f"{BUY_PREFIX}{videos}:{stars}",
                )
            ]
            for videos, stars in settings.stars_packs
        ]
    )


async def buy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offers the packs of videos for sale as buttons."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    settings = runtime(context).settings
    if not settings.stars_packs:
        await update.effective_message.reply_text(t("buy_off", who.lang))
        return
    await update.effective_message.reply_text(
        t("buy_menu", who.lang), reply_markup=_packs_markup(settings, who.lang)
    )


async def pick_pack(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Sends the invoice for the pack tapped (or the packs, from a "Buy more" button)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    who, _ = await speaker(update, context)
    settings = runtime(context).settings
    await query.answer()
    if not settings.stars_packs:
        await context.bot.send_message(who.chat_id, t("buy_off", who.lang))
        return
    if query.data == BUY_MENU:
        await context.bot.send_message(
            who.chat_id, t("buy_menu", who.lang), reply_markup=_packs_markup(settings, who.lang)
        )
        return
    pack = pack_of("pack:" + query.data.removeprefix(BUY_PREFIX))
    if pack is None or pack not in settings.stars_packs:
        await context.bot.send_message(who.chat_id, t("pack_gone", who.lang))
        return
    videos, stars = pack
    await context.bot.send_invoice(
        chat_id=who.chat_id,
        title=t("invoice_title", who.lang, videos=videos),
        description=t("invoice_description", who.lang, videos=videos),
        payload=payload_of(pack),
        currency=CURRENCY,
        # Stars need no payment provider: provider_token is left out (PTB would not send "" as is).
        prices=[LabeledPrice(t("invoice_title", who.lang, videos=videos), stars)],
    )


async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirms a payment only for a user not banned and a pack still offered at that price."""
    query = update.pre_checkout_query
    assert query is not None
    lang = language_of(query.from_user.language_code)
    rt = runtime(context)
    # One read, no write: Telegram cancels the payment if the answer takes over 10 s.
    async with rt.db.read_session() as s:
        user = await users.get_user(s, query.from_user.id)
    pack = pack_of(query.invoice_payload)
    if user is not None and user.banned:
        await query.answer(ok=False, error_message=t("checkout_banned", lang))
    elif (
        pack is None
        or pack not in rt.settings.stars_packs
        or query.currency != CURRENCY
        or query.total_amount != pack[1]
    ):
        await query.answer(ok=False, error_message=t("checkout_pack_gone", lang))
    else:
        await query.answer(ok=True)


async def on_successful_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Credits the pack paid for, once per Telegram charge, and thanks the user."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    who, _ = await speaker(update, context)
    paid = message.successful_payment
    pack = pack_of(paid.invoice_payload)
    if pack is None:  # not one of our invoices: nothing to credit, but the money is recorded
        log.error(
            "successful_payment %s with unknown payload %r",
            paid.telegram_payment_charge_id,
            paid.invoice_payload,
        )
    charge = ledger.Charge(
        user_id=who.user_id,
        telegram_payment_charge_id=paid.telegram_payment_charge_id,
        provider_payment_charge_id=paid.provider_payment_charge_id or None,
        invoice_payload=paid.invoice_payload,
        currency=paid.currency,
        stars=paid.total_amount,
        credits=pack[0] if pack is not None else 0,
    )
    rt = runtime(context)
    async with rt.db.session() as s, s.begin():
        credited = await ledger.credit(s, charge, utcnow())
        balance = await quotas.credits(s, who.user_id)
    if not credited:  # the same payment delivered again: credited the first time
        log.info("duplicate successful_payment %s ignored", paid.telegram_payment_charge_id)
        return
    await message.reply_text(t("paid", who.lang, videos=charge.credits, balance=balance))


async def on_refunded_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Takes back a refunded payment's unspent videos, once, and tells the user."""
    message = update.effective_message
    assert message is not None and message.refunded_payment is not None
    who, _ = await speaker(update, context)
    refunded = message.refunded_payment
    rt = runtime(context)
    try:
        async with rt.db.session() as s, s.begin():
            outcome = await ledger.refund(s, who.user_id, refunded.telegram_payment_charge_id, None, utcnow())
    except PaymentNotFound:
        log.warning("refunded_payment for unknown charge %s", refunded.telegram_payment_charge_id)
        return
    if not outcome.already_refunded:  # an admin's /refund told the user already
        await message.reply_text(_refunded_text(outcome, who.lang))


def _refunded_text(outcome: ledger.Refund, lang: str) -> str:
    return t("payment_refunded", lang, stars=outcome.stars, revoked=outcome.revoked)


async def paysupport(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says how payments, failed videos and refunds work, with the user's payment ids."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    rt = runtime(context)
    async with rt.db.read_session() as s:
        recent = await ledger.recent(s, who.user_id)
    lines = "\n".join(
        t(
            "paysupport_line_refunded" if p.refunded_at else "paysupport_line",
            who.lang,
            date=p.created_at.strftime("%Y-%m-%d"),
            stars=p.stars,
            videos=p.credits,
            charge=p.telegram_payment_charge_id,
        )
        for p in recent
    ) or t("paysupport_none", who.lang)
    contact = rt.settings.pay_support_contact or t("paysupport_operator", who.lang)
    await update.effective_message.reply_text(t("paysupport", who.lang, contact=contact, payments=lines))


async def refund(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: refunds a Stars payment through Telegram and takes back its unspent videos (audited)."""
    who, _ = await speaker(update, context)
    message = update.effective_message
    assert message is not None
    rt = runtime(context)
    if who.user_id not in rt.settings.admin_ids:
        await message.reply_text(t("admin_only", who.lang))
        return
    args = context.args or []
    if len(args) != 2 or not args[0].isdigit():
        await message.reply_text(t("refund_usage", who.lang))
        return
    user_id, charge_id = int(args[0]), args[1]
    async with rt.db.read_session() as s:
        payment = await ledger.find(s, charge_id)
    # A payment anonymised by /forget has no user id any more: Telegram checks the pair itself.
    if payment is None or payment.user_id not in (None, user_id):
        await message.reply_text(t("refund_unknown", who.lang, user=user_id, charge=charge_id))
        return
    if payment.refunded_at is not None:
        await message.reply_text(t("refund_already", who.lang, charge=charge_id))
        return
    try:
        await context.bot.refund_star_payment(user_id, charge_id)
    except TelegramError as exc:
        await message.reply_text(t("refund_failed", who.lang, error=exc.message))
        return
    # Telegram's refunded_payment message may race this; storage takes the credits back once.
    async with rt.db.session() as s, s.begin():
        outcome = await ledger.refund(s, user_id, charge_id, who.user_id, utcnow())
    await message.reply_text(
        t(
            "refund_done",
            who.lang,
            stars=outcome.stars,
            user=user_id,
            revoked=outcome.revoked,
            spent=outcome.spent,
        )
    )
    if not outcome.already_refunded:
        async with rt.db.read_session() as s:
            target = await users.get_user(s, user_id)
        lang = (target.language if target is not None else None) or "en"
        try:
            await context.bot.send_message(user_id, _refunded_text(outcome, lang))
        except TelegramError:
            log.warning("could not tell user %s about their refund", user_id, exc_info=True)
