"""`python -m bot run|worker|migrate` — the bot, a standalone render worker, or migrations."""

from __future__ import annotations

import argparse
import asyncio
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
    if args.command == "worker":
        asyncio.run(_until_signal(settings, worker_only=True))
        return 0
    if settings.webhook_url:
        asyncio.run(_until_signal(settings, worker_only=False))
        return 0
    from telegram import Update

    from bot.app import build_application

    # Migrations run in post_init, before the first update is handled.
    build_application(settings).run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


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
