"""Webhook mode: an aiohttp server that receives Telegram's updates and feeds the application.

Telegram sends the secret given to setWebhook in the `X-Telegram-Bot-Api-Secret-Token` header;
a request without it (or with another one) is refused with 403 before its body is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.app import running
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or one derived from the token so every replica agrees on it."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return settings.webhook_secret.get_secret_value()
    assert settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.get_secret_value()
    return hashlib.sha256(b"phototalk-webhook:" + token.encode()).hexdigest()[:48]


def webhook_path(settings: Settings) -> str:
    """The path Telegram posts to: the path of WEBHOOK_URL."""
    assert settings.webhook_url is not None
    return urlsplit(settings.webhook_url).path or "/"


def make_web_app(
    application: Application[Any, Any, Any, Any, Any, Any], path: str, secret: str
) -> web.Application:
    """The aiohttp application: POST `path` receives updates; GET /healthz answers ok."""

    async def receive(request: web.Request) -> web.Response:
        """Checks the secret and queues the update for the application."""
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret.encode()):
            log.warning("refused a webhook request without the secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (json.JSONDecodeError, ValueError, TypeError, KeyError):
            return web.Response(status=400, text="bad update")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    async def health(_request: web.Request) -> web.Response:
        """Says the process is up (for load balancers)."""
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", health)
    return app


async def serve_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings, stop: asyncio.Event
) -> None:
    """Runs the bot in webhook mode until `stop` is set: server up, then setWebhook with the secret."""
    assert settings.webhook_url is not None
    secret = webhook_secret(settings)
    async with running(application):
        runner = web.AppRunner(
            make_web_app(application, webhook_path(settings), secret), handle_signals=False
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.webhook_listen, settings.webhook_port).start()
            await application.bot.set_webhook(
                settings.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES
            )
            log.info("webhook mode: listening on %s:%s", settings.webhook_listen, settings.webhook_port)
            await stop.wait()
        finally:
            await runner.cleanup()
