"""Settings come from the environment and .env; `run` without a token explains itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    listed = {
        line.split("=", 1)[0].strip().lower()
        for line in (REPO / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert listed == set(Settings.model_fields)


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "11, 22")
    monkeypatch.setenv("DAILY_QUOTA", "9")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/")
    settings = Settings(_env_file=None)
    assert settings.admin_ids == [11, 22]
    assert settings.daily_quota == 9
    assert settings.bot_api_url == "http://127.0.0.1:8081/bot"
    assert settings.bot_file_url == "http://127.0.0.1:8081/file/bot"
    assert settings.max_clip_seconds == 15


def test_token_never_shown_in_repr() -> None:
    settings = Settings(_env_file=None, telegram_bot_token="123456:" + "A" * 35)
    assert "AAAAAAAAAA" not in repr(settings)


@pytest.mark.parametrize("command", ["run", "worker"])
def test_starting_without_a_token_prints_guidance_and_fails(tmp_path: Path, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in proc.stderr
    assert "@BotFather" in proc.stderr
    assert "make demo" in proc.stderr


def test_the_download_limit_is_20_mb_unless_a_local_bot_api_server_allows_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).max_download_mb == 20
    monkeypatch.setenv("MAX_DOWNLOAD_MB", "2000")
    assert Settings(_env_file=None).max_download_mb == 2000
    monkeypatch.setenv("MAX_DOWNLOAD_MB", "2001")  # no Bot API server hands out more
    with pytest.raises(ValueError):
        Settings(_env_file=None)


def test_photo_analyses_have_their_own_pool_and_a_per_user_rate() -> None:
    settings = Settings(_env_file=None)
    assert (settings.analysis_workers, settings.analyses_per_minute) == (1, 10)
