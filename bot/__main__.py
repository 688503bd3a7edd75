"""`python -m bot run|worker|migrate` — the bot, a standalone render worker, or migrations."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.logs import configure_logging
from bot.settings import Settings, get_settings

NO_TOKEN = """\
phototalk needs a Telegram bot token to talk to Telegram.
Create a bot with @BotFather, then put its token in a file named .env in this folder:
    TELEGRAM_BOT_TOKEN=123456:ABC...
(or export TELEGRAM_BOT_TOKEN in your shell); every other setting is listed in .env.example.
To see what phototalk makes without a token or a network, run `make demo`: it renders out/demo.mp4
from a sample photo and offline speech."""

TOKEN_REJECTED = (
    "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN): check it with @BotFather "
    "and that TELEGRAM_API_BASE_URL points at a Bot API server."
)

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="phototalk", description=__doc__)
    parser.add_argument("command", choices=["run", "worker", "migrate"], nargs="?", default="run")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command in ("run", "worker") and settings.telegram_bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    secrets = tuple(
        secret.get_secret_value()
        for secret in (settings.telegram_bot_token, settings.webhook_secret)
        if secret is not None
    )
    configure_logging(settings.log_level, secrets=secrets)
    if args.command == "migrate":
        from storage.db import run_migrations

        run_migrations(settings.database_url)
        print("migrations applied", file=sys.stderr)
        return 0
    from telegram.error import InvalidToken

    try:
        _serve(settings, args.command)
    except InvalidToken:
        # PTB's message quotes the token; Python's own traceback would print it in clear.
        print(TOKEN_REJECTED, file=sys.stderr)
        return 3
    except Exception:
        # Through the redacting log handler, never as a bare traceback that may hold a secret.
        log.exception("phototalk stopped on an unexpected error")
        return 1
    return 0


def _serve(settings: Settings, command: str) -> None:
    """Runs the bot (polling or webhook) or the standalone worker until it is told to stop."""
    if command == "worker":
        asyncio.run(_until_signal(settings, worker_only=True))
        return
    if settings.webhook_url:
        asyncio.run(_until_signal(settings, worker_only=False))
        return
    from telegram import Update

    from bot.app import build_application

    # Migrations run in post_init, before the first update is handled.
    build_application(settings).run_polling(allowed_updates=Update.ALL_TYPES)


async def _until_signal(settings: Settings, *, worker_only: bool) -> None:
    """Runs webhook mode or the standalone worker until SIGINT or SIGTERM."""
    from bot.app import build_application, running
    from bot.webhook import serve_webhook

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    application = build_application(settings, worker_only=worker_only)
    if worker_only:
        async with running(application):
            await stop.wait()
    else:
        await serve_webhook(application, settings, stop)


if __name__ == "__main__":
    sys.exit(main())
