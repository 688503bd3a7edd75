"""Settings come from the environment and .env; `run` without a token explains itself."""

from __future__ import annotations

import os
import re
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


def readme_configuration_rows() -> list[tuple[list[str], list[str]]]:
    """The README's configuration table: (variables, their stated defaults) per row."""
    section = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = re.findall(r"`([A-Z_]+)`", cells[0])
            defaults = re.findall(r"`([^`]*)`", cells[1]) or ["—"] * len(names)
            rows.append((names, defaults))
    return rows


def shown(value: object) -> str:
    """A default as the README writes it: — for none, lower-case booleans, 15 for 15.0."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_readme_configuration_table_states_the_real_defaults() -> None:
    rows = readme_configuration_rows()
    assert len(rows) >= 10
    for names, stated in rows:
        assert len(names) == len(stated), (names, stated)
        for name, value in zip(names, stated, strict=True):
            assert name.lower() in Settings.model_fields, f"README lists {name}, which is no setting"
            field = Settings.model_fields[name.lower()]
            assert shown(field.get_default(call_default_factory=True)) == value, name


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


def test_settings_read_a_dot_env_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=123:from-dot-env\nDAILY_QUOTA=4\n")
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "DAILY_QUOTA"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.telegram_bot_token is not None
    assert (settings.telegram_bot_token.get_secret_value(), settings.daily_quota) == ("123:from-dot-env", 4)
    monkeypatch.setenv("DAILY_QUOTA", "6")  # the environment wins over .env
    assert Settings().daily_quota == 6


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
