"""Cosmetic Bot API calls: progress edits, chat actions, clean-ups whose failure must fail nothing.

A status message showing the queue position, "sending video…", or the removal of a finished
job's status message only decorate a request. Telegram may refuse them (the message is gone or
unchanged: BadRequest), answer too late (TimedOut) or ask for a wait (RetryAfter); the request
itself (queued, rendered, delivered) stands either way, so such a failure is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram.error import TelegramError

log = logging.getLogger(__name__)


async def quietly(call: Awaitable[object]) -> None:
    """Awaits a cosmetic Bot API call; a Telegram error there is logged, never raised."""
    try:
        await call
    except TelegramError as exc:
        log.info("a cosmetic Bot API call failed: %r", exc)
