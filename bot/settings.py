"""The one typed settings object, read from the environment and `.env`.

Every variable is listed, with a comment, in `.env.example`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """phototalk's configuration; field names are the environment variables, case-insensitive."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Telegram's cloud Bot API hands bots files up to 20 MB; a local Bot API server up to 2000 MB.
    max_download_mb: int = Field(default=20, ge=1, le=2000)

    # Storage
    database_url: str = "sqlite+aiosqlite:///data/phototalk.db"
    data_dir: Path = Path("data")
    retention_days: int = 7

    # Quotas and queue
    daily_quota: int = 5
    quota_timezone: str = "UTC"
    max_queued_per_user: int = 3
    max_queue: int = 200

    # Rendering
    max_clip_seconds: float = 15.0
    output_max_side: int = 1280
    render_workers: int = 1
    # Photo analyses run in a pool of their own, so a burst of photos never starves renders.
    analysis_workers: int = Field(default=1, ge=1)
    analyses_per_minute: int = Field(default=10, ge=1)
    embedded_worker: bool = True
    job_lease_seconds: int = 90
    # Which renderer draws the frames: cpu-rig, torch-rig (the gpu extra), auto = torch-rig on a CUDA GPU.
    engine: Literal["auto", "cpu-rig", "torch-rig"] = "auto"
    job_max_attempts: int = 3

    # Conversation
    default_tts_voice: str = "en-US-AriaNeural"
    # Typed text goes to Microsoft's edge-tts service while this is on; off, it is spoken offline only.
    tts_online: bool = True
    photo_memory_minutes: int = 120
    scene_idle_minutes: int = 30
    max_text_chars: int = 300

    # Telegram Stars: packs of renders for sale, "renders:Stars,…" (e.g. "10:50,30:120");
    # empty: nothing is sold, /buy says so.
    stars_packs: Annotated[list[tuple[int, int]], NoDecode] = Field(default_factory=list)
    # Who answers payment questions (shown by /paysupport), e.g. "@yourname" or an email.
    pay_support_contact: str = ""

    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("stars_packs", mode="before")
    @classmethod
    def _split_packs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        packs: list[tuple[int, int]] = []
        for part in value.replace(";", ",").split(","):
            if not part.strip():
                continue
            renders, sep, stars = part.partition(":")
            if not sep or not renders.strip().isdigit() or not stars.strip().isdigit():
                raise ValueError(f"STARS_PACKS: {part.strip()!r} is not renders:Stars, e.g. 10:50")
            if int(renders) < 1 or int(stars) < 1:
                raise ValueError(f"STARS_PACKS: {part.strip()!r} needs at least 1 render and 1 Star")
            packs.append((int(renders), int(stars)))
        return packs

    @field_validator("engine")
    @classmethod
    def _engine_installed(cls, value: str) -> str:
        # Said at startup, not as a failed render per job; find_spec does not import torch.
        if value == "torch-rig":
            from generator.engine import GPU_INSTALL, torch_installed

            if not torch_installed():
                raise ValueError(f"ENGINE=torch-rig needs torch: install the GPU extra with {GPU_INSTALL}")
        return value

    @property
    def bot_api_url(self) -> str:
        """Base URL of Bot API methods, in the form python-telegram-bot expects."""
        return self.telegram_api_base_url.rstrip("/") + "/bot"

    @property
    def bot_file_url(self) -> str:
        """Base URL of Bot API file downloads."""
        return self.telegram_api_base_url.rstrip("/") + "/file/bot"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Reads the settings once per process."""
    return Settings()
