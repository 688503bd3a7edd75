"""What the bot offers for sale, usable by any handler: the packs' invoice payloads and the "Buy more" button.

The Stars handlers themselves (/buy, checkout, payments, refunds) are in bot/payments.py; private
chats and /quota show the button from here, so no handler module imports another.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.intake import Speaker
from bot.runtime import Runtime, utcnow
from bot.settings import Settings
from bot.texts import t
from storage import quotas

#: Callback data of the "Buy more" button (opens the packs) and of a pack's button.
BUY_MENU = "buy:menu"
BUY_PREFIX = "buy:"

Pack = tuple[int, int]  # (videos, Stars), as in Settings.stars_packs


def payload_of(pack: Pack) -> str:
    """The invoice payload naming a pack."""
    return f"pack:{pack[0]}:{pack[1]}"


def pack_of(payload: str) -> Pack | None:
    """The pack an invoice payload names, or None when it names none."""
    kind, _, rest = payload.partition(":")
    videos, _, stars = rest.partition(":")
    if kind != "pack" or not videos.isdigit() or not stars.isdigit():
        return None
    return int(videos), int(stars)


def buy_more_markup(settings: Settings, lang: str) -> InlineKeyboardMarkup | None:
    """A "Buy more" button, or None when nothing is for sale."""
    if not settings.stars_packs:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(t("buy_more_button", lang), callback_data=BUY_MENU)]])


async def offer_when_out(rt: Runtime, who: Speaker) -> InlineKeyboardMarkup | None:
    """The "Buy more" button for a user with no free videos left today and no paid ones."""
    if not rt.settings.stars_packs:
        return None
    async with rt.db.read_session() as s:
        standing = await quotas.status(s, who.user_id, rt.policy, utcnow())
    if standing.left > 0 or standing.credits > 0:
        return None
    return buy_more_markup(rt.settings, who.lang)
