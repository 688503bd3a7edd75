"""`python -m bot run|worker|migrate` — the bot, a standalone render worker, or migrations."""

from __future__ import annotations

import argparse
import sys

from bot.settings import get_settings

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
    raise SystemExit(f"{args.command}: not wired yet")


if __name__ == "__main__":
    sys.exit(main())
