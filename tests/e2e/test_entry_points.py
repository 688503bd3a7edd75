"""`python -m bot run` as an operator starts it: polls the Bot API, answers, stops cleanly on SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.__main__ import TOKEN_REJECTED
from bot.texts import t
from playground.botapi import FakeBotApi

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


async def test_python_m_bot_run_answers_and_stops_on_sigint(fake: FakeBotApi, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        DATA_DIR=str(tmp_path / "data"),
        RENDER_WORKERS="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        alice = fake.user(1001, "Alice", "en")
        fake.send_command(alice, None, "start")
        answer = await fake.wait_for("sendMessage", lambda c: c.ok, timeout=120)
        assert answer.params["text"] == t("help", "en")
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert fake.token not in log  # the token never reaches a log line
    assert "Traceback" not in log, log


@pytest.mark.parametrize("command", ["run", "worker"])
async def test_a_rejected_token_never_reaches_the_terminal(
    fake: FakeBotApi, tmp_path: Path, command: str
) -> None:
    wrong = "987654321:AAWrongTokenThatTelegramRejects_abcdefghij"  # the fake answers 401 to it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        TELEGRAM_BOT_TOKEN=wrong,
        TELEGRAM_API_BASE_URL=fake.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        DATA_DIR=str(tmp_path / "data"),
        RENDER_WORKERS="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out = stdout.decode() + stderr.decode()
    assert proc.returncode not in (0, None), out
    assert wrong not in out and wrong.split(":", 1)[1] not in out, out
    assert "Traceback" not in out, out
    assert TOKEN_REJECTED in out, out
