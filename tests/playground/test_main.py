"""`python -m playground`, as `make playground` runs it: the bot talks to the emulator, not `.env`'s."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.texts import t
from playground.server import MEMBERS
from tests.playground.process import PlaygroundProcess

REPO = Path(__file__).resolve().parents[2]
#: Seconds the bot may take to start (imports, migrations, render pool) and answer on a loaded machine.
ANSWER_S = 150

pytestmark = pytest.mark.slow


def test_a_real_token_in_dot_env_is_never_used_and_the_bot_answers_through_the_emulator(
    tmp_path: Path,
) -> None:
    # A checkout whose .env would send the bot to Telegram, a webhook and another database.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    elsewhere = tmp_path / "from_dot_env.db"
    (checkout / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123456:real-token-from-dot-env\n"
        "TELEGRAM_API_BASE_URL=http://127.0.0.1:9/\n"
        "WEBHOOK_URL=https://bot.example.invalid/hook\n"
        f"DATABASE_URL=sqlite+aiosqlite:///{elsewhere}\n"
    )
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))},
        "PYTHONPATH": str(REPO),
        # The operator's own shell holds the real token too: the bot must not inherit it.
        "TELEGRAM_BOT_TOKEN": "123456:real-token-from-the-shell",
    }
    # No --port: the README's URL, http://127.0.0.1:8765/, or a free port when that one is taken.
    playground = PlaygroundProcess(["--data-dir", str(data_dir)], cwd=checkout, env=env)
    url = ""
    try:
        url = playground.url()
        alice = MEMBERS[0]
        form = urllib.parse.urlencode(
            {"user_id": alice.id, "chat_id": alice.id, "kind": "text", "text": "/start"}
        )
        deadline = time.monotonic() + ANSWER_S

        def state() -> dict:
            with urllib.request.urlopen(f"{url}/api/state", timeout=10) as response:
                return dict(json.load(response))

        while not state()["bot"]["online"]:  # the bot polls the emulator
            assert time.monotonic() < deadline, "the bot never polled the emulator"
            time.sleep(0.5)
        urllib.request.urlopen(f"{url}/api/send", data=form.encode(), timeout=10).close()
        answered = False
        while not answered and time.monotonic() < deadline:
            time.sleep(0.5)
            answered = any(m["from"]["is_bot"] and m["text"] == t("help", "en") for m in state()["messages"])
        assert answered, "the bot never answered /start through the emulator"
    finally:
        stderr = playground.stop()
    assert playground.returncode == 0  # Ctrl-C stops the bot, then the emulator, cleanly
    assert url == "http://127.0.0.1:8765" or "port 8765 is taken; using a free one" in stderr, (url, stderr)
    log = (data_dir / "bot.log").read_text()
    assert "real-token-from" not in log and "bot.example.invalid" not in log, log[-4000:]
    assert (data_dir / "phototalk.db").exists() and not elsewhere.exists()
