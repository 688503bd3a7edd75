"""`python -m playground`: the emulator, the real bot polling it, and the chat page — one URL.

The bot runs exactly as `python -m bot run` (a child process, unchanged code path) with a token
made up for this run, TELEGRAM_API_BASE_URL pointing at the emulator, SQLite and its media in a
data folder (a temporary one unless --data-dir is given) and the embedded render worker. Nothing
leaves the machine. Other settings (OUTPUT_MAX_SIDE, DAILY_QUOTA, …) are taken from the
environment as the bot takes them; `.env` is not read, so a real token there is never used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from playground.botapi import FakeBotApi
from playground.server import MEMBERS, Playground

REPO = Path(__file__).resolve().parents[1]
#: Seconds the bot may take to finish its renders once asked to stop.
STOP_SECONDS = 70.0
#: Environment the bot must not inherit: it would point the bot at Telegram or another database.
_NOT_INHERITED = ("TELEGRAM_", "WEBHOOK_", "DATABASE_URL", "DATA_DIR", "ADMIN_IDS")


def bot_environment(api: FakeBotApi, data_dir: Path) -> dict[str, str]:
    """The environment `python -m bot run` gets: the emulator's URL and token, SQLite in data_dir."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_NOT_INHERITED)}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_API_BASE_URL=api.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'phototalk.db'}",
        DATA_DIR=str(data_dir),
        ADMIN_IDS=str(MEMBERS[0].id),  # Alice may try /stats, /grant, /ban
        PYTHONUNBUFFERED="1",
    )
    # The emulator's Stars are make-believe, so the page can show a whole purchase (/buy → Pay).
    env.setdefault("STARS_PACKS", "10:50,30:120")
    return env


def made_up_token() -> str:
    """A token shaped like Telegram's (bot id, colon, 35 characters), valid only for this run."""
    return f"{7_000_000_000 + secrets.randbelow(999_999_999)}:{secrets.token_urlsafe(26)[:35]}"


def port_is_free(host: str, port: int) -> bool:
    """Whether the port can be listened on (so a second playground falls back to another one)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


async def serve(host: str, port: int, data_dir: Path) -> int:
    """Runs the emulator and the page, starts the bot, and waits for Ctrl-C (or the bot's end)."""
    api = FakeBotApi(made_up_token(), bot_username="phototalk_playground_bot", strict=False)
    Playground(api)
    if port and not port_is_free(host, port):
        print(f"port {port} is taken; using a free one", file=sys.stderr)
        port = 0
    await api.start(host, port)
    log_path = data_dir / "bot.log"
    with log_path.open("ab") as log:
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=data_dir,  # so a .env in the checkout (a real token, a webhook) is not read
            env=bot_environment(api, data_dir),
            stdout=log,
            stderr=log,
            # Its own session: Ctrl-C in the terminal reaches the playground only, which stops the
            # bot in order (a SIGINT straight into the bot's render processes would kill them).
            start_new_session=True,
        )
    print(f"phototalk playground: {api.url}/", flush=True)
    print(f"(the bot's log: {log_path}; Ctrl-C stops everything)", file=sys.stderr, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bot_ended = asyncio.create_task(bot.wait())
    stopped = asyncio.create_task(stop.wait())
    code = 0
    try:
        await asyncio.wait({bot_ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if bot_ended.done():
            code = bot.returncode or 1
            print(f"the bot stopped (exit {bot.returncode}); see {log_path}", file=sys.stderr)
        else:
            print("stopping the bot…", file=sys.stderr, flush=True)
            bot.send_signal(signal.SIGINT)
            api.end_long_polls()
            await asyncio.wait_for(asyncio.shield(bot_ended), STOP_SECONDS)
    finally:
        if bot.returncode is None:  # it did not stop in time, or the playground itself failed
            bot.kill()
            await bot.wait()
        stopped.cancel()
        await api.stop()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the bot's database and media here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="phototalk-playground-")) if temporary else args.data_dir
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(serve(args.host, args.port, data_dir))
    finally:
        if temporary:
            with contextlib.suppress(OSError):
                shutil.rmtree(data_dir)


if __name__ == "__main__":
    sys.exit(main())
